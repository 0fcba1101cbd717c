#!/usr/bin/env bash
# The benchmark suite: Agent Bus beside its peers and ceilings, in one run on this machine.
# Writes docs/performance.md and bench/results/latest.json.
# Usage: bench/run.sh [--quick] [--profile]
#   --quick: short runs, a smoke test; the report says provisional.
#   --profile: also samples the api's CPU (perf, with the runtime's perf map for JIT-compiled
#   methods) during the GET and POST max runs; writes CPU by thread and library, and the methods
#   most often on the stack, to bench/results/profile-*.txt.
# The report can be rendered again from the kept raw numbers (e.g. after editing bench/analysis.md):
#   bench/report.py render bench/results/raw.jsonl bench/results/latest.json docs/performance.md bench/results/meta.json
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

quick=false profile=false
for arg in "$@"; do
  case $arg in
    --quick) quick=true ;;
    --profile) profile=true ;;
    *) echo "usage: bench/run.sh [--quick] [--profile]" >&2; exit 2 ;;
  esac
done
if $quick; then
  runs=3 duration=3 tasks=500 jobs=10 warm=3 latency_jobs=20
else
  runs=${BENCH_RUNS:-3} duration=${BENCH_DURATION:-10} tasks=${BENCH_TASKS:-3000} jobs=${BENCH_JOBS:-30} latency_jobs=${BENCH_LATENCY_JOBS:-100}
  # Seconds of GET and of POST load before an api is measured: on 2 cores the JIT needs 30-40 s of
  # load to tier the hot paths up (POST rises from ~450 to ~800/s meanwhile).
  warm=${BENCH_WARMUP:-30}
fi
concurrency=${BENCH_CONCURRENCY:-16}
rate=${BENCH_RATE:-5000}
conns=64 threads=2
wrk_args="-t$threads -c$conns --latency"
key="bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n")"  # the api requires 16+ characters
pg_port=18132 redis_port=18133 api_port=18100 worker_port=18101 gpu_port=18102 api_off_port=18103 ceiling_port=18190 sink_port=18191

# ------------------------------------------------------------------ prerequisites and builds
scripts/ensure-prerequisites.sh run
if ! command -v wrk >/dev/null; then
  echo "Installing wrk"
  if [[ $(id -u) == 0 ]]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; fi
fi
echo "Building (Release)..."
for p in src/AgentBus.Migrations src/AgentBus.Api src/AgentBus.Worker src/AgentBus.GpuAgent bench/AgentBus.Bench src/AgentBus.AppHost; do
  dotnet build "$p" -c Release -nologo -clp:ErrorsOnly -v q >/dev/null
done
dll() { echo "$root/$1/bin/Release/net10.0/$2.dll"; }
bench=(dotnet "$(dll bench/AgentBus.Bench AgentBus.Bench)")
perf_env=()
if $profile; then
  command -v perf >/dev/null || { echo "--profile needs perf: apt-get install linux-perf" >&2; exit 2; }
  # The runtime writes /tmp/perf-<pid>.map so perf can name JIT-compiled methods; with W^X on, the
  # code runs from a double mapping perf cannot attribute.
  perf_env=(DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0)
fi

work=$(mktemp -d -t agentbus-bench.XXXXXX)
raw=$work/raw.jsonl
pids=()
# SIGTERM: background jobs of a script ignore SIGINT. Services shut down gracefully on it.
stop() { local p; for p in "$@"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done; }
# Newest first: Postgres ends on SIGTERM only once its clients have gone.
cleanup() { local i; for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop "${pids[i]}"; done; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ Postgres and Redis, as the AppHost's local mode runs them
pg_bin=/usr/lib/postgresql/15/bin
as=()
mkdir -p "$work/pg" "$work/redis"
if [[ $(id -u) == 0 ]]; then
  chmod 755 "$work" && chown postgres: "$work/pg"
  as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
"${as[@]}" "$pg_bin/initdb" -D "$work/pg" -U postgres -A trust -E UTF8 --no-sync >/dev/null
"${as[@]}" "$pg_bin/postgres" -D "$work/pg" -c listen_addresses=127.0.0.1 -p $pg_port \
  -c unix_socket_directories="$work/pg" -c max_connections=300 >"$work/postgres.log" 2>&1 &
pids+=($!)
redis-server --port $redis_port --bind 127.0.0.1 --dir "$work/redis" --appendonly yes --save '' >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$pg_bin/pg_isready" -q -h 127.0.0.1 -p $pg_port && break; sleep 0.1; done
psql=("$pg_bin/psql" -h 127.0.0.1 -p $pg_port -U postgres -X -q)
"${psql[@]}" -c "CREATE DATABASE agentbus" -c "CREATE DATABASE agentbus_jobs"
pg() { echo "Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=$1;Maximum Pool Size=100"; }
# The services never migrate: the one-shot migrations resource does, as in the AppHost. It also makes
# the app and monitoring roles; the services here still log in as the administrator (the roles'
# grants change nothing measured, and the in-process Hangfire peer creates its own schema).
role_password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d " \n")
for database in agentbus agentbus_jobs; do
  env "ConnectionStrings__agentbus=$(pg $database)" \
    "ConnectionStrings__agentbus-app=Host=127.0.0.1;Port=$pg_port;Username=agentbus_app;Password=$role_password;Database=$database" \
    "ConnectionStrings__agentbus-monitor=Host=127.0.0.1;Port=$pg_port;Username=agentbus_monitor;Password=$role_password;Database=$database" \
    dotnet "$(dll src/AgentBus.Migrations AgentBus.Migrations)" >>"$work/migrations.log" 2>&1 \
    || { tail -n 20 "$work/migrations.log" >&2; exit 1; }
done
export ConnectionStrings__agentbus ConnectionStrings__redis
ConnectionStrings__agentbus=$(pg agentbus)
ConnectionStrings__redis="127.0.0.1:$redis_port"

# Production settings; telemetry exports over OTLP to a sink that drops it (a collector's stand-in).
export ASPNETCORE_ENVIRONMENT=Production DOTNET_ENVIRONMENT=Production
export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$sink_port OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf
export AgentBus__Auth__AdminApiKey=$key
export AgentBus__RateLimits__PerKey__PermitsPerSecond=1000000 AgentBus__RateLimits__PerKey__Burst=1000000
export AgentBus__RateLimits__PerAddress__PermitsPerSecond=1000000 AgentBus__RateLimits__PerAddress__Burst=1000000
"${bench[@]}" otlp-sink --port $sink_port >/dev/null 2>&1 &
pids+=($!)

rss() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
wait_ready() {
  for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$1/health/ready" && return 0; sleep 0.1; done
  echo "nothing ready on port $1" >&2; return 1
}
# Starts a built service; sets $started to its pid. Extra arguments: VAR=value settings.
start_service() {
  local port=$1 project=$2 name=$3; shift 3
  # From its output folder, as a container runs it: the content root, hence appsettings.json
  # (log levels), is the working directory.
  (cd "$(dirname "$(dll "$project" "$name")")" && exec env "$@" ASPNETCORE_URLS=http://127.0.0.1:$port dotnet "$name.dll") >"$work/$name.$port.log" 2>&1 &
  started=$!
  pids+=($started)
  wait_ready "$port" || { tail -n 40 "$work/$name.$port.log" >&2; return 1; }
}
# Highest RSS of a pid while a command runs.
peak=0
sample_rss() {
  local pid=$1; shift
  "$@" &
  local job=$! max=0 now
  while kill -0 $job 2>/dev/null; do now=$(rss "$pid" 2>/dev/null || echo 0); (( now > max )) && max=$now; sleep 1; done
  wait $job
  (( max > peak )) && peak=$max || true
}
# wrk, $runs times; the median goes to the raw results under <name>.
# With a second <name> <url> pair, its runs alternate with the first's (A B A B ...): drift over the
# minutes (a growing database, autovacuum) then falls on both alike.
load() {
  local name=$1 url=$2 pace=$3 body=$4 name_b=${5:-} url_b=${6:-} i files=() files_b=() tracer=
  if $profile && [[ -n ${trace_pid:-} ]]; then
    perf record -F 499 -g -p "$trace_pid" -o "$work/$name.perf" -- sleep "$duration" >/dev/null 2>&1 &
    tracer=$!
  fi
  for i in $(seq "$runs"); do
    BENCH_KEY=$key BENCH_BODY=$body BENCH_RATE=$pace BENCH_THREADS=$threads \
      wrk $wrk_args -d"${duration}s" -s bench/wrk/request.lua "$url" >"$work/$name.$i.txt"
    files+=("$work/$name.$i.txt")
    if [[ -n $name_b ]]; then
      BENCH_KEY=$key BENCH_BODY=$body BENCH_RATE=$pace BENCH_THREADS=$threads \
        wrk $wrk_args -d"${duration}s" -s bench/wrk/request.lua "$url_b" >"$work/$name_b.$i.txt"
      files_b+=("$work/$name_b.$i.txt")
    fi
  done
  bench/report.py wrk "$name" "${files[@]}" >>"$raw"
  summary "$name"
  if [[ -n $name_b ]]; then
    bench/report.py wrk "$name_b" "${files_b[@]}" >>"$raw"
    summary "$name_b"
  fi
  if [[ -n $tracer ]]; then
    wait "$tracer" || true
    { echo "# $name, first run: api CPU samples by thread and library, then methods by inclusive samples"
      perf report -i "$work/$name.perf" --no-children --sort comm,dso --stdio -g none 2>/dev/null | grep '%' | head -n 25
      perf report -i "$work/$name.perf" --children --sort symbol --stdio -g none 2>/dev/null | grep '%' | grep -v '\] 0x' \
        | sed -E 's/ +- +- *$//' | cut -c1-220 | head -n 80; } >"bench/results/profile-$name.txt" || true
  fi
}
summary() {
  echo "  $1: $(grep "\"$1\"" "$raw" | tail -n 1 | python3 -c 'import json,sys; m=json.load(sys.stdin); print("%.0f req/s, p99 %s ms" % (m["median"], m["details"]["p99_ms"]))')"
}
body='{"name":"bench","requirements":"A small internal tool that lists invoices and exports them as CSV."}'
# Load before measuring (not recorded): GET $1, then POST to $2, $warm seconds each.
warm_up() {
  BENCH_KEY=$key wrk -t$threads -c$conns -d"${warm}s" -s bench/wrk/request.lua "$1" >/dev/null
  BENCH_KEY=$key BENCH_BODY=$body wrk -t$threads -c$conns -d"${warm}s" -s bench/wrk/request.lua "$2" >/dev/null
}

# ------------------------------------------------------------------ dispatch and its peers
SECONDS=0
# Telemetry on and off alternate (on, off, on, off ...), one counted run per process after its own
# warm-up, so that the database growing under every run weighs on both alike.
echo "[${SECONDS}s] Dispatch: Agent Bus, telemetry on and off alternating"
for i in $(seq "$runs"); do
  "${bench[@]}" dispatch --tasks $tasks --concurrency $concurrency --runs 1 2>>"$work/dispatch.log" >"$work/dispatch-on.$i.json"
  AgentBus__Telemetry__Enabled=false "${bench[@]}" dispatch --tasks $tasks --concurrency $concurrency --runs 1 \
    2>>"$work/dispatch.log" >"$work/dispatch-off.$i.json"
done
bench/report.py merge "" "$work"/dispatch-on.*.json >>"$raw"
bench/report.py merge _telemetry_off "$work"/dispatch-off.*.json >>"$raw"
echo "[${SECONDS}s] Dispatch: raw Redis loop"
"${bench[@]}" redis --tasks $((tasks * 10)) --concurrency $concurrency --runs $runs >>"$raw"
echo "[${SECONDS}s] Dispatch: Hangfire on PostgreSQL"
"${bench[@]}" hangfire --storage postgres --tasks $tasks --concurrency $concurrency --runs $runs >>"$raw"
echo "[${SECONDS}s] Dispatch: Hangfire on Redis"
"${bench[@]}" hangfire --storage redis --tasks $tasks --concurrency $concurrency --runs $runs >>"$raw"
python3 -c 'import json,sys
for line in open(sys.argv[1]):
    for m in json.loads(line): print("  %s: %.0f %s %s" % (m["name"], m["median"], m["unit"], [round(r) for r in m["runs"]]))' "$raw"

# ------------------------------------------------------------------ API with telemetry on and off, side by side, then the ceiling
declare -A rss_idle rss_load
echo "[${SECONDS}s] API, telemetry on (port $api_port) and off (port $api_off_port)"
start_service $api_port src/AgentBus.Api AgentBus.Api "${perf_env[@]}"
api=$started
start_service $api_off_port src/AgentBus.Api AgentBus.Api AgentBus__Telemetry__Enabled=false
api_off=$started
# The two variants must differ in fact: /metrics exists only with telemetry on.
# With the key: a path no endpoint maps answers 404 only to a caller (401 to anyone else).
metrics_status() { curl -s -o /dev/null -w '%{http_code}' -H "X-Api-Key: $key" "http://127.0.0.1:$1/metrics"; }
[[ $(metrics_status $api_port) == 200 ]] || { echo "telemetry on, but /metrics does not answer 200" >&2; exit 1; }
[[ $(metrics_status $api_off_port) == 404 ]] || { echo "telemetry off, but /metrics still answers" >&2; exit 1; }
sleep 5
rss_idle[api]=$(rss $api)
job=$(curl -fs -H "X-Api-Key: $key" -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$api_port/api/projects" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
echo "  warming up each (${warm} s GET, ${warm} s POST)"
warm_up "http://127.0.0.1:$api_port/api/jobs/$job" "http://127.0.0.1:$api_port/api/projects"
warm_up "http://127.0.0.1:$api_off_port/api/jobs/$job" "http://127.0.0.1:$api_off_port/api/projects"
peak=0
sample_rss $api load api_get_job_paced "http://127.0.0.1:$api_port/api/jobs/$job" $rate ''
trace_pid=$api
sample_rss $api load api_get_job_max "http://127.0.0.1:$api_port/api/jobs/$job" 0 '' \
  api_get_job_max_telemetry_off "http://127.0.0.1:$api_off_port/api/jobs/$job"
sample_rss $api load api_post_project_max "http://127.0.0.1:$api_port/api/projects" 0 "$body" \
  api_post_project_max_telemetry_off "http://127.0.0.1:$api_off_port/api/projects"
trace_pid=
rss_load[api]=$peak
stop $api $api_off

echo "[${SECONDS}s] Empty minimal API (ceiling)"
"${bench[@]}" ceiling --port $ceiling_port >/dev/null 2>&1 &
ceiling=$!
pids+=($ceiling)
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$ceiling_port/api/jobs/$job" && break; sleep 0.1; done
warm_up "http://127.0.0.1:$ceiling_port/api/jobs/$job" "http://127.0.0.1:$ceiling_port/api/projects"
load ceiling_get_paced "http://127.0.0.1:$ceiling_port/api/jobs/$job" $rate ''
load ceiling_get_max "http://127.0.0.1:$ceiling_port/api/jobs/$job" 0 ''
load ceiling_post_max "http://127.0.0.1:$ceiling_port/api/projects" 0 "$body"
stop $ceiling

# ------------------------------------------------------------------ whole jobs, on a fresh database and Redis db
echo "[${SECONDS}s] Whole jobs (offline provider, zero latency)"
jobs_env=("ConnectionStrings__agentbus=$(pg agentbus_jobs)" "ConnectionStrings__redis=127.0.0.1:$redis_port,defaultDatabase=1")
# One event stream per job in flight for the latency benchmark.
start_service $api_port src/AgentBus.Api AgentBus.Api "${jobs_env[@]}" AgentBus__EventStreams__MaxPerCaller=256
api=$started
start_service $worker_port src/AgentBus.Worker AgentBus.Worker "${jobs_env[@]}" AgentBus__Llm__Provider=offline AgentBus__Llm__Offline__Latency=00:00:00
worker=$started
start_service $gpu_port src/AgentBus.GpuAgent AgentBus.GpuAgent "${jobs_env[@]}"
gpu=$started
sleep 5
rss_idle[worker]=$(rss $worker)
rss_idle[gpu-agent]=$(rss $gpu)
peak=0
sample_rss $worker "${bench[@]}" jobs --api "http://127.0.0.1:$api_port" --key $key --jobs $jobs --runs $runs >>"$raw"
rss_load[worker]=$peak
rss_load[gpu-agent]=$(rss $gpu)
echo "[${SECONDS}s] Latencies a person feels, one job at a time, zero model latency"
env "${jobs_env[@]}" "${bench[@]}" latency --api "http://127.0.0.1:$api_port" --key $key --jobs 1 --runs 5 --label one >>"$raw"
echo "[${SECONDS}s] Latencies a person feels, $latency_jobs jobs in flight, zero model latency"
env "${jobs_env[@]}" "${bench[@]}" latency --api "http://127.0.0.1:$api_port" --key $key --jobs $latency_jobs --runs $runs --label zero >>"$raw"
# With a 2 s model call the work is waiting, not computing: the worker runs as many stages at once
# as the jobs in flight can have ready (up to two each), so a ready stage waits for its hand-off,
# not for a free slot. (At zero model latency more slots only crowd the 2 cores: bench/analysis.md.)
stop $worker
slots=$((2 * latency_jobs))
echo "[${SECONDS}s] Latencies a person feels, $latency_jobs jobs in flight, 2 s model latency"
start_service $worker_port src/AgentBus.Worker AgentBus.Worker "${jobs_env[@]}" AgentBus__Llm__Provider=offline AgentBus__Llm__Offline__Latency=00:00:02 \
  AgentBus__Worker__Concurrency=$slots
worker=$started
env "${jobs_env[@]}" "${bench[@]}" latency --api "http://127.0.0.1:$api_port" --key $key --jobs $latency_jobs --runs 1 --label 2s >>"$raw"
stop $gpu $worker $api

# ------------------------------------------------------------------ AppHost start to all-ready (fixed ports: only when free)
apphost_s="" apphost_note=""
if ss -ltn | grep -Eq ':(8000|8001|8002|18888)\b'; then
  apphost_note="Not measured in this run: ports 8000-8002 or 18888 were in use (someone was running ./run.sh)."
else
  echo "AppHost start to all-ready"
  t0=$(date +%s%N)
  (cd src/AgentBus.AppHost && exec env -u ConnectionStrings__agentbus -u ConnectionStrings__redis -u OTEL_EXPORTER_OTLP_ENDPOINT \
    -u OTEL_EXPORTER_OTLP_PROTOCOL ASPNETCORE_ENVIRONMENT=Development DOTNET_ENVIRONMENT=Development \
    dotnet run --no-build -c Release --launch-profile http >"$work/apphost.log" 2>&1) &
  apphost=$!
  pids+=($apphost)
  ready() { curl -fs -o /dev/null "http://localhost:$1/health/ready"; }
  for _ in $(seq 1200); do
    if ready 8000 && ready 8001 && ready 8002; then apphost_s=$(( ($(date +%s%N) - t0) / 1000000 )); break; fi
    sleep 0.1
  done
  # SIGTERM to the AppHost stops every service it started (8 to 15 s).
  kill -TERM $apphost 2>/dev/null || true
  wait $apphost 2>/dev/null || true
  [[ -n $apphost_s ]] || apphost_note="Not measured: the services were not all ready within 120 s."
fi

# ------------------------------------------------------------------ report
echo "Measured in ${SECONDS} s"
mkdir -p bench/results
python3 - "$work/meta.json" <<PY
import json, platform, subprocess, sys
sh = lambda c: subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
json.dump({
  "quick": "$quick" == "true", "command": "bench/run.sh" + (" --quick" if "$quick" == "true" else ""),
  "date": sh("date -u '+%Y-%m-%d %H:%M UTC'"),
  "cpu": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(), "cores": sh("nproc"),
  "memory": sh("free -h | awk '/Mem:/ {print \$2}'"), "os": sh(". /etc/os-release && echo \$PRETTY_NAME") + ", " + platform.release(),
  "dotnet": sh("dotnet --version"), "postgres": sh("$pg_bin/postgres --version"), "redis": sh("redis-server --version | cut -d' ' -f3"),
  "wrk": sh("wrk -v 2>&1 | head -n1"),
  "runs": $runs, "rate": $rate, "wrk_args": "$wrk_args", "wrk_duration": $duration, "warmup_s": $warm,
  "rss_idle_mb": {"api": ${rss_idle[api]}, "worker": ${rss_idle[worker]}, "gpu-agent": ${rss_idle[gpu-agent]}},
  "rss_load_mb": {"api": ${rss_load[api]}, "worker": ${rss_load[worker]}, "gpu-agent": ${rss_load[gpu-agent]}},
  "apphost_start_to_ready_s": (int("${apphost_s:-0}") / 1000) or None, "apphost_note": "$apphost_note" or None,
  "commands": [
    "AgentBus.Bench dispatch --tasks $tasks --concurrency $concurrency --runs 1   ($runs times, alternating with AgentBus__Telemetry__Enabled=false)",
    "AgentBus.Bench redis --tasks $((tasks * 10)) --concurrency $concurrency --runs $runs",
    "AgentBus.Bench hangfire --storage postgres --tasks $tasks --concurrency $concurrency --runs $runs",
    "AgentBus.Bench hangfire --storage redis --tasks $tasks --concurrency $concurrency --runs $runs",
    "wrk $wrk_args -d${duration}s -s bench/wrk/request.lua http://127.0.0.1:$api_port/api/jobs/<id>   (BENCH_RATE=$rate paced, 0 max)",
    "wrk $wrk_args -d${duration}s -s bench/wrk/request.lua http://127.0.0.1:$api_port/api/projects   (BENCH_BODY=<project json>)",
    "AgentBus.Bench jobs --jobs $jobs --runs $runs   (api + worker + gpu-agent, AgentBus__Llm__Offline__Latency=00:00:00)",
    "AgentBus.Bench latency --jobs 1 --runs 5 --label one   (the same services)",
    "AgentBus.Bench latency --jobs $latency_jobs --runs $runs --label zero   (the same services)",
    "AgentBus.Bench latency --jobs $latency_jobs --runs 1 --label 2s   (worker with AgentBus__Llm__Offline__Latency=00:00:02, AgentBus__Worker__Concurrency=$((2 * latency_jobs)))",
    "dotnet run --project src/AgentBus.AppHost -c Release --launch-profile http   (until :8000-8002/health/ready answer)",
  ],
  "notes": "bench/analysis.md",
}, open(sys.argv[1], "w"), indent=2)
PY
cp "$raw" bench/results/raw.jsonl
cp "$work/meta.json" bench/results/meta.json
bench/report.py render bench/results/raw.jsonl bench/results/latest.json docs/performance.md bench/results/meta.json
echo "Wrote docs/performance.md and bench/results/latest.json"
