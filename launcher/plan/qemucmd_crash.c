/* [vm] on-reboot, on-crash and watchdog on QEMU's command line
 * (include/qemucmd.h): QEMU pauses on a panic or a watchdog expiry and
 * the supervisor decides (include/crashpolicy.h). */
#include <json-c/json.h>

#include "crashpolicy.h"
#include "qemucmd.h"

static void push_device(StrVec *argv, const char *driver, const char *id) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "driver", json_object_new_string(driver));
    json_object_object_add(o, "id", json_object_new_string(id));
    strvec_push(argv, "-device");
    strvec_push(argv, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

void qemucmd_crash(const VmConfig *cfg, StrVec *argv) {
    const VmSection *vm = &cfg->vm;
    strvec_push(argv, "-action");
    strvec_push_take(argv, crashpolicy_qemu_action(vm));
    /* Always there where the machine has ACPI to describe it (the ISA
     * device, QEMU0001, as libvirt's <panic model='isa'>): it costs
     * nothing, and a panic is then an event instead of a hung guest.
     * microvm, whose ACPI tables are partial, gets none (vmconf/crash.c
     * refuses on-crash = restart or pause there). */
    if (vm->machine != MACHINE_MICROVM) push_device(argv, "pvpanic", "pvpanic0");
    if (vm->watchdog == WATCHDOG_I6300ESB) push_device(argv, "i6300esb", "watchdog0");
}
