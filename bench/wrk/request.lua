-- wrk script for bench/run.sh. Environment: BENCH_KEY (X-Api-Key), BENCH_BODY (POST this JSON
-- when set), BENCH_RATE and BENCH_CONNS (pace to about BENCH_RATE requests/s in all).
-- Plain wrk has no constant-rate mode: each connection waits conns/rate seconds after every
-- response (random rounding keeps the mean exact), so the offered rate is at most BENCH_RATE and
-- the latency wrk reports is the service time of each request.
wrk.headers["X-Api-Key"] = os.getenv("BENCH_KEY") or "bench"
local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

local rate = tonumber(os.getenv("BENCH_RATE") or "0")
local conns = tonumber(os.getenv("BENCH_CONNS") or "1")
if rate > 0 then
  local gap = conns * 1000 / rate
  function delay()
    return math.floor(gap + math.random())
  end
end
