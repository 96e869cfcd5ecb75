#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The installed tree, used the way users use it (docs/install.md).

`meson install --destdir` of this build into a temporary directory, then:

- the tree: every file docs/install.md promises, the shared library's
  soname, and its exported symbols equal to the functions the public
  headers declare (nothing internal leaks, nothing public is missing);
- every installed header compiles on its own with the flags pkg-config
  gives (host headers: sgxemu; the runtime's: sgxemu-enclave);
- sgxemu --version, and sgxemu(1): one section per command of
  `sgxemu --help`, each with every option of `sgxemu COMMAND --help`;
- `sgxemu run` finds the preload library from the installed layout;
- docs/tutorial.md and docs/embedding.md: their shell sessions run, in
  order, in an empty directory outside the tree, against the installed
  prefix through pkg-config only, and print what the text shows; the code
  the text shows is the code of the files it builds.

The markdown is the test's source.  An HTML comment before a fenced block
says what the block is:

  <!-- doctest: session -->          "$ command" lines (a trailing backslash
                                      continues one) and the output after
                                      each (stdout and stderr); each command
                                      must exit with 0
  <!-- doctest: file PATH -->        the whole file PATH of the source tree
  <!-- doctest: excerpt PATH -->     consecutive lines of PATH

In expected output a line "..." stands for any number of lines and "..."
inside a line for any text.

Exit status: 0 passed, 1 failed, 77 skipped (with the reason).
"""
import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77

HOST_HEADERS = ["arch.h", "cpuid.h", "enclave.h", "ext.h", "loader.h", "sgxemu.h", "version.h"]
RUNTIME_HEADERS = ["emm.h", "rt.h", "rt_enclu.h"]
DOCS = ["docs/tutorial.md", "docs/embedding.md"]

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def note(msg):
    print(msg, flush=True)


def run(cmd, **kw):
    if "stderr" in kw:
        kw.setdefault("stdout", subprocess.PIPE)
    else:
        kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run(cmd, **kw)


# ---- markdown ----

MARKER = re.compile(r"^<!--\s*doctest:\s*(session|file|excerpt)\s*(\S*)\s*-->\s*$")
FENCE = re.compile(r"^(```+|~~~+)")


def doc_blocks(path):
    """[(kind, arg, lines, line number)] for every marked fenced block, in order."""
    lines = open(path, encoding="utf-8").read().splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if not m:
            i += 1
            continue
        start = i + 1
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        f = FENCE.match(lines[j]) if j < len(lines) else None
        if not f:
            fail(f"{path}:{start}: a doctest marker not followed by a fenced block")
            i += 1
            continue
        k = j + 1
        while k < len(lines) and not lines[k].startswith(f.group(1)):
            k += 1
        blocks.append((m.group(1), m.group(2), lines[j + 1:k], start))
        i = k + 1
    return blocks


def session(lines):
    """[(command, expected output lines)] of a session block."""
    steps = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise ValueError(f"output before the first command: {lines[i]!r}")
        cmd = lines[i][2:]
        while cmd.endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd = cmd[:-1] + "\n" + lines[i]
        i += 1
        out = []
        while i < len(lines) and not lines[i].startswith("$ "):
            out.append(lines[i])
            i += 1
        steps.append((cmd, out))
    return steps


def line_matches(pattern, text):
    if "..." not in pattern:
        return pattern == text
    rx = ".*".join(re.escape(p) for p in pattern.split("..."))
    return re.fullmatch(rx, text) is not None


def output_matches(expected, actual):
    """expected lines (with "..." wildcards) against actual lines."""
    memo = {}

    def m(i, j):
        if (i, j) in memo:
            return memo[(i, j)]
        if i == len(expected):
            r = j == len(actual)
        elif expected[i] == "...":
            r = any(m(i + 1, k) for k in range(j, len(actual) + 1))
        else:
            r = j < len(actual) and line_matches(expected[i], actual[j]) and m(i + 1, j + 1)
        memo[(i, j)] = r
        return r

    return m(0, 0)


def contiguous(part, whole):
    n = len(part)
    return any(whole[k:k + n] == part for k in range(len(whole) - n + 1))


def check_doc(doc, src, env, work):
    path = os.path.join(src, doc)
    blocks = doc_blocks(path)
    if not any(kind == "session" for kind, _, _, _ in blocks):
        fail(f"{doc}: no doctest session")
    os.makedirs(work)
    for kind, arg, lines, lineno in blocks:
        where = f"{doc}:{lineno}"
        if kind in ("file", "excerpt"):
            target = os.path.join(src, arg)
            if not arg or not os.path.isfile(target):
                fail(f"{where}: {arg or '(no path)'}: no such file in the tree")
                continue
            text = open(target, encoding="utf-8").read().splitlines()
            if kind == "file" and lines != text:
                diff = "\n".join(difflib.unified_diff(text, lines, arg, doc, lineterm=""))
                fail(f"{where}: the block is not {arg}:\n{diff}")
            elif kind == "excerpt" and not contiguous(lines, text):
                fail(f"{where}: the block is not a run of lines of {arg}")
            continue
        try:
            steps = session(lines)
        except ValueError as e:
            fail(f"{where}: {e}")
            continue
        for cmd, expected in steps:
            note(f"{doc}: $ {cmd}")
            try:
                r = run(["bash", "-c", cmd], cwd=work, env=env, stderr=subprocess.STDOUT)
            except subprocess.TimeoutExpired:
                fail(f"{where}: `{cmd}` timed out")
                return
            actual = [l.rstrip() for l in r.stdout.splitlines()]
            expected = [l.rstrip() for l in expected]
            if r.returncode != 0:
                fail(f"{where}: `{cmd}` exited with {r.returncode}:\n{r.stdout}")
                return
            if not output_matches(expected, actual):
                diff = "\n".join(difflib.unified_diff(expected, actual, "the text", "the output", lineterm=""))
                fail(f"{where}: `{cmd}` printed other output:\n{diff}")
                return


# ---- the installed tree ----

def public_symbols(headers):
    """Functions and objects the public headers declare (sgxemu_*, sdk_*)."""
    names = set()
    for h in headers:
        text = open(h, encoding="utf-8").read()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        text = re.sub(r"^\s*#.*?(?<!\\)$", "", text, flags=re.M | re.S)
        text = re.sub(r"\bstatic\s+inline\b[^{;]*\{.*?\n\}", "", text, flags=re.S)
        for m in re.finditer(r"(?<![\w])((?:sgxemu|sdk)_\w+)\s*\(", text):
            names.add(m.group(1))
        for m in re.finditer(r"\bextern\s+(?:const\s+)?struct\s+\w+\s+((?:sgxemu|sdk)_\w+)\s*;", text):
            names.add(m.group(1))
    return names


def check_library(lib):
    r = run(["readelf", "-d", lib])
    soname = re.search(r"Library soname: \[(.*?)\]", r.stdout)
    if not soname or not re.fullmatch(r"libsgxemu\.so\.\d+", soname.group(1)):
        fail(f"{lib}: soname {soname.group(1) if soname else None}, not libsgxemu.so.N")
    r = run(["nm", "-D", "--defined-only", lib])
    exported = set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] != "A":
            exported.add(parts[2].split("@")[0])
    return exported


def check_man(page, sgxemu, env):
    text = open(page, encoding="utf-8").read()
    plain = text.replace("\\-", "-").replace("\\e", "\\")
    plain = re.sub(r"\\f[BIRP]", "", plain)
    sections = {}
    current = None
    for line in plain.splitlines():
        m = re.match(r'^\.SS\s+"?([^"]+)"?\s*$', line)
        if m:
            current = m.group(1)
            sections[current] = []
        elif line.startswith(".SH"):
            current = line
            sections[current] = []
        elif current:
            sections[current].append(line)
    top = run([sgxemu, "--help"], env=env).stdout.splitlines()
    cmds = []
    i = top.index("Commands:") + 1
    while i < len(top) and top[i].strip():
        cmds.append(top[i].split()[0])
        i += 1
    subsections = [k for k in sections if not k.startswith(".SH")]
    if sorted(subsections) != sorted(cmds):
        fail(f"sgxemu(1): sections {sorted(subsections)}, but sgxemu --help lists {sorted(cmds)}")
    opt = re.compile(r"(?<![\w-])(--?[A-Za-z0-9][A-Za-z0-9-]*)")
    for c in cmds:
        usage = run([sgxemu, c, "--help"], env=env).stdout.splitlines()
        options = {o for l in usage if re.match(r"^  -", l) for o in opt.findall(l.split("  ")[1])}
        body = "\n".join(sections.get(c, []))
        missing = sorted(o for o in options if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", body))
        if missing:
            fail(f"sgxemu(1): section {c} lacks the options {missing}")
    opts_top = {o for l in top if re.match(r"^  -", l) for o in opt.findall(l.split("  ")[1])}
    body = "\n".join(sections.get(".SH OPTIONS", []))
    missing = sorted(o for o in opts_top if o not in body)
    if missing:
        fail(f"sgxemu(1): OPTIONS lacks {missing}")
    if shutil.which("groff"):
        r = run(["groff", "-man", "-ww", "-z", page])
        if r.returncode or r.stderr.strip():
            fail(f"sgxemu(1): groff warns:\n{r.stderr}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--meson", nargs="*", default=[])
    a = ap.parse_args()
    src, build = os.path.abspath(a.source_root), os.path.abspath(a.build_root)

    if not shutil.which("pkg-config"):
        print("SKIP: pkg-config is not installed: the installed tree is used through it")
        return SKIP
    if not shutil.which("cc"):
        print("SKIP: no cc: the tutorial builds with cc")
        return SKIP
    meson = a.meson or ([shutil.which("meson")] if shutil.which("meson") else [])
    if not meson:
        print("SKIP: meson not found: cannot install the build")
        return SKIP

    info = json.loads(run(meson + ["introspect", build, "--buildoptions"]).stdout)
    opt = {o["name"]: o["value"] for o in info}
    version = json.loads(run(meson + ["introspect", build, "--projectinfo"]).stdout)["version"]

    tmp = tempfile.mkdtemp(prefix="sgxemu-install-")
    try:
        dest = os.path.join(tmp, "dest")
        r = run(meson + ["install", "-C", build, "--destdir", dest, "--no-rebuild", "--quiet"], timeout=300)
        if r.returncode:
            fail(f"meson install failed:\n{r.stdout}{r.stderr}")
            return 1

        def d(*parts):
            p = os.path.join(opt["prefix"], *parts)
            return dest + p

        bindir, libdir, incdir = d(opt["bindir"]), d(opt["libdir"]), d(opt["includedir"], "sgxemu")
        docdir, mandir = d(opt["datadir"], "doc", "sgxemu"), d(opt["mandir"])
        gdbscript = d(opt["datadir"], "sgxemu", "gdb", "sgxemu.py")
        expect = [os.path.join(bindir, "sgxemu"), os.path.join(mandir, "man1", "sgxemu.1"),
                  os.path.join(libdir, "libsgxemu-preload.so"), os.path.join(libdir, "libsgxemu.so"),
                  os.path.join(libdir, "libsgxemu.so." + version.split(".")[0]),
                  os.path.join(libdir, "libsgxemu.so." + version),
                  os.path.join(libdir, "sgxemu", "libsgxemu-enclave.a"),
                  os.path.join(libdir, "sgxemu", "sgxemu-enclave.ld"),
                  os.path.join(libdir, "pkgconfig", "sgxemu.pc"),
                  os.path.join(libdir, "pkgconfig", "sgxemu-enclave.pc"),
                  os.path.join(docdir, "tutorial.md"), os.path.join(docdir, "install.md"),
                  os.path.join(docdir, "debugging.md"), gdbscript]
        expect += [os.path.join(incdir, h) for h in HOST_HEADERS + RUNTIME_HEADERS]
        for f in expect:
            if not os.path.exists(f):
                fail(f"not installed: {os.path.relpath(f, dest)}")
        for root, _, files in os.walk(os.path.join(docdir, "examples")):
            for f in files:
                rel = os.path.relpath(os.path.join(root, f), docdir)
                if open(os.path.join(root, f), "rb").read() != open(os.path.join(src, rel), "rb").read():
                    fail(f"installed {rel} differs from the tree's")
        if failures:
            return 1

        env = {k: v for k, v in os.environ.items() if not k.startswith(("SGXEMU_", "PKG_CONFIG"))}
        env.update(PATH=bindir + os.pathsep + os.environ.get("PATH", ""),
                   PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"),
                   PKG_CONFIG_SYSROOT_DIR=dest,
                   LD_LIBRARY_PATH=libdir + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else ""),
                   LC_ALL="C")

        # The library exports exactly the public API.
        exported = check_library(os.path.join(libdir, "libsgxemu.so"))
        declared = public_symbols([os.path.join(incdir, h) for h in ("sgxemu.h", "loader.h", "ext.h")])
        if exported != declared:
            fail("libsgxemu.so exports other symbols than the public headers declare:"
                 f" not declared {sorted(exported - declared)}, not exported {sorted(declared - exported)}")
        note(f"libsgxemu.so exports {len(exported)} symbols, the public API")

        # Every header compiles on its own with what pkg-config gives.
        for pc, headers in (("sgxemu", HOST_HEADERS), ("sgxemu-enclave", RUNTIME_HEADERS)):
            flags = run(["pkg-config", "--cflags", pc], env=env)
            if flags.returncode:
                fail(f"pkg-config --cflags {pc}: {flags.stderr.strip()}")
                continue
            for h in headers:
                r = run(["bash", "-c", f"cc {flags.stdout.strip()} -Wall -Wextra -Werror -fsyntax-only -x c -"],
                        input=f"#include <sgxemu/{h}>\n", env=env)
                if r.returncode:
                    fail(f"<sgxemu/{h}> does not compile on its own ({pc}):\n{r.stderr}")

        # pkg-config names the gdb script (docs/debugging.md), under the sysroot like every path.
        r = run(["pkg-config", "--variable=gdbscript", "sgxemu"], env=env)
        if r.returncode or os.path.normpath(r.stdout.strip()) != os.path.normpath(gdbscript):
            fail(f"pkg-config --variable=gdbscript sgxemu gave {r.stdout.strip()!r} ({r.stderr.strip()}),"
                 f" not the installed {os.path.relpath(gdbscript, dest)}")

        # The CLI: version, manual, preload library.
        sgxemu = os.path.join(bindir, "sgxemu")
        for flag in ("--version", "-V"):
            out = run([sgxemu, flag], env=env).stdout.strip()
            if out != f"sgxemu {version}":
                fail(f"sgxemu {flag} printed {out!r}, not 'sgxemu {version}'")
        check_man(os.path.join(mandir, "man1", "sgxemu.1"), sgxemu, env)
        r = run([sgxemu, "run", "--", "true"], env=env)
        if r.returncode:
            fail(f"installed `sgxemu run -- true` failed ({r.returncode}):\n{r.stderr}")

        # The documents, as their readers follow them.
        for doc in DOCS:
            check_doc(doc, src, env, os.path.join(tmp, os.path.splitext(os.path.basename(doc))[0]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("installed tree, manual, tutorial and embedding example: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
