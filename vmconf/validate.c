/* What no single key can say: required keys, topology, pin lengths,
 * hugepage sizes, cache/aio pairs, unique IDs, and the defaults that depend
 * on other keys. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cloudinit.h"
#include "firmware.h"
#include "schema.h"
#include "util.h"
#include "vmconf_internal.h"

typedef struct Check {
    VmConfig *cfg;
    ErrList *errors;
} Check;

static void fail_key(Check *c, SectionKind kind, const SectionHead *head, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fail_key(Check *c, SectionKind kind, const SectionHead *head, const char *key, const char *fmt, ...) {
    int index;
    /* The value was refused and reported; a check on the default that
     * stands in for it would only mislead. */
    if (key && schema_key_find(kind, key, &index) && head->key_refused[index]) return;
    va_list ap;
    va_start(ap, fmt);
    errlist_add_keyv(c->errors, c->cfg->path, kind, head, key, fmt, ap);
    va_end(ap);
}

static void check_required(Check *c, bool lines_refused) {
    for (SectionKind k = 0; k < SECTION__MAX; k++) {
        const SectionDef *sec = &schema_sections[k];
        for (size_t i = 0; i < vmconf_section_count(c->cfg, k); i++) {
            SectionHead *head = vmconf_section(c->cfg, k, i);
            if (!sec->named && !head->line) {
                if (sec->required && !lines_refused)
                    errlist_add_about(c->errors, 1, sec->name, NULL,
                                      "%s:1: [%s]: required section missing (it needs at least name, memory and vcpus)", c->cfg->path,
                                      sec->name);
                continue;
            }
            for (size_t j = 0; j < schema_n_keys; j++) {
                const KeyDef *def = &schema_keys[j];
                if (def->section == k && (def->flags & KEY_REQUIRED) && !section_key_set(k, head, def->name) && !head->lines_refused)
                    fail_key(c, k, head, def->name, "required key missing");
            }
        }
    }
}

/* Fills the topology keys not written so that sockets*cores*threads = vcpus;
 * with none written: one socket of vcpus cores, as QEMU 7.2 prefers. */
static void check_topology(Check *c) {
    VmSection *vm = &c->cfg->vm;
    SectionHead *h = &vm->head;
    /* A refused value left 0 in its place: nothing to divide by, and its
     * line says what is wrong already. */
    static const char *const keys[] = { "sockets", "cores", "threads" };
    for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
        int index;
        if (schema_key_find(SECTION_VM, keys[i], &index) && h->key_refused[index]) return;
    }
    bool s = section_key_set(SECTION_VM, h, "sockets"), co = section_key_set(SECTION_VM, h, "cores"),
         t = section_key_set(SECTION_VM, h, "threads");
    if (!t) vm->threads = 1;
    if (!s && !co) { vm->sockets = 1; vm->cores = vm->vcpus / vm->threads; }
    else if (!s) vm->sockets = vm->vcpus / (vm->cores * vm->threads);
    else if (!co) vm->cores = vm->vcpus / (vm->sockets * vm->threads);
    if (vm->sockets < 1) vm->sockets = 1;
    if (vm->cores < 1) vm->cores = 1;
    if (vm->sockets * vm->cores * vm->threads != vm->vcpus) {
        const char *key = s ? "sockets" : co ? "cores" : "threads";
        fail_key(c, SECTION_VM, h, key, "expected sockets*cores*threads = vcpus = %" PRId64 ", found %" PRId64 "*%" PRId64 "*%" PRId64 " = %" PRId64,
                 vm->vcpus, vm->sockets, vm->cores, vm->threads, vm->sockets * vm->cores * vm->threads);
    }
}

/* [vm] firmware-vars goes with UEFI; uefi-secure with q35: OVMF's
 * secboot build keeps its variables safe from the guest through SMM,
 * which only q35 gives it (pc's SMM cannot lock the flash). */
static void check_firmware(Check *c) {
    const VmSection *vm = &c->cfg->vm;
    const SectionHead *h = &vm->head;
    FirmwareKind k = firmware_kind(vm);
    if (vm->firmware_vars && k == FIRMWARE_BIOS)
        fail_key(c, SECTION_VM, h, "firmware-vars", "expected firmware = uefi, uefi-secure or a path with firmware-vars, found bios");
    if (k == FIRMWARE_UEFI_SECURE && vm->machine != MACHINE_Q35)
        fail_key(c, SECTION_VM, h, "firmware", "expected machine = q35 with firmware = uefi-secure (Secure Boot needs its SMM), found machine = %s",
                 machine_type_to_string(vm->machine));
}

static void check_vm(Check *c) {
    VmSection *vm = &c->cfg->vm;
    SectionHead *h = &vm->head;
    /* Written, not merely non-zero: "memory = 0" is no VM; a memory line
     * not written was reported missing, one refused with its line. */
    if (section_key_set(SECTION_VM, h, "memory") && (vm->memory % (UINT64_C(1) << 20) || vm->memory < (UINT64_C(16) << 20))) {
        _cleanup_free_ char *m = size_format(vm->memory);
        fail_key(c, SECTION_VM, h, "memory", "expected a multiple of 1M of at least 16M, found %s", m);
    }
    if (vm->memory > (UINT64_C(16) << 40)) {
        _cleanup_free_ char *m = size_format(vm->memory);
        fail_key(c, SECTION_VM, h, "memory", "expected at most 16T, found %s", m);
    }
    /* Below a page, rotating would copy the log for every few lines. */
    if (section_key_set(SECTION_VM, h, "serial-log-size") && vm->serial_log_size < SERIAL_LOG_SIZE_MIN) {
        _cleanup_free_ char *m = size_format(vm->serial_log_size);
        fail_key(c, SECTION_VM, h, "serial-log-size", "expected at least 4K, found %s", m);
    }
    if (vm->serial_log_size > SERIAL_LOG_SIZE_MAX) {
        _cleanup_free_ char *m = size_format(vm->serial_log_size);
        fail_key(c, SECTION_VM, h, "serial-log-size", "expected at most 64M, found %s", m);
    }
    if (vm->vcpus) check_topology(c);
    if (vm->machine == MACHINE_PC && vm->vcpus > 255)
        fail_key(c, SECTION_VM, h, "vcpus", "expected at most 255 vCPUs with machine = pc, found %" PRId64, vm->vcpus);
    if (!vm->kernel) {
        if (vm->initrd) fail_key(c, SECTION_VM, h, "initrd", "expected kernel to be set too, found initrd alone");
        if (vm->append) fail_key(c, SECTION_VM, h, "append", "expected kernel to be set too, found append alone");
        if (vm->machine == MACHINE_MICROVM)
            fail_key(c, SECTION_VM, h, "machine", "expected kernel to be set with machine = microvm (it boots only a kernel)");
    }
    if (vm->firmware && vm->machine == MACHINE_MICROVM)
        fail_key(c, SECTION_VM, h, "firmware", "expected bios with machine = microvm (it has no flash for UEFI code)");
    else check_firmware(c);
    if (vm->cpu_model && vm->accel == ACCEL_TCG && (streq(vm->cpu_model, "host") || !strncmp(vm->cpu_model, "host,", 5)))
        fail_key(c, SECTION_VM, h, "cpu-model", "expected a model TCG can emulate such as max with accel = tcg, found host (it needs KVM)");
}

/* boot-budget is judged by the guest's init line on the serial console:
 * without a console kvmlaunch never sees it. */
static void check_boot_budget(Check *c) {
    VmSection *vm = &c->cfg->vm;
    if (vm->boot_budget_ms && vm->serial.kind == SERIAL_NONE)
        fail_key(c, SECTION_VM, &vm->head, "boot-budget",
                 "expected a serial console to see the guest's init on, found serial = none (kvmlaunch never sees the guest boot)");
}

static void check_cpu(Check *c) {
    CpuSection *cpu = &c->cfg->cpu;
    int64_t vcpus = c->cfg->vm.vcpus;
    if (!vcpus) return;
    if (cpu->pin.kind == CPUSPEC_LIST && (int64_t)cpu->pin.list.n != vcpus)
        fail_key(c, SECTION_CPU, &cpu->head, "pin", "expected %" PRId64 " CPUs (one per vCPU, vcpus = %" PRId64 "), found %zu",
                 vcpus, vcpus, cpu->pin.list.n);
    for (size_t i = 0; i < cpu->n_vcpu_override; i++) {
        if (!cpu->vcpu_override_line[i] || (int64_t)i < vcpus) continue;
        int line = cpu->vcpu_override_line[i];
        char key[32];
        snprintf(key, sizeof(key), "vcpu.%zu", i);
        errlist_add_about(c->errors, line, "cpu", key, "%s:%d: [cpu] %s: expected a vCPU number below vcpus = %" PRId64 ", found %zu",
                          c->cfg->path, line, key, vcpus, i);
    }
}

static void check_memory(Check *c) {
    MemorySection *m = &c->cfg->memory;
    SectionHead *h = &m->head;
    static const char *const huge_keys[] = { "hugepage-size", "hugepage-path", "reserve-hugepages" };
    if (m->backing != BACKING_HUGEPAGES) {
        for (size_t i = 0; i < ELEMENTSOF(huge_keys); i++)
            if (section_key_set(SECTION_MEMORY, h, huge_keys[i]))
                fail_key(c, SECTION_MEMORY, h, huge_keys[i], "expected backing = hugepages with this key, found backing = %s",
                         mem_backing_to_string(m->backing));
    } else if (c->cfg->vm.memory && c->cfg->vm.memory % m->hugepage_size) {
        _cleanup_free_ char *hp = size_format(m->hugepage_size);
        _cleanup_free_ char *mem = size_format(c->cfg->vm.memory);
        fail_key(c, SECTION_MEMORY, h, section_key_set(SECTION_MEMORY, h, "hugepage-size") ? "hugepage-size" : "backing",
                 "expected a huge page size that divides memory = %s, found %s", mem, hp);
    }
    if (m->policy != POLICY_DEFAULT && !m->nodes.n)
        fail_key(c, SECTION_MEMORY, h, "policy", "expected nodes to be set too, found policy alone");
    if (m->migrate && !m->nodes.n)
        fail_key(c, SECTION_MEMORY, h, "migrate", "expected nodes to be set too (pages move onto them)");
    for (size_t i = 0; i < m->nodes.n; i++)
        if (m->nodes.cpu[i] > 1023) {
            fail_key(c, SECTION_MEMORY, h, "nodes", "expected node numbers from 0 to 1023, found %d", m->nodes.cpu[i]);
            break;
        }
    if (m->nodes.n && m->policy == POLICY_DEFAULT) m->policy = POLICY_BIND;
}

static void check_balloon(Check *c) {
    BalloonSection *b = &c->cfg->balloon;
    /* QEMU's guest-stats-polling-interval counts whole seconds. */
    if (b->stats_period_ms % 1000)
        fail_key(c, SECTION_BALLOON, &b->head, "stats-period", "expected whole seconds such as 10s, found %" PRIu64 "ms", b->stats_period_ms);
}

static void check_disks(Check *c) {
    for (size_t i = 0; i < c->cfg->n_disks; i++) {
        DiskSection *d = &c->cfg->disks[i];
        bool direct = d->cache == CACHE_NONE || d->cache == CACHE_DIRECTSYNC;
        if (d->aio == AIO_DEFAULT) d->aio = direct ? AIO_NATIVE : AIO_THREADS;
        else if (d->aio == AIO_NATIVE && !direct)
            fail_key(c, SECTION_DISK, &d->head, "aio", "expected cache = none or directsync with aio = native (it needs O_DIRECT), found cache = %s",
                     cache_mode_to_string(d->cache));
        /* virtio-scsi adds its control and event queues to the 1024. */
        if (d->bus == BUS_VIRTIO_SCSI && d->queues > 1021)
            fail_key(c, SECTION_DISK, &d->head, "queues", "expected at most 1021 queues with bus = virtio-scsi, found %" PRId64, d->queues);
        for (size_t j = 0; j < i && d->file; j++) {
            DiskSection *o = &c->cfg->disks[j];
            if (o->file && streq(o->file, d->file) && !(o->readonly && d->readonly)) {
                fail_key(c, SECTION_DISK, &d->head, "file", "expected a file no other disk uses, found the file of [disk \"%s\"] (line %d)",
                         o->head.id, o->head.line);
                break;
            }
        }
    }
}

static void check_nets(Check *c) {
    VmConfig *cfg = c->cfg;
    for (size_t i = 0; i < cfg->n_nets; i++) {
        NetSection *n = &cfg->nets[i];
        vmconf_check_net_user(cfg, i, c->errors);
        if (n->mode == NET_MODE_TAP && n->steering == 1 && !vmconf_vcpus_pinned(cfg))
            fail_key(c, SECTION_NET, &n->head, "steering", "expected pinned vCPUs ([cpu] pin) to steer queues to, found none pinned");
        if (!cfg->vm.name) continue;
        _cleanup_free_ char *tap = vmconf_net_tap_name(cfg, n);
        MacAddr mac = vmconf_net_mac(cfg, n);
        for (size_t j = 0; j < i; j++) {
            NetSection *o = &cfg->nets[j];
            _cleanup_free_ char *otap = vmconf_net_tap_name(cfg, o);
            MacAddr omac = vmconf_net_mac(cfg, o);
            if (n->mode == NET_MODE_TAP && o->mode == NET_MODE_TAP && streq(tap, otap)) {
                bool written = section_key_set(SECTION_NET, &n->head, "tap");
                fail_key(c, SECTION_NET, &n->head, written ? "tap" : NULL,
                         "expected a tap name no other NIC uses, found %s, the tap of [net \"%s\"] (line %d)%s", tap, o->head.id,
                         o->head.line, written ? "" : "; set tap = to tell them apart");
            }
            if (!memcmp(&mac, &omac, sizeof(mac))) {
                _cleanup_free_ char *m = mac_format(&mac);
                fail_key(c, SECTION_NET, &n->head, "mac", "expected a MAC no other NIC of this VM has, found %s, as [net \"%s\"] (line %d)",
                         m, o->head.id, o->head.line);
            }
        }
    }
}

/* Every disk (a virtio-scsi one with its own controller), NIC and the
 * balloon is a device on the root bus: q35's pcie.0 and pc's pci.0 have 30
 * free slots, microvm 24 virtio-mmio transports. QEMU would refuse the rest
 * only once it starts, after the host was prepared. */
static void check_devices(Check *c) {
    VmConfig *cfg = c->cfg;
    bool microvm = cfg->vm.machine == MACHINE_MICROVM;
    size_t max = microvm ? 24 : 30, n = cfg->n_disks + cfg->n_nets + (cfg->balloon.enabled ? 1 : 0);
    if (n <= max) return;
    SectionKind kind = cfg->n_disks > max ? SECTION_DISK : cfg->n_disks + cfg->n_nets > max ? SECTION_NET : SECTION_BALLOON;
    const SectionHead *h = kind == SECTION_DISK ? &cfg->disks[max].head : kind == SECTION_NET ? &cfg->nets[max - cfg->n_disks].head
                                                                                              : &cfg->balloon.head;
    fail_key(c, kind, h, NULL, "expected at most %zu devices (disks, NICs and the balloon) on %s, found %zu%s", max,
             microvm ? "machine = microvm's virtio-mmio transports" : cfg->vm.machine == MACHINE_PC ? "machine = pc's PCI bus" : "machine = q35's PCI root bus",
             n, kind == SECTION_BALLOON ? " ([balloon] enabled = no frees one)" : "");
}

/* [cloud-init]: a user-data file is the whole user-data, so the keys that
 * would generate one are refused beside it; a key is a .pub with its
 * private half beside it; a host name is one. */
static void check_cloudinit(Check *c) {
    CloudInitSection *ci = &c->cfg->cloudinit;
    if (!ci->head.line) return;
    static const char *const generated[] = { "user", "ssh-key" };
    for (size_t i = 0; i < ELEMENTSOF(generated); i++)
        if (ci->user_data && section_key_set(SECTION_CLOUDINIT, &ci->head, generated[i]))
            fail_key(c, SECTION_CLOUDINIT, &ci->head, generated[i],
                     "expected no %s with user-data (line %d), which is taken as is: put the user and key in that file, or drop user-data",
                     generated[i], section_key_line(SECTION_CLOUDINIT, &ci->head, "user-data"));
    if (ci->ssh_key) {
        _cleanup_free_ char *priv = cloudinit_private_key(ci->ssh_key);
        if (!priv)
            fail_key(c, SECTION_CLOUDINIT, &ci->head, "ssh-key",
                     "expected the public key, a path ending in .pub (the private key is the path without it), found %s", ci->ssh_key);
    }
    char err[VALUE_ERR_MAX];
    if (ci->hostname && cloudinit_check_hostname(ci->hostname, err) < 0) fail_key(c, SECTION_CLOUDINIT, &ci->head, "hostname", "%s", err);
}

/* [tpm]: microvm has no bus for a TPM device (QEMU 7.2 has neither tpm-crb
 * nor tpm-tis there), so it is refused here, not by QEMU at start. */
static void check_tpm(Check *c) {
    TpmSection *t = &c->cfg->tpm;
    if (t->enabled && c->cfg->vm.machine == MACHINE_MICROVM)
        fail_key(c, SECTION_TPM, &t->head, "enabled", "expected no with machine = microvm (line %d), which has no TPM device, found yes",
                 section_key_line(SECTION_VM, &c->cfg->vm.head, "machine"));
}

void vmconf_validate(VmConfig *cfg, ErrList *errors, bool lines_refused) {
    Check c = { cfg, errors };
    size_t before = errors->n;
    check_required(&c, lines_refused);
    /* Cross-key checks read the required keys; without them they would
     * only add noise. */
    if (errors->n > before) return;
    if (!cfg->vm.head.line) return;
    check_vm(&c);
    check_boot_budget(&c);
    check_cpu(&c);
    check_memory(&c);
    check_balloon(&c);
    check_disks(&c);
    check_nets(&c);
    check_devices(&c);
    check_cloudinit(&c);
    vmconf_check_hostdevs(cfg, errors);
    check_tpm(&c);
    vmconf_check_crash(cfg, errors);
}
