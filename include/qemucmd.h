/* The QEMU command line: a pure function of the VM definition and the host
 * facts. User values reach QEMU only inside JSON built by json-c or in keyval
 * with commas doubled, so no value can add or change an option. */
#ifndef KVMLAUNCH_QEMUCMD_H
#define KVMLAUNCH_QEMUCMD_H

#include <json-c/json.h>

#include "hostfacts.h"
#include "strvec.h"
#include "vmconf.h"

/* Fills ARGV (argv[0] is the emulator). Problems that depend on the host
 * (accel = kvm without /dev/kvm, vhost = on without /dev/vhost-net, no user
 * while root) go to ERRORS as file:line messages and the result is -EINVAL;
 * warnings (TCG fallback, a format guessed as raw) go to NOTES. */
int qemucmd_build(const VmConfig *cfg, const HostFacts *facts, StrVec *argv, ErrList *errors, ErrList *notes);

/* The [cloud-init] seed (FACTS->seed_fd): -add-fd, a read-only block
 * node and a virtio-blk disk (PCI, else MMIO for microvm). Nothing
 * without [cloud-init]. launcher/plan/qemucmd_cloudinit.c. */
void qemucmd_cloudinit(const VmConfig *cfg, const HostFacts *facts, bool pci, StrVec *argv);

/* [hostdev]: -device vfio-pci,host=ADDR for each (FACTS->hostdev has the
 * addresses, a VF's too). launcher/plan/qemucmd_hostdev.c. */
void qemucmd_hostdev(const VmConfig *cfg, const HostFacts *facts, StrVec *argv);
/* [vm] on-reboot, on-crash and watchdog: -action (include/crashpolicy.h),
 * pvpanic on q35 and pc, the watchdog device. launcher/plan/qemucmd_crash.c. */
void qemucmd_crash(const VmConfig *cfg, StrVec *argv);
/* UEFI (include/firmware.h): the pflash options of -machine into M, and
 * -add-fd and a -blockdev each for the code (read-only) and the VM's
 * vars (FACTS->fw_code_fd, fw_vars_fd) into ARGV, and with uefi-secure
 * the flash's secure property. Nothing with bios.
 * launcher/plan/qemucmd_firmware.c. */
void qemucmd_firmware_machine(const VmConfig *cfg, const HostFacts *facts, StrVec *m);
void qemucmd_firmware(const VmConfig *cfg, const HostFacts *facts, StrVec *argv);

/* The -netdev of N, a [net] with mode = user: slirp with a hostfwd rule
 * per forward, on the host ports FACTS found; JSON with id ID. NULL, with
 * a file:line message in ERRORS, when an auto port has none. */
json_object *qemucmd_netdev_user(const VmConfig *cfg, const NetSection *n, const HostFacts *facts, const char *id, ErrList *errors);

/* launcher/plan/qemucmd_clock.c: -machine options of the guest's memory
 * and timers (dump-guest-core, hpet) into M; -rtc, the PIT's tick policy
 * and -boot strict=on; the guest agent's virtio-serial channel on
 * FACTS->agent_fd ([vm] guest-agent). */
void qemucmd_machine_opts(const VmConfig *cfg, bool kvm, StrVec *m);
void qemucmd_clock(const VmConfig *cfg, bool kvm, StrVec *argv);
void qemucmd_guest_agent(const VmConfig *cfg, const HostFacts *facts, bool pci, StrVec *argv);

/* Doubles every comma, for a user value inside QEMU's keyval syntax. */
char *qemu_escape_keyval(const char *s);
/* Quotes S for a POSIX shell when it needs it. */
char *shell_quote(const char *s);
/* One option per line, its value beside it, shell-quoted, joined with
 * " \\\n" so the whole can be pasted into a shell. */
char *qemucmd_render(char *const *argv);

#endif
