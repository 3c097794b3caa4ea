/* `kvmlaunch balloon NAME SIZE`: the guest's memory through virtio-balloon.
 * The target goes into the VM's live state first (QEMU's query-balloon
 * tells only the actual size, and `status` shows both), then to QEMU
 * (taken back if QEMU refuses it); the command waits until the guest's
 * driver got there. */
#include "livecmds.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "exitcode.h"
#include "log.h"
#include "supervise.h"
#include "util.h"
#include "vmlive.h"

#define BALLOON_WAIT_MS 30000
#define BALLOON_POLL_MS 50
#define BALLOON_TIMEOUT_MS 5000
#define MIB (UINT64_C(1) << 20)
/* Below this a Linux guest has too little left to run its balloon driver's
 * own work (and userspace) reliably; memory/8 keeps big guests from being
 * squeezed into swapping or the OOM killer by a typo. */
#define BALLOON_MIN (128 * MIB)
/* QEMU counts the balloon in 4 KiB pages (VIRTIO_BALLOON_PFN_SHIFT). */
#define BALLOON_PAGE 4096

uint64_t balloon_floor(uint64_t memory) {
    uint64_t f = memory / 8 > BALLOON_MIN ? memory / 8 : BALLOON_MIN;
    return f > memory ? memory : f;
}

int balloon_check_target(uint64_t size, uint64_t memory, char *err) {
    _cleanup_free_ char *s = size_format(size), *m = size_format(memory), *f = size_format(balloon_floor(memory));
    if (size > memory) {
        snprintf(err, VALUE_ERR_MAX, "expected at most the VM's memory (%s), found %s", m, s);
        return -EINVAL;
    }
    if (size < balloon_floor(memory)) {
        snprintf(err, VALUE_ERR_MAX, "expected at least %s (the larger of 128M and memory/8, memory = %s), found %s", f, m, s);
        return -EINVAL;
    }
    return 0;
}

/* query-balloon's "actual", in bytes; -EIO with q->error for QEMU's error. */
static int balloon_actual(QmpClient *q, uint64_t *actual) {
    json_object *ret = NULL, *v;
    int r = qmp_execute(q, "query-balloon", NULL, &ret, BALLOON_TIMEOUT_MS);
    if (r == 0 && (!json_object_object_get_ex(ret, "actual", &v) || !json_object_is_type(v, json_type_int))) r = -EPROTO;
    if (r == 0) *actual = json_object_get_uint64(v);
    json_object_put(ret);
    return r;
}

static int guest_memory(VmControl *c, uint64_t *memory) {
    json_object *ret = NULL, *v;
    int r = qmp_execute(&c->qmp, "query-memory-size-summary", NULL, &ret, BALLOON_TIMEOUT_MS);
    if (r == 0 && (!json_object_object_get_ex(ret, "base-memory", &v) || !json_object_is_type(v, json_type_int))) r = -EPROTO;
    if (r == 0) *memory = json_object_get_uint64(v);
    json_object_put(ret);
    if (r < 0) log_error("%s: query-memory-size-summary: %s", c->name, c->qmp.error ? c->qmp.error : strerror(-r));
    return r;
}

static void print_actual(const char *name, uint64_t actual, uint64_t target, int64_t ms, bool reached) {
    _cleanup_free_ char *a = size_format(actual), *t = size_format(target);
    if (reached) printf("%s: balloon at %s (%" PRIu64 " bytes): target reached in %.2f s\n", name, a, actual, (double)ms / 1000);
    else printf("%s: balloon at %s (%" PRIu64 " bytes): target %s not reached\n", name, a, actual, t);
}

static int set_and_wait(VmControl *c, uint64_t memory, uint64_t target) {
    /* Recorded first: a target QEMU got but live.json lacks would show as
     * none in status. */
    json_object *old = NULL;
    if (json_object_object_get_ex(c->state, "balloon_target_bytes", &old)) json_object_get(old);
    json_object_object_add(c->state, "balloon_target_bytes", json_object_new_uint64(target));
    if (vmlive_save(c->dir_fd, c->state) < 0) {
        json_object_put(old);
        return EXIT_RUNTIME;
    }
    json_object *args = json_object_new_object();
    json_object_object_add(args, "value", json_object_new_int64((int64_t)target));
    int64_t t0 = monotonic_ms();
    int r = qmp_execute(&c->qmp, "balloon", args, NULL, BALLOON_TIMEOUT_MS);
    if (r < 0) {
        log_error("%s: balloon: %s", c->name, c->qmp.error ? c->qmp.error : "no answer");
        /* QEMU refused it: live.json gets back the target it had (none, or
         * the last one QEMU took), not one QEMU never got. Without an
         * answer QEMU may have taken it, so the new one stays. */
        if (r == -EIO) {
            if (old) json_object_object_add(c->state, "balloon_target_bytes", json_object_get(old));
            else json_object_object_del(c->state, "balloon_target_bytes");
            vmlive_save(c->dir_fd, c->state);
        }
        json_object_put(old);
        return EXIT_RUNTIME;
    }
    json_object_put(old);
    /* What QEMU reports once the guest gave exactly the pages asked. */
    uint64_t want = memory - ((memory - target) / BALLOON_PAGE) * BALLOON_PAGE;
    uint64_t actual = 0;
    for (;;) {
        if (balloon_actual(&c->qmp, &actual) < 0) {
            log_error("%s: query-balloon: %s", c->name, c->qmp.error ? c->qmp.error : "no answer");
            return EXIT_RUNTIME;
        }
        int64_t ms = monotonic_ms() - t0;
        if (actual == want) {
            print_actual(c->name, actual, target, ms, true);
            return EXIT_OK;
        }
        if (ms >= BALLOON_WAIT_MS) break;
        usleep(BALLOON_POLL_MS * 1000);
    }
    print_actual(c->name, actual, target, 0, false);
    _cleanup_free_ char *a = size_format(actual), *t = size_format(target);
    log_error("%s: the guest stopped at %s, short of the target %s, after %d s (no balloon driver in the guest, or it cannot give "
              "that much back); the target stays set",
              c->name, a, t, BALLOON_WAIT_MS / 1000);
    return EXIT_RUNTIME;
}

int cmd_balloon_main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "kvmlaunch balloon: expected NAME SIZE\n");
        return EXIT_CONFIG;
    }
    char err[VALUE_ERR_MAX];
    uint64_t target;
    if (value_parse_size(argv[2], &target, err) < 0) {
        fprintf(stderr, "kvmlaunch balloon: SIZE: %s\n", err);
        return EXIT_CONFIG;
    }
    VmControl c;
    int r = vmcontrol_open(argv[1], &c);
    int rc = r == -EINVAL ? EXIT_CONFIG : EXIT_RUNTIME;
    uint64_t memory = 0, actual = 0;
    if (r == 0 && guest_memory(&c, &memory) == 0) {
        r = balloon_actual(&c.qmp, &actual);
        if (r == -EIO && c.qmp.error && !strncmp(c.qmp.error, "DeviceNotActive:", strlen("DeviceNotActive:"))) {
            fprintf(stderr, "kvmlaunch balloon: %s has no balloon device ([balloon] enabled = no)\n", c.name);
            rc = EXIT_CONFIG;
        } else if (r < 0) {
            log_error("%s: query-balloon: %s", c.name, c.qmp.error ? c.qmp.error : strerror(-r));
        } else if (balloon_check_target(target, memory, err) < 0) {
            fprintf(stderr, "kvmlaunch balloon: SIZE: %s\n", err);
            rc = EXIT_CONFIG;
        } else {
            rc = set_and_wait(&c, memory, target);
        }
    }
    vmcontrol_close(&c);
    return rc;
}
