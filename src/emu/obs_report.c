/* SPDX-License-Identifier: MIT */
/*
 * The text of `--summary` (docs/preload.md) from obs records: one process,
 * or the total of a process tree.  Linked into the emulator (a process
 * that prints its own summary at exit) and into the sgxemu CLI (`sgxemu
 * run`, which prints those of the whole tree after the program ended).
 */
#include <signal.h>
#include <string.h>

#include "hw.h"
#include "obs_record.h"

static const char *const ioc_names[OBS_IOC_KINDS] = {
    [OBS_IOC_CREATE] = "CREATE",
    [OBS_IOC_ADD_PAGES] = "ADD_PAGES",
    [OBS_IOC_INIT] = "INIT",
    [OBS_IOC_PROVISION] = "PROVISION",
    [OBS_IOC_RESTRICT] = "RESTRICT_PERMISSIONS",
    [OBS_IOC_MODIFY_TYPES] = "MODIFY_TYPES",
    [OBS_IOC_REMOVE_PAGES] = "REMOVE_PAGES",
    [OBS_IOC_AUGMENT] = "AUGMENT_PAGES",
    [OBS_IOC_OTHER] = "other",
};

const char *obs_ioc_short_name(enum obs_ioc kind)
{
	return kind < OBS_IOC_KINDS ? ioc_names[kind] : "other";
}

static void add_leaves(struct obs_leaf *sum, const struct obs_leaf *l, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		sum[i].count += l[i].count;
		sum[i].failed += l[i].failed;
		sum[i].ns += l[i].ns;
	}
}

static void add(uint64_t *sum, const uint64_t *v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		sum[i] += v[i];
}

void obs_record_add(struct obs_record *sum, const struct obs_record *r)
{
	add_leaves(sum->encls, r->encls, OBS_ENCLS_LEAVES);
	add_leaves(sum->enclu, r->enclu, OBS_ENCLU_LEAVES);
	add(sum->aex, r->aex, OBS_AEX_KINDS);
	add(sum->faults, r->faults, OBS_FAULT_KINDS);
	add(sum->fixes, r->fixes, OBS_FIX_KINDS);
	add(sum->ioctls, r->ioctls, OBS_IOC_KINDS);
	sum->ioctl_failed += r->ioctl_failed;
	sum->mmaps += r->mmaps;
	sum->forks += r->forks;
	sum->reclaim_batches += r->reclaim_batches;
	sum->reclaim_isolated += r->reclaim_isolated;
	sum->reclaim_evicted += r->reclaim_evicted;
	if (r->epc_peak > sum->epc_peak)
		sum->epc_peak = r->epc_peak;
	if (r->epc_frames > sum->epc_frames)
		sum->epc_frames = r->epc_frames;
	sum->trace_dropped += r->trace_dropped;
	/* counted: how many of the processes had their end counts taken. */
	sum->counted += r->counted;
	if (r->counted) {
		sum->resident_end += r->resident_end;
		sum->evicted_end += r->evicted_end;
	}
}

/* Successful runs of a leaf: what it did to the EPC. */
static unsigned long long ok(const struct obs_leaf *l)
{
	return (unsigned long long)(l->count - l->failed);
}

static void ended_text(const struct obs_record *r, char *buf, size_t len)
{
	switch (r->end) {
	case OBS_EXIT:
		snprintf(buf, len, "exit(%d)", r->status);
		return;
	case OBS__EXIT:
		snprintf(buf, len, "_exit(%d)", r->status);
		return;
	case OBS_EXEC:
		snprintf(buf, len, "execve (the new program has its own summary)");
		return;
	default:
		snprintf(buf, len, "no exit seen (killed by a signal, or still running)");
		return;
	}
}

static void leaf_lines(FILE *f, const char *kind, const struct obs_leaf *l, unsigned n, const char *(*name)(uint64_t),
		       bool *header)
{
	for (unsigned i = 0; i < n; i++) {
		if (!l[i].count)
			continue;
		if (!*header) {
			fprintf(f, "  leaves    %-6s %-12s %10s %8s %11s %9s\n", "", "", "count", "failed", "total ms",
				"mean us");
			*header = true;
		}
		const char *nm = name(i);
		fprintf(f, "            %-6s %-12s %10llu %8llu %11.3f %9.3f\n", kind, nm ? nm : "?",
			(unsigned long long)l[i].count, (unsigned long long)l[i].failed, (double)l[i].ns / 1e6,
			(double)l[i].ns / 1e3 / (double)l[i].count);
	}
}

void obs_report(FILE *f, const struct obs_record *r, unsigned nproc, const char *ended)
{
	if (nproc > 1)
		fprintf(f, "sgxemu: summary of %u processes in all (EPC %llu KiB, dynamic page policy %s)\n", nproc,
			(unsigned long long)(r->epc_size / 1024), r->policy[0] ? r->policy : "rwx");
	else
		fprintf(f, "sgxemu: summary of process %d (EPC %llu KiB, dynamic page policy %s)\n", r->pid,
			(unsigned long long)(r->epc_size / 1024), r->policy[0] ? r->policy : "rwx");
	if (nproc <= 1) {
		char how[96];
		if (ended)
			snprintf(how, sizeof(how), "%s", ended);
		else
			ended_text(r, how, sizeof(how));
		fprintf(f, "  process   %s, parent %d; end: %s\n", r->comm[0] ? r->comm : "?", r->ppid, how);
	}
	fprintf(f, "  enclaves  created %llu, initialised %llu\n", ok(&r->encls[ENCLS_ECREATE]),
		ok(&r->encls[ENCLS_EINIT]));
	fprintf(f, "  pages     added %llu, EAUG'd %llu, removed %llu, evicted %llu, reloaded %llu; ",
		ok(&r->encls[ENCLS_EADD]), ok(&r->encls[ENCLS_EAUG]), ok(&r->encls[ENCLS_EREMOVE]),
		ok(&r->encls[ENCLS_EWB]), ok(&r->encls[ENCLS_ELDU]));
	if (nproc <= 1 && r->counted)
		fprintf(f, "at exit %llu resident, %llu evicted\n", (unsigned long long)r->resident_end,
			(unsigned long long)r->evicted_end);
	else if (nproc <= 1)
		fprintf(f, "at exit not counted (no exit seen)\n");
	else
		fprintf(f, "at exit %llu resident, %llu evicted (of the %u processes counted)\n",
			(unsigned long long)r->resident_end, (unsigned long long)r->evicted_end, r->counted);
	fprintf(f, "  EPC       %llu of %llu pages in use at most%s\n", (unsigned long long)r->epc_peak,
		(unsigned long long)r->epc_frames, nproc > 1 ? " (in one process)" : "");
	uint64_t faults = r->faults[OBS_FAULT_FIXED] + r->faults[OBS_FAULT_SIGBUS] + r->faults[OBS_FAULT_SIGSEGV];
	fprintf(f,
		"  faults    %llu handled by the driver: %llu fixed (%llu EAUG, %llu ELDU, %llu PTE only, %llu to "
		"retry), %llu SIGBUS, %llu SIGSEGV\n",
		(unsigned long long)faults, (unsigned long long)r->faults[OBS_FAULT_FIXED],
		(unsigned long long)r->fixes[OBS_FIX_EAUG], (unsigned long long)r->fixes[OBS_FIX_ELDU],
		(unsigned long long)r->fixes[OBS_FIX_PTE], (unsigned long long)r->fixes[OBS_FIX_RETRY],
		(unsigned long long)r->faults[OBS_FAULT_SIGBUS], (unsigned long long)r->faults[OBS_FAULT_SIGSEGV]);
	uint64_t aex = r->aex[OBS_AEX_PF] + r->aex[OBS_AEX_EXCEPTION] + r->aex[OBS_AEX_INTERRUPT];
	fprintf(f, "  AEXs      %llu: %llu page faults, %llu other exceptions, %llu interrupts\n",
		(unsigned long long)aex, (unsigned long long)r->aex[OBS_AEX_PF],
		(unsigned long long)r->aex[OBS_AEX_EXCEPTION], (unsigned long long)r->aex[OBS_AEX_INTERRUPT]);
	fprintf(f, "  reclaim   %llu batches: %llu pages taken off the LRU, %llu written back\n",
		(unsigned long long)r->reclaim_batches, (unsigned long long)r->reclaim_isolated,
		(unsigned long long)r->reclaim_evicted);
	fprintf(f, "  ioctls    ");
	bool any = false;
	for (unsigned k = 0; k < OBS_IOC_KINDS; k++) {
		if (!r->ioctls[k])
			continue;
		fprintf(f, "%s%s %llu", any ? ", " : "", ioc_names[k], (unsigned long long)r->ioctls[k]);
		any = true;
	}
	fprintf(f, "%s (%llu failed)\n", any ? "" : "none", (unsigned long long)r->ioctl_failed);
	fprintf(f, "  mappings  %llu mmaps of the device, %llu forks\n", (unsigned long long)r->mmaps,
		(unsigned long long)r->forks);
	bool header = false;
	leaf_lines(f, "ENCLS", r->encls, OBS_ENCLS_LEAVES, hw_encls_name, &header);
	leaf_lines(f, "ENCLU", r->enclu, OBS_ENCLU_LEAVES, hw_enclu_name, &header);
	if (r->trace_dropped)
		fprintf(f, "  trace     %llu events could not be written\n", (unsigned long long)r->trace_dropped);
}
