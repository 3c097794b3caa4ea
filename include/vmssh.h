/* `kvmlaunch ssh NAME [--wait DURATION] [-- COMMAND...]`
 * (launcher/cli/vmssh.c). ssh runs as its child. Its exit status is the
 * command's (128+N when signal N ended ssh), or ssh's 255
 * when the connection fails (also when --wait runs out); 2 when the VM
 * has no [cloud-init] ssh-key and user, or no forward to guest port 22;
 * 1 when it does not run, or what listens on the forward is not its QEMU. */
#ifndef KVMLAUNCH_VMSSH_H
#define KVMLAUNCH_VMSSH_H

#include <stddef.h>
#include <stdint.h>

/* An IPv4 address as text, with its NUL. */
#define VMSSH_ADDR_MAX 16
/* What ssh itself exits with when it cannot connect. */
#define VMSSH_EXIT_CONNECT 255

int cmd_ssh_main(int argc, char **argv);

/* Where to reach a forward bound to ADDR: ADDR, or 127.0.0.1 for 0.0.0.0. */
const char *vmssh_reach_addr(const char *addr);
/* The first forward of running VM NAME to guest tcp/GUEST_PORT, from its
 * record (usernet_host_port): its host port, and the address to reach it
 * on in ADDR (VMSSH_ADDR_MAX); -ENOENT when none. */
int vmssh_forward_port(const char *name, int guest_port, char *addr, int *host_port);
/* "user USER\nkey PRIVATE\n" (the run's ssh file): 0 with both set
 * (USER may be "": no [cloud-init] user), -EBADMSG without a key. */
int vmssh_parse_login(const char *text, char **user, char **key);
/* Pure: the inodes (up to MAX in INODES; the count is returned) of the
 * TCP sockets in /proc/net/tcp's TEXT that listen on PORT at ADDR (network
 * byte order, as s_addr) or at 0.0.0.0: every socket a connection to
 * ADDR:PORT may reach. `kvmlaunch ssh` logs in only when QEMU holds each. */
size_t vmssh_tcp_listeners(const char *text, uint32_t addr, int port, unsigned long *inodes, size_t max);
/* ssh's argv (strv, caller frees): SSH -F none -i KEY -p PORT, the known
 * hosts file, accept-new, batch mode, this key only, then -- USER@ADDR
 * and COMMAND's words, each quoted for the guest's shell, as one argument
 * (COMMAND NULL-terminated, may be NULL). */
char **vmssh_argv(const char *ssh, const char *key, const char *addr, int port, const char *known_hosts, const char *user,
                  char *const *command);

#endif
