-- wrk script for bench/run.sh. Environment: BENCH_KEY (X-Api-Key), BENCH_BODY (POST this JSON
-- when set), BENCH_RATE (offer this many requests/s in all; 0: as fast as the connections go) and
-- BENCH_THREADS (wrk's -t, to split the rate between its threads).
-- Plain wrk has no constant-rate mode, so each thread keeps a schedule: request n is due at
-- start + n/rate, and a connection that finishes early waits until the next due time (read from
-- CLOCK_MONOTONIC through LuaJIT's FFI). The offered rate is kept while latency stays under
-- connections/rate; the latency wrk reports is each request's time from send to response.
wrk.headers["X-Api-Key"] = os.getenv("BENCH_KEY") or "bench"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

local rate = tonumber(os.getenv("BENCH_RATE") or "0")
if rate > 0 then
  local ffi = require("ffi")
  ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clock, bench_timespec *now);
  ]]
  local now = ffi.new("bench_timespec")
  local function ms()
    ffi.C.clock_gettime(1, now) -- CLOCK_MONOTONIC
    return tonumber(now.tv_sec) * 1000 + tonumber(now.tv_nsec) / 1e6
  end
  local gap = tonumber(os.getenv("BENCH_THREADS") or "1") * 1000 / rate -- ms between this thread's requests
  local due
  function delay()
    local t = ms()
    due = due and due + gap or t
    -- wrk's timers count whole milliseconds; the schedule itself keeps the fractions.
    return due > t and math.floor(due - t + 0.5) or 0
  end
end
