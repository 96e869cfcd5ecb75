#!/usr/bin/env python3
# Every Criterion test must have a timeout (its own or its suite's), so that a
# hang fails in seconds under its own name instead of at meson's limit.
# Usage: check_timeouts.py DIR...  Prints each test without one; exit 1 if any.
import pathlib
import re
import sys

missing = []
count = 0
for top in sys.argv[1:]:
    for path in sorted(pathlib.Path(top).rglob("*.c")):
        text = path.read_text(errors="replace")
        suites = {}
        for m in re.finditer(r"^TestSuite\(\s*(\w+)\s*(.*?)\);", text, re.M | re.S):
            suites[m.group(1)] = ".timeout" in m.group(2)
        for m in re.finditer(r"^\s*Test\(\s*(\w+)\s*,\s*([\w#]+)(.*?)\)[\s\\]*$", text, re.M):
            count += 1
            suite, name, rest = m.groups()
            if ".timeout" not in rest and not suites.get(suite, False):
                line = text.count("\n", 0, m.start()) + 1
                missing.append(f"{path}:{line}: {suite}::{name} has no timeout")
for line in missing:
    print(line)
print(f"{count} tests, {len(missing)} without a timeout")
sys.exit(1 if missing or count == 0 else 0)
