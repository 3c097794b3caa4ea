/* UEFI on QEMU's command line (include/qemucmd.h). QEMU never opens the
 * firmware by name: kvmlaunch opens the code read-only and the VM's vars
 * read-write as the VM's user, as `check` tried them, and hands both in
 * (-add-fd, /dev/fdset/N), so what QEMU maps is what was checked, and a
 * path swapped between the check and the start changes nothing. Both are
 * plain file nodes as pflash0 and pflash1 (the machine's flash, not a
 * -drive if=pflash, which has no node names to refer to). */
#include <json-c/json.h>
#include <stdio.h>

#include "firmware.h"
#include "qemucmd.h"
#include "util.h"

static void push_json(StrVec *argv, const char *option, json_object *o) {
    strvec_push(argv, option);
    strvec_push(argv, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

static void add_flash(StrVec *argv, int fd, const char *node, bool read_only) {
    strvec_push(argv, "-add-fd");
    strvec_pushf(argv, "fd=%d,set=%d,opaque=%s", fd, fd, node);
    char path[32];
    snprintf(path, sizeof(path), "/dev/fdset/%d", fd);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "driver", json_object_new_string("file"));
    json_object_object_add(o, "node-name", json_object_new_string(node));
    json_object_object_add(o, "filename", json_object_new_string(path));
    json_object_object_add(o, "read-only", json_object_new_boolean(read_only));
    push_json(argv, "-blockdev", o);
}

void qemucmd_firmware_machine(const VmConfig *cfg, const HostFacts *facts, StrVec *m) {
    if (facts->fw_code_fd >= 0) strvec_push(m, "pflash0=fw-code");
    if (facts->fw_vars_fd >= 0) strvec_push(m, "pflash1=fw-vars");
    /* The secboot build refuses to run without SMM: it keeps the
     * variables away from the guest's OS. */
    if (firmware_kind(&cfg->vm) == FIRMWARE_UEFI_SECURE) strvec_push(m, "smm=on");
}

void qemucmd_firmware(const VmConfig *cfg, const HostFacts *facts, StrVec *argv) {
    if (facts->fw_code_fd >= 0) add_flash(argv, facts->fw_code_fd, "fw-code", true);
    if (facts->fw_vars_fd >= 0) add_flash(argv, facts->fw_vars_fd, "fw-vars", false);
    if (firmware_kind(&cfg->vm) == FIRMWARE_UEFI_SECURE) {
        /* Only code running in SMM may write the flash. */
        strvec_push(argv, "-global");
        strvec_push(argv, "driver=cfi.pflash01,property=secure,value=on");
    }
}
