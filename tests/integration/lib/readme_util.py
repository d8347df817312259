"""README.md as data: its sections, shell commands and ini blocks, and the substitutions
that let a test run them on loopback inside a temp directory (used by test_readme.py).

Extraction rules (a subset of CommonMark that fits operator documentation):
  - a section starts at each `## ` heading (text before the first one is section "");
  - code blocks are indented blocks (4+ spaces after a blank line, not inside a list) and
    fenced blocks; ```sh/bash/shell and unlabelled fences are shell like indented blocks,
    ```console takes only the lines after a `$ ` prompt, ```ini is configuration, any other
    fence language (yaml, json, text...) is neither;
  - a command is one line, with backslash continuations joined; blank and comment lines
    are skipped and a trailing ` # comment` (outside quotes) is stripped; a trailing
    single `&` marks a background command.
Whether a shell block is commands at all (it may be sample output or a logrotate file) is
the caller's decision: every block comes back with its first line so it can classify it.
"""

import base64
import collections
import os
import re
import shlex

SHELL_LANGS = ("", "sh", "bash", "shell")
# host:port, host an IPv4 or bracketed IPv6 literal, localhost or a dotted name (so that
# "profile:weight" lists such as modern-tls13:90 are left alone): every such port in a
# command or config is replaced by a free loopback port.
HOST_PORT = re.compile(r"(?<![\w.-])((?:\d{1,3}\.){3}\d{1,3}|localhost|\[[0-9a-fA-F:.]*\]"
                       r"|(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}):(\d{1,5})(?!\d)")
# Absolute locations the README writes to or reads from; moved under the test's root.
ROOT_DIRS = ("tmp", "etc", "usr/local", "var")
# Repository-relative paths in commands (the README is run from a checkout).
REPO_DIRS = ("tests", "conf", "scripts", "bench")

Block = collections.namedtuple("Block", "section line kind lines prose")
# kind: "shell" | "ini"; lines: [(lineno, text)] dedented; prose: the paragraph before it.
Command = collections.namedtuple("Command", "section line text background block")
# line: README line of the command's first physical line; text: joined, comment-free.


class Section:
    def __init__(self, title, line):
        self.title = title
        self.line = line
        self.items = []  # Command and Block (kind "ini") in README order
        self.blocks = []  # every code block, shell and ini

    def commands(self):
        return [i for i in self.items if isinstance(i, Command)]

    def __repr__(self):
        return "Section(%r, line %d)" % (self.title, self.line)


# ---------------------------------------------------------------- parsing

LIST_ITEM = re.compile(r"^\s{0,3}([-*+]|\d+[.)])\s")


def parse(text, is_commands=lambda block: True):
    """Sections of a Markdown text. is_commands(block) decides whether a shell block holds
    commands (True) or is something else (False: kept in section.blocks only)."""
    sections = [Section("", 1)]
    lines = text.split("\n")
    prose = []  # the paragraph being read
    para = []  # the last complete paragraph
    in_list = False
    i = 0
    while i < len(lines):
        ln = lines[i]
        fence = re.match(r"^\s{0,3}```\s*([\w+-]*)\s*$", ln)
        if fence:
            body, i = fenced_body(lines, i + 1)
            add_block(sections[-1], fence.group(1).lower(), body, " ".join(prose or para),
                      is_commands)
            prose, para, in_list = [], [], False
            continue
        if is_indented_code(ln, lines[i - 1] if i else "", in_list):
            body, i = indented_body(lines, i)
            add_block(sections[-1], "", body, " ".join(prose or para), is_commands)
            prose, para = [], []
            continue
        if ln.startswith("## "):
            sections.append(Section(ln[3:].strip(), i + 1))
            prose, para, in_list = [], [], False
        elif not ln.strip():
            if prose:
                para, prose = prose, []
        else:
            if LIST_ITEM.match(ln):
                in_list = True
            elif not ln.startswith(" "):
                in_list = False
            prose.append(ln.strip())
        i += 1
    return sections


def is_indented_code(ln, prev, in_list):
    return ln.startswith("    ") and ln.strip() and not prev.strip() and not in_list


def fenced_body(lines, i):
    """[(lineno, text)] up to the closing fence, and the index after it."""
    body = []
    while i < len(lines) and not re.match(r"^\s{0,3}```\s*$", lines[i]):
        body.append((i + 1, lines[i]))
        i += 1
    return body, i + 1


def indented_body(lines, i):
    body = []
    while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
        body.append((i + 1, lines[i][4:]))
        i += 1
    while body and not body[-1][1].strip():
        body.pop()
    return body, i


def add_block(section, lang, body, prose, is_commands):
    if not body:
        return
    if lang == "ini":
        blk = Block(section.title, body[0][0], "ini", body, prose)
        section.blocks.append(blk)
        section.items.append(blk)
        return
    if lang == "console":
        body = [(n, t.strip()[2:]) for n, t in body if t.strip().startswith("$ ")]
    elif lang not in SHELL_LANGS:
        return
    blk = Block(section.title, body[0][0], "shell", body, prose)
    section.blocks.append(blk)
    if body and is_commands(blk):
        section.items += commands_of(blk)


def commands_of(block):
    """The commands of a shell block (see the module comment)."""
    out = []
    pending, start = "", None
    for lineno, raw in block.lines:
        text = raw.strip()
        if not pending and (not text or text.startswith("#")):
            continue
        if start is None:
            start = lineno
        if text.endswith("\\"):
            pending += text[:-1].rstrip() + " "
            continue
        cmd = strip_comment(pending + text).strip()
        pending = ""
        bg = bool(re.search(r"(^|[^&])&$", cmd))
        if bg:
            cmd = cmd[:-1].rstrip()
        if cmd:
            out.append(Command(block.section, start, cmd, bg, block))
        start = None
    return out


def strip_comment(cmd):
    """cmd without a trailing `# comment` (a # that starts a word outside quotes)."""
    quote = None
    for k, c in enumerate(cmd):
        if quote:
            if c == quote:
                quote = None
            elif c == "\\" and quote == '"':
                continue
        elif c in "'\"":
            quote = c
        elif c == "#" and (k == 0 or cmd[k - 1] in " \t"):
            return cmd[:k].rstrip()
    return cmd


# ---------------------------------------------------------------- substitution

class Subst:
    """Moves one section's commands and configuration onto this machine's loopback and a
    temp root, consistently: the same fixed port maps to the same free port throughout."""

    def __init__(self, root, src, build, binary, free_port):
        self.root = root  # stands for "/" of the README's machine
        self.src = src
        self.build = build
        self.binary = binary
        self.free_port = free_port
        self.ports = {}
        for d in ("tmp", "etc/systemd/system", "usr/local/bin", "usr/local/share", "var/log"):
            os.makedirs(os.path.join(root, d), exist_ok=True)

    def port(self, fixed):
        """The free port standing for README port `fixed` (a string or an int)."""
        fixed = str(fixed)
        if fixed not in self.ports:
            used = set(self.ports.values())
            p = self.free_port()
            while p in used:
                p = self.free_port()
            self.ports[fixed] = p
        return self.ports[fixed]

    def path(self, p):
        """Where README absolute path p lives in this run."""
        return os.path.join(self.root, p.lstrip("/"))

    def common(self, text):
        text = text.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]")
        text = HOST_PORT.sub(lambda m: "%s:%d" % (m.group(1), self.port(m.group(2))), text)
        roots = "|".join(re.escape(d) for d in ROOT_DIRS)
        return re.sub(r"(?<![\w.:/~$-])/(%s)(?=/|\s|$|['\"])" % roots,
                      lambda m: self.path(m.group(0)), text)

    def command(self, text):
        """A README command as this test runs it."""
        text = self.common(text)
        repo = "|".join(REPO_DIRS)
        text = re.sub(r"(?<![\w./~$-])(%s)/" % repo,
                      lambda m: os.path.join(self.src, m.group(1)) + "/", text)
        text = re.sub(r"(?<![\w./~$-])build/", lambda m: self.build.rstrip("/") + "/", text)
        return re.sub(r"(^|&&|\|\||[|;(])(\s*)twofold(?=\s|$)",
                      lambda m: m.group(1) + m.group(2) + shlex.quote(self.binary), text)

    def ini(self, text):
        """An ini block as this test writes it."""
        return self.common(text)


def listen_ports(argv):
    """Ports a server command line listens on (--listen/--admin host:port values)."""
    out = []
    for k, tok in enumerate(argv[:-1]):
        if tok in ("--listen", "--admin"):
            m = re.search(r":(\d+)$", argv[k + 1])
            if m:
                out.append(int(m.group(1)))
    return out


# ---------------------------------------------------------------- ini materialisation

def ini_entries(text):
    """[(section type, section name, key, value)] of an ini text (comments skipped)."""
    out = []
    stype = sname = ""
    for ln in text.splitlines():
        s = ln.strip()
        if not s or s[0] in ";#":
            continue
        m = re.match(r"^\[(\w+)(?:\s+([^\]]+))?\]$", s)
        if m:
            stype, sname = m.group(1), (m.group(2) or "").strip()
            continue
        k, _, v = s.partition("=")
        out.append((stype, sname, k.strip(), v.strip()))
    return out


def key_kind(path):
    """Which key type a README file or directory name suggests: "rsa", "ecdsa" or None.
    Only used to decide what to generate; twofold itself reads the type from the key."""
    base = os.path.basename(path.rstrip("/")).lower()
    if "ecdsa" in base or "ec-" in base:
        return "ecdsa"
    if "rsa" in base:
        return "rsa"
    return None


def pem_blocks(path):
    with open(path) as f:
        return re.findall(r"-----BEGIN [^-]+-----.*?-----END [^-]+-----\n?", f.read(), re.S)


def write_lineage(live_dir, archive_dir, crt, key):
    """A certbot lineage: archive/{cert,chain,fullchain,privkey}1.pem and live/ symlinks
    to them, as certbot lays it out."""
    os.makedirs(live_dir, exist_ok=True)
    os.makedirs(archive_dir, exist_ok=True)
    blocks = pem_blocks(crt)
    with open(key) as f:
        key_text = f.read()
    parts = {"cert": blocks[0], "chain": "".join(blocks[1:]), "fullchain": "".join(blocks),
             "privkey": key_text}
    for name, data in parts.items():
        target = os.path.join(archive_dir, "%s1.pem" % name)
        with open(target, "w") as f:
            f.write(data)
        link = os.path.join(live_dir, "%s.pem" % name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.relpath(target, live_dir), link)


def materialize(text, gen, ticket_keys=True):
    """Creates what a (substituted) config text refers to: certificates for `cert` and
    `cert_dir` lines (made with gen(site, names, kind) -> (crt, key)), the directories of
    log files, and the ticket key file unless ticket_keys is False (the README makes it)."""
    names = {}
    for stype, sname, k, v in ini_entries(text):
        if stype == "site" and k == "names":
            names[sname] = v.split()
    for stype, sname, k, v in ini_entries(text):
        if stype == "site" and k == "cert":
            crt, key = v.split()[:2]
            src = gen(sname, names.get(sname, ["example.com"]), key_kind(crt) or "rsa")
            copy_pair(src, (crt, key))
        elif stype == "site" and k == "cert_dir":
            put_cert_dir(v, gen(sname, names.get(sname, ["example.com"]), key_kind(v)))
        elif k in ("access_log_file", "ticket_key_file") and os.path.isabs(v):
            os.makedirs(os.path.dirname(v), exist_ok=True)
            if k == "ticket_key_file" and ticket_keys and not os.path.exists(v):
                with open(v, "w") as f:
                    f.write(base64.b64encode(os.urandom(80)).decode() + "\n")


def copy_pair(src, dst):
    for s, d in zip(src, dst):
        os.makedirs(os.path.dirname(d), exist_ok=True)
        with open(s) as fi, open(d, "w") as fo:
            fo.write(fi.read())


def put_cert_dir(directory, pair):
    """A cert_dir: a certbot lineage when its path is under live/ (archive/ beside it),
    else X.crt + X.key."""
    if os.path.exists(directory):
        return
    parts = directory.rstrip("/").split(os.sep)
    if "live" in parts[:-1]:
        k = len(parts) - 1 - parts[::-1].index("live")
        archive = os.sep.join(parts[:k] + ["archive"] + parts[k + 1:])
        write_lineage(directory, archive, *pair)
    else:
        base = os.path.join(directory, os.path.basename(pair[0]).rsplit(".", 1)[0])
        copy_pair(pair, (base + ".crt", base + ".key"))
