#!/usr/bin/env python3
"""The README's Metrics and Admin API sections match what a running twofold serves.

- test_metrics_documented: after a handshake and a reload, every metric family in
  `GET /metrics` (its `# TYPE` line) has a row in the README's Metrics table with the
  same type and every label it carries, and every row names a family that is served.
- test_certs_json_documented: every key of `GET /certs` (sites[], certificates[],
  last_reload with sites[] and findings[], and config_errors[] after a reload whose
  configuration was rejected) is named in the README's `GET /certs` row, and every
  `last_reload.sites[].status` value seen is listed there.
(README paths are checked by test_readme.Inventory.test_repo_paths.)
"""

import json
import os
import re
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402

README = os.path.join(h.SRC, "README.md")


def readme_section(title):
    with open(README) as f:
        text = f.read()
    return text.split("\n## %s\n" % title, 1)[1].split("\n## ", 1)[0]


def table_rows(section):
    """[[cell, ...]] of the Markdown table rows in a section (header and rule aside)."""
    rows = [ln for ln in section.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in rows[2:]]


def json_keys(value, prefix=""):
    """Every object key in a JSON value as (its path, its name): the path
    "last_reload.sites[].status" and the name "status", or "sites[]" for an array (the
    README may write an array either way)."""
    out = set()
    if isinstance(value, dict):
        for k, v in value.items():
            out.add((prefix + k, k + "[]" if isinstance(v, list) else k))
            out |= json_keys(v, prefix + k + ".")
    elif isinstance(value, list):
        for v in value:
            out |= json_keys(v, prefix.rstrip(".") + "[].")
    return out


class Docs(h.TestCase):
    def setUp(self):
        super().setUp()
        self.certs = h.Certs(os.path.join(self.tmp, "certs"))
        pair = self.certs.gen(["a.test"])
        self.up = self.start_upstream()
        self.admin = h.free_port()
        self.port = h.free_port()
        self.conf = h.config(self.port, [h.site("a", ["a.test"], [pair["rsa"], pair["ecdsa"]],
                                                "up")],
                             {"up": [self.up.addr]}, {"admin": "127.0.0.1:%d" % self.admin})
        self.tf = self.start_twofold(self.conf, port=self.port, name="a.test")
        res = h.curl(self.port, "a.test", "/bytes?n=1", self.certs.ca)
        self.assertEqual((res.rc, res.status), (0, 200), res.err)
        self.assertEqual(self.request("POST", "/reload")[0], 200)

    def request(self, method, path):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.admin, path),
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_metrics_documented(self):
        status, text = self.request("GET", "/metrics")
        self.assertEqual(status, 200, text)
        served = dict(re.findall(r"(?m)^# TYPE (\w+) (\w+)$", text))
        self.assertIn("twofold_last_reload_site_status", served)
        rows = {re.sub(r"`", "", r[0]): r for r in table_rows(readme_section("Metrics"))}
        problems = []
        for name, kind in sorted(served.items()):
            row = rows.get(name)
            if not row:
                problems.append("%s (%s) is served but not in the README's Metrics table"
                                % (name, kind))
                continue
            if row[1] != kind:
                problems.append("%s: README says %s, /metrics says %s" % (name, row[1], kind))
            labels = set()
            for sample in re.findall(r"(?m)^%s\{([^}]*)\}" % name, text):
                labels |= set(re.findall(r"(\w+)=\"", sample))
            for label in sorted(labels):
                if "`%s`" % label not in row[2]:
                    problems.append("%s: label %s not in the README's row" % (name, label))
        for name in sorted(set(rows) - set(served)):
            problems.append("README's Metrics table has %s, /metrics does not" % name)
        self.assertFalse(problems, "\n".join(problems))

    def test_certs_json_documented(self):
        status, text = self.request("GET", "/certs")
        self.assertEqual(status, 200, text)
        doc = json.loads(text)
        self.assertTrue(doc["last_reload"]["sites"], doc["last_reload"])
        statuses = {s["status"] for s in doc["last_reload"]["sites"]}
        # a reload whose configuration is rejected reports config_errors instead
        with open(self.tf.conf_path, "a") as f:
            f.write("\n[proxy]\nbogus_key = 1\n")
        self.assertEqual(self.request("POST", "/reload")[0], 500)
        status, text = self.request("GET", "/certs")
        rejected = json.loads(text)
        self.assertIn("config_errors", rejected["last_reload"])
        row = [r for r in table_rows(readme_section("Admin API")) if r[0] == "`GET /certs`"]
        self.assertTrue(row, "no `GET /certs` row in the README's Admin API table")
        cell = row[0][1]
        problems = []
        for path, key in sorted(json_keys(doc) | json_keys(rejected)):
            if "`%s`" % key not in cell and "`%s`" % key.rstrip("[]") not in cell:
                problems.append("/certs key %s is not in the README's `GET /certs` row" % path)
        for st in sorted(statuses):
            if "`%s`" % st not in cell:
                problems.append("last_reload.sites[].status %r is not listed" % st)
        self.assertFalse(problems, "\n".join(problems))


if __name__ == "__main__":
    h.main()
