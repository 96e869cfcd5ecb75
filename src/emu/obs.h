/* SPDX-License-Identifier: MIT */
/*
 * Observation of the emulator (docs/preload.md "--trace=FILE" and
 * "--summary", docs/embedding.md "Tracing"): the trace file of
 * SGXEMU_TRACE_FILE, the counters of SGXEMU_SUMMARY and the EPC map of
 * SGXEMU_EPC_MAP, fed by the layers' observer hooks (hw_obs, sgxk_obs)
 * and by src/emu's ioctl.  Nothing is installed unless one is asked for:
 * then the hooks stay NULL and cost one branch each.
 */
#ifndef SGXEMU_OBS_H
#define SGXEMU_OBS_H

#include <stdbool.h>
#include <stdint.h>

#include "obs_record.h"

struct sgxk;
struct sgxk_config;

/* Is anything observed in this process (the branch of callers outside the layers)? */
extern bool obs_on;

/*
 * Right after the system of this process started (k, configured by c):
 * read SGXEMU_TRACE_FILE, SGXEMU_SUMMARY, SGXEMU_EPC_MAP and
 * SGXEMU_REPORT_DIR and install what they ask for.  A trace or record
 * file that cannot be created is reported on stderr and left out.
 */
void obs_start(struct sgxk *k, const struct sgxk_config *c);

/* Monotonic clock in ns (never 0). */
uint64_t obs_now(void);

/* The start of an observed call: its time, 0 when nothing is observed. */
static inline uint64_t obs_begin(void)
{
	return __builtin_expect(obs_on, 0) ? obs_now() : 0;
}

/* An ioctl of the device file fd that started at t0 (obs_begin) and returned ret (-errno). */
void obs_ioctl(int fd, unsigned int cmd, const void *arg, long ret, uint64_t t0);
/* A mapping of the device, a fork: counted for the summary. */
void obs_count_mmap(void);
/* Chaos mode injected at rip (exec_chaos.note): a trace event when a trace is written. */
void obs_chaos(const char *what, uint64_t rip, uint64_t page, int result);
/* The protocol checker reported msg about page at rip: a trace event when a trace is written. */
void obs_check(const char *msg, uint64_t page, uint64_t rip);
void obs_count_fork(void);

/*
 * The process ends (exit with status, _exit with status) or replaces its
 * image (execve): the counts at the end, the EPC map, the summary when it
 * is printed by the process itself.  In a vfork child (another pid)
 * nothing happens.  Safe to call again.
 */
void obs_finish(enum obs_end how, int status);
/* The execve after obs_finish(OBS_EXEC) failed: the process goes on. */
void obs_exec_failed(void);
/* The last event was written: close the trace (also at unload). */
void obs_close(void);
/* In a child after fork: nothing of the parent's observation goes on (idempotent). */
void obs_after_fork_child(void);

/*
 * The EPC map of k (docs/preload.md "--epc-map") on fd under the title,
 * and the enclave pages resident and evicted.  fd < 0: count only.
 * wait: see sgxk_page_walk.  Return: 0, or -EBUSY (map incomplete).
 */
int obs_epc_map(struct sgxk *k, int fd, bool wait, const char *title, uint64_t *resident, uint64_t *evicted);

#endif /* SGXEMU_OBS_H */
