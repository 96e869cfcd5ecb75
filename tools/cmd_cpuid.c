/* SPDX-License-Identifier: MIT */
/* sgxemu cpuid: CPUID leaf 0x12 of the emulated machine, raw and decoded. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cpu.h"
#include "hw.h"
#include "image.h"

static void print_raw(uint32_t sub, struct hw_cpuid r)
{
	printf("CPUID.(EAX=0x12,ECX=%u): EAX=0x%08x EBX=0x%08x ECX=0x%08x EDX=0x%08x\n", sub, r.eax, r.ebx, r.ecx,
	       r.edx);
}

/* "64 GiB", "128 MiB", "4096 bytes": the largest unit that divides v. */
static void human(uint64_t v, char *out, size_t len)
{
	static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	unsigned u = 0;
	while (u < 4 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	snprintf(out, len, "%llu %s", (unsigned long long)v, units[u]);
}

static void print_max_size(const char *what, unsigned log2)
{
	char h[32] = "";
	if (log2 < 64)
		human(1ULL << log2, h, sizeof(h));
	printf("  max enclave size (%s): 2^%u bytes%s%s%s\n", what, log2, *h ? " (" : "", h, *h ? ")" : "");
}

int cmd_cpuid(int argc, char **argv)
{
	const char *cmd = "cpuid";
	struct hw_config c;
	hw_config_default(&c);
	/* The XFRM side is this host's, as the emulator configures its machine. */
	exec_cpu_hw_config(&c);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v, *why;
		uint64_t n;
		if (cli_option(argc, argv, &i, "--epc-size", &v)) {
			if (!v)
				return cli_usage(cmd, "option '%s' needs a value", a);
			if ((why = sdk_parse_number(v, true, &n)) != NULL)
				return cli_usage(cmd, "--epc-size: '%s' is %s", v, why);
			c.epc_size = n;
		} else if (cli_option(argc, argv, &i, "--epc-sections", &v)) {
			if (!v)
				return cli_usage(cmd, "option '%s' needs a value", a);
			if ((why = sdk_parse_number(v, false, &n)) != NULL)
				return cli_usage(cmd, "--epc-sections: '%s' is %s", v, why);
			if (n < 1 || n > 8)
				return cli_usage(cmd, "--epc-sections: %s is out of range (1..8)", v);
			c.epc_sections = (unsigned)n;
		} else if (strcmp(a, "--sgx1") == 0) {
			c.sgx1_only = true;
		} else if (a[0] == '-') {
			return cli_usage(cmd, "unknown option '%s'", a);
		} else {
			return cli_usage(cmd, "unexpected argument '%s'", a);
		}
	}
	if (c.epc_size < 2 * SGX_PAGE_SIZE || c.epc_size % SGX_PAGE_SIZE || c.epc_size > (1ULL << 40))
		return cli_usage(cmd, "--epc-size: 0x%llx is not a multiple of 4096 from 8 KiB to 1 TiB",
				 (unsigned long long)c.epc_size);
	/* The sparse physical space only has to hold the EPC. */
	c.space_size = 1ULL << 21;
	while (c.space_size < c.epc_size)
		c.space_size <<= 1;
	struct hw_machine *m = NULL;
	char err[256];
	if (hw_machine_create(&c, &m, err, sizeof(err)))
		return cli_fail(cmd, "cannot create the machine: %s", err);

	char names[256], h[32];
	struct hw_cpuid r = hw_cpuid12(m, 0);
	print_raw(0, r);
	printf("  SGX1: %s\n", (r.eax & 1) ? "yes" : "no");
	printf("  SGX2: %s\n", (r.eax & 2) ? "yes" : "no");
	printf("  EDECCSSA (AEX-Notify): %s\n", (r.eax & (1u << 11)) ? "yes" : "no");
	printf("  MISCSELECT supported: 0x%08x (%s)\n", r.ebx, (r.ebx & SGX_MISC_EXINFO) ? "EXINFO" : "-");
	print_max_size("64-bit", (r.edx >> 8) & 0xff);
	print_max_size("32-bit", r.edx & 0xff);

	r = hw_cpuid12(m, 1);
	print_raw(1, r);
	uint64_t attr = (uint64_t)r.ebx << 32 | r.eax, xfrm = (uint64_t)r.edx << 32 | r.ecx;
	cli_attribute_names(attr, names, sizeof(names));
	printf("  ATTRIBUTES allowed: 0x%016llx (%s)\n", (unsigned long long)attr, names);
	cli_xfrm_names(xfrm, names, sizeof(names));
	printf("  XFRM allowed: 0x%016llx (%s)\n", (unsigned long long)xfrm, names);
	/* What an SSA frame must hold for all of them (SSAFRAMESIZE is checked against it at ECREATE). */
	printf("  XSAVE area of all of them: %u bytes\n", hw_xsave_size_in(&c, xfrm));

	uint64_t total = 0;
	unsigned sections = 0;
	for (uint32_t sub = 2;; sub++) {
		r = hw_cpuid12(m, sub);
		print_raw(sub, r);
		if ((r.eax & 0xf) != 1) {
			printf("  no more EPC sections\n");
			break;
		}
		uint64_t base = (uint64_t)(r.ebx & 0xfffff) << 32 | (r.eax & 0xfffff000u);
		uint64_t size = (uint64_t)(r.edx & 0xfffff) << 32 | (r.ecx & 0xfffff000u);
		human(size, h, sizeof(h));
		printf("  EPC section %u: base 0x%012llx size 0x%012llx (%s)%s\n", sections, (unsigned long long)base,
		       (unsigned long long)size, h,
		       (r.ecx & 0xf) == 1 ? ", confidentiality and integrity protected" : "");
		total += size;
		sections++;
	}
	human(total, h, sizeof(h));
	printf("EPC total: %s in %u section%s\n", h, sections, sections == 1 ? "" : "s");
	hw_machine_destroy(m);
	return 0;
}
