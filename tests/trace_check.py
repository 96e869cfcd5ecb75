# SPDX-License-Identifier: MIT
"""Checks of sgxemu's trace files (docs/preload.md "--trace=FILE").

Shared by tests/preload/test_trace.py and tests/linux-selftests/check_trace.py:
loading a trace with Python's json module (strictly: no repair), the
schema of every event, the pairing of B/E slices and the nesting of
complete events per thread, the names of processes and threads, the
decoded outcomes of leaves; and the text lines of plain --trace.
"""
import collections
import json
import re

PHASES = {"B", "E", "X", "i", "C", "M"}
# An outcome: OK, an SGX code name, or an exception ("#PF" and its error code's bits).
RESULT = re.compile(r"^(OK|SGX_[A-Z_]+|#(DE|DB|BP|BR|UD|GP|PF|MF|AC|XM|CP)|exception)$")
PF_BITS = re.compile(r"^(0|(P|W|U|RSVD|I|PK|SS|SGX)(\|(P|W|U|RSVD|I|PK|SS|SGX))*)$")
HEX = re.compile(r"^0x[0-9a-f]+$")
# A line of plain --trace: "sgxemu: [SECONDS.MICROSECONDS TID] what".
TEXT_LINE = re.compile(r"^sgxemu: \[(\d+)\.(\d{6}) (\d+)\] (.*)$")
TEXT_IOCTL = re.compile(r"^ioctl\((\d+), (SGX_IOC_[A-Z_]+)[,)].* = (-?\d+) errno (\d+)")


class TraceError(AssertionError):
    pass


def fail(msg):
    raise TraceError(msg)


def load_object(path):
    """A trace of `sgxemu run --trace=FILE`: {"otherData": ..., "traceEvents": [...]}."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        fail(f"{path}: not an object with a traceEvents array")
    return data["traceEvents"]


def load_array(path):
    """A process's own trace (SGXEMU_TRACE_FILE): a JSON array of events."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, list):
        fail(f"{path}: not a JSON array")
    return data


def check_event(e):
    if not isinstance(e, dict):
        fail(f"not an object: {e!r}")
    for key, kind in (("name", str), ("ph", str), ("pid", int), ("tid", int)):
        if not isinstance(e.get(key), kind):
            fail(f"{key} missing or not {kind.__name__}: {e}")
    if e["ph"] not in PHASES:
        fail(f"unknown phase: {e}")
    if not isinstance(e.get("ts"), (int, float)) or e["ts"] < 0:
        fail(f"ts missing or negative: {e}")
    args = e.get("args", {})
    if not isinstance(args, dict):
        fail(f"args not an object: {e}")
    ph = e["ph"]
    if ph == "X" and (not isinstance(e.get("dur"), (int, float)) or e["dur"] < 0):
        fail(f"complete event without a duration: {e}")
    if ph == "i" and e.get("s") not in ("t", "p", "g"):
        fail(f"instant event without a scope: {e}")
    if ph == "C" and (not args or not all(isinstance(v, (int, float)) for v in args.values())):
        fail(f"counter without numbers: {e}")
    if ph == "M":
        if e["name"] not in ("process_name", "thread_name") or not isinstance(args.get("name"), str) \
                or not args["name"]:
            fail(f"metadata without a name: {e}")
    if ph == "i" and e.get("cat") in ("encls", "enclu"):
        if not RESULT.match(str(args.get("result", ""))):
            fail(f"leaf without an outcome: {e}")
        if args["result"] == "#PF" and (not PF_BITS.match(args.get("error", "")) or
                                        not HEX.match(args.get("addr", ""))):
            fail(f"#PF without decoded error code and address: {e}")
        if not isinstance(args.get("us"), (int, float)):
            fail(f"leaf without its time: {e}")
    for k, v in args.items():
        if isinstance(v, str) and v.startswith("0x") and not HEX.match(v):
            fail(f"bad hex value {k}={v}: {e}")


def check_events(events):
    """Schema, names, slices; returns a summary: counts by kind, unclosed slices, pids, tids."""
    if not events:
        fail("no events")
    for e in events:
        check_event(e)
    named_pids = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    named_tids = {(e["pid"], e["tid"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    threads = collections.defaultdict(list)
    for e in events:
        if e["ph"] != "M":
            threads[(e["pid"], e["tid"])].append(e)
    for pid in {e["pid"] for e in events}:
        if pid not in named_pids:
            fail(f"process {pid} has no process_name")
    unclosed = 0
    for key, evs in threads.items():
        if key not in named_tids and any(e["ph"] != "C" for e in evs):
            fail(f"thread {key} has events but no thread_name")
        # B/E: a stack per thread, E closes the innermost B of the same name, in the order of their
        # times (as viewers take them; equal times keep the file's order, which is the thread's).
        stack = []
        for e in sorted(evs, key=lambda e: e["ts"]):
            if e["ph"] == "B":
                stack.append(e)
            elif e["ph"] == "E":
                if not stack or stack[-1]["name"] != e["name"]:
                    fail(f"thread {key}: E without its B: {e} (open: {[b['name'] for b in stack]})")
                b = stack.pop()
                if e["ts"] < b["ts"]:
                    fail(f"thread {key}: slice ends before it begins: {b} {e}")
        unclosed += len(stack)
        # Complete events nest (Perfetto and chrome://tracing require it): sorted by start, longest first.
        xs = sorted((e for e in evs if e["ph"] == "X"), key=lambda e: (e["ts"], -e["dur"]))
        ends = []
        for e in xs:
            end = e["ts"] + e["dur"]
            while ends and ends[-1][0] <= e["ts"] + 0.0015:
                ends.pop()
            if ends and end > ends[-1][0] + 0.0015:
                fail(f"thread {key}: {e} overlaps {ends[-1][1]} without nesting")
            ends.append((end, e))
    kinds = collections.Counter()
    for e in events:
        if e["ph"] == "i":
            kinds[("leaf", e["name"])] += 1
        elif e["ph"] in "XBC":
            kinds[(e["ph"], e["name"])] += 1
    return {
        "kinds": kinds,
        "unclosed": unclosed,
        "pids": {e["pid"] for e in events},
        "tids": set(threads),
    }


def ioctls_of_events(events):
    """(tid, name, ret) of every ioctl event."""
    return collections.Counter((e["tid"], e["name"], e["args"]["ret"]) for e in events
                               if e["ph"] == "X" and e.get("cat") == "ioctl")


def text_lines(stderr):
    """The lines of plain --trace, each checked to carry its time and thread: [(ts_us, tid, text)]."""
    out = []
    for line in stderr.splitlines():
        if not line.startswith("sgxemu: ["):
            continue
        m = TEXT_LINE.match(line)
        if not m:
            fail(f"trace line without time and thread: {line!r}")
        out.append((int(m.group(1)) * 1000000 + int(m.group(2)), int(m.group(3)), m.group(4)))
    return out


def ioctls_of_text(lines):
    """(tid, name, ret) of every ioctl line of plain --trace."""
    c = collections.Counter()
    for _, tid, text in lines:
        m = TEXT_IOCTL.match(text)
        if m:
            c[(tid, m.group(2), int(m.group(3)))] += 1
    return c


def summary_leaves(stderr):
    """The leaf table of the last summary block (the total when several processes ran): {name: count}."""
    blocks = stderr.split("sgxemu: summary of ")
    if len(blocks) < 2:
        fail("no summary")
    leaves = {}
    for line in blocks[-1].splitlines():
        m = re.match(r"^\s+(ENCLS|ENCLU)\s+([A-Z]+)\s+(\d+)\s+(\d+)\s", line)
        if m:
            leaves[m.group(2)] = int(m.group(3))
    return blocks[-1], leaves


def summary_number(block, pattern):
    m = re.search(pattern, block)
    if not m:
        fail(f"summary lacks /{pattern}/:\n{block}")
    return int(m.group(1))
