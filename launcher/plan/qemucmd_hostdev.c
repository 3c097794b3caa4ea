/* [hostdev] on QEMU's command line: -device vfio-pci,host=ADDR per device,
 * on the root bus. QEMU opens /dev/vfio/vfio and the group's /dev/vfio/N
 * itself: the node was given to its user alone (hostdev_bind.c). */
#include <json-c/json.h>

#include "qemucmd.h"
#include "util.h"

void qemucmd_hostdev(const VmConfig *cfg, const HostFacts *facts, StrVec *argv) {
    for (size_t i = 0; i < cfg->n_hostdevs && i < facts->hostdev.n; i++) {
        const char *addr = facts->hostdev.devs[i].addr;
        if (!addr) continue;
        json_object *d = json_object_new_object();
        json_object_object_add(d, "driver", json_object_new_string("vfio-pci"));
        json_object_object_add(d, "host", json_object_new_string(addr));
        char *id = xasprintf("hostdev-%s", cfg->hostdevs[i].head.id);
        json_object_object_add(d, "id", json_object_new_string(id));
        free(id);
        strvec_push(argv, "-device");
        strvec_push(argv, json_object_to_json_string_ext(d, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(d);
    }
}
