#!/usr/bin/python3
# A stand-in sshd for tests/cli/test_cloudinit.sh (paramiko, no daemon, no
# service): listens on 127.0.0.1:PORT with HOSTKEY, lets in the user whose
# public key is in AUTHORIZED, runs each exec request's command with
# /bin/sh -c on this host (the test's own commands), sends back its output
# and exit status, and logs "user USER" and "exec COMMAND" lines to LOG.
# Connections that end before the key exchange (kvmlaunch ssh --wait's
# probe reads the banner only) are no error.
#   sshd_stub.py PORT HOSTKEY AUTHORIZED LOG
import socket
import subprocess
import sys
import threading

import paramiko

port, hostkey_path, authorized_path, log_path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
host_key = paramiko.Ed25519Key.from_private_key_file(hostkey_path)
kind, blob = open(authorized_path).read().split()[:2]
log = open(log_path, "a", buffering=1)


class Server(paramiko.ServerInterface):
    def __init__(self):
        self.command = None
        self.ready = threading.Event()

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        if key.get_name() == kind and key.get_base64() == blob:
            log.write("user %s\n" % username)
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind_, chanid):
        return paramiko.OPEN_SUCCEEDED if kind_ == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command):
        self.command = command.decode()
        self.ready.set()
        return True


def serve(conn):
    t = paramiko.Transport(conn)
    t.add_server_key(host_key)
    server = Server()
    try:
        t.start_server(server=server)
        chan = t.accept(20)
        if chan is None or not server.ready.wait(20):
            return
        log.write("exec %s\n" % server.command)
        p = subprocess.run(["/bin/sh", "-c", server.command], capture_output=True)
        chan.sendall(p.stdout)
        chan.sendall_stderr(p.stderr)
        chan.send_exit_status(p.returncode)
        chan.shutdown_write()
        chan.close()
        # The client disconnects once it has the status: closing the
        # connection first would make its goodbye hit a reset (ssh then
        # says "Connection reset" and exits 255), so it ends from its side.
        t.join(30)
    except Exception:
        pass
    finally:
        if t.is_active():
            t.close()


s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(8)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
