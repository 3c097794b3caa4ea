#!/bin/bash
# A stand-in for qemu-system-x86_64, for tests/cli/test_faults.sh: a VM's
# `qemu =` names a copy of this script, which kvmlaunch starts exactly as it
# starts QEMU (as the VM's user, paused, QMP on fd 3: `-chardev
# socket,id=qmp,fd=3`). What it does is read from the file `mode` beside it,
# once, at start:
#   real                 exec the real qemu-system-x86_64 with the same argv
#   hold                 never greet (QMP stays open and silent)
#   garbage              send bytes that are not JSON instead of the greeting
#   notobject            send a JSON value that is no object
#   close                close QMP at once, then stay alive
#   exit                 exit 1 before greeting
#   greet-close          greet, then close QMP (and stay alive)
#   serve DIE STALL      speak QMP as QEMU does, with one vCPU (this
#                        process's pid as its thread id); at command DIE kill
#                        itself with SIGKILL, at command STALL never answer
#                        (- for neither)
# On reaching a point it says so with an empty file `at.WHAT` beside it
# (at.hold, at.CMD), so a test can time its fault. The test makes the FIFO
# `fifo` beside it too. No python, no socat:
# bash alone, as CI has it.
dir=${0%/*}
# At a VM's first start kvmlaunch asks what q35 stands for (-machine
# help, include/machinetype.h): the real emulator answers, whatever the mode.
if [ "$1" = -machine ] && [ "$2" = help ]; then exec qemu-system-x86_64 "$@"; fi
read -r mode die stall < "$dir/mode"
# Waits forever holding QMP (and the taps) open, with no child process that
# would hold them on after this one is killed: a read from the FIFO `fifo`
# beside it, which nobody writes.
idle() { exec 9<>"$dir/fifo"; while :; do read -r -t 60 -u 9 _; done; }
mark() { : > "$dir/at.$1"; }
greet() { printf '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": ["oob"]}}\n' >&3; }

case $mode in
real) exec qemu-system-x86_64 "$@" ;;
hold) mark hold; idle ;;
garbage) printf 'QEMU says hello\x01\xff{{{\n' >&3; mark garbage; idle ;;
notobject) printf '[1, 2, 3]\n' >&3; mark notobject; idle ;;
close) exec 3>&-; mark close; idle ;;
exit) mark exit; exit 1 ;;
greet-close) greet; exec 3>&-; mark greet-close; idle ;;
serve) ;;
*) echo "fake-qemu: unknown mode $mode" >&2; exit 2 ;;
esac

greet
while IFS= read -r line <&3; do
    cmd= id=0
    [[ $line =~ \"execute\":\ *\"([a-z_-]+)\" ]] && cmd=${BASH_REMATCH[1]}
    [[ $line =~ \"id\":\ *([0-9]+) ]] && id=${BASH_REMATCH[1]}
    mark "$cmd"
    [ "$cmd" = "$die" ] && kill -9 $$
    [ "$cmd" = "$stall" ] && idle
    case $cmd in
    query-cpus-fast) ret="[{\"cpu-index\": 0, \"thread-id\": $$, \"qom-path\": \"/machine/unattached/device[0]\", \"target\": \"x86_64\"}]" ;;
    query-iothreads) ret='[]' ;;
    *) ret='{}' ;;
    esac
    printf '{"return": %s, "id": %s}\n' "$ret" "$id" >&3
    if [ "$cmd" = quit ]; then
        printf '{"event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}, "timestamp": {"seconds": 0, "microseconds": 0}}\n' >&3
        exit 0
    fi
done
exit 0
