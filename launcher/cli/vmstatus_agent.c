/* The "guest_agent" part of `kvmlaunch status` (include/vmstatus.h): the
 * guest's OS and addresses from its qemu-guest-agent, asked directly
 * through NAME/agent.sock (include/agent.h) within a short timeout. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "runtime.h"
#include "util.h"
#include "vmstatus.h"

static json_object *no_agent(json_object *o, const char *why) {
    json_object_object_add(o, "answered", json_object_new_boolean(false));
    json_object_object_add(o, "why", json_object_new_string(why));
    json_object_object_add(o, "os", NULL);
    json_object_object_add(o, "interfaces", NULL);
    return o;
}

json_object *vmstatus_read_agent(const char *name) {
    json_object *o = json_object_new_object();
    _cleanup_free_ char *dir = xasprintf("%s/%s", runtime_base(), name);
    _cleanup_close_ int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dir_fd < 0) return no_agent(o, "the runtime dir cannot be read");
    AgentClient a;
    int r = agent_open(dir, dir_fd, &a, AGENT_STATUS_TIMEOUT_MS, true);
    if (r < 0) {
        agent_close(&a);
        return no_agent(o, r == -ENOENT ? "no channel: [vm] guest-agent = no"
                         : r == -ETIMEDOUT ? "no answer in time: qemu-guest-agent is not running in the guest"
                         : r == -EBUSY ? "busy: another client is using it" : "its channel failed");
    }
    json_object *os = NULL, *ifaces = NULL;
    json_object_object_add(o, "answered", json_object_new_boolean(true));
    json_object_object_add(o, "why", NULL);
    /* Either may be refused by the guest's policy (a blocked command):
     * null then, the rest still shown. */
    (void)agent_execute(&a, "guest-get-osinfo", NULL, &os, AGENT_STATUS_TIMEOUT_MS);
    _cleanup_free_ char *os_text = os ? agent_os_text(os) : NULL;
    json_object_object_add(o, "os", os_text ? json_object_new_string(os_text) : NULL);
    json_object_put(os);
    (void)agent_execute(&a, "guest-network-get-interfaces", NULL, &ifaces, AGENT_STATUS_TIMEOUT_MS);
    json_object *list = NULL;
    if (ifaces && json_object_is_type(ifaces, json_type_array)) {
        list = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(ifaces); i++) {
            json_object *ifc = json_object_array_get_idx(ifaces, i), *v, *addrs;
            if (!json_object_object_get_ex(ifc, "name", &v) || !json_object_is_type(v, json_type_string)) continue;
            json_object *e = json_object_new_object(), *al = json_object_new_array();
            json_object_object_add(e, "name", json_object_get(v));
            if (json_object_object_get_ex(ifc, "hardware-address", &v)) json_object_object_add(e, "mac", json_object_get(v));
            if (json_object_object_get_ex(ifc, "ip-addresses", &addrs) && json_object_is_type(addrs, json_type_array))
                for (size_t k = 0; k < json_object_array_length(addrs); k++) {
                    json_object *ad = json_object_array_get_idx(addrs, k), *ip, *pfx;
                    if (!json_object_object_get_ex(ad, "ip-address", &ip) || !json_object_is_type(ip, json_type_string)) continue;
                    _cleanup_free_ char *s = json_object_object_get_ex(ad, "prefix", &pfx)
                                                 ? xasprintf("%s/%d", json_object_get_string(ip), json_object_get_int(pfx))
                                                 : xstrdup(json_object_get_string(ip));
                    json_object_array_add(al, json_object_new_string(s));
                }
            json_object_object_add(e, "addresses", al);
            json_object_array_add(list, e);
        }
    }
    json_object_object_add(o, "interfaces", list);
    json_object_put(ifaces);
    agent_close(&a);
    return o;
}

json_object *vmstatus_read_machine(pid_t qemu) {
    _cleanup_free_ char *path = xasprintf("/proc/%ld/cmdline", (long)qemu);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *buf = NULL;
    size_t n = 0;
    if (fd < 0 || read_fd_all(fd, RUNTIME_FILE_MAX, &buf, &n) < 0) return NULL;
    /* QEMU's argv as kvmlaunch wrote it: the type is the value's first part. */
    for (size_t i = 0; i < n;) {
        const char *arg = buf + i;
        size_t len = strnlen(arg, n - i);
        if (streq(arg, "-machine") && i + len + 1 < n) {
            const char *v = arg + len + 1;
            _cleanup_free_ char *type = xstrndup(v, strcspn(v, ","));
            return json_object_new_string(type);
        }
        i += len + 1;
    }
    return NULL;
}
