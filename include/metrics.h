/* `kvmlaunch metrics [--output FILE]`: every running VM in Prometheus' text
 * exposition format, for node_exporter's textfile collector (the timer in
 * systemd/ runs it). The families, their types and units are those of
 * docs/METRICS.md: a change there is a change of contract (test_metrics
 * checks that the table below and the docs agree).
 *
 * Gathering and printing are apart: metrics_collect_vm reads one VM into a
 * JSON object (status's readers, vmstatus.h, where status reads the same
 * thing), and metrics_render, pure, turns the VMs into text. */
#ifndef KVMLAUNCH_METRICS_H
#define KVMLAUNCH_METRICS_H

#include <json-c/json.h>
#include <stddef.h>
#include <sys/types.h>

#include "hostroot.h"
#include "tap.h"

/* The parts of a VM that are read on their own; each has a
 * kvmlaunch_scrape_error{vm,part} series, 1 when it could not be read. */
#define METRICS_PARTS "qmp", "vcpus", "memory", "balloon", "blockstats", "taps", "knobs"

/* One VM as metrics_render takes it (every member may be missing):
 *   "name": its name; "state": QEMU's run state ("running", "paused"...);
 *   "errors": the parts (METRICS_PARTS) that could not be read;
 *   "vcpus": [{"vcpu", "cpu_ns", "run_delay_ns", "involuntary_switches", "last_cpu"}];
 *   "placement_watch": NAME/placement.json (placewatch.h);
 *   "memory": vmstatus_memory_json's object; "balloon": vmstatus_balloon_json's
 *     (with "target_bytes" once the target is recorded);
 *   "blockstats": query-blockstats' return, as QEMU sent it;
 *   "taps": [{"net", "tap", "visible", "stats": {"rx_bytes", ...}}];
 *   "knobs": vmstatus_knobs_json's array with "current".
 * Returns the exposition text, family by family (HELP, TYPE, samples).
 * VMS may be NULL or empty: then only kvmlaunch_vms 0. Caller frees. */
char *metrics_render(json_object *vms);

/* Each family metrics_render can print: its name, Prometheus type and help
 * text (the docs list the same). *N: how many. */
typedef struct MetricsFamily {
    const char *name, *type, *help;
} MetricsFamily;
const MetricsFamily *metrics_families(size_t *n);

/* "a\"b\\c\nd" as a label value: backslash, double quote and newline
 * escaped. Caller frees. */
char *metrics_escape_label(const char *value);

/* Reads running VM NAME (QEMU pid QEMU) into a new object as above. NICS:
 * every running VM's taps (tap_probe_others). Never fails: what cannot be
 * read is left out and named in "errors". */
json_object *metrics_collect_vm(const HostRoot *hr, const char *name, pid_t qemu, const VmNics *nics);

/* The command: ARGV is {"metrics"} or {"metrics", "--output", FILE}. With
 * FILE the text is written to a new file in FILE's directory and renamed
 * over FILE, so a reader sees the old text or the new, never a part.
 * 0, 1 when the run dir cannot be listed or FILE cannot be written (then
 * FILE is left as it was), 2 on a usage error. A VM that cannot be read is
 * no failure: its errors are in the output. */
int cmd_metrics_main(int argc, char **argv);

#endif
