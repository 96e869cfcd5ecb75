#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Traces, summaries and EPC maps of programs under `sgxemu run` (docs/preload.md).

  test_trace.py SGXEMU HOST ENCLAVE KEY PRELOAD_LIBRARY

The host program of tests/preload (host.c) runs its scenarios with
--trace=FILE, --trace, --summary and --epc-map, and directly with the
library and SGXEMU_TRACE_FILE.  Every trace is read with Python's json
module as it is and checked with tests/trace_check.py.
"""
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import trace_check as tc  # noqa: E402

SGXEMU, HOST, ENCLAVE, KEY, LIBRARY = sys.argv[1:6]
ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
for name in list(ENV):
    if name.startswith("SGXEMU_"):
        del ENV[name]


def run(opts, scenario, arg=None, env=None):
    argv = [SGXEMU, "run", *opts, "--", HOST, ENCLAVE, KEY, scenario] + ([arg] if arg else [])
    return subprocess.run(argv, capture_output=True, text=True, env=env or ENV, timeout=120)


def spawn_spinning(argv, env):
    """Start argv (the spin scenario) and wait until its ECALL spins."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = p.stdout.readline()
    if line != "spinning\n":
        p.kill()
        raise AssertionError(f"the spin scenario said {line!r}: {p.stderr.read()}")
    time.sleep(0.2)
    return p


class Trace(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="sgxemu-trace-test.")
        self.file = os.path.join(self.dir.name, "trace.json")

    def tearDown(self):
        self.dir.cleanup()

    def ok(self, r, scenario):
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, f"ok {scenario}\n", r.stderr)

    def test_trace_has_every_ioctl_and_leaf_of_the_program(self):
        r = run(["--trace", "--trace=" + self.file, "--summary"], "build")
        self.ok(r, "build")
        events = tc.load_object(self.file)
        got = tc.check_events(events)
        self.assertEqual(len(got["pids"]), 1)
        # Every line of plain --trace carries time and thread; its ioctls are the trace file's.
        lines = tc.text_lines(r.stderr)
        for line in r.stderr.splitlines():
            if line.startswith("sgxemu: ") and not line.startswith("sgxemu: summary"):
                self.assertTrue(line.startswith("sgxemu: ["), line)
        text = tc.ioctls_of_text(lines)
        self.assertTrue(text)
        self.assertEqual(text, tc.ioctls_of_events(events))
        # Every leaf kind, as often as the summary counted it.
        block, leaves = tc.summary_leaves(r.stderr)
        traced = {name: n for (kind, name), n in got["kinds"].items() if kind == "leaf"}
        self.assertEqual(traced, leaves)
        self.assertTrue({"ECREATE", "EADD", "EEXTEND", "EINIT", "EENTER", "EEXIT"} <= set(traced), traced)
        self.assertIn("; end: exit(0)\n", block)
        # One ECALL slice per successful EENTER, each closed by EEXIT: the scenario's calls returned.
        eenter = sum(1 for e in events if e["ph"] == "i" and e["name"] == "EENTER" and e["args"]["result"] == "OK")
        self.assertEqual(got["kinds"][("B", "ECALL")], eenter)
        self.assertEqual(got["unclosed"], 0)
        self.assertEqual(events[0]["name"], "process_name")
        self.assertEqual(events[0]["args"]["name"], os.path.basename(HOST)[:15])

    def test_tracing_changes_nothing_the_program_sees(self):
        # Exceptions, the program's signal handlers, threads, faults, reclaim and the driver's errors as
        # without the trace: each scenario that passes silently without it (test_preload.c's CLEAN ones
        # that use SGX) passes and prints nothing on stderr with it; each trace is valid.
        for scenario, opts, arg in [("exceptions", [], None), ("user-handler", [], None), ("eaug-fault", [], None),
                                    ("eaug-eaccept", [], None), ("emodpr", [], None), ("emodt-tcs", [], None),
                                    ("trim", [], None), ("eacceptcopy", [], None), ("threads", [], None),
                                    ("small-epc", ["--epc-size=320K"], "256"), ("sigsegv", [], None),
                                    ("signal-handler", [], None), ("bad-args", [], None)]:
            with self.subTest(scenario=scenario):
                r = run(opts + ["--trace=" + self.file], scenario, arg)
                self.ok(r, scenario)
                self.assertEqual(r.stderr, "")
                tc.check_events(tc.load_object(self.file))

    def test_threads_are_named_and_their_slices_nest(self):
        r = run(["--trace=" + self.file], "threads")
        self.ok(r, "threads")
        events = tc.load_object(self.file)
        got = tc.check_events(events)
        names = [e for e in events if e["ph"] == "M" and e["name"] == "thread_name"]
        self.assertGreater(len(got["tids"]), 1)
        self.assertEqual({(e["pid"], e["tid"]) for e in names}, got["tids"])

    def test_process_leaving_with__exit_has_its_summary_map_and_trace(self):
        r = run(["--summary", "--epc-map", "--trace=" + self.file, "--epc-size=1M"], "build-exit")
        self.ok(r, "build-exit")
        self.assertIn("; end: _exit(0)\n", r.stderr)
        resident = tc.summary_number(r.stderr, r"at exit (\d+) resident")
        self.assertGreater(resident, 40, r.stderr)
        # The map: the enclave with its present pages and TCSs, the same count as the summary's.
        self.assertIn(") at _exit(0)\n", r.stderr)
        self.assertIn("  enclave 0x", r.stderr)
        present = tc.summary_number(r.stderr, r"pages: (\d+) present")
        tcs = tc.summary_number(r.stderr, r"present, (\d+) TCS")
        self.assertEqual(present + tcs, resident, r.stderr)
        self.assertRegex(r.stderr, r"\n    0x[0-9a-f]{16} [#T.pmtrbe]{64}\n")
        got = tc.check_events(tc.load_object(self.file))
        self.assertEqual(got["unclosed"], 0)

    def test_killed_process_leaves_a_valid_trace(self):
        # The library alone, SGXEMU_TRACE_FILE with %p: the process's own file, a JSON array.
        env = dict(ENV, LD_PRELOAD=LIBRARY, SGXEMU_TRACE_FILE=os.path.join(self.dir.name, "t.%p.json"))
        p = spawn_spinning([HOST, ENCLAVE, KEY, "spin"], env)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        self.assertEqual(p.returncode, -signal.SIGKILL)
        events = tc.load_array(os.path.join(self.dir.name, f"t.{p.pid}.json"))
        got = tc.check_events(events)
        # The spinning ECALL never ended.
        self.assertGreaterEqual(got["unclosed"], 1)
        self.assertEqual(events[-1]["ph"] if events[-1]["name"] == "ECALL" else "B", "B")

    def test_sgxemu_run_forwards_a_signal_and_dies_of_it(self):
        argv = [SGXEMU, "run", "--summary", "--trace=" + self.file, "--", HOST, ENCLAVE, KEY, "spin"]
        p = spawn_spinning(argv, ENV)
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, -signal.SIGTERM, err)
        self.assertIn("; end: killed by SIGTERM\n", err)
        got = tc.check_events(tc.load_object(self.file))
        self.assertGreaterEqual(got["unclosed"], 1)

    def test_exit_status_is_the_programs(self):
        r = subprocess.run([SGXEMU, "run", "--summary", "--", "/bin/sh", "-c", "exit 7"], capture_output=True,
                           text=True, env=ENV, timeout=60)
        self.assertEqual(r.returncode, 7)
        self.assertEqual(r.stderr, "sgxemu: summary: no process of the program used SGX\n")
        r = subprocess.run([SGXEMU, "run", "--trace=" + self.file, "--", "/nonexistent/program"],
                           capture_output=True, text=True, env=ENV, timeout=60)
        self.assertEqual(r.returncode, 127)
        self.assertIn("sgxemu run: /nonexistent/program: No such file or directory", r.stderr)

    def test_trace_file_names(self):
        # Without %p a program that was not forked writes the name itself, closed at exit: "]" last.
        plain = os.path.join(self.dir.name, "plain.json")
        env = dict(ENV, LD_PRELOAD=LIBRARY, SGXEMU_TRACE_FILE=plain)
        r = subprocess.run([HOST, ENCLAVE, KEY, "build"], capture_output=True, text=True, env=env, timeout=60)
        self.ok(r, "build")
        tc.check_events(tc.load_array(plain))
        with open(plain, "rb") as f:
            self.assertTrue(f.read().endswith(b"}]\n"))
        # %p is the process id.
        env["SGXEMU_TRACE_FILE"] = os.path.join(self.dir.name, "p%p.json")
        p = subprocess.Popen([HOST, ENCLAVE, KEY, "build"], stdout=subprocess.PIPE, env=env)
        p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0)
        tc.check_events(tc.load_array(os.path.join(self.dir.name, f"p{p.pid}.json")))

    def test_checks_fail_on_what_viewers_refuse(self):
        # The checker itself: an E without its B and overlapping complete events are refused.
        ev = [{"name": "process_name", "ph": "M", "ts": 0, "pid": 1, "tid": 1, "args": {"name": "p"}},
              {"name": "thread_name", "ph": "M", "ts": 0, "pid": 1, "tid": 1, "args": {"name": "p"}}]
        with self.assertRaises(tc.TraceError):
            tc.check_events(ev + [{"name": "ECALL", "ph": "E", "ts": 1, "pid": 1, "tid": 1}])
        with self.assertRaises(tc.TraceError):
            tc.check_events(ev + [{"name": "a", "ph": "X", "ts": 1, "dur": 5, "pid": 1, "tid": 1},
                                  {"name": "b", "ph": "X", "ts": 3, "dur": 5, "pid": 1, "tid": 1}])
        tc.check_events(ev + [{"name": "a", "ph": "X", "ts": 1, "dur": 5, "pid": 1, "tid": 1},
                              {"name": "b", "ph": "X", "ts": 2, "dur": 3, "pid": 1, "tid": 1}])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
