#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Conformance against Linux's own SGX selftests (tools/testing/selftests/sgx):
# a host program written against the real driver and vDSO, with its own
# enclave, signer and vDSO parser, built here from the kernel source
# package and run unmodified under `sgxemu run`.  Every test must pass;
# none may be skipped.
#
# The kernel source comes from Debian's linux-source package
# (/usr/src/linux-source-*.tar.xz; .ci/run installs it) or from
# $SGXEMU_LINUX_SOURCE (a .tar.xz).  Without it the test is skipped (exit
# 77) with the reason.  Nothing of the kernel source is kept in this
# repository.
#
# Usage: run.sh SGXEMU WORKDIR CPUID_HEADER [trace|chaos]
#
# With "trace", the selftests run under `sgxemu run --trace=FILE --trace
# --summary` instead, and check_trace.py checks the trace against what the
# program did (docs/preload.md "--trace=FILE").
# With "chaos", they run under `sgxemu run --chaos=SEED:interrupt,evict,timer=200`
# (docs/chaos.md): interrupts and evictions at their enclave's ENCLUs and
# timer interrupts anywhere; they must pass all the same, and the log must
# show interrupts and evictions at ENCLUs happened.
set -euo pipefail

sgxemu=$1
work=$2
cpuid_h=$3
mode=${4:-run}
here=$(cd "$(dirname "$0")" && pwd)

tarball=${SGXEMU_LINUX_SOURCE:-}
if [ -z "$tarball" ]; then
	tarball=$(ls -1 /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n 1 || true)
fi
if [ -z "$tarball" ] || [ ! -r "$tarball" ]; then
	echo "SKIP: no kernel source (install Debian's linux-source package or set SGXEMU_LINUX_SOURCE)"
	exit 77
fi
for tool in cc tar xz; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $tool is not installed"
		exit 77
	fi
done

# Debian's tarball linux-source-X.Y.tar.xz holds the tree linux-source-X.Y/.
top=$(basename "$tarball" .tar.xz)
src=$work/$top
stamp=$work/.extracted-$(basename "$tarball")
if [ ! -f "$stamp" ]; then
	rm -rf "$work"
	mkdir -p "$work"
	tar -xJf "$tarball" -C "$work" --wildcards \
		"$top/tools/testing/selftests/sgx/*" \
		"$top/tools/testing/selftests/kselftest.h" \
		"$top/tools/testing/selftests/kselftest_harness.h" \
		"$top/tools/include/*" \
		"$top/arch/x86/include/asm/sgx.h" \
		"$top/arch/x86/include/asm/enclu.h" \
		"$top/arch/x86/include/uapi/asm/sgx.h"
	touch "$stamp"
fi
t=$src/tools/testing/selftests/sgx
if [ ! -f "$t/main.c" ]; then
	echo "SKIP: $tarball has no SGX selftests"
	exit 77
fi
out=$work/out

# A variable of the selftests' Makefile (continuation lines joined, := and +=
# collected), without $(INCLUDES) (given separately) and -Werror (a newer
# compiler's new warning must not decide conformance).
make_var() {
	sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$t/Makefile" |
		sed -nE "s/^$1[[:space:]]*[:+]?=[[:space:]]*//p" | tr '\n' ' ' |
		sed -e 's/\$(INCLUDES)//g' -e 's/-Werror//g'
}
mkdir -p "$out"

# The selftests read CPUID leaf 0x12 with <cpuid.h>; where the CPU has no
# CPUID faulting they see the emulated leaf only through sgxemu's header.
inc=(-I"$src/tools/include" -I"$src/tools/testing/selftests")
cpuid=()
if ! grep -qw cpuid_fault /proc/cpuinfo 2>/dev/null; then
	cpuid=(-include "$cpuid_h")
fi
(
	cd "$t"
	for f in main load sigstruct; do
		cc -g -fPIC "${inc[@]}" "${cpuid[@]}" -c $f.c -o "$out/$f.o"
	done
	cc -g -fPIC "${inc[@]}" -c call.S -o "$out/call.o"
	cc -g -fPIC "${inc[@]}" -c sign_key.S -o "$out/sign_key.o"
	cc -o "$out/test_sgx" "$out"/main.o "$out"/load.o "$out"/sigstruct.o "$out"/call.o "$out"/sign_key.o \
		-z noexecstack -lcrypto
	# The enclave's flags changed between kernel versions (-static vs -static-pie): take the Makefile's.
	# Before ENCL_LDFLAGS existed (6.1) the rule itself passed the linker script.
	ldflags=$(make_var ENCL_LDFLAGS)
	if [ -z "${ldflags// /}" ]; then
		ldflags="-Wl,-T,test_encl.lds,--build-id=none"
	fi
	# shellcheck disable=SC2086
	cc $(make_var ENCL_CFLAGS) "${inc[@]}" test_encl.c test_encl_bootstrap.S -o "$out/test_encl.elf" $ldflags
) 2>"$out/build.log" || {
	cat "$out/build.log"
	echo "FAIL: building the selftests of $top"
	exit 1
}

if [ "$mode" = trace ]; then
	if ! command -v python3 >/dev/null 2>&1; then
		echo "SKIP: python3 is not installed"
		exit 77
	fi
	exec python3 "$here/check_trace.py" "$sgxemu" "$out"
fi

# test_sgx loads test_encl.elf from its working directory.
cd "$out"
log=$out/test_sgx.log
set +e
if [ "$mode" = chaos ]; then
	"$sgxemu" run --chaos="${SGXEMU_SELFTESTS_CHAOS_SEED:-20261206}:interrupt,evict,timer=200" -- ./test_sgx >"$log" 2>&1
else
	"$sgxemu" run -- ./test_sgx >"$log" 2>&1
fi
rc=$?
set -e
if [ "$mode" = chaos ]; then
	interrupts=$(grep -c '^sgxemu: chaos: thread .*: interrupt at ' "$log" || true)
	evictions=$(grep -c '^sgxemu: chaos: thread .*; evicted enclave+' "$log" || true)
	timers=$(grep -c '^sgxemu: chaos: thread .*: timer interrupt at ' "$log" || true)
	echo "chaos: $interrupts interrupts at ENCLUs, $evictions of them with an eviction, $timers timer interrupts ($(grep -m1 '^sgxemu: chaos: seed' "$log"))"
	if [ "$interrupts" -eq 0 ] || [ "$evictions" -eq 0 ]; then
		echo "FAIL: chaos mode injected no interrupt or no eviction; full log: $log"
		exit 1
	fi
fi
grep -E '^(ok|not ok) ' "$log" || true
tail -n 2 "$log"
if [ $rc -ne 0 ] || grep -q '^not ok ' "$log" || grep -q '# SKIP' "$log"; then
	echo "FAIL: $top SGX selftests under sgxemu run (exit $rc); full log: $log"
	exit 1
fi
echo "PASS: every SGX selftest of $top"
