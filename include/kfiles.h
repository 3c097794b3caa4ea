/* Parsers of the kernel's /sys and /proc files: pure, the file's text in
 * (exactly as read, trailing newline and all), values out. Reading the files
 * is hostroot's job; these are tested on strings (DESIGN.md, "Making host
 * work testable").
 *
 * Each returns >= 0 on success and -errno on failure: -EINVAL when the text
 * is not what the kernel writes, -ERANGE when a number does not fit, -ENOENT
 * when the thing looked for is not in the text. Outputs are written only on
 * success. */
#ifndef KVMLAUNCH_KFILES_H
#define KVMLAUNCH_KFILES_H

#include <stdbool.h>
#include <stdint.h>

#include "strvec.h"
#include "values.h"

/* "always [madvise] never\n" (THP enabled and defrag, KSM advisor_mode) and
 * queue/scheduler: "none [mq-deadline] kyber bfq \n" on current kernels (a
 * space before the newline), "mq-deadline kyber [bfq] none\n" on older ones:
 * *selected (owned, caller frees) is the bracketed word;
 * OFFERED (may be NULL; what it held is freed) gets every word in the
 * kernel's order, brackets removed, the selected one included. Words are
 * separated by spaces, runs of them included. -EINVAL without exactly one
 * bracketed word, on a word that is only half bracketed or empty ("[]"), or
 * on control characters other than the final newline.
 * Old kernels print "none\n" with no brackets for a device without an I/O
 * scheduler (dm, md, zram); that is -EINVAL here too: nothing can be selected
 * there. Newer kernels have no scheduler file at all for such devices. */
int kfile_parse_selected(const char *text, char **selected, StrVec *offered);
/* Whether WORD is one of OFFERED (from kfile_parse_selected). */
bool kfile_is_offered(const StrVec *offered, const char *word);

/* A sysfs or procfs integer, "1\n" or "-1\n": an optional minus, digits, and
 * at most one newline; nothing else (no spaces, no "+", no "0x"). -ERANGE past
 * int64_t. */
int kfile_parse_int(const char *text, int64_t *out);

/* The value of KEY in /proc/meminfo ("MemFree:   24234448 kB") or in a
 * node's sys/devices/system/node/nodeN/meminfo, whose lines start with
 * "Node N " ("Node 0 HugePages_Free:   0"). *value is the number as written:
 * kB where the line ends in " kB" (MemFree, Hugepagesize), a count where it
 * has no unit (HugePages_Total, HugePages_Free). KEY is matched whole
 * ("MemFree" is not "MemFreeX"), case-sensitive. -ENOENT when no line has
 * KEY, -EINVAL when its line is malformed. Other lines are not checked, so a
 * new kernel's new lines do no harm. */
int kfile_parse_meminfo(const char *text, const char *key, uint64_t *value);

/* kfile_parse_numa_maps counts nodes 0 to KFILE_NUMA_NODES - 1. */
#define KFILE_NUMA_NODES 64

/* Pages of a process per node, summed over the lines of /proc/PID/numa_maps. */
typedef struct NumaPages {
    /* The N<node>=<pages> fields summed as written: base pages on ordinary
     * lines (transparent huge pages count as 512 of them), huge pages on
     * hugetlb lines; so mixed sizes, use bytes[] to compare nodes. */
    uint64_t pages[KFILE_NUMA_NODES];
    /* The part of pages[] on hugetlb lines (marked "huge"). */
    uint64_t huge_pages[KFILE_NUMA_NODES];
    /* pages x that line's kernelpagesize_kB x 1024. */
    uint64_t bytes[KFILE_NUMA_NODES];
    /* The part of bytes[] on hugetlb lines. */
    uint64_t huge_bytes[KFILE_NUMA_NODES];
    int max_node;                   /* highest node with pages, -1 when none */
} NumaPages;

/* Sums /proc/PID/numa_maps ("7f..000 default anon=2 dirty=2 N0=2
 * kernelpagesize_kB=4"). A line with N<node>= fields must carry
 * kernelpagesize_kB= (the kernel always writes it after them); a hugetlb line
 * says "huge" and kernelpagesize_kB=2048 or 1048576. Paths in file= have
 * their spaces escaped (\040), so fields split on spaces.
 * A node number of KFILE_NUMA_NODES or more is -ERANGE, not skipped: a sum
 * that silently left out pages would tell the caller a guest's memory lies
 * where it does not. Empty text (a kernel thread) is all zeros. */
int kfile_parse_numa_maps(const char *text, NumaPages *out);

/* The first hugetlbfs mount in /proc/mounts whose pagesize= option equals
 * PAGESIZE_BYTES; a hugetlbfs line without pagesize= (old kernels did not
 * list it) has DEFAULT_PAGESIZE_BYTES (meminfo's Hugepagesize). The kernel
 * writes 1 GiB pages as "pagesize=1024M", never "1G". *mountpoint (owned,
 * caller frees) has the kernel's octal escapes undone ("/hp\040dir" ->
 * "/hp dir"). -ENOENT when no mount matches; -EINVAL on a line with fewer
 * than four fields, a bad escape, or a hugetlbfs line whose pagesize= is not
 * a size ("2M", "1G", "2048K" or bytes). */
int kfile_find_hugetlbfs(const char *text, uint64_t pagesize_bytes, uint64_t default_pagesize_bytes,
                         char **mountpoint);

/* A cpulist or nodelist file ("0-3,8\n", sys/devices/system/cpu/online,
 * nodeN/cpulist, cpuset.cpus.effective). One trailing newline is dropped; an
 * empty file or "\n" (a cgroup with no CPUs set) is the empty list
 * (cpu NULL, n 0). -EINVAL otherwise when value_parse_cpulist refuses it.
 * OUT is owned by the caller: cpulist_free(). */
int kfile_parse_cpulist(const char *text, CpuList *out);

/* The value of KEY in a file of "KEY<SEP>VALUE" lines: /proc/cpuinfo
 * ("model name\t: Intel(R) ...", SEP ':'), /proc/PID/status
 * ("Cpus_allowed_list:\t0-1", ':'), a device's uevent ("DRIVER=ixgbe",
 * '='). KEY is matched whole, after the spaces and tabs before SEP are
 * dropped (cpuinfo pads its keys with tabs); the value has the spaces and
 * tabs around it dropped and may be empty. The first matching line wins
 * (cpuinfo repeats every key once per CPU). *value is owned by the caller.
 * -ENOENT when no line has KEY, -EINVAL when KEY is empty. */
int kfile_parse_field(const char *text, const char *key, char sep, char **value);

/* /proc/cpuinfo on x86: *model (owned; NULL when no "model name" line, as
 * on arm64) and *virt, the hardware virtualization the first "flags" line
 * offers: "vmx" (Intel VT-x), "svm" (AMD-V), or NULL (neither, or no flags
 * line). Always 0. */
int kfile_parse_cpuinfo(const char *text, char **model, const char **virt);

#endif
