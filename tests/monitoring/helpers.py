#!/usr/bin/env python3
"""Offline helpers for tests/monitoring/check.sh (Python 3 and PyYAML: Debian python3-yaml).

Subcommands (paths are relative to the repository root, found from this file's location):
  extract FILE KEY            print data/stringData KEY of a ConfigMap/Secret manifest
  static-sd FILE              print a prometheus.yml with kubernetes_sd_configs swapped for
                              static_configs (Debian's promtool is built without Kubernetes SD)
  relabel-test FILE WORKDIR   run `prometheus` on 127.0.0.1 with the agent-bus job's relabeling
                              over made-up pod discovery labels, and check the resulting targets
  rules-lint                  every alert: severity, component, summary, description, runbook_url
  coverage                    every alert has a firing case and a quiet case in the rule tests
  dashboards                  structure of every dashboard (datasource/namespace variables, ...)
  promql-rulefile OUT         every dashboard and queries.txt query as a recording rule, for promtool
  metric-names                every metric used in rules, dashboards and queries.txt is known
  sql OUTDIR                  the Postgres panel queries with Grafana macros expanded
  queries [--write]           check (or rewrite) the generated part of tests/monitoring/queries.txt
  runbooks FILE               every alert has a heading in the runbook FILE
"""
import glob
import json
import os
import re
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MON = os.path.join(ROOT, "k8s", "monitoring")
TESTS = os.path.join(ROOT, "tests", "monitoring")
RULES = os.path.join(MON, "alert-rules.yml")
QUERIES = os.path.join(TESTS, "queries.txt")
DASHBOARDS = ["grafana-dashboard.json", "grafana-dashboard-gpu.json",
              "grafana-dashboard-database.json", "grafana-dashboard-llm-cost.json"]
GENERATED_MARKER = "# ==== GENERATED below by `python3 tests/monitoring/helpers.py queries --write`"

# The metrics the services export (docs: the task brief and spec/contract.md).
COUNTERS = """agent_bus_http_requests_total agent_bus_jobs_created_total agent_bus_jobs_completed_total
agent_bus_agent_executions_total agent_bus_agent_llm_calls_total agent_bus_agent_llm_tokens_total
agent_bus_agent_llm_cost_usd_total agent_bus_agent_llm_cost_unknown_total agent_bus_agent_llm_calls_refused_total
agent_bus_worker_tasks_processed_total agent_bus_queue_dead_lettered_total agent_bus_errors_total
agent_bus_gpu_tasks_total agent_bus_webhook_deliveries_total""".split()
GAUGES = """agent_bus_jobs_active agent_bus_worker_queue_size agent_bus_db_connections_active
agent_bus_db_connections_max agent_bus_ready agent_bus_gpu_utilization_ratio
agent_bus_gpu_memory_used_bytes agent_bus_gpu_memory_total_bytes agent_bus_gpu_temperature_celsius
agent_bus_gpu_power_watts agent_bus_gpu_count agent_bus_agent_llm_spend_today_usd agent_bus_agent_llm_daily_cap_usd
up target_info pg_database_size_bytes agent_bus_webhook_deliveries_pending agent_bus_webhook_oldest_due_seconds""".split()
HISTOGRAMS = """agent_bus_http_request_duration_seconds agent_bus_job_duration_seconds
agent_bus_agent_execution_duration_seconds agent_bus_db_query_duration_seconds
agent_bus_gpu_task_duration_seconds""".split()
ALLOWED_PREFIXES = ("http_server_", "process_", "dotnet_", "container_")

# What postgres_exporter 0.11 (built in, and k8s/monitoring/postgres-exporter-queries.yaml) and
# redis_exporter 1.45 (--check-streams) export that the rules and dashboards read, with their own
# labels (docs/metrics.md, "Exporters"). Their targets carry the same target labels as the services.
EXPORTER_METRICS = {
    "pg_up": set(), "redis_up": set(),
    "pg_settings_max_connections": {"server"},
    "pg_stat_activity_count": {"server", "datname", "state"},
    "pg_locks_count": {"server", "datname", "mode"},
    "pg_stat_database_blks_hit": {"server", "datid", "datname"},
    "pg_stat_database_blks_read": {"server", "datid", "datname"},
    "pg_stat_statements_calls": {"server", "datname", "queryid", "query"},
    "pg_stat_statements_total_exec_time_seconds": {"server", "datname", "queryid", "query"},
    "pg_stat_statements_mean_exec_time_seconds": {"server", "datname", "queryid", "query"},
    "pg_stat_statements_rows": {"server", "datname", "queryid", "query"},
    "pg_stat_user_tables_n_dead_tup": {"server", "datname", "schemaname", "relname"},
    "pg_stat_user_tables_n_live_tup": {"server", "datname", "schemaname", "relname"},
    "pg_wal_written_bytes": {"server"}, "pg_wal_size_bytes": {"server"},
    "redis_memory_used_bytes": set(), "redis_memory_max_bytes": set(),
    "redis_connected_clients": set(), "redis_blocked_clients": set(),
    "redis_commands_processed_total": set(),
    "redis_stream_length": {"db", "stream"},
    "redis_stream_group_messages_pending": {"db", "stream", "group"},
}
KNOWN = set(COUNTERS) | set(GAUGES) | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")} | set(EXPORTER_METRICS)

# Labels of each metric (besides the target labels), for checking label matchers.
TARGET_LABELS = {"job", "instance", "namespace", "component", "pod", "otel_scope_name",
                 "otel_scope_version"}
LABELS = {
    "agent_bus_http_requests_total": {"method", "endpoint", "status"},
    "agent_bus_http_request_duration_seconds": {"method", "endpoint"},
    "agent_bus_jobs_completed_total": {"status"},
    "agent_bus_agent_executions_total": {"agent_type", "status"},
    "agent_bus_agent_execution_duration_seconds": {"agent_type"},
    "agent_bus_agent_llm_calls_total": {"agent_type", "provider"},
    "agent_bus_agent_llm_tokens_total": {"agent_type", "provider", "type"},
    "agent_bus_agent_llm_cost_usd_total": {"agent_type", "provider", "model"},
    "agent_bus_agent_llm_cost_unknown_total": {"agent_type", "provider", "model"},
    "agent_bus_agent_llm_calls_refused_total": {"reason"},
    "agent_bus_worker_tasks_processed_total": {"queue_name", "status"},
    "agent_bus_worker_queue_size": {"queue_name"},
    "agent_bus_queue_dead_lettered_total": {"queue_name"},
    "agent_bus_errors_total": {"exported_component", "error_type"},
    "agent_bus_db_query_duration_seconds": {"query_type"},
    "agent_bus_gpu_utilization_ratio": {"node", "gpu", "uuid", "name"},
    "agent_bus_gpu_memory_used_bytes": {"node", "gpu", "uuid"},
    "agent_bus_gpu_memory_total_bytes": {"node", "gpu", "uuid"},
    "agent_bus_gpu_temperature_celsius": {"node", "gpu", "uuid"},
    "agent_bus_gpu_power_watts": {"node", "gpu", "uuid"},
    "agent_bus_gpu_count": {"node"},
    "agent_bus_gpu_tasks_total": {"node", "gpu", "uuid", "status"},
    "agent_bus_gpu_task_duration_seconds": {"node", "gpu"},
    "agent_bus_webhook_deliveries_total": {"event", "outcome"},
}


def labels_of(name):
    """Allowed matcher labels of a metric; None when not checked (container_*, ...)."""
    if name.startswith(ALLOWED_PREFIXES) or name == "target_info":
        return None
    for h in HISTOGRAMS:
        if name == h + "_bucket":
            return TARGET_LABELS | LABELS.get(h, set()) | {"le"}
        if name in (h + "_sum", h + "_count"):
            return TARGET_LABELS | LABELS.get(h, set())
    return TARGET_LABELS | LABELS.get(name, EXPORTER_METRICS.get(name, set()))


PROMQL_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                   "group_right", "bool", "offset", "inf", "nan", "atan2"}


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


# ----------------------------------------------------------------------------- YAML
class Mapping(dict):
    """A YAML mapping that knows its line, for messages that point into the file."""
    line = 0


class LineLoader(yaml.SafeLoader):
    """yaml.SafeLoader whose mappings come back as Mapping."""


def _mapping(loader, node):
    m = Mapping(loader.construct_mapping(node, deep=True))
    m.line = node.start_mark.line + 1
    return m


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path, loader=yaml.SafeLoader):
    with open(path, encoding="utf-8") as f:
        try:
            return yaml.load(f, Loader=loader)
        except yaml.YAMLError as e:
            fail(str(e))  # names the file, line and column


# ----------------------------------------------------------------------------- manifests
def extract_block(path, key):
    """The text under KEY in the data (ConfigMap) or stringData (Secret) of a manifest."""
    doc = load_yaml(path)
    value = (doc.get("data") or {}).get(key) or (doc.get("stringData") or {}).get(key)
    if not isinstance(value, str) or not value.strip():
        fail(f"{path}: no text under data or stringData key '{key}'")
    return value


def static_sd(path):
    """prometheus.yml text with every kubernetes_sd_configs block replaced by static_configs.

    Each replaced block must name a role (pod or node); the pod role must be limited to the
    agent-bus namespace. The blocks are swapped in the text, not the YAML re-dumped, so that
    promtool sees relabeling and everything else as written (PyYAML hides duplicate keys)."""
    jobs = [j for j in load_yaml(path).get("scrape_configs") or [] if "kubernetes_sd_configs" in j]
    # An empty block names no role either.
    for sd in [sd for j in jobs for sd in j["kubernetes_sd_configs"] or [{}]]:
        if sd.get("role") not in ("pod", "node"):
            fail(f"{path}: kubernetes_sd_configs without role pod|node: {sd}")
        if sd["role"] == "pod" and (sd.get("namespaces") or {}).get("names") != ["agent-bus"]:
            fail(f"{path}: pod discovery is not limited to namespace agent-bus: {sd}")
    # A block: the key's line, then the lines that are blank or indented deeper.
    text, found = re.subn(r"^( *)kubernetes_sd_configs:[ \t]*\n(?:\1 .*\n|[ \t]*\n)*",
                          r"\1static_configs:\n\1  - targets: ['192.0.2.10:8000']\n",
                          open(path, encoding="utf-8").read(), flags=re.M)
    if not found or found != len(jobs):
        fail(f"{path}: {found} kubernetes_sd_configs blocks, {len(jobs)} of them in scrape jobs")
    return text


# Made-up pod discovery results: (meta labels, expected target or None when it must be dropped).
def _pod(name, component, ip, port_name, port, annotations=None, phase="Running"):
    labels = {"__address__": f"{ip}:{port}" if ":" not in ip else f"[{ip}]:{port}",
              "__meta_kubernetes_namespace": "agent-bus",
              "__meta_kubernetes_pod_name": name,
              "__meta_kubernetes_pod_ip": ip,
              "__meta_kubernetes_pod_phase": phase,
              "__meta_kubernetes_pod_container_port_name": port_name,
              "__meta_kubernetes_pod_container_port_number": str(port),
              "__meta_kubernetes_pod_label_app_kubernetes_io_part_of": "agent-bus"}
    if component:
        labels["__meta_kubernetes_pod_label_component"] = component
    for k, v in (annotations or {}).items():
        labels["__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-zA-Z0-9]", "_", k)] = v
    return labels


RELABEL_CASES = [
    # api: the port named http is the target; another port of the same pod is not.
    (_pod("api-5d8f7c9b4-x2k9p", "api", "10.1.0.11", "http", 8080),
     ("http://10.1.0.11:8080/metrics", {"component": "api", "pod": "api-5d8f7c9b4-x2k9p"})),
    (_pod("api-5d8f7c9b4-x2k9p", "api", "10.1.0.11", "debug", 9090), None),
    # worker: the annotation names the port; both declared ports collapse into one target.
    (_pod("worker-7b6d5f8c9-q4r2m", "worker", "10.1.0.21", "grpc", 5000, {"prometheus.io/port": "8080"}),
     ("http://10.1.0.21:8080/metrics", {"component": "worker", "pod": "worker-7b6d5f8c9-q4r2m"})),
    (_pod("worker-7b6d5f8c9-q4r2m", "worker", "10.1.0.21", "web", 8080, {"prometheus.io/port": "8080"}),
     ("http://10.1.0.21:8080/metrics", {"component": "worker", "pod": "worker-7b6d5f8c9-q4r2m"})),
    # gpu-agent on IPv6 with a custom path.
    (_pod("gpu-agent-k7x2p", "gpu-agent", "fd00::31", "admin", 9000,
          {"prometheus.io/port": "8080", "prometheus.io/path": "/custom-metrics"}),
     ("http://[fd00::31]:8080/custom-metrics", {"component": "gpu-agent", "pod": "gpu-agent-k7x2p"})),
    # web: scraped like the api.
    (_pod("web-6c9d8b7f5-h3j8k", "web", "10.1.0.51", "http", 8080),
     ("http://10.1.0.51:8080/metrics", {"component": "web", "pod": "web-6c9d8b7f5-h3j8k"})),
    # Not Agent Bus services, or finished pods: dropped.
    (_pod("postgres-0", "postgres", "10.1.0.41", "http", 5432), None),
    (_pod("migrate-abc12", None, "10.1.0.42", "http", 8080), None),
    (_pod("api-5d8f7c9b4-old01", "api", "10.1.0.13", "http", 8080, phase="Succeeded"), None),
    # The exporters are job agent-bus-exporters' (below), never agent-bus's.
    (_pod("postgres-exporter-6f9c7d-abcde", "postgres-exporter", "10.1.0.61", "http", 9187), None),
]

# Job agent-bus-exporters: the two exporters on their http port, nothing else.
EXPORTER_RELABEL_CASES = [
    (_pod("postgres-exporter-6f9c7d-abcde", "postgres-exporter", "10.1.0.61", "http", 9187),
     ("http://10.1.0.61:9187/metrics", {"component": "postgres-exporter", "pod": "postgres-exporter-6f9c7d-abcde"})),
    (_pod("redis-exporter-7c8d9e-fghij", "redis-exporter", "10.1.0.62", "http", 9121),
     ("http://10.1.0.62:9121/metrics", {"component": "redis-exporter", "pod": "redis-exporter-7c8d9e-fghij"})),
    (_pod("redis-exporter-7c8d9e-fghij", "redis-exporter", "10.1.0.62", "debug", 9999), None),
    (_pod("api-5d8f7c9b4-x2k9p", "api", "10.1.0.11", "http", 8080), None),
    (_pod("postgres-0", "postgres", "10.1.0.41", "tcp", 5432), None),
]


def cmd_relabel_test(config_path, workdir):
    jobs = load_yaml(config_path).get("scrape_configs") or []
    for job, cases in (("agent-bus", RELABEL_CASES), ("agent-bus-exporters", EXPORTER_RELABEL_CASES)):
        relabel = next((j.get("relabel_configs") for j in jobs if j.get("job_name") == job), None)
        if not relabel:
            fail(f"no relabel_configs in job {job}")
        jobdir = os.path.join(workdir, job)
        os.makedirs(jobdir, exist_ok=True)
        _relabel_run(job, relabel, cases, jobdir)


def _relabel_run(job, relabel, cases, workdir):
    import socket
    import subprocess
    import time
    import urllib.request
    with open(os.path.join(workdir, "targets.json"), "w", encoding="utf-8") as f:
        json.dump([{"targets": [c[0]["__address__"]],
                    "labels": {k: v for k, v in c[0].items() if k != "__address__"}}
                   for c in cases], f)
    with open(os.path.join(workdir, "prometheus.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump({"global": {"scrape_interval": "1h"},
                        "scrape_configs": [{"job_name": job, "metrics_path": "/metrics",
                                            "file_sd_configs": [{"files": ["targets.json"]}],
                                            "relabel_configs": relabel}]},
                       f, sort_keys=False)
    want = {}
    for _, exp in cases:
        if exp:
            url, labels = exp
            want[url] = dict(labels, job=job, namespace="agent-bus",
                             instance=url.split("/")[2])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(os.path.join(workdir, "prometheus.log"), "w")
    proc = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(workdir, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(workdir, "data"),
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log)
    try:
        active, deadline = None, time.time() + 30
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets?state=any", timeout=2) as r:
                    data = json.load(r)["data"]
                # File discovery delivers all targets at once.
                if data.get("activeTargets"):
                    active = data["activeTargets"]
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                fail("prometheus exited:\n" + open(os.path.join(workdir, "prometheus.log")).read())
            time.sleep(0.2)
        if active is None:
            fail("prometheus kept no target in 30 s")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    got = {t["scrapeUrl"]: {k: v for k, v in t["labels"].items()} for t in active}
    if got != want:
        fail(f"job {job}: relabeling result differs.\nwant: " + json.dumps(want, indent=1, sort_keys=True) +
             "\ngot:  " + json.dumps(got, indent=1, sort_keys=True))
    print(f"job {job}: {len(got)} targets from {len(cases)} discovered pod ports, labels as expected")


# ----------------------------------------------------------------------------- rule file
def parse_rules(path=RULES):
    """[{kind: alert|record, name, expr, labels{}, annotations{}, line}]."""
    rules = []
    for group in load_yaml(path, LineLoader).get("groups") or []:
        for r in group.get("rules") or []:
            kind = "alert" if "alert" in r else "record"
            if not r.get(kind) or not r.get("expr"):
                fail(f"{path}:{r.line}: rule without alert/record name or expr")
            rules.append({"kind": kind, "name": r[kind], "expr": str(r["expr"]),
                          "labels": r.get("labels") or {}, "annotations": r.get("annotations") or {},
                          "line": r.line})
    return rules


def one_line(expr):
    return " ".join(part.strip() for part in expr.split("\n") if part.strip())


def cmd_rules_lint():
    errors = []
    for r in parse_rules():
        if r["kind"] != "alert":
            continue
        where = f"alert {r['name']} (alert-rules.yml line {r['line']})"
        sev = r["labels"].get("severity")
        if sev not in ("critical", "warning"):
            errors.append(f"{where}: severity is {sev!r}, not critical|warning")
        # component: a static label, or kept from the series by the expression's aggregation.
        aggregates = re.search(r"\b(sum|max|min|avg|count|topk|bottomk|absent)\b", r["expr"])
        if "component" not in r["labels"] and "component" not in r["expr"] and aggregates:
            errors.append(f"{where}: no component label and the expression does not keep one")
        for a in ("summary", "description", "runbook_url"):
            if not r["annotations"].get(a):
                errors.append(f"{where}: annotation {a} missing")
        want = f"docs/runbooks.md#{r['name'].lower()}"
        if r["annotations"].get("runbook_url") != want:
            errors.append(f"{where}: runbook_url is {r['annotations'].get('runbook_url')!r}, want {want!r}")
        # Show the value, unless it is only a state (x == 0, absent(...)).
        state_only = r["expr"].rstrip().endswith("== 0") or "absent(" in r["expr"]
        if not state_only and "$value" not in r["annotations"].get("description", ""):
            errors.append(f"{where}: description does not show $value")
    if errors:
        fail("\n".join(errors))
    print(f"{sum(1 for r in parse_rules() if r['kind'] == 'alert')} alerting rules lint clean")


# ----------------------------------------------------------------------------- test coverage
def parse_rule_tests():
    """{alertname: {"fire": [(file, line, exp_labels)], "quiet": n}} over all rules-test*.yml."""
    cov = {}
    for path in sorted(glob.glob(os.path.join(TESTS, "rules-test*.yml"))):
        for test in load_yaml(path, LineLoader).get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                c = cov.setdefault(case.get("alertname"), {"fire": [], "quiet": 0})
                # A quiet case says so (`exp_alerts: []`); a case without exp_alerts counts as neither.
                if case.get("exp_alerts") == []:
                    c["quiet"] += 1
                for exp in case.get("exp_alerts") or []:
                    c["fire"].append((os.path.basename(path), exp.line, exp.get("exp_labels") or {}))
    return cov


def cmd_coverage():
    alerts = sorted({r["name"] for r in parse_rules() if r["kind"] == "alert"})
    cov = parse_rule_tests()
    errors = []
    for a in alerts:
        c = cov.get(a)
        if not c or not c["fire"]:
            errors.append(f"{a}: no test case where it fires")
        if not c or not c["quiet"]:
            errors.append(f"{a}: no test case where it stays quiet (exp_alerts: [])")
        for f, n, labels in (c or {}).get("fire", []):
            if "severity" not in labels or "component" not in labels:
                errors.append(f"{f}:{n}: expected labels of {a} lack severity or component")
    for a in sorted(set(cov) - set(alerts)):
        errors.append(f"{a}: tested but not defined in alert-rules.yml")
    if errors:
        fail("\n".join(errors))
    print(f"{len(alerts)} alerts, each with firing and quiet cases")


# ----------------------------------------------------------------------------- dashboards
def load_dashboards():
    out = {}
    for name in DASHBOARDS:
        path = os.path.join(MON, name)
        with open(path, encoding="utf-8") as f:
            out[name] = json.load(f)
    return out


def all_panels(d):
    for p in d.get("panels", []):
        yield p
        for q in p.get("panels", []) or []:
            yield q


def dashboard_queries():
    """[(dashboard, title, refId, kind, expr)] kind: prometheus | variable | postgres."""
    out = []
    for name, d in load_dashboards().items():
        for p in all_panels(d):
            if p.get("type") == "row":
                continue
            for t in p.get("targets", []):
                ds = (t.get("datasource") or p.get("datasource") or {}).get("type")
                if ds == "prometheus":
                    out.append((name, p.get("title"), t.get("refId"), "prometheus", t.get("expr", "")))
                elif ds in ("grafana-postgresql-datasource", "postgres"):
                    out.append((name, p.get("title"), t.get("refId"), "postgres", t.get("rawSql", "")))
                else:
                    out.append((name, p.get("title"), t.get("refId"), f"unknown:{ds}", ""))
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                q = v.get("query")
                q = q.get("query") if isinstance(q, dict) else q
                m = re.match(r"^\s*label_values\((.*),\s*(\w+)\)\s*$", q or "")
                if not m:
                    out.append((name, f"variable {v.get('name')}", "-", "unknown:variable", q))
                else:
                    out.append((name, f"variable {v.get('name')}", "-", "variable", m.group(1)))
    return out


def grafana_substitute(expr, namespace=".*"):
    expr = expr.replace("$__rate_interval", "5m").replace("$__range", "1h").replace("$__interval", "1m")
    expr = re.sub(r"\$\{?namespace\}?", namespace, expr)
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def cmd_dashboards():
    errors = []
    titles = set()
    for name, d in load_dashboards().items():
        def err(msg):
            errors.append(f"{name}: {msg}")
        if "__inputs" in d:
            err("has __inputs (must be importable as is)")
        if not (36 <= int(d.get("schemaVersion", 0)) <= 41):
            err(f"schemaVersion {d.get('schemaVersion')} is not ~39")
        if not d.get("uid") or not d.get("title"):
            err("uid or title missing")
        if d["title"] in titles:
            err("duplicate title")
        titles.add(d["title"])
        vars_ = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
        ds = vars_.get("datasource")
        if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            err("no `datasource` variable of type datasource (prometheus)")
        if not vars_.get("namespace") or vars_["namespace"].get("type") != "query":
            err("no `namespace` query variable")
        ids = set()
        for p in all_panels(d):
            pid = p.get("id")
            if pid in ids:
                err(f"duplicate panel id {pid}")
            ids.add(pid)
            gp = p.get("gridPos") or {}
            if not all(k in gp for k in ("h", "w", "x", "y")) or gp["x"] + gp["w"] > 24:
                err(f"panel {p.get('title')!r}: bad gridPos {gp}")
            if p.get("type") == "row":
                continue
            if not p.get("targets"):
                err(f"panel {p.get('title')!r}: no targets")
            pds = (p.get("datasource") or {}).get("uid")
            if pds not in ("${datasource}", "${pgdatasource}"):
                err(f"panel {p.get('title')!r}: datasource {pds!r} is not ${{datasource}}")
            for t in p.get("targets", []):
                tds = (t.get("datasource") or {}).get("uid")
                if tds != pds:
                    err(f"panel {p.get('title')!r} {t.get('refId')}: target datasource {tds!r} != panel's")
                if pds == "${pgdatasource}" and "pgdatasource" not in vars_:
                    err("Postgres panel without a `pgdatasource` variable")
    for name, title, ref, kind, expr in dashboard_queries():
        if kind.startswith("unknown"):
            errors.append(f"{name}: {title} {ref}: unsupported query ({kind})")
        if kind == "prometheus" or (kind == "variable" and title != "variable namespace"):
            for metric, matchers in selectors(expr):
                if 'namespace=~"$namespace"' not in matchers:
                    errors.append(f"{name}: {title} {ref}: {metric} not filtered by namespace=~\"$namespace\"")
    if errors:
        fail("\n".join(errors))
    n = sum(1 for q in dashboard_queries() if q[3] != "variable")
    print(f"{len(DASHBOARDS)} dashboards, {n} panel queries")


# ----------------------------------------------------------------------------- PromQL scanning
def mask_strings(expr):
    strings = []

    def keep(m):
        strings.append(m.group(0))
        return f'"\x00{len(strings) - 1}\x00"'
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', keep, expr), strings


def unmask(text, strings):
    return re.sub(r'"\x00(\d+)\x00"', lambda m: strings[int(m.group(1))], text)


def selectors(expr):
    """[(metric, matcher text)] for every metric name in the expression."""
    masked, strings = mask_strings(expr)
    out = []
    for name, _, end in metric_tokens(masked):
        m = re.match(r"\s*\{([^}]*)\}", masked[end:])
        out.append((name, unmask(m.group(1), strings) if m else ""))
    return out


def metric_tokens(masked):
    """(name, start, end) of every metric name in a string-masked PromQL expression."""
    blanked = masked
    # label matchers, ranges/durations, label lists of by/without/on/ignoring/group_*
    for pat in (r"\{[^}]*\}", r"\[[^\]]*\]",
                r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
                r"\boffset\s+-?\d+[smhdwy]"):
        blanked = re.sub(pat, lambda m: " " * len(m.group(0)), blanked)
    out = []
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)", blanked):
        name = m.group(1)
        after = blanked[m.end():]
        if re.match(r"\s*\(", after) or name.lower() in PROMQL_KEYWORDS:
            continue
        out.append((name, m.start(), m.end()))
    return out


def recorded_names():
    return {r["name"] for r in parse_rules() if r["kind"] == "record"}


def metric_ok(name, recorded):
    return name in KNOWN or name in recorded or name.startswith(ALLOWED_PREFIXES)


def cmd_metric_names():
    recorded = recorded_names()
    errors, seen = [], set()
    sources = [(f"alert-rules.yml {r['kind']} {r['name']}", r["expr"]) for r in parse_rules()]
    sources += [(f"{n} {t} {ref}", e) for n, t, ref, k, e in dashboard_queries()
                if k in ("prometheus", "variable")]
    sources += [(f"queries.txt: {src}", q) for src, q in read_queries()]
    for where, expr in sources:
        for name, matchers in selectors(expr):
            seen.add(name)
            if not metric_ok(name, recorded):
                errors.append(f"{where}: unknown metric {name}")
                continue
            allowed = labels_of(name)
            masked, _ = mask_strings(matchers)
            for label in re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", masked):
                if allowed is not None and label not in allowed:
                    errors.append(f"{where}: {name} has no label {label}")
    if errors:
        fail("\n".join(errors))
    print(f"{len(seen)} distinct metric names, all known, label matchers valid")


def cmd_promql_rulefile(out):
    exprs = [(f"{n} / {t} / {ref}", grafana_substitute(e)) for n, t, ref, k, e in dashboard_queries()
             if k in ("prometheus", "variable")]
    exprs += [(f"queries.txt / {src}", q) for src, q in read_queries()]
    with open(out, "w", encoding="utf-8") as f:
        f.write("groups:\n  - name: promql_syntax_check\n    rules:\n")
        for i, (src, e) in enumerate(exprs):
            f.write(f"      # {src}\n")
            f.write(f"      - record: promql_syntax_check:query{i}\n")
            f.write("        expr: " + json.dumps(e) + "\n")
    print(f"{len(exprs)} queries written to {out}")


def cmd_sql(outdir):
    n = 0
    for name, title, ref, kind, sql in dashboard_queries():
        if kind != "postgres":
            continue
        sql = re.sub(r"\$__timeFilter\(([^)]+)\)",
                     r"\1 BETWEEN '2020-01-01T00:00:00Z' AND '2100-01-01T00:00:00Z'", sql)
        sql = re.sub(r"\$__timeGroupAlias\(([^,]+),\s*'1d'\)",
                     r"""floor(extract(epoch from \1)/86400)*86400 AS "time" """, sql)
        if "$" in sql:
            fail(f"{name}: {title}: unexpanded macro in {sql}")
        n += 1
        with open(os.path.join(outdir, f"{n:02d}.sql"), "w", encoding="utf-8") as f:
            f.write(f"-- {name}: {title}\n{sql};\n")
    if not n:
        fail("no Postgres panel found")
    print(n)


# ----------------------------------------------------------------------------- queries.txt
def read_queries():
    """[(source, query)] for every query line of queries.txt."""
    out, src = [], None
    for line in open(QUERIES, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("# source:"):
            src = line[len("# source:"):].strip()
        elif line.strip() and not line.startswith("#"):
            if not src:
                fail(f"queries.txt: query without a '# source:' line: {line}")
            out.append((src, line))
            src = None
    return out


def generated_queries():
    lines = [GENERATED_MARKER + " from the dashboards and alert-rules.yml; do not edit. ===="]
    for name, title, ref, kind, expr in dashboard_queries():
        if kind != "prometheus":
            continue
        lines += ["", f"# source: {name} / {title} / {ref}", one_line(grafana_substitute(expr, "agent-bus"))]
    for r in parse_rules():
        label = f"alert {r['name']} ({r['labels'].get('severity')}" + \
            (f", {r['labels']['long_window']}/{r['labels']['short_window']})" if "long_window" in r["labels"] else ")") \
            if r["kind"] == "alert" else f"record {r['name']}"
        lines += ["", f"# source: alert-rules.yml / {label}", one_line(r["expr"])]
    return "\n".join(lines) + "\n"


def cmd_queries(write):
    text = open(QUERIES, encoding="utf-8").read()
    idx = text.find(GENERATED_MARKER)
    if idx < 0:
        fail(f"queries.txt: marker line missing: {GENERATED_MARKER}")
    want = text[:idx] + generated_queries()
    if write:
        open(QUERIES, "w", encoding="utf-8").write(want)
        print(f"wrote {QUERIES}")
    elif want != text:
        fail("queries.txt is stale: run python3 tests/monitoring/helpers.py queries --write")
    else:
        print(f"queries.txt current: {len(read_queries())} queries")


def cmd_runbooks(path):
    text = open(path, encoding="utf-8").read().lower()
    anchors = {re.sub(r"[^a-z0-9 _-]", "", h.strip()).replace(" ", "-")
               for h in re.findall(r"^#+\s+(.*)$", text, re.M)}
    missing = sorted({r["name"].lower() for r in parse_rules() if r["kind"] == "alert"} - anchors)
    if missing:
        fail("no runbook heading for: " + ", ".join(missing))
    print("every alert has a runbook section")


def main(argv):
    if not argv:
        fail(__doc__)
    cmd, args = argv[0], argv[1:]
    if cmd == "relabel-test" and len(args) == 2:
        cmd_relabel_test(args[0], args[1])
    elif cmd == "static-sd" and len(args) == 1:
        sys.stdout.write(static_sd(args[0]))
    elif cmd == "extract" and len(args) == 2:
        sys.stdout.write(extract_block(args[0], args[1]))
    elif cmd == "rules-lint":
        cmd_rules_lint()
    elif cmd == "coverage":
        cmd_coverage()
    elif cmd == "dashboards":
        cmd_dashboards()
    elif cmd == "promql-rulefile" and len(args) == 1:
        cmd_promql_rulefile(args[0])
    elif cmd == "metric-names":
        cmd_metric_names()
    elif cmd == "sql" and len(args) == 1:
        cmd_sql(args[0])
    elif cmd == "queries":
        cmd_queries("--write" in args)
    elif cmd == "runbooks" and len(args) == 1:
        cmd_runbooks(args[0])
    else:
        fail(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
