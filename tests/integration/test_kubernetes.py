#!/usr/bin/env python3
"""conf/kubernetes/: the manifests parse and hang together, and twofold runs on exactly
what they describe, with Secret volumes laid out and updated the way the kubelet does it.

- test_manifests: YAML syntax (python3-yaml), every mount names a declared volume, exec
  probes on the loopback admin endpoint's /healthz, the sidecar asks for its admin
  endpoint, the grace period outlasts drain_timeout, the config's certificate and
  ticket-key paths lie inside mounted Secrets.
- test_edge_secret_swap: the edge ConfigMap's twofold.ini (paths moved under a temp
  root, addresses moved to free loopback ports) with the Deployment's Secret mounts
  (example-rsa, example-ecdsa, twofold-tickets) as kubelet atomic-writer volumes; under
  client load both TLS Secrets are updated the kubelet way; the watcher serves the new
  certificates within seconds, with no signal and no failed request.
- test_sidecar_projected_swap: the sidecar's command line with its projected volume
  (two Secrets as rsa.crt/rsa.key + ecdsa.crt/ecdsa.key in one atomic-writer volume),
  the same swap, the same expectations.
"""

import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402
from lib import kubelet  # noqa: E402
from lib import load as ld  # noqa: E402

try:
    import yaml
except ImportError:  # Debian: python3-yaml
    yaml = None

KDIR = os.path.join(h.SRC, "conf", "kubernetes")
RSA_TLS12 = ("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
ECDSA_TLS13 = ("-tls1_3", "-sigalgs", "ecdsa_secp256r1_sha256")
SWAP_TIMEOUT = 10.0  # watch_debounce 500ms + watch_poll 2s, with room for a slow machine


def load_docs(name):
    with open(os.path.join(KDIR, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def find(docs, kind, name=None):
    for d in docs:
        if d["kind"] == kind and (name is None or d["metadata"]["name"] == name):
            return d
    raise AssertionError("no %s %s" % (kind, name or ""))


def twofold_container(deploy):
    spec = deploy["spec"]["template"]["spec"]
    return spec, next(c for c in spec["containers"] if c["name"] == "twofold")


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", text.strip())
    n, unit = int(m.group(1)), m.group(2) or "s"
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def ini_values(text, key):
    return [m.group(1).strip() for m in re.finditer(r"^%s\s*=\s*(.+)$" % key, text, re.M)]


@unittest.skipIf(yaml is None, "python3-yaml not installed (apt-get install -y python3-yaml)")
class Kubernetes(h.TestCase):
    @classmethod
    def setUpEnv(cls):
        cls.gen = h.Certs(os.path.join(cls.class_tmp(), "gen"))

    # ------------------------------------------------------------ helpers

    def tls_files(self, names, stem, prefix="tls", force=False):
        """{prefix.crt, prefix.key} for rsa and ecdsa leaves of names: {kind: files}."""
        pairs = self.gen.gen(names, STEM=stem, FORCE="1" if force else "0")
        out = {}
        for kind, (crt, key) in pairs.items():
            out[kind] = {"%s.crt" % prefix: kubelet.read(crt), "%s.key" % prefix: kubelet.read(key)}
        return out

    def fps(self, files):
        """{kind: fingerprint} of the .crt in each kind's files."""
        out = {}
        for kind, f in files.items():
            crt = next(v for k, v in f.items() if k.endswith(".crt"))
            r = h.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input_bytes=crt)
            out[kind] = h.parse_fingerprint(r.stdout.decode())
        return out

    def served(self, port, name):
        return {"rsa": h.served_fingerprint(port, name, RSA_TLS12)[0],
                "ecdsa": h.served_fingerprint(port, name, ECDSA_TLS13)[0]}

    def swap_under_load(self, tf, name, old, swap):
        """Load on, swap() (kubelet updates), wait for the new certs; returns new fps."""
        self.assertEqual(self.served(tf.port, name), old)
        load = ld.Load(tf.port, name, self.gen.ca)
        try:
            self.assertTrue(load.wait_each(10), "client load is not running")
            new = swap()
            self.assertNotEqual(new["rsa"], old["rsa"])
            self.assertNotEqual(new["ecdsa"], old["ecdsa"])
            deadline = time.monotonic() + SWAP_TIMEOUT
            got = None
            while time.monotonic() < deadline:
                got = self.served(tf.port, name)
                if got == new:
                    break
                time.sleep(0.2)
            self.assertEqual(got, new, "new certificates not served within %.0fs" % SWAP_TIMEOUT)
            self.assertTrue(load.wait_each(10), "client load stalled after the swap")
        finally:
            load.stop()
        self.assertEqual(load.failures, [], "requests failed during the Secret update")
        for k in ("rsa", "ecdsa"):
            self.assertLessEqual(set(load.seen[k]), {old[k], new[k]}, "unexpected %s cert" % k)
            self.assertIn(new[k], load.seen[k], "%s clients never got the new cert" % k)
        self.assertTrue(tf.proc.alive())
        # the watcher's reload (its trigger is named in the summary line)
        self.assertRegex(tf.proc.stderr_text(),
                         r"reload applied \(watch\): generation \d+; 1 updated")
        return new

    # ------------------------------------------------------------ tests

    def test_manifests(self):
        files = sorted(f for f in os.listdir(KDIR) if f.endswith((".yaml", ".yml")))
        self.assertEqual(files, ["edge.yaml", "sidecar.yaml"])
        for f in files:
            for d in load_docs(f):
                for k in ("apiVersion", "kind", "metadata"):
                    self.assertIn(k, d, "%s: a document without %s" % (f, k))
                self.assertTrue(d["metadata"].get("name"), f)
                if d["kind"] != "Deployment":
                    continue
                spec, c = twofold_container(d)
                vols = {v["name"] for v in spec["volumes"]}
                for m in c["volumeMounts"]:
                    self.assertIn(m["name"], vols, "%s: mount of an undeclared volume" % f)
                for probe in ("readinessProbe", "livenessProbe"):
                    cmd = " ".join(c[probe]["exec"]["command"])
                    self.assertIn("http://127.0.0.1:9901/healthz", cmd, "%s %s" % (f, probe))
                sel = d["spec"]["selector"]["matchLabels"]
                labels = d["spec"]["template"]["metadata"]["labels"]
                self.assertTrue(sel.items() <= labels.items(), f)

        side = find(load_docs("sidecar.yaml"), "Deployment")
        _, c = twofold_container(side)
        args = c["args"]
        self.assertEqual(args[args.index("--admin") + 1], "127.0.0.1:9901")
        self.assertGreater(side["spec"]["template"]["spec"]["terminationGracePeriodSeconds"],
                           30, "sidecar grace period must outlast the default drain_timeout")

        docs = load_docs("edge.yaml")
        ini = find(docs, "ConfigMap", "twofold-config")["data"]["twofold.ini"]
        spec, c = twofold_container(find(docs, "Deployment", "twofold-edge"))
        self.assertGreater(spec["terminationGracePeriodSeconds"],
                           seconds(ini_values(ini, "drain_timeout")[0]))
        self.assertEqual(ini_values(ini, "admin"), ["127.0.0.1:9901"])
        secret_mounts = {}
        vols = {v["name"]: v for v in spec["volumes"]}
        for m in c["volumeMounts"]:
            if "secret" in vols[m["name"]]:
                secret_mounts[m["mountPath"]] = vols[m["name"]]["secret"]["secretName"]
        paths = ini_values(ini, "cert_dir") + [
            os.path.dirname(p) for p in ini_values(ini, "ticket_key_file")]
        self.assertEqual(len(paths), 3)
        for p in paths:
            self.assertIn(p, secret_mounts, "%s is not a mounted Secret" % p)

    def edge_volumes(self):
        """The edge Deployment's Secret mounts as kubelet volumes under self.tmp/root:
        (ini text, names, {secretName: AtomicVolume}, tls files, root)."""
        docs = load_docs("edge.yaml")
        ini = find(docs, "ConfigMap", "twofold-config")["data"]["twofold.ini"]
        spec, c = twofold_container(find(docs, "Deployment", "twofold-edge"))
        root = os.path.join(self.tmp, "root")
        names = ini_values(ini, "names")[0].split()
        tls = self.tls_files(names, "example")
        ticket = h.run(["sh", "-c", "openssl rand 80 | base64 -w0"]).stdout + b"\n"
        # cert-manager also puts ca.crt into a TLS Secret: a file without a key
        content = {"example-rsa": dict(tls["rsa"], **{"ca.crt": kubelet.read(self.gen.ca)}),
                   "example-ecdsa": tls["ecdsa"], "twofold-tickets": {"ticket.keys": ticket}}
        volumes = {}
        vols = {v["name"]: v for v in spec["volumes"]}
        for m in c["volumeMounts"]:
            secret = vols[m["name"]].get("secret")
            if secret:
                volumes[secret["secretName"]] = kubelet.AtomicVolume(
                    root + m["mountPath"], content[secret["secretName"]])
        self.assertEqual(set(volumes), set(content))
        return ini, names, volumes, tls, root

    def start_edge(self, ini, names, root, upstream):
        """twofold on the ConfigMap's config: paths under root, loopback addresses."""
        port, admin = h.free_port(), h.free_port()
        conf = ini.replace("/etc/twofold/", root + "/etc/twofold/")
        conf = conf.replace("0.0.0.0:8443", "127.0.0.1:%d" % port)
        conf = conf.replace("127.0.0.1:9901", "127.0.0.1:%d" % admin)
        conf = re.sub(r"(?m)^server = .*$", "server = %s" % upstream.addr, conf)
        conf = re.sub(r"(?m)^workers = .*$", "workers = 2", conf)
        conf = re.sub(r"(?m)^access_log = .*$", "access_log = off", conf)
        return self.start_twofold(conf, port=port, name=names[0])

    def test_edge_secret_swap(self):
        ini, names, volumes, tls, root = self.edge_volumes()
        tf = self.start_edge(ini, names, root, self.start_upstream())

        def swap():
            new = self.tls_files(names, "example", force=True)
            volumes["example-rsa"].update(dict(new["rsa"], **{"ca.crt": kubelet.read(self.gen.ca)}))
            volumes["example-ecdsa"].update(new["ecdsa"])
            return self.fps(new)

        self.swap_under_load(tf, names[0], self.fps(tls), swap)

    def test_edge_replicas_share_ticket_keys(self):
        """Two replicas mounting the same ticket-key Secret resume each other's sessions."""
        ini, names, _, _, root = self.edge_volumes()
        up = self.start_upstream()
        a, b = (self.start_edge(ini, names, root, up) for _ in range(2))
        # A request with Connection: close, read to the end: a TLS 1.3 ticket comes after
        # the handshake, so s_client must stay until the server closes.
        req = ("GET /bytes?n=1 HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
               % names[0]).encode()

        def s_client(port, args):
            r = h.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                       "-servername", names[0], "-ign_eof"] + args, input_bytes=req)
            out = r.stdout.decode("utf-8", "replace")
            self.assertEqual(r.returncode, 0, out + r.stderr.decode())
            self.assertIn("HTTP/1.1 200", out)
            return out

        for version in ("-tls1_2", "-tls1_3"):
            sess = os.path.join(self.tmp, "sess%s.pem" % version)
            self.assertIn("New, ", s_client(a.port, [version, "-sess_out", sess]))
            self.assertTrue(os.path.exists(sess), "no session to resume")
            out = s_client(b.port, [version, "-sess_in", sess])
            self.assertIn("Reused, ", out, "replica b did not resume a%s session" % version)

    def test_sidecar_projected_swap(self):
        deploy = find(load_docs("sidecar.yaml"), "Deployment")
        spec, c = twofold_container(deploy)
        args = list(c["args"])
        name = args[args.index("--default-name") + 1]
        mount = next(m for m in c["volumeMounts"] if m["mountPath"] == args[
            args.index("--cert-dir") + 1])
        sources = next(v for v in spec["volumes"] if v["name"] == mount["name"])[
            "projected"]["sources"]
        tls = self.tls_files([name], "app")

        def projected(tls_by_kind):
            files = {}
            for s in sources:
                kind = "rsa" if s["secret"]["name"].endswith("-rsa") else "ecdsa"
                for item in s["secret"]["items"]:
                    files[item["path"]] = tls_by_kind[kind][item["key"]]
            return files

        certdir = self.tmp + mount["mountPath"]
        vol = kubelet.AtomicVolume(certdir, projected(tls))
        self.assertEqual(sorted(vol.names), ["ecdsa.crt", "ecdsa.key", "rsa.crt", "rsa.key"])
        up = self.start_upstream()
        port = h.free_port()
        subst = {"--listen": "127.0.0.1:%d" % port, "--upstream": up.addr, "--cert-dir": certdir,
                 "--admin": "127.0.0.1:%d" % h.free_port()}
        for flag, value in subst.items():
            args[args.index(flag) + 1] = value
        tf = self.start_twofold(argv=[h.BIN] + args + ["--workers", "2"], port=port, name=name)

        def swap():
            new = self.tls_files([name], "app", force=True)
            vol.update(projected(new))
            return self.fps(new)

        self.swap_under_load(tf, name, self.fps(tls), swap)


if __name__ == "__main__":
    h.main()
