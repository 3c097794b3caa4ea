/* Network plumbing for e2e tests, confined to a network namespace of the
 * test's own: the functions that create or change an interface refuse to run
 * until netns_test_unshare() has moved the process out of the namespace it
 * started in, so a test can never touch the host's eth0 or bridges. */
#ifndef KVMLAUNCH_NETNS_TEST_H
#define KVMLAUNCH_NETNS_TEST_H

#include <stddef.h>

/* Moves the calling process into a new, empty network namespace (each call
 * a fresh one; the old one vanishes with the last descriptor into it).
 * Returns 0 or -errno. */
int netns_test_unshare(void);

/* Opens the tap NAME with QUEUES queues (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
 * | IFF_MULTI_QUEUE), as kvmlaunch does: FDS[q] gets queue q (O_CLOEXEC).
 * Returns 0, or -errno with no descriptor left open. */
int netns_test_tap_open(const char *name, size_t queues, int *fds);

/* Creates the bridge BRIDGE unless it exists, and attaches IFNAME to it. */
int netns_test_bridge_attach(const char *bridge, const char *ifname);

#endif
