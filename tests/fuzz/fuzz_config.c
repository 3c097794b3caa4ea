/* Fuzz harness: vm.ini bytes -> VmConfig -> QEMU argv -> host plan.
 *
 * Every input goes through vmconf_load_buffer(); a config that loads is
 * turned into a command line (qemucmd_build) against two host-fact sets
 * filled by hand, and into a host plan (hostplan_build, hostnic_plan_build)
 * against two host states filled by hand: nothing here reads the host.
 * Beyond "no crash, no leak" (ASan, UBSan, LSan) it checks:
 *  - a load succeeds and the result validates again with no error, or it
 *    fails with -EINVAL and every message is "fuzz.ini:LINE: ..." with LINE
 *    a line of the input (1 for an empty input), in line order, without a
 *    control character (messages reach a terminal). Messages without a
 *    line ("PATH: cannot open ...", "expected a regular file", "at most 16
 *    MiB") come only from vmconf_load_file() about the file as a whole;
 *    loading bytes never gives one;
 *  - argv never holds a control character or invalid UTF-8, options sit
 *    where options go (a user value never becomes an option), and the
 *    --dry-run rendering parses back, as a shell would, into the same argv;
 *  - every user string survives into argv unchanged in meaning: JSON options
 *    parse back and hold the disk's file, the firmware, the huge page path,
 *    the MAC; -name guest= and -drive file.filename= undo their doubled
 *    commas into the name and the file; -kernel, -initrd, -append, -cpu are
 *    the values verbatim;
 *  - the host plan writes only below /sys or /proc, values without control
 *    characters or newlines, words the kernel offers, and pools grown by
 *    exactly the pages added. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>

#include "firmware.h"
#include "fuzz_common.h"
#include "hostfacts.h"
#include "hostnic.h"
#include "hostplan.h"
#include "qemucmd.h"
#include "schema.h"
#include "strvec.h"
#include "util.h"
#include "vmconf.h"
#include "vmconf_internal.h"

#define FUZZ_INI_NAME "fuzz.ini"

/* ---- messages ---- */

/* Every message of EL is "fuzz.ini:LINE: " with 1 <= LINE <= MAX_LINE and
 * LINE its entry's line, in line order, with no control character. */
static void check_messages(const ErrList *el, int max_line, const char *what) {
    static const char prefix[] = FUZZ_INI_NAME ":";
    int prev = 0;
    FUZZ_CHECK(el->n <= ERRLIST_MAX, "%s: %zu messages, more than ERRLIST_MAX", what, el->n);
    for (size_t i = 0; i < el->n; i++) {
        const char *m = el->e[i].msg;
        FUZZ_CHECK(m != NULL, "%s: message %zu is NULL", what, i);
        FUZZ_CHECK(!strncmp(m, prefix, strlen(prefix)), "%s: message without \"%s\": %s", what, prefix, m);
        const char *p = m + strlen(prefix);
        FUZZ_CHECK(*p >= '1' && *p <= '9', "%s: message without a line number >= 1: %s", what, m);
        long line = 0;
        while (*p >= '0' && *p <= '9' && line <= INT32_MAX) line = line * 10 + (*p++ - '0');
        FUZZ_CHECK(p[0] == ':' && p[1] == ' ', "%s: expected \"NAME:LINE: \" at the start of: %s", what, m);
        FUZZ_CHECK(line <= max_line, "%s: line %ld past the input's %d lines: %s", what, line, max_line, m);
        FUZZ_CHECK(line == el->e[i].line, "%s: message says line %ld, its entry %d: %s", what, line, el->e[i].line, m);
        FUZZ_CHECK(line >= prev, "%s: messages out of line order (%d before %ld): %s", what, prev, line, m);
        prev = (int)line;
        FUZZ_CHECK(fuzz_find_control(m) < 0, "%s: control character 0x%02x at offset %ld of a message: %s", what,
                   (unsigned char)m[fuzz_find_control(m)], fuzz_find_control(m), m);
    }
}

static int count_lines(const uint8_t *data, size_t size) {
    int n = 0;
    for (size_t i = 0; i < size; i++) n += data[i] == '\n';
    if (size && data[size - 1] != '\n') n++;
    return n ? n : 1;
}

/* ---- the loaded config ---- */

static void check_string(const char *s, const char *what) {
    if (!s) return;
    FUZZ_CHECK(value_find_bad_char(s) < 0, "%s holds a control character or invalid UTF-8 at offset %ld", what, value_find_bad_char(s));
}

static void check_loaded(VmConfig *cfg) {
    const VmSection *vm = &cfg->vm;
    char err[VALUE_ERR_MAX];
    FUZZ_CHECK(vm->name && schema_check_vm_name(vm->name, err) == 0, "loaded without a valid name");
    FUZZ_CHECK(vm->vcpus >= 1 && vm->vcpus <= 288, "vcpus %" PRId64, vm->vcpus);
    FUZZ_CHECK(vm->sockets * vm->cores * vm->threads == vm->vcpus, "topology %" PRId64 "*%" PRId64 "*%" PRId64 " != %" PRId64,
               vm->sockets, vm->cores, vm->threads, vm->vcpus);
    FUZZ_CHECK(vm->memory >= (UINT64_C(16) << 20) && vm->memory % (UINT64_C(1) << 20) == 0 && vm->memory <= (UINT64_C(16) << 40),
               "memory %" PRIu64, vm->memory);
    if (cfg->cpu.pin.kind == CPUSPEC_LIST)
        FUZZ_CHECK((int64_t)cfg->cpu.pin.list.n == vm->vcpus, "pin lists %zu CPUs for %" PRId64 " vCPUs", cfg->cpu.pin.list.n, vm->vcpus);
    const char *strings[] = { vm->name, vm->cpu_model, vm->user, vm->qemu, vm->kernel, vm->initrd, vm->append, vm->firmware, vm->firmware_vars,
                              vm->serial.path, cfg->memory.hugepage_path };
    for (size_t i = 0; i < ELEMENTSOF(strings); i++) check_string(strings[i], "a [vm]/[memory] string");
    for (size_t i = 0; i < cfg->n_disks; i++) {
        FUZZ_CHECK(cfg->disks[i].file != NULL, "disk %zu loaded without a file", i);
        check_string(cfg->disks[i].file, "a disk file");
        check_string(cfg->disks[i].head.id, "a disk ID");
    }
    for (size_t i = 0; i < cfg->n_nets; i++) {
        check_string(cfg->nets[i].bridge, "a bridge");
        check_string(cfg->nets[i].tap, "a tap");
        check_string(cfg->nets[i].head.id, "a net ID");
    }
    for (size_t i = 0; i < cfg->n_hostnics; i++) check_string(cfg->hostnics[i].head.id, "a hostnic ID");

    /* What loaded validates again, as it is. */
    ErrList again = { 0 };
    vmconf_validate(cfg, &again, false);
    FUZZ_CHECK(again.n == 0, "a loaded config fails validation: %s", again.e[0].msg);
    errlist_clear(&again);
}

/* ---- argv ---- */

/* QEMU's keyval: KEY=VALUE parts split at single commas, ",," a comma in a
 * value. A part without '=' gets the value "". */
typedef struct KeyVal {
    StrVec keys, values;
} KeyVal;

static void keyval_parse(const char *s, KeyVal *kv) {
    memset(kv, 0, sizeof(*kv));
    const char *p = s;
    for (;;) {
        size_t klen = strcspn(p, "=,");
        _cleanup_free_ char *key = xstrndup(p, klen);
        p += klen;
        strvec_push(&kv->keys, key);
        if (*p != '=') {
            strvec_push(&kv->values, "");
        } else {
            p++;
            size_t cap = strlen(p) + 1, n = 0;
            _cleanup_free_ char *v = xmalloc(cap);
            while (*p && !(p[0] == ',' && p[1] != ',')) {
                if (p[0] == ',') p++; /* ",," */
                v[n++] = *p++;
            }
            v[n] = '\0';
            strvec_push(&kv->values, v);
        }
        if (!*p) break;
        p++; /* the separating comma */
    }
}

static void keyval_clear(KeyVal *kv) {
    strvec_clear(&kv->keys);
    strvec_clear(&kv->values);
}

/* The value of KEY, which must be there exactly once. */
static const char *keyval_get(const KeyVal *kv, const char *key, const char *arg) {
    const char *found = NULL;
    for (size_t i = 0; i < kv->keys.n; i++) {
        if (!streq(kv->keys.v[i], key)) continue;
        FUZZ_CHECK(!found, "keyval %s twice in %s", key, arg);
        found = kv->values.v[i];
    }
    FUZZ_CHECK(found != NULL, "keyval %s missing from %s", key, arg);
    return found;
}

/* Exactly the keys of NAMES, nothing else: a value cannot add a key. */
static void keyval_expect_keys(const KeyVal *kv, const char *const *names, size_t n, const char *arg) {
    FUZZ_CHECK(kv->keys.n == n, "%zu keyval parts, expected %zu, in %s", kv->keys.n, n, arg);
    for (size_t i = 0; i < n; i++) (void)keyval_get(kv, names[i], arg);
}

static const char *json_str(json_object *o, const char *key) {
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

static const DiskSection *disk_by_id(const VmConfig *cfg, const char *prefix, const char *id) {
    size_t pl = strlen(prefix);
    if (!id || strncmp(id, prefix, pl)) return NULL;
    for (size_t i = 0; i < cfg->n_disks; i++)
        if (streq(cfg->disks[i].head.id, id + pl)) return &cfg->disks[i];
    return NULL;
}

static const NetSection *net_by_id(const VmConfig *cfg, const char *prefix, const char *id) {
    size_t pl = strlen(prefix);
    if (!id || strncmp(id, prefix, pl)) return NULL;
    for (size_t i = 0; i < cfg->n_nets; i++)
        if (streq(cfg->nets[i].head.id, id + pl)) return &cfg->nets[i];
    return NULL;
}

/* What was seen of the user's values while walking argv. */
typedef struct Seen {
    size_t name, kernel, initrd, append, cpu, firmware, ram;
    size_t *disk_file;              /* per disk: its file in a -blockdev or a -drive */
    size_t *nic;                    /* per net: its -device */
} Seen;

/* The [hostdev] whose -device id is ID (hostdev-ID), or NULL. */
static const HostdevSection *hostdev_by_id(const VmConfig *cfg, const char *id) {
    for (size_t i = 0; i < cfg->n_hostdevs; i++) {
        _cleanup_free_ char *want = xasprintf("hostdev-%s", cfg->hostdevs[i].head.id);
        if (streq(id, want)) return &cfg->hostdevs[i];
    }
    return NULL;
}

static void check_json_option(const VmConfig *cfg, const char *opt, const char *arg, Seen *seen) {
    FUZZ_CHECK(arg[0] == '{', "%s %s: not JSON", opt, arg);
    struct json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, arg, (int)strlen(arg));
    FUZZ_CHECK(o && json_tokener_get_error(tok) == json_tokener_success && json_tokener_get_parse_end(tok) == strlen(arg),
               "%s %s: does not parse back as one JSON value", opt, arg);
    json_tokener_free(tok);
    FUZZ_CHECK(json_object_is_type(o, json_type_object), "%s %s: not a JSON object", opt, arg);

    if (streq(opt, "-blockdev")) {
        const char *node = json_str(o, "node-name"), *filename = json_str(o, "filename");
        const DiskSection *d = disk_by_id(cfg, "file-", node);
        if (d) {
            FUZZ_CHECK(filename && streq(filename, d->file), "-blockdev %s: filename is not the disk's file %s", arg, d->file);
            seen->disk_file[d - cfg->disks]++;
        } else if (node && (streq(node, "seed-file") || streq(node, "seed"))) {
            /* The [cloud-init] seed: kvmlaunch's own descriptor, read-only. */
            json_object *ro;
            FUZZ_CHECK(cfg->cloudinit.head.line && json_object_object_get_ex(o, "read-only", &ro) && json_object_get_boolean(ro),
                       "-blockdev %s: a seed node without [cloud-init], or writable", arg);
            FUZZ_CHECK(streq(node, "seed") ? !filename : filename && !strncmp(filename, "/dev/fdset/", 11),
                       "-blockdev %s: the seed not on its descriptor", arg);
        } else if (node && (streq(node, "fw-code") || streq(node, "fw-vars"))) {
            /* UEFI (firmware.h): kvmlaunch's descriptors, the code read-only,
             * the vars only with a template. */
            json_object *ro;
            bool code = streq(node, "fw-code");
            FUZZ_CHECK(code ? firmware_code(&cfg->vm) != NULL : firmware_vars_template(&cfg->vm) != NULL, "-blockdev %s: firmware without firmware", arg);
            FUZZ_CHECK(filename && !strncmp(filename, "/dev/fdset/", 11), "-blockdev %s: the firmware not on its descriptor", arg);
            FUZZ_CHECK(json_object_object_get_ex(o, "read-only", &ro) && json_object_get_boolean(ro) == code, "-blockdev %s: read-only wrong", arg);
            if (code) seen->firmware++;
        } else {
            FUZZ_CHECK(disk_by_id(cfg, "fmt-", node) != NULL, "-blockdev %s: a node of no disk", arg);
            FUZZ_CHECK(!filename, "-blockdev %s: a format node with a filename", arg);
        }
    } else if (streq(opt, "-object")) {
        const char *type = json_str(o, "qom-type"), *id = json_str(o, "id");
        FUZZ_CHECK(type && id, "-object %s: without qom-type or id", arg);
        if (!strncmp(type, "memory-backend-", 15)) {
            json_object *size;
            FUZZ_CHECK(streq(id, "ram-node0") && json_object_object_get_ex(o, "size", &size) &&
                           (uint64_t)json_object_get_int64(size) == cfg->vm.memory,
                       "-object %s: not the VM's memory", arg);
            const char *mem_path = json_str(o, "mem-path");
            if (streq(type, "memory-backend-file"))
                FUZZ_CHECK(cfg->memory.hugepage_path && mem_path && streq(mem_path, cfg->memory.hugepage_path),
                           "-object %s: mem-path is not hugepage-path", arg);
            else
                FUZZ_CHECK(!mem_path, "-object %s: a mem-path without a file backend", arg);
            seen->ram++;
        } else {
            FUZZ_CHECK(streq(type, "iothread") && disk_by_id(cfg, "iothread-", id), "-object %s: unexpected", arg);
        }
    } else if (streq(opt, "-device")) {
        const char *id = json_str(o, "id");
        FUZZ_CHECK(json_str(o, "driver") && id, "-device %s: without driver or id", arg);
        const NetSection *n = net_by_id(cfg, "nic-", id);
        if (n) {
            MacAddr mac = vmconf_net_mac(cfg, n);
            _cleanup_free_ char *want = mac_format(&mac), *netdev = xasprintf("net-%s", n->head.id);
            const char *got = json_str(o, "mac"), *nd = json_str(o, "netdev");
            FUZZ_CHECK(got && streq(got, want), "-device %s: mac is not %s", arg, want);
            FUZZ_CHECK(nd && streq(nd, netdev), "-device %s: netdev is not %s", arg, netdev);
            seen->nic[n - cfg->nets]++;
        } else if (disk_by_id(cfg, "disk-", id)) {
            const char *drive = json_str(o, "drive");
            FUZZ_CHECK(drive && disk_by_id(cfg, "fmt-", drive) == disk_by_id(cfg, "disk-", id), "-device %s: another disk's drive", arg);
        } else {
            FUZZ_CHECK(disk_by_id(cfg, "scsi-", id) || streq(id, "balloon0") || streq(id, "exit0") ||
                           (streq(id, "cloud-init-seed") && cfg->cloudinit.head.line) ||
                           (streq(id, "pvpanic0") && cfg->vm.machine != MACHINE_MICROVM) ||
                           (streq(id, "watchdog0") && cfg->vm.watchdog != WATCHDOG_NONE) ||
                           ((streq(id, "vser0") || streq(id, "qga0-port")) && cfg->vm.guest_agent) ||
                           (streq(id, "tpm0-dev") && cfg->tpm.enabled) || hostdev_by_id(cfg, id),
                       "-device %s: unexpected id", arg);
        }
    } else {
        const NetSection *n = net_by_id(cfg, "net-", json_str(o, "id"));
        FUZZ_CHECK(n, "-netdev %s: not a NIC's", arg);
        /* A tap's queues come as fds; slirp (mode = user) has none. */
        if (n->mode == NET_MODE_USER)
            FUZZ_CHECK(json_str(o, "type") && streq(json_str(o, "type"), "user") && !json_str(o, "fds"), "-netdev %s: not a user-mode NIC", arg);
        else
            FUZZ_CHECK(json_str(o, "fds"), "-netdev %s: not a NIC's tap", arg);
    }
    json_object_put(o);
}

static void check_keyval_option(const VmConfig *cfg, const char *opt, const char *arg, Seen *seen) {
    KeyVal kv;
    keyval_parse(arg, &kv);
    if (streq(opt, "-name")) {
        static const char *const keys[] = { "guest", "debug-threads" };
        keyval_expect_keys(&kv, keys, ELEMENTSOF(keys), arg);
        FUZZ_CHECK(streq(keyval_get(&kv, "guest", arg), cfg->vm.name), "-name %s: guest= is not the name %s", arg, cfg->vm.name);
        seen->name++;
    } else if (streq(opt, "-drive")) {
        static const char *const keys[] = { "if", "id", "driver", "file.driver", "file.filename", "file.aio", "cache.direct",
                                            "cache.no-flush", "discard", "read-only", "snapshot" };
        keyval_expect_keys(&kv, keys, ELEMENTSOF(keys), arg);
        const DiskSection *d = disk_by_id(cfg, "fmt-", keyval_get(&kv, "id", arg));
        FUZZ_CHECK(d && d->snapshot, "-drive %s: not a snapshot disk's", arg);
        FUZZ_CHECK(streq(keyval_get(&kv, "file.filename", arg), d->file), "-drive %s: file.filename is not the file %s", arg, d->file);
        FUZZ_CHECK(streq(keyval_get(&kv, "snapshot", arg), "on"), "-drive %s: without snapshot=on", arg);
        seen->disk_file[d - cfg->disks]++;
    } else if (streq(opt, "-smp")) {
        static const char *const keys[] = { "cpus", "sockets", "cores", "threads" };
        keyval_expect_keys(&kv, keys, ELEMENTSOF(keys), arg);
        _cleanup_free_ char *cpus = xasprintf("%" PRId64, cfg->vm.vcpus);
        FUZZ_CHECK(streq(keyval_get(&kv, "cpus", arg), cpus), "-smp %s: not %s vCPUs", arg, cpus);
    }
    keyval_clear(&kv);
}

/* Options kvmlaunch writes without a value (as render.c knows them). */
static bool is_flag_option(const char *opt) {
    return streq(opt, "-S") || streq(opt, "-nodefaults") || streq(opt, "-no-user-config");
}

static bool is_option_word(const char *s) {
    if (s[0] != '-' || !s[1]) return false;
    for (const char *p = s + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-')) return false;
    return true;
}

/* Shell words of a --dry-run rendering, as a POSIX shell reads them: spaces
 * split, backslash-newline continues, '...' quotes, \c is c; anything
 * unquoted must be a character that means nothing to the shell. */
static void shell_words(const char *s, StrVec *out) {
    static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_@%+=:,./-";
    size_t cap = strlen(s) + 1, n = 0;
    _cleanup_free_ char *w = xmalloc(cap);
    bool in_word = false;
    for (const char *p = s; *p;) {
        if (*p == '\\' && p[1] == '\n') { p += 2; continue; }
        if (*p == ' ' || *p == '\n') {
            if (in_word) { w[n] = '\0'; strvec_push(out, w); n = 0; in_word = false; }
            FUZZ_CHECK(*p != '\n' || !p[1], "the rendering has a newline that ends the command before its end");
            p++;
            continue;
        }
        in_word = true;
        if (*p == '\'') {
            const char *q = strchr(p + 1, '\'');
            FUZZ_CHECK(q != NULL, "the rendering has an unterminated quote");
            memcpy(w + n, p + 1, (size_t)(q - p - 1));
            n += (size_t)(q - p - 1);
            p = q + 1;
        } else if (*p == '\\') {
            FUZZ_CHECK(p[1] != '\0', "the rendering ends in a backslash");
            w[n++] = p[1];
            p += 2;
        } else {
            FUZZ_CHECK(strchr(safe, *p) != NULL, "the rendering has an unquoted 0x%02x", (unsigned char)*p);
            w[n++] = *p++;
        }
    }
    FUZZ_CHECK(!in_word, "the rendering does not end in a newline");
}

static void check_argv(const VmConfig *cfg, const HostFacts *facts, const StrVec *argv, bool built) {
    FUZZ_CHECK(argv->n >= 2 && argv->v[argv->n] == NULL, "argv not NULL-terminated");
    for (size_t i = 0; i < argv->n; i++)
        FUZZ_CHECK(value_find_bad_char(argv->v[i]) < 0, "argv[%zu] holds a control character or invalid UTF-8: %s", i, argv->v[i]);
    const char *emulator = facts->qemu_binary ? facts->qemu_binary : cfg->vm.qemu ? cfg->vm.qemu : "qemu-system-x86_64";
    FUZZ_CHECK(streq(argv->v[0], emulator), "argv[0] %s is not the emulator %s", argv->v[0], emulator);

    Seen seen = { .disk_file = xcalloc(cfg->n_disks, sizeof(size_t)), .nic = xcalloc(cfg->n_nets, sizeof(size_t)) };
    for (size_t i = 1; i < argv->n; i++) {
        const char *opt = argv->v[i];
        FUZZ_CHECK(is_option_word(opt), "argv[%zu] = %s stands where an option belongs", i, opt);
        if (is_flag_option(opt)) continue;
        FUZZ_CHECK(i + 1 < argv->n, "option %s without its value at the end of argv", opt);
        const char *arg = argv->v[++i];
        if (streq(opt, "-blockdev") || streq(opt, "-object") || streq(opt, "-device") || streq(opt, "-netdev")) {
            check_json_option(cfg, opt, arg, &seen);
        } else if (streq(opt, "-name") || streq(opt, "-drive") || streq(opt, "-smp")) {
            check_keyval_option(cfg, opt, arg, &seen);
        } else if (streq(opt, "-kernel")) {
            FUZZ_CHECK(cfg->vm.kernel && streq(arg, cfg->vm.kernel), "-kernel %s is not the kernel", arg);
            seen.kernel++;
        } else if (streq(opt, "-initrd")) {
            FUZZ_CHECK(cfg->vm.initrd && streq(arg, cfg->vm.initrd), "-initrd %s is not the initrd", arg);
            seen.initrd++;
        } else if (streq(opt, "-append")) {
            FUZZ_CHECK(cfg->vm.append && streq(arg, cfg->vm.append), "-append %s is not append", arg);
            seen.append++;
        } else if (streq(opt, "-cpu")) {
            FUZZ_CHECK(!cfg->vm.cpu_model || streq(arg, cfg->vm.cpu_model), "-cpu %s is not cpu-model %s", arg, cfg->vm.cpu_model);
            seen.cpu++;
        } else if (streq(opt, "-m")) {
            _cleanup_free_ char *m = xasprintf("%" PRIu64 "M", cfg->vm.memory >> 20);
            FUZZ_CHECK(streq(arg, m), "-m %s is not %s", arg, m);
        }
    }
    FUZZ_CHECK(seen.name == 1, "-name written %zu times", seen.name);
    FUZZ_CHECK(seen.kernel == (cfg->vm.kernel != NULL) && seen.initrd == (cfg->vm.initrd != NULL) &&
                   seen.append == (cfg->vm.append != NULL),
               "-kernel/-initrd/-append written %zu/%zu/%zu times", seen.kernel, seen.initrd, seen.append);
    FUZZ_CHECK(seen.cpu == 1 && seen.ram == 1, "-cpu %zu times, the RAM backend %zu times", seen.cpu, seen.ram);
    FUZZ_CHECK(seen.firmware == (cfg->vm.firmware != NULL), "the firmware written %zu times", seen.firmware);
    /* A disk or NIC refused for a host reason is left out; the rest is there. */
    for (size_t i = 0; built && i < cfg->n_disks; i++)
        FUZZ_CHECK(seen.disk_file[i] == 1, "disk %s: its file written %zu times", cfg->disks[i].head.id, seen.disk_file[i]);
    for (size_t i = 0; built && i < cfg->n_nets; i++)
        FUZZ_CHECK(seen.nic[i] == 1, "net %s: its device written %zu times", cfg->nets[i].head.id, seen.nic[i]);
    free(seen.disk_file);
    free(seen.nic);

    /* --dry-run prints this to be pasted into a shell. */
    _cleanup_free_ char *shown = qemucmd_render(argv->v);
    StrVec words = STRVEC_INIT;
    shell_words(shown, &words);
    FUZZ_CHECK(words.n == argv->n, "the rendering has %zu words, argv %zu", words.n, argv->n);
    for (size_t i = 0; i < argv->n; i++)
        FUZZ_CHECK(streq(words.v[i], argv->v[i]), "rendered word %zu is %s, argv has %s", i, words.v[i], argv->v[i]);
    strvec_clear(&words);
}

/* Two hosts: A has no /dev/kvm nor vhost-net, runs as root, stdout a pipe,
 * every disk a raw file; B has both, not root, stdout nothing (the serial
 * log goes to the runtime dir), disks a qcow2 block device, a missing file
 * and a raw file in turn, bridges with an MTU. */
static void fill_facts(const VmConfig *cfg, int variant, HostFacts *f) {
    memset(f, 0, sizeof(*f));
    bool b = variant == 1;
    f->kvm_usable = b;
    f->vhost_net_usable = b;
    f->running_as_root = !b;
    f->stdout_kind = b ? STDOUT_OTHER : STDOUT_PIPE;
    f->qemu_binary = b ? xstrdup("/usr/bin/qemu-system-x86_64") : NULL;
    f->runtime_dir = b ? xasprintf("/run/kvmlaunch/%s", cfg->vm.name) : NULL;
    f->n_disks = cfg->n_disks;
    f->disks = xcalloc(cfg->n_disks, sizeof(DiskFacts));
    for (size_t i = 0; i < cfg->n_disks; i++) {
        if (!b || i % 3 == 2) f->disks[i] = (DiskFacts){ true, false, FORMAT_RAW };
        else if (i % 3 == 0) f->disks[i] = (DiskFacts){ true, true, FORMAT_QCOW2 };
        else f->disks[i] = (DiskFacts){ false, false, FORMAT_RAW };
    }
    if (b) {
        f->bridge_mtu = xcalloc(cfg->n_nets ? cfg->n_nets : 1, sizeof(int));
        for (size_t i = 0; i < cfg->n_nets; i++) f->bridge_mtu[i] = cfg->nets[i].bridge ? 1500 : 0;
    }
    hostfacts_assign_fds(cfg, f);
}

static void fuzz_argv(const VmConfig *cfg, int max_line) {
    for (int variant = 0; variant < 2; variant++) {
        HostFacts facts;
        fill_facts(cfg, variant, &facts);
        StrVec argv = STRVEC_INIT;
        ErrList errors = { 0 }, notes = { 0 };
        int r = qemucmd_build(cfg, &facts, &argv, &errors, &notes);
        FUZZ_CHECK((r == 0 && errors.n == 0) || (r == -EINVAL && errors.n > 0), "qemucmd_build returned %d with %zu errors", r, errors.n);
        check_messages(&errors, max_line, "qemucmd_build errors");
        check_messages(&notes, max_line, "qemucmd_build notes");
        check_argv(cfg, &facts, &argv, r == 0);
        strvec_clear(&argv);
        errlist_clear(&errors);
        errlist_clear(&notes);
        hostfacts_free(&facts);
    }
}

/* ---- the host plan ---- */

static char **words(const char *const *w) {
    StrVec v = STRVEC_INIT;
    for (; *w; w++) strvec_push(&v, *w);
    return strvec_detach(&v);
}

static Knob knob(const char *path, const char *value, const char *const *offered, int error) {
    return (Knob){ .path = path ? xstrdup(path) : NULL, .value = value ? xstrdup(value) : NULL, .offered = offered ? words(offered) : NULL,
                   .error = error };
}

static CpuList list_of(const char *s) {
    CpuList l = { NULL, 0 };
    char err[VALUE_ERR_MAX];
    if (value_parse_cpulist(s, &l, err) < 0) abort();
    return l;
}

static const char *const thp_words[] = { "always", "madvise", "never", NULL };
static const char *const thp_words_old[] = { "always", "never", NULL };
static const char *const defrag_words[] = { "always", "defer", "defer+madvise", "madvise", "never", NULL };
static const char *const sched_words[] = { "none", "mq-deadline", "kyber", "bfq", NULL };
static const char *const sched_words_old[] = { "mq-deadline", "none", NULL };

/* Host 0 has every file and plenty of free huge pages; host 1 lacks some
 * files, some words and every free huge page, and has a CPU-only node. */
static void fill_state(const VmConfig *cfg, int variant, HostState *st) {
    memset(st, 0, sizeof(*st));
    bool poor = variant == 1;
    st->thp = poor ? knob("/sys/kernel/mm/transparent_hugepage/enabled", "always", thp_words_old, 0)
                   : knob("/sys/kernel/mm/transparent_hugepage/enabled", "madvise", thp_words, 0);
    st->thp_defrag = poor ? knob("/sys/kernel/mm/transparent_hugepage/defrag", NULL, NULL, -ENOENT)
                          : knob("/sys/kernel/mm/transparent_hugepage/defrag", "madvise", defrag_words, 0);
    st->ksm_run = knob("/sys/kernel/mm/ksm/run", "0", NULL, 0);
    st->ksm_merge = poor ? knob("/sys/kernel/mm/ksm/merge_across_nodes", NULL, NULL, -ENOENT)
                         : knob("/sys/kernel/mm/ksm/merge_across_nodes", "1", NULL, 0);
    st->ksm_pages = knob("/sys/kernel/mm/ksm/pages_to_scan", "100", NULL, 0);
    st->ksm_sleep = knob("/sys/kernel/mm/ksm/sleep_millisecs", "20", NULL, 0);
    st->zone_reclaim = poor ? knob("/proc/sys/vm/zone_reclaim_mode", NULL, NULL, -EACCES) : knob("/proc/sys/vm/zone_reclaim_mode", "0", NULL, 0);
    st->nodes_online = list_of("0-1");
    st->nodes_with_memory = list_of(poor ? "0" : "0-1");
    st->nodes_known = true;

    const MemorySection *m = &cfg->memory;
    if (m->backing == BACKING_HUGEPAGES && m->hugepage_path) {
        st->mounts = xstrdup("hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n");
        st->hugetlbfs_mount = poor ? (m->hugepage_size == (UINT64_C(2) << 20) ? xstrdup("/dev/hugepages") : NULL) : xstrdup(m->hugepage_path);
    }
    if (m->backing == BACKING_HUGEPAGES) {
        size_t n = m->nodes.n ? m->nodes.n : 1;
        st->pools = xcalloc(n, sizeof(HugePool));
        st->n_pools = n;
        uint64_t kb = m->hugepage_size >> 10;
        for (size_t i = 0; i < n; i++) {
            HugePool *p = &st->pools[i];
            p->node = m->nodes.n ? m->nodes.cpu[i] : -1;
            _cleanup_free_ char *nr = p->node >= 0
                ? xasprintf("/sys/devices/system/node/node%d/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages", p->node, kb)
                : xasprintf("/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages", kb);
            bool missing = poor && p->node >= 2;
            p->nr = knob(nr, missing ? NULL : "16", NULL, missing ? -ENOENT : 0);
            p->free = poor ? 0 : UINT64_C(1) << 23;
        }
    }
    st->n_disks = cfg->n_disks;
    st->disk_sched = xcalloc(cfg->n_disks ? cfg->n_disks : 1, sizeof(Knob));
    for (size_t i = 0; i < cfg->n_disks; i++) {
        if (cfg->disks[i].scheduler == IOSCHED_KEEP) continue;
        _cleanup_free_ char *path = xasprintf("/sys/dev/block/254:%zu/queue/scheduler", i * 16);
        if (!poor) st->disk_sched[i] = knob(path, "mq-deadline", sched_words, 0);
        else if (i % 3 == 0) st->disk_sched[i] = knob(path, "none", sched_words_old, 0);
        else st->disk_sched[i] = knob(NULL, NULL, NULL, i % 3 == 1 ? -ENOENT : -ENODEV);
    }
}

static char **strs(size_t n, const char *const *v) {
    char **out = xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) out[i] = v[i] ? xstrdup(v[i]) : NULL;
    return out;
}

/* NICs: host 0 has each with two queues and two MSI-X IRQs on node 0;
 * host 1 lacks every other NIC, and the rest have no node, no IRQs, one
 * tx queue and no rps_cpus file. */
static void fill_nics(const VmConfig *cfg, int variant, HostNicFacts *nf) {
    memset(nf, 0, sizeof(*nf));
    bool poor = variant == 1;
    nf->n = cfg->n_hostnics;
    nf->nics = xcalloc(cfg->n_hostnics ? cfg->n_hostnics : 1, sizeof(NicFacts));
    nf->online = list_of("0-7");
    nf->online_known = !poor;
    nf->irqbalance_pid = poor ? 0 : 4321;
    for (size_t i = 0; i < cfg->n_hostnics; i++) {
        NicFacts *f = &nf->nics[i];
        const char *dev = cfg->hostnics[i].head.id;
        f->dev = xstrdup(dev);
        f->exists = !poor || i % 2 == 1;
        if (!f->exists) continue;
        f->numa_node = poor ? -1 : 0;
        if (!poor) {
            static const char *const aff[] = { "0-7", "3" }, *const rps[] = { "0", "f" }, *const xps[] = { "1", "00000002" };
            f->driver = xstrdup("ixgbe");
            f->node_cpus = list_of("0-3");
            f->irqs.v = xcalloc(2, sizeof(NicIrq));
            f->irqs.n = 2;
            for (int q = 0; q < 2; q++) f->irqs.v[q] = (NicIrq){ 40 + q, xasprintf("%s-TxRx-%d", dev, q) };
            f->irq_affinity = strs(2, aff);
            f->irq_affinity_error = xcalloc(2, sizeof(int));
            f->n_msi = 2;
            f->msix = true;
            f->n_rx = f->n_tx = 2;
            f->rps = strs(2, rps);
            f->xps = strs(2, xps);
        } else {
            static const char *const none[] = { NULL };
            f->n_rx = f->n_tx = 1;
            f->rps = strs(1, none);
            f->xps = strs(1, none);
            f->xps_single = true;
        }
    }
}

static bool word_offered(const Knob *k, const char *w) {
    for (char **o = k->offered; o && *o; o++)
        if (streq(*o, w)) return true;
    return !k->offered;
}

static void check_plan(const HostPlan *plan, const HostState *st) {
    for (size_t i = 0; i < plan->n; i++) {
        const HostChange *c = &plan->c[i];
        FUZZ_CHECK(c->path && c->old && c->new && c->why, "plan entry %zu lacks a string", i);
        FUZZ_CHECK(!strncmp(c->path, "/sys/", 5) || !strncmp(c->path, "/proc/", 6), "plan writes %s, outside /sys and /proc", c->path);
        FUZZ_CHECK(!strstr(c->path, "//") && !strstr(c->path, "/./") && !strstr(c->path, "/../"), "plan path %s is not plain", c->path);
        FUZZ_CHECK(fuzz_find_control(c->path) < 0 && fuzz_find_control(c->new) < 0 && fuzz_find_control(c->old) < 0 &&
                       fuzz_find_control(c->why) < 0,
                   "plan entry %s holds a control character", c->path);
        FUZZ_CHECK(!c->prep_path == !c->prep_value, "plan entry %s: prep_path and prep_value go together", c->path);
        if (c->additive) {
            uint64_t old = strtoull(c->old, NULL, 10), new = strtoull(c->new, NULL, 10);
            FUZZ_CHECK(c->add > 0 && new == old + c->add, "pool %s: %s -> %s does not add %" PRIu64, c->path, c->old, c->new, c->add);
        }
        const Knob *lists[] = { &st->thp, &st->thp_defrag };
        for (size_t k = 0; k < ELEMENTSOF(lists); k++)
            if (lists[k]->path && streq(c->path, lists[k]->path))
                FUZZ_CHECK(word_offered(lists[k], c->new) && c->already == streq(c->old, c->new), "%s: %s not offered", c->path, c->new);
        for (size_t k = 0; k < st->n_disks; k++)
            if (st->disk_sched[k].path && streq(c->path, st->disk_sched[k].path))
                FUZZ_CHECK(word_offered(&st->disk_sched[k], c->new), "%s: %s not offered", c->path, c->new);
    }
    _cleanup_free_ char *shown = hostplan_render(plan);
    FUZZ_CHECK(fuzz_find_control_but_newline(shown) < 0, "the rendered plan holds a control character");
}

static void fuzz_plan(const VmConfig *cfg, int max_line) {
    for (int variant = 0; variant < 2; variant++) {
        HostState st;
        HostNicFacts nf;
        fill_state(cfg, variant, &st);
        fill_nics(cfg, variant, &nf);
        HostPlan plan;
        ErrList errors = { 0 }, notes = { 0 };
        int r = hostplan_build(cfg, &st, &plan, &errors, &notes);
        FUZZ_CHECK((r == 0 && errors.n == 0) || (r == -EINVAL && errors.n > 0), "hostplan_build returned %d with %zu errors", r, errors.n);
        size_t before = errors.n;
        r = hostnic_plan_build(cfg, &nf, &plan, &errors, &notes);
        FUZZ_CHECK((r == 0 && errors.n == before) || (r == -EINVAL && errors.n > before), "hostnic_plan_build returned %d", r);
        check_messages(&errors, max_line, "host plan errors");
        check_messages(&notes, max_line, "host plan notes");
        check_plan(&plan, &st);
        hostplan_free(&plan);
        errlist_clear(&errors);
        errlist_clear(&notes);
        hoststate_free(&st);
        hostnic_facts_free(&nf);
    }
}

int fuzz_config_one(const uint8_t *data, size_t size) {
    /* An exact-size copy, so that reading one byte past the input is an
     * ASan report (the loader takes a length, not a C string). */
    char *buf = xmalloc(size ? size : 1);
    if (size) memcpy(buf, data, size);
    int max_line = count_lines(data, size);
    VmConfig cfg;
    ErrList errors = { 0 };
    int r = vmconf_load_buffer(FUZZ_INI_NAME, buf, size, &cfg, &errors);
    FUZZ_CHECK((r == 0 && errors.n == 0) || (r == -EINVAL && errors.n > 0), "vmconf_load_buffer returned %d with %zu messages", r,
               errors.n);
    check_messages(&errors, max_line, "load errors");
    errlist_clear(&errors);
    if (r == 0) {
        check_messages(&cfg.notes, max_line, "load notes");
        check_loaded(&cfg);
        fuzz_argv(&cfg, max_line);
        fuzz_plan(&cfg, max_line);
        vmconf_free(&cfg);
    }
    free(buf);
    return 0;
}

#ifndef FUZZ_REPLAY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_config_one(data, size); }
#endif
