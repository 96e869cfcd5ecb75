#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write sgxemu(1) from man/sgxemu.1.in and the built CLI's own help texts.

  gen_man.py SGXEMU TEMPLATE OUTPUT DOCDIR LIBDIR

The COMMANDS section gets one subsection per command that `sgxemu --help`
lists, made from `sgxemu COMMAND --help` (synopsis, text, options), and the
OPTIONS section the options of `sgxemu --help`, so the page cannot drift
from the program.  tests/install checks the installed page against the CLI.
"""
import os
import re
import subprocess
import sys


def run(exe, *args):
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    return subprocess.run([exe, *args], check=True, capture_output=True, text=True, env=env).stdout


def esc(text):
    """roff text: backslashes and hyphens escaped, `code` in bold."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)


def line(text):
    """One roff input line (a leading dot or quote would be a request)."""
    return "\\&" + text if text[:1] in (".", "'") else text


def option_term(opt):
    """'-f, --force' -> bold option names, the rest (arguments) in italics."""
    out = []
    for part in re.split(r"(--?[A-Za-z0-9][A-Za-z0-9-]*)", opt):
        if re.fullmatch(r"--?[A-Za-z0-9][A-Za-z0-9-]*", part):
            out.append("\\fB" + esc(part) + "\\fR")
        elif part:
            out.append(re.sub(r"([A-Z][A-Z0-9_.]*[A-Z0-9])", r"\\fI\1\\fR", esc(part)))
    return "".join(out)


OPTION = re.compile(r"^  (-\S.*?)(?:\s{2,}(\S.*))?$")


def body(lines):
    """roff for the text of a --help after its synopsis."""
    out = []
    mode = None  # None, 'text', 'literal', 'option'
    for raw in lines + [""]:
        if not raw.strip():
            if mode == "literal":
                out += [".fi", ".RE"]
            mode = None
            continue
        m = OPTION.match(raw)
        if m:
            if mode == "literal":
                out += [".fi", ".RE"]
            out += [".TP", option_term(m.group(1))]
            if m.group(2):
                out.append(line(esc(m.group(2))))
            mode = "option"
        elif mode == "option" and raw.startswith("    "):
            out.append(line(esc(raw.strip())))
        elif raw.startswith("  "):
            if mode != "literal":
                out += [".RS", ".nf"]
            out.append(line(esc(raw[2:])))
            mode = "literal"
        else:
            if mode == "literal":
                out += [".fi", ".RE"]
            if mode != "text":
                out.append(".PP")
            out.append(line(esc(raw)))
            mode = "text"
    return out


def section(lines, title):
    """The lines of a 'Title:' block of the top-level help, up to a blank line."""
    i = lines.index(title) + 1
    block = []
    while i < len(lines) and lines[i].strip():
        block.append(lines[i])
        i += 1
    return block


def main():
    exe, template, output, docdir, libdir, gdbscript = sys.argv[1:7]
    top = run(exe, "--help").splitlines()
    version = run(exe, "--version").split()[-1]
    commands = []
    for entry in section(top, "Commands:"):
        name, summary = entry.split(None, 1)
        commands.append((name, summary.strip()))

    cmd_roff = []
    for name, summary in commands:
        text = run(exe, name, "--help").splitlines()
        if not text or not text[0].startswith("usage: "):
            sys.exit(f"gen_man.py: 'sgxemu {name} --help' does not start with 'usage: '")
        synopsis = [text[0][len("usage: "):]]
        i = 1
        while i < len(text) and text[i].startswith("       sgxemu "):
            synopsis.append(text[i].strip())
            i += 1
        cmd_roff += [f'.SS "{name}"', line(esc(summary[0].upper() + summary[1:] + ".")), ".PP", ".nf"]
        for s in synopsis:
            words = s.split(" ", 2)
            rest = " " + esc(words[2]) if len(words) > 2 else ""
            cmd_roff.append(f"\\fB{esc(words[0])} {esc(words[1])}\\fR{rest}")
        cmd_roff.append(".fi")
        cmd_roff += body(text[i:])

    opt_roff = body(section(top, "Options:"))

    page = open(template, encoding="utf-8").read()
    for key, value in (("@COMMANDS@", "\n".join(cmd_roff)), ("@OPTIONS@", "\n".join(opt_roff)),
                       ("@VERSION@", version), ("@DOCDIR@", esc(docdir)), ("@LIBDIR@", esc(libdir)),
                       ("@GDBSCRIPT@", esc(gdbscript))):
        page = page.replace(key, value)
    if re.search(r"@[A-Z]+@", page):
        sys.exit("gen_man.py: a placeholder of the template was left unfilled")
    with open(output, "w", encoding="utf-8") as f:
        f.write(page)


if __name__ == "__main__":
    main()
