/* `kvmlaunch status NAME [--json]`: what a running VM is and uses right now.
 * The report is one JSON object (its fields are a documented contract,
 * docs/STATUS.md); the human form is rendered from that same object, so the
 * two never say different things.
 *
 * The builders below are pure: text or QMP replies in, report parts out,
 * tested on strings. vmstatus_collect does the reading. */
#ifndef KVMLAUNCH_VMSTATUS_H
#define KVMLAUNCH_VMSTATUS_H

#include <json-c/json.h>
#include <stdint.h>
#include <sys/types.h>

#include "hostroot.h"
#include "qmp.h"

/* The "memory" part from /proc/PID/numa_maps: every node that holds pages,
 * with its bytes and the hugetlb part of them, and the totals. -errno of
 * kfile_parse_numa_maps when the text is not numa_maps. */
int vmstatus_memory_json(const char *numa_maps, json_object **out);

/* The "balloon" part. BALLOON: the return of query-balloon, or NULL when it
 * failed with ERROR ("Class: desc" as qmp_execute leaves it; NULL when QMP
 * could not be asked at all). PERIOD and STATS: the returns of qom-get of
 * balloon0's guest-stats-polling-interval and guest-stats, each NULL when
 * it failed. Nothing is taken; the result is new. */
json_object *vmstatus_balloon_json(json_object *balloon, const char *error, json_object *period, json_object *stats);

/* The "ksm" part. Each text is the file as read, NULL when the kernel lacks
 * it: /sys/kernel/mm/ksm/pages_sharing and pages_shared (host-wide),
 * /proc/PID/ksm_merging_pages and /proc/PID/ksm_stat (Linux 6.1 and later).
 * PAGE_BYTES: the host's base page size, which KSM counts in. */
json_object *vmstatus_ksm_json(const char *pages_sharing, const char *pages_shared, const char *merging_pages,
                               const char *ksm_stat, int64_t page_bytes);

/* The entries of the host state file's "knobs" array that NAME relies on,
 * in the file's order: {"path", "original", "set"}. The caller adds
 * "current" (vmstatus_collect reads it). A malformed entry is skipped. */
json_object *vmstatus_knobs_json(json_object *knobs, const char *name);

/* The same for the NIC offload state file's "features" array:
 * {"dev", "feature", "original"} (original a boolean). */
json_object *vmstatus_offloads_json(json_object *features, const char *name);

/* The human form of a whole report: a heading line, then one indented line
 * per vCPU, for memory by node, the balloon, KSM, and each changed knob or
 * offload. Caller frees. */
char *vmstatus_render(json_object *report);

/* Reads everything about running VM NAME (its supervisor SUP and QEMU pid
 * QEMU) into *report (the caller's). What cannot be read is null in the
 * report and said on stderr; only a report that cannot be built at all is
 * an error. */
int vmstatus_collect(const char *name, pid_t sup, pid_t qemu, json_object **report);

/* What vmstatus_collect reads, one part at a time, for `kvmlaunch metrics`
 * (metrics.c): the same readers, so the two never disagree. */
/* Connects to NAME's status monitor (NAME/qmp.sock) and shakes hands. */
int vmstatus_qmp_open(const char *name, QmpClient *q);
/* The "vcpus" array: {"vcpu", "tid", "allowed_cpus", "last_cpu"}. */
json_object *vmstatus_read_vcpus(pid_t qemu);
/* The "memory" part, NULL (said) when numa_maps cannot be read. */
json_object *vmstatus_read_memory(pid_t qemu);
/* The "balloon" part with the target `kvmlaunch balloon` set; Q NULL: the
 * monitor did not answer. */
json_object *vmstatus_read_balloon(QmpClient *q, const char *name);
/* The "host_knobs" array with "current", NULL when the journal cannot be read. */
json_object *vmstatus_read_knobs(const HostRoot *hr, const char *name);
/* NAME/placement.json of the supervisor's placement watch (placewatch.h),
 * NULL when there is none. */
json_object *vmstatus_read_watch(const char *name);
/* The "guest_agent" part (launcher/cli/vmstatus_agent.c): {"answered",
 * "why", "os", "interfaces": [{"name", "mac", "addresses": ["IP/PREFIX",
 * ...]}]}; answered false (with why, the rest null) when the VM has no
 * agent channel or no agent answers within AGENT_STATUS_TIMEOUT_MS. */
json_object *vmstatus_read_agent(const char *name);
/* "machine": the type QEMU runs (its -machine, as kvmlaunch resolved it:
 * include/machinetype.h), or NULL. */
json_object *vmstatus_read_machine(pid_t qemu);
/* A whole /proc file, NULL when it cannot be read. Caller frees. */
char *vmstatus_proc_text(const char *path);

#endif
