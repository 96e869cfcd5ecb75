#!/bin/sh
# The runner's own behaviour (docs/script.md): a syntax or usage error stops the script
# with "FILE:LINE: message" on stderr and exit status 2; an unmet `expect` is reported the
# same way, the script runs on, and the exit status is 1; a complete script exits 0.
# usage: errors.sh SGXEMU
sgxemu=$1
fail=0 n=0
err=$(mktemp) || exit 1
trap 'rm -f "$err"' EXIT

# check STATUS MESSAGE SCRIPT: run SCRIPT from stdin, expect exit STATUS and MESSAGE on stderr
check() {
	n=$((n + 1))
	printf '%b' "$3" | "$sgxemu" script - >/dev/null 2>"$err"
	rc=$?
	if [ -z "$2" ]; then
		ok=$([ ! -s "$err" ] && echo y)
	else
		ok=$(grep -qF -- "$2" "$err" && echo y)
	fi
	if [ "$rc" -ne "$1" ] || [ "$ok" != y ]; then
		echo "FAIL: script <<$3>>: want status $1 and '$2', got status $rc and: $(cat "$err")"
		fail=$((fail + 1))
	fi
}

check 2 '-:1: unknown statement' 'frobnicate E\n'
check 2 "-:2: undefined label 'X'" 'enclave E\necreate X\n'
check 2 "'12x' is not a number" 'enclave E size=12x\n'
check 2 "-:1: bad label name" 'enclave 9E\n'
check 2 "label 'E' is already defined" 'enclave E\nenclave E\n'
check 2 "unknown operand 'bogus='" 'enclave E\necreate E bogus=1\n'
check 2 "unexpected word 'extra'" 'enclave E\necreate E extra\n'
check 2 "secs has no field 'nope'" 'enclave E\necreate E secs.nope=1\n'
check 2 "offset outside secinfo" 'enclave E\necreate E secinfo@64=1\n'
check 2 "does not fit in 2 bytes" 'enclave E\necreate E secs.isvsvn=0x10000\n'
check 2 "unknown flag 'Q'" 'enclave E\necreate E\neadd E+0x1000 secinfo=REG|Q\n'
check 2 "eenter runs on an enclave thread" 'enclave E\neenter E+0x0\n'
check 2 "eadd is not a thread's instruction" 'enclave E\nT: eadd E+0x0\n'
check 2 "'E' is an enclave, not a thread" 'enclave E\nE: eenter E+0x0\n'
check 2 "has no operand page" 'enclave E\nthread T\nT: eaccept E+0x1000\n'
check 2 "expect: no leaf before it" 'enclave E\nexpect OK\n'
check 2 "is not a linear address" 'enclave E\nthread T buf=E.secs\n'
check 2 "machine must come before" 'enclave E\nmachine sgx1\n'
check 2 "-:3: map: E+0x10 is not page aligned" 'enclave E\n# comment\nmap E+0x10\n'
check 2 "neither EPC nor a page of the runner" 'map 0x10000 rw to=0x20000\n'
check 2 "slot 512 out of range" 'va V\nepa V[512]\n'
check 2 "cannot open" 'key K file=/nonexistent/key.pem\n'
# Re-declaring a key label: the error, and (under LeakSanitizer) no key left behind.
check 2 "-:2: label 'K' is already defined" 'key K\nkey K\n'
check 2 "no key declared" 'enclave E\necreate E\neinit E\n'
check 1 "-:3: expected #GP(0), got OK" 'enclave E\necreate E\nexpect #GP(0)\nexpect OK\n'
check 1 "expected SGX_NOT_TRACKED, got #GP(0)" 'enclave E\necreate E\necreate E rbx=+8\nexpect SGX_NOT_TRACKED\nexpect GP\n'
check 0 "" 'enclave E\necreate E\nexpect OK\n# a comment\n\n  eadd E+0x1000   secinfo=REG|R|W   # trailing\nexpect OK\n'

# a file that does not exist, and --help
n=$((n + 1))
if "$sgxemu" script /nonexistent.sgx >/dev/null 2>&1; then echo "FAIL: missing file accepted"; fail=$((fail + 1)); fi
n=$((n + 1))
if ! "$sgxemu" script --help | grep -q 'usage: sgxemu script'; then echo "FAIL: script --help"; fail=$((fail + 1)); fi

echo "$((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
