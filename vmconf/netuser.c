/* [net "ID"] mode = user: the `forward` value (include/netforward.h) and
 * the checks across keys (vmconf_check_net_user). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "netforward.h"
#include "schema.h"
#include "util.h"
#include "vmconf_internal.h"

static int fail(char *err, const char *found, const char *what) {
    _cleanup_free_ char *shown = value_quote(found);
    snprintf(err, VALUE_ERR_MAX, "expected %s, found %s", what, shown);
    return -EINVAL;
}

static int parse_port(const char *s, size_t n, bool auto_ok, int *out) {
    if (auto_ok && n == 4 && !strncmp(s, "auto", 4)) {
        *out = 0;
        return 0;
    }
    /* Digits only: no sign, no blank, no hex; at most 5 of them. */
    if (n < 1 || n > 5) return -EINVAL;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535) return -EINVAL;
    *out = v;
    return 0;
}

/* One entry, S..S+N: PROTO:[ADDR:]HOSTPORT:GUESTPORT. */
static int parse_one(const char *s, size_t n, NetForward *f, char *err) {
    static const char what[] = "tcp:[ADDR:]HOSTPORT:GUESTPORT or udp:... (ADDR an IPv4 address, HOSTPORT a port or auto, ports 1 to 65535)";
    _cleanup_free_ char *entry = xstrndup(s, n);
    const char *part[5];
    size_t len[5], k = 0;
    for (const char *p = entry;; p++) {
        const char *colon = strchr(p, ':');
        if (k == ELEMENTSOF(part)) return fail(err, entry, what);
        part[k] = p;
        len[k++] = colon ? (size_t)(colon - p) : strlen(p);
        if (!colon) break;
        p = colon;
    }
    if (k != 3 && k != 4) return fail(err, entry, what);
    _cleanup_free_ char *proto = xstrndup(part[0], len[0]);
    int pr = fwd_proto_from_string(proto);
    if (pr < 0) return fail(err, entry, what);
    *f = (NetForward){ .proto = pr };
    snprintf(f->addr, sizeof(f->addr), "127.0.0.1");
    if (k == 4) {
        _cleanup_free_ char *addr = xstrndup(part[1], len[1]);
        struct in_addr a;
        /* inet_pton takes only the four-number dotted form, as QEMU's
         * inet_aton would take more (0x7f.1): one spelling, one meaning. */
        if (inet_pton(AF_INET, addr, &a) != 1) return fail(err, entry, "an IPv4 address such as 127.0.0.1 or 0.0.0.0 as ADDR of tcp:ADDR:HOSTPORT:GUESTPORT");
        inet_ntop(AF_INET, &a, f->addr, sizeof(f->addr));
    }
    if (parse_port(part[k - 2], len[k - 2], true, &f->host_port) < 0) return fail(err, entry, "a HOSTPORT from 1 to 65535, or auto");
    if (parse_port(part[k - 1], len[k - 1], false, &f->guest_port) < 0) return fail(err, entry, "a GUESTPORT from 1 to 65535");
    return 0;
}

int netforwards_parse(const char *s, NetForwards *out, char *err) {
    NetForwards got = { 0 };
    static const char sep[] = ", \t";
    for (const char *p = s + strspn(s, sep); *p; p += strspn(p, sep)) {
        size_t n = strcspn(p, sep);
        if (got.n == NETFORWARD_MAX) {
            netforwards_free(&got);
            snprintf(err, VALUE_ERR_MAX, "expected at most %d forwards, found more", NETFORWARD_MAX);
            return -EINVAL;
        }
        got.v = xrealloc(got.v, (got.n + 1) * sizeof(NetForward));
        if (parse_one(p, n, &got.v[got.n], err) < 0) {
            netforwards_free(&got);
            return -EINVAL;
        }
        got.n++;
        p += n;
    }
    /* "forward =" with nothing is written by mistake, not meant as none. */
    if (!got.n) return fail(err, s, "at least one tcp:[ADDR:]HOSTPORT:GUESTPORT");
    netforwards_free(out);
    *out = got;
    return 0;
}

void netforwards_free(NetForwards *f) {
    free(f->v);
    *f = (NetForwards){ 0 };
}

char *netforward_format(const NetForward *f, int host_port) {
    int hp = host_port > 0 ? host_port : f->host_port;
    if (!hp) return xasprintf("%s:%s:auto:%d", fwd_proto_to_string(f->proto), f->addr, f->guest_port);
    return xasprintf("%s:%s:%d:%d", fwd_proto_to_string(f->proto), f->addr, hp, f->guest_port);
}

/* A message about KEY of N unless its value was refused already (said). */
static void fail_key(const VmConfig *cfg, ErrList *errors, const NetSection *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fail_key(const VmConfig *cfg, ErrList *errors, const NetSection *n, const char *key, const char *fmt, ...) {
    int index;
    if (schema_key_find(SECTION_NET, key, &index) && n->head.key_refused[index]) return;
    va_list ap;
    va_start(ap, fmt);
    errlist_add_keyv(errors, cfg->path, SECTION_NET, &n->head, key, fmt, ap);
    va_end(ap);
}

/* Two forwards that QEMU could not both listen on: the same protocol and
 * port, on the same address or with one on every address (0.0.0.0). */
static bool clash(const NetForward *a, const NetForward *b) {
    if (a->proto != b->proto || !a->host_port || a->host_port != b->host_port) return false;
    return streq(a->addr, b->addr) || streq(a->addr, "0.0.0.0") || streq(b->addr, "0.0.0.0");
}

void vmconf_check_net_user(const VmConfig *cfg, size_t i, ErrList *errors) {
    const NetSection *n = &cfg->nets[i];
    if (n->mode != NET_MODE_USER) {
        if (section_key_set(SECTION_NET, &n->head, "forward"))
            fail_key(cfg, errors, n, "forward", "expected mode = user with this key, found mode = tap (a tap's guest is reached through its bridge)");
        return;
    }
    /* What a tap has and slirp lacks: slirp is one queue inside QEMU, with
     * no host interface to attach, steer or accelerate. mac stays. */
    static const char *const tap_keys[] = { "bridge", "tap", "queues", "vhost", "mtu", "steering" };
    for (size_t k = 0; k < ELEMENTSOF(tap_keys); k++)
        if (section_key_set(SECTION_NET, &n->head, tap_keys[k]))
            fail_key(cfg, errors, n, tap_keys[k], "expected mode = tap with this key, found mode = user (QEMU's user-mode network has no tap, bridge, "
                     "queues, vhost-net, MTU or steering)");
    for (size_t a = 0; a < n->forward.n; a++) {
        const NetForward *f = &n->forward.v[a];
        const NetForward *hit = NULL;
        const NetSection *where = NULL;
        for (size_t j = 0; j <= i && !hit; j++) {
            const NetSection *o = &cfg->nets[j];
            if (o->mode != NET_MODE_USER) continue;
            for (size_t b = 0; b < (j == i ? a : o->forward.n) && !hit; b++)
                if (clash(f, &o->forward.v[b])) hit = &o->forward.v[b], where = o;
        }
        if (!hit) continue;
        _cleanup_free_ char *mine = netforward_format(f, 0), *theirs = netforward_format(hit, 0);
        if (where == n)
            fail_key(cfg, errors, n, "forward", "expected each host port once, found %s and %s, which QEMU cannot both listen on", theirs, mine);
        else
            fail_key(cfg, errors, n, "forward", "expected a host port no other NIC forwards, found %s, and %s in [net \"%s\"] (line %d)", mine,
                     theirs, where->head.id, section_key_line(SECTION_NET, &where->head, "forward"));
    }
}
