/* The commands that change a running VM through its control monitor
 * (include/vmlive.h): `qmp` (launcher/cli/qmpcmd.c), `balloon`
 * (launcher/cli/balloon.c) and `pin` (launcher/cli/livepin.c). ARGV[0] is
 * the command's word; each returns kvmlaunch's exit code: 0, 1 when the
 * VM or QEMU refused or failed, 2 for bad usage (nothing changed). */
#ifndef KVMLAUNCH_LIVECMDS_H
#define KVMLAUNCH_LIVECMDS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "values.h"

int cmd_qmp_main(int argc, char **argv);
int cmd_balloon_main(int argc, char **argv);
int cmd_pin_main(int argc, char **argv);

/* ---- pure parts, for the unit tests ---- */

/* One QMP request from the command line or a line of stdin: COMMAND
 * (letters, digits, '-' and '_') and ARGS, a JSON object (NULL: none).
 * Returns 0, or -EINVAL with ERR filled. */
int qmpcmd_parse_request(const char *command, const char *args_json, char **out_command, json_object **out_args, char *err);
/* A line of stdin: "COMMAND [ARGS-JSON]" or a whole QMP request
 * {"execute": COMMAND, "arguments": {...}} (no other member). Returns 1
 * with a request, 0 for a blank line or a "#" comment, -EINVAL with ERR. */
int qmpcmd_parse_line(const char *line, char **out_command, json_object **out_args, char *err);

/* The smallest balloon target allowed for a guest of MEMORY bytes:
 * max(128M, MEMORY/8), never above MEMORY. */
uint64_t balloon_floor(uint64_t memory);
/* SIZE against MEMORY: 0, or -EINVAL (above MEMORY, below the floor)
 * with ERR filled. */
int balloon_check_target(uint64_t size, uint64_t memory, char *err);

/* What `pin` changes: KEY=CPULIST arguments. */
typedef enum { LIVEPIN_VCPU, LIVEPIN_EMULATOR, LIVEPIN_IOTHREADS, LIVEPIN_VHOST } LivePinKey;
typedef struct LivePinItem {
    LivePinKey key;
    int vcpu;                       /* LIVEPIN_VCPU: N of vcpu.N */
    CpuList cpus;                   /* owned, sorted */
    bool follows;                   /* LIVEPIN_VHOST added by livepin_follow_emulator, not asked for */
} LivePinItem;
typedef struct LivePinRequest {
    LivePinItem *v;                 /* owned */
    size_t n;
} LivePinRequest;
/* ARGS: "vcpu.N=LIST", "emulator=LIST", "iothreads=LIST", "vhost=LIST"
 * for a VM of VCPUS vCPUs whose CPUs must lie in ONLINE. Each key once.
 * Returns 0, or -EINVAL with ERR naming the argument. */
int livepin_parse(char **args, size_t n, long vcpus, const CpuList *online, LivePinRequest *out, char *err);
void livepin_request_free(LivePinRequest *r);
/* A VM whose vhost-net workers follow its emulator threads ([cpu] vhost =
 * emulator: live.json's vhost_follows_emulator): an emulator=LIST without
 * vhost=... moves them too, as a vhost item marked follows. Returns 1 when
 * it added one, else 0. */
int livepin_follow_emulator(LivePinRequest *r, bool vhost_follows);

#endif
