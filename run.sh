#!/usr/bin/env bash
# Runs Agent Bus: installs what is missing, builds, starts the AppHost (Postgres, Redis, api,
# worker, gpu-agent) and prints where to go. Ctrl+C stops everything.
set -euo pipefail
cd "$(dirname "$0")"

scripts/ensure-prerequisites.sh run
echo "Building..."
dotnet build src/AgentBus.AppHost -nologo -clp:ErrorsOnly

log=$(mktemp -t agentbus-apphost.XXXXXX.log)
dotnet run --project src/AgentBus.AppHost --no-build --launch-profile http -- "$@" > >(tee "$log") 2>&1 &
apphost=$!
trap 'kill -TERM "$apphost" 2>/dev/null; wait "$apphost" 2>/dev/null; rm -f "$log"' EXIT
trap 'exit 130' INT TERM

ready() { curl -fs -o /dev/null "http://localhost:$1/health/ready"; }
for _ in $(seq 1 120); do
  if ready 8000 && ready 8001 && ready 8002; then break; fi
  kill -0 "$apphost" 2>/dev/null || { echo "The AppHost exited; see the log above." >&2; exit 1; }
  sleep 1
done
ready 8000 && ready 8001 && ready 8002 || { echo "Services not ready after 120 s; see the dashboard." >&2; }

login=$(grep -o 'http://localhost:18888/login?t=[0-9a-f]*' "$log" | head -n 1 || true)
cat <<MSG

  Agent Bus is running.
  Dashboard: ${login:-http://localhost:18888}
  API:       http://localhost:8000   (health: /health/ready, metrics: /metrics)
  Worker:    http://localhost:8001   GPU agent: http://localhost:8002

MSG
wait "$apphost"
