/* `kvmlaunch ssh NAME [--wait DURATION] [-- COMMAND...]`
 * (launcher/cli/vmssh.c). Its exit status is the command's, or ssh's 255
 * when the connection fails (also when --wait runs out); 2 when the VM
 * has no [cloud-init] ssh-key and user, or no forward to guest port 22. */
#ifndef KVMLAUNCH_VMSSH_H
#define KVMLAUNCH_VMSSH_H

/* The runtime dir's record of the `mode = user` forwards, one a line:
 * "tcp HOSTADDR HOSTPORT GUESTPORT", HOSTPORT the real port (auto
 * resolved). Written by the run that sets the forwards up. */
#define VMSSH_FORWARDS_FILE "forwards"
/* What ssh itself exits with when it cannot connect. */
#define VMSSH_EXIT_CONNECT 255

int cmd_ssh_main(int argc, char **argv);

/* The host port forwarded to guest tcp/GUEST_PORT in TEXT (the forwards
 * file), or -ENOENT. Pure. */
int vmssh_parse_forwards(const char *text, int guest_port, int *host_port);
/* The same from NAME's runtime dir: -ENOENT also without the file. This
 * is the one place that reads the forwards for ssh. */
int vmssh_forward_port(const char *name, int guest_port, int *host_port);
/* "user USER\nkey PRIVATE\n" (the run's ssh file): 0 with both set
 * (USER may be "": no [cloud-init] user), -EBADMSG without a key. */
int vmssh_parse_login(const char *text, char **user, char **key);
/* ssh's argv (strv, caller frees): SSH -F none -i KEY -p PORT, the known
 * hosts file, accept-new, batch mode, this key only, then -- USER@127.0.0.1
 * and COMMAND (NULL-terminated, may be NULL). */
char **vmssh_argv(const char *ssh, const char *key, int port, const char *known_hosts, const char *user, char *const *command);

#endif
