#!/usr/bin/env python3
"""Unit tests for bench/lib/report.py and the /proc helpers of benchlib.py (stdlib only):
  python3 bench/lib/test_report.py
"""
import os
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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
                    if e.get("height") not in (None, "100%", "12")]
            self.assertEqual(len(bars), 2 + 2 + 2)  # two scenarios and idle, two targets


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
