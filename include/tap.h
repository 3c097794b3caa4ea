/* The VM's network side, opened by kvmlaunch so QEMU needs no network
 * privilege: a multi-queue tap per [net] (one /dev/net/tun fd per queue),
 * attached to its bridge, and a /dev/vhost-net fd per queue. */
#ifndef KVMLAUNCH_TAP_H
#define KVMLAUNCH_TAP_H

#include <stdbool.h>
#include <stddef.h>

#include "values.h"
#include "vmconf.h"

typedef struct TapQueues {
    char *name;                     /* owned */
    int *fds;                       /* owned fds, queues entries */
    int *vhost;                     /* owned fds, or NULL */
    size_t queues;
    int mtu;                        /* what the tap got (0: left alone) */
} TapQueues;

/* Checks that cannot change anything (exit 2 material): the bridge exists
 * and is a bridge; a named tap that exists is a multi-queue tap. Errors go
 * to ERRORS as file:line lines. */
void tap_preflight(const VmConfig *cfg, ErrList *errors);

/* The MTU of BRIDGE, or 0 when unknown. */
int tap_bridge_mtu(const char *bridge);

/* Opens the queues of net N (creating the tap when absent), sets it up with
 * its MTU, attaches it to the bridge, opens vhost-net when WANT_VHOST.
 * The tap is not persistent: it goes when the last fd closes. */
int tap_open(const VmConfig *cfg, const NetSection *n, bool want_vhost, TapQueues *out);
/* The queue files steered, with the mask each must hold. */
typedef struct Steering {
    struct SteerEntry { char *path; char *mask; } *e; /* owned */
    size_t n;
} Steering;

/* Points rx-i/rps_cpus and tx-i/xps_cpus of the tap at the CPU of vCPU i,
 * and records them in *ST. */
int tap_steer(const TapQueues *t, const VmConfig *cfg, Steering *st);
/* QEMU attaches queues past the first only when the guest enables them,
 * and the kernel makes their files anew: writes again what differs.
 * Returns how many files were written. */
int steering_refresh(const Steering *st);
void steering_free(Steering *st);
void tap_close(TapQueues *t);

/* "0-3,8" -> the kernel's hex mask "10f" (comma-separated 32-bit words
 * past 32 CPUs), as rps_cpus and xps_cpus take it. Caller frees. */
char *cpumask_format(const CpuList *l);

#endif
