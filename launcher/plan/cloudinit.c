/* The NoCloud seed's contents (include/cloudinit.h). Pure: the files are
 * read elsewhere; this only turns the definition and their bytes into
 * meta-data, user-data and network-config. */
#include "cloudinit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "share.h"
#include "strvec.h"
#include "util.h"
#include "values.h"

char *cloudinit_hostname(const VmConfig *cfg) {
    if (cfg->cloudinit.hostname) return xstrdup(cfg->cloudinit.hostname);
    char *h = xstrdup(cfg->vm.name ? cfg->vm.name : "kvmlaunch");
    for (char *p = h; *p; p++)
        if (*p == '_') *p = '-';
    return h;
}

int cloudinit_check_hostname(const char *name, char *err) {
    size_t n = strlen(name);
    if (n == 0 || n > 63) {
        snprintf(err, VALUE_ERR_MAX, "expected a host name of 1 to 63 bytes, found %zu", n);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
        if (!ok) {
            _cleanup_free_ char *shown = value_quote(name);
            snprintf(err, VALUE_ERR_MAX, "expected a host name (letters, digits, - and .), found %s", shown);
            return -EINVAL;
        }
    }
    if (name[0] == '-' || name[0] == '.' || name[n - 1] == '-' || name[n - 1] == '.') {
        _cleanup_free_ char *shown = value_quote(name);
        snprintf(err, VALUE_ERR_MAX, "expected a host name that neither starts nor ends with - or ., found %s", shown);
        return -EINVAL;
    }
    return 0;
}

char *cloudinit_private_key(const char *pub) {
    size_t n = strlen(pub);
    if (n <= 4 || strcmp(pub + n - 4, ".pub") || pub[n - 5] == '/') return NULL;
    return xstrndup(pub, n - 4);
}

int cloudinit_parse_pubkeys(const Blob *pub, char ***keys, char *err) {
    StrVec v = { 0 };
    *keys = NULL;
    const char *p = pub->data, *end = pub->data + pub->size;
    int line = 0;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        line++;
        size_t len = (size_t)(e - p);
        if (len && p[len - 1] == '\r') len--;
        for (size_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)p[i];
            /* Each key becomes one YAML string: no byte may end or bend it. */
            if (ch < 0x20 || ch == 0x7f) {
                snprintf(err, VALUE_ERR_MAX, "expected public keys, one a line, found byte 0x%02x on line %d", ch, line);
                strvec_clear(&v);
                return -EINVAL;
            }
        }
        size_t lead = 0;
        while (lead < len && (p[lead] == ' ' || p[lead] == '\t')) lead++;
        if (lead < len && p[lead] != '#') strvec_push_take(&v, xstrndup(p + lead, len - lead));
        p = nl ? nl + 1 : end;
    }
    if (!v.n) {
        snprintf(err, VALUE_ERR_MAX, "expected a public key such as \"ssh-ed25519 AAAA... user@host\", found none");
        strvec_clear(&v);
        return -EINVAL;
    }
    int n = (int)v.n;
    *keys = strvec_detach(&v);
    return n;
}

/* S as a YAML double-quoted scalar: every value of the seed goes in so,
 * so that none is read as a number, a bool or more YAML. */
static char *yaml_quote(const char *s) {
    size_t n = 3;
    for (const char *p = s; *p; p++) n += (*p == '"' || *p == '\\') ? 2 : 1;
    char *out = xmalloc(n), *o = out;
    *o++ = '"';
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\') *o++ = '\\';
        *o++ = *p;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static void push_keys(StrVec *v, const char *indent, char *const *keys) {
    for (size_t i = 0; keys && keys[i]; i++) {
        _cleanup_free_ char *q = yaml_quote(keys[i]);
        strvec_pushf(v, "%s- %s", indent, q);
    }
}

size_t cloudinit_mounts(const VmConfig *cfg, const HostFacts *facts, CloudInitMount **out) {
    *out = cfg->n_shares ? xcalloc(cfg->n_shares, sizeof(CloudInitMount)) : NULL;
    for (size_t i = 0; i < cfg->n_shares; i++) {
        const ShareSection *sh = &cfg->shares[i];
        ShareDriver d = facts ? share_driver(facts, sh) : sh->driver == SHARE_DRIVER_VIRTIOFS ? SHARE_DRIVER_VIRTIOFS : SHARE_DRIVER_9P;
        (*out)[i] = (CloudInitMount){ sh->head.id, d == SHARE_DRIVER_VIRTIOFS, sh->readonly };
    }
    return cfg->n_shares;
}

char *cloudinit_user_data(const VmConfig *cfg, char *const *keys, const CloudInitMount *mounts, size_t n_mounts) {
    const CloudInitSection *ci = &cfg->cloudinit;
    StrVec v = { 0 };
    strvec_push(&v, "#cloud-config");
    strvec_push(&v, "# made by kvmlaunch from [cloud-init]");
    bool any_key = keys && keys[0];
    if (ci->user) {
        _cleanup_free_ char *u = yaml_quote(ci->user);
        strvec_push(&v, "users:");
        strvec_pushf(&v, "  - name: %s", u);
        strvec_push(&v, "    sudo: \"ALL=(ALL) NOPASSWD:ALL\"");
        strvec_push(&v, "    shell: /bin/bash");
        if (any_key) {
            strvec_push(&v, "    ssh_authorized_keys:");
            push_keys(&v, "      ", keys);
        }
    } else if (any_key) {
        strvec_push(&v, "ssh_authorized_keys:");
        push_keys(&v, "  ", keys);
    }
    /* bootcmd runs in cloud-init's first stage on every boot, before sshd:
     * no login sees a share unmounted. One shell line each, so that a
     * reboot (already mounted) is no error. */
    if (n_mounts) strvec_push(&v, "bootcmd:");
    for (size_t i = 0; i < n_mounts; i++) {
        const CloudInitMount *m = &mounts[i];
        const char *ro = m->readonly ? "ro," : "";
        _cleanup_free_ char *how = m->virtiofs ? xasprintf("-t virtiofs%s", m->readonly ? " -o ro" : "")
                                               : xasprintf("-t 9p -o %strans=virtio,version=9p2000.L,msize=524288", ro);
        _cleanup_free_ char *line = xasprintf("mkdir -p /mnt/%s && { mountpoint -q /mnt/%s || mount %s %s /mnt/%s; }", m->tag, m->tag, how,
                                              m->tag, m->tag);
        _cleanup_free_ char *q = yaml_quote(line);
        strvec_pushf(&v, "  - %s", q);
    }
    strvec_push(&v, "");
    char *s = strvec_join(&v, "\n");
    strvec_clear(&v);
    return s;
}

/* FNV-1a, 64 bits, over each field with its length first, so that no two
 * different seeds hash alike by moving bytes between fields. The id only
 * has to change with its inputs: cloud-init runs its once-per-instance
 * modules again when it does. */
static uint64_t fnv_add(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static uint64_t fnv_field(uint64_t h, const void *data, size_t n) {
    uint64_t len = n;
    h = fnv_add(h, &len, sizeof(len));
    return data ? fnv_add(h, data, n) : h;
}

static Blob blob_take(char *s) { return (Blob){ s, strlen(s) }; }

/* A copy with a NUL after its bytes, as read_input makes them: a reader
 * may take a text file as a string. */
static Blob blob_copy(const Blob *b) {
    Blob c = { xmalloc(b->size + 1), b->size };
    memcpy(c.data, b->data, b->size);
    c.data[b->size] = '\0';
    return c;
}

int cloudinit_seed_build(const VmConfig *cfg, const HostFacts *facts, const CloudInitInputs *in, CloudInitSeed *seed, char *err) {
    memset(seed, 0, sizeof(*seed));
    if (in->user_data.data) {
        seed->user_data = blob_copy(&in->user_data);
    } else {
        char **keys = NULL;
        if (in->ssh_key.data && cloudinit_parse_pubkeys(&in->ssh_key, &keys, err) < 0) return -EINVAL;
        CloudInitMount *mounts;
        size_t n = cloudinit_mounts(cfg, facts, &mounts);
        seed->user_data = blob_take(cloudinit_user_data(cfg, keys, mounts, n));
        free(mounts);
        strv_free(keys);
    }
    if (in->network_config.data) seed->network_config = blob_copy(&in->network_config);
    _cleanup_free_ char *host = cloudinit_hostname(cfg);
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    h = fnv_field(h, cfg->vm.name, strlen(cfg->vm.name));
    h = fnv_field(h, host, strlen(host));
    h = fnv_field(h, seed->user_data.data, seed->user_data.size);
    h = fnv_field(h, seed->network_config.data, seed->network_config.data ? seed->network_config.size : 0);
    h = fnv_field(h, seed->network_config.data ? "1" : "0", 1);
    snprintf(seed->instance_id, sizeof(seed->instance_id), "kvmlaunch-%016" PRIx64, h);
    _cleanup_free_ char *qhost = yaml_quote(host);
    seed->meta_data = blob_take(xasprintf("instance-id: \"%s\"\nlocal-hostname: %s\n", seed->instance_id, qhost));
    return 0;
}

void cloudinit_seed_free(CloudInitSeed *seed) {
    free(seed->meta_data.data);
    free(seed->user_data.data);
    free(seed->network_config.data);
    memset(seed, 0, sizeof(*seed));
}

void cloudinit_inputs_free(CloudInitInputs *in) {
    free(in->ssh_key.data);
    free(in->user_data.data);
    free(in->network_config.data);
    memset(in, 0, sizeof(*in));
}
