#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# bench/rounds.py: medians and ranges of result lines, targets, its errors, and rounds of (stand-in) benchmarks.
# Usage: test_rounds.py ROUNDS_PY
import os
import stat
import subprocess
import sys
import tempfile

ROUNDS = sys.argv[1]
failures = []


def rounds(args, stdin=""):
    p = subprocess.run([sys.executable, ROUNDS] + args, input=stdin, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def check(cond, what, detail=""):
    if not cond:
        failures.append(f"{what}\n{detail}")


LINES = """\
some other line
result ecall value=3.0 floor=2.5 ratio=1.2
result augment value=4.4 floor=4.0 ratio=1.1
result foo value=1 floor=1 ratio=1
result ecall value=3.5 floor=2.5 ratio=1.4
result augment value=3.6 floor=4.0 ratio=0.9
result ecall value=3.1 floor=2.48 ratio=1.25
"""

status, out, err = rounds(["--summarize"], LINES)
want = (
    "ecall: ratio 1.250 (1.200-1.400, 3 rounds), value 3.1 / floor 2.5, target <= 1.3: met\n"
    "augment: ratio 1.000 (0.900-1.100, 2 rounds), value 4 / floor 4, target <= 1: met\n"
    "foo: ratio 1.000 (1.000-1.000, 1 rounds), value 1 / floor 1, no target\n"
)
check(status == 0 and out == want, "summary of stdin", f"status {status}\n{out}{err}")

status, out, err = rounds(["--summarize"], "result paging value=9 floor=3 ratio=3\n")
check(status == 0 and out.endswith("target <= 2: not met\n"), "a target not met", out + err)

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "r.txt")
    with open(path, "w") as f:
        f.write(LINES)
    status, out, err = rounds(["--summarize", path])
    check(status == 0 and out == want, "summary of a file", out + err)

    status, out, err = rounds(["--summarize"], "ok\nresult ecall value=x floor=1 ratio=1\n")
    check(status == 2 and "<stdin>:2: not a result line" in err and not out, "a malformed result line", err)
    status, out, err = rounds(["--summarize"], "nothing here\n")
    check(status == 2 and "no result lines" in err, "no result lines", err)
    status, out, err = rounds(["--summarize", os.path.join(d, "missing")])
    check(status == 2 and "missing: No such file or directory" in err, "a missing file", err)
    status, out, err = rounds(["-n", "0"])
    check(status == 2 and "-n takes" in err, "zero rounds", err)

    # Stand-in benchmarks: each prints one result line whose ratio grows with the round (a counter file).
    bench = os.path.join(d, "b", "bench")
    os.makedirs(bench)
    names = {"bench_enter": "ecall", "bench_ocall": "ocall", "bench_native": "eaug_fault",
             "bench_build": "build_1g", "bench_paging": "paging"}
    for prog, name in names.items():
        script = os.path.join(bench, prog)
        with open(script, "w") as f:
            f.write("#!/bin/sh\n"
                    f"n=$(cat {d}/{prog}.n 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {d}/{prog}.n\n"
                    "echo 'a figure'\n"
                    f"echo \"result {name} value=$n floor=1 ratio=$n\"\n")
        os.chmod(script, os.stat(script).st_mode | stat.S_IXUSR)
    status, out, err = rounds(["-n", "3", os.path.join(d, "b")])
    check(status == 0 and "ecall: ratio 2.000 (1.000-3.000, 3 rounds), value 2 / floor 1, target <= 1.3: not met\n"
          in out and out.count("3 rounds") == 5 and "round 3/3: bench_paging" in err, "three rounds", out + err)

    # A benchmark that fails stops the rounds with its output and status 1.
    with open(os.path.join(bench, "bench_native"), "w") as f:
        f.write("#!/bin/sh\necho 'bench_native: no enclave' >&2\nexit 3\n")
    status, out, err = rounds(["-n", "2", os.path.join(d, "b")])
    check(status == 1 and "bench_native: no enclave" in err and "bench_native exited with status 3 in round 1"
          in err and not out, "a failing benchmark", err)

    status, out, err = rounds([os.path.join(d, "nowhere")])
    check(status == 2 and "not built" in err, "a build directory without benchmarks", err)

for f in failures:
    print("FAIL:", f)
print(f"{'ok' if not failures else 'FAILED'}: bench/rounds.py")
sys.exit(1 if failures else 0)
