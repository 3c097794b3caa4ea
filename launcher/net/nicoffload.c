/* [hostnic] offloads: TSO, GSO and GRO through the ethtool ioctl, their
 * feature bits (pure), and their state kept host-wide so the last VM, or
 * cleanup after a crash, puts them back (include/hostnic.h). */
#include "hostnic.h"
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kfiles.h"
#include "log.h"
#include "schema.h"
#include "strvec.h"
#include "tap.h"
#include "journal.h"
#include "util.h"

/* ------------------------------------------------------------------ */
/* Pure: ethtool feature bits                                          */

static const char *const feature_names[NIC_F__MAX] = {
    [NIC_F_TSO] = "tx-tcp-segmentation", [NIC_F_TSO6] = "tx-tcp6-segmentation",
    [NIC_F_GSO] = "tx-generic-segmentation", [NIC_F_GRO] = "rx-gro",
};
static const NicOffload feature_offload[NIC_F__MAX] = {
    [NIC_F_TSO] = NIC_OFFLOAD_TSO, [NIC_F_TSO6] = NIC_OFFLOAD_TSO, [NIC_F_GSO] = NIC_OFFLOAD_GSO, [NIC_F_GRO] = NIC_OFFLOAD_GRO,
};
static const char *const offload_names[NIC_OFFLOAD__MAX] = { [NIC_OFFLOAD_TSO] = "TSO", [NIC_OFFLOAD_GSO] = "GSO", [NIC_OFFLOAD_GRO] = "GRO" };

const char *hostnic_feature_name(NicFeature f) { return f < NIC_F__MAX ? feature_names[f] : NULL; }
NicOffload hostnic_feature_offload(NicFeature f) { return feature_offload[f]; }
const char *hostnic_offload_name(NicOffload o) { return o < NIC_OFFLOAD__MAX ? offload_names[o] : NULL; }

static int feature_index(char *const *names, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (names[i] && streq(names[i], name)) return (int)i;
    return -ENOENT;
}

static NicFeature feature_by_name(const char *name) {
    for (int f = 0; f < NIC_F__MAX; f++)
        if (streq(feature_names[f], name)) return (NicFeature)f;
    return NIC_F__MAX;
}

int hostnic_features_decode(char *const *names, size_t n_names, const struct ethtool_get_features_block *blocks, size_t n_blocks,
                            NicOffloads *out) {
    if (n_blocks * 32 < n_names) return -EINVAL;
    for (int f = 0; f < NIC_F__MAX; f++) {
        NicFeatureState *s = &out->f[f];
        *s = (NicFeatureState){ 0 };
        int i = feature_index(names, n_names, feature_names[f]);
        if (i < 0) continue;
        uint32_t bit = UINT32_C(1) << (i % 32);
        const struct ethtool_get_features_block *b = &blocks[i / 32];
        *s = (NicFeatureState){ true, (b->available & bit) != 0, (b->requested & bit) != 0, (b->active & bit) != 0 };
    }
    out->error = 0;
    return 0;
}

int hostnic_features_request(char *const *names, size_t n_names, NicFeature f, bool on, struct ethtool_set_features_block *blocks,
                             size_t n_blocks) {
    if (f >= NIC_F__MAX) return -EINVAL;
    int i = feature_index(names, n_names, feature_names[f]);
    if (i < 0) return i;
    if ((size_t)i / 32 >= n_blocks) return -EINVAL;
    uint32_t bit = UINT32_C(1) << (i % 32);
    blocks[i / 32].valid |= bit;
    if (on) blocks[i / 32].requested |= bit;
    else blocks[i / 32].requested &= ~bit;
    return 0;
}

const char *hostnic_offload_state(const NicOffloads *o, NicOffload off) {
    size_t present = 0, active = 0;
    for (int f = 0; f < NIC_F__MAX; f++) {
        if (feature_offload[f] != off || !o->f[f].present) continue;
        present++;
        active += o->f[f].active;
    }
    if (!present) return "absent";
    return active == present ? "on" : active ? "partly on" : "off";
}

/* The lines of SV joined with SEP, and SV cleared. Caller frees. */
static char *join_clear(StrVec *sv, const char *sep) {
    char *s = strvec_join(sv, sep);
    strvec_clear(sv);
    return s;
}

/* Whether every present feature of OFF may be changed. */
static bool offload_changeable(const NicOffloads *o, NicOffload off) {
    bool any = false;
    for (int f = 0; f < NIC_F__MAX; f++) {
        if (feature_offload[f] != off || !o->f[f].present) continue;
        if (!o->f[f].changeable) return false;
        any = true;
    }
    return any;
}

/* "TSO off -> on, GSO on already, GRO fixed off" (ON) or "TSO on, GSO on,
 * GRO off" (a reading). With AFTER, the state reached instead of the
 * state planned. */
static char *offloads_summary(const NicOffloads *before, const NicOffloads *after, bool on) {
    StrVec parts = STRVEC_INIT;
    for (int o = 0; o < NIC_OFFLOAD__MAX; o++) {
        const char *was = hostnic_offload_state(before, (NicOffload)o);
        if (!on || streq(was, "absent")) {
            strvec_pushf(&parts, "%s %s", offload_names[o], streq(was, "absent") ? "absent on this device" : was);
            continue;
        }
        if (streq(was, "on")) {
            strvec_pushf(&parts, "%s on already", offload_names[o]);
            continue;
        }
        if (!after) {
            if (offload_changeable(before, (NicOffload)o)) strvec_pushf(&parts, "%s %s -> on", offload_names[o], was);
            else strvec_pushf(&parts, "%s %s, fixed (the device cannot change it)", offload_names[o], was);
            continue;
        }
        const char *now = hostnic_offload_state(after, (NicOffload)o);
        if (streq(now, "on")) strvec_pushf(&parts, "%s %s -> on", offload_names[o], was);
        else if (!offload_changeable(before, (NicOffload)o))
            strvec_pushf(&parts, "%s %s, fixed (the device cannot change it)", offload_names[o], now);
        else
            strvec_pushf(&parts, "%s asked on, still %s (the driver keeps it off: a feature it needs, such as scatter-gather or checksumming, is off)",
                         offload_names[o], now);
    }
    return join_clear(&parts, ", ");
}

char *hostnic_render_offloads(const VmConfig *cfg, const NicOffloads *read, size_t n) {
    StrVec lines = STRVEC_INIT;
    if (cfg->n_hostnics) strvec_push(&lines, "# NIC offloads (ethtool features; each is put back when the VM ends):\n");
    for (size_t i = 0; i < cfg->n_hostnics; i++) {
        const HostNicSection *h = &cfg->hostnics[i];
        bool on = h->offloads == OFFLOADS_ON;
        const NicOffloads *o = read && i < n ? &read[i] : NULL;
        if (!o || o->error) {
            const char *why = !o ? "not read" : o->error == -EOPNOTSUPP ? "the device answers no ethtool request here" : strerror(-o->error);
            if (on) strvec_pushf(&lines, "#   %s: TSO, GSO, GRO -> on (current state unknown: %s)\n", h->head.id, why);
            else strvec_pushf(&lines, "#   %s: kept (current state unknown: %s)\n", h->head.id, why);
            continue;
        }
        _cleanup_free_ char *s = offloads_summary(o, NULL, on);
        strvec_pushf(&lines, "#   %s: %s%s\n", h->head.id, on ? "" : "kept: ", s);
    }
    return join_clear(&lines, "");
}

/* ------------------------------------------------------------------ */
/* Offloads: the ethtool ioctl                                         */

/* What the kernel says of one NIC: its feature names and their state. */
typedef struct EthFeatures {
    char **names;                   /* owned */
    size_t n_names;
    struct ethtool_get_features_block *blocks; /* owned */
    size_t n_blocks;
} EthFeatures;

static void eth_features_free(EthFeatures *e) {
    for (size_t i = 0; i < e->n_names; i++) free(e->names[i]);
    free(e->names);
    free(e->blocks);
    memset(e, 0, sizeof(*e));
}

static int eth_features_read(const HostRoot *hr, const char *dev, EthFeatures *out) {
    memset(out, 0, sizeof(*out));
    struct {
        struct ethtool_sset_info info;
        uint32_t count;
    } sset = { .info = { .cmd = ETHTOOL_GSSET_INFO, .sset_mask = UINT64_C(1) << ETH_SS_FEATURES } };
    int r = hostroot_ethtool(hr, dev, &sset);
    if (r < 0) return r;
    if (!(sset.info.sset_mask & (UINT64_C(1) << ETH_SS_FEATURES)) || sset.count == 0 || sset.count > 4096) return -EOPNOTSUPP;
    size_t n = sset.count;
    struct ethtool_gstrings *gs = xcalloc(1, sizeof(*gs) + n * ETH_GSTRING_LEN);
    *gs = (struct ethtool_gstrings){ .cmd = ETHTOOL_GSTRINGS, .string_set = ETH_SS_FEATURES, .len = (uint32_t)n };
    r = hostroot_ethtool(hr, dev, gs);
    if (r >= 0 && gs->len != n) r = -EIO; /* the set changed between the calls */
    if (r < 0) {
        free(gs);
        return r;
    }
    out->names = xcalloc(n, sizeof(char *));
    out->n_names = n;
    for (size_t i = 0; i < n; i++) out->names[i] = xstrndup((const char *)gs->data + i * ETH_GSTRING_LEN, ETH_GSTRING_LEN);
    free(gs);
    size_t nb = (n + 31) / 32;
    struct ethtool_gfeatures *gf = xcalloc(1, sizeof(*gf) + nb * sizeof(struct ethtool_get_features_block));
    *gf = (struct ethtool_gfeatures){ .cmd = ETHTOOL_GFEATURES, .size = (uint32_t)nb };
    r = hostroot_ethtool(hr, dev, gf);
    if (r < 0) {
        free(gf);
        eth_features_free(out);
        return r;
    }
    out->blocks = xcalloc(nb, sizeof(struct ethtool_get_features_block));
    memcpy(out->blocks, gf->features, nb * sizeof(struct ethtool_get_features_block));
    out->n_blocks = nb;
    free(gf);
    return 0;
}

/* Sends the set blocks; returns the kernel's ETHTOOL_F_* flags. */
static int eth_features_write(const HostRoot *hr, const char *dev, const struct ethtool_set_features_block *blocks, size_t n_blocks) {
    struct ethtool_sfeatures *sf = xcalloc(1, sizeof(*sf) + n_blocks * sizeof(struct ethtool_set_features_block));
    *sf = (struct ethtool_sfeatures){ .cmd = ETHTOOL_SFEATURES, .size = (uint32_t)n_blocks };
    memcpy(sf->features, blocks, n_blocks * sizeof(struct ethtool_set_features_block));
    int r = hostroot_ethtool(hr, dev, sf);
    free(sf);
    return r;
}

static int offloads_read_dev(const HostRoot *hr, NicOffloads *out) {
    EthFeatures e;
    int r = eth_features_read(hr, out->dev, &e);
    if (r < 0) return out->error = r;
    r = hostnic_features_decode(e.names, e.n_names, e.blocks, e.n_blocks, out);
    eth_features_free(&e);
    if (r < 0) out->error = r;
    return r;
}

int hostnic_offloads_read(const HostRoot *hr, const char *dev, NicOffloads *out) {
    memset(out, 0, sizeof(*out));
    out->dev = xstrdup(dev);
    return offloads_read_dev(hr, out);
}

NicOffloads *hostnic_offloads_read_all(const HostRoot *hr, const VmConfig *cfg) {
    NicOffloads *o = xcalloc(cfg->n_hostnics ? cfg->n_hostnics : 1, sizeof(NicOffloads));
    for (size_t i = 0; i < cfg->n_hostnics; i++) hostnic_offloads_read(hr, cfg->hostnics[i].head.id, &o[i]);
    return o;
}

void hostnic_offloads_free(NicOffloads *o, size_t n) {
    for (size_t i = 0; o && i < n; i++) free(o[i].dev);
    free(o);
}

/* ------------------------------------------------------------------ */
/* Offloads: their records in the journal (include/journal.h)          */

/* The network namespace we run in: ethtool reaches the devices of that one
 * only, so an entry is put back from the same namespace. */
static char *netns_id(void) {
    struct stat st;
    if (stat("/proc/self/ns/net", &st) < 0) return xstrdup("unknown");
    return xasprintf("%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
}

typedef struct OffloadCtx {
    const HostRoot *hr;
    char *netns;                    /* owned: netns_id() */
} OffloadCtx;

/* Sets DEV's feature F to ON unless it is so already (or gone from the
 * device): 0, or -errno. */
static int feature_put(const HostRoot *hr, const char *dev, NicFeature f, bool on) {
    EthFeatures ef;
    int r = eth_features_read(hr, dev, &ef);
    if (r < 0) return r;
    NicOffloads now = { .dev = (char *)dev };
    r = hostnic_features_decode(ef.names, ef.n_names, ef.blocks, ef.n_blocks, &now);
    if (r == 0 && (!now.f[f].present || now.f[f].requested == on)) {
        eth_features_free(&ef);
        return 0; /* as it was: nothing to write */
    }
    struct ethtool_set_features_block *sb = xcalloc(ef.n_blocks, sizeof(*sb));
    if (r == 0) r = hostnic_features_request(ef.names, ef.n_names, f, on, sb, ef.n_blocks);
    if (r == 0) r = eth_features_write(hr, dev, sb, ef.n_blocks);
    free(sb);
    eth_features_free(&ef);
    return r == -ENOENT ? 0 : r;
}

/* The journal's restore callback for one feature's record. */
static int off_restore(json_object *e, const void *ctx) {
    const OffloadCtx *oc = ctx;
    const char *dev = journal_str(e, "dev"), *ns = journal_str(e, "netns"), *feature = journal_str(e, "feature");
    json_object *orig_o = json_object_object_get(e, "original");
    if (!dev || !ns || !feature || !orig_o) return JOURNAL_RESTORED;
    bool orig = json_object_get_boolean(orig_o);
    if (!streq(ns, oc->netns) && !streq(ns, "unknown") && !streq(oc->netns, "unknown")) {
        log_notice("%s %s: recorded in another network namespace; `kvmlaunch cleanup` from there puts it back", dev, feature);
        return JOURNAL_KEEP;
    }
    NicFeature f = feature_by_name(feature);
    if (f == NIC_F__MAX) return JOURNAL_RESTORED;
    int r = feature_put(oc->hr, dev, f, orig);
    if (r == -ENODEV) {
        log_notice("%s is gone: its %s needs no putting back", dev, feature);
        return JOURNAL_RESTORED;
    }
    if (r < 0) return log_error_errno(r, "Failed to put %s %s back to %s: %m", dev, feature, orig ? "on" : "off");
    log_info("restored %s %s to %s", dev, feature, orig ? "on" : "off");
    return JOURNAL_RESTORED;
}

static int off_release(const HostRoot *hr, const char *leaving) {
    if (!journal_exists(HOSTNIC_OFFLOADS_STATE_FILE)) return 0; /* nothing was ever recorded */
    OffloadCtx oc = { hr, netns_id() };
    int r = journal_release(HOSTNIC_OFFLOADS_STATE_FILE, HOSTNIC_OFFLOADS_STATE_KEY, false, leaving, off_restore, &oc);
    free(oc.netns);
    return r;
}

int hostnic_offloads_restore(const HostRoot *hr, const char *name) {
    return off_release(hr, name);
}

int hostnic_offloads_replay_dead(const HostRoot *hr) {
    return off_release(hr, NULL);
}

/* Records each present feature of DEV with NAME as a user, and asks for
 * those that are off; *change says whether one is. */
static int offloads_record(Journal *j, const char *name, const char *netns, const char *dev, const EthFeatures *ef,
                           const NicOffloads *before, struct ethtool_set_features_block *sb, bool *change) {
    int r = 0;
    for (int f = 0; f < NIC_F__MAX && r >= 0; f++) {
        const NicFeatureState *s = &before->f[f];
        if (!s->present) continue;
        json_object *e = journal_find(j, "dev", dev, "netns", netns, "feature", feature_names[f], NULL);
        if (!e) {
            e = json_object_new_object();
            json_object_object_add(e, "dev", json_object_new_string(dev));
            json_object_object_add(e, "netns", json_object_new_string(netns));
            json_object_object_add(e, "feature", json_object_new_string(feature_names[f]));
            json_object_object_add(e, "original", json_object_new_boolean(s->requested));
            journal_add(j, e);
        }
        journal_add_user(e, name);
        if (s->changeable && !s->requested) {
            r = hostnic_features_request(ef->names, ef->n_names, (NicFeature)f, true, sb, ef->n_blocks);
            *change = true;
        }
    }
    return r;
}

/* Records and turns on the offloads of one NIC. */
static int offloads_on(const HostRoot *hr, Journal *j, const char *name, const char *netns, const char *dev) {
    EthFeatures ef;
    int r = eth_features_read(hr, dev, &ef);
    if (r == -EOPNOTSUPP) {
        log_notice("%s offloads: not changed: ethtool is not asked here (%s)", dev, strerror(-r));
        return 0;
    }
    if (r < 0) return log_error_errno(r, "Failed to read the ethtool features of %s: %m", dev);
    NicOffloads before = { .dev = (char *)dev };
    r = hostnic_features_decode(ef.names, ef.n_names, ef.blocks, ef.n_blocks, &before);
    struct ethtool_set_features_block *sb = xcalloc(ef.n_blocks, sizeof(*sb));
    bool change = false;
    if (r >= 0) r = offloads_record(j, name, netns, dev, &ef, &before, sb, &change);
    /* The originals are on disk before the device changes. */
    if (r >= 0) r = journal_save(j);
    if (r >= 0 && change) {
        r = eth_features_write(hr, dev, sb, ef.n_blocks);
        if (r < 0) log_error_errno(r, "Failed to turn on the offloads of %s (ETHTOOL_SFEATURES): %m", dev);
    }
    free(sb);
    eth_features_free(&ef);
    if (r < 0) return r;
    NicOffloads after = { .dev = (char *)dev };
    int ra = offloads_read_dev(hr, &after);
    _cleanup_free_ char *s = offloads_summary(&before, ra >= 0 ? &after : NULL, true);
    log_info("%s offloads: %s", dev, s);
    return 0;
}

/* offloads = keep: reported, untouched. */
static void offloads_report_kept(const HostRoot *hr, const char *dev) {
    NicOffloads o;
    if (hostnic_offloads_read(hr, dev, &o) == 0) {
        _cleanup_free_ char *s = offloads_summary(&o, NULL, false);
        log_info("%s offloads (kept): %s", dev, s);
    } else if (o.error != -EOPNOTSUPP) {
        log_notice("%s offloads (kept): unknown (%s)", dev, strerror(-o.error));
    }
    free(o.dev);
}

int hostnic_offloads_apply(const HostRoot *hr, const VmConfig *cfg) {
    bool any_on = false;
    for (size_t i = 0; i < cfg->n_hostnics; i++) {
        if (cfg->hostnics[i].offloads == OFFLOADS_ON) any_on = true;
        else offloads_report_kept(hr, cfg->hostnics[i].head.id);
    }
    if (!any_on) return 0;
    OffloadCtx oc = { hr, netns_id() };
    Journal j = JOURNAL_INIT;
    int r = journal_open(&j, HOSTNIC_OFFLOADS_STATE_FILE, HOSTNIC_OFFLOADS_STATE_KEY);
    if (r < 0) {
        free(oc.netns);
        return r;
    }
    journal_settle(&j, NULL, off_restore, &oc);
    for (size_t i = 0; i < cfg->n_hostnics && r >= 0; i++)
        if (cfg->hostnics[i].offloads == OFFLOADS_ON) r = offloads_on(hr, &j, cfg->vm.name, oc.netns, cfg->hostnics[i].head.id);
    /* Nothing half-done: what this call changed goes back now, or stays
     * recorded (said) where it cannot, and the caller is told. */
    if (r < 0 && journal_settle(&j, cfg->vm.name, off_restore, &oc) < 0) r = -ENOTRECOVERABLE;
    int r2 = journal_save(&j);
    journal_close(&j);
    free(oc.netns);
    return r < 0 ? r : r2;
}
