/* SPDX-License-Identifier: MIT */
/*
 * The loader's two device backends: sgxemu in this process, and the real
 * Linux driver with the vDSO's __vdso_sgx_enter_enclave, found by reading
 * the vDSO image the kernel maps (getauxval(AT_SYSINFO_EHDR)).
 */
#include <elf.h>
/* <elf.h>'s segment flags share names with arch.h's page-fault bits; nothing here uses them. */
#undef PF_R
#undef PF_W
#undef PF_X

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "loader.h"
#include "sgxemu/sgxemu.h"

/* ---- emu ---- */

const struct sdk_backend sdk_backend_emu = {
    .name = "emu",
    .device = "/dev/sgx_enclave",
    .open = sgxemu_open,
    .ioctl = sgxemu_ioctl,
    .mmap = sgxemu_mmap,
    .mprotect = sgxemu_mprotect,
    .munmap = sgxemu_munmap,
    .close = sgxemu_close,
    .enter = sgxemu_call_enclave,
};

/* ---- linux ---- */

static int linux_open(const char *path, int flags)
{
	return open(path, flags);
}

static int linux_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg);
}

/* sdk_vdso_call (loader.h): RBX and RBP are the vDSO's to keep, R12-R15 this wrapper's. */
__asm__(".pushsection .text\n"
	".globl sdk_vdso_call\n"
	".type sdk_vdso_call, @function\n"
	".p2align 4\n"
	"sdk_vdso_call:\n"
	"	push %rbp\n"
	"	mov %rsp, %rbp\n"
	"	push %rbx\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	mov %rdi, %rax\n"
	"	mov %rsi, %rdi\n"
	"	mov %rdx, %rsi\n"
	"	mov %rcx, %rdx\n"
	"	mov %r8d, %ecx\n"
	"	mov %r9, %r8\n"
	"	mov 16(%rbp), %r9\n"
	/* RSP = RBP - 40 is 8 mod 16: pushing run (the 7th argument) aligns the call. */
	"	push 24(%rbp)\n"
	"	call *%rax\n"
	"	lea -40(%rbp), %rsp\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbx\n"
	"	pop %rbp\n"
	"	ret\n"
	".size sdk_vdso_call, . - sdk_vdso_call\n"
	".popsection\n");

static pthread_once_t vdso_once = PTHREAD_ONCE_INIT;
static sdk_vdso_enter_fn vdso_enter;

static void vdso_find(void)
{
	vdso_enter = (sdk_vdso_enter_fn)sdk_vdso_lookup("__vdso_sgx_enter_enclave", "LINUX_2.6");
}

static int linux_enter(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function, unsigned long r8,
		       unsigned long r9, struct sgx_enclave_run *run)
{
	pthread_once(&vdso_once, vdso_find);
	if (!vdso_enter)
		return -ENOSYS;
	return sdk_vdso_call(vdso_enter, rdi, rsi, rdx, function, r8, r9, run);
}

const struct sdk_backend sdk_backend_linux = {
    .name = "linux",
    .device = "/dev/sgx_enclave",
    .open = linux_open,
    .ioctl = linux_ioctl,
    .mmap = mmap,
    .mprotect = mprotect,
    .munmap = munmap,
    .close = close,
    .enter = linux_enter,
};

/* ---- the vDSO's symbol table ---- */

/* Number of symbols a DT_GNU_HASH table covers: past the highest bucket, follow the chain to its end. */
static uint32_t gnu_hash_count(const uint32_t *h)
{
	uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
	const uint32_t *buckets = h + 4 + bloom_size * 2; /* 64-bit bloom words */
	const uint32_t *chain = buckets + nbuckets;
	uint32_t last = 0;
	for (uint32_t i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < symoffset)
		return symoffset;
	while (!(chain[last - symoffset] & 1))
		last++;
	return last + 1;
}

/* Is version index idx of the vDSO's DT_VERDEF named want? */
static int version_is(const Elf64_Verdef *vd, const char *strtab, uint16_t idx, const char *want)
{
	for (;;) {
		if (!(vd->vd_flags & VER_FLG_BASE) && (vd->vd_ndx & 0x7fff) == idx) {
			const Elf64_Verdaux *aux = (const Elf64_Verdaux *)((const char *)vd + vd->vd_aux);
			return !strcmp(strtab + aux->vda_name, want);
		}
		if (!vd->vd_next)
			return 0;
		vd = (const Elf64_Verdef *)((const char *)vd + vd->vd_next);
	}
}

void *sdk_vdso_lookup(const char *name, const char *version)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)getauxval(AT_SYSINFO_EHDR);
	if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64)
		return NULL;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)((const char *)eh + eh->e_phoff);
	uintptr_t bias = 0;
	const Elf64_Dyn *dyn = NULL;
	int have_load = 0;
	for (unsigned i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !have_load) {
			bias = (uintptr_t)eh + ph[i].p_offset - ph[i].p_vaddr;
			have_load = 1;
		}
	}
	for (unsigned i = 0; i < eh->e_phnum && have_load; i++)
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (const Elf64_Dyn *)(bias + ph[i].p_vaddr);
	if (!dyn)
		return NULL;
	const Elf64_Sym *symtab = NULL;
	const char *strtab = NULL;
	const uint32_t *hash = NULL, *gnu_hash = NULL;
	const Elf64_Half *versym = NULL;
	const Elf64_Verdef *verdef = NULL;
	for (; dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = bias + dyn->d_un.d_ptr;
		switch (dyn->d_tag) {
		case DT_SYMTAB:
			symtab = (const Elf64_Sym *)p;
			break;
		case DT_STRTAB:
			strtab = (const char *)p;
			break;
		case DT_HASH:
			hash = (const uint32_t *)p;
			break;
		case DT_GNU_HASH:
			gnu_hash = (const uint32_t *)p;
			break;
		case DT_VERSYM:
			versym = (const Elf64_Half *)p;
			break;
		case DT_VERDEF:
			verdef = (const Elf64_Verdef *)p;
			break;
		default:
			break;
		}
	}
	if (!symtab || !strtab || (!hash && !gnu_hash))
		return NULL;
	uint32_t count = hash ? hash[1] : gnu_hash_count(gnu_hash);
	for (uint32_t i = 0; i < count; i++) {
		const Elf64_Sym *s = &symtab[i];
		unsigned bind = ELF64_ST_BIND(s->st_info), type = ELF64_ST_TYPE(s->st_info);
		if (s->st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK) ||
		    (type != STT_FUNC && type != STT_NOTYPE) || strcmp(strtab + s->st_name, name))
			continue;
		if (version && versym && verdef && !version_is(verdef, strtab, versym[i] & 0x7fff, version))
			continue;
		return (void *)(bias + s->st_value);
	}
	return NULL;
}
