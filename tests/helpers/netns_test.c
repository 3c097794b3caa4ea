/* See netns_test.h. Plain ioctls, no ip(8): nothing to fork, nothing that
 * could run in the wrong namespace. */
#include "netns_test.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* The namespace the process started in, as (st_dev, st_ino) of
 * /proc/self/ns/net; set by the first netns_test_unshare(). */
static bool have_origin;
static dev_t origin_dev;
static ino_t origin_ino;

static int ns_identity(dev_t *dev, ino_t *ino) {
    struct stat st;
    if (stat("/proc/self/ns/net", &st) < 0) return -errno;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 0;
}

/* True only inside a namespace netns_test_unshare() made. */
static bool in_own_namespace(void) {
    dev_t dev;
    ino_t ino;
    if (!have_origin || ns_identity(&dev, &ino) < 0) return false;
    return dev != origin_dev || ino != origin_ino;
}

int netns_test_unshare(void) {
    if (!have_origin) {
        int r = ns_identity(&origin_dev, &origin_ino);
        if (r < 0) return r;
        have_origin = true;
    }
    if (unshare(CLONE_NEWNET) < 0) return -errno;
    return in_own_namespace() ? 0 : -EPERM;
}

static int set_name(struct ifreq *ifr, const char *name) {
    if (strlen(name) >= IFNAMSIZ) return -ENAMETOOLONG;
    memset(ifr, 0, sizeof(*ifr));
    memcpy(ifr->ifr_name, name, strlen(name) + 1);
    return 0;
}

int netns_test_tap_open(const char *name, size_t queues, int *fds) {
    if (!in_own_namespace()) return -EPERM;
    for (size_t q = 0; q < queues; q++) fds[q] = -1;
    int r = 0;
    for (size_t q = 0; q < queues; q++) {
        struct ifreq ifr;
        r = set_name(&ifr, name);
        if (r < 0) break;
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
        int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            r = -errno;
            break;
        }
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
            r = -errno;
            close(fd);
            break;
        }
        fds[q] = fd;
    }
    if (r < 0)
        for (size_t q = 0; q < queues; q++)
            if (fds[q] >= 0) {
                close(fds[q]);
                fds[q] = -1;
            }
    return r;
}

int netns_test_bridge_attach(const char *bridge, const char *ifname) {
    if (!in_own_namespace()) return -EPERM;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    int r = 0;
    char br[IFNAMSIZ];
    struct ifreq ifr;
    if (strlen(bridge) >= IFNAMSIZ || (r = set_name(&ifr, ifname)) < 0) {
        r = r < 0 ? r : -ENAMETOOLONG;
        goto out;
    }
    snprintf(br, sizeof(br), "%s", bridge);
    if (ioctl(s, SIOCBRADDBR, br) < 0 && errno != EEXIST) {
        r = -errno;
        goto out;
    }
    if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
        r = -errno;
        goto out;
    }
    int index = ifr.ifr_ifindex;
    set_name(&ifr, bridge);
    ifr.ifr_ifindex = index;
    if (ioctl(s, SIOCBRADDIF, &ifr) < 0) r = -errno;
out:
    close(s);
    return r;
}
