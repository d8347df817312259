"""bench/RESULTS.md and bench/chart.svg from the runs of bench/run (stdlib only).

Figures per target and scenario are medians over the repetitions; errors are summed.
Ratios are twofold / peer (below 1: twofold uses less).
"""
import os
import statistics

COLORS = {"twofold": "#1b7837", "haproxy": "#2166ac", "nginx": "#b2182b", "hitch": "#8c510a"}
# Item 5 of the benchmark issue: scenario, figure, bound as a ratio to the best peer.
GOALS = [
    ("hs-ecdsa13", "cpu", 0.75, "proxy CPU per full ECDSA handshake (TLS 1.3)"),
    ("hs-rsa13", "cpu", 0.85, "proxy CPU per RSA handshake (TLS 1.3)"),
    ("hs-rsa12", "cpu", 0.85, "proxy CPU per RSA handshake (TLS 1.2)"),
    ("ka-small", "cpu", 0.80, "proxy CPU per keep-alive request, ~100 B"),
    ("ka-16k", "cpu", 0.80, "proxy CPU per keep-alive request, 16 KiB"),
    ("ka-small-rate", "p99", 1.0, "p99 latency at equal load, keep-alive ~100 B"),
    ("hs-ecdsa13-rate", "p99", 1.0, "p99 latency at equal load, full ECDSA handshakes"),
    ("idle", "kib", 0.50, "idle memory per TLS connection"),
]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarize(runs):
    """{scenario: {target: summary}} with medians over reps."""
    out = {}
    for r in runs:
        out.setdefault(r["scenario"], {}).setdefault(r["target"], []).append(r)
    summ = {}
    for sc, by_t in out.items():
        summ[sc] = {}
        for t, rs in by_t.items():
            s = dict(n=len(rs), errors=sum(r.get("errors") or 0 for r in rs))
            if sc == "idle":
                s.update(conns=med([r["connections"] for r in rs]),
                         kib=med([r["kib_per_conn"] for r in rs]),
                         failed=sum(r["failed"] for r in rs))
            elif sc == "reload":
                r = rs[0]
                s.update(reloads=r["reloads"], ka=r["errors_keepalive"],
                         hs=r["errors_handshake"], requests=r["requests"],
                         detail=r["error_detail"])
            else:
                cpus = [r["cpu_us_per_op"] for r in rs if r["cpu_us_per_op"] is not None]
                s.update(cpu=med(cpus), cpu_min=min(cpus) if cpus else None,
                         cpu_max=max(cpus) if cpus else None,
                         tput=med([r["throughput"] for r in rs]),
                         p50=med([(r["latency_us"] or {}).get("p50") for r in rs]),
                         p99=med([(r["latency_us"] or {}).get("p99") for r in rs]),
                         rss=med([r["peak_rss_kib"] for r in rs]),
                         resumed=sum(r.get("resumed") or 0 for r in rs),
                         ops=sum(r["ops"] for r in rs), keys=rs[0].get("key_types"),
                         unsent=sum(r.get("unsent") or 0 for r in rs),
                         first_error=next((r["first_error"] for r in rs
                                           if r.get("first_error")), None))
            summ[sc][t] = s
    return summ


def fmt(x, nd=1):
    if x is None:
        return "–"
    if isinstance(x, float) and abs(x) >= 1000:
        return "{:,.0f}".format(x)
    return ("{:,.%df}" % nd).format(x) if isinstance(x, float) else "{:,}".format(x)


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "–"


def scenario_table(sc, by_t):
    tf = by_t.get("twofold", {})
    lines = ["| target | throughput /s | p50 µs | p99 µs | proxy CPU µs/op (min–max) | "
             "peak RSS KiB | errors | CPU ratio twofold/peer | p99 ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t, s in by_t.items():
        spread = "%s (%s–%s)" % (fmt(s["cpu"]), fmt(s["cpu_min"]), fmt(s["cpu_max"]))
        r_cpu = ratio(tf.get("cpu"), s["cpu"]) if t != "twofold" else ""
        r_p99 = ratio(tf.get("p99"), s["p99"]) if t != "twofold" else ""
        lines.append("| %s | %s | %s | %s | %s | %s | %d | %s | %s |" % (
            t, fmt(s["tput"]), fmt(s["p50"], 0), fmt(s["p99"], 0), spread, fmt(s["rss"], 0),
            s["errors"], r_cpu, r_p99))
    return lines


def goals_table(summ):
    lines = ["| target (item 5) | bound | twofold | best peer | ratio | met? |",
             "|---|---:|---:|---:|---:|:-:|"]
    units = {"cpu": "µs", "p99": "µs", "kib": "KiB"}
    for sc, key, bound, what in GOALS:
        by_t = summ.get(sc)
        if not by_t or "twofold" not in by_t:
            continue
        peers = [(s[key], t) for t, s in by_t.items() if t != "twofold" and s.get(key)]
        if not peers or by_t["twofold"].get(key) is None:
            continue
        best, bt = min(peers)
        tf = by_t["twofold"][key]
        r = tf / best
        lines.append("| %s | ≤ %.2f× | %s %s | %s %s (%s) | %.2f× | %s |" % (
            what, bound, fmt(tf), units[key], fmt(best), units[key], bt, r,
            "met" if r <= bound else "**missed**"))
    rl = summ.get("reload", {}).get("twofold")
    if rl:
        lines.append("| errors in reload under load | 0 | %d | – | – | %s |" % (
            rl["errors"], "met" if rl["errors"] == 0 else "**missed**"))
    return lines


def bound_table(bound):
    rows = bound.get("results") if isinstance(bound, dict) else None
    if not rows:
        return ["```", str(bound), "```"]
    keys = list(rows[0].keys())
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r[k]) if isinstance(r[k], (int, float))
                                         else str(r[k]) for k in keys) + " |")
    return lines


def load_text(runs):
    xs = sorted(r["loadavg1"] for r in runs if r.get("loadavg1") is not None)
    if not xs:
        return "not recorded"
    return "min %.1f, median %.1f, max %.1f" % (xs[0], statistics.median(xs), xs[-1])


def write(out, meta, runs, bound):
    summ = summarize(runs)
    m = meta["machine"]
    L = ["# twofold vs HAProxy, nginx and hitch",
         "",
         "Generated by `bench/run` (do not edit by hand); raw figures in "
         "`bench/results/runs.json`. Run started %s, wall time %.0f s (%.1f min)." % (
             meta["started"], meta["wall_s"], meta["wall_s"] / 60),
         "",
         "## Machine and versions", "",
         "| | |", "|---|---|",
         "| CPU | %s |" % m["cpu"], "| cores | %s |" % m["cores"],
         "| kernel | %s |" % m["kernel"], "| Debian | %s |" % m["os"],
         "| OpenSSL | %s |" % m["openssl"]]
    for t, v in m["versions"].items():
        L.append("| %s | %s |" % (t, v))
    L += ["", "## Method", "",
          "- Command: `%s` (%d repetitions of %.0f s per scenario and target; figures are "
          "medians over repetitions, errors are sums)." % (meta["command"], meta["reps"],
                                                            meta["duration_s"]),
          "- Machine load: 1-minute load average at the start of each run %s "
          "(2 cores; above 2 means other work shared the machine)." % load_text(runs),
          "- Interleaved: each repetition runs every scenario against every target in turn; "
          "each run starts a fresh target process, so peak RSS is per run.",
          "- Pinning: the proxy on core 0 (`taskset -c 0`), the load generator "
          "(`twofold-bench`, one thread), the backend and this driver on core 1. One worker "
          "everywhere: twofold `workers = 1`, nginx `worker_processes 1`, HAProxy "
          "`nbthread 1` (master-worker), hitch `workers = 1`.",
          "- Proxy CPU µs/op: utime + stime from /proc/PID/stat summed over the target's "
          "process tree (master and workers), over the generator's run only, divided by "
          "the handshakes (handshake scenarios) or requests (keep-alive) twofold-bench "
          "reports. 10 ms tick resolution: under 1 % of a run's CPU.",
          "- Backend: a separate Debian nginx on 127.0.0.1 serving fixed files of 100 B, "
          "16 KiB and 1 MiB with keep-alive. twofold, nginx and HAProxy keep pooled "
          "upstream connections; hitch is a TLS terminator with no HTTP awareness (one "
          "backend connection per client connection).",
          "- Certificates: RSA-2048 and ECDSA P-256 leaves for `bench.test` plus an RSA "
          "intermediate (tests/fixtures/gen_certs.sh). twofold, nginx (two "
          "`ssl_certificate` lines) and HAProxy (both PEMs in one `crt` directory) hold "
          "both and choose per client. hitch 1.7 holds one per name: it gets the "
          "scenario's key type (RSA for RSA scenarios, ECDSA otherwise).",
          "- Peer configurations: `bench/lib/templates/`. Client profiles: "
          "`twofold-bench --list-profiles`.",
          "- Idle connections: %d TLS 1.3 connections held by `bench/lib/idle.py` "
          "(handshake done, no request); KiB per connection = VmRSS after − before, over "
          "the target's processes. %d, not 10,000: this machine's fd hard limit is "
          "20,000 and HAProxy and hitch need two fds per client connection." % (
              meta["idle"], meta["idle"]),
          "- Reload under load: a keep-alive run (8 connections) and a handshake run "
          "(4 connections) while the target reloads %d times, 0.5 s apart, each after "
          "a real renewal (certificate files rewritten with the other of two generations): "
          "twofold SIGHUP, nginx `nginx -s reload`, HAProxy SIGUSR2 to the master "
          "(master-worker), hitch SIGHUP." % meta["reloads"],
          "- Equal load: open loop at %.0f requests/s (keep-alive) and %.0f handshakes/s, "
          "latency from each request's intended send time." % (meta["ka_rate"],
                                                              meta["hs_rate"]),
          "", "![proxy CPU per operation](chart.svg)", "",
          "## Targets (benchmark issue, item 5)", "",
          "Ratio = twofold / best peer in this run.", ""]
    L += goals_table(summ)
    L += ["", "## Floor: handshake-bound", "",
          "Server CPU per full handshake with OpenSSL alone (in memory, one thread, "
          "`handshake-bound --json`, pinned to core 0):", ""]
    L += bound_table(bound)
    for s in meta["scenarios"]:
        by_t = summ.get(s["id"])
        if not by_t:
            continue
        r = next(r for r in runs if r["scenario"] == s["id"])
        L += ["", "## %s" % s["title"], "",
              "`%s` — CPU per %s." % (" ".join(r["args"]), s["op"][:-1]), ""]
        L += scenario_table(s["id"], by_t)
        for t, v in by_t.items():
            if not v["ops"] and v["first_error"]:
                L += ["", "%s completed no %s; first error: `%s`." % (
                    t, s["op"][:-1], v["first_error"])]
        if s["id"] == "resume13":
            L += ["", "Resumed handshakes: " + ", ".join(
                "%s %d of %d" % (t, v["resumed"], v["ops"]) for t, v in by_t.items())]
        if s["id"].endswith("-rate"):
            L += ["", "Unsent (due but not started): " + ", ".join(
                "%s %d" % (t, v["unsent"]) for t, v in by_t.items())]
    if "idle" in summ:
        tf = summ["idle"].get("twofold", {})
        L += ["", "## Idle TLS connections (memory per connection)", "",
              "| target | connections | KiB per connection | failed | ratio twofold/peer |",
              "|---|---:|---:|---:|---:|"]
        for t, s in summ["idle"].items():
            L.append("| %s | %s | %s | %d | %s |" % (
                t, fmt(s["conns"]), fmt(s["kib"]), s["failed"],
                ratio(tf.get("kib"), s["kib"]) if t != "twofold" else ""))
    if "reload" in summ:
        L += ["", "## Reload under load", "",
              "| target | reloads | errors | keep-alive errors | handshake errors | "
              "requests (keep-alive / handshake) | error kinds |",
              "|---|---:|---:|---:|---:|---:|---|"]
        for t, s in summ["reload"].items():
            kinds = ", ".join("%s:%s=%d" % (m, k, v) for m, d in s["detail"].items()
                              for k, v in d.items() if v) or "none"
            L.append("| %s | %d | %d | %d | %d | %s / %s | %s |" % (
                t, s["reloads"], s["errors"], s["ka"], s["hs"],
                fmt(s["requests"]["ka"]), fmt(s["requests"]["hs"]), kinds))
    with open(os.path.join(out, "RESULTS.md"), "w") as f:
        f.write("\n".join(L) + "\n")
    with open(os.path.join(out, "chart.svg"), "w") as f:
        f.write(svg(meta, summ))


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def svg(meta, summ):
    """Small multiples: one panel per scenario (its own scale), one bar per target."""
    panels = [(s["id"], s["title"], "cpu", "µs/op") for s in meta["scenarios"]
              if s["id"] in summ]
    if "idle" in summ:
        panels.append(("idle", "Idle connection memory", "kib", "KiB/conn"))
    cols, pw, ph = 4, 250, 200
    rows = (len(panels) + cols - 1) // cols
    W, H = cols * pw + 20, rows * ph + 70
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="11">' % (W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="10" y="20" font-size="15" font-weight="bold">Proxy CPU per operation '
         '(lower is better), medians of %d runs; %s</text>' % (meta["reps"],
                                                              esc(meta["started"]))]
    targets = list(COLORS)
    for i, t in enumerate(targets):
        x = 10 + i * 110
        o.append('<rect x="%d" y="32" width="12" height="12" fill="%s"/>' % (x, COLORS[t]))
        o.append('<text x="%d" y="43">%s</text>' % (x + 16, t))
    for k, (sc, title, key, unit) in enumerate(panels):
        px, py = 10 + (k % cols) * pw, 60 + (k // cols) * ph
        vals = [(t, summ[sc][t].get(key)) for t in targets if t in summ[sc]]
        top = max([v for _, v in vals if v] or [1])
        o.append('<text x="%d" y="%d" font-weight="bold">%s</text>' % (
            px, py + 12, esc(title[:40])))
        o.append('<text x="%d" y="%d" fill="#555">%s</text>' % (px, py + 25, unit))
        base, hmax, bw = py + ph - 25, ph - 70, 45
        o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (
            px, base, px + 4 * (bw + 10), base))
        for j, (t, v) in enumerate(vals):
            h = (v or 0) / top * hmax
            x = px + 5 + j * (bw + 10)
            o.append('<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"/>' % (
                x, base - h, bw, h, COLORS.get(t, "#777")))
            o.append('<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>' % (
                x + bw / 2, base - h - 3, fmt(v)))
            o.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%s</text>' % (
                x + bw / 2, base + 13, t))
    o.append("</svg>")
    return "\n".join(o) + "\n"
