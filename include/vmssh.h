/* `kvmlaunch ssh NAME [--wait DURATION] [-- COMMAND...]`
 * (launcher/cli/vmssh.c). Its exit status is the command's, or ssh's 255
 * when the connection fails (also when --wait runs out); 2 when the VM
 * has no [cloud-init] ssh-key and user, or no forward to guest port 22. */
#ifndef KVMLAUNCH_VMSSH_H
#define KVMLAUNCH_VMSSH_H

/* The runtime dir's record of the `mode = user` forwards, written by the
 * run that sets them up: a JSON array of {"net", "proto", "address",
 * "host_port", "guest_port", "auto"}, host_port the real port (auto
 * resolved); docs/STATUS.md "forwards". */
#define VMSSH_FORWARDS_FILE "forwards.json"
/* An IPv4 address as text, with its NUL. */
#define VMSSH_ADDR_MAX 16
/* What ssh itself exits with when it cannot connect. */
#define VMSSH_EXIT_CONNECT 255

int cmd_ssh_main(int argc, char **argv);

/* The first forward to guest tcp/GUEST_PORT in TEXT (the forwards file):
 * its host port, and the address to reach it on in ADDR (VMSSH_ADDR_MAX;
 * 127.0.0.1 for one on 0.0.0.0); -ENOENT when none. Pure. */
int vmssh_parse_forwards(const char *text, int guest_port, char *addr, int *host_port);
/* The same from NAME's runtime dir: -ENOENT also without the file. This
 * is the one place `kvmlaunch ssh` reads the forwards: at the merge with
 * mode = user, usernet_host_port() can stand in for it. */
int vmssh_forward_port(const char *name, int guest_port, char *addr, int *host_port);
/* "user USER\nkey PRIVATE\n" (the run's ssh file): 0 with both set
 * (USER may be "": no [cloud-init] user), -EBADMSG without a key. */
int vmssh_parse_login(const char *text, char **user, char **key);
/* ssh's argv (strv, caller frees): SSH -F none -i KEY -p PORT, the known
 * hosts file, accept-new, batch mode, this key only, then -- USER@ADDR
 * and COMMAND's words, each quoted for the guest's shell, as one argument
 * (COMMAND NULL-terminated, may be NULL). */
char **vmssh_argv(const char *ssh, const char *key, const char *addr, int port, const char *known_hosts, const char *user,
                  char *const *command);

#endif
