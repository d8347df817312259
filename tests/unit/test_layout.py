#!/usr/bin/env python3
"""The source tree keeps the architecture of ARCHITECTURE.md (ctest: unit_layout).

Reads every #include "..." of certstore/ and proxy/<layer>/ and every CMakeLists.txt there,
and fails when:
- a C file of proxy/ is not in one of the layer folders (LAYERS), or a folder's
  CMakeLists.txt assembles sources with file(GLOB) or leaves one of its .c files out;
- an #include "x" names a header found in no source folder, or in two;
- a certstore file includes a proxy header (certstore is OpenSSL alone);
- a folder includes an internal header (*_int.h, *_internal.h, cli.h) of another folder;
- a folder includes a header of a folder whose library it does not link (directly or
  through the libraries it links, as the CMake files say);
- the include graph between folders has a cycle;
- inside certstore/, a file or a call breaks the module order CS_ORDER: every file
  belongs to a module, and a module includes the internal header (cs_<file>_int.h) of,
  and calls the non-static functions of, only itself and modules to its right; a
  non-static certstore function that cs.h does not declare is named cs__*;
- ARCHITECTURE.md does not name a source folder or one of its files.

Usage: test_layout.py [REPO]   (default: $TWOFOLD_SRC, else this file's ../..)
"""

import glob
import os
import re
import sys

# proxy/ folders bottom-up and their libraries; certstore/ is flat and below them all.
LAYERS = ["base", "config", "tls", "http1", "worker", "control", "cli"]
LIBS = {"certstore": "certstore", "base": "pxbase", "config": "pxconfig", "tls": "pxtls",
        "http1": "pxhttp1", "worker": "pxworker", "control": "pxcontrol", "cli": "twofold"}
INTERNAL = re.compile(r"(_int|_internal)\.h$|^cli\.h$")
# certstore's modules, left to right: a module uses only modules to its right (a later
# rank); modules of one rank do not use each other. Each module is a list of file stems;
# cs_<stem>_int.h is the internal header of the module holding cs_<stem>.c, cs.h is public.
CS_ORDER = [
    {"build": ["cs_build", "cs_reload"]},
    {"guard": ["cs_guard"]},
    {"coverage": ["cs_coverage"], "explain": ["cs_explain"], "counters": ["cs_counters"]},
    {"snapshot": ["cs_snapshot", "cs_index", "cs_handshake"]},
    {"site": ["cs_site"]},
    {"validate": ["cs_validate"], "dir": ["cs_dir"], "select": ["cs_select"],
     "profiles": ["cs_profiles"]},
    {"cert": ["cs_cert"], "hello": ["cs_hello"], "suites": ["cs_suites"]},
    {"conf": ["cs_conf"], "diag": ["cs_diag"]},
]
CS_DEF = re.compile(r"^(?!static\b)[A-Za-z_][^;(){}=#]*?\b(cs_\w+)\s*\([^;{]*\)\s*\{", re.M)
CS_CALL = re.compile(r"\b(cs_\w+)\s*\(")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def folders(root):
    """folder name -> directory, for certstore and every directory under proxy/."""
    out = {"certstore": os.path.join(root, "certstore")}
    for d in sorted(glob.glob(os.path.join(root, "proxy", "*"))):
        if os.path.isdir(d):
            out[os.path.basename(d)] = d
    return out


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"#.*", "", text)


def cmake_links(path):
    """Our libraries a CMakeLists.txt links (any target, any visibility)."""
    text = strip_comments(open(path).read()) if os.path.exists(path) else ""
    links = set()
    for m in re.finditer(r"target_link_libraries\s*\(([^)]*)\)", text):
        words = m.group(1).split()[1:]
        links |= {w for w in words if w in LIBS.values()}
    return text, links


def strip_c(text):
    """C text without comments and string literals."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r'"(\\.|[^"\\])*"', '""', text)


def check_certstore(root):
    """The module order inside certstore/ (CS_ORDER), for includes and for calls."""
    errors = []
    d = os.path.join(root, "certstore")
    module = {}  # file stem -> (rank, module)
    for rank, mods in enumerate(CS_ORDER):
        for mod, stems in mods.items():
            for stem in stems:
                module[stem] = (rank, mod)

    def mod_of(fname):
        stem = re.sub(r"(_int)?\.[ch]$", "", fname)
        return module.get(stem)

    def allowed(src, dst):
        return src[1] == dst[1] or dst[0] > src[0]

    texts, defined = {}, {}
    for path in sorted(glob.glob(os.path.join(d, "*.[ch]"))):
        fname = os.path.basename(path)
        if fname == "cs.h":
            continue
        if mod_of(fname) is None:
            errors.append(f"certstore/{fname}: in no module of the certstore order (CS_ORDER)")
            continue
        texts[fname] = strip_c(open(path, errors="replace").read())
        for m in CS_DEF.finditer(texts[fname]):
            defined[m.group(1)] = fname
    public = set(CS_CALL.findall(strip_c(open(os.path.join(d, "cs.h")).read())))
    for name, fname in sorted(defined.items()):
        if name not in public and not name.startswith("cs__"):
            errors.append(f"certstore/{fname}: {name} is not in cs.h: make it static or "
                          "name it cs__* (internal)")
        if name in public and name.startswith("cs__"):
            errors.append(f"certstore/cs.h: declares the internal {name}")
    for fname, text in texts.items():
        src = mod_of(fname)
        for inc in INCLUDE.findall(text):
            dst = mod_of(inc) if inc.startswith("cs_") else None
            if dst and not allowed(src, dst):
                errors.append(f'certstore/{fname}: #include "{inc}": {src[1]} may not use '
                              f"{dst[1]} (certstore order: only modules to its right)")
        bad = {}
        for m in CS_CALL.finditer(text):
            callee = defined.get(m.group(1))
            if callee and not allowed(src, mod_of(callee)):
                bad.setdefault(callee, set()).add(m.group(1))
        for callee, names in sorted(bad.items()):
            errors.append(f"certstore/{fname}: calls {', '.join(sorted(names))} of {callee}: "
                          f"{src[1]} may not use {mod_of(callee)[1]} (certstore order)")
    return errors


def check(root):
    errors = []
    dirs = folders(root)
    loose = sorted(os.path.relpath(p, root)
                   for p in glob.glob(os.path.join(root, "proxy", "*.[ch]")))
    for p in loose:
        errors.append(f"{p}: not in a layer folder (proxy/{{{','.join(LAYERS)}}}/)")
    for name in dirs:
        if name not in LIBS:
            errors.append(f"proxy/{name}/: not a layer folder of ARCHITECTURE.md")

    # Which folder owns each header; which libraries each folder links.
    owner = {}
    for name, d in dirs.items():
        for h in glob.glob(os.path.join(d, "*.h")):
            base = os.path.basename(h)
            if base in owner:
                errors.append(f"{base}: in {owner[base]}/ and {name}/ (header names are unique)")
            owner[base] = name
    links = {}
    for name, d in dirs.items():
        cm = os.path.join(d, "CMakeLists.txt")
        text, links[name] = cmake_links(cm)
        links[name].discard(LIBS.get(name))
        rel = os.path.relpath(cm, root)
        if re.search(r"file\s*\(\s*GLOB", text):
            errors.append(f"{rel}: sources from file(GLOB); list them")
        for c in sorted(glob.glob(os.path.join(d, "*.c"))):
            if not re.search(r"(^|\s)" + re.escape(os.path.basename(c)) + r"(\s|\))", text):
                errors.append(f"{rel}: {os.path.basename(c)} is in no source list")
    by_lib = {lib: name for name, lib in LIBS.items()}

    def reach(name):
        seen, todo = set(), [name]
        while todo:
            for lib in links.get(todo.pop(), ()):
                f = by_lib[lib]
                if f not in seen:
                    seen.add(f)
                    todo.append(f)
        return seen

    # The include graph between folders.
    edges = {name: set() for name in dirs}
    for name, d in dirs.items():
        linked = reach(name)
        for src in sorted(glob.glob(os.path.join(d, "*.[ch]"))):
            rel = os.path.relpath(src, root)
            for inc in INCLUDE.findall(open(src, errors="replace").read()):
                target = owner.get(os.path.basename(inc))
                if target is None:
                    errors.append(f'{rel}: #include "{inc}" is in no source folder')
                    continue
                if target == name:
                    continue
                edges[name].add(target)
                where = f'{rel}: #include "{inc}" ({target}/)'
                if name == "certstore":
                    errors.append(f"{where}: certstore includes nothing of proxy")
                if INTERNAL.search(os.path.basename(inc)):
                    errors.append(f"{where}: internal to {target}/")
                if target not in linked:
                    errors.append(f"{where}: {name}/ does not link {LIBS[target]}")

    # Cycles (depth-first search; each cycle reported once by its smallest member).
    cycles = set()

    def visit(n, path):
        for m in edges.get(n, ()):
            if m in path:
                cyc = path[path.index(m):]
                k = cyc.index(min(cyc))
                cycles.add(tuple(cyc[k:] + cyc[:k]))
            elif len(path) < len(edges):
                visit(m, path + [m])

    for n in edges:
        visit(n, [n])
    for cyc in sorted(cycles):
        errors.append("include cycle between folders: " + " -> ".join(cyc + (cyc[0],)))
    # ARCHITECTURE.md names every folder and every file in it.
    arch_path = os.path.join(root, "ARCHITECTURE.md")
    arch = open(arch_path).read() if os.path.exists(arch_path) else ""
    if not arch:
        errors.append("ARCHITECTURE.md: missing")
    for name, d in dirs.items():
        rel = os.path.relpath(d, root)
        if arch and f"{rel}/" not in arch:
            errors.append(f"ARCHITECTURE.md: does not name {rel}/")
        for src in sorted(glob.glob(os.path.join(d, "*.[ch]"))):
            if arch and f"`{os.path.basename(src)}`" not in arch:
                errors.append(f"ARCHITECTURE.md: does not describe {os.path.relpath(src, root)}")
    errors += check_certstore(root)
    return errors, edges


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(
        "TWOFOLD_SRC", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    errors, edges = check(os.path.abspath(root))
    for n in sorted(edges):
        print(f"{n} -> {', '.join(sorted(edges[n])) or '-'}")
    for e in errors:
        print("FAIL " + e)
    print(f"{len(errors)} layout problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
