/* The QEMU command line (DESIGN.md: "argv"). Pure: no I/O, no globals. */
#include "qemucmd.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "boottime.h"
#include "machinetype.h"
#include "schema.h"
#include "share.h"
#include "tpm.h"
#include "util.h"

typedef struct Cmd {
    const VmConfig *cfg;
    const HostFacts *facts;
    StrVec *argv;
    ErrList *errors, *notes;
    bool kvm;                       /* the accelerator actually used */
    bool pci;                       /* virtio devices sit on PCI (not microvm's MMIO) */
} Cmd;

/* An error or a note about one key, worded with its file:line. */
#define cmd_error(c, ...) errlist_add_key((c)->errors, (c)->cfg->path, __VA_ARGS__)
#define cmd_note(c, ...) errlist_add_key((c)->notes, (c)->cfg->path, __VA_ARGS__)

/* What reaches QEMU's argv, and so the guest's kernel command line, names
 * and paths, must be printable UTF-8: no C0 or C1 control character, no
 * invalid byte. The emulator may come from PATH, which the loader never
 * saw: that refusal points at [vm] qemu, where it can be written instead. */
static void check_text(Cmd *c, const char *s, const char *key, const char *what) {
    long bad = value_find_bad_char(s);
    if (bad < 0) return;
    _cleanup_free_ char *shown = value_quote(s);
    cmd_error(c, SECTION_VM, &c->cfg->vm.head, key, "expected printable UTF-8 text, found byte 0x%02x at column %ld of %s %s",
              (unsigned char)s[bad], bad + 1, what, shown);
}

char *qemu_escape_keyval(const char *s) {
    size_t n = 0;
    for (const char *p = s; *p; p++) n += *p == ',' ? 2 : 1;
    char *out = xmalloc(n + 1), *o = out;
    for (const char *p = s; *p; p++) {
        *o++ = *p;
        if (*p == ',') *o++ = ',';
    }
    *o = '\0';
    return out;
}

/* Pushes OPTION and OBJ as JSON, and frees OBJ. */
static void push_json(Cmd *c, const char *option, json_object *obj) {
    strvec_push(c->argv, option);
    strvec_push(c->argv, json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(obj);
}

static void jset_str(json_object *o, const char *key, const char *v) { json_object_object_add(o, key, json_object_new_string(v)); }
static void jset_int(json_object *o, const char *key, int64_t v) { json_object_object_add(o, key, json_object_new_int64(v)); }
static void jset_bool(json_object *o, const char *key, bool v) { json_object_object_add(o, key, json_object_new_boolean(v)); }

static json_object *jobj(const char *type_key, const char *type, const char *id_key, const char *id) {
    json_object *o = json_object_new_object();
    jset_str(o, type_key, type);
    if (id) jset_str(o, id_key, id);
    return o;
}

static const char *virtio_driver(Cmd *c, const char *base) {
    /* microvm has no PCI bus: its virtio devices are MMIO ("-device" suffix). */
    static char buf[64];
    snprintf(buf, sizeof(buf), "%s-%s", base, c->pci ? "pci" : "device");
    return buf;
}

/* Why QEMU cannot open /dev/kvm, and the fix, from the probe: "no
 * /dev/kvm; ..." or "it refused to USER (uid, gid, groups): ...; fix:
 * usermod -aG kvm USER". NULL when the facts do not say (filled by hand). */
static char *kvm_why(const HostFacts *f) {
    if (!f->kvm_err) return NULL;
    if (f->kvm_err == -ENOENT || !f->kvm_stat_known)
        return xstrdup("no /dev/kvm; this host offers no KVM (no vmx or svm, or the kvm module is not loaded)");
    const char *user = f->kvm_checked_as;
    _cleanup_free_ char *who = user ? hostfacts_qemu_identity_text(f, user) : xstrdup("kvmlaunch's user");
    const char *group = f->kvm_group ? f->kvm_group : "kvm";
    bool in_group = false;
    for (size_t i = 0; user && i < f->n_qemu_groups; i++) in_group |= f->qemu_groups[i] == f->kvm_gid;
    _cleanup_free_ char *fix = NULL;
    if (!user) fix = xasprintf("run kvmlaunch as root with [vm] user in group %s, or add this user to it", group);
    else if (!in_group && (f->kvm_mode & 0060) == 0060) fix = xasprintf("usermod -aG %s %s", group, user);
    else if (!in_group) fix = xasprintf("chmod 0660 /dev/kvm (Debian's udev rule makes it 0660 root:kvm) and usermod -aG %s %s", group, user);
    else fix = xasprintf("chmod 0660 /dev/kvm (Debian's udev rule makes it 0660 root:kvm)");
    return xasprintf("it refused to %s: %s; /dev/kvm is mode %04o, group %s; fix: %s", who, strerror(-f->kvm_err),
                     (unsigned)(f->kvm_mode & 07777), group, fix);
}

static void add_machine(Cmd *c) {
    const VmSection *vm = &c->cfg->vm;
    _cleanup_free_ char *name = qemu_escape_keyval(vm->name);
    strvec_push(c->argv, "-name");
    strvec_pushf(c->argv, "guest=%s,debug-threads=on", name);
    strvec_push(c->argv, "-S");
    strvec_push(c->argv, "-nodefaults");
    strvec_push(c->argv, "-no-user-config");
    strvec_push(c->argv, "-display");
    strvec_push(c->argv, "none");
    strvec_push(c->argv, "-msg");
    strvec_push(c->argv, "timestamp=on");

    StrVec m = STRVEC_INIT;
    /* QEMU's machine types are named as vm.ini names them; q35 and pc as
     * the VM's first start resolved them (include/machinetype.h). */
    strvec_push(&m, c->facts->machine_type ? c->facts->machine_type : vmconf_machine_written(vm));
    if (c->facts->machine_source == MACHINE_RECORD_BAD)
        cmd_error(c, SECTION_VM, &vm->head, "machine",
                  "expected the versioned type %s stood for, recorded in the state dir's %s, found it unreadable or garbled "
                  "(remove it to record the type anew; the guest may then see other hardware)", vmconf_machine_written(vm), MACHINE_STATE_FILE);
    qemucmd_firmware_machine(c->cfg, c->facts, &m);
    if (vm->machine == MACHINE_MICROVM) strvec_push(&m, "memory-backend=ram-node0");
    strvec_push(c->argv, "-machine");
    /* Filled once the accelerator is known (hpet=off under KVM). */
    size_t machine_at = c->argv->n;
    strvec_push(c->argv, "");

    if (vm->accel != ACCEL_TCG && !c->facts->kvm_usable) {
        _cleanup_free_ char *why = kvm_why(c->facts);
        if (vm->accel == ACCEL_KVM && why)
            cmd_error(c, SECTION_VM, &vm->head, "accel", "expected /dev/kvm to open read-write for accel = kvm, found %s", why);
        else if (vm->accel == ACCEL_KVM)
            cmd_error(c, SECTION_VM, &vm->head, "accel", "expected /dev/kvm to open read-write for accel = kvm, found it unusable (use auto or tcg)");
        else if (why)
            cmd_note(c, SECTION_VM, &vm->head, "accel", "running under TCG, a slow software emulator: /dev/kvm does not open read-write, found %s", why);
        else
            cmd_note(c, SECTION_VM, &vm->head, "accel", "/dev/kvm cannot be opened read-write: running under TCG, a slow software emulator");
    }
    c->kvm = vm->accel == ACCEL_KVM || (vm->accel == ACCEL_AUTO && c->facts->kvm_usable);
    strvec_push(c->argv, "-accel");
    strvec_push(c->argv, accel_kind_to_string(c->kvm ? ACCEL_KVM : ACCEL_TCG));
    qemucmd_machine_opts(c->cfg, c->kvm, &m);
    free(c->argv->v[machine_at]);
    c->argv->v[machine_at] = strvec_join(&m, ",");
    strvec_clear(&m);

    const char *model = vm->cpu_model ? vm->cpu_model : c->kvm ? "host" : "max";
    if (!c->kvm && (streq(model, "host") || !strncmp(model, "host,", 5)))
        cmd_error(c, SECTION_VM, &vm->head, "cpu-model", "expected a model TCG can emulate such as max, found host (no KVM on this host)");
    strvec_push(c->argv, "-cpu");
    strvec_push(c->argv, model);
    strvec_push(c->argv, "-smp");
    strvec_pushf(c->argv, "cpus=%" PRId64 ",sockets=%" PRId64 ",cores=%" PRId64 ",threads=%" PRId64, vm->vcpus, vm->sockets, vm->cores,
                 vm->threads);
    qemucmd_clock(c->cfg, c->kvm, c->argv);
}

static void add_memory(Cmd *c) {
    const VmConfig *cfg = c->cfg;
    const MemorySection *mem = &cfg->memory;
    strvec_push(c->argv, "-m");
    strvec_pushf(c->argv, "%" PRIu64 "M", cfg->vm.memory >> 20);
    if (mem->lock) {
        strvec_push(c->argv, "-overcommit");
        strvec_push(c->argv, "mem-lock=on");
    }
    /* virtiofs needs the RAM in a shared fd: memfd (a hugepage-path file
     * is one already), share=on (include/share.h). */
    bool vfs = share_needs_shared_ram(cfg, c->facts);
    const char *type = mem->backing == BACKING_ANONYMOUS && !vfs ? "memory-backend-ram"
                     : mem->backing == BACKING_HUGEPAGES && mem->hugepage_path ? "memory-backend-file" : "memory-backend-memfd";
    json_object *o = jobj("qom-type", type, "id", "ram-node0");
    jset_int(o, "size", (int64_t)cfg->vm.memory);
    if (mem->backing == BACKING_HUGEPAGES) {
        if (mem->hugepage_path) {
            /* A directory: QEMU makes an unlinked file there; the page size
             * is the mount's. */
            jset_str(o, "mem-path", mem->hugepage_path);
        } else {
            jset_bool(o, "hugetlb", true);
            jset_int(o, "hugetlbsize", (int64_t)mem->hugepage_size);
        }
    }
    jset_bool(o, "share", mem->share || vfs);
    jset_bool(o, "prealloc", vmconf_prealloc(cfg));
    jset_bool(o, "merge", mem->merge);
    if (mem->nodes.n) {
        json_object *nodes = json_object_new_array();
        for (size_t i = 0; i < mem->nodes.n; i++) json_object_array_add(nodes, json_object_new_int(mem->nodes.cpu[i]));
        json_object_object_add(o, "host-nodes", nodes);
        /* QEMU's HostMemPolicy words are vm.ini's. */
        jset_str(o, "policy", mem_policy_to_string(mem->policy == POLICY_DEFAULT ? POLICY_BIND : mem->policy));
    }
    push_json(c, "-object", o);
    if (cfg->vm.machine != MACHINE_MICROVM) {
        strvec_push(c->argv, "-numa");
        if (cfg->vm.vcpus > 1) strvec_pushf(c->argv, "node,nodeid=0,cpus=0-%" PRId64 ",memdev=ram-node0", cfg->vm.vcpus - 1);
        else strvec_push(c->argv, "node,nodeid=0,cpus=0,memdev=ram-node0");
    }
}

static void add_boot(Cmd *c) {
    const VmSection *vm = &c->cfg->vm;
    qemucmd_firmware(c->cfg, c->facts, c->argv);
    /* These take the whole next argument verbatim: no keyval, no escaping. */
    if (vm->kernel) {
        strvec_push(c->argv, "-kernel");
        strvec_push(c->argv, vm->kernel);
    }
    if (vm->initrd) {
        strvec_push(c->argv, "-initrd");
        strvec_push(c->argv, vm->initrd);
    }
    qemucmd_boot_append(c->cfg, c->facts, c->kvm, c->argv);
}

static void add_control(Cmd *c) {
    strvec_push(c->argv, "-chardev");
    strvec_pushf(c->argv, "socket,id=qmp,fd=%d", c->facts->qmp_fd);
    strvec_push(c->argv, "-mon");
    strvec_push(c->argv, "chardev=qmp,mode=control");
    /* A second monitor on a socket kvmlaunch listens on for QEMU, so that
     * `kvmlaunch status` can ask while the supervisor owns the first. */
    strvec_push(c->argv, "-chardev");
    strvec_pushf(c->argv, "socket,id=qmp-status,fd=%d,server=on,wait=off", c->facts->status_fd);
    strvec_push(c->argv, "-mon");
    strvec_push(c->argv, "chardev=qmp-status,mode=control");
    /* A third for `kvmlaunch qmp`, `balloon` and `pin`: a client there must
     * never keep status (one client at a time per socket) from asking. */
    strvec_push(c->argv, "-chardev");
    strvec_pushf(c->argv, "socket,id=qmp-control,fd=%d,server=on,wait=off", c->facts->control_fd);
    strvec_push(c->argv, "-mon");
    strvec_push(c->argv, "chardev=qmp-control,mode=control");

    _cleanup_free_ char *path = NULL;
    SerialKind kind = hostfacts_serial(c->cfg, c->facts, &path);
    if (kind == SERIAL_NONE) return;
    /* Whatever serial says, QEMU writes into a socket the supervisor
     * reads at once, and the supervisor sends it on (stdout, the pty, the
     * capped log, a console client) without ever blocking the guest
     * (serialrelay.h). */
    strvec_push(c->argv, "-chardev");
    strvec_pushf(c->argv, "socket,id=serial0,fd=%d", c->facts->serial_fd);
    strvec_push(c->argv, "-serial");
    strvec_push(c->argv, "chardev:serial0");
}

/* cache= as libvirt spells it out for -blockdev: O_DIRECT, flushes ignored,
 * and whether the guest sees a volatile write cache. */
typedef struct CacheBits { bool direct, no_flush, write_cache; } CacheBits;
static CacheBits cache_bits(int mode) {
    switch (mode) {
    case CACHE_NONE: return (CacheBits){ true, false, true };
    case CACHE_WRITETHROUGH: return (CacheBits){ false, false, false };
    case CACHE_DIRECTSYNC: return (CacheBits){ true, false, false };
    case CACHE_UNSAFE: return (CacheBits){ false, true, true };
    default: return (CacheBits){ false, false, true };
    }
}

static json_object *cache_object(CacheBits cb) {
    json_object *o = json_object_new_object();
    jset_bool(o, "direct", cb.direct);
    jset_bool(o, "no-flush", cb.no_flush);
    return o;
}

/* aio=, discard= and the format driver: QEMU spells them as vm.ini does.
 * cache= is no word for QEMU but three bits (cache_bits above). */
static const char *aio_name(int aio) {
    /* validate resolved AIO_DEFAULT; threads is QEMU's own default. */
    return aio_mode_to_string(aio == AIO_DEFAULT ? AIO_THREADS : aio);
}

static const char *format_driver(int format) { return disk_format_to_string(format == FORMAT_QCOW2 ? FORMAT_QCOW2 : FORMAT_RAW); }

/* A snapshot disk goes through -drive: QEMU itself puts a temporary qcow2
 * overlay on top and deletes it, which -blockdev cannot ask for. file.driver
 * is explicit so a path like "json:{...}" is never read as a protocol. */
static void add_snapshot_drive(Cmd *c, const DiskSection *d, int format, bool is_block, CacheBits cb) {
    _cleanup_free_ char *path = qemu_escape_keyval(d->file);
    strvec_push(c->argv, "-drive");
    strvec_pushf(c->argv,
                 "if=none,id=fmt-%s,driver=%s,file.driver=%s,file.filename=%s,file.aio=%s,cache.direct=%s,cache.no-flush=%s,"
                 "discard=%s,read-only=%s,snapshot=on",
                 d->head.id, format_driver(format), is_block ? "host_device" : "file", path, aio_name(d->aio),
                 cb.direct ? "on" : "off", cb.no_flush ? "on" : "off", discard_mode_to_string(d->discard),
                 d->readonly ? "on" : "off");
}

static void add_disk(Cmd *c, size_t i, bool *boot_given) {
    const DiskSection *d = &c->cfg->disks[i];
    const DiskFacts *df = i < c->facts->n_disks ? &c->facts->disks[i] : NULL;
    const char *id = d->head.id;
    int format = d->format;
    if (format == FORMAT_AUTO) {
        if (!df || !df->exists) {
            cmd_error(c, SECTION_DISK, &d->head, "file", "expected a readable file to detect the format of, found none at %s (or set format)",
                      d->file);
            return;
        }
        format = df->detected_format;
        if (format == FORMAT_RAW)
            cmd_note(c, SECTION_DISK, &d->head, "format", "%s has no qcow2 header: using raw (write format = raw to say so)", d->file);
    }
    bool is_block = df && df->is_block;
    CacheBits cb = cache_bits(d->cache);
    /* virtio-mmio (microvm) has ioeventfd only under KVM, and an iothread
     * needs it: QEMU refuses the pair under TCG. */
    bool iothread_ok = c->pci || c->kvm;
    if (d->iothread && !iothread_ok)
        cmd_note(c, SECTION_DISK, &d->head, "iothread", "no I/O thread for a microvm disk under TCG (virtio-mmio has no ioeventfd there)");
    _cleanup_free_ char *iothread = d->iothread && iothread_ok ? xasprintf("iothread-%s", id) : NULL;
    if (iothread) push_json(c, "-object", jobj("qom-type", "iothread", "id", iothread));

    _cleanup_free_ char *fmt_node = xasprintf("fmt-%s", id);
    if (d->snapshot) {
        add_snapshot_drive(c, d, format, is_block, cb);
    } else {
        _cleanup_free_ char *file_node = xasprintf("file-%s", id);
        json_object *f = jobj("driver", is_block ? "host_device" : "file", "node-name", file_node);
        jset_str(f, "filename", d->file);
        jset_str(f, "aio", aio_name(d->aio));
        json_object_object_add(f, "cache", cache_object(cb));
        jset_str(f, "discard", discard_mode_to_string(d->discard));
        jset_bool(f, "read-only", d->readonly);
        push_json(c, "-blockdev", f);
        json_object *fmt = jobj("driver", format_driver(format), "node-name", fmt_node);
        jset_str(fmt, "file", file_node);
        json_object_object_add(fmt, "cache", cache_object(cb));
        jset_str(fmt, "discard", discard_mode_to_string(d->discard));
        jset_bool(fmt, "read-only", d->readonly);
        push_json(c, "-blockdev", fmt);
    }

    int64_t queues = (int64_t)vmconf_disk_queues(c->cfg, d);
    _cleanup_free_ char *dev_id = xasprintf("disk-%s", id);
    json_object *dev;
    if (d->bus == BUS_VIRTIO_SCSI) {
        _cleanup_free_ char *ctrl = xasprintf("scsi-%s", id);
        json_object *s = jobj("driver", virtio_driver(c, "virtio-scsi"), "id", ctrl);
        jset_int(s, "num_queues", queues);
        if (iothread) jset_str(s, "iothread", iothread);
        push_json(c, "-device", s);
        dev = jobj("driver", "scsi-hd", "id", dev_id);
        _cleanup_free_ char *bus = xasprintf("%s.0", ctrl);
        jset_str(dev, "bus", bus);
    } else {
        dev = jobj("driver", virtio_driver(c, "virtio-blk"), "id", dev_id);
        jset_int(dev, "num-queues", queues);
        if (iothread) jset_str(dev, "iothread", iothread);
    }
    jset_str(dev, "drive", fmt_node);
    jset_str(dev, "write-cache", cb.write_cache ? "on" : "off");
    /* Without a kernel the firmware boots from the first disk written. */
    if (!c->cfg->vm.kernel && c->pci && !*boot_given) {
        jset_int(dev, "bootindex", 1);
        *boot_given = true;
    }
    push_json(c, "-device", dev);
}

static char *join_fds(const int *fds, size_t n) {
    char *s = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *t = xasprintf("%s%s%d", s, i ? ":" : "", fds[i]);
        free(s);
        s = t;
    }
    return s;
}

/* The tap -netdev of [net] I: its queues' and vhost-net's fds. */
static bool add_tap_netdev(Cmd *c, size_t i, const char *netdev_id, int64_t queues) {
    const NetSection *n = &c->cfg->nets[i];
    const NetFds *fds = i < c->facts->n_nets ? &c->facts->nets[i] : NULL;
    if (!fds || (int64_t)fds->queues != queues) {
        cmd_error(c, SECTION_NET, &n->head, "queues", "expected %" PRId64 " tap descriptors to pass to QEMU, found %zu", queues,
                  fds ? fds->queues : 0);
        return false;
    }
    bool vhost = n->vhost != VHOST_OFF && c->facts->vhost_net_usable;
    if (n->vhost == VHOST_ON && !c->facts->vhost_net_usable)
        cmd_error(c, SECTION_NET, &n->head, "vhost", "expected /dev/vhost-net to open for vhost = on, found it unusable (use auto or off)");
    else if (n->vhost == VHOST_AUTO && !c->facts->vhost_net_usable)
        cmd_note(c, SECTION_NET, &n->head, "vhost", "/dev/vhost-net cannot be opened: packets go through QEMU's own thread (slower)");
    if (vhost && !fds->vhost) {
        cmd_error(c, SECTION_NET, &n->head, "vhost", "expected vhost-net descriptors to pass to QEMU, found none");
        return false;
    }
    json_object *nd = jobj("type", "tap", "id", netdev_id);
    _cleanup_free_ char *tapfds = join_fds(fds->tap, fds->queues);
    jset_str(nd, "fds", tapfds);
    jset_bool(nd, "vhost", vhost);
    if (vhost) {
        _cleanup_free_ char *vfds = join_fds(fds->vhost, fds->queues);
        jset_str(nd, "vhostfds", vfds);
    }
    push_json(c, "-netdev", nd);
    return true;
}

static void add_net(Cmd *c, size_t i) {
    const NetSection *n = &c->cfg->nets[i];
    bool user = n->mode == NET_MODE_USER;
    /* slirp is one queue inside QEMU. */
    int64_t queues = user ? 1 : vmconf_net_queues(c->cfg, n);
    _cleanup_free_ char *netdev_id = xasprintf("net-%s", n->head.id);
    json_object *nd = user ? qemucmd_netdev_user(c->cfg, n, c->facts, netdev_id, c->errors) : NULL;
    if (user && nd) push_json(c, "-netdev", nd);
    if (user ? !nd : !add_tap_netdev(c, i, netdev_id, queues)) return;

    _cleanup_free_ char *dev_id = xasprintf("nic-%s", n->head.id);
    json_object *dev = jobj("driver", virtio_driver(c, "virtio-net"), "id", dev_id);
    jset_str(dev, "netdev", netdev_id);
    MacAddr mac = vmconf_net_mac(c->cfg, n);
    _cleanup_free_ char *macs = mac_format(&mac);
    jset_str(dev, "mac", macs);
    if (queues > 1) {
        jset_bool(dev, "mq", true);
        /* One vector per rx and tx queue, one for config, one for control. */
        if (c->pci) jset_int(dev, "vectors", 2 * queues + 2);
    }
    /* mtu unset: the bridge's, as the tap gets it too. */
    int64_t mtu = n->mtu ? n->mtu : c->facts->bridge_mtu && !user ? c->facts->bridge_mtu[i] : 0;
    if (mtu) jset_int(dev, "host_mtu", mtu);
    if (qemucmd_boot_rom_off(c->cfg, c->pci)) jset_str(dev, "romfile", "");
    push_json(c, "-device", dev);
}

static void add_devices(Cmd *c) {
    const VmConfig *cfg = c->cfg;
    bool boot_given = false;
    for (size_t i = 0; i < cfg->n_disks; i++) add_disk(c, i, &boot_given);
    for (size_t i = 0; i < cfg->n_nets; i++) add_net(c, i);
    qemucmd_cloudinit(cfg, c->facts, c->pci, c->argv);
    qemucmd_hostdev(cfg, c->facts, c->argv);
    qemucmd_guest_agent(cfg, c->facts, c->pci, c->argv);
    if (cfg->balloon.enabled) {
        json_object *b = jobj("driver", virtio_driver(c, "virtio-balloon"), "id", "balloon0");
        jset_bool(b, "deflate-on-oom", cfg->balloon.deflate_on_oom);
        jset_bool(b, "free-page-reporting", cfg->balloon.free_page_reporting);
        jset_int(b, "guest-stats-polling-interval", (int64_t)(cfg->balloon.stats_period_ms / 1000));
        push_json(c, "-device", b);
    }
    if (cfg->vm.exit_device) {
        json_object *e = jobj("driver", "isa-debug-exit", "id", "exit0");
        jset_int(e, "iobase", 0xf4);
        jset_int(e, "iosize", 4);
        push_json(c, "-device", e);
    }
}

int qemucmd_build(const VmConfig *cfg, const HostFacts *facts, StrVec *argv, ErrList *errors, ErrList *notes) {
    Cmd c = { .cfg = cfg, .facts = facts, .argv = argv, .errors = errors, .notes = notes,
              .pci = cfg->vm.machine != MACHINE_MICROVM };
    size_t before = errors->n;
    if (facts->running_as_root && !cfg->vm.user)
        cmd_error(&c, SECTION_VM, &cfg->vm.head, "user", "required when kvmlaunch runs as root (QEMU never runs as root)");
    const char *qemu = facts->qemu_binary ? facts->qemu_binary : cfg->vm.qemu ? cfg->vm.qemu : "qemu-system-x86_64";
    check_text(&c, qemu, "qemu", "the emulator's path");
    strvec_push(argv, qemu);
    add_machine(&c);
    add_memory(&c);
    add_boot(&c);
    add_control(&c);
    add_devices(&c);
    qemucmd_crash(cfg, argv);
    qemucmd_add_shares(cfg, facts, argv, errors, notes);
    qemucmd_tpm(cfg, facts, argv, errors);
    strvec_push(argv, "-sandbox");
    strvec_push(argv, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    /* The loader refuses such bytes in every value it reads; this is the
     * one place every argument passes, whatever filled the model. */
    for (size_t i = 1; i < argv->n && errors->n == before; i++) {
        _cleanup_free_ char *what = xasprintf("argument %zu of QEMU's command line", i);
        check_text(&c, argv->v[i], NULL, what);
    }
    errlist_sort(errors);
    errlist_sort(notes);
    return errors->n > before ? -EINVAL : 0;
}
