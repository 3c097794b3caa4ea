/* Value parsers of vm.ini: pure, string in, value or "what was expected" out.
 * On failure each returns -EINVAL and writes a message such as
 * `expected a size such as 512M or 4G, found "4X"` into err. */
#ifndef KVMLAUNCH_VALUES_H
#define KVMLAUNCH_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VALUE_ERR_MAX 256

/* Highest CPU or node number accepted in a list (the kernel's NR_CPUS limit). */
#define CPULIST_MAX_CPU 8191

/* CPUs (or nodes) in the order written: vCPU i runs on cpu[i]. */
typedef struct CpuList {
    int *cpu;                       /* owned */
    size_t n;
} CpuList;

typedef struct MacAddr { uint8_t b[6]; } MacAddr;

typedef struct EnumName {
    const char *name;
    int value;
    const char *note;               /* non-NULL: an accepted legacy alias, said once */
} EnumName;

int value_parse_int(const char *s, int64_t min, int64_t max, int64_t *out, char *err);
int value_parse_size(const char *s, uint64_t *out, char *err);
int value_parse_duration(const char *s, uint64_t *out_ms, char *err);
int value_parse_bool(const char *s, bool *out, char *err);
int value_parse_cpulist(const char *s, CpuList *out, char *err);
/* The same read as a sequence, in its order: a CPU may repeat ([cpu] pin:
 * vCPU i on the i-th CPU, two vCPUs may share one). */
int value_parse_cpulist_seq(const char *s, CpuList *out, char *err);
int value_parse_mac(const char *s, MacAddr *out, char *err);
/* Returns the matched entry's index in table (terminated by a NULL name). */
int value_parse_enum(const char *s, const EnumName *table, int *out, char *err);
const char *enum_to_string(const EnumName *table, int value);
/* The value of word S (an alias too), or -EINVAL. */
int enum_from_string(const EnumName *table, const char *s);
/* "a, b or c" for messages and docs; the caller frees it. */
char *enum_list_names(const EnumName *table);

void cpulist_free(CpuList *l);
CpuList cpulist_copy(const CpuList *l);
bool cpulist_contains(const CpuList *l, int cpu);
/* Sorted, each CPU once: a list as a set (a cpuset, a mask). */
CpuList cpulist_sorted(const CpuList *l);
/* The same CPUs, whatever the order or repeats. */
bool cpulist_same_set(const CpuList *a, const CpuList *b);
/* The kernel's compact form, "0-3,8": sorted, ranges merged. Caller frees. */
char *cpulist_format(const CpuList *l);

char *mac_format(const MacAddr *m);
/* Renders bytes as "512M", "4G" or plain bytes, whichever is exact. */
char *size_format(uint64_t bytes);

/* Refuses control characters and invalid UTF-8: what reaches QEMU, a file
 * name or a log line must be printable text. Returns the offending byte's
 * offset, or -1 when S is clean. */
long value_find_bad_char(const char *s);

/* S in double quotes for a message: cut at 40 characters, bytes outside
 * printable ASCII as \xNN. Caller frees. */
char *value_quote(const char *s);

/* The first N bytes of S (fewer at a NUL) as they are, but for control
 * characters (C0, DEL and C1) and bytes that are no valid UTF-8, each
 * written \xNN: text from a file or a peer, for a message that reaches a
 * terminal. Caller frees. */
char *value_escape(const char *s, size_t n);

/* Levenshtein distance, for "did you mean". */
size_t string_distance(const char *a, const char *b);

#endif
