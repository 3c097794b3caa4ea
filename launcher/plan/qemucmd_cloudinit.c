/* The cloud-init seed on QEMU's command line (include/qemucmd.h). QEMU
 * never opens it by name: kvmlaunch hands it a read-only descriptor
 * (-add-fd) and a read-only block node over /dev/fdset/N. A virtio-blk
 * disk, not a CD: it is the same device on q35, pc and microvm, and cloud
 * kernels have virtio_blk while their ATA drivers vary (Debian 12's cloud
 * kernel has no AHCI driver: an ide-cd on q35 would not show up there);
 * cloud-init finds the volume by its label either way. */
#include <json-c/json.h>
#include <stdio.h>

#include "qemucmd.h"
#include "util.h"

static void push_json(StrVec *argv, const char *option, json_object *o) {
    strvec_push(argv, option);
    strvec_push(argv, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

void qemucmd_cloudinit(const VmConfig *cfg, const HostFacts *facts, bool pci, StrVec *argv) {
    if (!cfg->cloudinit.head.line || facts->seed_fd < 0) return;
    int fd = facts->seed_fd;
    strvec_push(argv, "-add-fd");
    strvec_pushf(argv, "fd=%d,set=%d,opaque=cloud-init-seed", fd, fd);
    /* Node names no [disk "ID"] can have (theirs are file-ID, fmt-ID). */
    json_object *f = json_object_new_object();
    json_object_object_add(f, "driver", json_object_new_string("file"));
    json_object_object_add(f, "node-name", json_object_new_string("seed-file"));
    char path[32];
    snprintf(path, sizeof(path), "/dev/fdset/%d", fd);
    json_object_object_add(f, "filename", json_object_new_string(path));
    json_object_object_add(f, "read-only", json_object_new_boolean(true));
    push_json(argv, "-blockdev", f);
    json_object *fmt = json_object_new_object();
    json_object_object_add(fmt, "driver", json_object_new_string("raw"));
    json_object_object_add(fmt, "node-name", json_object_new_string("seed"));
    json_object_object_add(fmt, "file", json_object_new_string("seed-file"));
    json_object_object_add(fmt, "read-only", json_object_new_boolean(true));
    push_json(argv, "-blockdev", fmt);
    json_object *dev = json_object_new_object();
    json_object_object_add(dev, "driver", json_object_new_string(pci ? "virtio-blk-pci" : "virtio-blk-device"));
    json_object_object_add(dev, "id", json_object_new_string("cloud-init-seed"));
    json_object_object_add(dev, "drive", json_object_new_string("seed"));
    push_json(argv, "-device", dev);
}
