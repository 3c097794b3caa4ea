/* [hostdev "ID"]: the checks across its keys (vmconf_check_hostdevs). The
 * host is not asked here: whether the device exists, its IOMMU group and
 * its drivers are the probe's (launcher/host/hostdev.c). */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"
#include "util.h"
#include "vmconf_internal.h"

static void fail_key(const VmConfig *cfg, ErrList *errors, const HostdevSection *d, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fail_key(const VmConfig *cfg, ErrList *errors, const HostdevSection *d, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    errlist_add_keyv(errors, cfg->path, SECTION_HOSTDEV, &d->head, key, fmt, ap);
    va_end(ap);
}

static bool hex_run(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i])) return false;
    return true;
}

/* DDDD:BB:DD.F, the form sysfs names devices by: lowercased in place. */
static bool pci_address_ok(char *s) {
    if (strlen(s) != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
    if (!hex_run(s, 4) || !hex_run(s + 5, 2) || !hex_run(s + 8, 2) || s[11] < '0' || s[11] > '7') return false;
    /* Device numbers end at 0x1f. */
    unsigned dev = 0;
    sscanf(s + 8, "%2x", &dev);
    if (dev > 0x1f) return false;
    for (char *p = s; *p; p++) *p = (char)tolower((unsigned char)*p);
    return true;
}

/* DEV:N: an interface name and a VF number (0 to 255, what sriov_totalvfs
 * can reach on any NIC we know). */
static bool vf_ok(const HostdevSection *d, char **dev, int64_t *index) {
    const char *colon = strrchr(d->vf, ':');
    if (!colon || colon == d->vf || !colon[1] || strlen(colon + 1) > 3) return false;
    char err[VALUE_ERR_MAX];
    _cleanup_free_ char *name = xstrndup(d->vf, (size_t)(colon - d->vf));
    if (schema_check_ifname(name, err) < 0) return false;
    int64_t n = 0;
    for (const char *p = colon + 1; *p; p++) {
        if (!isdigit((unsigned char)*p)) return false;
        n = n * 10 + (*p - '0');
    }
    if (n > 255) return false;
    *dev = TAKE_PTR(name);
    *index = n;
    return true;
}

void vmconf_check_hostdevs(VmConfig *cfg, ErrList *errors) {
    for (size_t i = 0; i < cfg->n_hostdevs; i++) {
        HostdevSection *d = &cfg->hostdevs[i];
        if (cfg->vm.machine == MACHINE_MICROVM) {
            fail_key(cfg, errors, d, NULL, "expected machine = q35 or pc with a [hostdev] (microvm has no PCI bus)");
            continue;
        }
        if (!d->address == !d->vf) {
            fail_key(cfg, errors, d, d->address ? "vf" : NULL, "expected one of address and vf, found %s",
                     d->address ? "both" : "neither");
            continue;
        }
        if (d->address && !pci_address_ok(d->address))
            fail_key(cfg, errors, d, "address", "expected a PCI address DDDD:BB:DD.F (hexadecimal, as in /sys/bus/pci/devices), found \"%s\"",
                     d->address);
        free(d->vf_dev);
        d->vf_dev = NULL;
        if (d->vf && !vf_ok(d, &d->vf_dev, &d->vf_index))
            fail_key(cfg, errors, d, "vf", "expected DEV:N, a host NIC's name and a VF number from 0 to 255, found \"%s\"", d->vf);
        static const char *const vf_only[] = { "mac", "vlan" };
        for (size_t k = 0; k < ELEMENTSOF(vf_only); k++)
            if (d->address && section_key_set(SECTION_HOSTDEV, &d->head, vf_only[k]))
                fail_key(cfg, errors, d, vf_only[k], "expected vf with this key (it is set on the physical NIC for its VF), found address");
        /* The same device twice: vfio hands a group to one user. */
        for (size_t j = 0; j < i; j++) {
            const HostdevSection *o = &cfg->hostdevs[j];
            bool same = (d->address && o->address && streq(d->address, o->address)) ||
                        (d->vf_dev && o->vf_dev && streq(d->vf_dev, o->vf_dev) && d->vf_index == o->vf_index);
            if (same)
                fail_key(cfg, errors, d, d->address ? "address" : "vf", "expected a device of its own, found the one of [hostdev \"%s\"] (line %d)",
                         o->head.id, o->head.line);
        }
    }
}
