/* SPDX-License-Identifier: MIT */
/*
 * The embedding API's own behaviour: starting the system from settings,
 * device paths, the fd table and errno at the edge.  Enclaves running
 * through it are tested in tests/native.  Each test runs in its own
 * process (Criterion's default), so each starts its own system.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sgxemu/ext.h"
#include "sgxemu/sgxemu.h"

static void start(const struct sgxemu_options *o)
{
	char err[256] = "";
	cr_assert_eq(sgxemu_start(o, err, sizeof(err)), 0, "%s", err);
}

TestSuite(start, .timeout = 60);

Test(start, epc_size_option_sets_the_capacity)
{
	start(&(struct sgxemu_options){.epc_size = 4 << 20});
	struct sgxemu_stats s;
	sgxemu_get_stats(&s);
	cr_assert_eq(s.epc_size, 4 << 20);
	cr_assert_eq(s.pages_resident, 0);
}

Test(start, environment_epc_size_with_suffix)
{
	setenv(SGXEMU_ENV_EPC_SIZE, "2M", 1);
	start(NULL);
	struct sgxemu_stats s;
	sgxemu_get_stats(&s);
	cr_assert_eq(s.epc_size, 2 << 20);
}

Test(start, bad_environment_epc_size_is_named)
{
	setenv(SGXEMU_ENV_EPC_SIZE, "lots", 1);
	char err[256] = "";
	cr_assert_eq(sgxemu_start(NULL, err, sizeof(err)), -1);
	cr_assert(strstr(err, "SGXEMU_EPC_SIZE=lots"), "message names the setting: %s", err);
	cr_assert_not(sgxemu_started());
}

Test(start, environment_epc_size_takes_no_blank_or_sign)
{
	/* emu_int.h's grammar: a digit first; what strtoull would skip or take before the number is refused. */
	static const char *const bad[] = {" 2M", "\t2M", "+2M", "-1", " -1", "\n4096", "+0x200000", "-0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv(SGXEMU_ENV_EPC_SIZE, bad[i], 1);
		char err[256] = "", want[64];
		cr_assert_eq(sgxemu_start(NULL, err, sizeof(err)), -1, "\"%s\" accepted", bad[i]);
		snprintf(want, sizeof(want), "SGXEMU_EPC_SIZE=%s: expected a size", bad[i]);
		cr_assert(strstr(err, want), "message names the setting: %s", err);
		cr_assert_not(sgxemu_started());
	}
	setenv(SGXEMU_ENV_EPC_SIZE, "0x200000", 1);
	start(NULL);
	struct sgxemu_stats s;
	sgxemu_get_stats(&s);
	cr_assert_eq(s.epc_size, 2 << 20);
}

Test(start, bad_policy_is_named)
{
	char err[256] = "";
	cr_assert_eq(sgxemu_start(&(struct sgxemu_options){.policy = "wx"}, err, sizeof(err)), -1);
	cr_assert(strstr(err, "policy wx"), "%s", err);
	cr_assert_not(sgxemu_started());
}

Test(start, second_start_keeps_the_first_settings)
{
	start(&(struct sgxemu_options){.epc_size = 4 << 20});
	start(&(struct sgxemu_options){.epc_size = 8 << 20});
	struct sgxemu_stats s;
	sgxemu_get_stats(&s);
	cr_assert_eq(s.epc_size, 4 << 20);
}

TestSuite(open, .timeout = 60);

Test(open, device_paths_give_real_fds)
{
	const char *paths[] = {"/dev/sgx_enclave", "/dev/sgx/enclave", "/dev/sgx_provision"};
	for (unsigned i = 0; i < 3; i++) {
		int fd = sgxemu_open(paths[i], O_RDWR);
		cr_assert_geq(fd, 0, "%s: %s", paths[i], strerror(errno));
		cr_assert(sgxemu_is_fd(fd));
		cr_assert_neq(fcntl(fd, F_GETFD), -1, "a real descriptor");
		cr_assert_eq(sgxemu_close(fd), 0);
		cr_assert_not(sgxemu_is_fd(fd));
	}
}

Test(open, first_open_starts_the_system)
{
	cr_assert_not(sgxemu_started());
	int fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert(sgxemu_started());
	sgxemu_close(fd);
}

Test(open, other_paths_are_enoent)
{
	errno = 0;
	cr_assert_eq(sgxemu_open("/dev/sgx", O_RDWR), -1);
	cr_assert_eq(errno, ENOENT);
	cr_assert_eq(sgxemu_open(NULL, O_RDWR), -1);
	cr_assert_eq(errno, EFAULT);
}

Test(open, bad_settings_make_the_device_absent)
{
	setenv(SGXEMU_ENV_DYN_POLICY, "none", 1);
	cr_assert_eq(sgxemu_open("/dev/sgx_enclave", O_RDWR), -1);
	cr_assert_eq(errno, ENODEV);
}

TestSuite(ioctl, .timeout = 60);

Test(ioctl, on_other_fds_enotty_and_ebadf)
{
	start(NULL);
	struct sgx_enclave_create c = {0};
	int fd = open("/dev/null", O_RDONLY);
	cr_assert_eq(sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_CREATE, &c), -1);
	cr_assert_eq(errno, ENOTTY);
	close(fd);
	cr_assert_eq(sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_CREATE, &c), -1);
	cr_assert_eq(errno, EBADF);
}

Test(ioctl, errno_and_return_from_the_driver)
{
	int fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	cr_assert_geq(fd, 0);
	/* INIT before CREATE: the driver's EINVAL; an unknown command: ENOTTY. */
	struct sgx_enclave_init in = {0};
	cr_assert_eq(sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_INIT, &in), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(sgxemu_ioctl(fd, _IOW(0xA4, 0x7f, int), &in), -1);
	cr_assert_eq(errno, ENOTTY);
	/* PROVISION takes the fd number of a provision device (allowed before CREATE, as on Linux). */
	int pfd = sgxemu_open("/dev/sgx_provision", O_RDWR);
	struct sgx_enclave_provision p = {.fd = (__u64)pfd};
	cr_assert_eq(sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_PROVISION, &p), 0, "%s", strerror(errno));
	p.fd = (__u64)fd;
	cr_assert_eq(sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_PROVISION, &p), -1);
	cr_assert_eq(errno, EINVAL, "an enclave fd is no provision capability");
	sgxemu_close(pfd);
	sgxemu_close(fd);
}

Test(ioctl, command_and_provision_descriptor_upper_halves_are_dropped)
{
	int fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	int pfd = sgxemu_open("/dev/sgx_provision", O_RDWR);
	cr_assert(fd >= 0 && pfd >= 0);
	/* ioctl(2) takes an unsigned int command: the driver sees the low half only. */
	volatile unsigned long hi = 1UL << 32;
	struct sgx_enclave_init in = {0};
	cr_assert_eq(sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_INIT | hi, &in), -1);
	cr_assert_eq(errno, EINVAL, "INIT before CREATE: the driver answered");
	cr_assert_eq(sgxemu_ioctl(fd, _IOW(0xA4, 0x7f, int) | hi, &in), -1);
	cr_assert_eq(errno, ENOTTY);
	/* PROVISION looks its descriptor up as an unsigned int too. */
	struct sgx_enclave_provision p = {.fd = (__u64)pfd | 0xFFFFFFFF00000000ULL};
	cr_assert_eq(sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_PROVISION | hi, &p), 0, "%s", strerror(errno));
	p.fd = (__u64)fd | 1ULL << 32;
	cr_assert_eq(sgxemu_ioctl(fd, SGX_IOC_ENCLAVE_PROVISION, &p), -1);
	cr_assert_eq(errno, EINVAL);
	sgxemu_close(pfd);
	sgxemu_close(fd);
}

TestSuite(mmap, .timeout = 60);

Test(mmap, anonymous_and_host_ranges_pass_through)
{
	start(NULL);
	void *p = sgxemu_mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	memset(p, 0x5a, 8192);
	cr_assert_eq(sgxemu_mprotect(p, 4096, PROT_READ), 0);
	cr_assert_eq(((unsigned char *)p)[100], 0x5a);
	cr_assert_eq(sgxemu_munmap(p, 8192), 0);
}

Test(mmap, device_before_create_succeeds_as_on_linux)
{
	/* Linux keeps no pages to check before CREATE: runtimes map first to reserve the range. */
	int fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	void *p = sgxemu_mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(p, MAP_FAILED, "%s", strerror(errno));
	cr_assert_eq(sgxemu_munmap(p, 1 << 20), 0);
	sgxemu_close(fd);
}

Test(mmap, private_mapping_and_provision_fd_are_refused)
{
	int fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	cr_assert_eq(sgxemu_mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0), MAP_FAILED);
	cr_assert_eq(errno, EINVAL);
	int pfd = sgxemu_open("/dev/sgx_provision", O_RDWR);
	cr_assert_eq(sgxemu_mmap(NULL, 4096, PROT_READ, MAP_SHARED, pfd, 0), MAP_FAILED);
	cr_assert_eq(errno, ENODEV);
	sgxemu_close(pfd);
	sgxemu_close(fd);
}

/* MAP_FIXED_NOREPLACE: EEXIST over any existing mapping, the host's included; nothing of it replaced. */
Test(mmap, fixed_noreplace_over_a_host_mapping_is_eexist_and_keeps_it)
{
	int fd = sgxemu_open("/dev/sgx_enclave", O_RDWR);
	cr_assert_geq(fd, 0);
	unsigned char *host = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(host, MAP_FAILED);
	memset(host, 0xA5, 3 * 4096);
	/* Over the whole host mapping, over its middle page, and from a free page into it. */
	cr_assert_eq(sgxemu_mmap(host, 3 * 4096, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0), MAP_FAILED);
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(sgxemu_mmap(host + 4096, 4096, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0), MAP_FAILED);
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(munmap(host, 4096), 0);
	cr_assert_eq(sgxemu_mmap(host, 2 * 4096, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0), MAP_FAILED);
	cr_assert_eq(errno, EEXIST);
	for (unsigned i = 4096; i < 3 * 4096; i++)
		cr_assert_eq(host[i], 0xA5, "byte %u of the host mapping", i);
	/* The page that was free stayed free (no placeholder left behind): a plain NOREPLACE mapping fits. */
	void *again = mmap(host, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	cr_assert_eq(again, host);
	cr_assert_eq(munmap(host, 3 * 4096), 0);
	/* On a free range it maps, and a second one over it is EEXIST. */
	void *p = sgxemu_mmap(host, 2 * 4096, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
	cr_assert_eq(p, host, "%s", strerror(errno));
	cr_assert_eq(sgxemu_mmap(host, 4096, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0), MAP_FAILED);
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(sgxemu_munmap(p, 2 * 4096), 0);
	sgxemu_close(fd);
}
