#!/bin/sh
# Usage: symbols.sh NM OBJECT
# The freestanding build of the language may use only what the enclave runtime
# provides: memcpy, memset, memcmp, strlen.
nm=$1
obj=$2
listing=$("$nm" -u "$obj") || exit 1
undefined=$(echo "$listing" | awk '{print $NF}')
status=0
for sym in $undefined; do
	case $sym in
	memcpy | memset | memcmp | strlen) ;;
	*)
		echo "$obj: needs $sym, which the enclave runtime does not provide"
		status=1
		;;
	esac
done
defined=$("$nm" --defined-only -g "$obj" | awk '{print $NF}')
for sym in lang_parse lang_check lang_interp lang_compile lang_code_bound lang_disasm lang_code_describe; do
	if ! echo "$defined" | grep -qx "$sym"; then
		echo "$obj: does not define $sym"
		status=1
	fi
done
exit $status
