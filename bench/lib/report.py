"""bench/RESULTS.md and bench/chart.svg from the runs of bench/run (stdlib only).

Figures per target and scenario are medians over the repetitions; errors are summed.
Ratios are twofold / peer (below 1: twofold uses less).
"""
import math
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


# A resumption scenario's CPU figure compares resumed handshakes only when (almost) every
# handshake resumed: the first of each connection is full, the rest should not be.
RESUMED_COMPARABLE = 95.0

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
                # the target failed the scenario: no repetition completed an operation
                s["failed_scenario"] = s["ops"] == 0 and s["errors"] > 0
                # Resumption: the share of handshakes that resumed. Runs before the
                # "handshakes" key have ops = handshakes (the scenario counts handshakes).
                hs = sum(r["handshakes"] if r.get("handshakes") is not None else r["ops"]
                         for r in rs)
                s["resumed_pct"] = (100.0 * s["resumed"] / hs
                                    if hs and is_resume(rs, sc) else None)
            summ[sc][t] = s
    return summ


def fmt(x, nd=1):
    if x is None:
        return "–"
    if isinstance(x, float) and abs(x) >= 1000:
        return "{:,.0f}".format(x)
    return ("{:,.%df}" % nd).format(x) if isinstance(x, float) else "{:,}".format(x)


def failed_text(s):
    """The mark of a target that failed a scenario, in the table and the chart."""
    return "failed (%s error%s)" % ("{:,}".format(s["errors"]), "" if s["errors"] == 1 else "s")


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "–"


def scenario_table(sc, by_t):
    tf = by_t.get("twofold", {})
    lines = ["| target | throughput /s | p50 µs | p99 µs | proxy CPU µs/op (min–max) | "
             "peak RSS KiB | errors | CPU ratio twofold/peer | p99 ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t, s in by_t.items():
        r_cpu = ratio(tf.get("cpu"), s["cpu"]) if t != "twofold" else ""
        r_p99 = ratio(tf.get("p99"), s["p99"]) if t != "twofold" else ""
        if s["failed_scenario"]:
            lines.append("| %s | – | – | – | %s | %s | %s | – | – |" % (
                t, failed_text(s), fmt(s["rss"], 0), "{:,}".format(s["errors"])))
            continue
        spread = "%s (%s–%s)" % (fmt(s["cpu"]), fmt(s["cpu_min"]), fmt(s["cpu_max"]))
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
        if is_resume(runs, s["id"]):
            L += ["", "Resumed handshakes (the first of each connection is full): " +
                  ", ".join("%s %s of %s (%s)" % (
                      t, "{:,}".format(v["resumed"]), "{:,}".format(v["ops"]),
                      "–" if v["resumed_pct"] is None else "%.1f %%" % v["resumed_pct"])
                      for t, v in by_t.items())]
            low = [t for t, v in by_t.items() if v["resumed_pct"] is not None
                   and v["resumed_pct"] < RESUMED_COMPARABLE]
            if low:
                L += ["", "**%s resumed under %.0f %% of %s handshakes: %s CPU figure mixes "
                      "full handshakes and does not compare with the others.**" % (
                          " and ".join(low), RESUMED_COMPARABLE, "its" if len(low) == 1
                          else "their", "its" if len(low) == 1 else "each")]
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
        f.write(svg(meta, summ, runs))


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---- chart ----
#
# Text extents are estimated, never measured (the viewer renders the SVG), so they are
# upper bounds: per-character advances at least those of DejaVu Sans Bold (Debian's
# sans-serif), the widest of FONTS (Arial and Helvetica are narrower); a character not
# listed counts as the widest. A box reaches ASCENT above the baseline, DESCENT below (em).
FONTS = "DejaVu Sans, Arial, Helvetica, sans-serif"
_WIDTHS = {}
for _chars, _em in (("ijlIJ.,:;'|/\\·", 0.40), ("frt()[]-!_`–", 0.50),
                    ("csz?\"*", 0.60), ("abdeghknopquvxy0123456789${}", 0.72),
                    ("µEFLPSTYZ", 0.75), ("ABCDGHKNOQRUVX+<=>^~#×&", 0.88), ("w", 0.93),
                    (" ", 0.35)):
    for _c in _chars:
        _WIDTHS[_c] = _em
WIDEST, ASCENT, DESCENT = 1.11, 0.95, 0.25


def text_width(text, size):
    """An upper bound of text's advance width at font size size (px), regular or bold."""
    return sum(_WIDTHS.get(c, WIDEST) for c in text) * size


def wrap(text, size, width):
    """text in lines of at most width px (words longer than a line stand alone)."""
    lines, cur = [], ""
    for word in text.split():
        cand = word if not cur else cur + " " + word
        if cur and text_width(cand, size) > width:
            lines.append(cur)
            cur = word
        else:
            cur = cand
    return lines + ([cur] if cur else [])


def nice_scale(vmax):
    """(top, step): an axis from 0 to top >= vmax in at most 5 steps of 1, 2, 2.5 or 5 × 10^k."""
    if not vmax or vmax <= 0:
        return 1.0, 0.25
    mag = 10 ** math.floor(math.log10(vmax / 5))
    for m in (1, 2, 2.5, 5, 10):
        step = m * mag
        if vmax / step <= 5:
            return math.ceil(vmax / step - 1e-9) * step, step
    return vmax, vmax  # not reached


def tick_text(v, step):
    return "{:,.0f}".format(v) if step >= 1 else "{:,.{}f}".format(v, 1 if step >= 0.1 else 2)


def is_resume(runs, sc):
    """Whether scenario sc was run with `twofold-bench --mode resume` (from its args)."""
    for r in runs:
        if r["scenario"] == sc:
            a = r.get("args") or []
            return any(a[i] == "--mode" and a[i + 1] == "resume" for i in range(len(a) - 1))
    return False


def panel_specs(meta, summ, runs):
    """[(scenario, title, key, y-axis label)]: one panel per scenario (proxy CPU), the
    resumed share after a resumption scenario, idle memory last."""
    out = []
    for s in meta["scenarios"]:
        if s["id"] not in summ:
            continue
        out.append((s["id"], s["title"], "cpu", "proxy CPU, µs per %s" % s["op"][:-1]))
        if is_resume(runs, s["id"]):
            out.append((s["id"], s["title"] + ": share resumed (higher is better)",
                        "resumed_pct", "% of handshakes resumed"))
    if "idle" in summ:
        out.append(("idle", "Idle TLS connection memory", "kib", "KiB per idle connection"))
    return out


def panel_notes(key, by_t):
    """Warnings printed under a panel: errors in a target that still completed work, and
    for a resumption scenario the targets that resumed too few to compare CPU figures."""
    notes = []
    for t, s in by_t.items():
        if key == "cpu" and s["errors"] and not s.get("failed_scenario"):
            notes.append("%s: %s error%s" % (t, "{:,}".format(s["errors"]),
                                              "" if s["errors"] == 1 else "s"))
        pct = s.get("resumed_pct")
        if key == "cpu" and pct is not None and pct < RESUMED_COMPARABLE:
            notes.append("%s resumed only %.0f %%: its figure mixes full handshakes" % (t, pct))
    return notes


TITLE, LABEL, SMALL = 12, 10.5, 10  # font sizes, px
PW, AXIS_W, LINE = 340, 56, 15      # panel width, y-axis band, title line height


def svg(meta, summ, runs=()):
    """Small multiples: one panel per figure (its own scale, a y-axis with its unit), one
    bar per target; a target that completed nothing shows "failed (N errors)"."""
    panels = panel_specs(meta, summ, runs)
    targets = list(COLORS) + sorted({t for sc in summ.values() for t in sc} - set(COLORS))
    cols = 3
    W = cols * PW + 20
    heading = wrap("twofold vs HAProxy, nginx and hitch", 14, W - 20)
    sub = wrap("Medians of %d runs of %.0f s per target, run started %s. Lower is better, "
               "except the share resumed." % (meta["reps"], meta["duration_s"],
                                               meta["started"]), LABEL, W - 20)
    titles = [wrap(p[1], TITLE, PW - 16) for p in panels]
    notes = [[ln for n in panel_notes(p[2], summ[p[0]]) for ln in
              wrap(n, SMALL, PW - 16)] for p in panels]
    t_lines = max([len(t) for t in titles] or [1])
    n_lines = max([len(n) for n in notes] or [0])
    plot_h = 170
    # panel rows: titles, axis label, headroom for value labels, plot, target names, notes
    ph = t_lines * LINE + 22 + 16 + plot_h + 20 + n_lines * 13 + 30
    # baselines: heading lines 18 px apart, then the subheading, the legend, the panels
    sub_y = 24 + len(heading) * 18
    ly = sub_y + (len(sub) - 1) * 14 + 20
    top0 = ly + 20
    rows = (len(panels) + cols - 1) // cols
    H = top0 + rows * ph
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
         'font-family="%s" font-size="%g">' % (W, H, W, H, FONTS, LABEL),
         '<rect width="100%" height="100%" fill="white"/>']
    for i, line in enumerate(heading):
        o.append('<text class="heading" x="10" y="%d" font-size="14" font-weight="bold">%s'
                 '</text>' % (24 + i * 18, esc(line)))
    for i, line in enumerate(sub):
        o.append('<text class="heading" x="10" y="%d" fill="#444">%s</text>' % (
            sub_y + i * 14, esc(line)))
    x = 10
    for t in targets:
        if not any(t in summ[p[0]] for p in panels):
            continue
        o.append('<rect class="legend" x="%d" y="%d" width="12" height="12" fill="%s"/>' % (
            x, ly - 10, COLORS.get(t, "#777")))
        o.append('<text class="legend" x="%d" y="%d">%s</text>' % (x + 16, ly, esc(t)))
        x += 16 + int(text_width(t, LABEL)) + 24
    for k, (sc, _, key, ylabel) in enumerate(panels):
        px, py = 10 + (k % cols) * PW, top0 + (k // cols) * ph
        o += panel(px, py, ph, sc, key, ylabel, titles[k], notes[k], t_lines, plot_h,
                   [(t, summ[sc][t]) for t in targets if t in summ[sc]])
    o.append("</svg>")
    return "\n".join(o) + "\n"


def panel(px, py, ph, sc, key, ylabel, title, notes, t_lines, plot_h, vals):
    """One panel's elements; data-box is the area it keeps its text and bars in."""
    o = ['<g class="panel" data-scenario="%s" data-figure="%s" data-box="%d %d %d %d">' % (
        esc(sc), key, px, py - 4, PW - 4, ph - 4)]
    for i, line in enumerate(title):
        o.append('<text class="title" x="%d" y="%d" font-size="%d" font-weight="bold">%s'
                 '</text>' % (px, py + 12 + i * LINE, TITLE, esc(line)))
    ax = px + AXIS_W
    ytop = py + t_lines * LINE + 22 + 16
    base = ytop + plot_h
    o.append('<text class="ylabel" x="%d" y="%d" fill="#444">%s</text>' % (
        px, py + t_lines * LINE + 18, esc(ylabel)))
    figures = [s.get(key) for _, s in vals]
    if key == "resumed_pct":
        top, step = 100.0, 25.0
    else:
        top, step = nice_scale(max([v for v in figures if v] or [0]))
    n = int(round(top / step))
    for i in range(n + 1):
        v = i * step
        y = base - v / top * plot_h
        o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>' % (
            ax, y, px + PW - 12, y, "#333" if i == 0 else "#e3e3e3"))
        o.append('<text class="ytick" x="%d" y="%.1f" text-anchor="end" font-size="%d" '
                 'fill="#444">%s</text>' % (ax - 5, y + 3.5, SMALL, tick_text(v, step)))
    o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (ax, ytop, ax, base))
    slot = (px + PW - 12 - ax) / max(4.0, len(vals))
    bw = min(46.0, slot - 16)
    for j, (t, s) in enumerate(vals):
        cx = ax + slot * (j + 0.5)
        v = s.get(key)
        if s.get("failed_scenario"):
            label = failed_text(s)
            # vertical, reading upwards from the axis: centred on the slot
            lx, lyb = cx + 0.35 * SMALL, base - 6
            o.append('<text class="failed" x="%.1f" y="%.1f" font-size="%d" fill="#b2182b" '
                     'transform="rotate(-90 %.1f %.1f)">%s</text>' % (
                         lx, lyb, SMALL, lx, lyb, esc(label)))
        elif v is not None:
            h = v / top * plot_h
            o.append('<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
                     'fill="%s"><title>%s: %s</title></rect>' % (
                         cx - bw / 2, base - h, bw, h, COLORS.get(t, "#777"), esc(t),
                         fmt(v)))
            text = ("%.1f %%" % v) if key == "resumed_pct" else fmt(v)
            o.append('<text class="value" x="%.1f" y="%.1f" text-anchor="middle" '
                     'font-size="%d">%s</text>' % (cx, base - h - 4, SMALL, text))
        else:
            o.append('<text class="value" x="%.1f" y="%.1f" text-anchor="middle" '
                     'font-size="%d" fill="#777">no data</text>' % (cx, base - 6, SMALL))
        o.append('<text class="target" x="%.1f" y="%d" text-anchor="middle" fill="#333">%s'
                 '</text>' % (cx, base + 15, esc(t)))
    for i, line in enumerate(notes):
        o.append('<text class="note" x="%d" y="%d" font-size="%d" fill="#b2182b">%s</text>' % (
            px, base + 33 + i * 13, SMALL, esc(line)))
    o.append("</g>")
    return o
