/* The service manager's notification protocol (sd_notify(3)): when
 * $NOTIFY_SOCKET is set (systemd with Type=notify), kvmlaunch says
 * READY=1 once the guest runs with every thread pinned, STATUS= lines on
 * the way, and STOPPING=1 when a stop begins. Spoken directly (one datagram
 * per message on an AF_UNIX socket, abstract when the name starts with
 * '@'): libsystemd would be a dependency for twenty lines. The socket is
 * connected before the supervisor locks itself down, so later messages
 * are plain write()s, which its seccomp allowlist has. */
#ifndef KVMLAUNCH_NOTIFY_H
#define KVMLAUNCH_NOTIFY_H

/* Connects to $NOTIFY_SOCKET and unsets it (children must not inherit it).
 * Returns the fd, -1 when there is no service manager to tell, or -errno
 * when the variable is set but unusable (said once; then nothing is sent). */
int notify_open(void);
/* Sends one message ("READY=1\nSTATUS=..."); nothing when FD < 0. A service
 * manager gone away is not the VM's problem: errors are ignored. */
void notify_send(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
