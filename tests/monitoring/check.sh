#!/usr/bin/env bash
# Offline checks of the Agent Bus monitoring files (k8s/monitoring/) and their tests.
# Needs promtool and amtool (Debian: apt-get install -y prometheus prometheus-alertmanager) and
# python3 with PyYAML (python3-yaml); installs nothing and talks to no network. Uses, when
# present: Postgres binaries (/usr/lib/postgresql/*/bin) to run the dashboard's SQL on a
# throwaway server over a Unix socket, and kubectl to build the kustomization; otherwise those
# checks print SKIP.
# Prints one PASS/FAIL/SKIP line per check and `monitoring: N passed, F failed`; exits 1 on any
# failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mon=k8s/monitoring
here=tests/monitoring
helpers=(python3 "$here/helpers.py")

tmp=$(mktemp -d)
pg_pid=
cleanup() {
  if [[ -n $pg_pid ]]; then kill -INT "$pg_pid" 2>/dev/null || true; wait "$pg_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
n=0
# check NAME COMMAND...: PASS when COMMAND succeeds, else FAIL and the tail of its output.
# COMMAND runs as an `if` condition, where set -e is off: functions below chain with || return 1.
check() {
  local name=$1
  shift
  n=$((n + 1))
  if "$@" >"$tmp/log.$n" 2>&1; then
    echo "PASS $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    tail -n 40 "$tmp/log.$n" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}
skip() { echo "SKIP $1"; }

# ------------------------------------------------------------------ tools
tools_present() {
  local t missing=0
  for t in promtool amtool python3; do
    command -v "$t" >/dev/null || { echo "$t not found (apt-get install -y prometheus prometheus-alertmanager python3)"; missing=1; }
  done
  python3 -c 'import yaml' 2>/dev/null || { echo "PyYAML not found (apt-get install -y python3-yaml)"; missing=1; }
  return "$missing"
}
check "tools present (promtool, amtool, python3, PyYAML)" tools_present
if [[ $failed -gt 0 ]]; then
  echo "monitoring: $passed passed, $failed failed"
  exit 1
fi

# ------------------------------------------------------------------ rules
check "promtool check rules $mon/alert-rules.yml" promtool check rules "$mon/alert-rules.yml"

check "PrometheusRule and prometheus-config.yaml hold the same rules as alert-rules.yml (sync-rules.sh --check)" \
  "$mon/sync-rules.sh" --check

prometheus_rule_spec_valid() {
  # spec: of the PrometheusRule, dedented, must itself be a valid rule file.
  sed -n '/^spec:/,$p' "$mon/prometheus-rules.yaml" | tail -n +2 | sed 's/^  //' >"$tmp/spec-rules.yml" || return 1
  grep -q '^kind: PrometheusRule$' "$mon/prometheus-rules.yaml" || { echo "not a PrometheusRule"; return 1; }
  grep -q '^apiVersion: monitoring.coreos.com/v1$' "$mon/prometheus-rules.yaml" || { echo "wrong apiVersion"; return 1; }
  promtool check rules "$tmp/spec-rules.yml" || return 1
  cmp "$tmp/spec-rules.yml" <(sed -n '/^groups:/,$p' "$mon/alert-rules.yml")
}
check "PrometheusRule spec is a valid rule file identical to alert-rules.yml" prometheus_rule_spec_valid

check "every alert has severity, component, summary, description, runbook_url" "${helpers[@]}" rules-lint

for t in "$here"/rules-test*.yml; do
  check "promtool test rules $t" promtool test rules "$t"
done

check "every alert has a firing case and a quiet case in the rule tests" "${helpers[@]}" coverage

# ------------------------------------------------------------------ Prometheus config
prometheus_config_valid() {
  local d=$tmp/prometheus sa=/var/run/secrets/kubernetes.io/serviceaccount
  mkdir -p "$d/sa" || return 1
  "${helpers[@]}" extract "$mon/prometheus-config.yaml" prometheus.yml >"$d/prometheus.yml.in" || return 1
  "${helpers[@]}" extract "$mon/prometheus-config.yaml" alert-rules.yml >"$d/alert-rules.yml" || return 1
  # Debian's promtool is built without Kubernetes discovery: swap those blocks for static
  # targets (helpers.py checks their role and namespace), and make up the in-cluster service
  # account files in the temp dir.
  "${helpers[@]}" static-sd "$d/prometheus.yml.in" >"$d/prometheus.yml.sd" || return 1
  sed "s#$sa/#$d/sa/#g" "$d/prometheus.yml.sd" >"$d/prometheus.yml" || return 1
  printf 'token\n' >"$d/sa/token"
  : >"$d/sa/ca.crt" # promtool only checks that the file exists
  cmp "$d/alert-rules.yml" <(sed -n '/^groups:/,$p' "$mon/alert-rules.yml") || return 1
  grep -q 'job_name: agent-bus' "$d/prometheus.yml" || { echo "no agent-bus job"; return 1; }
  promtool check config "$d/prometheus.yml"
}
check "promtool check config on prometheus.yml extracted from prometheus-config.yaml (with its rules; Kubernetes SD as static)" prometheus_config_valid

scrape_relabeling() {
  local d=$tmp/relabel
  mkdir -p "$d" || return 1
  "${helpers[@]}" extract "$mon/prometheus-config.yaml" prometheus.yml >"$d/source.yml" || return 1
  "${helpers[@]}" relabel-test "$d/source.yml" "$d"
}
if command -v prometheus >/dev/null; then
  check "scrape relabeling keeps api/worker/gpu-agent/web pods (job agent-bus) and the exporters (job agent-bus-exporters), picks the port, sets job/namespace/component/pod" scrape_relabeling
else
  skip "scrape relabeling (prometheus server not installed)"
fi

# ------------------------------------------------------------------ Alertmanager
am_extract() {
  local d=$tmp/alertmanager
  mkdir -p "$d" || return 1
  "${helpers[@]}" extract "$mon/alertmanager-config.yaml" alertmanager.yaml >"$d/alertmanager.yaml.in" || return 1
  "${helpers[@]}" extract "$mon/alertmanager-config.yaml" agent-bus.tmpl >"$d/agent-bus.tmpl" || return 1
  sed -e "s#/etc/alertmanager/config/#$d/#g" \
      -e "s#/etc/alertmanager/secrets/alertmanager-agent-bus-receivers/#$d/#g" \
      "$d/alertmanager.yaml.in" >"$d/alertmanager.yaml" || return 1
  printf 'pagerduty-test-routing-key\n' >"$d/pagerduty-routing-key"
  printf 'https://hooks.slack.com/services/T000/B000/XXXX\n' >"$d/slack-webhook-url"
}
alertmanager_config_valid() {
  am_extract || return 1
  amtool check-config "$tmp/alertmanager/alertmanager.yaml"
}
check "amtool check-config on alertmanager.yaml extracted from alertmanager-config.yaml" alertmanager_config_valid

alertmanager_routing() {
  local cfg=$tmp/alertmanager/alertmanager.yaml got
  [[ -f $cfg ]] || am_extract || return 1
  got=$(amtool config routes test --config.file="$cfg" severity=critical alertname=TargetDown component=api 2>/dev/null) || return 1
  [[ $got == "pagerduty,slack" ]] || { echo "critical routed to '$got', want pagerduty,slack"; return 1; }
  got=$(amtool config routes test --config.file="$cfg" severity=warning alertname=NotReady component=api 2>/dev/null) || return 1
  [[ $got == "slack" ]] || { echo "warning routed to '$got', want slack"; return 1; }
  grep -q 'group_by: \[alertname, component\]' "$cfg" || { echo "group_by is not [alertname, component]"; return 1; }
}
check "alertmanager routes critical to PagerDuty (and Slack), warning to Slack" alertmanager_routing

alertmanager_templates_render() {
  local d=$tmp/alertmanager t
  [[ -f $d/agent-bus.tmpl ]] || am_extract || return 1
  for t in $(grep -o 'define "[a-z.]*"' "$d/agent-bus.tmpl" | cut -d'"' -f2); do
    amtool template render --template.glob="$d/*.tmpl" --template.text="{{ template \"$t\" . }}" >/dev/null || { echo "template $t"; return 1; }
  done
}
check "alertmanager message templates render" alertmanager_templates_render

# ------------------------------------------------------------------ dashboards and queries
check "dashboards parse as JSON and use \${datasource} and namespace=~\"\$namespace\" everywhere" "${helpers[@]}" dashboards

promql_valid() {
  "${helpers[@]}" promql-rulefile "$tmp/promql.yml" || return 1
  promtool check rules "$tmp/promql.yml"
}
check "every dashboard and queries.txt PromQL query parses (promtool)" promql_valid

check "every metric name and label matcher in rules, dashboards and queries.txt exists" "${helpers[@]}" metric-names

check "queries.txt holds every dashboard query and alert expression" "${helpers[@]}" queries

# Postgres: run the LLM Cost dashboard's SQL on a throwaway server (Unix socket only).
pg_bin=
for b in /usr/lib/postgresql/*/bin; do [[ -x $b/postgres ]] && pg_bin=$b; done
postgres_panels_run() {
  local d=$tmp/pg f as=() psql
  mkdir -p "$d/sql" "$d/data" "$d/sock" || return 1
  "${helpers[@]}" sql "$d/sql" >/dev/null || return 1
  if [[ $(id -u) == 0 ]]; then
    # Postgres refuses to run as root.
    chmod 755 "$tmp" "$d" && chown postgres: "$d/data" "$d/sock" || return 1
    as=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  fi
  "${as[@]}" "$pg_bin/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --no-sync >"$d/initdb.log" 2>&1 ||
    { cat "$d/initdb.log"; return 1; }
  "${as[@]}" "$pg_bin/postgres" -D "$d/data" -k "$d/sock" -c listen_addresses= -c fsync=off >"$d/server.log" 2>&1 &
  pg_pid=$!
  for _ in $(seq 100); do
    "$pg_bin/pg_isready" -q -h "$d/sock" && break
    sleep 0.1
  done
  psql=("$pg_bin/psql" -h "$d/sock" -U postgres -X -q -v ON_ERROR_STOP=1)
  # The application's own schema, as the migrations resource applies it (its roles first: the
  # Migrator creates them before the scripts), then a few rows.
  "${psql[@]}" -c "CREATE ROLE agentbus_owner NOLOGIN; CREATE ROLE agentbus_app LOGIN;" || { echo "roles failed"; return 1; }
  for f in "$here"/../../src/AgentBus.Jobs/Data/Migrations/*.sql; do
    "${psql[@]}" -1 -f "$f" || { echo "migration failed: $f"; return 1; }
  done
  "${psql[@]}" -f "$here/pg-fixture.sql" || { cat "$d/server.log"; return 1; }
  local rows
  for f in "$d"/sql/*.sql; do
    rows=$("${psql[@]}" -t -A -f "$f" | wc -l) || { echo "query failed: $f"; cat "$f"; return 1; }
    [[ $rows -gt 0 ]] || { echo "no rows from: $f"; cat "$f"; return 1; }
  done
  kill -INT "$pg_pid" && wait "$pg_pid" || true
  pg_pid=
}
if [[ -n $pg_bin ]] && { [[ $(id -u) != 0 ]] || id postgres >/dev/null 2>&1; }; then
  check "LLM Cost dashboard's Postgres queries run on the llm_calls/projects schema" postgres_panels_run
else
  skip "LLM Cost dashboard's Postgres queries (no Postgres binaries)"
fi

# ------------------------------------------------------------------ kustomization, runbooks
kustomize_builds() {
  local out=$tmp/kustomize.yaml
  kubectl kustomize "$mon" >"$out" || return 1
  grep -q '^kind: PrometheusRule$' "$out" || { echo "no PrometheusRule"; return 1; }
  grep -q '^  name: alertmanager-agent-bus$' "$out" || { echo "no alertmanager Secret"; return 1; }
  [[ $(grep -c 'grafana_dashboard: "1"' "$out") -eq 4 ]] || { echo "want 4 dashboard ConfigMaps labelled grafana_dashboard"; return 1; }
}
if command -v kubectl >/dev/null; then
  check "kubectl kustomize $mon (rules, Alertmanager Secret, 4 labelled dashboards)" kustomize_builds
else
  skip "kubectl kustomize $mon (kubectl not installed)"
fi

if [[ -f docs/runbooks.md ]]; then
  check "docs/runbooks.md has a section for every alert" "${helpers[@]}" runbooks docs/runbooks.md
else
  skip "docs/runbooks.md has a section for every alert (file not written yet)"
fi

echo "monitoring: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
