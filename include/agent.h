/* A client of the guest's qemu-guest-agent ([vm] guest-agent = yes).
 *
 * QEMU connects the guest's virtio-serial port org.qemu.guest_agent.0 to a
 * listening socket kvmlaunch made in the runtime dir, NAME/agent.sock
 * (mode 0700 dir: root only), and passed to it as an fd. The clients are
 * the commands themselves (`status`, `stop`, `qmp --agent`), not the
 * supervisor: the supervisor's seccomp filter refuses connect(), an agent
 * may take seconds to answer (the supervisor's loop must never wait on
 * the guest), and a relay would add a hop for nothing. QEMU's socket
 * chardev serves one client at a time and a second one would hang unheard,
 * so every client takes NAME/agent.lock (flock) first and a second one is
 * told the agent is busy.
 *
 * The agent keeps no session: a client that went away may have left a
 * half-written request or an unread reply in the channel. Each connection
 * therefore starts with a 0xFF byte (the agent's parser resets on it) and
 * guest-sync-delimited with a fresh id, whose reply the agent sends after a
 * 0xFF byte: everything before the matching reply is thrown away. */
#ifndef KVMLAUNCH_AGENT_H
#define KVMLAUNCH_AGENT_H

#include <json-c/json.h>
#include <stdbool.h>

#include "qmp.h"

#define AGENT_SOCKET "agent.sock"
#define AGENT_LOCK "agent.lock"
/* How long `status` waits for the agent: a guest without one (or still
 * booting) must not make status slow. */
#define AGENT_STATUS_TIMEOUT_MS 2000

typedef struct AgentClient {
    QmpClient q;                    /* after the sync: replies carry our ids */
    int lock_fd;                    /* owned, flock'ed */
} AgentClient;

/* Connects to the agent of the VM whose runtime dir is DIR (open as
 * DIR_FD), under its lock, and syncs within TIMEOUT_MS. Logs nothing when
 * QUIET (status says "no agent" itself). -ENOENT: the VM has no agent
 * channel; -EBUSY: another client holds it; -ETIMEDOUT: no agent answers
 * (none installed, not started yet, or a hung guest); else -errno. */
int agent_open(const char *dir, int dir_fd, AgentClient *a, int timeout_ms, bool quiet);
/* One command; as qmp_execute (a->q.error says an agent's error). */
int agent_execute(AgentClient *a, const char *command, json_object *args, json_object **ret, int timeout_ms);
/* guest-shutdown (powerdown): the agent sends no reply when it obeys, so
 * silence or a closed channel within TIMEOUT_MS counts as done; an error
 * reply is -EIO. */
int agent_shutdown(AgentClient *a, int timeout_ms);
void agent_close(AgentClient *a);

/* `kvmlaunch stop`: after the ACPI power-down (the supervisor's), how
 * long to wait before asking the agent: AGENT_STOP_AFTER_MS, or half the
 * VM's shutdown-timeout (live.json) when that is shorter, so the agent
 * comes before the supervisor's quit. -1: the VM in the runtime dir
 * DIR_FD has no agent channel, or shutdown-timeout is 0 (quit at once). */
#define AGENT_STOP_AFTER_MS 5000
int agent_stop_delay_ms(int dir_fd);
/* guest-shutdown through NAME's agent, said either way; 0 or -errno. A
 * guest already on its way down may have stopped its agent: harmless. */
int agent_stop_try(const char *name, const char *dir, int dir_fd);

/* Pure: "Debian GNU/Linux 12 (bookworm)" from guest-get-osinfo's return
 * (pretty-name, else name and version), or NULL. Caller frees. */
char *agent_os_text(json_object *osinfo);

#endif
