#!/usr/bin/env bash
# Every examples/*.ini must load and `kvmlaunch --dry-run` must print its
# command line on this host, and the command line must hold what the example
# is there to show. This host is not the examples' (no /dev/kvm, no
# /dev/vhost-net, no disk files, no br0, two CPUs), so --dry-run may exit 1:
# then each FAIL line it prints must be one of those differences, named:
# a file or directory that is not there, CPUs it lacks, a missing bridge,
# too few huge pages, and the user kvmlaunch where `make install` did not
# run (it creates it); anything else fails. Prints each check; exits 1
# when one fails.
set -u
. "$(dirname "$0")/lib.sh"
checked=0

# has EXAMPLE TEXT [WHY]: the last command line contains TEXT (fixed string).
has() {
    if grep -qF -- "$2" <<<"$cmd"; then ok "$1: has $2${3:+ ($3)}"; else bad "$1: command line lacks $2${3:+ ($3)}"; fi
}
# has_option EXAMPLE OPTION [WHY]: OPTION (one that takes no value) on a line of its own.
has_option() {
    if grep -qxE -- "[[:space:]]*$2( \\\\)?" <<<"$cmd"; then ok "$1: has option $2${3:+ ($3)}"; else bad "$1: command line lacks option $2${3:+ ($3)}"; fi
}
# lacks EXAMPLE TEXT [WHY]
lacks() {
    if grep -qF -- "$2" <<<"$cmd"; then bad "$1: command line has $2${3:+ ($3)}"; else ok "$1: no $2${3:+ ($3)}"; fi
}

# run EXAMPLE: dry-runs examples/EXAMPLE.ini; the command line goes to $cmd.
run() {
    local ini=examples/$1.ini errfile
    errfile=$(mktemp)
    cmd=$("$bin" --dry-run "$ini" 2>"$errfile")
    local rc=$?
    local err
    err=$(cat "$errfile")
    rm -f "$errfile"
    checked=$((checked + 1))
    if { [ $rc -ne 0 ] && [ $rc -ne 1 ]; } || ! grep -q '^/' <<<"$cmd"; then
        bad "$1: kvmlaunch --dry-run $ini exited $rc:"
        sed 's/^/    /' <<<"$err"
        cmd=
        return 1
    fi
    # What this host lacks and the example's host has; the user when
    # `make install` (which creates it) did not run here.
    local host_diff='found none at |expected a file, found none|found no directory|expected CPUs this host has online|expected a bridge of this host|free 2M huge pages'
    getent passwd kvmlaunch > /dev/null || host_diff+='|\[vm\] user: expected a user of this host, found no user "kvmlaunch"'
    local line other=0
    while IFS= read -r line; do
        [[ $line == "FAIL "* ]] || continue
        if grep -qE "$host_diff" <<<"$line"; then echo "note: $1: this host is not the example's: ${line#FAIL }"
        else bad "$1: --dry-run FAILs on more than this host's differences: $line"; other=1; fi
    done <<<"$err"
    if [ $rc = 1 ] && ! grep -q '^FAIL ' <<<"$err"; then bad "$1: exit 1 without a FAIL line"; other=1; fi
    [ $other = 0 ] && ok "$1: --dry-run prints the command line (exit $rc$([ $rc = 1 ] && echo ": FAILs only on what this host lacks"))"
    # Warnings are expected here (TCG and vhost fallbacks); errors are not.
    if grep -v '^FAIL ' <<<"$err" | grep -qiE '(^|: )error'; then bad "$1: --dry-run printed errors:"; sed 's/^/    /' <<<"$err"; fi
    has_option "$1" "-S" "QEMU starts stopped: pinning happens before the first instruction"
    has "$1" "-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
    has "$1" "-name guest=$1,"
    # Issue 21: no shipped example lets guest RAM into a QEMU core dump.
    has "$1" "dump-guest-core=off" "guest RAM out of core dumps"
    has "$1" "-machine pc-q35-" "q35 as the versioned type it stands for (stable machine types)"
    has_option "$1" "-nodefaults"
    lacks "$1" "-cpu host" "this host has no KVM: cpu-model must stay unset"
    lacks "$1" "-runas" "privileges are dropped by kvmlaunch, never with -runas"
}

# Every example is run, also those this script does not know yet.
for ini in examples/*.ini; do
    [ -e "$ini" ] || { bad "no examples/*.ini"; break; }
    name=$(basename "$ini" .ini)
    run "$name" || continue
    case "$name" in
    server)
        has server '"qom-type":"memory-backend-memfd"' "hugepages from memfd"
        has server '"hugetlb":true,"hugetlbsize":2097152' "2M huge pages"
        has server '"prealloc":true'
        has server '"host-nodes":[0],"policy":"bind"' "memory bound to node 0"
        has server '"merge":false'
        has server '-smp cpus=8,sockets=1,cores=8,threads=1'
        has server '"type":"tap","id":"net-lan","fds":"' "tap queues passed as fds"
        if grep -qE '"fds":"[0-9]+(:[0-9]+){7}"' <<<"$cmd"; then ok "server: 8 tap queue fds"; else bad "server: expected 8 tap queue fds"; fi
        has server '"mq":true,"vectors":18' "multi-queue: 2*8+2 vectors"
        has server '"driver":"qcow2","node-name":"fmt-root"'
        has server '"filename":"/var/lib/kvmlaunch/server/root.qcow2","aio":"native","cache":{"direct":true' "cache=none, aio=native"
        has server '"node-name":"fmt-data"' "the data disk"
        has server '"qom-type":"iothread","id":"iothread-root"'
        has server '"driver":"virtio-balloon-pci"'
        has server '"free-page-reporting":false'
        ;;
    appliance)
        has appliance '"qom-type":"memory-backend-ram"' "plain anonymous memory"
        lacks appliance 'hugetlb'
        has appliance '-smp cpus=2,'
        has appliance '"driver":"raw","node-name":"fmt-root"' "a raw disk"
        has appliance '"type":"tap","id":"net-lan","fds":"' "tap queues passed as fds"
        has appliance '-chardev socket,id=serial0,fd=' "serial to a file, through the supervisor"
        has appliance '-serial chardev:serial0'
        ;;
    ci)
        has ci '"qom-type":"memory-backend-ram"'
        has ci '-kernel /usr/share/kvmlaunch/guest/vmlinuz'
        has ci '-initrd /usr/share/kvmlaunch/guest/initrd.img'
        has ci '-append' "a kernel command line"
        has ci ',snapshot=on' "writes thrown away"
        has ci 'driver=qcow2,file.driver=file,' "format and protocol explicit on -drive"
        has ci '"driver":"isa-debug-exit","id":"exit0","iobase":244,"iosize":4' "the exit device"
        has ci '-chardev socket,id=serial0,fd=' "serial on stdout, through the supervisor"
        lacks ci 'virtio-balloon' "balloon off"
        lacks ci '-netdev' "no network"
        ;;
    *)
        echo "note: $name: no specific checks in $0 (add them)"
        ;;
    esac
done
echo "$checked examples checked"
finish
