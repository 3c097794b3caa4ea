/* [net "ID"] mode = user on the host side: the host ports of its forwards
 * (an auto one chosen, a written one tried), and the record of them in the
 * runtime dir that `status` (and `kvmlaunch ssh`) read.
 *
 * QEMU's slirp listens on the host ports itself (hostfwd=): kvmlaunch opens
 * nothing for it, needs no privilege, and leaves nothing on the host. */
#ifndef KVMLAUNCH_USERNET_H
#define KVMLAUNCH_USERNET_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "hostroot.h"
#include "vmconf.h"

/* The runtime dir's record: NAME/forwards.json. */
#define USERNET_STATE_FILE "forwards.json"

/* One forward's host port as the probe found it. */
typedef struct FwdFact {
    int port;                       /* the written port, or the one chosen for auto; 0: none */
    int err;                        /* 0, or -errno of binding it (-EADDRINUSE: taken) */
} FwdFact;

/* One per [net]; n = 0 for a tap NIC. */
typedef struct UserNetFacts {
    FwdFact *fwd;                   /* owned, one per forward */
    size_t n;
} UserNetFacts;

/* Binds PROTO (FwdProto) ADDR:PORT as QEMU's slirp will (SO_REUSEADDR, a
 * TCP socket also listening) and closes it again: 0 when it is free, with
 * the port in *GOT (the kernel's choice for PORT 0), or -errno. */
int usernet_try_port(const char *addr, int proto, int port, int *got);

/* Fills *OUT (n_nets entries, the caller frees with usernet_facts_free):
 * each written port tried, each auto port chosen. Also reads
 * net.ipv4.ip_unprivileged_port_start through HR (-1: unknown). */
void usernet_probe(const HostRoot *hr, const VmConfig *cfg, UserNetFacts **out, int *unpriv_port_start);
void usernet_facts_free(UserNetFacts *f, size_t n);

/* After QEMU failed to start: where CFG has forwards, says that one of
 * their ports may have been taken since the checks (QEMU said "Could not
 * set up host forwarding rule" then), and that a new start chooses again. */
void usernet_explain_start_failure(const VmConfig *cfg);

/* Pure: the record of CFG's forwards with the ports FACTS holds, an array
 * of {"net", "proto", "address", "host_port", "guest_port", "auto"}, as
 * status shows it (docs/STATUS.md "forwards"). NULL FACTS: ports as written
 * (0 for auto). */
json_object *usernet_forwards_json(const VmConfig *cfg, const UserNetFacts *facts);
/* Writes that record into the runtime dir DIR_FD (nothing when CFG has no
 * forward); it goes with the dir. Called once QEMU answered on QMP: its
 * slirp listens on the ports by then (bound when the netdev is made), so
 * a reader never finds a port in it that QEMU does not hold yet. */
int usernet_state_write(int dir_fd, const VmConfig *cfg, const UserNetFacts *facts);
/* The record of running VM NAME: the array, an empty one when it has none,
 * NULL (said) when it cannot be read. */
json_object *usernet_state_read(const char *name);
/* Has running VM NAME written its record yet (a start writes it once QEMU
 * greeted on QMP; a VM without forwards never does)? */
bool usernet_state_written(const char *name);
/* The host port that running VM NAME forwards to TCP GUEST_PORT (the first
 * such forward), with its address in ADDR (16 bytes); -ENOENT when none. */
int usernet_host_port(const char *name, int guest_port, char *addr, int *port);

#endif
