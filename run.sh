#!/usr/bin/env bash
# Runs Agent Bus: installs what is missing, builds, starts the AppHost (Postgres, Redis, api,
# worker, gpu-agent, web) and prints where to go. Ctrl+C stops everything.
set -euo pipefail
cd "$(dirname "$0")"

scripts/ensure-prerequisites.sh run
# The AppHost serves its orchestrator over TLS with the ASP.NET Core development certificate; an
# untrusted (or missing) one shows as a red "No trusted development certificate" banner on the
# dashboard's first screen. Create and trust it for this user once (on Linux that trusts it for
# .NET, which is what the AppHost checks; the tool's warning about OpenSSL clients is expected).
if ! dotnet dev-certs https --check --trust >/dev/null 2>&1; then
  echo "Trusting the ASP.NET Core development certificate for this user (dotnet dev-certs https --trust)..."
  dotnet dev-certs https --trust >/dev/null 2>&1 || true
fi
echo "Building..."
dotnet build src/AgentBus.AppHost -nologo -clp:ErrorsOnly

log=$(mktemp -t agentbus-apphost.XXXXXX.log)
dotnet run --project src/AgentBus.AppHost --no-build --launch-profile http -- "$@" > >(tee "$log") 2>&1 &
apphost=$!
trap 'kill -TERM "$apphost" 2>/dev/null; wait "$apphost" 2>/dev/null; rm -f "$log"' EXIT
trap 'exit 130' INT TERM

ready() { curl -fs -o /dev/null "http://localhost:$1/health/ready"; }
for _ in $(seq 1 120); do
  if ready 8000 && ready 8001 && ready 8002 && ready 8003; then break; fi
  kill -0 "$apphost" 2>/dev/null || { echo "The AppHost exited; see the log above." >&2; exit 1; }
  sleep 1
done
ready 8000 && ready 8001 && ready 8002 && ready 8003 || { echo "Services not ready after 120 s; see the dashboard." >&2; }

# The api's admin key: AGENTBUS_API_KEY when set (the AppHost takes it), else the value the AppHost
# generated and keeps in its user secrets.
if [ -n "${AGENTBUS_API_KEY:-}" ]; then
  api_key=$AGENTBUS_API_KEY; key_origin="from AGENTBUS_API_KEY"
else
  api_key=$(dotnet user-secrets list --project src/AgentBus.AppHost 2>/dev/null | sed -n 's/^Parameters:api-key = //p' | head -n 1)
  key_origin="generated; kept in the AppHost's user secrets; set AGENTBUS_API_KEY to choose one"
fi

login=$(grep -o 'http://localhost:18888/login?t=[0-9a-f]*' "$log" | head -n 1 || true)
cat <<MSG

  Agent Bus is running.
  Web app:   http://localhost:8003   (sign in with the API key below)
  Dashboard: ${login:-http://localhost:18888}
  API:       http://localhost:8000   (health: /health/ready, metrics: /metrics)
  Worker:    http://localhost:8001   GPU agent: http://localhost:8002
  API key:   ${api_key:-(not found)}   (admin; ${key_origin})
  Try:       curl -s localhost:8000/api/projects -H "X-Api-Key: ${api_key:-<key>}"

MSG
wait "$apphost"
