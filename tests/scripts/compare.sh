#!/bin/sh
# Run one conformance scenario and compare its output with the expected one.
# usage: compare.sh SGXEMU SCENARIO.sgx EXPECTED.out
# Fails (exit 1) with a unified diff, expected vs actual, and the runner's
# messages when the output differs or the runner did not exit 0.
sgxemu=$1 script=$2 expected=$3
actual=$(mktemp) || exit 1
errors=$(mktemp) || exit 1
trap 'rm -f "$actual" "$errors"' EXIT
"$sgxemu" script "$script" >"$actual" 2>"$errors"
rc=$?
status=0
if ! diff -u --label "expected ($expected)" --label "actual (sgxemu script $script)" "$expected" "$actual"; then
	status=1
fi
if [ "$rc" -ne 0 ]; then
	echo "sgxemu script $script exited with status $rc" >&2
	status=1
fi
if [ -s "$errors" ]; then
	echo "--- messages of the runner:" >&2
	cat "$errors" >&2
fi
exit $status
