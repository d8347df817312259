#!/usr/bin/env python3
"""Every command in README.md runs here, or is listed with the test that covers it.

- Inventory.test_inventory: README.md is parsed (lib/readme_util.py); every shell block is
  commands or listed in NON_COMMAND_BLOCKS; every command whose program does not exist
  here, or that UNSAFE forbids (package managers, systemctl, project scripts, addresses
  beyond loopback), must be in NOT_RUN; every table entry below still matches something
  in the README and names a test or CI step that exists (neither docs nor tables drift).
- ReadmeSections.test_NN_*: one test per README section, in README order, each with a
  fresh temp root: its commands run in order with fixed ports moved to free loopback
  ports (consistently within the section), 0.0.0.0 to 127.0.0.1, /tmp /etc /usr/local
  /var under the temp root, `twofold` to $TWOFOLD_BIN, build/ to $TWOFOLD_BUILD, repository
  paths to $TWOFOLD_SRC. Commands ending in `&`, and twofold servers shown in the
  foreground, start in the background (ready when their ports accept) and are stopped by
  pid at the end of the section; twofold must then exit 0 with no sanitizer report. Each
  command's exit status is asserted (EXPECT gives other statuses and the output the
  README promises); PRELUDES give a section what the README assumes exists (a running
  quick-start instance, certificates in a directory it names, certbot lineages).
- Inventory.test_ini_blocks: every ```ini block, with its paths under a temp root and
  certificates generated for them, passes `twofold check -c FILE`.
- Inventory.test_help: `twofold --help` and `twofold help TOPIC` exit 0.
- Inventory.test_repo_paths: every repository path the README names (conf/..., tests/...,
  bench/..., and documents such as "DESIGN notes") exists in the tree.
- Inventory.test_parser: the extraction rules on a small synthetic document.
"""

import base64
import glob
import grp
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import harness as h  # noqa: E402
from lib import readme_util as ru  # noqa: E402

# TWOFOLD_README: another file to check instead (for testing this test on edited copies)
README = os.environ.get("TWOFOLD_README") or os.path.join(h.SRC, "README.md")
CMD_TIMEOUT = 60  # seconds, any one foreground command
READY_TIMEOUT = 15.0  # seconds, a background server's ports

# ---------------------------------------------------------------- the tables

# Commands that cannot run here: (regex on the README command, the test or CI step that
# exercises the equivalent, why not here). A README command that fails here because of
# the environment belongs in this table; one that fails otherwise is a README bug.
NOT_RUN = [
    (r"^bash scripts/demo\.sh$", "integration_test_demo.test_demo_flow",
     "interactive: builds into build/ and serves on the fixed ports until Ctrl-C"),
    (r"^bash scripts/test\.sh$", ".ci/run",
     "the whole suite under three builds, this test included"),
    (r"^bash scripts/deps\.sh ", ".ci/run",
     "installs Debian packages system-wide (scripts/test.sh runs `deps.sh test`)"),
    (r"^bash scripts/build\.sh ", ".ci/run",
     "a full build takes minutes here; scripts/test.sh builds every tree with it"),
    (r"^certbot certonly ", "integration_test_acme.test_1_issued_lineages_served",
     "needs a public ACME server; the test issues both lineages from pebble on loopback"),
    (r"^kubectl ", "integration_test_kubernetes.test_edge_secret_swap",
     "needs a cluster; the test runs edge.yaml's config on the kubelet's volume layout"),
    (r"^useradd ", "integration_test_systemd.test_readme_install_as_service_user",
     "creates a system user; the test runs the section's steps for an existing "
     "unprivileged user and starts the unit's command line as that user"),
    (r"^systemctl ", "integration_test_systemd.test_notify_protocol",
     "needs systemd as PID 1; the test speaks the unit's notify protocol to twofold"),
    (r"^bench/run( |$)", "integration_test_bench_smoke.test_handshake_mode_is_full",
     "installs haproxy, nginx and hitch and runs for ~20 minutes; its generator and report "
     "logic are covered by the bench smoke test and bench/lib/test_report.py"),
]

# Never run by this test, whatever the README says: a README command that matches one of
# these and is not in NOT_RUN fails the test (it would change this machine or reach out).
UNSAFE = [
    (r"(^|[|;&(]\s*)(sudo|apt-get|apt|dpkg|pip3?|systemctl|journalctl|kubectl|certbot|"
     r"useradd|usermod|groupadd|userdel|logrotate|docker|podman|reboot|shutdown)(\s|$)",
     "changes the system or needs a service this machine does not run"),
    (r"(^|\s)(ba)?sh\s+(\S*/)?scripts/", "a project script (may install or build system-wide)"),
]


def unsafe(text):
    """Why a README command must not run here (None when it may)."""
    for pattern, why in UNSAFE:
        if re.search(pattern, text):
            return why
    for ip in re.findall(r"(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])", text):
        if not ip.startswith("127."):
            return "names address %s (not loopback)" % ip
    resolved = set(re.findall(r"--resolve\s+([^:\s]+):", text))
    for host in re.findall(r"\w+://(\[[^\]]*\]|[^/:\s'\"]+)", text):
        if host not in ("127.0.0.1", "localhost", "[::1]") and host not in resolved:
            return "reaches %s (not loopback)" % host
    return None


# Shell-looking blocks that are not commands: (regex on the block's first line, the test
# that exercises what it shows, what it is).
NON_COMMAND_BLOCKS = [
    (r"^reload (applied|partial|failed): generation \d+$",
     "integration_test_acme.test_3_outage_replayed_is_refused",
     "sample output of `twofold reload`"),
    (r"^/var/log/twofold/access\.log \{$",
     "integration_test_systemd.test_sigusr1_reopens_access_log",
     "a logrotate file (no logrotate here; its postrotate runs systemctl)"),
]

# Changes to a command beyond the general substitutions: (regex, replacement, why).
def my_group():
    return grp.getgrgid(os.getgid()).gr_name


def my_user():
    return pwd.getpwuid(os.getuid()).pw_name


REWRITES = [
    (r"^chgrp -R twofold ", lambda m: "chgrp -R %s " % my_group(),
     "the twofold group comes from the systemd section's useradd, which cannot run here"),
    (r"(?<=\s)-o root -g twofold(?=\s)", lambda m: "-o %s -g %s" % (my_user(), my_group()),
     "the same (and root may be this test's user or not)"),
    (r"(?<=\s)root:twofold(?=\s)", lambda m: "%s:%s" % (my_user(), my_group()), "the same"),
    (r"^runuser -u twofold ", lambda m: "runuser -u %s " % my_user(),
     "the same (test_systemd runs these steps for a real unprivileged user)"),
]


def group_only_ok(test, cmd):
    """The file is readable by its owner and group, and by nobody else."""
    path = shlex.split(cmd)[-1]
    mode = os.stat(path).st_mode & 0o777
    test.assertEqual(mode, 0o640, "%s: mode %o" % (path, mode))


def ticket_file_ok(test, cmd):
    """The file the command wrote holds base64 of 80 bytes per line (README's format)."""
    path = os.path.join(test.work, re.search(r"> *(\S+)", cmd).group(1))
    with open(path) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    test.assertTrue(lines, "%s is empty" % path)
    for ln in lines:
        test.assertEqual(len(base64.b64decode(ln, validate=True)), 80, path)


# What the README promises about a command: (regex on the README command, exit status,
# regexes its stdout+stderr must match, optional check(test, substituted command)).
EXPECT = [
    (r"^twofold --version$", 0, [r"^twofold \d+\.\d+"], None),
    (r"^twofold check --listen ", 0, [r"(?m)^coverage ok: "], None),
    (r"^runuser -u twofold -- /usr/local/bin/twofold check -c ", 0, [r"(?m)^coverage ok: "],
     None),
    (r"^curl --cacert \S+ --resolve \S+ https://\S+/echo-headers$", 0,
     [r'"path": "/echo-headers"'], None),
    # "a TLS 1.2 client that only knows RSA gets the RSA certificate"
    (r"^openssl s_client .*-tls1_2 .*-cipher ECDHE-RSA-", 0,
     [r"Server public key is 2048 bit"], None),
    (r"^twofold explain .*--profile tls12-rsa-only", 0, [r"(?m)^result: RSA-2048"], None),
    (r"^curl -s http://127\.0\.0\.1:9901/certs$", 0, [r'^\{"generation":\d+'], None),
    (r"^twofold reload --admin ", 0, [r"(?m)^reload applied: generation \d+$"], None),
    (r"^curl -s http://127\.0\.0\.1:9901/healthz$", 0, [r"^ok"], None),
    (r"^curl -s -X POST '?http://127\.0\.0\.1:9901/reload\?format=text", 0,
     [r"(?m)^reload applied: generation \d+$"], None),
    (r"^curl -s -H 'Authorization: Bearer change-me' http://127\.0\.0\.1:9901/metrics$", 0,
     [r"(?m)^twofold_snapshot_generation \d+$"], None),
    (r"^openssl rand 80 \| base64 -w0 > ", 0, [], ticket_file_ok),
    (r"^chown root:twofold /etc/twofold/ticket\.keys ", 0, [], group_only_ok),
    # the mix's tls12-rsa-only clients get the RSA certificate
    (r"^build/bench/twofold-bench ", 0, [r'"key_types":\{[^}]*"RSA-2048":[1-9]'], None),
    (r"^build/bench/handshake-bound ", 0, [r'"results":\['], None),
]

# What a section assumes exists (regex on the section title -> ReadmeSections method).
PRELUDES = [
    (r"^Sidecar in one line$", "prelude_sidecar"),
    (r"^systemd$", "prelude_systemd"),
    (r"^Certificates from certbot$", "prelude_certbot"),
    (r"^Admin API$", "prelude_quickstart_instance"),
    (r"^Benchmarks$", "prelude_quickstart_instance"),
]

# Checks after a section's commands ran (regex on the title -> ReadmeSections method).
POSTLUDES = [
    (r"^Sidecar in one line$", "postlude_sidecar"),
    (r"^Certificates from certbot$", "postlude_certbot"),
]

HELP_TOPICS = ("check", "explain", "reload", "config")


# ---------------------------------------------------------------- helpers

def non_command(block):
    """The NON_COMMAND_BLOCKS entry a shell block matches, or None."""
    first = block.lines[0][1].strip()
    for entry in NON_COMMAND_BLOCKS:
        if re.search(entry[0], first):
            return entry
    return None


def load_readme():
    with open(README) as f:
        return ru.parse(f.read(), is_commands=lambda b: non_command(b) is None)


def find(table, text):
    for entry in table:
        if re.search(entry[0], text):
            return entry
    return None


def reference_problem(ref):
    """None when ref ("integration_test_X[.test_y]" or a repository path) exists."""
    m = re.match(r"^integration_(test_\w+?)(?:\.(test_\w+))?$", ref)
    if not m:
        return None if os.path.exists(os.path.join(h.SRC, ref)) else "%s: no such file" % ref
    path = os.path.join(h.SRC, "tests", "integration", m.group(1) + ".py")
    if not os.path.exists(path):
        return "%s: %s does not exist" % (ref, path)
    with open(path) as f:
        if m.group(2) and "def %s(" % m.group(2) not in f.read():
            return "%s: %s has no %s" % (ref, path, m.group(2))
    return None


def is_server(text):
    """A twofold command line that serves (sidecar flags or -c without a subcommand)."""
    words = text.split()
    return words[0] == "twofold" and len(words) > 1 and words[1] in ("--listen", "-c",
                                                                     "--config")


def output_of(r):
    return r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")


SECTIONS = load_readme()


# ---------------------------------------------------------------- inventory

class Inventory(h.TestCase):
    def test_inventory(self):
        cmds = [c for s in SECTIONS for c in s.commands()]
        blocks = [b for s in SECTIONS for b in s.blocks]
        self.assertTrue(cmds, "no commands found in README.md")
        problems = []
        sub = ru.Subst(os.path.join(self.tmp, "root"), h.SRC, h.BUILD, h.BIN, h.free_port)
        for c in cmds:
            if find(NOT_RUN, c.text):
                continue
            why = unsafe(sub.command(c.text))
            if why:
                problems.append("README.md:%d: `%s`: %s; add it to NOT_RUN with the test that "
                                "covers it" % (c.line, c.text, why))
                continue
            argv0 = shlex.split(sub.command(c.text))[0]
            if not (shutil.which(argv0) or os.access(argv0, os.X_OK)):
                problems.append("README.md:%d: `%s`: %s does not exist here; run it or add "
                                "it to NOT_RUN with the test that covers it"
                                % (c.line, c.text, argv0))
        items = [c.text for c in cmds]
        firsts = [b.lines[0][1].strip() for b in blocks if b.kind == "shell"]
        titles = [s.title for s in SECTIONS]
        for table, what, pool in ((NOT_RUN, "NOT_RUN", items), (EXPECT, "EXPECT", items),
                                  (REWRITES, "REWRITES", items),
                                  (NON_COMMAND_BLOCKS, "NON_COMMAND_BLOCKS", firsts),
                                  (PRELUDES, "PRELUDES", titles),
                                  (POSTLUDES, "POSTLUDES", titles)):
            for entry in table:
                if not any(re.search(entry[0], t) for t in pool):
                    problems.append("%s entry %r matches nothing in README.md" % (what, entry[0]))
        for entry in NOT_RUN + NON_COMMAND_BLOCKS:
            p = reference_problem(entry[1])
            if p:
                problems.append("%r: %s" % (entry[0], p))
        for s in SECTIONS:
            for b in s.blocks:
                if b.kind == "shell" and non_command(b) is None and not ru.commands_of(b):
                    problems.append("README.md:%d: a code block with no command" % b.line)
        self.assertFalse(problems, "\n".join(problems))
        print("README.md: %d commands (%d not run here), %d ini blocks, %d other blocks"
              % (len(cmds), sum(1 for c in cmds if find(NOT_RUN, c.text)),
                 sum(1 for b in blocks if b.kind == "ini"),
                 sum(1 for b in blocks if b.kind == "shell" and non_command(b))))

    def test_repo_paths(self):
        """Every repository path the README names exists (build/ outputs aside: the build
        makes them), and so does every document it names ("the DESIGN notes")."""
        with open(README) as f:
            text = f.read()
        missing = []
        tops = "|".join(re.escape(d) for d in ("certstore", "proxy", "tests", "conf",
                                                "scripts", "bench", ".ci"))
        paths = set(re.findall(r"(?<![\w/.~$-])((?:%s)/[\w./*-]*)" % tops, text))
        self.assertIn("conf/twofold.ini", paths)  # the pattern finds what it should
        for p in sorted(paths):
            p = p.rstrip(".,:")
            if not glob.glob(os.path.join(h.SRC, p)):
                missing.append(p)
        for name in set(re.findall(r"\b([A-Z][A-Z_]{3,})(?:\.md)?\s+(?:notes|document)", text) +
                        re.findall(r"(?<![\w/.-])([\w-]+)\.md\b", text)):
            if not glob.glob(os.path.join(h.SRC, "**", name + ".md"), recursive=True):
                missing.append(name + ".md")
        self.assertFalse(missing, "README.md names what the tree does not have: %s" % missing)

    def test_help(self):
        for args in [["--help"]] + [["help", t] for t in HELP_TOPICS]:
            r = h.run_twofold(args)
            self.assertEqual(r.returncode, 0, "twofold %s: %s" % (" ".join(args), output_of(r)))
            self.assertTrue(r.stdout.strip(), "twofold %s printed nothing" % " ".join(args))

    def test_ini_blocks(self):
        blocks = [b for s in SECTIONS for b in s.blocks if b.kind == "ini"]
        self.assertTrue(blocks, "no ```ini block in README.md")
        for b in blocks:
            with self.subTest(line=b.line):
                root = os.path.join(self.tmp, "ini-%d" % b.line)
                sub = ru.Subst(os.path.join(root, "root"), h.SRC, h.BUILD, h.BIN, h.free_port)
                text = sub.ini("\n".join(t for _, t in b.lines) + "\n")
                ru.materialize(text, cert_generator(os.path.join(root, "gen")))
                path = os.path.join(root, "readme-%d.ini" % b.line)
                with open(path, "w") as f:
                    f.write(text)
                r = h.run_twofold(["check", "-c", path])
                self.assertEqual(r.returncode, 0, "README.md:%d: twofold check -c:\n%s\n%s"
                                 % (b.line, text, output_of(r)))

    def test_parser(self):
        doc = "\n".join([
            "# t", "pre", "", "    cmd0 a", "", "## One", "text:", "",
            "    # a comment line", "    run --x 1 \\", "        --y '#not' # trailing",
            "    server --listen 1:2 &", "    a && b", "",
            "- item", "", "    list continuation, not code", "",
            "```ini", "[proxy]", "workers = 1", "```", "",
            "```console", "$ echo hi", "hi", "```",
            "```yaml", "k: v", "```",
            "## Two", "", "    out: put", ""])
        secs = ru.parse(doc, is_commands=lambda b: not b.lines[0][1].startswith("out:"))
        self.assertEqual([s.title for s in secs], ["", "One", "Two"])
        self.assertEqual([c.text for c in secs[0].commands()], ["cmd0 a"])
        one = secs[1].commands()
        self.assertEqual([(c.text, c.background) for c in one],
                         [("run --x 1 --y '#not'", False), ("server --listen 1:2", True),
                          ("a && b", False), ("echo hi", False)])
        self.assertEqual(one[0].line, 10)
        ini = [i for i in secs[1].items if not isinstance(i, ru.Command)]
        self.assertEqual([(b.kind, [t for _, t in b.lines]) for b in ini],
                         [("ini", ["[proxy]", "workers = 1"])])
        self.assertEqual(secs[2].commands(), [])
        self.assertEqual(len(secs[2].blocks), 1)
        sub = ru.Subst(os.path.join(self.tmp, "r"), "/S", "/B", "/bin/tf", iter([5, 6]).__next__)
        got = sub.command("twofold --listen 0.0.0.0:8443 --cert-dir /tmp/c --upstream "
                          "127.0.0.1:8080 | twofold x && build/proxy/twofold --mix a:90 "
                          "https://e.com:8443/x tests/f /dev/null")
        r = os.path.join(self.tmp, "r")
        self.assertEqual(got, "/bin/tf --listen 127.0.0.1:5 --cert-dir %s/tmp/c --upstream "
                         "127.0.0.1:6 | /bin/tf x && /B/proxy/twofold --mix a:90 "
                         "https://e.com:5/x /S/tests/f /dev/null" % r)


def cert_generator(directory):
    """gen(site, names, kind) -> (crt, key) for ru.materialize, via gen_certs.sh."""
    certs = h.Certs(directory)

    def gen(site, names, kind):
        kind = kind or "rsa"
        return certs.gen(names, STEM=re.sub(r"\W", "_", site or "default"), KEYS=kind)[kind]
    return gen


# ---------------------------------------------------------------- the sections

class ReadmeSections(h.TestCase):
    """Test methods test_NN_<section> are added below, one per README section."""

    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.tmp, "root")
        self.work = os.path.join(self.tmp, "work")  # the commands' working directory
        os.makedirs(self.work)
        self.sub = ru.Subst(self.root, h.SRC, h.BUILD, h.BIN, h.free_port)
        self.env = dict(os.environ, HOME=self.work)

    # ------------------------------------------------------------ running commands

    def run_section(self, section):
        for pattern, method in PRELUDES:
            if re.search(pattern, section.title):
                getattr(self, method)(section)
        for item in section.items:
            if isinstance(item, ru.Command):
                self.execute(item)
            else:
                self.write_ini(item)
        for pattern, method in POSTLUDES:
            if re.search(pattern, section.title):
                getattr(self, method)(section)

    def note(self, line, how, text):
        print("  README.md:%d %s: %s" % (line, how, text), flush=True)

    def execute(self, cmd):
        skip = find(NOT_RUN, cmd.text)
        if skip:
            self.note(cmd.line, "covered by " + skip[1], cmd.text)
            return
        text = cmd.text
        for pattern, repl, _ in REWRITES:
            text = re.sub(pattern, repl, text)
        text = self.sub.command(text)
        why = unsafe(text)
        self.assertIsNone(why, "README.md:%d: `%s` not run: %s; add it to NOT_RUN with the test "
                          "that covers it" % (cmd.line, cmd.text, why))
        if cmd.background or is_server(cmd.text):
            self.start(cmd, text)
            self.note(cmd.line, "started", text)
            return
        r = subprocess.run(["bash", "-c", "set -o pipefail\n" + text], cwd=self.work,
                           env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=CMD_TIMEOUT)
        out = output_of(r)
        self.note(cmd.line, "ran", text)
        where = "README.md:%d: `%s`\nran as: %s\n" % (cmd.line, cmd.text, text)
        for marker in h.SANITIZER_MARKERS:
            self.assertNotIn(marker, out, where + out)
        expect = find(EXPECT, cmd.text)
        rc = expect[1] if expect else 0
        self.assertEqual(r.returncode, rc, where + "exit %d, expected %d (if it cannot run "
                         "here, list it in NOT_RUN):\n%s" % (r.returncode, rc, out))
        for pattern in (expect[2] if expect else []):
            self.assertRegex(out, pattern, where + "output lacks what the README promises")
        if expect and expect[3]:
            expect[3](self, text)

    def start(self, cmd, text):
        """Starts a background command (ready when its --listen/--admin ports accept)."""
        name = os.path.basename(shlex.split(text)[0])
        if name.startswith("python"):
            name = os.path.basename(shlex.split(text)[1]).split(".")[0]
        argv = ["bash", "-c", "cd %s && exec %s" % (shlex.quote(self.work), text)]
        proc = self.track(h.Proc(name, argv, self.tmp, env=self.env))
        proc.check = name == "twofold"
        deadline = time.monotonic() + READY_TIMEOUT
        for port in ru.listen_ports(shlex.split(text)):
            while not h.port_accepts(port, 0.2):
                self.assertTrue(proc.alive(), "README.md:%d: `%s` exited %s:\n%s"
                                % (cmd.line, text, proc.p.poll(), proc.stderr_text()))
                self.assertLess(time.monotonic(), deadline, "README.md:%d: `%s` not "
                                "listening on %d" % (cmd.line, text, port))
                time.sleep(0.05)
        self.assertTrue(proc.alive(), "README.md:%d: `%s` exited at once:\n%s"
                        % (cmd.line, text, proc.stderr_text()))
        return proc

    def write_ini(self, block):
        """An ini block goes where the paragraph before it says (`/path/x.ini`), with
        certificates made for its paths; its ticket key file is left to the README."""
        text = self.sub.ini("\n".join(t for _, t in block.lines) + "\n")
        m = re.search(r"`(/[^`\s]+\.ini)`", block.prose)
        path = self.sub.path(m.group(1)) if m else os.path.join(self.tmp, "%d.ini" % block.line)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        ru.materialize(text, cert_generator(os.path.join(self.tmp, "gen")), ticket_keys=False)
        with open(path, "w") as f:
            f.write(text)
        self.note(block.line, "wrote", path)

    # ------------------------------------------------------------ what sections assume

    def prelude_quickstart_instance(self, section):
        """The README's quick-start instance ("against the quick-start instance above"):
        its certificate, upstream and twofold commands, with this section's ports."""
        quick = [s for s in SECTIONS if s.title == "Quick start"]
        self.assertTrue(quick, "README.md has no Quick start section")
        wanted = [c for c in quick[0].commands()
                  if "gen_certs.sh" in c.text or c.background]
        self.assertTrue(any(is_server(c.text) for c in wanted),
                        "Quick start starts no twofold in the background")
        for c in wanted:
            self.execute(c)

    def prelude_sidecar(self, section):
        """The sidecar line serves /etc/twofold/certs in front of 127.0.0.1:8080."""
        self.certs = h.Certs(self.sub.path("/etc/twofold/certs"))
        self.certs.gen(["example.com", "www.example.com"])
        self.start_upstream(port=self.sub.port(8080))

    def postlude_sidecar(self, section):
        servers = [c for c in section.commands() if is_server(c.text)]
        self.assertTrue(servers, "the sidecar section runs no twofold")
        res = h.curl(self.sub.port(8443), "example.com", "/echo-headers", self.certs.ca)
        self.assertEqual((res.rc, res.status), (0, 200), res.err)

    def prelude_systemd(self, section):
        """What the section installs from the working directory: a configuration
        (`twofold.ini`) and the api-*.pem/.key pairs it names under /etc/twofold/certs."""
        gen = cert_generator(os.path.join(self.tmp, "gen"))
        certs = self.sub.path("/etc/twofold/certs")
        for kind in ("rsa", "ecdsa"):
            crt, key = gen("api", ["api.example.com"], kind)
            ru.copy_pair((crt, key), (os.path.join(self.work, "api-%s.pem" % kind),
                                      os.path.join(self.work, "api-%s.key" % kind)))
        conf = h.config(h.free_port(), [h.site("api", ["api.example.com"], [
            (os.path.join(certs, "api-%s.pem" % k), os.path.join(certs, "api-%s.key" % k))
            for k in ("rsa", "ecdsa")], "api")], {"api": ["127.0.0.1:1"]},
            {"ticket_key_file": self.sub.path("/etc/twofold/ticket.keys")})
        with open(os.path.join(self.work, "twofold.ini"), "w") as f:
            f.write(conf)

    def prelude_certbot(self, section):
        """certbot's layout of the two lineages the section issues."""
        gen = cert_generator(os.path.join(self.tmp, "gen"))
        le = self.sub.path("/etc/letsencrypt")
        for kind in ("rsa", "ecdsa"):
            pair = gen("example.com", ["example.com", "www.example.com"], kind)
            name = "example.com-%s" % kind
            ru.write_lineage(os.path.join(le, "live", name), os.path.join(le, "archive", name),
                             *pair)

    def postlude_certbot(self, section):
        """The hook is installed executable; the keys are group-readable."""
        hook = self.sub.path("/usr/local/share/twofold/certbot-deploy-hook.sh")
        self.assertTrue(os.access(hook, os.X_OK), hook)
        keys = os.path.join(self.sub.path("/etc/letsencrypt/archive"), "example.com-rsa",
                            "privkey1.pem")
        self.assertTrue(os.stat(keys).st_mode & 0o040, "%s not group-readable" % keys)


def add_section_tests():
    for k, section in enumerate(SECTIONS):
        if not section.items:
            continue
        slug = re.sub(r"\W+", "_", section.title.lower()).strip("_") or "preface"

        def test(self, section=section):
            self.run_section(section)
        test.__doc__ = "README.md section %r (line %d)" % (section.title, section.line)
        setattr(ReadmeSections, "test_%02d_%s" % (k, slug[:40]), test)


add_section_tests()

if __name__ == "__main__":
    h.main()
