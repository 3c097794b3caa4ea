/* [net "ID"] mode = user and its `forward` list (CONFIG.md): the value
 * parser and how an entry is written back. Pure. */
#ifndef KVMLAUNCH_NETFORWARD_H
#define KVMLAUNCH_NETFORWARD_H

#include "vmconf.h"

/* Highest count of entries one forward = takes: each is a listening socket
 * in QEMU, and a longer list is a mistake rather than a plan. */
#define NETFORWARD_MAX 64

/* Parses "tcp:2222:22, udp:10.0.0.1:auto:53" (entries separated by commas
 * and/or spaces) into *OUT (replacing what it held). ADDR must be a dotted
 * IPv4 address (QEMU 7.2's hostfwd takes no other); absent, 127.0.0.1.
 * Returns 0, or -EINVAL with "expected ..., found ..." in err. */
int netforwards_parse(const char *s, NetForwards *out, char *err);
void netforwards_free(NetForwards *f);

/* "tcp:127.0.0.1:2222:22" as vm.ini writes it, with HOST_PORT in place of
 * the entry's own (auto) when HOST_PORT > 0. Caller frees. */
char *netforward_format(const NetForward *f, int host_port);

#endif
