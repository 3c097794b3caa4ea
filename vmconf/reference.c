/* `kvmlaunch keys`, docs/KEYS.md and man/kvmlaunch.ini.5, written from the
 * schema table. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"
#include "util.h"

static char *key_type(const KeyDef *def) {
    if (def->type_doc) return xstrdup(def->type_doc);
    switch (def->type) {
    case VT_INT: return xasprintf("int %lld-%lld", (long long)def->min, (long long)def->max);
    case VT_SIZE: return xstrdup("size");
    case VT_DURATION: return xstrdup("duration");
    case VT_BOOL: case VT_BOOL_DERIVED: return xstrdup("bool");
    case VT_ENUM: return enum_list_names(def->words);
    case VT_PATH: return xstrdup("absolute path");
    case VT_STRING: return xstrdup("string");
    default: return xstrdup("see CONFIG.md");
    }
}

static const char *key_default(const KeyDef *def) {
    if (def->flags & KEY_REQUIRED) return "required";
    if (def->dflt_doc) return def->dflt_doc;
    if (def->dflt) return def->dflt;
    return "none";
}

/* Length of the UTF-8 sequence at S and its code point; a stray byte is
 * taken as Latin-1 so nothing is dropped. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp) {
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;
    uint32_t v = n == 1 ? s[0] : s[0] & (0x3f >> (n - 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = s[0];
            return 1;
        }
        v = v << 6 | (s[i] & 0x3f);
    }
    *cp = v;
    return n;
}

/* groff reads bytes, not UTF-8 (man runs preconv, groff -man does not): so
 * the page is plain ASCII, and every character means itself. */
void schema_roff_escape(FILE *f, const char *s, bool at_line_start) {
    bool bold = false;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        uint32_t cp;
        if (at_line_start && (*p == '.' || *p == '\'')) fputs("\\&", f);
        at_line_start = false;
        switch (*p) {
        case '\\': fputs("\\e", f); break;
        case '-': fputs("\\-", f); break;
        case '"': fputs("\\(dq", f); break;
        case '`':
            fputs(bold ? "\\fR" : "\\fB", f);
            bold = !bold;
            break;
        case '\n':
            fputc('\n', f);
            at_line_start = true;
            break;
        default:
            if (*p < 0x80) {
                fputc(*p, f);
                break;
            }
            p += utf8_decode(p, &cp);
            fprintf(f, "\\[u%04X]", (unsigned)cp);
            continue;
        }
        p++;
    }
    if (bold) fputs("\\fR", f);
}

/* What the table does not hold: the file's syntax and value types
 * (CONFIG.md), written as roff by hand. */
static const char man_head[] =
    ".SH NAME\n"
    "kvmlaunch.ini \\- the definition of one virtual machine for kvmlaunch\n"
    ".SH SYNOPSIS\n"
    ".IR NAME .ini\n"
    ".br\n"
    ".RI /etc/kvmlaunch/ NAME .ini\n"
    "(read by the systemd unit kvmlaunch@\\fINAME\\fR.service)\n"
    ".SH DESCRIPTION\n"
    "One file describes one virtual machine: its size, where its vCPUs, memory, disks and NICs\n"
    "go on the host, and which host settings kvmlaunch changes for it and puts back when it ends.\n"
    "\\fBkvmlaunch\\fR \\fINAME\\fB.ini\\fR runs it,\n"
    "\\fBkvmlaunch \\-\\-dry\\-run\\fR \\fINAME\\fB.ini\\fR prints the host plan and the QEMU command line,\n"
    "\\fBkvmlaunch check\\fR \\fINAME\\fB.ini\\fR judges it against the host.\n"
    ".SS Syntax\n"
    "INI as read by inih: a line \\fIkey\\fR = \\fIvalue\\fR sets a key of the section above it.\n"
    "\\fB#\\fR and \\fB;\\fR start comments, also after a value when whitespace comes before them.\n"
    "Sections a VM may have several of are named in quotes:\n"
    "\\fB[disk \\(dqroot\\(dq]\\fR, \\fB[net \\(dqlan\\(dq]\\fR, \\fB[hostnic \\(dqeth0\\(dq]\\fR.\n"
    "A line longer than inih reads (about 200 bytes) is an error; a long \\fBappend\\fR continues on\n"
    "indented lines.\n"
    ".PP\n"
    "Unknown sections and keys are errors (with a \\(lqdid you mean\\(rq); each error names\n"
    "\\fIfile\\fR:\\fIline\\fR, the key and what was expected, and all errors of a file come together.\n"
    "A value that would reach the QEMU command line is refused when it holds a control character.\n"
    ".SS Value types\n"
    ".TP\n.B bool\n"
    "yes/no, on/off, true/false, 1/0\n"
    ".TP\n.B size\n"
    "512M, 4G, 4GiB, 1T: binary units; a bare number is bytes\n"
    ".TP\n.B cpulist\n"
    "the kernel's list format, 0\\-3,8,10\\-11 (as in cpuset.cpus)\n"
    ".TP\n.B nodelist\n"
    "NUMA node numbers, in the same format\n"
    ".TP\n.B duration\n"
    "90s, 5m, 500ms; a bare number is seconds\n"
    ".TP\n.B keep\n"
    "for a host setting: kvmlaunch does not touch it (the default of every host knob)\n"
    ".SH SECTIONS AND KEYS\n";

static const char man_example[] =
    "[vm]\n"
    "name = web\n"
    "memory = 8G\n"
    "vcpus = 4\n"
    "user = kvm-web              # QEMU runs as this user, never as root\n"
    "\n"
    "[cpu]\n"
    "pin = 2-5                   # vCPU i on the i-th CPU, before the guest runs\n"
    "emulator = 1\n"
    "\n"
    "[memory]\n"
    "backing = hugepages         # memfd with hugetlb, 2M pages\n"
    "nodes = 0                   # bound to NUMA node 0\n"
    "reserve-hugepages = yes     # grow the node's pool to fit, give it back after\n"
    "\n"
    "[disk \"root\"]\n"
    "file = /var/lib/kvmlaunch/web.qcow2\n"
    "format = qcow2\n"
    "\n"
    "[net \"lan\"]\n"
    "bridge = br0                # multi-queue tap with vhost-net\n";

static const char man_tail[] =
    ".SH FILES\n"
    ".TP\n"
    ".RI /etc/kvmlaunch/ NAME .ini\n"
    "where the systemd unit kvmlaunch@\\fINAME\\fR.service finds the VM\n"
    ".TP\n"
    "/usr/share/doc/kvmlaunch/examples/\n"
    "a tuned server, an appliance and a CI test VM, commented key by key\n"
    ".SH SEE ALSO\n"
    ".BR kvmlaunch (1),\n"
    ".BR qemu (1);\n"
    "\\fBkvmlaunch keys\\fR prints this reference as text, \\fBkvmlaunch keys \\-\\-markdown\\fR as Markdown.\n";

static void print_man(FILE *f) {
    fprintf(f, ".\\\" Generated by `kvmlaunch keys --man` from the schema table (vmconf/schema.c); do not edit by hand.\n"
               ".TH KVMLAUNCH.INI 5 \"\" \"kvmlaunch\" \"File Formats\"\n%s",
            man_head);
    for (SectionKind k = 0; k < SECTION__MAX; k++) {
        const SectionDef *sec = &schema_sections[k];
        _cleanup_free_ char *title = xasprintf("[%s%s]%s", sec->name, sec->named ? " \"ID\"" : "", sec->required ? " (required)" : "");
        fputs(".SS ", f);
        schema_roff_escape(f, title, false);
        fputs("\n", f);
        schema_roff_escape(f, sec->help, true);
        fputs("\n", f);
        if (sec->id_doc) {
            fputs("ID: ", f);
            schema_roff_escape(f, sec->id_doc, false);
            fputs(".\n", f);
        }
        for (size_t i = 0; i < schema_n_keys; i++) {
            const KeyDef *def = &schema_keys[i];
            if (def->section != k) continue;
            _cleanup_free_ char *type = key_type(def);
            fputs(".TP\n\\fB", f);
            schema_roff_escape(f, def->name, false);
            fputs("\\fR = ", f);
            schema_roff_escape(f, type, false);
            fputs("\n", f);
            schema_roff_escape(f, def->help, true);
            fputs("\n.br\n", f);
            if (def->flags & KEY_REQUIRED) {
                fputs("Required.\n", f);
            } else {
                fputs("Default: ", f);
                schema_roff_escape(f, key_default(def), false);
                fputs(".\n", f);
            }
        }
    }
    fputs(".SH EXAMPLE\n.PP\n.RS 4\n.nf\n", f);
    schema_roff_escape(f, man_example, true);
    fputs(".fi\n.RE\n", f);
    fputs(man_tail, f);
}

void schema_print_reference(FILE *f, ReferenceFormat format) {
    if (format == REFERENCE_MAN) {
        print_man(f);
        return;
    }
    bool markdown = format == REFERENCE_MARKDOWN;
    if (markdown)
        fprintf(f, "# vm.ini key reference\n\nGenerated by `kvmlaunch keys --markdown` from the schema table "
                   "(vmconf/schema.c); do not edit by hand. CONFIG.md explains each section.\n");
    for (SectionKind k = 0; k < SECTION__MAX; k++) {
        const SectionDef *sec = &schema_sections[k];
        if (markdown) {
            fprintf(f, "\n## [%s%s]%s\n\n%s\n", sec->name, sec->named ? " \"ID\"" : "", sec->required ? " (required)" : "", sec->help);
            if (sec->id_doc) fprintf(f, "\nID: %s.\n", sec->id_doc);
            fprintf(f, "\n| key | values | default | effect |\n|---|---|---|---|\n");
        } else {
            fprintf(f, "%s[%s%s]%s\n", k ? "\n" : "", sec->name, sec->named ? " \"ID\"" : "", sec->required ? " (required)" : "");
        }
        for (size_t i = 0; i < schema_n_keys; i++) {
            const KeyDef *def = &schema_keys[i];
            if (def->section != k) continue;
            _cleanup_free_ char *type = key_type(def);
            if (markdown) {
                /* A | inside a cell would end it. */
                fprintf(f, "| `%s` | %s | %s | %s |\n", def->name, type, key_default(def), def->help);
            } else {
                fprintf(f, "  %-24s %s\n  %-24s default: %s\n  %-24s %s\n", def->name, type, "", key_default(def), "", def->help);
            }
        }
    }
}
