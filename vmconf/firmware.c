/* [vm] firmware: bios, uefi, uefi-secure or a path (include/firmware.h).
 * The parser keeps the word or the path in vm->firmware; this reads it. */
#include "firmware.h"
#include "util.h"

FirmwareKind firmware_kind(const VmSection *vm) {
    if (!vm->firmware) return FIRMWARE_BIOS;
    if (streq(vm->firmware, "uefi")) return FIRMWARE_UEFI;
    if (streq(vm->firmware, "uefi-secure")) return FIRMWARE_UEFI_SECURE;
    return FIRMWARE_PATH;
}

const char *firmware_code(const VmSection *vm) {
    switch (firmware_kind(vm)) {
    case FIRMWARE_BIOS: return NULL;
    case FIRMWARE_UEFI: return OVMF_CODE;
    case FIRMWARE_UEFI_SECURE: return OVMF_CODE_SECBOOT;
    case FIRMWARE_PATH: break;
    }
    return vm->firmware;
}

const char *firmware_vars_template(const VmSection *vm) {
    FirmwareKind k = firmware_kind(vm);
    if (k == FIRMWARE_BIOS) return NULL;
    if (vm->firmware_vars) return vm->firmware_vars;
    return k == FIRMWARE_UEFI ? OVMF_VARS : k == FIRMWARE_UEFI_SECURE ? OVMF_VARS_MS : NULL;
}
