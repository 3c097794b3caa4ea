#!/usr/bin/env bash
# `kvmlaunch console NAME` on the test guest's shell (kl.shell=1, under QEMU,
# TCG here), driven through a pty of the test's own
# (tests/helpers/console_pty.py): type a command and read its output back,
# Ctrl-] detaches, attach again; a second client is refused while one is
# attached; the file: serial log rotates at serial-log-size; the terminal
# comes back after SIGTERM and SIGKILL of the client. Then a chatty guest
# (kl.flood) whose serial goes to a stdout nobody reads, with a console
# client that reads nothing either: the guest does not stall, it ends with
# its own exit code. And with serial = pty: `status` names the pty, which
# is root's and 0600, what the guest prints comes out of it, and what is
# typed into it reaches the guest's shell.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_guest; need_cmd qemu-system-x86_64; need_cmd python3

make_tmp --rundir
vms_named klcon-$$
vm_preset guest
wait_step=0.3

# 1. The shell guest, its log capped at 8K.
vm_ini sh "vm.append=console=ttyS0 quiet kl.stay=1 kl.shell=1" vm.serial-log-size=8K
"$bin" "$tmp/sh.ini" > "$tmp/sh.out" 2>&1 &
sup=$!; pids+=($sup)
if wait_for 90 grep -qs "KVMLAUNCH-GUEST: shell" "$tmp/sh.serial" && wait_for 30 test -S "$KVMLAUNCH_RUNDIR/$(name sh)/console.sock"; then
    st=$("$bin" status "$(name sh)")
    grep -qF "console: $KVMLAUNCH_RUNDIR/$(name sh)/console.sock" <<< "$st" && ok "status names the console socket" || bad "status: $st"
    s=$(stat -c '%U %a' "$KVMLAUNCH_RUNDIR/$(name sh)/console.sock")
    # The runtime dir is root's and 0700: only root reaches the socket.
    [ "$(stat -c '%U %a' "$KVMLAUNCH_RUNDIR/$(name sh)")" = "root 700" ] && [ "${s%% *}" = root ] && ok "console.sock is root's, in a 0700 dir" || bad "console.sock: $s"
    while IFS= read -r line; do
        case $line in
            ok:*) ok "${line#ok: }" ;;
            FAIL:*) bad "${line#FAIL: }" ;;
            *) echo "  $line" ;;
        esac
    done < <(timeout 200 python3 "$top/tests/helpers/console_pty.py" "$bin" "$(name sh)" "$tmp/sh.serial" 2>&1)
    "$bin" stop "$(name sh)" > /dev/null 2>&1
    wait "$sup"; rc=$?
    [ $rc = 0 ] && ok "the shell guest stopped: exit 0" || { bad "the shell guest: exit $rc"; cat "$tmp/sh.out"; }
else
    bad "the shell guest did not come up"; cat "$tmp/sh.out" "$tmp/sh.serial" 2>/dev/null
fi
[ -z "$(leftovers sh)" ] && ok "nothing left of the shell guest" || bad "left: $(leftovers sh)"

# 2. A chatty guest, nobody reading: stdout is a FIFO whose reader never
# reads, and a console client that reads nothing holds the console.
lines=20000
vm_ini flood "vm.append=console=ttyS0 quiet kl.flood=$lines kl.exit=3" vm.serial=stdout vm.exit-device=yes vm.timeout=100s
mkfifo "$tmp/fifo"
sleep 300 < "$tmp/fifo" &
reader=$!; pids+=($reader)
t0=$SECONDS
"$bin" "$tmp/flood.ini" > "$tmp/fifo" 2> "$tmp/flood.err" &
sup=$!; pids+=($sup)
if wait_for 60 test -S "$KVMLAUNCH_RUNDIR/$(name flood)/console.sock"; then
    # A client that connects and then never reads a byte.
    python3 -c 'import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); time.sleep(200)' \
        "$KVMLAUNCH_RUNDIR/$(name flood)/console.sock" &
    pids+=($!); stuck=$!
fi
wait "$sup"; rc=$?
took=$((SECONDS - t0))
[ $rc = 3 ] && ok "a guest printing $lines lines to a stdout and a console client that read nothing still ends with its code 3 (${took}s)" ||
    { bad "the chatty guest: exit $rc after ${took}s (stalled?)"; cat "$tmp/flood.err"; }
grep -q "bytes of guest output dropped on the way to stdout" "$tmp/flood.err" && ok "the supervisor says how much it dropped: $(grep -o '[0-9]* bytes of guest output dropped on the way to stdout' "$tmp/flood.err")" ||
    { bad "no word of dropped output"; cat "$tmp/flood.err"; }
kill "$reader" "${stuck:-}" 2> /dev/null
[ -z "$(leftovers flood)" ] && ok "nothing left of the chatty guest" || bad "left: $(leftovers flood)"

# 3. serial = pty: the pty is the supervisor's, named by status, root's and
# 0600 (VMs may share a user: another VM's QEMU must not open it); the
# guest's lines come out of it, and a command typed into it runs.
vm_ini pty "vm.append=console=ttyS0 quiet kl.stay=1 kl.shell=1" vm.serial=pty
"$bin" "$tmp/pty.ini" > "$tmp/pty.out" 2>&1 &
sup=$!; pids+=($sup)
if wait_for 60 test -s "$KVMLAUNCH_RUNDIR/$(name pty)/console.pty"; then
    pts=$(cat "$KVMLAUNCH_RUNDIR/$(name pty)/console.pty")
    "$bin" status "$(name pty)" | grep -qF "pty $pts" && ok "status names the pty $pts" || bad "status: $("$bin" status "$(name pty)" | grep console)"
    [ "$(stat -c '%U %a' "$pts")" = "root 600" ] && ok "$pts is root's, mode 600" || bad "$pts: $(stat -c '%U %a' "$pts")"
    grep -qF "serial console on $pts" "$tmp/pty.out" && ok "kvmlaunch says where the pty is" || bad "no pty line: $(cat "$tmp/pty.out")"
    exec 8<> "$pts"
    if timeout 60 grep -a -m1 -q "KVMLAUNCH-GUEST: shell" <&8; then
        ok "the guest's output comes out of $pts"
        # Typed into the pty: the guest's shell runs it. Its answer, not
        # the echo of what was typed: kl-$((N+1)) is only in the answer.
        # Tried again: the shell may not read its terminal yet.
        want=kl-$(($$ + 1)) got=
        for try in 1 2 3; do
            printf 'echo kl-$((%d + 1))\r' $$ >&8
            if timeout 10 grep -a -m1 -qF "$want" <&8; then got=1; break; fi
        done
        [ "$got" ] && ok "a command typed into $pts runs in the guest ($want came back)" || bad "typed into $pts: no $want back"
    else
        bad "nothing from $pts"
    fi
    exec 8<&-
    "$bin" stop "$(name pty)" > /dev/null 2>&1
    wait "$sup"; rc=$?
    [ $rc = 0 ] && ok "the pty guest stopped: exit 0" || { bad "the pty guest: exit $rc"; cat "$tmp/pty.out"; }
else
    bad "the pty guest did not come up"; cat "$tmp/pty.out"
fi
[ -z "$(leftovers pty)" ] && ok "nothing left of the pty guest" || bad "left: $(leftovers pty)"
finish
