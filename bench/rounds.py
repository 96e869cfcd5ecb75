#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Rounds of the benchmarks that have targets, and the medians of their
`result` lines (docs/bench.md, "Targets and `result` lines").

Usage:
  bench/rounds.py [-n ROUNDS] [BUILDDIR]   run ROUNDS rounds (default 5) of
        bench_enter, bench_ocall, bench_native, bench_build and bench_paging
        from BUILDDIR/bench (default: build), one after the other, then
        summarize their result lines
  bench/rounds.py --summarize [FILE]       summarize the result lines of FILE
        (default: standard input); other lines are ignored

For each target: the median ratio with the range over the rounds, the
medians of value and floor, and whether the median meets the target.
Exit status: 0, 1 if a benchmark failed, 2 for a usage error or a malformed
result line.
"""
import re
import statistics
import subprocess
import sys
from pathlib import Path

# The targets of the performance work (docs/bench.md): ratio <= target.
TARGETS = {
    "ecall": 1.3,
    "ocall": 1.3,
    "eaug_fault": 1.5,
    "augment": 1.0,
    "build_1g": 1.5,
    "build_linearity": 1.15,
    "paging": 2.0,
}
BENCHES = ["bench_enter", "bench_ocall", "bench_native", "bench_build", "bench_paging"]
RESULT = re.compile(r"^result (\S+) value=(\S+) floor=(\S+) ratio=(\S+)$")


def fail(status, message):
    print(f"rounds.py: {message}", file=sys.stderr)
    sys.exit(status)


def parse(lines, source):
    """The result lines of lines, as {name: [(value, floor, ratio), ...]} in order of appearance."""
    found = {}
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        if not line.startswith("result "):
            continue
        m = RESULT.match(line)
        try:
            if not m:
                raise ValueError
            figures = tuple(float(x) for x in m.group(2, 3, 4))
        except ValueError:
            fail(2, f"{source}:{number}: not a result line: {line!r} "
                    "(expected 'result NAME value=V floor=F ratio=R')")
        found.setdefault(m.group(1), []).append(figures)
    return found


def summarize(found):
    if not found:
        fail(2, "no result lines")
    names = [n for n in TARGETS if n in found] + sorted(n for n in found if n not in TARGETS)
    for name in names:
        rows = found[name]
        ratios = sorted(r[2] for r in rows)
        ratio = statistics.median(ratios)
        value = statistics.median(r[0] for r in rows)
        floor = statistics.median(r[1] for r in rows)
        target = TARGETS.get(name)
        verdict = "no target" if target is None else \
            f"target <= {target:g}: {'met' if ratio <= target else 'not met'}"
        print(f"{name}: ratio {ratio:.3f} ({ratios[0]:.3f}-{ratios[-1]:.3f}, {len(rows)} rounds), "
              f"value {value:.4g} / floor {floor:.4g}, {verdict}")


def run(rounds, builddir):
    bench = Path(builddir) / "bench"
    for b in BENCHES:
        if not (bench / b).is_file():
            fail(2, f"{bench / b}: not built (ninja -C {builddir})")
    lines = []
    for r in range(1, rounds + 1):
        for b in BENCHES:
            print(f"round {r}/{rounds}: {b}", file=sys.stderr)
            p = subprocess.run([str(bench / b)], capture_output=True, text=True)
            if p.returncode != 0:
                sys.stderr.write(p.stdout + p.stderr)
                fail(1, f"{b} exited with status {p.returncode} in round {r}")
            lines += p.stdout.splitlines()
    return lines


def main(argv):
    if argv[:1] == ["--summarize"]:
        if len(argv) > 2:
            fail(2, "--summarize takes at most one FILE")
        if len(argv) == 2:
            try:
                with open(argv[1]) as f:
                    summarize(parse(f, argv[1]))
            except OSError as e:
                fail(2, f"{argv[1]}: {e.strerror}")
        else:
            summarize(parse(sys.stdin, "<stdin>"))
        return 0
    rounds, rest = 5, argv
    if rest[:1] == ["-n"]:
        if len(rest) < 2 or not rest[1].isdigit() or int(rest[1]) < 1:
            fail(2, "-n takes a number of rounds >= 1")
        rounds, rest = int(rest[1]), rest[2:]
    if len(rest) > 1 or (rest and rest[0].startswith("-")):
        fail(2, "usage: rounds.py [-n ROUNDS] [BUILDDIR] | rounds.py --summarize [FILE]")
    summarize(parse(run(rounds, rest[0] if rest else "build"), "the benchmarks' output"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
