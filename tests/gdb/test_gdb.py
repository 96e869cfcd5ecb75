#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gdb on a program that runs an enclave, with tools/gdb/sgxemu.py (docs/debugging.md).

Each scenario runs `gdb -batch -nx -x COMMANDS --args gdb-host ... gdb_enclave.elf`
and checks gdb's transcript.  gdb-host loads the enclave with the SDK's loader,
calls compute({4, 6}) = scale(4, 3) + scale(6, 5) = 13 + 31 = 44 and destroys
it, twice.

  control    without the script gdb stops at the first ENCLU trap (what the
             script is for)
  debug      a DEBUG enclave from a file: break scale, bt, print the arguments,
             next, print a local, finish (the value returned), the second call,
             symbols removed at destroy and loaded again for the second enclave,
             the program exits normally
  non-debug  no symbols by default (a message says so); `set sgxemu non-debug
             on` and a second run: the breakpoint is hit
  memory     an image from memory: a message; `sgxemu add-symbol-file FILE
             $sgxemu_base`, then the breakpoint is hit
  late       the script sourced while the enclave is loaded: it reads the
             loader's list
  crash      a genuine SIGSEGV of host code: gdb does not stop, the program
             dies of it as without gdb

Exit status: 0 passed, 1 failed, 77 skipped (no gdb, no Python in it, ptrace
not permitted, no hardware breakpoints), with the reason.
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

SKIP = 77
failures = []


def fail(scenario, msg, transcript):
    failures.append(scenario)
    print(f"FAIL {scenario}: {msg}\n--- gdb's transcript ---\n{transcript}--- end ---", flush=True)


def gdb_run(gdb, commands, args, tmp, timeout=120):
    """gdb's stdout+stderr for the command lines run in batch mode on args."""
    path = os.path.join(tmp, "commands.gdb")
    with open(path, "w") as f:
        f.write("set pagination off\nset width 0\nset confirm off\n" + "\n".join(commands) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGXEMU_")}
    env["LC_ALL"] = "C"
    r = subprocess.run([gdb, "-batch", "-nx", "-x", path, "--args"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=timeout, env=env)
    return r.stdout


def expect(scenario, out, checks):
    """checks: [(description, regex that must match, or (regex, count))]; the first miss fails."""
    for what, rx in checks:
        if isinstance(rx, tuple):
            rx, n = rx
            got = len(re.findall(rx, out, re.M))
            if got != n:
                fail(scenario, f"{what}: {rx!r} found {got} times, not {n}", out)
                return
        elif not re.search(rx, out, re.M):
            fail(scenario, f"{what}: no match for {rx!r}", out)
            return
    print(f"ok {scenario}", flush=True)


def no_stop(scenario, out):
    """gdb never stopped for a signal."""
    m = re.search(r"^(Program|Thread .*) received signal .*$", out, re.M)
    if m:
        fail(scenario, f"gdb stopped for a signal: {m.group(0)}", out)
        return False
    return True


def probe(gdb, host, tmp):
    """None when gdb can debug here with hardware breakpoints, else why not."""
    r = subprocess.run([gdb, "-batch", "-nx", "-ex", "python print('python ' + 'works')"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    if "python works" not in r.stdout:
        return f"this gdb has no Python: {r.stdout.strip()}"
    out = gdb_run(gdb, ["starti", "hbreak main", "continue", "kill"], [host], tmp, timeout=60)
    if re.search(r"ptrace: |Operation not permitted|Could not trace|not permitted", out):
        return "gdb may not trace processes here (ptrace): " + out.strip().splitlines()[-1]
    if not re.search(r"^(?:Thread .* hit )?Breakpoint 1, (0x[0-9a-f]+ in )?main ", out, re.M):
        return "gdb could not stop at a hardware breakpoint in host code: " + " | ".join(out.strip().splitlines()[-3:])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--enclave", required=True)
    a = ap.parse_args()
    gdb = shutil.which("gdb")
    if not gdb:
        print("SKIP: gdb is not installed (Debian: apt-get install gdb)")
        return SKIP
    script, host, enclave = (os.path.abspath(p) for p in (a.script, a.host, a.enclave))
    tmp = tempfile.mkdtemp(prefix="sgxemu-gdb-")
    try:
        why = probe(gdb, host, tmp)
        if why:
            print("SKIP: " + why)
            return SKIP
        kick = f"SIG{signal.SIGRTMAX - 1}"
        source = f"source {script}"
        exited = r"^\[Inferior 1 \(process \d+\) exited normally\]"
        at = r" at .*gdb_enclave\.c:\d+"  # a frame's source position
        compute = r"compute \(untrusted=0x[0-9a-f]+, len=16\)"
        handle = f"handle SIGSEGV SIGILL SIGBUS SIGSYS {kick} nostop noprint pass"

        # control: the problem the script solves.
        out = gdb_run(gdb, ["run"], [host, enclave], tmp)
        expect("control", out, [
            ("gdb stops at the first ENCLU trap", r"^(?:Program|Thread .*) received signal (SIGSEGV|SIGILL|SIGBUS)"),
        ])

        # debug: the recipe of docs/debugging.md.
        out = gdb_run(gdb, [
            "set breakpoint pending on", source, "break scale", "run",
            "bt", "print v", "print factor", "next", "print scaled", "finish",
            "continue", "bt 1", "sgxemu enclaves",
            "continue", "bt 2", "delete", "continue",
        ], [host, enclave], tmp)
        if no_stop("debug", out):
            expect("debug", out, [
                ("the signals are set", rf"^sgxemu: SIGSEGV SIGILL SIGBUS SIGSYS {kick} pass to the program"),
                ("symbols loaded at the first load",
                 rf"^sgxemu: enclave {re.escape(enclave)} at 0x[0-9a-f]+: symbols loaded"),
                ("the breakpoint is hit in the enclave", r"^(?:Thread .* hit )?Breakpoint 1, scale \(v=4, factor=3\)" + at),
                ("bt: frame 0", r"^#0  scale \(v=4, factor=3\)" + at),
                ("bt: frame 1 is compute", r"^#1  0x[0-9a-f]+ in " + compute + at),
                ("print v", r"^\$1 = 4$"),
                ("print factor", r"^\$2 = 3$"),
                ("next, then the local", r"^\$3 = 12$"),
                ("finish returns to compute", r"^0x[0-9a-f]+ in " + compute + at),
                ("finish: the value returned", r"^Value returned is \$4 = 13$"),
                ("the second call", r"^(?:Thread .* hit )?Breakpoint 1, scale \(v=6, factor=5\)"),
                ("sgxemu enclaves", rf"^0x[0-9a-f]{{16}} size 0x[0-9a-f]+ debug symbols {re.escape(enclave)}$"),
                ("symbols removed at destroy",
                 (r"^sgxemu: enclave .* symbols removed \(the enclave is going away\)", 2)),
                ("symbols loaded again for the second enclave", (r"^sgxemu: enclave .*: symbols loaded$", 2)),
                ("the breakpoint in the second enclave", (r"^(?:Thread .* hit )?Breakpoint 1, scale \(v=4, factor=3\)", 2)),
                ("the ECALL's result, twice", (r"^compute returned 44$", 2)),
                ("the program exits normally", exited),
            ])

        # non-debug: no symbols by default, all with the setting.
        out = gdb_run(gdb, [
            "set breakpoint pending on", source, "break scale", "run",
            "set sgxemu non-debug on", "run", "bt 1", "delete", "continue",
        ], [host, "--non-debug", enclave], tmp)
        if no_stop("non-debug", out):
            expect("non-debug", out, [
                ("a message instead of symbols",
                 r"^sgxemu: enclave .*gdb_enclave\.elf at 0x[0-9a-f]+ is not a DEBUG enclave: symbols not loaded"),
                ("the first run does not stop", r"^compute returned 44$"),
                ("the setting loads them", r"^(?:Thread .* hit )?Breakpoint 1, scale \(v=4, factor=3\)"),
                ("in the enclave's frame", r"^#0  scale \(v=4, factor=3\)" + at),
                ("both runs end normally", (exited, 2)),
            ])

        # memory: no file to read; the user names it.
        out = gdb_run(gdb, [
            "set breakpoint pending on", source, "break sdk_enclave_ecall", "run",
            f"sgxemu add-symbol-file {enclave} $sgxemu_base", "delete", "break scale", "continue",
            "bt 1", "print factor", "delete", "continue",
        ], [host, "--memory", enclave], tmp)
        if no_stop("memory", out):
            expect("memory", out, [
                ("a message instead of symbols", r"^sgxemu: enclave at 0x[0-9a-f]+ was loaded from memory: no file"),
                ("the command loads them",
                 rf"^sgxemu: enclave {re.escape(enclave)} at 0x[0-9a-f]+: symbols loaded"),
                ("the breakpoint is hit", r"^(?:Thread .* hit )?Breakpoint 2, scale \(v=4, factor=3\)"),
                ("print factor", r"^\$1 = 3$"),
                ("the program exits normally", exited),
            ])

        # late: sourced while the enclave is loaded, the script reads the loader's list.
        out = gdb_run(gdb, [
            "set breakpoint pending on", handle,
            "break sdk_enclave_ecall", "run", source, "delete", "break scale", "continue",
            "bt 1", "delete", "continue",
        ], [host, enclave], tmp)
        if no_stop("late", out):
            expect("late", out, [
                ("symbols of the listed enclave",
                 r"^sgxemu: enclave .*gdb_enclave\.elf at 0x[0-9a-f]+: symbols loaded"),
                ("the breakpoint is hit", r"^(?:Thread .* hit )?Breakpoint 2, scale \(v=4, factor=3\)"),
                ("the program exits normally", exited),
            ])

        # crash: a genuine SIGSEGV of host code meets the program's disposition (SIG_DFL: it dies).
        out = gdb_run(gdb, [source, "run"], [host, "--crash", enclave], tmp)
        if no_stop("crash", out):
            expect("crash", out, [
                ("the enclave ran", (r"^compute returned 44$", 2)),
                ("the program dies of the signal", r"^Program terminated with signal SIGSEGV"),
            ])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} scenario(s) failed: {', '.join(failures)}")
        return 1
    print("gdb: every scenario passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
