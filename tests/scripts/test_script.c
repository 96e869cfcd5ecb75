/* SPDX-License-Identifier: MIT */
/* script_run() as a library: return values, where output and messages go, symbolic addresses. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script.h"

struct run {
	int rc;
	char *out, *err;
	size_t outlen, errlen;
};

static struct run run(const char *text, const char *name)
{
	struct run r = {0};
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	FILE *out = open_memstream(&r.out, &r.outlen);
	FILE *err = open_memstream(&r.err, &r.errlen);
	cr_assert(in && out && err);
	r.rc = script_run(in, name, out, err);
	fclose(in);
	fclose(out);
	fclose(err);
	return r;
}

static void done(struct run *r)
{
	free(r->out);
	free(r->err);
}

TestSuite(script, .timeout = 60);

Test(script, complete_script_returns_0_and_prints_each_statement)
{
	struct run r = run("enclave E size=0x2000\n# comment\n\necreate   E\nexpect OK\nshow epcm E.secs\n", "t.sgx");
	cr_assert_eq(r.rc, 0);
	cr_assert_str_eq(r.out,
			 "enclave E size=0x2000\necreate E -> OK\nshow epcm E.secs -> valid=1 pt=SECS r=0 w=0 x=0\n");
	cr_assert_str_empty(r.err);
	done(&r);
}

Test(script, unmet_expect_returns_1_and_runs_on)
{
	struct run r = run("enclave E\necreate E\nexpect #GP\necreate E\nexpect #PF\n", "x.sgx");
	cr_assert_eq(r.rc, 1);
	cr_assert_str_eq(r.err, "x.sgx:3: expected #GP, got OK\n");
	cr_assert(strstr(r.out, "ecreate E -> #PF(E.secs, err=0x8003)\n"), "%s", r.out);
	done(&r);
}

Test(script, syntax_error_returns_2_with_file_and_line)
{
	struct run r = run("enclave E\n\necreate E size\nenclave F\n", "dir/y.sgx");
	cr_assert_eq(r.rc, 2);
	cr_assert_str_eq(r.err, "dir/y.sgx:3: ecreate: unexpected word 'size'\n");
	cr_assert_str_eq(r.out, "enclave E\n");
	done(&r);
}

Test(script, stdin_name_is_dash)
{
	struct run r = run("bogus\n", NULL);
	cr_assert_eq(r.rc, 2);
	cr_assert_str_eq(r.err, "-:1: unknown statement 'bogus'\n");
	done(&r);
}

Test(script, bad_pointers_in_overrides_fault_instead_of_crashing)
{
	struct run r = run("enclave E\necreate E rbx=0x1000\neadd E+0x0 pageinfo.srcpge=0x5000\n"
			   "ecreate E\neadd E+0x0 pageinfo.srcpge=0x5000\n",
			   "z.sgx");
	cr_assert_eq(r.rc, 0);
	cr_assert(strstr(r.out, "ecreate E rbx=0x1000 -> #PF(0x1000, err=0)\n"), "%s", r.out);
	cr_assert(strstr(r.out, "eadd E+0x0 pageinfo.srcpge=0x5000 -> #PF(0x5000, err=0)\n"), "%s", r.out);
	done(&r);
}

Test(script, addresses_print_relative_to_labels)
{
	struct run r = run("enclave E\nva V\nepa V\nepa V\newb E+0x1000 to B slot=V[3]\n", "a.sgx");
	cr_assert_eq(r.rc, 2);
	cr_assert(strstr(r.out, "epa V -> #PF(V[0], err=0x8003)\n"), "%s", r.out);
	cr_assert_str_eq(r.err, "a.sgx:5: undefined label 'B' (expected a blob)\n");
	done(&r);
}

Test(script, say_prints_a_heading_and_is_not_an_outcome)
{
	struct run r = run("enclave E size=0x2000\nsay Build the enclave: ECREATE\necreate E\nsay done\nexpect OK\n", "s.sgx");
	cr_assert_eq(r.rc, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "enclave E size=0x2000\n\n== Build the enclave: ECREATE\necreate E -> OK\n\n== done\n");
	done(&r);
}
