#!/usr/bin/env bash
# kvmlaunch's own command line: help, version, usage errors, exit codes, and
# that bad input or --dry-run leaves nothing behind on the host.
set -u
. "$(dirname "$0")/lib.sh"
make_tmp
check() { # NAME WANT_RC CMD...: runs CMD, keeps its output in $out
    local name=$1 want=$2; shift 2
    out=$("$@" 2>&1); rc=$?
    if [ $rc -ne "$want" ]; then bad "$name: exit $rc, expected $want"; echo "$out" | head -5; return 1; fi
    ok "$name"
}
contains() { # NAME TEXT: the last output holds TEXT
    if ! grep -qF -- "$2" <<<"$out"; then bad "$1: output lacks \"$2\":"; echo "$out" | head -5; else ok "$1"; fi
}

check "--help" 0 "$bin" --help && contains "--help names the commands" "kvmlaunch check VM.INI"
check "--version" 0 "$bin" --version && contains "--version" "kvmlaunch 0."
check "no arguments is a usage error" 2 "$bin"
check "unknown option" 2 "$bin" --frobnicate
check "two files" 2 "$bin" a.ini b.ini
check "keys" 0 "$bin" keys && contains "keys lists [disk \"ID\"]" '[disk "ID"]'
check "keys --man" 0 "$bin" keys --man && contains "keys --man is roff" '.TH KVMLAUNCH.INI 5'
check "keys with a stray argument" 2 "$bin" keys --man --markdown && contains "keys names what it expects" 'expected --markdown or --man'
check "metrics with a stray argument" 2 "$bin" metrics --json && contains "metrics names what it expects" 'expected no arguments or --output FILE'
check "console without a name" 2 "$bin" console && contains "console names what it expects" "expected one VM name"
check "console with a bad name" 2 "$bin" console ../x
KVMLAUNCH_RUNDIR=$tmp/run check "console of a VM not running" 1 "$bin" console klcli-none && contains "console says so" "klcli-none is not running"
# The commands on a running VM: usage errors before anything is asked.
check "qmp without NAME" 2 "$bin" qmp && contains "qmp names its words" "expected NAME [--agent] [COMMAND [ARGS-JSON]]"
check "qmp with ARGS-JSON no object" 2 "$bin" qmp kl-none-$$ query-status '"x"'
check "balloon without SIZE" 2 "$bin" balloon kl-none-$$
check "balloon with a bad SIZE" 2 "$bin" balloon kl-none-$$ 12X && contains "balloon names SIZE" "SIZE: expected a size"
check "pin without KEY=CPULIST" 2 "$bin" pin kl-none-$$
for c in "qmp kl-none-$$ query-status" "balloon kl-none-$$ 1G" "pin kl-none-$$ vcpu.0=0"; do
    # shellcheck disable=SC2086
    check "$c: not running, exit 1" 1 "$bin" $c && contains "$c names it" "kl-none-$$ is not running"
done
check "missing file" 2 "$bin" --dry-run "$tmp/none.ini" && contains "missing file named" "$tmp/none.ini: cannot open"
check "a directory" 2 "$bin" --dry-run "$tmp" && contains "directory refused" "found a directory"

cat > "$tmp/bad.ini" <<'INI'
[vm]
name = t
memory = lots
vcpus = 2
[cpu]
pin = 0-3
INI
snapshot() { ls -A /run/kvmlaunch 2>/dev/null; ls /sys/fs/cgroup/cpuset 2>/dev/null | grep -c kvmlaunch; ip -o link | grep -c ' kl-'; pgrep -c -x qemu-system-x86 || true; }
before=$(snapshot)
check "bad file: exit 2" 2 "$bin" "$tmp/bad.ini" && contains "bad file: file:line message" "$tmp/bad.ini:3: [vm] memory: expected a size such as 512M, 4G or 4GiB, found \"lots\""
check "bad file with --dry-run: exit 2" 2 "$bin" --dry-run "$tmp/bad.ini"
[ "$(snapshot)" = "$before" ] && ok "bad input changed nothing on the host" || bad "bad input changed the host"

cat > "$tmp/good.ini" <<INI
[vm]
name = clitest
memory = 256M
vcpus = 2
user = nobody
[disk "root"]
file = $tmp/a,b.img
format = raw
INI
before=$(snapshot)
# The disk file is not there: the host checks FAIL (exit 1), and the plan
# and the command line are printed all the same.
check "dry run without the disk file: exit 1" 1 "$bin" --dry-run "$tmp/good.ini" && contains "dry run prints the command" "-name guest=clitest,debug-threads=on"
contains "dry run: comma path stays in JSON" '"filename":"'"$tmp"'/a,b.img"'
contains "dry run: then the missing disk as a FAIL line" "FAIL  disks      $tmp/good.ini:7: [disk \"root\"] file: expected an image or block device, found none at $tmp/a,b.img"
check "run --dry-run order" 1 "$bin" run --dry-run "$tmp/good.ini" && contains "run --dry-run prints the command" "-name guest=clitest,debug-threads=on"
[ "$(snapshot)" = "$before" ] && ok "--dry-run changed nothing on the host" || bad "--dry-run changed the host"
[ ! -e "/run/kvmlaunch/clitest" ] && ok "no runtime dir after --dry-run" || bad "runtime dir created"
finish
