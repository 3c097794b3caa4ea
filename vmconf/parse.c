/* Parsing one written value into its place, as the schema table says. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "netforward.h"
#include "schema.h"
#include "util.h"
#include "vmconf_internal.h"

#define FIELD(base, def, type) ((type *)((char *)(base) + (def)->offset))

static int fail(char *err, const char *found, const char *what) {
    _cleanup_free_ char *shown = value_quote(found);
    snprintf(err, VALUE_ERR_MAX, "expected %s, found %s", what, shown);
    return -EINVAL;
}

int schema_check_vm_name(const char *s, char *err) {
    size_t n = strlen(s);
    if (n < 1 || n > 64 || s[0] == '.' || s[0] == '-' || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != n)
        return fail(err, s, "1 to 64 of A-Z a-z 0-9 _ . - (not starting with . or -)");
    return 0;
}

static int check_user(const char *s, char *err) {
    size_t n = strlen(s);
    /* POSIX portable user names, as useradd accepts them by default. */
    if (n < 1 || n > 32 || !(islower((unsigned char)s[0]) || s[0] == '_') ||
        strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return fail(err, s, "a user name (a-z, 0-9, _ and -, starting with a letter or _)");
    if (streq(s, "root"))
        return fail(err, s, "a user other than root (QEMU never runs as root)");
    return 0;
}

/* What the kernel's dev_valid_name() accepts: at most 15 bytes, no '/',
 * ':' or whitespace, not "." or "..". */
int schema_check_ifname(const char *s, char *err) {
    size_t n = strlen(s);
    if (n < 1 || n > 15 || streq(s, ".") || streq(s, ".."))
        return fail(err, s, "an interface name of 1 to 15 characters");
    for (const char *p = s; *p; p++)
        if (*p == '/' || *p == ':' || isspace((unsigned char)*p) || (unsigned char)*p >= 0x7f)
            return fail(err, s, "an interface name without /, :, spaces or non-ASCII");
    return 0;
}

static bool is_word(const char *s, size_t n) {
    if (!n) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i])) return false;
    return true;
}

/* MODEL[,+feat|,-feat|,feat=value]...: every part a plain word, so a comma
 * can only ever separate what QEMU's -cpu expects it to. */
static int check_cpu_model(const char *s, char *err) {
    static const char what[] = "a CPU model such as host, max or EPYC, optionally with ,+FEATURE / ,-FEATURE / ,FEATURE=VALUE";
    const char *p = s;
    size_t n = strcspn(p, ",");
    if (!is_word(p, n) || p[0] == '-') return fail(err, s, what);
    for (p += n; *p; p += n) {
        p++;
        if (*p == '+' || *p == '-') p++;
        n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        if (eq ? !is_word(p, (size_t)(eq - p)) || !is_word(eq + 1, n - (size_t)(eq - p) - 1) : !is_word(p, n))
            return fail(err, s, what);
    }
    return 0;
}

/* The words of cpu_spec_kind_table DEF takes, in the table's order. */
static void cpuspec_words(const KeyDef *def, EnumName out[static 8]) {
    size_t n = 0;
    for (const EnumName *w = def->words; w && w->name && n < 7; w++)
        if (def->words_mask & CPUSPEC_WORD(w->value)) out[n++] = *w;
    out[n] = (EnumName){ NULL, 0, NULL };
}

static int parse_cpuspec(const KeyDef *def, const char *s, CpuSpec *out, char *err) {
    EnumName words[8];
    cpuspec_words(def, words);
    for (const EnumName *w = words; w->name; w++) {
        if (streq(s, w->name)) {
            cpulist_free(&out->list);
            out->kind = (CpuSpecKind)w->value;
            return 0;
        }
    }
    CpuList l;
    int r = (def->flags & KEY_SEQUENCE ? value_parse_cpulist_seq : value_parse_cpulist)(s, &l, err);
    /* A value that starts like a list keeps the list parser's precise
     * message ("2 is listed twice"); anything else hears the words too. */
    if (r < 0) {
        if (words[0].name && !isdigit((unsigned char)s[0])) {
            _cleanup_free_ char *names = enum_list_names(words);
            _cleanup_free_ char *shown = value_quote(s);
            snprintf(err, VALUE_ERR_MAX, "expected a CPU list such as 0-3,8, %s, found %s", names, shown);
        }
        return r;
    }
    cpulist_free(&out->list);
    out->kind = CPUSPEC_LIST;
    out->list = l;
    return 0;
}

static int parse_sched(const char *s, Sched *out, char *err) {
    static const char what[] = "other, fifo:PRIO or rr:PRIO with PRIO from 1 to 99";
    if (sched_kind_from_string(s) == SCHED_KIND_OTHER) {
        *out = (Sched){ SCHED_KIND_OTHER, 0 };
        return 0;
    }
    /* fifo:PRIO, rr:PRIO */
    const char *colon = strchr(s, ':');
    _cleanup_free_ char *word = colon ? xstrndup(s, (size_t)(colon - s)) : NULL;
    int kind = word ? sched_kind_from_string(word) : -EINVAL;
    if (kind != SCHED_KIND_FIFO && kind != SCHED_KIND_RR) return fail(err, s, what);
    const char *prio = colon + 1;
    int64_t v;
    char ignored[VALUE_ERR_MAX];
    if (value_parse_int(prio, 1, 99, &v, ignored) < 0) return fail(err, s, what);
    *out = (Sched){ (SchedKind)kind, (int)v };
    return 0;
}

static int parse_path(const char *s, char **out, char *err) {
    if (s[0] != '/') return fail(err, s, "an absolute path");
    if (strlen(s) > 4095) return fail(err, s, "a path shorter than 4096 bytes");
    free(*out);
    *out = xstrdup(s);
    return 0;
}

static int parse_serial(const char *s, Serial *out, char *err) {
    /* A word alone, but file: it takes a path (below). */
    int kind = serial_kind_from_string(s);
    if (kind >= 0 && kind != SERIAL_FILE) {
        out->path = x_free(out->path);
        out->kind = (SerialKind)kind;
        return 0;
    }
    if (strncmp(s, "file:", 5)) return fail(err, s, "stdout, file:PATH, pty or none");
    char *path = NULL;
    int r = parse_path(s + 5, &path, err);
    if (r < 0) return fail(err, s, "file: followed by an absolute path");
    free(out->path);
    *out = (Serial){ SERIAL_FILE, path };
    return 0;
}

int schema_parse_value(const KeyDef *def, const char *s, void *base, char *err, const char **note) {
    int r;
    *note = NULL;
    switch (def->type) {
    case VT_INT:
        return value_parse_int(s, def->min, def->max, FIELD(base, def, int64_t), err);
    case VT_INT_KEEP:
        if (streq(s, "keep")) { *FIELD(base, def, int64_t) = -1; return 0; }
        r = value_parse_int(s, def->min, def->max, FIELD(base, def, int64_t), err);
        if (r < 0) snprintf(err, VALUE_ERR_MAX, "expected keep or a number from %lld to %lld, found \"%.40s\"",
                            (long long)def->min, (long long)def->max, s);
        return r;
    case VT_SIZE:
        return value_parse_size(s, FIELD(base, def, uint64_t), err);
    case VT_HUGEPAGE_SIZE: {
        uint64_t v;
        r = value_parse_size(s, &v, err);
        if (r == 0 && v != (UINT64_C(2) << 20) && v != (UINT64_C(1) << 30)) r = -EINVAL;
        if (r < 0) return fail(err, s, "2M or 1G");
        *FIELD(base, def, uint64_t) = v;
        return 0;
    }
    case VT_DURATION:
        return value_parse_duration(s, FIELD(base, def, uint64_t), err);
    case VT_BOOL:
        return value_parse_bool(s, FIELD(base, def, bool), err);
    case VT_BOOL_KEEP:
    case VT_BOOL_DERIVED: {
        bool b;
        if (def->type == VT_BOOL_KEEP && streq(s, "keep")) { *FIELD(base, def, int) = TRISTATE_UNSET; return 0; }
        r = value_parse_bool(s, &b, err);
        if (r < 0 && def->type == VT_BOOL_KEEP) return fail(err, s, "yes/no, on/off, true/false, 1/0 or keep");
        if (r < 0) return r;
        *FIELD(base, def, int) = b;
        return 0;
    }
    case VT_ENUM:
        r = value_parse_enum(s, def->words, FIELD(base, def, int), err);
        if (r < 0) return r;
        *note = def->words[r].note;
        return 0;
    case VT_STRING:
        free(*FIELD(base, def, char *));
        *FIELD(base, def, char *) = xstrdup(s);
        return 0;
    case VT_PATH:
        return parse_path(s, FIELD(base, def, char *), err);
    case VT_NAME:
    case VT_USER:
    case VT_IFNAME:
    case VT_CPU_MODEL:
        r = def->type == VT_NAME ? schema_check_vm_name(s, err) : def->type == VT_USER ? check_user(s, err)
          : def->type == VT_IFNAME ? schema_check_ifname(s, err) : check_cpu_model(s, err);
        if (r < 0) return r;
        free(*FIELD(base, def, char *));
        *FIELD(base, def, char *) = xstrdup(s);
        return 0;
    case VT_CPULIST:
        return parse_cpuspec(def, s, FIELD(base, def, CpuSpec), err);
    case VT_NODELIST: {
        CpuList l;
        r = value_parse_cpulist(s, &l, err);
        if (r < 0) return fail(err, s, "a node list such as 0 or 0-1");
        cpulist_free(FIELD(base, def, CpuList));
        *FIELD(base, def, CpuList) = l;
        return 0;
    }
    case VT_SCHED:
        return parse_sched(s, FIELD(base, def, Sched), err);
    case VT_SERIAL:
        return parse_serial(s, FIELD(base, def, Serial), err);
    case VT_FIRMWARE:
        if (streq(s, "bios")) {
            *FIELD(base, def, char *) = x_free(*FIELD(base, def, char *));
            return 0;
        }
        /* The words stay words (firmware.h reads them); paths are absolute. */
        if (streq(s, "uefi") || streq(s, "uefi-secure")) {
            free(*FIELD(base, def, char *));
            *FIELD(base, def, char *) = xstrdup(s);
            return 0;
        }
        r = parse_path(s, FIELD(base, def, char *), err);
        if (r < 0) return fail(err, s, "bios, uefi, uefi-secure or the absolute path of OVMF code");
        return 0;
    case VT_MACHINE: {
        int family;
        if (vmconf_machine_parse(s, &family) < 0) return fail(err, s, "q35, pc, microvm, or a versioned type such as pc-q35-7.2 or pc-i440fx-7.2");
        free(*FIELD(base, def, char *));
        *FIELD(base, def, char *) = xstrdup(s);
        ((VmSection *)base)->machine = family; /* only [vm] has it */
        return 0;
    }
    case VT_MAC:
        return value_parse_mac(s, FIELD(base, def, MacAddr), err);
    case VT_FORWARDS:
        return netforwards_parse(s, FIELD(base, def, NetForwards), err);
    case VT_RESTART_LIMIT:
        return vmconf_parse_restart_limit(s, FIELD(base, def, RestartLimit), err);
    }
    return fail(err, s, "a value this version understands");
}

void schema_apply_defaults(SectionKind kind, void *base) {
    for (size_t i = 0; i < schema_n_keys; i++) {
        const KeyDef *def = &schema_keys[i];
        if (def->section != kind || (def->flags & KEY_INDEXED)) continue;
        switch (def->type) {
        case VT_BOOL_KEEP:
        case VT_BOOL_DERIVED:
            *FIELD(base, def, int) = TRISTATE_UNSET;
            break;
        case VT_CPULIST:
            *FIELD(base, def, CpuSpec) = (CpuSpec){ CPUSPEC_UNSET, { NULL, 0 } };
            break;
        case VT_ENUM:
            /* Enums whose default is derived later start at their first
             * value's place as 0; tables put the "derived" state at 0. */
            break;
        default:
            break;
        }
        if (def->dflt) {
            char err[VALUE_ERR_MAX];
            const char *note;
            int r = schema_parse_value(def, def->dflt, base, err, &note);
            /* The table is code: a default that does not parse is a bug that
             * the schema unit test catches. */
            if (r < 0) abort();
        }
    }
}

void schema_free_section(SectionKind kind, void *base) {
    SectionHead *head = base;
    head->id = x_free(head->id);
    for (size_t i = 0; i < schema_n_keys; i++) {
        const KeyDef *def = &schema_keys[i];
        if (def->section != kind || (def->flags & KEY_INDEXED)) continue;
        switch (def->type) {
        case VT_STRING: case VT_PATH: case VT_NAME: case VT_USER: case VT_IFNAME: case VT_CPU_MODEL: case VT_FIRMWARE: case VT_MACHINE:
            *FIELD(base, def, char *) = x_free(*FIELD(base, def, char *));
            break;
        case VT_CPULIST:
            cpulist_free(&FIELD(base, def, CpuSpec)->list);
            break;
        case VT_NODELIST:
            cpulist_free(FIELD(base, def, CpuList));
            break;
        case VT_SERIAL:
            FIELD(base, def, Serial)->path = x_free(FIELD(base, def, Serial)->path);
            break;
        case VT_FORWARDS:
            netforwards_free(FIELD(base, def, NetForwards));
            break;
        default:
            break;
        }
    }
}

int schema_check_id(SectionKind kind, const char *id, char *err) {
    if (kind == SECTION_HOSTNIC) return schema_check_ifname(id, err);
    size_t n = strlen(id);
    /* QEMU ids start with a letter; 24 leaves room for the longest node-name
     * prefix within QEMU's 31-byte limit. */
    if (n < 1 || n > 24 || !isalpha((unsigned char)id[0]) ||
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return fail(err, id, "an ID of a letter, then letters, digits, _ or - (at most 24)");
    return 0;
}
