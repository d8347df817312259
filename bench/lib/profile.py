#!/usr/bin/env python3
"""Profiles twofold under one bench/run scenario (the figures behind bench/PROFILE.md).

  bench/lib/profile.py perf SCENARIO [--duration S] [--out DIR]
  bench/lib/profile.py callgrind SCENARIO [--duration S] [--out DIR]
  bench/lib/profile.py massif idle [--idle N] [--out DIR]

Uses the binaries bench/run built in build-bench/ (RelWithDebInfo) and its setup: the
backend nginx and the load generator on core 1, twofold (one worker) on core 0.
perf: `perf record -e cpu-clock -g` on the twofold process for the generator's run, then
flat (self) reports by symbol and by shared object. callgrind: twofold under
`valgrind --tool=callgrind` (slow: keep the load short). massif: twofold under
`valgrind --tool=massif` holding N idle TLS connections, then ms_print of the peak.
"""
import argparse
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import time

LIB = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.dirname(LIB)
REPO = os.path.dirname(BENCH)
sys.dont_write_bytecode = True
sys.path.insert(0, LIB)
import benchlib as bl  # noqa: E402

_loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(BENCH, "run"))
_spec = importlib.util.spec_from_loader("bench_run", _loader)
run = importlib.util.module_from_spec(_spec)
_loader.exec_module(run)


class Wrapped(bl.Twofold):
    """twofold started under a tool (valgrind) instead of directly."""

    def __init__(self, env, wrap):
        super().__init__(env)
        self.wrap = wrap

    def argv(self):
        return self.wrap + super().argv()

    def start(self, keytype, gen="a"):
        self.keytype = keytype
        self.port = bl.free_port()
        self.install_certs(gen)
        self.proc = bl.spawn(self.argv(), bl.PROXY_CPU, os.path.join(self.dir, "log"))
        bl.wait_port(self.port, self.proc, timeout=60)
        time.sleep(0.5)


def sh(cmd, out):
    with open(out, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.DEVNULL, check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool", choices=["perf", "perf-dwarf", "strace", "callgrind", "massif"])
    ap.add_argument("--target", default="twofold", choices=sorted(bl.TARGETS),
                    help="strace only: which proxy")
    ap.add_argument("scenario")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--out", default="/tmp/twofold-profile")
    o = ap.parse_args()
    os.makedirs(o.out, exist_ok=True)
    os.sched_setaffinity(0, {int(bl.LOAD_CPU)})
    bins = {"twofold": os.path.join(REPO, "build-bench", "proxy", "twofold"),
            "bench": os.path.join(REPO, "build-bench", "bench", "twofold-bench")}
    work = subprocess.run(["mktemp", "-d", "/tmp/twofold-profile.XXXXXX"], capture_output=True,
                          text=True, check=True).stdout.strip()
    env = dict(work=work, bins=bins)
    try:
        env["certs"] = bl.make_cert_sets(REPO, work)
        backend, env["backend_port"] = run.start_backend(work)
        stem = os.path.join(o.out, "%s-%s" % (o.tool, o.scenario))
        if o.tool == "strace":
            stem += "-" + o.target
            t = bl.TARGETS[o.target](env)
        elif o.tool.startswith("perf"):
            t = bl.Twofold(env)
        elif o.tool == "callgrind":
            t = Wrapped(env, ["valgrind", "--tool=callgrind", "--callgrind-out-file=" +
                              stem + ".out"])
        else:
            t = Wrapped(env, ["valgrind", "--tool=massif", "--massif-out-file=" +
                              stem + ".out"])
        if o.scenario == "idle":
            o.idle = o.idle
            opts = argparse.Namespace(idle=o.idle)
            r = run.idle_run(t, env, opts, 0)
            print("idle: %d connections, %.1f KiB each (RSS)" % (r["connections"],
                                                                 r["kib_per_conn"] or 0))
        else:
            sc = next(s for s in run.SCENARIOS if s["id"] == o.scenario)
            t.start(sc["key"])
            args = list(sc["args"]) + ["--duration", str(o.duration)]
            perf = None
            if o.tool.startswith("perf"):
                cg = ["--call-graph", "dwarf,16384", "-F", "1000"] if o.tool == "perf-dwarf" \
                    else ["-g", "-F", "4000"]
                perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock"] + cg +
                                        ["-p", str(t.proc.pid), "-o", stem + ".data"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            elif o.tool == "strace":  # syscalls per operation, every process of the target
                perf = subprocess.Popen(["strace", "-c", "-f", "-o", stem + ".txt"] +
                                        sum([["-p", str(p)] for p in t.pids()], []),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1.0)
            res = bl.run_bench(bins["bench"], t.port, args, os.path.join(work, "bench.log"),
                               o.duration)
            print("%s: %s %s, errors %s" % (o.scenario, res.get(sc["op"]), sc["op"],
                                            res.get("errors")))
            if perf:
                perf.send_signal(2)
                perf.wait(30)
            t.stop()
            if o.tool == "strace":
                with open(stem + ".txt", "a") as f:
                    f.write("\n%s %s\n" % (res.get(sc["op"]), sc["op"]))
            if perf and o.tool.startswith("perf"):
                sh(["perf", "report", "-i", stem + ".data", "--no-children", "--stdio",
                    "--sort", "symbol", "--percent-limit", "0.5", "-g", "none"],
                   stem + "-symbols.txt")
                sh(["perf", "report", "-i", stem + ".data", "--no-children", "--stdio",
                    "--sort", "dso", "-g", "none"], stem + "-dso.txt")
                sh(["perf", "report", "-i", stem + ".data", "--children", "--stdio",
                    "--sort", "symbol", "--percent-limit", "2", "-g", "none"],
                   stem + "-children.txt")
        t.stop()
        if o.tool == "callgrind":
            sh(["callgrind_annotate", stem + ".out"], stem + ".txt")
        if o.tool == "massif":
            sh(["ms_print", stem + ".out"], stem + ".txt")
        bl.stop(backend)
        print("reports in %s" % o.out)
    finally:
        bl.stop_all()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
