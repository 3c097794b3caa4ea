/* Reading vm.ini: inih splits lines into sections, keys and values; a reader
 * of our own feeds it line by line and stops what inih would get wrong
 * (over-long lines whose tail it parses as a new line, NUL bytes, truncated
 * section names), so every problem is reported with its line, all at once. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "schema.h"
#include "util.h"
#include "vmconf_internal.h"

/* Biggest vm.ini read; far beyond any real one, small enough to hold. */
#define VMCONF_MAX_FILE (16u << 20)
/* [disk], [net] and [hostnic] sections of one kind: a machine takes at most
 * 30 devices (validate.c says so); past this many a 10 MB file of headers
 * would cost quadratic time in the checks for unique IDs. */
#define VMCONF_MAX_NAMED 64
/* A value continued on indented lines (append): x86 kernels read 2047 bytes;
 * the cap keeps the joining, quadratic, from a 10 MB file of them. */
#define VMCONF_MAX_MULTILINE 16384

typedef struct Loader {
    const char *name;
    const char *data;
    size_t size, pos;
    int lineno;                 /* line last handed to inih */
    bool continuation;          /* that line continues the previous key */
    bool has_prev_key;          /* inih's prev_name: a key line since the last header */
    VmConfig *cfg;
    ErrList *errors;
    SectionKind cur_kind;
    long cur_index;             /* instance of cur_kind, -1: skip keys (bad header) */
    const KeyDef *prev_def;     /* key of the last key line, for continuations */
    char *multiline;            /* owned: the value so far of a KEY_MULTILINE key */
    bool multiline_cut;         /* it ran past VMCONF_MAX_MULTILINE: its further lines are skipped */
    int singleton_line[SECTION__MAX];
    bool too_many[SECTION__MAX];    /* past VMCONF_MAX_NAMED: said once, the rest skipped */
    bool any_header;
    bool lines_refused;         /* some line was refused: what seems missing may be in it */
} Loader;

/* A refused line: the message names SECTION and KEY where they are known
 * (a schema name and a key, or NULL), as its "[section] key:" part says. */
static void report_about(Loader *ld, const char *section, const char *key, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void report_about(Loader *ld, const char *section, const char *key, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    errlist_add_about(ld->errors, ld->lineno, section, key, "%s:%d: %s", ld->name, ld->lineno, buf);
    ld->lines_refused = true;
    if (ld->cur_index >= 0) ((SectionHead *)vmconf_section(ld->cfg, ld->cur_kind, (size_t)ld->cur_index))->lines_refused = true;
}

#define report(ld, ...) report_about((ld), NULL, NULL, __VA_ARGS__)
/* About the section being read, and KEY in it. */
#define report_key(ld, key, ...) report_about((ld), section_kind_name((ld)->cur_kind), (key), __VA_ARGS__)

/* Adds an instance of a named section and returns its index. */
static size_t add_named(VmConfig *cfg, SectionKind kind, const char *id, int line) {
    size_t *n;
    void **arr;
    size_t elem;
    switch (kind) {
    case SECTION_DISK: n = &cfg->n_disks; arr = (void **)&cfg->disks; elem = sizeof(DiskSection); break;
    case SECTION_NET: n = &cfg->n_nets; arr = (void **)&cfg->nets; elem = sizeof(NetSection); break;
    case SECTION_SHARE: n = &cfg->n_shares; arr = (void **)&cfg->shares; elem = sizeof(ShareSection); break;
    case SECTION_HOSTDEV: n = &cfg->n_hostdevs; arr = (void **)&cfg->hostdevs; elem = sizeof(HostdevSection); break;
    default: n = &cfg->n_hostnics; arr = (void **)&cfg->hostnics; elem = sizeof(HostNicSection); break;
    }
    *arr = xrealloc(*arr, (*n + 1) * elem);
    void *base = (char *)*arr + *n * elem;
    memset(base, 0, elem);
    schema_apply_defaults(kind, base);
    SectionHead *head = base;
    head->id = xstrdup(id);
    head->line = line;
    return (*n)++;
}

static long find_named(VmConfig *cfg, SectionKind kind, const char *id) {
    size_t n = vmconf_section_count(cfg, kind);
    for (size_t i = 0; i < n; i++)
        if (streq(((SectionHead *)vmconf_section(cfg, kind, i))->id, id)) return (long)i;
    return -1;
}

/* A header line, `[vm]` or `[disk "root"]`; P points at '['. */
static void read_header(Loader *ld, const char *p, size_t len) {
    ld->any_header = true;
    ld->cur_index = -1;
    ld->has_prev_key = false;
    ld->prev_def = NULL;
    ld->multiline_cut = false;
    const char *close = memchr(p, ']', len);
    if (!close) {
        report(ld, "expected a section header such as [vm] or [disk \"ID\"], found no closing ]");
        return;
    }
    for (const char *q = close + 1; q < p + len; q++) {
        if (*q == ';' || *q == '#') break;
        if (!isspace((unsigned char)*q)) {
            _cleanup_free_ char *junk = value_escape(q, (size_t)(p + len - q));
            report(ld, "expected only a comment after the section header, found \"%s\"", junk);
            return;
        }
    }
    const char *s = p + 1;
    size_t wlen = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.");
    _cleanup_free_ char *word = xstrndup(s, wlen);
    const char *rest = s + wlen;
    const SectionDef *sec = schema_section_by_name(word);
    if (!sec) {
        const char *hint = schema_section_suggest(word);
        _cleanup_free_ char *shown = value_escape(p, (size_t)(close - p + 1));
        if (hint) report(ld, "%s: unknown section (did you mean [%s]?)", shown, hint);
        else report(ld, "%s: unknown section, expected [vm], [cpu], [memory], [balloon], [host], [disk \"ID\"], [net \"ID\"], [hostnic \"DEV\"], [share \"TAG\"], [cloud-init], [tpm] or [hostdev \"ID\"]", shown);
        return;
    }
    while (rest < close && (*rest == ' ' || *rest == '\t')) rest++;
    if (!sec->named) {
        if (rest != close) {
            _cleanup_free_ char *id = value_escape(rest, (size_t)(close - rest));
            report_about(ld, sec->name, NULL, "[%s]: expected a section without an ID, found \"%s\"", sec->name, id);
            return;
        }
        if (ld->singleton_line[sec->kind]) {
            report_about(ld, sec->name, NULL, "[%s]: section repeated, first at line %d; write each section once", sec->name, ld->singleton_line[sec->kind]);
            return;
        }
        ld->singleton_line[sec->kind] = ld->lineno;
        ((SectionHead *)vmconf_section(ld->cfg, sec->kind, 0))->line = ld->lineno;
        ld->cur_kind = sec->kind;
        ld->cur_index = 0;
        return;
    }
    if (ld->too_many[sec->kind]) return; /* said once, at the first one too many */
    const char *q2 = close - 1;
    if (rest >= close || *rest != '"' || q2 <= rest || *q2 != '"') {
        report_about(ld, sec->name, NULL, "[%s]: expected [%s \"ID\"] with the ID in double quotes", sec->name, sec->name);
        return;
    }
    _cleanup_free_ char *id = xstrndup(rest + 1, (size_t)(q2 - rest - 1));
    char err[VALUE_ERR_MAX];
    if (value_find_bad_char(id) >= 0 || schema_check_id(sec->kind, id, err) < 0) {
        if (value_find_bad_char(id) >= 0) snprintf(err, sizeof(err), "expected %s, found a control character or invalid UTF-8", sec->id_doc);
        report_about(ld, sec->name, NULL, "[%s]: %s", sec->name, err);
        return;
    }
    size_t count = vmconf_section_count(ld->cfg, sec->kind);
    if (count >= VMCONF_MAX_NAMED) {
        if (!ld->too_many[sec->kind])
            report_about(ld, sec->name, NULL, "[%s \"%s\"]: expected at most %d [%s] sections, found more", sec->name, id, VMCONF_MAX_NAMED, sec->name);
        ld->too_many[sec->kind] = true;
        return;
    }
    long prev = find_named(ld->cfg, sec->kind, id);
    if (prev >= 0) {
        SectionHead *h = vmconf_section(ld->cfg, sec->kind, (size_t)prev);
        report_about(ld, sec->name, NULL, "[%s \"%s\"]: section repeated, first at line %d; IDs must be unique", sec->name, id, h->line);
        return;
    }
    ld->cur_kind = sec->kind;
    ld->cur_index = (long)add_named(ld->cfg, sec->kind, id, ld->lineno);
}

/* A ";" or "#" after whitespace within the first N bytes. */
static bool comment_before(const char *s, size_t n) {
    for (size_t i = 1; i < n; i++)
        if ((s[i] == ';' || s[i] == '#') && isspace((unsigned char)s[i - 1])) return true;
    return false;
}

/* A refused line that would have been a header still ends the section
 * above: its keys must not be taken for keys of that section. */
static void refuse_header(Loader *ld, const char *p, size_t len) {
    while (len && (isspace((unsigned char)*p) || *p == '\0')) p++, len--;
    if (!len || *p != '[') return;
    ld->cur_index = -1;
    ld->any_header = true;
    ld->has_prev_key = false;
    ld->prev_def = NULL;
}

/* A line too long for inih, with a NUL, a stray CR or a BOM inside: said
 * and its header refused; true when so. SKIP: the file's own BOM. */
static bool line_refused(Loader *ld, const char *line, size_t len, int num, size_t *skip) {
    /* inih reads at most num-1 bytes with the newline; more would be split
     * into two lines, the tail parsed as if it were a line of its own. */
    size_t max = (size_t)num - 2;
    if (len > max) {
        report(ld, "expected lines of at most %zu bytes, found %zu (a long append= continues on indented lines)", max, len);
        refuse_header(ld, line, len);
        return true;
    }
    if (memchr(line, '\0', len)) {
        report(ld, "expected text, found a NUL byte at column %zu", (size_t)((const char *)memchr(line, '\0', len) - line) + 1);
        refuse_header(ld, line, len);
        return true;
    }
    *skip = ld->lineno == 1 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3) ? 3 : 0;
    const char *cr = memchr(line, '\r', len);
    if (cr && cr != line + len - 1) {
        report(ld, "expected lines ending in \\n or \\r\\n, found a carriage return at column %zu (old Mac line endings?)", (size_t)(cr - line) + 1);
        refuse_header(ld, line, len);
        return true;
    }
    const char *bom = memmem(line + *skip, len - *skip, "\xEF\xBB\xBF", 3);
    if (bom) {
        report(ld, "expected text, found a byte-order mark (U+FEFF) at column %zu; it belongs at the start of the file only",
               (size_t)(bom - line) + 1);
        refuse_header(ld, bom + 3, (size_t)(line + len - bom - 3));
        return true;
    }
    return false;
}

/* An indented line after a key: more of its value, where the key may span
 * lines and the line is no indented header or key; else said. */
static bool continuation_ok(Loader *ld, const char *start, size_t slen) {
    /* inih takes an indented line after a key as more of its value. */
    if (ld->multiline_cut) return false; /* said once: the rest is skipped unread */
    if (!ld->prev_def || !(ld->prev_def->flags & KEY_MULTILINE)) {
        report(ld, "expected a key at the start of the line, found an indented line that would continue the key above "
                   "(only append may span lines; remove the indentation)");
        return false;
    }
    /* An indented header or key would silently become kernel arguments. */
    const char *eq = memchr(start, '=', slen);
    _cleanup_free_ char *word = eq ? xstrndup(start, (size_t)(eq - start)) : NULL;
    if (word) {
        size_t wl = strlen(word);
        while (wl && isspace((unsigned char)word[wl - 1])) word[--wl] = '\0';
    }
    if (*start == '[' || (word && ld->cur_index >= 0 && schema_key_find(ld->cur_kind, word, NULL))) {
        report(ld, "expected more of %s, found an indented %s; remove the indentation", ld->prev_def->name,
               *start == '[' ? "section header" : "key");
        return false;
    }
    return true;
}

/* The ini_reader: hands inih one line at a time, or an empty line in place of
 * one that is broken (after saying why), so line numbers stay true. */
static char *reader(char *str, int num, void *stream) {
    Loader *ld = stream;
    if (ld->pos >= ld->size) return NULL;
    const char *line = ld->data + ld->pos;
    const char *nl = memchr(line, '\n', ld->size - ld->pos);
    size_t len = nl ? (size_t)(nl - line) : ld->size - ld->pos;
    ld->pos += len + (nl ? 1 : 0);
    ld->lineno++;
    ld->continuation = false;
    strcpy(str, "\n");

    size_t skip;
    if (line_refused(ld, line, len, num, &skip)) return str;
    const char *p = line + skip;
    size_t plen = len - skip;
    size_t lead = 0;
    while (lead < plen && isspace((unsigned char)p[lead])) lead++;
    const char *start = p + lead;
    size_t slen = plen - lead;
    while (slen && isspace((unsigned char)start[slen - 1])) slen--;

    if (slen == 0 || *start == ';' || *start == '#') {
        /* blank or comment: inih skips it too */
    } else if (lead > 0 && ld->has_prev_key) {
        if (!continuation_ok(ld, start, slen)) return str;
        ld->continuation = true;
    } else if (*start == '[') {
        read_header(ld, start, slen);
    } else if (memchr(start, ':', slen) && (!memchr(start, '=', slen) || (const char *)memchr(start, ':', slen) < (const char *)memchr(start, '=', slen))) {
        /* inih would split at the colon; the contract speaks KEY = VALUE. */
        _cleanup_free_ char *shown = value_escape(start, slen > 40 ? 40 : slen);
        report(ld, "expected KEY = VALUE, found a colon before any = in \"%s%s\"", shown, slen > 40 ? "..." : "");
        return str;
    } else if (memchr(start, '=', slen) && comment_before(start, (size_t)((const char *)memchr(start, '=', slen) - start))) {
        /* inih would cut the line at the comment and drop the key unseen. */
        _cleanup_free_ char *shown = value_escape(start, slen > 40 ? 40 : slen);
        report(ld, "expected KEY = VALUE, found a comment before the = in \"%s%s\"", shown, slen > 40 ? "..." : "");
        return str;
    } else if (!memchr(start, '=', slen)) {
        _cleanup_free_ char *shown = value_escape(start, slen > 40 ? 40 : slen);
        report(ld, "expected KEY = VALUE or a [section] header, found \"%s%s\"", shown, slen > 40 ? "..." : "");
        return str;
    } else {
        ld->has_prev_key = true;
        ld->prev_def = NULL;
    }
    memcpy(str, line, len);
    str[len] = '\n';
    str[len + 1] = '\0';
    return str;
}

/* `#` or `;` after whitespace starts a comment: inih strips only `;`, and
 * not on continuation lines. */
static void strip_inline_comment(char *v) {
    for (char *p = v; *p; p++) {
        if ((*p == '#' || *p == ';') && (p == v || isspace((unsigned char)p[-1]))) {
            *p = '\0';
            break;
        }
    }
    size_t n = strlen(v);
    while (n && isspace((unsigned char)v[n - 1])) v[--n] = '\0';
}

static int handle_vcpu_key(Loader *ld, const char *label, const char *name, const char *value) {
    CpuSection *cpu = &ld->cfg->cpu;
    int64_t n;
    char err[VALUE_ERR_MAX];
    if (value_parse_int(name + 5, 0, 287, &n, err) < 0 || (name[5] == '0' && name[6])) {
        report_key(ld, name, "%s %s: unknown key, expected vcpu.N with N a vCPU number from 0 to 287", label, name);
        return 1;
    }
    if ((size_t)n >= cpu->n_vcpu_override) {
        size_t old = cpu->n_vcpu_override, want = (size_t)n + 1;
        cpu->vcpu_override = xrealloc(cpu->vcpu_override, want * sizeof(CpuList));
        cpu->vcpu_override_line = xrealloc(cpu->vcpu_override_line, want * sizeof(int));
        memset(cpu->vcpu_override + old, 0, (want - old) * sizeof(CpuList));
        memset(cpu->vcpu_override_line + old, 0, (want - old) * sizeof(int));
        cpu->n_vcpu_override = want;
    }
    if (cpu->vcpu_override_line[n]) {
        report_key(ld, name, "%s %s: duplicate key, first set on line %d", label, name, cpu->vcpu_override_line[n]);
        return 1;
    }
    CpuList l;
    if (value_parse_cpulist(value, &l, err) < 0) {
        report_key(ld, name, "%s %s: %s", label, name, err);
        return 1;
    }
    cpu->vcpu_override[n] = l;
    cpu->vcpu_override_line[n] = ld->lineno;
    return 1;
}

static int handler(void *user, const char *section, const char *name, const char *raw) {
    (void)section; /* the reader tracked the header itself, untruncated */
    Loader *ld = user;
    if (ld->cur_index < 0) {
        /* Keys under a refused header were reported with it. */
        if (!ld->any_header && !ld->continuation) {
            _cleanup_free_ char *key = value_escape(name, strlen(name));
            report(ld, "%s: expected a [section] header before the first key", key);
        }
        return 1;
    }
    void *base = vmconf_section(ld->cfg, ld->cur_kind, (size_t)ld->cur_index);
    SectionHead *head = base;
    _cleanup_free_ char *label = section_label(ld->cur_kind, head);
    _cleanup_free_ char *value = xstrdup(raw);
    strip_inline_comment(value);

    long bad = value_find_bad_char(value);
    if (bad >= 0) {
        /* The key itself is checked only below. */
        _cleanup_free_ char *key = value_escape(name, strlen(name));
        report_key(ld, key, "%s %s: expected printable UTF-8 text, found byte 0x%02x at column %ld of the value", label, key,
               (unsigned char)value[bad], bad + 1);
        return 1;
    }
    if (ld->continuation) {
        const KeyDef *def = ld->prev_def;
        if (!def || !ld->multiline) return 1; /* the key line itself was refused, or ran too long */
        if (strlen(ld->multiline) + 1 + strlen(value) > VMCONF_MAX_MULTILINE) {
            report_key(ld, def->name, "%s %s: expected at most %d bytes in all, found more with this line (x86 kernels read 2047)", label, def->name,
                   VMCONF_MAX_MULTILINE);
            ld->multiline = x_free(ld->multiline);
            ld->multiline_cut = true;
            return 1;
        }
        char *joined = xasprintf("%s %s", ld->multiline, value);
        free(ld->multiline);
        ld->multiline = joined;
        char err[VALUE_ERR_MAX];
        const char *note;
        if (schema_parse_value(def, joined, base, err, &note) < 0) report_key(ld, def->name, "%s %s: %s", label, def->name, err);
        return 1;
    }
    ld->multiline = x_free(ld->multiline);
    ld->multiline_cut = false;
    if (!*name) {
        report_key(ld, NULL, "%s: expected KEY = VALUE, found no key before the =", label);
        return 1;
    }
    if (value_find_bad_char(name) >= 0) {
        _cleanup_free_ char *shown = value_quote(name);
        report_key(ld, NULL, "%s: expected a key name, found %s", label, shown);
        return 1;
    }
    if (ld->cur_kind == SECTION_CPU && !strncmp(name, "vcpu.", 5)) return handle_vcpu_key(ld, label, name, value);

    int index;
    const KeyDef *def = schema_key_find(ld->cur_kind, name, &index);
    if (!def || (def->flags & KEY_INDEXED)) {
        const char *hint = schema_key_suggest(ld->cur_kind, name);
        if (hint) report_key(ld, name, "%s %s: unknown key (did you mean %s?)", label, name, hint);
        else report_key(ld, name, "%s %s: unknown key; `kvmlaunch keys` lists the keys of every section", label, name);
        return 1;
    }
    ld->prev_def = def;
    if (head->key_line[index]) {
        report_key(ld, name, "%s %s: duplicate key, first set on line %d", label, name, head->key_line[index]);
        ld->prev_def = NULL;
        return 1;
    }
    head->key_line[index] = ld->lineno;
    char err[VALUE_ERR_MAX];
    const char *note;
    if (schema_parse_value(def, value, base, err, &note) < 0) {
        report_key(ld, name, "%s %s: %s", label, name, err);
        head->key_refused[index] = 1;
        return 1;
    }
    if (note) errlist_add_about(&ld->cfg->notes, ld->lineno, section_kind_name(ld->cur_kind), name, "%s:%d: %s %s: %s", ld->name, ld->lineno, label, name, note);
    if (def->flags & KEY_MULTILINE) ld->multiline = xstrdup(value);
    return 1;
}

static void config_init(VmConfig *cfg, const char *name) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->path = xstrdup(name);
    for (SectionKind k = SECTION_VM; k <= SECTION_HOST; k++) schema_apply_defaults(k, vmconf_section(cfg, k, 0));
    schema_apply_defaults(SECTION_CLOUDINIT, &cfg->cloudinit);
    schema_apply_defaults(SECTION_TPM, &cfg->tpm);
}

int vmconf_load_buffer(const char *name, const char *data, size_t size, VmConfig *cfg, ErrList *errors) {
    Loader ld = { .name = name, .data = data, .size = size, .cfg = cfg, .errors = errors, .cur_index = -1 };
    config_init(cfg, name);
    size_t before = errors->n;
    ini_parse_stream(reader, &ld, handler, &ld);
    free(ld.multiline);
    /* Cross-key checks run even after refused lines, so a user sees every
     * problem at once; they skip keys whose value was refused. */
    vmconf_validate(cfg, errors, ld.lines_refused);
    errlist_sort(errors);
    if (errors->n > before) {
        vmconf_free(cfg);
        return -EINVAL;
    }
    return 0;
}

int vmconf_load_file(const char *path, VmConfig *cfg, ErrList *errors) {
    memset(cfg, 0, sizeof(*cfg));
    /* O_NONBLOCK: a FIFO must not hang the launcher; fstat refuses it next. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int r = -errno;
        errlist_addf(errors, 0, "%s: cannot open the VM definition: %s", path, strerror(errno));
        return r;
    }
    return vmconf_load_fd(fd, path, cfg, errors);
}

int vmconf_load_fd(int fd, const char *path, VmConfig *cfg, ErrList *errors) {
    memset(cfg, 0, sizeof(*cfg));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int r = -errno;
        errlist_addf(errors, 0, "%s: cannot stat: %s", path, strerror(errno));
        return r;
    }
    if (!S_ISREG(st.st_mode)) {
        errlist_addf(errors, 0, "%s: expected a regular file, found %s", path,
                     S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISCHR(st.st_mode) ? "a character device" : "a special file");
        return -EINVAL;
    }
    if ((uint64_t)st.st_size > VMCONF_MAX_FILE) {
        errlist_addf(errors, 0, "%s: expected a VM definition of at most %u MiB, found %lld bytes", path, VMCONF_MAX_FILE >> 20, (long long)st.st_size);
        return -EFBIG;
    }
    size_t size = (size_t)st.st_size, got = 0;
    _cleanup_free_ char *data = xmalloc(size + 1);
    while (got < size) {
        ssize_t k = read(fd, data + got, size - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            int r = -errno;
            errlist_addf(errors, 0, "%s: cannot read: %s", path, strerror(errno));
            return r;
        }
        if (k == 0) break;
        got += (size_t)k;
    }
    return vmconf_load_buffer(path, data, got, cfg, errors);
}

void vmconf_free(VmConfig *cfg) {
    for (SectionKind k = SECTION_VM; k <= SECTION_HOST; k++) schema_free_section(k, vmconf_section(cfg, k, 0));
    for (size_t i = 0; i < cfg->n_disks; i++) schema_free_section(SECTION_DISK, &cfg->disks[i]);
    for (size_t i = 0; i < cfg->n_nets; i++) schema_free_section(SECTION_NET, &cfg->nets[i]);
    for (size_t i = 0; i < cfg->n_hostnics; i++) schema_free_section(SECTION_HOSTNIC, &cfg->hostnics[i]);
    for (size_t i = 0; i < cfg->n_shares; i++) schema_free_section(SECTION_SHARE, &cfg->shares[i]);
    for (size_t i = 0; i < cfg->n_hostdevs; i++) {
        free(cfg->hostdevs[i].vf_dev);
        schema_free_section(SECTION_HOSTDEV, &cfg->hostdevs[i]);
    }
    schema_free_section(SECTION_CLOUDINIT, &cfg->cloudinit);
    schema_free_section(SECTION_TPM, &cfg->tpm);
    for (size_t i = 0; i < cfg->cpu.n_vcpu_override; i++) cpulist_free(&cfg->cpu.vcpu_override[i]);
    free(cfg->cpu.vcpu_override);
    free(cfg->cpu.vcpu_override_line);
    free(cfg->disks);
    free(cfg->nets);
    free(cfg->hostnics);
    free(cfg->shares);
    free(cfg->hostdevs);
    free(cfg->path);
    errlist_clear(&cfg->notes);
    memset(cfg, 0, sizeof(*cfg));
}
