/* The -netdev of a [net] with mode = user: QEMU's slirp, with a hostfwd
 * per forward (include/qemucmd.h). Pure. */
#include <stdio.h>

#include "netforward.h"
#include "qemucmd.h"
#include "schema.h"
#include "util.h"

json_object *qemucmd_netdev_user(const VmConfig *cfg, const NetSection *n, const HostFacts *facts, const char *id, ErrList *errors) {
    const UserNetFacts *u = facts->user_nets ? &facts->user_nets[n - cfg->nets] : NULL;
    json_object *fwds = json_object_new_array();
    bool ok = true;
    for (size_t k = 0; k < n->forward.n; k++) {
        const NetForward *f = &n->forward.v[k];
        const FwdFact *ff = u && k < u->n ? &u->fwd[k] : NULL;
        int port = f->host_port;
        if (!port && (!ff || !ff->port)) {
            /* The checks say why a written port is refused; an auto one
             * that found no port leaves no command line to write. */
            errlist_add_key(errors, cfg->path, SECTION_NET, &n->head, "forward", "expected a free %s port on %s for %s:%s:auto:%d, found %s",
                            fwd_proto_to_string(f->proto), f->addr, fwd_proto_to_string(f->proto), f->addr, f->guest_port,
                            ff && ff->err ? strerror(-ff->err) : "none chosen");
            ok = false;
            continue;
        }
        if (!port) port = ff->port;
        /* QEMU 7.2: PROTO:HOSTADDR:HOSTPORT-GUESTADDR:GUESTPORT, the guest
         * address left to slirp (its first DHCP address, 10.0.2.15). */
        json_object *o = json_object_new_object();
        _cleanup_free_ char *rule = xasprintf("%s:%s:%d-:%d", fwd_proto_to_string(f->proto), f->addr, port, f->guest_port);
        json_object_object_add(o, "str", json_object_new_string(rule));
        json_object_array_add(fwds, o);
    }
    if (!ok) {
        json_object_put(fwds);
        return NULL;
    }
    json_object *nd = json_object_new_object();
    json_object_object_add(nd, "type", json_object_new_string("user"));
    json_object_object_add(nd, "id", json_object_new_string(id));
    if (json_object_array_length(fwds)) json_object_object_add(nd, "hostfwd", fwds);
    else json_object_put(fwds);
    return nd;
}
