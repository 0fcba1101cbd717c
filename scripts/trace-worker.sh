#!/usr/bin/env bash
# Records a CPU trace (sampled thread stacks) of the local worker while it works: submits
# projects to the API of a running ./run.sh, approves each one when it waits for approval, and
# converts the trace for https://www.speedscope.app. docs/profiling.md explains the output.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/trace-worker.sh [options]

Records a CPU trace of the worker started by ./run.sh while N projects go through the
pipeline (submitted to the API, approved when they reach waiting_for_approval), then
converts it to speedscope format and prints where both files are.

Options:
  -n, --projects N    projects to submit (default 20; 1 to 500)
  -d, --duration S    length of the trace in seconds (default 30; 5 to 600)
  -o, --output DIR    folder for the trace files (default: artifacts/traces in the repository)
  -p, --pid PID       trace this process instead of looking for the worker
      --api URL       API base URL (default http://localhost:8000; loopback only)
      --worker URL    worker base URL, for its health check (default http://localhost:8001)
  -h, --help          show this text

Environment:
  AGENTBUS_API_KEY    sent as the X-Api-Key header when set

Needs a running ./run.sh, curl, and dotnet-trace (installed with
`dotnet tool install --global dotnet-trace` when it is missing).
Writes DIR/worker-<time>.nettrace and DIR/worker-<time>.speedscope.json.
EOF
}

die() {
  echo "trace-worker: $*" >&2
  exit 1
}

is_int() { [[ $1 =~ ^[0-9]+$ ]]; }

# Only loopback addresses: this script generates load and must never aim it elsewhere.
is_loopback_url() { [[ $1 =~ ^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?/?$ ]]; }

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
projects=20
duration=30
out_dir="$root/artifacts/traces"
pid=
api=http://localhost:8000
worker=http://localhost:8001

while [[ $# -gt 0 ]]; do
  case $1 in
    -n | --projects) [[ $# -ge 2 ]] || die "$1 needs a value"; projects=$2; shift 2 ;;
    -d | --duration) [[ $# -ge 2 ]] || die "$1 needs a value"; duration=$2; shift 2 ;;
    -o | --output) [[ $# -ge 2 ]] || die "$1 needs a value"; out_dir=$2; shift 2 ;;
    -p | --pid) [[ $# -ge 2 ]] || die "$1 needs a value"; pid=$2; shift 2 ;;
    --api) [[ $# -ge 2 ]] || die "$1 needs a value"; api=$2; shift 2 ;;
    --worker) [[ $# -ge 2 ]] || die "$1 needs a value"; worker=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

if ! is_int "$projects" || ((10#$projects < 1 || 10#$projects > 500)); then
  die "--projects must be 1 to 500, not '$projects'"
fi
if ! is_int "$duration" || ((10#$duration < 5 || 10#$duration > 600)); then
  die "--duration must be 5 to 600 seconds, not '$duration'"
fi
[[ -z $pid ]] || is_int "$pid" || die "--pid must be a process id, not '$pid'"
projects=$((10#$projects))
duration=$((10#$duration))
is_loopback_url "$api" || die "--api must be http://localhost, 127.0.0.1 or [::1] (with an optional port), not '$api'"
is_loopback_url "$worker" || die "--worker must be a loopback URL, not '$worker'"
api=${api%/}
worker=${worker%/}
command -v curl >/dev/null || die "curl not found (Debian: apt-get install -y curl)"

auth=()
if [[ -n ${AGENTBUS_API_KEY:-} ]]; then
  auth=(-H "X-Api-Key: $AGENTBUS_API_KEY")
fi

# curl with the API key, bounded time, no proxy (loopback only), failing on HTTP errors.
api_curl() { curl -fsS --noproxy '*' --max-time 10 "${auth[@]}" "$@"; }

# ------------------------------------------------------------------ is ./run.sh running?
curl -fsS --noproxy '*' --max-time 3 -o /dev/null "$api/health" 2>/dev/null ||
  die "no API answers at $api/health. Start the system with ./run.sh in another terminal, wait for 'Agent Bus is running.', then run this again."
curl -fsS --noproxy '*' --max-time 3 -o /dev/null "$worker/health" 2>/dev/null ||
  die "no worker answers at $worker/health. Is ./run.sh still starting? Check the Aspire dashboard (http://localhost:18888)."
if ! api_curl -o /dev/null "$api/api/projects?limit=1" 2>/dev/null; then
  code=$(curl -s --noproxy '*' --max-time 10 "${auth[@]}" -o /dev/null -w '%{http_code}' "$api/api/projects?limit=1" || true)
  case $code in
    401 | 403) die "the API refused the request ($code): set AGENTBUS_API_KEY to a key with the operator role" ;;
    *) die "GET $api/api/projects answered ${code:-nothing}; is the API ready? (curl $api/health/ready)" ;;
  esac
fi

# ------------------------------------------------------------------ dotnet-trace
if ! command -v dotnet-trace >/dev/null; then
  export PATH="$PATH:${DOTNET_CLI_HOME:-$HOME}/.dotnet/tools"
fi
if ! command -v dotnet-trace >/dev/null; then
  command -v dotnet >/dev/null || die "dotnet-trace is missing and so is the .NET SDK to install it with"
  echo "Installing dotnet-trace: dotnet tool install --global dotnet-trace"
  dotnet tool install --global dotnet-trace >&2 || die "installing dotnet-trace failed (is NuGet reachable?)"
  command -v dotnet-trace >/dev/null || die "dotnet-trace installed but not found on PATH (~/.dotnet/tools)"
fi

# dotnet-trace 10 renamed the sampling profile of `collect` (cpu-sampling now means the
# perf_events based `collect-linux`); older versions only know cpu-sampling.
if dotnet-trace list-profiles 2>/dev/null | grep -q 'dotnet-sampled-thread-time'; then
  profile=dotnet-common,dotnet-sampled-thread-time
else
  profile=cpu-sampling
fi

# ------------------------------------------------------------------ which process
# The worker's own process runs .../AgentBus.Worker (apphost) or .../AgentBus.Worker.dll. The
# pattern leaves out a `dotnet run --project .../AgentBus.Worker.csproj` launcher.
if [[ -z $pid ]]; then
  mapfile -t matches < <(pgrep -f '/AgentBus\.Worker(\.dll)?( |$)' || true)
  # Keep the ones dotnet-trace can attach to (a .NET runtime with a diagnostic socket).
  attachable=$(dotnet-trace ps 2>/dev/null | awk '{ print $1 }' || true)
  candidates=()
  for m in "${matches[@]}"; do
    if grep -qx "$m" <<<"$attachable"; then candidates+=("$m"); fi
  done
  if [[ ${#candidates[@]} -eq 0 ]]; then
    die "no AgentBus.Worker process found although $worker answers. Is the worker run by another user? Pass --pid (pgrep -af AgentBus.Worker lists candidates)."
  fi
  if [[ ${#candidates[@]} -gt 1 ]]; then
    echo "Several AgentBus.Worker processes run (a test run beside ./run.sh?):" >&2
    ps -o pid=,lstart=,args= -p "$(IFS=,; echo "${candidates[*]}")" | cut -c1-200 >&2
    die "pick the one of ./run.sh with --pid PID"
  fi
  pid=${candidates[0]}
fi
kill -0 "$pid" 2>/dev/null || die "process $pid does not exist (or belongs to another user)"
if ! dotnet-trace ps 2>/dev/null | awk -v p="$pid" '$1 == p { found = 1 } END { exit !found }'; then
  die "process $pid is not a .NET process dotnet-trace can attach to (another user, or DOTNET_EnableDiagnostics=0?)"
fi

# ------------------------------------------------------------------ start the trace
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
stamp=$(date +%Y%m%d-%H%M%S)
base="$out_dir/worker-$stamp"
trace="$base.nettrace"
trace_log="$base.dotnet-trace.log"
dd_hh_mm_ss=$(printf '%02d:%02d:%02d:%02d' $((duration / 86400)) $((duration % 86400 / 3600)) $((duration % 3600 / 60)) $((duration % 60)))

echo "Tracing worker pid $pid for ${duration}s (profile $profile) into $trace"
# Job control on while starting it: a background job of a script would otherwise ignore SIGINT,
# the signal that makes dotnet-trace stop early and still close the file properly.
set -m
dotnet-trace collect --process-id "$pid" --profile "$profile" --duration "$dd_hh_mm_ss" --output "$trace" \
  </dev/null >"$trace_log" 2>&1 &
tracer=$!
set +m
cleanup() {
  # Ctrl+C or an error before the trace ended: stop dotnet-trace so it closes the file.
  if kill -0 "$tracer" 2>/dev/null; then
    kill -INT "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true
    echo "Stopped early; the partial trace is $trace" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# dotnet-trace creates the file once the runtime has accepted the session.
for _ in $(seq 1 40); do
  [[ -s $trace ]] && break
  kill -0 "$tracer" 2>/dev/null || { cat "$trace_log" >&2; die "dotnet-trace stopped before the trace started"; }
  sleep 0.25
done
[[ -s $trace ]] || { cat "$trace_log" >&2; die "the trace session did not start within 10 s"; }
trace_started=$SECONDS

# ------------------------------------------------------------------ load
requirements='Users must be able to sign up with their email address and reset a forgotten password. Admins can invite team members, assign roles and export monthly activity reports as CSV. Customers should see an order history with search and filters. The system must integrate with a third-party payment API and send receipts by email. Pages respond within 200 ms for 95% of requests.'
job_ids=()
submit_failed=0
for i in $(seq 1 "$projects"); do
  body=$(printf '{"name":"trace-load %s #%d","requirements":"%s","metadata":{"source":"scripts/trace-worker.sh"}}' "$stamp" "$i" "$requirements")
  if created=$(api_curl -X POST "$api/api/projects" -H 'Content-Type: application/json' --data "$body" 2>/dev/null); then
    id=$(sed -n 's/.*"job_id" *: *"\([0-9a-fA-F-]\{36\}\)".*/\1/p' <<<"$created")
    if [[ -n $id ]]; then job_ids+=("$id"); else submit_failed=$((submit_failed + 1)); fi
  else
    submit_failed=$((submit_failed + 1))
  fi
done
failed_note=""
((submit_failed == 0)) || failed_note=" ($submit_failed failed)"
echo "Submitted ${#job_ids[@]} of $projects projects$failed_note; approving each when its PRD is ready..."
[[ ${#job_ids[@]} -gt 0 ]] || die "no project could be submitted to $api/api/projects"

declare -A status=()
approved=0
# Poll until every job has ended, or the trace is over (plus a little time to approve and finish).
deadline=$((trace_started + duration + 15))
while ((SECONDS < deadline)); do
  open=0
  for id in "${job_ids[@]}"; do
    case ${status[$id]:-} in completed | failed | canceled | rejected) continue ;; esac
    # The job's own status is the first "status" field of GET /api/jobs/{job_id}.
    s=$(api_curl "$api/api/jobs/$id" 2>/dev/null | grep -o '"status" *: *"[a-z_]*"' | head -n 1 | sed 's/.*"\([a-z_]*\)"$/\1/' || true)
    [[ -n $s ]] && status[$id]=$s
    if [[ $s == waiting_for_approval ]]; then
      if api_curl -o /dev/null -X POST "$api/api/jobs/$id/approve" -H 'Content-Type: application/json' \
        --data '{"notes":"approved by scripts/trace-worker.sh"}' 2>/dev/null; then
        approved=$((approved + 1))
        status[$id]=running
      fi
    fi
    case ${status[$id]:-} in completed | failed | canceled | rejected) ;; *) open=$((open + 1)) ;; esac
  done
  if ((open == 0)); then
    break
  fi
  if ! kill -0 "$tracer" 2>/dev/null && ((SECONDS >= trace_started + duration)); then
    break
  fi
  sleep 0.5
done

declare -A counts=()
for id in "${job_ids[@]}"; do
  s=${status[$id]:-unknown}
  counts[$s]=$((${counts[$s]:-0} + 1))
done
summary=""
for s in "${!counts[@]}"; do summary+="$s=${counts[$s]} "; done
echo "Jobs: ${summary% } (approved $approved)"
if ((${counts[completed]:-0} < ${#job_ids[@]})) && ((SECONDS >= deadline)); then
  echo "Not every job finished within the trace; a longer --duration or fewer --projects covers whole jobs."
fi

# ------------------------------------------------------------------ finish and convert
if kill -0 "$tracer" 2>/dev/null; then
  echo "Waiting for the trace to end..."
fi
rc=0
wait "$tracer" || rc=$?
trap - EXIT
[[ $rc -eq 0 && -s $trace ]] || { cat "$trace_log" >&2; die "dotnet-trace failed (exit $rc)"; }

dotnet-trace convert "$trace" --format Speedscope --output "$base" >>"$trace_log" 2>&1 ||
  { cat "$trace_log" >&2; die "converting to speedscope failed"; }
speedscope="$base.speedscope.json"
[[ -s $speedscope ]] || die "dotnet-trace convert wrote no $speedscope (see $trace_log)"

if dotnet-trace report --help >/dev/null 2>&1; then
  echo
  echo "Methods longest on the stack (exclusive, all threads, waiting included):"
  dotnet-trace report "$trace" topN -n 10 2>/dev/null || true
fi

# convert and report leave TraceEvent's cache beside the trace; it is rebuilt when needed.
rm -f "$trace.etlx"

cat <<EOF

Trace:      $trace
Speedscope: $speedscope
Log:        $trace_log

Open the speedscope file at https://www.speedscope.app (it is read in the browser, not uploaded)
or the .nettrace in PerfView or Visual Studio. Samples cover every managed thread, waiting ones
included: look at the threads that run TaskConsumer (docs/profiling.md).
EOF
