/* The schema of vm.ini: one table of every section and key (CONFIG.md). The
 * loader, the validator, the defaults and `kvmlaunch keys` all read it, so a
 * key added here is parsed, defaulted, freed and documented at once. */
#ifndef KVMLAUNCH_SCHEMA_H
#define KVMLAUNCH_SCHEMA_H

#include <stdio.h>

#include "vmconf.h"

typedef enum {
    VT_INT,            /* int64_t in [min, max] */
    VT_INT_KEEP,       /* int64_t in [min, max], or `keep` (-1) */
    VT_SIZE,           /* uint64_t bytes */
    VT_HUGEPAGE_SIZE,  /* uint64_t bytes, 2M or 1G */
    VT_DURATION,       /* uint64_t milliseconds */
    VT_BOOL,           /* bool */
    VT_BOOL_KEEP,      /* int: 0, 1 or TRISTATE_UNSET for `keep` */
    VT_BOOL_DERIVED,   /* int: 0, 1 or TRISTATE_UNSET when not written */
    VT_ENUM,           /* int, one of `words` */
    VT_STRING,         /* char * */
    VT_PATH,           /* char *, absolute */
    VT_NAME,           /* char *, [A-Za-z0-9_.-]{1,64}, not starting with . or - */
    VT_USER,           /* char *, a POSIX user name other than root */
    VT_IFNAME,         /* char *, a Linux interface name */
    VT_CPU_MODEL,      /* char *, MODEL[,+feature|,-feature|,feature=value]... */
    VT_CPULIST,        /* CpuSpec: a cpulist or one of `words` */
    VT_NODELIST,       /* CpuList of NUMA nodes */
    VT_SCHED,          /* Sched */
    VT_SERIAL,         /* Serial */
    VT_FIRMWARE,       /* char *: NULL for bios, else an absolute path */
    VT_MAC,            /* MacAddr */
    VT_MACHINE,        /* char *, [vm] machine_name; also sets VmSection.machine (vmconf/machine.c) */
    VT_FORWARDS,       /* NetForwards: PROTO:[ADDR:]HOSTPORT:GUESTPORT, ... (include/netforward.h) */
    VT_RESTART_LIMIT,  /* RestartLimit: N/DURATION (vmconf/crash.c) */
} ValueType;

enum {
    KEY_REQUIRED = 1 << 0,  /* must be written */
    KEY_MULTILINE = 1 << 1, /* an indented next line continues the value */
    KEY_INDEXED = 1 << 2,   /* vcpu.N: NAME stands for a family of keys, stored apart */
    KEY_SEQUENCE = 1 << 3,  /* a cpulist read in order, a CPU may repeat (pin: one per vCPU) */
};

typedef struct KeyDef {
    SectionKind section;
    const char *name;
    ValueType type;
    size_t offset;            /* of the value in the section's struct */
    const EnumName *words;    /* VT_ENUM values; VT_CPULIST: cpu_spec_kind_table, or NULL */
    unsigned words_mask;      /* VT_CPULIST: the words of cpu_spec_kind_table it takes, CPUSPEC_WORD()s */
    int64_t min, max;         /* VT_INT, VT_INT_KEEP */
    unsigned flags;
    const char *dflt;         /* parsed like a written value before the file is read */
    const char *dflt_doc;     /* the default as documented, where dflt is not the whole story */
    const char *type_doc;     /* the accepted values, for docs and messages */
    const char *help;
} KeyDef;

/* A word of cpu_spec_kind_table a cpulist key takes, for KeyDef.words_mask. */
#define CPUSPEC_WORD(kind) (1u << (kind))

typedef struct SectionDef {
    SectionKind kind;
    const char *name;         /* "vm", "disk" */
    bool named;               /* [disk "ID"]: several, each with an ID */
    bool required;
    const char *id_doc;       /* what an ID looks like, for named sections */
    const char *help;
} SectionDef;

/* One table per enum of the model, as vm.ini spells its values: the parser,
 * the validator's messages, the reference (`kvmlaunch keys`), `check` and
 * the planners all read these, so a word is written once. For ENUM,
 * ENUM_to_string(v) is v's word (NULL for a value that has none, such as
 * AIO_DEFAULT); ENUM_from_string(s) takes every word, legacy aliases too,
 * and returns its value, or -EINVAL for any other word (an int: some enums
 * hold -1 for keep, others are unsigned to the compiler). Where QEMU or the kernel spells a
 * value otherwise, that mapping is explicit where the argument or the
 * kernel file is written (qemucmd.c, hostplan.c), not here. */
#define DECLARE_STRING_TABLE_LOOKUP(name, type) \
    extern const EnumName name##_table[];       \
    const char *name##_to_string(type v);       \
    int name##_from_string(const char *s)

DECLARE_STRING_TABLE_LOOKUP(machine_type, MachineType);
DECLARE_STRING_TABLE_LOOKUP(rtc_base, RtcBase);
DECLARE_STRING_TABLE_LOOKUP(accel_kind, AccelKind);
DECLARE_STRING_TABLE_LOOKUP(serial_kind, SerialKind);
DECLARE_STRING_TABLE_LOOKUP(mem_backing, MemBacking);
DECLARE_STRING_TABLE_LOOKUP(mem_policy, MemPolicy);
DECLARE_STRING_TABLE_LOOKUP(sched_kind, SchedKind);
DECLARE_STRING_TABLE_LOOKUP(thp_mode, ThpMode);
DECLARE_STRING_TABLE_LOOKUP(thp_defrag, ThpDefrag);
DECLARE_STRING_TABLE_LOOKUP(irqbalance_mode, IrqbalanceMode);
DECLARE_STRING_TABLE_LOOKUP(disk_format, DiskFormat);
DECLARE_STRING_TABLE_LOOKUP(disk_bus, DiskBus);
DECLARE_STRING_TABLE_LOOKUP(cache_mode, CacheMode);
DECLARE_STRING_TABLE_LOOKUP(aio_mode, AioMode);
DECLARE_STRING_TABLE_LOOKUP(discard_mode, DiscardMode);
DECLARE_STRING_TABLE_LOOKUP(io_scheduler, IoScheduler);
DECLARE_STRING_TABLE_LOOKUP(vhost_mode, VhostMode);
DECLARE_STRING_TABLE_LOOKUP(xps_mode, XpsMode);
DECLARE_STRING_TABLE_LOOKUP(offloads_mode, OffloadsMode);
DECLARE_STRING_TABLE_LOOKUP(cpu_spec_kind, CpuSpecKind);
DECLARE_STRING_TABLE_LOOKUP(net_mode, NetMode);
DECLARE_STRING_TABLE_LOOKUP(fwd_proto, FwdProto);
DECLARE_STRING_TABLE_LOOKUP(share_driver, ShareDriver);
DECLARE_STRING_TABLE_LOOKUP(on_reboot, OnReboot);
DECLARE_STRING_TABLE_LOOKUP(on_crash, OnCrash);
DECLARE_STRING_TABLE_LOOKUP(watchdog_model, WatchdogModel);
DECLARE_STRING_TABLE_LOOKUP(watchdog_do, WatchdogDo);

extern const KeyDef schema_keys[];
extern const size_t schema_n_keys;
extern const SectionDef schema_sections[SECTION__MAX];

const SectionDef *schema_section_by_name(const char *name);
/* The key NAME of KIND, or NULL; *index is its place among KIND's keys. */
const KeyDef *schema_key_find(SectionKind kind, const char *name, int *index);
int schema_key_index(const KeyDef *def);
/* The closest key of KIND to NAME when it is a likely typo, else NULL. */
const char *schema_key_suggest(SectionKind kind, const char *name);
const char *schema_section_suggest(const char *name);

/* Parses VALUE for DEF into the section struct at BASE. Returns 0, or
 * -EINVAL with the expectation in err (VALUE_ERR_MAX bytes). *note receives
 * a static note for accepted legacy spellings. */
int schema_parse_value(const KeyDef *def, const char *value, void *base, char *err, const char **note);
/* Sets every key of KIND to its default in the struct at BASE. */
void schema_apply_defaults(SectionKind kind, void *base);
/* Frees what the keys of KIND own in the struct at BASE. */
void schema_free_section(SectionKind kind, void *base);

/* Checks a VM name ([vm] name). */
int schema_check_vm_name(const char *name, char *err);

/* Checks a Linux interface name (15 bytes, no /, :, spaces). */
int schema_check_ifname(const char *name, char *err);

/* Checks an ID of a named section ([disk "ID"]); 0 or -EINVAL with err. */
int schema_check_id(SectionKind kind, const char *id, char *err);

/* `kvmlaunch keys`: the reference generated from the table, as aligned text,
 * as the Markdown of docs/KEYS.md or as the roff of man/kvmlaunch.ini.5. */
typedef enum { REFERENCE_TEXT, REFERENCE_MARKDOWN, REFERENCE_MAN } ReferenceFormat;
void schema_print_reference(FILE *f, ReferenceFormat format);
/* Writes S as roff text: '\\' and '-' escaped, a leading '.' or '\'' made
 * literal when AT_LINE_START, `code` in bold, non-ASCII as \[uXXXX]. */
void schema_roff_escape(FILE *f, const char *s, bool at_line_start);

#endif
