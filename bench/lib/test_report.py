#!/usr/bin/env python3
"""Unit tests for bench/lib/report.py and the /proc helpers of benchlib.py (stdlib only):
  python3 bench/lib/test_report.py
"""
import json
import os
import re
import string
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib as bl  # noqa: E402
import report  # noqa: E402


def run(target, sc, rep, cpu, p99=100, errors=0, ops=1000):
    return dict(target=target, scenario=sc, rep=rep, ops=ops, cpu_s=cpu * ops / 1e6,
                cpu_us_per_op=cpu, throughput=ops / 10.0,
                latency_us={"p50": p99 / 2, "p99": p99}, errors=errors,
                peak_rss_kib=1000 + rep, resumed=0, key_types={}, unsent=0,
                args=["twofold-bench", "--mode", "handshake"])


META = dict(started="2026-01-01 00:00 UTC", wall_s=60.0, reps=3, duration_s=1.0, idle=10,
            reloads=2, ka_rate=1.0, hs_rate=1.0, command="bench/run --quick",
            machine=dict(cpu="x", cores=2, kernel="k", os="12", openssl="o",
                         versions={"twofold": "t", "nginx": "n"}),
            scenarios=[dict(id="hs-ecdsa13", title="Full ECDSA", op="handshakes", key="ecdsa"),
                       dict(id="ka-small", title="KA small", op="requests", key="ecdsa")])


class ReportTest(unittest.TestCase):
    def runs(self):
        r = []
        for rep, (a, b, c, d) in enumerate([(300, 400, 20, 30), (310, 420, 22, 31),
                                            (900, 410, 21, 29)]):
            r += [run("twofold", "hs-ecdsa13", rep, a, p99=90), run("nginx", "hs-ecdsa13", rep, b),
                  run("twofold", "ka-small", rep, c), run("nginx", "ka-small", rep, d,
                                                          errors=rep)]
        r += [dict(target="twofold", scenario="idle", rep=0, connections=10, failed=0,
                   kib_per_conn=30.0, errors=0),
              dict(target="nginx", scenario="idle", rep=0, connections=10, failed=1,
                   kib_per_conn=10.0, errors=1),
              dict(target="twofold", scenario="reload", rep=0, reloads=2, errors=0,
                   errors_keepalive=0, errors_handshake=0,
                   error_detail={"ka": {"io": 0}, "hs": {"io": 0}},
                   requests={"ka": 5, "hs": 6})]
        return r

    def test_medians_and_error_sums(self):
        s = report.summarize(self.runs())
        self.assertEqual(s["hs-ecdsa13"]["twofold"]["cpu"], 310)  # the outlier 900 is not it
        self.assertEqual(s["hs-ecdsa13"]["twofold"]["cpu_max"], 900)
        self.assertEqual(s["ka-small"]["nginx"]["errors"], 0 + 1 + 2)
        self.assertEqual(s["idle"]["nginx"]["failed"], 1)

    def test_goals_met_and_missed(self):
        lines = report.goals_table(report.summarize(self.runs()))
        ecdsa = next(l for l in lines if "ECDSA handshake" in l)
        self.assertIn("0.76×", ecdsa)  # 310 / 410, bound 0.75: missed
        self.assertIn("missed", ecdsa)
        ka = next(l for l in lines if "~100 B" in l and "CPU" in l)
        self.assertIn("0.70×", ka)  # 21 / 30: met
        self.assertTrue(ka.rstrip().endswith("met |"))
        idle = next(l for l in lines if "idle memory" in l)
        self.assertIn("3.00×", idle)
        self.assertIn("missed", idle)
        reload = next(l for l in lines if "reload" in l)
        self.assertTrue(reload.rstrip().endswith("met |"))

    def test_missing_peer_figure_is_not_best(self):
        r = self.runs()
        r.append(dict(run("hitch", "hs-ecdsa13", 0, 1), cpu_us_per_op=None, ops=0))
        s = report.summarize(r)
        line = next(l for l in report.goals_table(s) if "ECDSA handshake" in l)
        self.assertIn("(nginx)", line)

    def test_files_written_and_svg_parses(self):
        with tempfile.TemporaryDirectory() as d:
            report.write(d, META, self.runs(), {"results": [
                {"key": "ECDSA P-256", "version": "TLSv1.3", "server_us": 250.0}]})
            with open(os.path.join(d, "RESULTS.md")) as f:
                md = f.read()
            self.assertIn("## Full ECDSA", md)
            self.assertIn("| twofold | 100.0 |", md)
            self.assertIn("ECDSA P-256 | TLSv1.3 | 250.0", md)
            root = ET.parse(os.path.join(d, "chart.svg")).getroot()
            bars = [e for e in root.iter("{http://www.w3.org/2000/svg}rect")
                    if e.get("class") == "bar"]
            self.assertEqual(len(bars), 2 + 2 + 2)  # two scenarios and idle, two targets


SVG = "{http://www.w3.org/2000/svg}"
DEJAVU_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
ROTATE = re.compile(r"^rotate\(-90 ([-\d.]+) ([-\d.]+)\)$")


def text_box(e, default_size):
    """A <text> element's box (x0, y0, x1, y1), from report's upper bounds of glyph
    advances and ascent/descent; rotate(-90 cx cy) is the only transform handled."""
    size = float(e.get("font-size") or default_size)
    w = report.text_width(e.text or "", size)
    x, y = float(e.get("x")), float(e.get("y"))
    anchor = e.get("text-anchor", "start")
    x0 = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
    x1, y0, y1 = x0 + w, y - report.ASCENT * size, y + report.DESCENT * size
    tr = e.get("transform")
    if tr:
        m = ROTATE.match(tr)
        assert m, "unexpected transform %r" % tr
        cx, cy = float(m.group(1)), float(m.group(2))
        # (x, y) -> (cx + (y - cy), cy - (x - cx))
        x0, x1, y0, y1 = cx + y0 - cy, cx + y1 - cy, cy - (x1 - cx), cy - (x0 - cx)
    return (x0, y0, x1, y1)


def overlaps(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def inside(a, box):
    return box[0] <= a[0] and a[2] <= box[2] and box[1] <= a[1] and a[3] <= box[3]


def advances(path):
    """({char: advance}, ascender, descender) in em from a TrueType font (cmap format 4,
    hmtx, hhea): the reference the chart's text bounds are checked against."""
    with open(path, "rb") as f:
        data = f.read()

    def u16(o):
        return struct.unpack(">H", data[o:o + 2])[0]

    tab = {}
    for i in range(u16(4)):
        tag, _, off, _ = struct.unpack(">4sIII", data[12 + 16 * i:28 + 16 * i])
        tab[tag.decode()] = off
    upem, nhm = u16(tab["head"] + 18), u16(tab["hhea"] + 34)
    asc, desc = struct.unpack(">hh", data[tab["hhea"] + 4:tab["hhea"] + 8])
    adv = [u16(tab["hmtx"] + 4 * i) for i in range(nhm)]
    c = tab["cmap"]
    sub = next(c + off for pid, _, off in (struct.unpack(">HHI", data[c + 4 + 8 * i:c + 12 + 8 * i])
                                           for i in range(u16(c + 2)))
               if pid in (0, 3) and u16(c + off) == 4)
    seg2 = u16(sub + 6)
    ends = sub + 14
    starts, deltas = ends + seg2 + 2, ends + 2 * seg2 + 2
    ranges = deltas + seg2
    out = {}
    for k in range(0, seg2, 2):
        start, end, ro = u16(starts + k), u16(ends + k), u16(ranges + k)
        delta = struct.unpack(">h", data[deltas + k:deltas + k + 2])[0]
        for ch in range(start, min(end, 0x2FFF) + 1):
            g = u16(ranges + k + ro + 2 * (ch - start)) if ro else ch
            if g:
                out[chr(ch)] = adv[min((g + delta) & 0xFFFF, nhm - 1)] / upem
    return out, asc / upem, -desc / upem


def resume_run(target, rep, handshakes, resumed):
    r = run(target, "resume13", rep, 300, ops=handshakes)
    r.update(resumed=resumed, handshakes=handshakes, full_handshakes=handshakes - resumed,
             args=["twofold-bench", "--json", "--mode", "resume", "--profile", "modern-tls13"])
    return r


CHART_META = dict(META, scenarios=[
    dict(id="hs-ecdsa13", title="Full handshake, ECDSA P-256, TLS 1.3", op="handshakes",
         key="ecdsa"),
    dict(id="resume13", title="Resumed handshake, TLS 1.3 (ECDSA)", op="handshakes",
         key="ecdsa"),
    dict(id="ka-small", title="Keep-alive ~100 B at a fixed rate (equal load), a title "
         "long enough to need three lines in one panel of the chart", op="requests",
         key="ecdsa")])


class ChartTest(unittest.TestCase):
    """The chart is checked as a reader would see it: every text inside the picture and
    its panel, no text over another text or a bar, full titles, a y-axis with its unit."""

    def runs(self):
        r = []
        for rep in range(3):
            r += [run("twofold", "hs-ecdsa13", rep, 400.0), run("nginx", "hs-ecdsa13", rep, 450.0),
                  dict(run("haproxy", "hs-ecdsa13", rep, 1), cpu_us_per_op=None, ops=0,
                       throughput=0.0, errors=1000 + rep, first_error="handshake: alert"),
                  run("hitch", "hs-ecdsa13", rep, 1234.5),
                  resume_run("twofold", rep, 1000, 500), resume_run("nginx", rep, 1000, 992),
                  run("twofold", "ka-small", rep, 36.4), run("nginx", "ka-small", rep, 31.0,
                                                             errors=7)]
        r += [dict(target=t, scenario="idle", rep=0, connections=10, failed=0,
                   kib_per_conn=k, errors=0) for t, k in (("twofold", 25.9), ("nginx", 14.9))]
        return r

    def render(self, meta, runs):
        root = ET.fromstring(report.svg(meta, report.summarize(runs), runs))
        vb = [float(x) for x in root.get("viewBox").split()]
        self.assertEqual(vb[:2], [0, 0])
        self.assertEqual((vb[2], vb[3]), (float(root.get("width")), float(root.get("height"))))
        return root, (0, 0, vb[2], vb[3]), float(root.get("font-size"))

    def check_layout(self, root, view, size):
        boxes = []  # (what, box)
        for e in root.iter(SVG + "text"):
            boxes.append(("text %r" % e.text, text_box(e, size)))
            self.assertTrue(inside(boxes[-1][1], view), "%s %s outside %s" % (
                boxes[-1][0], boxes[-1][1], view))
        bars = [("bar", (float(e.get("x")), float(e.get("y")),
                         float(e.get("x")) + float(e.get("width")),
                         float(e.get("y")) + float(e.get("height"))))
                for e in root.iter(SVG + "rect") if e.get("class") == "bar"]
        for i, (wa, a) in enumerate(boxes):
            for wb, b in boxes[i + 1:] + bars:
                self.assertFalse(overlaps(a, b), "%s %s overlaps %s %s" % (wa, a, wb, b))
        panels = [(g, [float(x) for x in g.get("data-box").split()])
                  for g in root.iter(SVG + "g") if g.get("class") == "panel"]
        pboxes = [(b[0], b[1], b[0] + b[2], b[1] + b[3]) for _, b in panels]
        for i, a in enumerate(pboxes):
            self.assertTrue(inside(a, view), a)
            for b in pboxes[i + 1:]:
                self.assertFalse(overlaps(a, b), (a, b))
        for (g, _), pb in zip(panels, pboxes):
            for e in g.iter(SVG + "text"):
                self.assertTrue(inside(text_box(e, size), pb), "%r outside its panel" % e.text)
            for e in g.iter(SVG + "rect"):
                self.assertTrue(inside((float(e.get("x")), float(e.get("y")),
                                        float(e.get("x")) + float(e.get("width")),
                                        float(e.get("y")) + float(e.get("height"))), pb))
        return panels

    def texts(self, g, cls):
        return [e for e in g.iter(SVG + "text") if e.get("class") == cls]

    def check_axes(self, panels):
        units = {"cpu": "µs per ", "kib": "KiB per ", "resumed_pct": "% of handshakes"}
        for g, _ in panels:
            ylabel = self.texts(g, "ylabel")
            self.assertEqual(len(ylabel), 1)
            self.assertIn(units[g.get("data-figure")], ylabel[0].text)
            ticks = self.texts(g, "ytick")
            self.assertGreaterEqual(len(ticks), 3)
            ys = [float(e.get("y")) for e in ticks]
            vs = [float(e.text.replace(",", "")) for e in ticks]
            self.assertEqual(vs[0], 0)
            self.assertEqual(ys, sorted(ys, reverse=True))  # values grow upwards
            self.assertEqual(vs, sorted(vs))
            # every bar ends at or below the top tick: nothing is drawn off the scale
            top_y = min(ys) - 3.5
            for e in g.iter(SVG + "rect"):
                self.assertGreaterEqual(float(e.get("y")) + 0.01, top_y)

    def test_fixture_chart_layout_axes_titles(self):
        runs = self.runs()
        root, view, size = self.render(CHART_META, runs)
        panels = self.check_layout(root, view, size)
        self.check_axes(panels)
        want = [("hs-ecdsa13", "cpu"), ("resume13", "cpu"), ("resume13", "resumed_pct"),
                ("ka-small", "cpu"), ("idle", "kib")]
        self.assertEqual([(g.get("data-scenario"), g.get("data-figure")) for g, _ in panels],
                         want)
        titles = {s["id"]: s["title"] for s in CHART_META["scenarios"]}
        for g, _ in panels:
            lines = [e.text for e in self.texts(g, "title")]
            sc = g.get("data-scenario")
            if sc in titles:  # the whole title, wrapped, never cut
                self.assertTrue(" ".join(lines).startswith(titles[sc]), lines)
        self.assertGreaterEqual(len(self.texts(panels[3][0], "title")), 3)
        self.assertEqual(self.texts(panels[3][0], "note")[0].text, "nginx: 21 errors")

    def test_failed_target_is_marked_with_its_errors(self):
        runs = self.runs()
        root, _, _ = self.render(CHART_META, runs)
        g = next(g for g in root.iter(SVG + "g") if g.get("data-scenario") == "hs-ecdsa13")
        self.assertEqual([e.text for e in self.texts(g, "failed")],
                         ["failed (3,003 errors)"])  # 1000 + 1001 + 1002
        self.assertEqual(len([e for e in g.iter(SVG + "rect")]), 3)  # no haproxy bar
        self.assertNotIn("–", "".join(e.text or "" for e in root.iter(SVG + "text")))
        s = report.summarize(runs)["hs-ecdsa13"]
        self.assertTrue(s["haproxy"]["failed_scenario"])
        self.assertFalse(s["twofold"]["failed_scenario"])
        row = next(l for l in report.scenario_table("hs-ecdsa13", s) if "| haproxy |" in l)
        self.assertIn("failed (3,003 errors)", row)

    def test_resumed_share_from_resumed_over_handshakes(self):
        runs = self.runs()
        s = report.summarize(runs)["resume13"]
        self.assertEqual(s["twofold"]["resumed_pct"], 50.0)
        self.assertAlmostEqual(s["nginx"]["resumed_pct"], 99.2)
        self.assertIsNone(report.summarize(runs)["hs-ecdsa13"]["twofold"]["resumed_pct"])
        # runs.json before the "handshakes" key: ops are the scenario's handshakes
        old = [dict(r) for r in runs if r["scenario"] == "resume13"]
        for r in old:
            del r["handshakes"]
            r["ops"] = 1000
        self.assertEqual(report.summarize(old)["resume13"]["twofold"]["resumed_pct"], 50.0)
        root, _, _ = self.render(CHART_META, runs)
        share = next(g for g in root.iter(SVG + "g") if g.get("data-figure") == "resumed_pct")
        self.assertEqual([e.text for e in self.texts(share, "value")], ["50.0 %", "99.2 %"])
        cpu = next(g for g in root.iter(SVG + "g") if g.get("data-scenario") == "resume13")
        self.assertIn("twofold resumed only 50 %", " ".join(
            e.text for e in self.texts(cpu, "note")))
        with tempfile.TemporaryDirectory() as d:
            report.write(d, CHART_META, runs, {})
            with open(os.path.join(d, "RESULTS.md")) as f:
                md = f.read()
        self.assertIn("twofold 1,500 of 3,000 (50.0 %)", md)
        self.assertIn("**twofold resumed under 95 %", md)

    def test_committed_runs_chart(self):
        """The chart of bench/results/runs.json (the last full bench/run) passes the same
        checks: the real titles, values and failures."""
        path = os.path.join(os.path.dirname(HERE), "results", "runs.json")
        with open(path) as f:
            d = json.load(f)
        root, view, size = self.render(d["meta"], d["runs"])
        self.check_axes(self.check_layout(root, view, size))

    @unittest.skipUnless(os.path.exists(DEJAVU_BOLD), "no DejaVu Sans Bold to compare with")
    def test_width_bounds_cover_dejavu_bold(self):
        adv, asc, desc = advances(DEJAVU_BOLD)
        self.assertAlmostEqual(adv["m"], 2134 / 2048, places=3)  # the parser reads the font
        for c in sorted(set(string.printable.strip()) | set(" µ–×·…")):
            self.assertGreaterEqual(report.text_width(c, 1.0), adv[c], repr(c))
        self.assertGreaterEqual(report.ASCENT, asc)
        self.assertGreaterEqual(report.DESCENT, desc)


class ProcTest(unittest.TestCase):
    def test_tree_cpu_and_memory_of_a_child(self):
        p = subprocess.Popen([sys.executable, "-c",
                              "import time\nx=bytearray(64<<20)\n"
                              "for i in range(0,len(x),4096): x[i]=1\n"
                              "t=time.process_time()\n"
                              "while time.process_time()-t<0.3: pass\n"
                              "time.sleep(30)"])
        try:
            deadline = 0
            while bl.cpu_ticks([p.pid]) < 0.25 * bl.CLK_TCK and deadline < 200:
                subprocess.run(["sleep", "0.05"])
                deadline += 1
            self.assertIn(p.pid, bl.tree(os.getpid()))
            self.assertGreaterEqual(bl.cpu_ticks([p.pid]), 0.25 * bl.CLK_TCK)
            self.assertGreater(bl.mem_kib([p.pid], "VmRSS"), 60 * 1024)
        finally:
            p.kill()
            p.wait()


if __name__ == "__main__":
    unittest.main()
