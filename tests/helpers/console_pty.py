#!/usr/bin/env python3
"""Drives `kvmlaunch console NAME` on a pty of its own, as a person at a
terminal would (tests/cli/test_console.sh). Prints one line a check:
"ok: WHAT" or "FAIL: WHAT", which the shell test counts.

    console_pty.py KVMLAUNCH NAME LOG

LOG: the VM's serial log (file:), whose rotation it checks against the
serial-log-size the test set (8K)."""
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
import tty

BIN, NAME, LOG = sys.argv[1:4]
CAP = 8192


def say(good, what):
    print(("ok: " if good else "FAIL: ") + what, flush=True)
    return good


class Console:
    """One `kvmlaunch console` on a fresh pty, as its controlling terminal."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        # A terminal as a login shell leaves it: canonical, echo, signals.
        self.before = termios.tcgetattr(self.slave)
        # As at a real terminal, the session leader is a shell-like parent
        # that outlives the client: were the client the leader, its death
        # would hang the terminal up, and nothing could be restored then.
        # The parent passes on the client's pid and then its wait status.
        rd, wr = os.pipe()
        self.leader = os.fork()
        if self.leader == 0:
            os.close(rd)
            os.setsid()
            import fcntl
            fcntl.ioctl(self.slave, termios.TIOCSCTTY, 0)
            client = os.fork()
            if client == 0:
                for fd in (0, 1, 2):
                    os.dup2(self.slave, fd)
                os.execv(BIN, [BIN, "console", NAME])
            os.write(wr, b"%d\n" % client)
            _, st = os.waitpid(client, 0)
            os.write(wr, b"%d\n" % st)
            signal.pause()  # until close()
            os._exit(0)
        os.close(wr)
        self.report = os.fdopen(rd, "rb", buffering=0)
        self.pid = int(self.report.readline())
        self.out = b""
        self.status = None

    def expect(self, pattern, timeout=20):
        """Reads until PATTERN (bytes regex) shows in what came since the
        last match; True when it did."""
        end = time.time() + timeout
        while time.time() < end:
            m = re.search(pattern, self.out)
            if m:
                self.out = self.out[m.end():]
                return True
            r, _, _ = select.select([self.master], [], [], 0.1)
            if r:
                try:
                    d = os.read(self.master, 65536)
                except OSError:
                    break
                if not d:
                    break
                self.out += d
        return bool(re.search(pattern, self.out))

    def type(self, text):
        os.write(self.master, text)

    def raw(self):
        a = termios.tcgetattr(self.slave)
        return not (a[3] & (termios.ICANON | termios.ECHO | termios.ISIG))

    def restored(self):
        return termios.tcgetattr(self.slave) == self.before

    def wait(self, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            r, _, _ = select.select([self.report], [], [], 0)
            if r:
                self.status = int(self.report.readline())
                return self.status
            self.expect(b"\0never", 0.1)
        return None

    def close(self):
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
        os.kill(self.leader, signal.SIGKILL)
        os.waitpid(self.leader, 0)
        self.report.close()
        os.close(self.master)
        os.close(self.slave)


def attached(c, what):
    if not say(c.expect(rb"Ctrl-\] detaches"), what + ": attached"):
        print(c.out.decode(errors="replace"))
        return False
    # Wait until the terminal is raw: the guard is up by then.
    end = time.time() + 5
    while not c.raw() and time.time() < end:
        time.sleep(0.05)
    return say(c.raw(), what + ": the terminal is raw (no echo, no canonical mode, no signal keys)")


def guest_answers(c, expr, want, what):
    """Types `echo $((EXPR))` and reads WANT back on a line of its own."""
    c.type(b"\r")
    c.expect(rb"guest# ", 10)
    c.type(b"echo $((" + expr + b"))\r")
    ok = c.expect(rb"\r\n" + want + rb"\r\n", 30)
    return say(ok, what + ": typed `echo $((" + expr.decode() + "))`, read " + want.decode() + " back") or print(repr(c.out[-300:]))


fails = 0


def check(good):
    global fails
    if not good:
        fails += 1


# 1. Attach, type, read back, Ctrl-] detaches: exit 0, terminal restored.
c = Console()
if attached(c, "first attach"):
    check(guest_answers(c, b"6*7", b"42", "first attach"))
    c.type(b"\x1d")
    st = c.wait()
    check(say(st is not None and os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, "Ctrl-] detaches with exit 0 (status %r)" % (st,)))
    check(say(c.restored(), "the terminal is as before after Ctrl-]"))
else:
    check(False)
c.close()

# 2. Attach again; a second client is told so (exit 1); the log rotates
# at serial-log-size; SIGTERM of the client restores the terminal.
c = Console()
if attached(c, "second attach"):
    check(guest_answers(c, b"1+2", b"3", "attach again after a detach"))
    p = subprocess.run([BIN, "console", NAME], stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
    check(say(p.returncode == 1 and b"in use" in p.stderr,
              "a second client while one is attached: exit %d, %r" % (p.returncode, p.stderr.decode().strip())))
    # About 34K through an 8K cap: the log and its old copy, neither over.
    c.type(b"yes 0123456789abcdef | head -n 2000; echo fin$((2*2))\r")
    check(say(c.expect(rb"\r\nfin4\r\n", 60), "2000 lines typed for came back through the console"))
    time.sleep(0.5)
    sizes = [os.path.getsize(p) if os.path.exists(p) else -1 for p in (LOG, LOG + ".1")]
    check(say(0 <= sizes[0] <= CAP and sizes[1] == CAP,
              "the serial log rotated at serial-log-size: %s %d bytes, %s.1 %d bytes (cap %d)" % (LOG, sizes[0], LOG, sizes[1], CAP)))
    with open(LOG, "rb") as f:
        check(say(b"fin4" in f.read(), "the newest output is in the log"))
    check(say(c.raw(), "still raw before SIGTERM"))
    os.kill(c.pid, signal.SIGTERM)
    st = c.wait()
    check(say(st is not None and os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGTERM, "SIGTERM ends the client (status %r)" % (st,)))
    check(say(c.restored(), "the terminal is as before after SIGTERM of the client"))
else:
    check(False)
c.close()

# 3. SIGKILL cannot be caught: the guard child puts the terminal back.
c = Console()
if attached(c, "third attach"):
    os.kill(c.pid, signal.SIGKILL)
    c.wait()
    end = time.time() + 5
    while not c.restored() and time.time() < end:
        time.sleep(0.05)
    check(say(c.restored(), "the terminal is as before after SIGKILL of the client (its guard restored it)"))
    # The console is free again once the killed client's socket closed.
    time.sleep(0.3)
    d = Console()
    check(say(d.expect(rb"Ctrl-\] detaches", 10), "the console is free again after the killed client"))
    d.type(b"\x1d")
    d.wait()
    d.close()
else:
    check(False)
c.close()
sys.exit(1 if fails else 0)
