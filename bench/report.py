#!/usr/bin/env python3
"""bench/run.sh's helper: parses wrk output and renders bench/results/latest.json and docs/performance.md."""
import json
import re
import statistics
import sys

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def warmups(m):
    """How many warm-up runs each in-process benchmark took, and the JIT's share in its counted runs."""
    parts = []
    for name in ("agentbus_dispatch", "agentbus_dispatch_telemetry_off", "hangfire_dispatch", "hangfire_redis_dispatch", "redis_xreadgroup_xack"):
        r = m.get(name) or {}
        shares = r.get("jit_share") or []
        warm = len(r.get("warmup_runs") or [])
        if shares:
            counted = shares[warm:]
            processes = (r.get("details") or {}).get("processes")
            runs = f"{warm} in {processes} processes" if processes else f"{warm}"
            parts.append(f"{name} {runs} (JIT in counted runs at most {max(counted) * 100:.1f}%)" if counted else f"{name} {runs}")
    return "; ".join(parts) or "not recorded"


def merge(suffix, files):
    """Measurements of one in-process benchmark from several processes (one counted run each, run
    alternately with another variant) -> one measurement per name (+suffix): their counted runs
    and warm-up runs together, the median of the counted runs."""
    merged = {}
    for path in files:
        for m in json.load(open(path)):
            warm = len(m.get("warmup_runs") or [])
            shares = m.get("jit_share") or []
            into = merged.setdefault(m["name"] + suffix, {"name": m["name"] + suffix, "unit": m["unit"], "runs": [],
                                                         "warmup_runs": [], "warm_shares": [], "counted_shares": [],
                                                         "details": dict(m.get("details") or {}, processes=0)})
            into["runs"] += m["runs"]
            into["warmup_runs"] += m.get("warmup_runs") or []
            into["warm_shares"] += shares[:warm]
            into["counted_shares"] += shares[warm:]
            into["details"]["processes"] += 1
    out = []
    for m in merged.values():
        # jit_share keeps its meaning (warm-up runs first, then the counted ones) for warmups().
        m["jit_share"] = m.pop("warm_shares") + m.pop("counted_shares")
        m["median"] = statistics.median(m["runs"])
        out.append(m)
    return out


def wrk(name, files):
    """Several wrk runs of one configuration -> one measurement (medians of the runs)."""
    runs = []
    for path in files:
        text = open(path).read()
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
        pct = {m.group(1): float(m.group(2)) * UNITS[m.group(3)]
               for m in re.finditer(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)}
        total = int(re.search(r"(\d+) requests in", text).group(1))
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
        runs.append({"rps": rps, "p50_ms": pct.get("50"), "p90_ms": pct.get("90"), "p99_ms": pct.get("99"),
                     "requests": total, "non_2xx": int(bad.group(1)) if bad else 0,
                     "socket_errors": sum(map(int, errors.groups())) if errors else 0})
    med = lambda key: statistics.median(r[key] for r in runs if r[key] is not None)
    return {"name": name, "unit": "req/s", "median": med("rps"), "runs": [r["rps"] for r in runs],
            "details": {"p50_ms": med("p50_ms"), "p90_ms": med("p90_ms"), "p99_ms": med("p99_ms"),
                        "non_2xx": sum(r["non_2xx"] for r in runs), "socket_errors": sum(r["socket_errors"] for r in runs),
                        "per_run": runs}}


def load(raw):
    """raw: one JSON value per line, each a measurement or a list of them; later lines win."""
    out = {}
    for line in open(raw):
        line = line.strip()
        if not line:
            continue
        value = json.loads(line)
        for m in value if isinstance(value, list) else [value]:
            out[m["name"]] = m
    return out


def fmt(v, digits=0):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def render(raw, latest, md, meta_path):
    m = load(raw)
    meta = json.load(open(meta_path))
    get = lambda name, key="median": (m.get(name) or {}).get(key) if key == "median" else ((m.get(name) or {}).get("details") or {}).get(key)
    ratio = lambda a, b: (a / b) if a and b else None
    pct = lambda v: "n/a" if v is None else f"{v * 100:.1f}%"
    overhead = lambda on, off: (1 - on / off) if on and off else None

    goals = []

    def goal(text, value, ok, limit=""):
        goals.append((text, value, "met" if ok else ("not met" if ok is not None else "undecided"), limit))

    d_ab, d_hf, d_hr, d_rd = get("agentbus_dispatch"), get("hangfire_dispatch"), get("hangfire_redis_dispatch"), get("redis_xreadgroup_xack")
    times = lambda r: f"{fmt(r, 2)}x" if r else "not measured"
    goal("Dispatch at least 2x Hangfire on Redis", times(ratio(d_ab, d_hr)), ratio(d_ab, d_hr) and ratio(d_ab, d_hr) >= 2)
    goal("Dispatch at least 10x Hangfire on PostgreSQL", times(ratio(d_ab, d_hf)), ratio(d_ab, d_hf) and ratio(d_ab, d_hf) >= 10)
    goal("Dispatch at least 10% of the raw Redis loop", pct(ratio(d_ab, d_rd)), ratio(d_ab, d_rd) and ratio(d_ab, d_rd) >= 0.10)
    p99 = get("api_get_job_paced", "p99_ms")
    rate = get("api_get_job_paced")
    goal(f"GET /api/jobs/{{id}} p99 under 10 ms at {meta['rate']:,} req/s", f"p99 {fmt(p99, 2)} ms at {fmt(rate)} req/s achieved",
         (p99 is not None and p99 < 10 and rate >= 0.9 * meta["rate"]) if p99 is not None else None)
    get_max = get("api_get_job_max")
    goal("GET /api/jobs/{id} at least 15,000 req/s at max", f"{fmt(get_max)} req/s", get_max >= 15000 if get_max else None)
    post = get("api_post_project_max")
    goal("POST /api/projects at least 3,000 projects/s", f"{fmt(post)} /s", post >= 3000 if post else None)
    tel = [overhead(get(a), get(b)) for a, b in [("api_get_job_max", "api_get_job_max_telemetry_off"),
                                                  ("api_post_project_max", "api_post_project_max_telemetry_off"),
                                                  ("agentbus_dispatch", "agentbus_dispatch_telemetry_off")]]
    known = [t for t in tel if t is not None]
    # Telemetry cannot make a service faster: "on" beating "off" by more than the goal's margin
    # means the run-to-run noise is larger than the effect, and the run decides nothing.
    noisy = any(t < -0.05 for t in known)
    goal("Telemetry costs under 5% of throughput", ", ".join(pct(t) for t in tel) + " (GET, POST, dispatch)"
         + ("; on beat off, so noise exceeds the effect" if noisy else ""),
         None if noisy or not known else all(t < 0.05 for t in known))
    for kind, limit, what in (("handoff", 50, "Hand-off (a stage's prerequisites done -> it starts)"), ("event", 100, "Event committed -> SSE client")):
        p = get(f"latency_{kind}_zero", "p99_ms")
        n = get(f"latency_{kind}_zero", "jobs_in_flight")
        goal(f"{what} p99 under {limit} ms at {n or 100} jobs in flight", f"{fmt(p, 1)} ms" if p is not None else "not measured",
             p < limit if p is not None else None)
    idle = {s: meta.get("rss_idle_mb", {}).get(s) for s in ("api", "worker", "gpu-agent")}
    goal("Each service under 150 MB resident when idle", ", ".join(f"{s} {fmt(v)} MB" for s, v in idle.items()),
         all(v < 150 for v in idle.values()) if all(v is not None for v in idle.values()) else None)
    start = meta.get("apphost_start_to_ready_s")
    goal("AppHost start to all-ready under 20 s", f"{fmt(start, 1)} s" if start else "not measured", start < 20 if start else None)

    json.dump({"meta": meta, "measurements": m, "goals": [{"goal": g, "value": v, "status": s} for g, v, s, _ in goals]},
              open(latest, "w"), indent=2)

    L = []
    w = L.append
    w("# Performance")
    w("")
    if meta.get("quick"):
        w("> **Provisional.** Produced by `bench/run.sh --quick` (short runs) on a machine shared with other")
        w("> engineers' builds and tests: absolute numbers are pessimistic and noisy; the ratios, measured")
        w("> in the same run, are the figures to read. The full suite (`bench/run.sh`) is to be rerun on a quiet machine.")
        w("")
    w(f"Generated by `{meta['command']}` on {meta['date']}. Raw numbers: `bench/results/latest.json`.")
    w("")
    w("## Machine")
    w("")
    for k in ("cpu", "cores", "memory", "os", "dotnet", "postgres", "redis", "wrk"):
        w(f"- {k}: {meta.get(k)}")
    w("")
    w("Everything measured runs Release builds on this one machine: load generator, services, Postgres 15")
    w("and Redis share the same cores, so every figure is a lower bound and ratios are what compare.")
    w("")
    w("## Goals")
    w("")
    w("| Goal | Measured | Status |")
    w("|---|---|---|")
    for g, v, s, _ in goals:
        w(f"| {g} | {v} | {s} |")
    w("")
    w("## Dispatch (enqueue, claim, no-op stage, ack, state committed)")
    w("")
    w(f"Tasks per run: {get('agentbus_dispatch', 'tasks')}, concurrency {get('agentbus_dispatch', 'concurrency')} (stages / Hangfire workers / Redis consumers), median of {len((m.get('agentbus_dispatch') or {}).get('runs', []))} runs. Each system first runs uncounted warm-up runs until the JIT settles (at least one; more while tiered compilation took over 2% of the machine during a run, at most 8): {warmups(m)}.")
    w("")
    w("| System | Drain (tasks/s) | vs Agent Bus | Enqueue (/s) | Runs |")
    w("|---|---:|---:|---:|---|")
    rows = [("Agent Bus (TaskConsumer + StageLedger, Postgres state)", "agentbus_dispatch", "agentbus_job_create_inprocess"),
            ("Agent Bus, telemetry off", "agentbus_dispatch_telemetry_off", None),
            ("Hangfire 1.8.25, Redis storage (Hangfire.Redis.StackExchange 1.12.0, peer)", "hangfire_redis_dispatch", "hangfire_redis_enqueue"),
            ("Hangfire 1.8.25, PostgreSQL storage (peer)", "hangfire_dispatch", "hangfire_enqueue"),
            ("Raw Redis XREADGROUP/XACK (ceiling)", "redis_xreadgroup_xack", "redis_xadd")]
    for label, name, enq in rows:
        v = get(name)
        w(f"| {label} | {fmt(v)} | {times(ratio(v, d_ab))} | {fmt(get(enq)) if enq else ''} | {', '.join(fmt(r) for r in (m.get(name) or {}).get('runs', []))} |")
    w("")
    w("Agent Bus's enqueue column is whole job creation (project, job, the PRD's stage row, routing, first task")
    w("through the outbox, one transaction), not a bare queue insert.")
    w("")
    w("## API")
    w("")
    w(f"wrk {meta['wrk_args']}, {meta['wrk_duration']} s per run, median of {meta['runs']} runs, after {meta.get('warmup_s', 0)} s of GET and {meta.get('warmup_s', 0)} s of POST")
    w("load on each fresh process (not counted). Telemetry on and off are two api processes started")
    w("together, their max runs alternating (on, off, on, off ...) so that drift falls on both alike.")
    w(f"\"paced\": {meta['rate']:,} req/s offered on a fixed schedule (see")
    w("bench/wrk/request.lua: request n is due at start + n/rate; latency is send to response, and the")
    w("achieved rate is shown); \"max\": as fast as the connections go.")
    w("")
    w("| Endpoint | Variant | req/s | vs ceiling | p50 ms | p90 ms | p99 ms | non-2xx |")
    w("|---|---|---:|---:|---:|---:|---:|---:|")
    ceiling = {"api_get_job_paced": "ceiling_get_paced", "api_get_job_max": "ceiling_get_max",
               "api_get_job_max_telemetry_off": "ceiling_get_max", "api_post_project_max": "ceiling_post_max",
               "api_post_project_max_telemetry_off": "ceiling_post_max"}
    for label, variant, name in [
        ("GET /api/jobs/{id}", "paced", "api_get_job_paced"),
        ("GET /api/jobs/{id}", "paced, empty minimal API (ceiling)", "ceiling_get_paced"),
        ("GET /api/jobs/{id}", "max", "api_get_job_max"),
        ("GET /api/jobs/{id}", "max, telemetry off", "api_get_job_max_telemetry_off"),
        ("GET /api/jobs/{id}", "max, empty minimal API (ceiling)", "ceiling_get_max"),
        ("POST /api/projects", "max", "api_post_project_max"),
        ("POST /api/projects", "max, telemetry off", "api_post_project_max_telemetry_off"),
        ("POST /api/projects", "max, empty minimal API (ceiling)", "ceiling_post_max"),
    ]:
        w(f"| {label} | {variant} | {fmt(get(name))} | {pct(ratio(get(name), get(ceiling.get(name, name))))} | {fmt(get(name, 'p50_ms'), 2)} | {fmt(get(name, 'p90_ms'), 2)} | {fmt(get(name, 'p99_ms'), 2)} | {get(name, 'non_2xx')} |")
    w("")
    w("## Whole jobs (offline provider, zero latency)")
    w("")
    j = m.get("agentbus_jobs_per_minute")
    w(f"{fmt(get('agentbus_jobs_per_minute'))} jobs/min (11 stages each, PRD approved as soon as it waits; {(j or {}).get('details', {}).get('jobs_per_run')} jobs per run, runs: {', '.join(fmt(r) for r in (j or {}).get('runs', []))}).")
    w("")
    w("## Latencies a person feels")
    w("")
    w("Jobs submitted together and followed over their event streams, each approved as soon as it asks")
    w("(bench/AgentBus.Bench/LatencyBench.cs says how each is timed). Milliseconds, from the last counted run.")
    w("At zero model latency the worker has its default 8 slots; with the 2 s model it has a slot for")
    w("every stage the jobs in flight can have ready (two per job), so a ready stage waits for its")
    w("hand-off, not for a free slot. One job at a time shows the hand-off on an otherwise idle machine.")
    w("")
    w("| Latency | Model latency | Jobs in flight | p50 | p95 | p99 | Samples |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for kind, label in (("submit", "POST /api/projects -> prd stage started"), ("handoff", "stage N done -> stage N+1 started"),
                        ("approval", "approve -> plan stage started"), ("event", "event committed -> SSE client")):
        for model in ("one", "zero", "2s"):
            name = f"latency_{kind}_{model}"
            if name in m:
                w(f"| {label} | {'2 s' if model == '2s' else '0'} | {get(name, 'jobs_in_flight')} | {fmt(get(name, 'p50_ms'), 1)} | {fmt(get(name, 'p95_ms'), 1)} | {fmt(get(name, 'p99_ms'), 1)} | {get(name, 'samples')} |")
    w("")
    w("## Telemetry overhead (OpenTelemetry with OTLP export to a loopback sink, and the Prometheus exporter, on vs off)")
    w("")
    w("| Benchmark | On | Off | Cost |")
    w("|---|---:|---:|---:|")
    for label, a, b in [("GET /api/jobs/{id} max (req/s)", "api_get_job_max", "api_get_job_max_telemetry_off"),
                        ("POST /api/projects max (req/s)", "api_post_project_max", "api_post_project_max_telemetry_off"),
                        ("Dispatch (tasks/s)", "agentbus_dispatch", "agentbus_dispatch_telemetry_off")]:
        w(f"| {label} | {fmt(get(a))} | {fmt(get(b))} | {pct(overhead(get(a), get(b)))} |")
    w("")
    w("## Resident memory (MB)")
    w("")
    w("| Service | Idle | Under load |")
    w("|---|---:|---:|")
    for s in ("api", "worker", "gpu-agent"):
        w(f"| {s} | {fmt(meta.get('rss_idle_mb', {}).get(s))} | {fmt(meta.get('rss_load_mb', {}).get(s))} |")
    w("")
    w("Idle: VmRSS 5 s after /health/ready answered. Under load: the highest VmRSS sampled each second")
    w("during the API runs (api) and the whole-jobs run (worker); the gpu-agent has no load without a GPU.")
    w("")
    w("## AppHost start to all-ready")
    w("")
    w(meta.get("apphost_note") or f"{fmt(start, 1)} s from starting the built AppHost to /health/ready answering 200 on the api, worker and gpu-agent.")
    w("")
    w("## Commands")
    w("")
    w("```")
    for c in meta.get("commands", []):
        w(c)
    w("```")
    w("")
    notes = open(meta["notes"]).read() if meta.get("notes") else ""
    if notes:
        w(notes.rstrip())
        w("")
    open(md, "w").write("\n".join(L))


if __name__ == "__main__":
    if sys.argv[1] == "wrk":
        print(json.dumps(wrk(sys.argv[2], sys.argv[3:])))
    elif sys.argv[1] == "merge":
        print(json.dumps(merge(sys.argv[2], sys.argv[3:])))
    elif sys.argv[1] == "render":
        render(*sys.argv[2:6])
