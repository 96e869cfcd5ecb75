#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every fuzz target for a bounded time from its seed corpus, then replay its regressions
# (docs/fuzzing.md).  One line per target; the exit status is non-zero on any finding.
#
#   fuzz/run-ci.sh BUILDDIR SECONDS
#
# BUILDDIR is configured with -Dfuzz=true (CC=clang).  SECONDS is per target, at most 60.
# The checked-in corpora are only read: new inputs go to a temporary directory, and so do
# crash, leak, timeout and out-of-memory reproducers (their paths are printed).
set -uo pipefail

if [ $# -ne 2 ]; then
	echo "usage: $0 BUILDDIR SECONDS" >&2
	exit 2
fi
build=$(cd "$1" && pwd) || exit 2
secs=$2
[ "$secs" -gt 60 ] && secs=60
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/sgxemu-fuzz.XXXXXX")
status=0

# libFuzzer's options for every target: a memory ceiling, a per-input time limit, a fixed seed
# (a CI failure replays: the same seed mutates the same way).
opts=(-rss_limit_mb=2048 -timeout=30 -print_final_stats=1 -seed=1)

# The regression inputs of a target, as file arguments (replayed, not used as a corpus).
regressions() {
	local d=$src/fuzz/regressions/$1
	[ -d "$d" ] && find "$d" -type f | sort
}

# fuzz TARGET: fuzz from the seeds for $secs seconds, then replay the regressions 20 times each
# (one is a race between two threads).
fuzz() {
	local t=$1 bin=$build/fuzz/$1 log=$work/$1.log out=$work/$1
	if [ ! -x "$bin" ]; then
		echo "$t: FAILED: $bin not built (configure BUILDDIR with -Dfuzz=true)"
		status=1
		return
	fi
	mkdir -p "$out/corpus"
	timeout $((secs + 120)) "$bin" "${opts[@]}" -max_total_time="$secs" -artifact_prefix="$out/" \
		"$out/corpus" "$src/fuzz/corpus/${t#fuzz_}" >"$log" 2>&1
	local rc=$?
	local runs rate cov edges
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1)
	edges=$(grep -ao '([0-9]* inline 8-bit counters)' "$log" | head -1 | tr -dc '0-9')
	local regs nregs=0 rrc=0
	mapfile -t regs < <(regressions "${t#fuzz_}")
	if [ ${#regs[@]} -gt 0 ]; then
		nregs=${#regs[@]}
		timeout 900 "$bin" "${opts[@]}" -runs=20 -artifact_prefix="$out/regression-" "${regs[@]}" \
			>"$log.regressions" 2>&1
		rrc=$?
	fi
	local found
	found=$(ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* "$out"/regression-* 2>/dev/null | head -3 | tr '\n' ' ')
	if [ $rc -ne 0 ] || [ $rrc -ne 0 ] || [ -n "$found" ]; then
		echo "$t: FAILED (fuzz exit $rc, regressions exit $rrc) ${found:-}log $log"
		status=1
	else
		echo "$t: ok, ${runs:-0} runs in ${secs} s (${rate:-0}/s), coverage ${cov#cov: }/${edges:-?} edges," \
			"$nregs regressions replayed"
	fi
}

fuzz fuzz_sequence
fuzz fuzz_script
fuzz fuzz_elf
fuzz fuzz_sigstruct

# fuzz_preload: the same sequences through libsgxemu-preload.so under `sgxemu run` (a plain
# program: the library is never instrumented), mutated for $secs seconds, then the regressions.
pre() {
	local log=$work/fuzz_preload.log out=$work/fuzz_preload bin=$build/fuzz/fuzz_preload
	mkdir -p "$out"
	if [ ! -x "$bin" ] || [ ! -x "$build/tools/sgxemu" ]; then
		echo "fuzz_preload: FAILED: $bin or $build/tools/sgxemu not built"
		status=1
		return
	fi
	local run=("$build/tools/sgxemu" run --epc-size=128K --)
	timeout $((secs + 120)) "${run[@]}" "$bin" -t "$secs" -s 1 -o "$out" "$src/fuzz/corpus/sequence" >"$log" 2>&1
	local rc=$?
	local rrc=0 nregs=0 regs
	mapfile -t regs < <(regressions preload; regressions sequence)
	if [ ${#regs[@]} -gt 0 ]; then
		nregs=${#regs[@]}
		timeout 900 "${run[@]}" "$bin" -o "$out" "${regs[@]}" >"$log.regressions" 2>&1
		rrc=$?
	fi
	local summary found
	summary=$(grep -a '^fuzz_preload: [0-9]* inputs' "$log" | tail -1)
	found=$(ls "$out"/crash-* "$out"/*.current 2>/dev/null | head -3 | tr '\n' ' ')
	if [ $rc -ne 0 ] || [ $rrc -ne 0 ] || [ -n "$found" ]; then
		echo "fuzz_preload: FAILED (exit $rc, regressions exit $rrc) ${found:-}log $log"
		status=1
	else
		echo "fuzz_preload: ok, ${summary#fuzz_preload: }, coverage not measured (not instrumented), $nregs regressions replayed"
	fi
}
pre

if [ $status -eq 0 ]; then
	rm -rf "$work"
else
	echo "logs and reproducers: $work"
fi
exit $status
