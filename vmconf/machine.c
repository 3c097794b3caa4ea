/* [vm] machine: a word (q35, pc, microvm) or a versioned type as QEMU names
 * it (pc-q35-7.2, pc-i440fx-7.2), taken as is (include/vmconf.h). */
#include <errno.h>
#include <string.h>

#include "schema.h"
#include "util.h"

/* "N.N" (a QEMU version of a machine type: 7.2, 2.12). */
static bool is_version(const char *s) {
    size_t a = strspn(s, "0123456789");
    if (!a || a > 3 || s[a] != '.') return false;
    size_t b = strspn(s + a + 1, "0123456789");
    return b && b <= 3 && !s[a + 1 + b];
}

int vmconf_machine_parse(const char *s, int *family) {
    int w = machine_type_from_string(s);
    if (w >= 0) {
        *family = w;
        return 0;
    }
    if (!strncmp(s, "pc-q35-", 7) && is_version(s + 7)) {
        *family = MACHINE_Q35;
        return 0;
    }
    if (!strncmp(s, "pc-i440fx-", 10) && is_version(s + 10)) {
        *family = MACHINE_PC;
        return 0;
    }
    return -EINVAL;
}

const char *vmconf_machine_written(const VmSection *vm) {
    return vm->machine_name ? vm->machine_name : machine_type_to_string(vm->machine);
}

bool vmconf_machine_is_alias(const VmSection *vm) {
    const char *w = vmconf_machine_written(vm);
    return streq(w, "q35") || streq(w, "pc");
}
