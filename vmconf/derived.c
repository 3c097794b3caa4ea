/* Defaults that follow from other keys, computed in one place so the command
 * line, the host plan and the reports agree. */
#include <stdio.h>
#include <string.h>

#include "util.h"
#include "vmconf.h"

uint64_t vmconf_disk_queues(const VmConfig *cfg, const DiskSection *d) {
    return d->queues ? (uint64_t)d->queues : (uint64_t)cfg->vm.vcpus;
}

int64_t vmconf_net_queues(const VmConfig *cfg, const NetSection *n) {
    if (n->queues) return n->queues;
    return cfg->vm.vcpus < 16 ? cfg->vm.vcpus : 16;
}

bool vmconf_vcpus_pinned(const VmConfig *cfg) {
    const CpuSection *cpu = &cfg->cpu;
    if (cpu->pin.kind == CPUSPEC_LIST || cpu->pin.kind == CPUSPEC_AUTO) return true;
    /* Or every vCPU has a vcpu.N of its own. */
    if (cfg->vm.vcpus <= 0 || cpu->n_vcpu_override < (size_t)cfg->vm.vcpus) return false;
    for (int64_t i = 0; i < cfg->vm.vcpus; i++)
        if (!cpu->vcpu_override_line[i]) return false;
    return true;
}

bool vmconf_net_steering(const VmConfig *cfg, const NetSection *n) {
    return n->steering == TRISTATE_UNSET ? vmconf_vcpus_pinned(cfg) : n->steering == 1;
}

bool vmconf_prealloc(const VmConfig *cfg) {
    if (cfg->memory.prealloc != TRISTATE_UNSET) return cfg->memory.prealloc == 1;
    return cfg->memory.backing == BACKING_HUGEPAGES;
}

/* FNV-1a: stable across runs and hosts, so a VM keeps its MAC (and its DHCP
 * lease) without anyone writing one down. */
static uint64_t fnv1a(uint64_t h, const char *s) {
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) h = (h ^ *p) * UINT64_C(0x100000001b3);
    /* The terminating NUL too, so "ab"+"c" and "a"+"bc" differ. */
    return h * UINT64_C(0x100000001b3);
}

MacAddr vmconf_net_mac(const VmConfig *cfg, const NetSection *n) {
    if (section_key_set(SECTION_NET, &n->head, "mac")) return n->mac;
    uint64_t h = fnv1a(fnv1a(UINT64_C(0xcbf29ce484222325), cfg->vm.name ? cfg->vm.name : ""), n->head.id ? n->head.id : "");
    MacAddr m;
    for (int i = 0; i < 6; i++) m.b[i] = (uint8_t)(h >> (8 * i));
    /* Locally administered (bit 1) unicast (bit 0 clear). */
    m.b[0] = (uint8_t)((m.b[0] & 0xfc) | 0x02);
    return m;
}

char *vmconf_net_tap_name(const VmConfig *cfg, const NetSection *n) {
    if (n->tap) return xstrdup(n->tap);
    const char *name = cfg->vm.name ? cfg->vm.name : "", *id = n->head.id ? n->head.id : "";
    char *tap = xasprintf("kl-%s-%s", name, id);
    if (strlen(tap) <= 15) return tap;
    /* Too long for IFNAMSIZ: a plain cut would give two NICs (or two VMs
     * with a common prefix) the same tap, so the cut name ends in a hash of
     * the whole: kl-NAMEPRE-hhhh, 15 characters. */
    uint64_t h = fnv1a(fnv1a(UINT64_C(0xcbf29ce484222325), name), id);
    free(tap);
    return xasprintf("kl-%.7s-%04x", name, (unsigned)((h ^ (h >> 16) ^ (h >> 32) ^ (h >> 48)) & 0xffff));
}
