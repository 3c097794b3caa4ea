/* [vm] crash and reboot policy: the restart-limit value and the checks
 * against the machine type (include/crashpolicy.h carries it out). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "schema.h"
#include "util.h"
#include "vmconf_internal.h"

int vmconf_parse_restart_limit(const char *s, RestartLimit *out, char *err) {
    static const char what[] = "N/DURATION such as 5/10m (N a number from 1 to 1000, DURATION above 0 such as 90s, 10m or 1h)";
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : 0;
    int64_t count = 0;
    /* Digits only, at most 4 of them: no sign, no blank. */
    bool ok = n >= 1 && n <= 4;
    for (size_t i = 0; ok && i < n; i++) {
        ok = isdigit((unsigned char)s[i]);
        count = count * 10 + (s[i] - '0');
    }
    char derr[VALUE_ERR_MAX];
    uint64_t window = 0;
    if (ok) ok = count >= 1 && count <= RESTART_LIMIT_MAX;
    if (ok) ok = value_parse_duration(slash + 1, &window, derr) == 0 && window > 0;
    if (!ok) {
        _cleanup_free_ char *shown = value_quote(s);
        snprintf(err, VALUE_ERR_MAX, "expected %s, found %s", what, shown);
        return -EINVAL;
    }
    *out = (RestartLimit){ count, window };
    return 0;
}

/* A key that was written and not refused (a refused one was said already). */
static bool written(const VmSection *vm, const char *key) {
    int index;
    return section_key_set(SECTION_VM, &vm->head, key) && schema_key_find(SECTION_VM, key, &index) && !vm->head.key_refused[index];
}

void vmconf_check_crash(const VmConfig *cfg, ErrList *errors) {
    const VmSection *vm = &cfg->vm;
    if (vm->machine != MACHINE_MICROVM) return;
    /* The guest finds pvpanic through ACPI (QEMU0001), which microvm
     * builds only in part: kvmlaunch gives it none, and without it restart
     * and pause would never happen. */
    if (written(vm, "on-crash") && vm->on_crash != ON_CRASH_STOP)
        errlist_add_key(errors, cfg->path, SECTION_VM, &vm->head, "on-crash",
                        "expected stop with machine = microvm (kvmlaunch gives it no pvpanic device: no panic is seen), found %s",
                        on_crash_to_string(vm->on_crash));
    if (written(vm, "watchdog") && vm->watchdog != WATCHDOG_NONE)
        errlist_add_key(errors, cfg->path, SECTION_VM, &vm->head, "watchdog",
                        "expected none with machine = microvm (it has no PCI bus for a watchdog), found %s",
                        watchdog_model_to_string(vm->watchdog));
}
