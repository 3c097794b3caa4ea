#!/usr/bin/env python3
"""Traffic for tests/cli/test_steering.sh, with the CPU that handled it.

The kernel records on a connected socket the CPU whose softirq (or
process context, without RPS) ran the protocol for the last packet it
received (SO_INCOMING_CPU); sampled after every receive, that tells which
CPU a queue's receive work landed on. Each mode pins itself to CPU first,
so what it sends leaves from a known CPU.

  echo ADDR PORT CPU BYTES         TCP to an echo server (retried up to 60 s
                                   until it listens): send BYTES, read them
                                   back; prints "incoming=CPU:N,... echoed=B"
  udp-send ADDR PORT SPORT CPU N   N datagrams of 1000 bytes from port SPORT
  udp-recv ADDR PORT PEER PPORT N  receive (connected to PEER:PPORT) until N
                                   came, or 5 s pass before the first, or 1 s
                                   after one (a burst may lose some); prints
                                   "incoming=CPU:N,... got=N"
"""
import os
import socket
import sys
import time

SO_INCOMING_CPU = getattr(socket, "SO_INCOMING_CPU", 49)


def pin(cpu):
    os.sched_setaffinity(0, {int(cpu)})


def hist(h):
    return ",".join("%d:%d" % (c, n) for c, n in sorted(h.items())) or "none"


def echo(addr, port, cpu, nbytes):
    pin(cpu)
    end = time.monotonic() + 60
    while True:
        try:
            s = socket.create_connection((addr, int(port)), timeout=5)
            break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)
    s.settimeout(30)
    chunk = b"s" * 4096
    total, sent, got, h = int(nbytes), 0, 0, {}
    # Lock step in 4 KiB chunks with at most 64 KiB in flight: the guest's
    # nc/cat are slow under TCG, and neither side may block on a full pipe.
    while got < total:
        while sent < total and sent - got < 65536:
            s.sendall(chunk[: min(4096, total - sent)])
            sent += min(4096, total - sent)
        data = s.recv(65536)
        if not data:
            break
        got += len(data)
        c = s.getsockopt(socket.SOL_SOCKET, SO_INCOMING_CPU)
        h[c] = h.get(c, 0) + 1
    s.shutdown(socket.SHUT_WR)
    s.close()
    print("incoming=%s echoed=%d" % (hist(h), got))


def udp_send(addr, port, sport, cpu, n):
    pin(cpu)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("", int(sport)))
    for _ in range(int(n)):
        s.sendto(b"u" * 1000, (addr, int(port)))


def udp_recv(addr, port, peer, pport, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    s.connect((peer, int(pport)))
    s.settimeout(5)
    print("listening", flush=True)
    got, h = 0, {}
    try:
        while got < int(n):
            s.recv(2048)
            got += 1
            s.settimeout(1)
            c = s.getsockopt(socket.SOL_SOCKET, SO_INCOMING_CPU)
            h[c] = h.get(c, 0) + 1
    except socket.timeout:
        pass
    print("incoming=%s got=%d" % (hist(h), got), flush=True)


if __name__ == "__main__":
    modes = {"echo": echo, "udp-send": udp_send, "udp-recv": udp_recv}
    if len(sys.argv) < 2 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    modes[sys.argv[1]](*sys.argv[2:])
