/* SPDX-License-Identifier: MIT */
/*
 * One process's counters for `sgxemu run --summary` (docs/preload.md): what
 * src/emu/obs.c keeps while the process runs, and what the summary prints
 * (obs_report.c, also linked into the sgxemu CLI, which reads the records
 * of a whole process tree after the program ended).
 *
 * Under `sgxemu run` the record is a file of SGXEMU_REPORT_DIR mapped
 * shared: every counter is in the file the moment it changes, so a process
 * that leaves with _exit or dies by a signal still has its record.  The
 * layout is this program's own (one build writes and reads it): magic and
 * size tell a record from anything else.
 */
#ifndef SGXEMU_OBS_RECORD_H
#define SGXEMU_OBS_RECORD_H

#include <stdint.h>
#include <stdio.h>

#define OBS_RECORD_MAGIC 0x31636572756d6573ULL /* "semurec1" */

/* How the process ended, as far as it could tell itself. */
enum obs_end {
	OBS_RUNNING = 0, /* no exit seen: still running, killed by a signal, or a raw exit system call */
	OBS_EXIT,	 /* exit() or a return from main (status) */
	OBS__EXIT,	 /* _exit() / _Exit() (status; sgxemu run's library sees these) */
	OBS_EXEC,	 /* replaced its image with execve (the new image has its own record) */
};

/* Ioctls by kind (the commands of <asm/sgx.h> and SGX_IOC_ENCLAVE_AUGMENT_PAGES). */
enum obs_ioc {
	OBS_IOC_CREATE,
	OBS_IOC_ADD_PAGES,
	OBS_IOC_INIT,
	OBS_IOC_PROVISION,
	OBS_IOC_RESTRICT,
	OBS_IOC_MODIFY_TYPES,
	OBS_IOC_REMOVE_PAGES,
	OBS_IOC_AUGMENT,
	OBS_IOC_OTHER,
	OBS_IOC_KINDS
};

/* AEXs by cause. */
enum obs_aex { OBS_AEX_PF, OBS_AEX_EXCEPTION, OBS_AEX_INTERRUPT, OBS_AEX_KINDS };

/* Driver faults: outcome (fixed, SIGBUS, SIGSEGV) and, for fixed ones, what fixed them. */
enum obs_fault { OBS_FAULT_FIXED, OBS_FAULT_SIGBUS, OBS_FAULT_SIGSEGV, OBS_FAULT_KINDS };
enum obs_fix { OBS_FIX_RETRY, OBS_FIX_EAUG, OBS_FIX_ELDU, OBS_FIX_PTE, OBS_FIX_KINDS };

#define OBS_ENCLS_LEAVES 16
#define OBS_ENCLU_LEAVES 10 /* EREPORT .. EACCEPTCOPY, (8), EDECCSSA */

/* Per leaf: how often it ran, how often it did not complete (SGX code or fault), its time. */
struct obs_leaf {
	uint64_t count, failed, ns;
};

struct obs_record {
	uint64_t magic; /* OBS_RECORD_MAGIC */
	uint32_t size;	/* sizeof(struct obs_record) */
	int32_t pid, ppid;
	uint32_t end;	/* enum obs_end */
	int32_t status; /* OBS_EXIT, OBS__EXIT: the exit status */
	char comm[32];	/* the program (its /proc/self/comm) */
	char policy[16];
	uint64_t epc_size;	   /* bytes */
	uint64_t start_ns, end_ns; /* monotonic clock */
	struct obs_leaf encls[OBS_ENCLS_LEAVES], enclu[OBS_ENCLU_LEAVES];
	uint64_t aex[OBS_AEX_KINDS];
	uint64_t faults[OBS_FAULT_KINDS], fixes[OBS_FIX_KINDS];
	uint64_t ioctls[OBS_IOC_KINDS], ioctl_failed;
	uint64_t mmaps, forks;
	uint64_t reclaim_batches, reclaim_isolated, reclaim_evicted;
	uint64_t epc_used, epc_peak; /* EPC frames in use now, at most */
	uint64_t epc_frames;	     /* EPC frames in all */
	uint64_t trace_dropped;	     /* trace events that could not be written */
	uint32_t counted;	     /* the "at the end" counts below were taken */
	uint32_t reserved;
	uint64_t resident_end, evicted_end; /* enclave pages in the EPC / evicted when it ended */
};

/* The ioctl names the summary prints ("ADD_PAGES"). */
const char *obs_ioc_short_name(enum obs_ioc kind);

/* Add the counters of r to sum (the total of a process tree). */
void obs_record_add(struct obs_record *sum, const struct obs_record *r);

/*
 * The summary of one process (title "summary of process PID") or, with
 * nproc > 1, of the total of nproc processes, on f.  ended: how it ended
 * as its parent saw it ("killed by SIGTERM"), or NULL for what the record
 * says.
 */
void obs_report(FILE *f, const struct obs_record *r, unsigned nproc, const char *ended);

#endif /* SGXEMU_OBS_RECORD_H */
