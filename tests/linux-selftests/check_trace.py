#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Linux's SGX selftests under `sgxemu run --trace=FILE --trace --summary`.

  check_trace.py SGXEMU OUTDIR      (OUTDIR holds test_sgx and test_encl.elf, run.sh built them)

test_sgx forks a child per test, and each child leaves with _exit.  With a
4 MiB EPC its oversubscribed tests make the reclaimer evict and reload.
The merged trace must be JSON that Python's json module reads as it is, and:

1. every event follows the schema; B/E slices pair up per thread, complete
   events nest; every process and thread is named (trace_check.py);
2. every ioctl the program issued (each line of plain --trace, which the
   preload library's ioctl wrapper prints) is an ioctl event of the same
   thread with the same result, and there are no others;
3. every leaf kind that ran (the summary's leaf table, counted apart from
   the trace) has exactly as many instant events, and the leaves this
   program is known to run are among them;
4. driver faults, AEXs, reclaim batches and ECALLs match the summary; the
   EPC counter stays within the EPC; every child's summary says _exit(0).
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import trace_check as tc  # noqa: E402

# What test_sgx runs on this emulator with a 4 MiB EPC (its 16 tests: build, SGX2, reclaim).
EXPECTED_LEAVES = {
    "ECREATE", "EADD", "EEXTEND", "EINIT", "EREMOVE", "EPA", "EBLOCK", "ETRACK", "EWB", "ELDU",
    "EAUG", "EMODPR", "EMODT", "EENTER", "ERESUME", "EEXIT", "EACCEPT",
}


def main():
    sgxemu, out = sys.argv[1], sys.argv[2]
    trace = os.path.join(out, "test_sgx.trace.json")
    if os.path.exists(trace):
        os.unlink(trace)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    r = subprocess.run([sgxemu, "run", "--epc-size=4M", "--trace", "--trace=" + trace, "--summary", "--",
                        "./test_sgx"], cwd=out, capture_output=True, text=True, env=env, timeout=300)
    with open(os.path.join(out, "test_sgx.trace.log"), "w") as f:
        f.write(r.stdout + r.stderr)
    if r.returncode != 0 or "# PASSED: 16 / 16" not in r.stdout:
        tc.fail(f"test_sgx under sgxemu run: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")

    # 1. JSON and schema.
    events = tc.load_object(trace)
    got = tc.check_events(events)
    kinds = got["kinds"]

    # 2. Every ioctl of the program, by thread and result.
    lines = tc.text_lines(r.stderr)
    text = tc.ioctls_of_text(lines)
    traced = tc.ioctls_of_events(events)
    if not text:
        tc.fail("plain --trace printed no ioctl")
    if text != traced:
        tc.fail(f"ioctls differ: only in --trace {text - traced}, only in the trace file {traced - text}")

    # 3. Every leaf kind that ran, as often as it ran.
    block, leaves = tc.summary_leaves(r.stderr)
    traced_leaves = {name: n for (kind, name), n in kinds.items() if kind == "leaf"}
    if leaves != traced_leaves:
        tc.fail(f"leaves: summary {leaves}, trace {traced_leaves}")
    missing = EXPECTED_LEAVES - set(traced_leaves)
    if missing:
        tc.fail(f"leaves test_sgx runs are not in the trace: {sorted(missing)}")

    # 4. The rest against the summary's total.
    procs = tc.summary_number(block, r"^(\d+) processes in all")
    if len(got["pids"]) != procs or procs < 16:
        tc.fail(f"{len(got['pids'])} processes in the trace, {procs} in the summary")
    if r.stderr.count("; end: _exit(0)\n") != procs:
        tc.fail("not every process's summary says it left with _exit(0)")
    checks = [
        (("X", "page fault"), r"faults\s+(\d+) handled by the driver"),
        (("B", "AEX"), r"AEXs\s+(\d+):"),
        (("X", "reclaim batch"), r"reclaim\s+(\d+) batches"),
    ]
    for key, pattern in checks:
        if kinds[key] != tc.summary_number(block, pattern):
            tc.fail(f"{key}: {kinds[key]} in the trace, summary: {tc.summary_number(block, pattern)}")
    if kinds[("X", "reclaim batch")] == 0 or leaves.get("ELDU", 0) == 0:
        tc.fail("no reclaim with a 4 MiB EPC")
    eenter_ok = sum(1 for e in events if e["ph"] == "i" and e["name"] == "EENTER" and e["args"]["result"] == "OK")
    if kinds[("B", "ECALL")] != eenter_ok:
        tc.fail(f"{kinds[('B', 'ECALL')]} ECALL slices for {eenter_ok} successful EENTERs")
    epc = [e["args"]["pages in use"] for e in events if e["ph"] == "C" and e["name"] == "EPC"]
    peak = tc.summary_number(block, r"EPC\s+(\d+) of 1024 pages")
    if not epc or max(epc) != peak or peak > 1024:
        tc.fail(f"EPC counter: max {max(epc) if epc else None}, summary peak {peak}")
    print(f"trace of test_sgx: {len(events)} events of {procs} processes, {len(text)} distinct ioctls, "
          f"{len(traced_leaves)} leaf kinds, {got['unclosed']} slices left open: ok")


if __name__ == "__main__":
    try:
        main()
    except tc.TraceError as e:
        print(f"FAIL: {e}")
        sys.exit(1)
