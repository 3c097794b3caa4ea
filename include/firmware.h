/* [vm] firmware and firmware-vars: which code and which vars template a
 * VM boots with. Pure: names only, nothing is opened here.
 * vmconf/firmware.c. */
#ifndef KVMLAUNCH_FIRMWARE_H
#define KVMLAUNCH_FIRMWARE_H

#include "vmconf.h"

typedef enum { FIRMWARE_BIOS, FIRMWARE_UEFI, FIRMWARE_UEFI_SECURE, FIRMWARE_PATH } FirmwareKind;

/* Debian 12's ovmf package, its 4M build (the 2M one cannot hold the
 * Secure Boot keys and is kept there only for old VMs). */
#define OVMF_PACKAGE "ovmf"
#define OVMF_DIR "/usr/share/OVMF"
#define OVMF_CODE OVMF_DIR "/OVMF_CODE_4M.fd"
#define OVMF_VARS OVMF_DIR "/OVMF_VARS_4M.fd"
#define OVMF_CODE_SECBOOT OVMF_DIR "/OVMF_CODE_4M.secboot.fd"
/* Microsoft's keys enrolled: shim (signed by Microsoft) boots, and with
 * it every distribution that ships one. */
#define OVMF_VARS_MS OVMF_DIR "/OVMF_VARS_4M.ms.fd"

/* The VM's own vars store in its state dir: the template copied once. */
#define FIRMWARE_VARS_FILE "efivars.fd"

FirmwareKind firmware_kind(const VmSection *vm);
/* The code QEMU maps as pflash0; NULL with bios. */
const char *firmware_code(const VmSection *vm);
/* The vars template copied into the state dir: firmware-vars, else the
 * one that goes with uefi or uefi-secure; NULL with bios and with a path
 * firmware without firmware-vars (then OVMF keeps its variables in RAM
 * only, as before firmware-vars existed). */
const char *firmware_vars_template(const VmSection *vm);
#endif
