/* The fastest path to the guest's init (issue 18): what kvmlaunch adds to
 * QEMU's argv for a direct kernel boot. Only what the measurement in
 * docs/BENCHMARKS.md ("time to the guest's init") showed is kept. Pure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boottime.h"
#include "kfiles.h"
#include "util.h"

/* A word of a space-separated flags line. */
static bool has_flag(const char *flags, const char *word) {
    size_t n = strlen(word);
    for (const char *p = flags; (p = strstr(p, word)); p += n)
        if ((p == flags || p[-1] == ' ' || p[-1] == '\t') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\t' || p[n] == '\n')) return true;
    return false;
}

unsigned bootfacts_parse_tsc_khz(const char *cpuinfo) {
    _cleanup_free_ char *flags = NULL, *mhz = NULL;
    if (!cpuinfo || kfile_parse_field(cpuinfo, "flags", ':', &flags) < 0 || kfile_parse_field(cpuinfo, "cpu MHz", ':', &mhz) < 0) return 0;
    if (!has_flag(flags, "constant_tsc") || !has_flag(flags, "nonstop_tsc")) return 0;
    char *end;
    double v = strtod(mhz, &end);
    if (end == mhz || *end || v < 100 || v > 100000) return 0;
    return (unsigned)(v * 1000 + 0.5);
}

/* The kernel reads the first of a repeated parameter: one the user wrote
 * wins over ours, which go after it. */
static bool has_param(const char *append, const char *name) {
    size_t n = strlen(name);
    for (const char *p = append; p && (p = strstr(p, name)); p += n)
        if ((p == append || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n') && p[n] == '=') return true;
    return false;
}

void qemucmd_boot_append(const VmConfig *cfg, const HostFacts *facts, bool kvm, StrVec *argv) {
    const VmSection *vm = &cfg->vm;
    if (!vm->kernel) return;
    StrVec a = STRVEC_INIT;
    if (vm->append) strvec_push(&a, vm->append);
    /* Measured: 3 of 4 microvm boots under TCG hung on a loaded 2-CPU host,
     * 0 of 26 with the hint (docs/BENCHMARKS.md). Under KVM the guest has
     * kvm-clock and the TSC rate from CPUID: nothing to add. */
    if (vm->machine == MACHINE_MICROVM && !kvm && facts->tsc_khz && !has_param(vm->append, "tsc_early_khz"))
        strvec_pushf(&a, "tsc_early_khz=%u", facts->tsc_khz);
    if (a.n) {
        strvec_push(argv, "-append");
        strvec_push_take(argv, strvec_join(&a, " "));
    }
    strvec_clear(&a);
}

bool qemucmd_boot_rom_off(const VmConfig *cfg, bool pci) { return pci && cfg->vm.kernel; }
