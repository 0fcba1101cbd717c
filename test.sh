#!/usr/bin/env bash
# Runs every Agent Bus test: installs what is missing, builds with warnings as errors, runs the
# unit tests (seconds, so a broken class shows at once), the integration tests (real Postgres,
# Redis and Prometheus), the deployment tests and the monitoring checks. Ends with one line
# "N passed, F failed".
set -uo pipefail
cd "$(dirname "$0")"

scripts/ensure-prerequisites.sh test || exit 1
results=$(mktemp -d -t agentbus-tests.XXXXXX)
trap 'rm -rf "$results"' EXIT

passed=0; failed=0
echo "== build"
if ! dotnet build AgentBus.sln -nologo -clp:ErrorsOnly -warnaserror; then
  echo "0 passed, 1 failed"
  exit 1
fi

# Runs one .NET test project and adds its counts; a run that reports no tests counts as one failure.
run_tests() {
  local name=$1 project=$2 total nfailed
  echo "== .NET tests: $name"
  dotnet test --project "$project" --no-build --results-directory "$results/reports/$name" \
    -- --timeout 25m --report-xunit-junit 2>&1 | tee "$results/$name.log"
  total=$(grep -oE 'total: [0-9]+' "$results/$name.log" | tail -n 1 | grep -oE '[0-9]+' || echo 0)
  nfailed=$(grep -oE 'failed: [0-9]+' "$results/$name.log" | tail -n 1 | grep -oE '[0-9]+' || echo 1)
  if [ "$total" -eq 0 ]; then nfailed=1; fi
  passed=$((passed + total - nfailed)); failed=$((failed + nfailed))
}

run_tests unit tests/AgentBus.UnitTests/AgentBus.UnitTests.csproj
run_tests integration tests/AgentBus.IntegrationTests/AgentBus.IntegrationTests.csproj
run_tests deploy tests/AgentBus.Deploy.Tests/AgentBus.Deploy.Tests.csproj

if [ -x tests/monitoring/check.sh ]; then
  echo "== monitoring checks"
  tests/monitoring/check.sh 2>&1 | tee "$results/monitoring.log"
  line=$(grep -E '^monitoring: [0-9]+ passed, [0-9]+ failed' "$results/monitoring.log" | tail -n 1)
  if [ -n "$line" ]; then
    passed=$((passed + $(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')))
    failed=$((failed + $(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')))
  else
    failed=$((failed + 1))
  fi
fi

# The failing tests' names and first message lines go last, where a truncated CI log still shows them.
scripts/failed-tests.py "$results/reports" "$results/monitoring.log" || true
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
