"""bench/run helpers: processes, /proc measurements, certificates and the four targets.

Every process is started by this module with Popen, recorded, and stopped by its pid
(SIGTERM, then SIGKILL after a bound); nothing is stopped by name. Measurements sum over
a target's process tree (nginx master + worker, HAProxy master + worker, hitch manager +
worker): CPU is utime + stime from /proc/PID/stat, memory VmRSS / VmHWM from
/proc/PID/status.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "templates")
CLK_TCK = os.sysconf("SC_CLK_TCK")
NAME = "bench.test"
PROXY_CPU, LOAD_CPU = "0", "1"  # taskset -c lists


class BenchError(Exception):
    pass


# ---- processes ----

_started = []  # every Popen this run made, for stop_all()


def spawn(argv, cpu, log, **kw):
    """Starts argv pinned to cpu (a taskset list), stdout+stderr to the file log."""
    out = open(log, "ab")
    p = subprocess.Popen(["taskset", "-c", cpu] + argv, stdout=kw.pop("stdout", out),
                         stderr=out, stdin=kw.pop("stdin", subprocess.DEVNULL),
                         start_new_session=True, **kw)
    out.close()
    _started.append(p)
    return p


def stop(p, timeout=10.0):
    """SIGTERM, wait up to timeout, then SIGKILL; returns the exit code."""
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    return p.returncode


def kill_tree(root):
    """SIGKILLs the descendants of root that outlived it (e.g. a draining HAProxy worker)."""
    for pid in descendants(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop_all():
    for p in reversed(_started):
        kids = descendants(p.pid) if p.poll() is None else []
        stop(p, 5.0)
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def descendants(root):
    """root's descendants by ppid (not including root), from /proc."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        parent[int(d)] = int(s[s.rfind(")") + 2:].split()[1])
    out, todo = [], [root]
    while todo:
        cur = todo.pop()
        kids = [p for p, pp in parent.items() if pp == cur]
        out += kids
        todo += kids
    return out


def tree(root):
    return [root] + descendants(root)


def cpu_ticks(pids):
    """utime + stime (own threads, live and exited) summed over pids, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rfind(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total


def mem_kib(pids, key):
    """Sum of /proc/PID/status KEY (VmRSS, VmHWM) over pids, in KiB."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise BenchError("exited with %s before listening on %d" % (proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError("nothing listens on 127.0.0.1:%d after %.0f s" % (port, timeout))


def render(template, out, **subs):
    with open(os.path.join(TEMPLATES, template)) as f:
        text = f.read()
    for k, v in subs.items():
        text = text.replace("@%s@" % k, str(v))
    with open(out, "w") as f:
        f.write(text)
    return out


# ---- certificates ----

def read(path):
    with open(path) as f:
        return f.read()


def atomic_write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def make_cert_sets(repo, work):
    """Two generations (A, B) of RSA-2048 + ECDSA P-256 leaves for NAME under one CA, so
    that a reload under load is a real renewal. Returns {gen: {kind: (chain, key)}}."""
    gen = os.path.join(repo, "tests", "fixtures", "gen_certs.sh")
    a, b = os.path.join(work, "certs-a"), os.path.join(work, "certs-b")
    subprocess.run(["sh", gen, a, NAME], check=True, stdout=subprocess.DEVNULL)
    shutil.copytree(a, b)
    subprocess.run(["sh", gen, b, NAME], check=True, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, FORCE="1"))
    sets = {}
    for g, d in (("a", a), ("b", b)):
        sets[g] = {k: (read("%s/%s-%s.crt" % (d, NAME, k)), read("%s/%s-%s.key" % (d, NAME, k)))
                   for k in ("rsa", "ecdsa")}
    return sets


# ---- targets ----

class Target:
    """One proxy under test. start() writes its certificates and config, starts it pinned
    to PROXY_CPU and waits for its port; install_certs(gen) rewrites the certificate files
    in place (a renewal), reload() triggers the target's own reload mechanism."""
    name = "?"

    def __init__(self, env):
        self.env = env  # dict: work, bins, backend_port
        self.dir = os.path.join(env["work"], self.name)
        self.certs = os.path.join(self.dir, "certs")
        os.makedirs(self.certs, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.proc = None
        self.port = None
        self.keytype = "ecdsa"

    def pids(self):
        return tree(self.proc.pid) if self.proc else []

    def start(self, keytype, gen="a"):
        self.keytype = keytype
        self.port = free_port()
        self.install_certs(gen)
        self.proc = spawn(self.argv(), PROXY_CPU, os.path.join(self.dir, "log"))
        wait_port(self.port, self.proc)
        time.sleep(0.2)  # workers forked and settled

    def stop(self):
        if self.proc:
            kids = descendants(self.proc.pid)
            stop(self.proc)
            for pid in kids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc = None

    def install_certs(self, gen):
        for kind, (chain, key) in self.env["certs"][gen].items():
            atomic_write("%s/%s-%s.key" % (self.certs, NAME, kind), key)
            atomic_write("%s/%s-%s.crt" % (self.certs, NAME, kind), chain)

    def version(self):
        return ""


class Twofold(Target):
    name = "twofold"

    def argv(self):
        self.admin = free_port()
        cfg = render("twofold.ini", os.path.join(self.dir, "twofold.ini"), PORT=self.port,
                     ADMIN_PORT=self.admin, CERTS=self.certs,
                     BACKEND_PORT=self.env["backend_port"])
        return [self.env["bins"]["twofold"], "-c", cfg]

    def reload(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    def version(self):
        out = subprocess.run([self.env["bins"]["twofold"], "--version"], capture_output=True,
                             text=True)
        return " ".join(out.stdout.split())


class Nginx(Target):
    name = "nginx"

    def argv(self):
        cfg = render("nginx-peer.conf", os.path.join(self.dir, "nginx.conf"), PORT=self.port,
                     DIR=self.dir, CERTS=self.certs, BACKEND_PORT=self.env["backend_port"])
        self.cfg = cfg
        return ["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"), "-c", cfg]

    def reload(self):
        subprocess.run(["nginx", "-p", self.dir, "-e", os.path.join(self.dir, "error.log"),
                        "-c", self.cfg, "-s", "reload"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def version(self):
        return subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()


class HAProxy(Target):
    """Certificates as two PEM bundles (chain + key) in one directory given to `crt`."""
    name = "haproxy"

    def install_certs(self, gen):
        for kind, (chain, key) in self.env["certs"][gen].items():
            atomic_write("%s/%s-%s.pem" % (self.certs, NAME, kind), chain + key)

    def argv(self):
        cfg = render("haproxy.cfg", os.path.join(self.dir, "haproxy.cfg"), PORT=self.port,
                     DIR=self.dir, CERTS=self.certs, BACKEND_PORT=self.env["backend_port"])
        return ["haproxy", "-W", "-db", "-f", cfg]

    def reload(self):
        os.kill(self.proc.pid, signal.SIGUSR2)  # master-worker: re-exec, new worker

    def version(self):
        out = subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else ""


class Hitch(Target):
    """hitch 1.7 holds one certificate per name: the scenario's key type."""
    name = "hitch"

    def install_certs(self, gen):
        chain, key = self.env["certs"][gen][self.keytype]
        atomic_write(os.path.join(self.certs, "bench.pem"), key + chain)

    def argv(self):
        os.makedirs(os.path.join(self.dir, "tmp", "hitch-ocsp"), exist_ok=True)
        cfg = render("hitch.conf", os.path.join(self.dir, "hitch.conf"), PORT=self.port,
                     DIR=self.dir, CERTS=self.certs, KEYTYPE=self.keytype,
                     BACKEND_PORT=self.env["backend_port"])
        return ["hitch", "--config=" + cfg]

    def reload(self):
        os.kill(self.proc.pid, signal.SIGHUP)

    def version(self):
        out = subprocess.run(["hitch", "--version"], capture_output=True, text=True)
        return (out.stdout + out.stderr).strip()


TARGETS = {"twofold": Twofold, "haproxy": HAProxy, "nginx": Nginx, "hitch": Hitch}


# ---- load generator ----

def run_bench(bin_, port, args, log, duration):
    """Runs twofold-bench pinned to LOAD_CPU and returns its JSON report (dict)."""
    argv = [bin_, "--target", "127.0.0.1:%d" % port, "--sni", NAME, "--json"] + args
    p = spawn(argv, LOAD_CPU, log, stdout=subprocess.PIPE)
    try:
        out, _ = p.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        stop(p)
        raise BenchError("twofold-bench did not finish: %s" % " ".join(argv))
    _started.remove(p)
    try:
        return json.loads(out)
    except ValueError:
        raise BenchError("twofold-bench printed no JSON (exit %s): %s" %
                         (p.returncode, " ".join(argv)))
