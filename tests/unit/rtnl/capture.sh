#!/usr/bin/env bash
# Captures the kernel's answers to the RTM_GETLINK request tap_link_query
# sends (by name, IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS), for
# tests/unit/test_tap.c, as hex (xxd -p) in this folder. Root; everything in
# a network namespace of its own. The files in git came from Linux 6.18.
#   mq2               a non-persistent multi-queue tap, 2 queues attached
#   persist0          `ip tuntap add ... multi_queue`, a port of br0, nothing attached
#   persist-disabled  the same with 1 queue attached, then detached (TUNSETQUEUE)
#   single            `ip tuntap add ...` without multi_queue
#   bridge            a bridge: no tun
#   none              no such interface: NLMSG_ERROR -ENODEV
set -eu
cd "$(dirname "$0")"
ns=klrtnl$$
ip netns add $ns
trap 'ip netns del $ns' EXIT
ip netns exec $ns python3 - << 'EOF'
import binascii, fcntl, os, socket, struct

def getlink(name):
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    nm = name.encode() + b"\0"
    a1 = struct.pack("HH", 4 + len(nm), 3) + nm          # IFLA_IFNAME
    a1 += b"\0" * ((4 - len(a1) % 4) % 4)
    a2 = struct.pack("HHI", 8, 29, 1 << 3)               # IFLA_EXT_MASK: RTEXT_FILTER_SKIP_STATS
    body = struct.pack("BxHiII", 0, 0, 0, 0, 0) + a1 + a2
    s.sendto(struct.pack("IHHII", 16 + len(body), 18, 1, 1, 0) + body, (0, 0))  # RTM_GETLINK, NLM_F_REQUEST
    return s.recv(65536)

def save(name, data):
    with open(name + ".hex", "w") as f:
        h = binascii.hexlify(data).decode()
        f.write("\n".join(h[i:i + 64] for i in range(0, len(h), 64)) + "\n")

def attach(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    # IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE, as tap_open
    fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH22x", name.encode(), 0x0002 | 0x1000 | 0x4000 | 0x0100))
    return fd

a, b = attach("kla0"), attach("kla0")
save("mq2", getlink("kla0"))
os.system("ip tuntap add klp0 mode tap multi_queue && ip tuntap add kls0 mode tap && ip link add br0 type bridge && ip link set klp0 master br0")
save("persist0", getlink("klp0"))
save("single", getlink("kls0"))
save("bridge", getlink("br0"))
save("none", getlink("nosuch0"))
c = attach("klp0")
fcntl.ioctl(c, 0x400454D9, struct.pack("16sH22x", b"", 0x0400))  # TUNSETQUEUE IFF_DETACH_QUEUE
save("persist-disabled", getlink("klp0"))
EOF
