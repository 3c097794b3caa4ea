# Sourced by every tests/cli/test_*.sh (bubblewrap's tests/libtest.sh is the
# model): `. "$(dirname "$0")/lib.sh"` right after `set -u`.
#
# On loading: $bin is $KVMLAUNCH_BIN (./kvmlaunch by default) made absolute,
# the shell is in the repository root ($top), $guest is the test guest's
# folder. Then, for the script to use:
#   ok / bad / skip WHAT       a check passed, failed, or could not run here
#                              (say which thing the machine lacks);
#   skip_all WHY               the whole test cannot run here: exit 77;
#   finish                     the closing line and the exit status: 1 when a
#                              check failed, 77 when every check was skipped;
#   need_root / need_guest / need_cmd / need_tun: skip_all unless there;
#   defer CMD ARGS...          a cleanup, run at exit (also on failure or a
#                              signal), the last deferred first;
#   make_tmp / make_user / make_netns: a temp dir, a system user, a
#                              network namespace, each removed at exit;
#   vms_named PREFIX           this test's VMs are PREFIX-ID: at exit what is
#                              left of them is killed and removed;
#   vm_ini ID ARGS...          writes $tmp/ID.ini;
#   leftovers ID               what is left of a VM (runtime dir, cgroups, QEMU,
#                              kvmlaunch), one thing a line;
#   wait_for, keep_knob, in_ns, links, asan_build: see each below.
# Skips are also written to $KLTEST_SKIP_LOG when it is set: tests/run-tests.sh
# counts every skip and prints its reason.

bin=$(realpath "${KVMLAUNCH_BIN:-./kvmlaunch}")
# The tests are root's: under sudo, kvmlaunch would read their VM.INI files
# (in root's temp dirs) as the user sudo ran them for (docs/SECURITY.md).
unset SUDO_UID SUDO_GID SUDO_USER
cd "$(dirname "$0")/../.." || exit 1
top=$(pwd)
guest=$top/tests/guest/out
test_name=${0##*/}
fail=0 n_ok=0 n_bad=0 n_skip=0

ok() { echo "ok: $*"; n_ok=$((n_ok + 1)); }
bad() { echo "FAIL: $*"; fail=1; n_bad=$((n_bad + 1)); }
skip_log() { [ -n "${KLTEST_SKIP_LOG:-}" ] && echo "$*" >> "$KLTEST_SKIP_LOG"; return 0; }
skip() { echo "skip: $*"; n_skip=$((n_skip + 1)); skip_log "$*"; }
skip_all() { echo "SKIP: $*"; skip_log "$*"; exit 77; }
finish() {
    echo "$test_name: $n_ok ok, $n_bad failed, $n_skip skipped"
    [ $fail = 0 ] || exit 1
    [ $n_ok = 0 ] && [ $n_skip -gt 0 ] && exit 77
    exit 0
}

need_root() { [ "$(id -u)" = 0 ] || skip_all "needs root${1:+ ($1)}"; }
need_guest() { [ -f "$guest/vmlinuz" ] && [ -f "$guest/initrd.img" ] || skip_all "the test guest is not built (tests/guest/build.sh)"; }
need_cmd() { # CMD... [-- HINT WORDS]
    local cmds=() hint= c
    while [ $# -gt 0 ] && [ "$1" != -- ]; do cmds+=("$1"); shift; done
    [ $# -gt 1 ] && { shift; hint=" ($*)"; }
    for c in "${cmds[@]}"; do command -v "$c" > /dev/null || skip_all "$c is not installed$hint"; done
}
need_tun() { [ -c /dev/net/tun ] || skip_all "no /dev/net/tun"; }
asan_build() { ldd "$bin" 2> /dev/null | grep -q libasan; }

# The cleanup stack. Each entry is a command line, its words quoted when
# deferred; `defer` with a function name defers what it does at exit time.
cleanups=()
defer() { cleanups+=("$(printf '%q ' "$@")"); }
run_cleanups() {
    local i
    # Each runs whatever came before: what is already gone is no error.
    for ((i = ${#cleanups[@]} - 1; i >= 0; i--)); do eval "${cleanups[i]}" 2> /dev/null; done
    cleanups=()
}
trap 'rc=$?; run_cleanups; exit $rc' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

# The VMs' state dirs ([vm] state-dir; kvmlaunch keeps them by design): in
# a dir of the test's own, removed at exit, unless the caller named one
# (tests/run-tests.sh gives each test its own). Others may pass through it
# (0755): swtpm and QEMU reach the state dir as the VM's user.
if [ -z "${KVMLAUNCH_STATEDIR:-}" ]; then
    KVMLAUNCH_STATEDIR=$(mktemp -d /tmp/kltest-state.XXXXXX) && chmod 0755 "$KVMLAUNCH_STATEDIR" || exit 1
    export KVMLAUNCH_STATEDIR
    defer rm -rf "$KVMLAUNCH_STATEDIR"
fi

make_tmp() { # [--rundir] [MKTEMP ARGS]: $tmp; --rundir: KVMLAUNCH_RUNDIR=$tmp/run
    local rundir=0
    [ "${1:-}" = --rundir ] && { rundir=1; shift; }
    tmp=$(mktemp -d "$@") || exit 1
    defer rm -rf "$tmp"
    [ $rundir = 0 ] || export KVMLAUNCH_RUNDIR=$tmp/run
}
# The VMs' user: PREFIX$$, a system user without a home or a shell.
make_user() { # PREFIX
    user=$1$$
    useradd --system --no-create-home --shell /usr/sbin/nologin "$user" && defer userdel "$user"
}
make_netns() { # PREFIX: $ns, PREFIX$$
    ns=$1$$
    ip netns add "$ns" || skip_all "cannot create a network namespace"
    defer ip netns del "$ns"
}
in_ns() { ip netns exec "$ns" "$@"; }
links() { in_ns ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\n' ' '; }

# The host's cgroup folders where kvmlaunch makes a VM's.
cgroup_bases=(/sys/fs/cgroup/cpuset/kvmlaunch /sys/fs/cgroup/kvmlaunch /sys/fs/cgroup/unified/kvmlaunch)
pids=() vm_prefix=
# kvmlaunch keeps the shared kvmlaunch/ once made (as machine.slice stays);
# a test that made it takes it away again when no VM is left in it, so the
# host is as the test found it. Deferred first: it runs last.
remove_made_bases() {
    local c
    for c in "$@"; do
        [ -d "$c" ] && [ -z "$(find "$c" -mindepth 1 -maxdepth 1 -type d)" ] && rmdir "$c"
    done
}
made_bases=()
for c in "${cgroup_bases[@]}"; do [ -e "$c" ] || made_bases+=("$c"); done
[ ${#made_bases[@]} = 0 ] || defer remove_made_bases "${made_bases[@]}"
vms_named() { # PREFIX
    vm_prefix=$1
    defer kill_vms
}
kill_vms() {
    local p c d
    for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
    pkill -9 -f "guest=$vm_prefix-" 2> /dev/null
    # What a failed run left: the VMs' cgroups (QEMU is dead by now).
    for c in "${cgroup_bases[@]}"; do
        for d in "$c/$vm_prefix"-*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2> /dev/null; done
    done
}
name() { echo "$vm_prefix-$1"; }
qemu_of() { pgrep -f "guest=$vm_prefix-$1," | head -1; }
leftovers() { # ID: what is left of VM ID, one thing a line
    local n=$vm_prefix-$1 c
    [ -e "$KVMLAUNCH_RUNDIR/$n" ] && echo "runtime dir $KVMLAUNCH_RUNDIR/$n"
    for c in "${cgroup_bases[@]}"; do [ -e "$c/$n" ] && echo "cgroup $c/$n"; done
    [ -n "$(qemu_of "$1")" ] && echo "QEMU process $(qemu_of "$1")"
    pgrep -f "$tmp/$1.ini" > /dev/null && echo "kvmlaunch process"
    return 0
}
vm_running() { "$bin" status "$vm_prefix-$1" 2> /dev/null | grep -q running; }

wait_for() { # SECONDS CMD...: polls every $wait_step s until CMD succeeds
    local end=$((SECONDS + $1)); shift
    while [ $SECONDS -lt "$end" ]; do "$@" && return 0; sleep "${wait_step:-0.2}"; done
    return 1
}

# A host knob this test (or the VMs it starts) may change: whatever
# happens, it reads as now again at exit.
keep_knob() { defer restore_knob "$1" "$(cat "$1")"; }
restore_knob() { [ "$(cat "$1")" = "$2" ] || echo "$2" > "$1"; }

# vm_ini ID ARGS...: writes $tmp/ID.ini, the VM $vm_prefix-ID (ID without
# vms_named). Each ARG is SECTION.KEY=VALUE (vm.memory=64M, cpu.pin=auto,
# cpu.vcpu.0=1), which sets that key (an empty VALUE leaves it out; "{id}"
# in VALUE is ID), or text (a whole section) written after the keys.
# $vm_defaults come first: a script sets them once, or `vm_preset` does.
vm_defaults=()
vm_ini() {
    local id=$1 a s k v i
    shift
    local -a secs=() keys=() vals=() texts=()
    for a in "vm.name=${vm_prefix:+$vm_prefix-}$id" "${vm_defaults[@]}" "$@"; do
        if [[ $a =~ ^([a-z-]+)\.([a-z0-9.-]+)=(.*)$ ]]; then
            s=${BASH_REMATCH[1]} k=${BASH_REMATCH[2]} v=${BASH_REMATCH[3]//\{id\}/$id}
            # A key set again keeps its place.
            for i in "${!keys[@]}"; do [ "${secs[i]}.${keys[i]}" = "$s.$k" ] && { vals[i]=$v; continue 2; }; done
            secs+=("$s") keys+=("$k") vals+=("$v")
        else
            texts+=("$a")
        fi
    done
    {
        local done_secs=" " sec
        for sec in "${secs[@]}"; do
            [[ $done_secs == *" $sec "* ]] && continue
            done_secs+="$sec "
            a=
            for i in "${!keys[@]}"; do [ "${secs[i]}" = "$sec" ] && [ -n "${vals[i]}" ] && a+="${keys[i]} = ${vals[i]}"$'\n'; done
            # A section whose keys were all left out is left out.
            [ -z "$a" ] || printf '[%s]\n%s' "$sec" "$a"
        done
        [ ${#texts[@]} = 0 ] || printf '%s\n' "${texts[@]}"
    } > "$tmp/$id.ini"
}
# vm_preset guest|bios: $vm_defaults for the test guest (booted, it stays
# until stopped: kl.stay=1) or for a VM without a kernel (it sits in the BIOS).
# The guest's serial logs go to $tmp, which becomes the VM user's: the log
# is created as that user, in a directory no other user can write. Others
# may pass through it: the supervisor, root without CAP_DAC_OVERRIDE once
# locked down, still reaches a runtime dir $tmp/run.
vm_preset() {
    case $1 in
    guest) chown "${user:-nobody}" "$tmp" && chmod go+x "$tmp"
        vm_defaults=(vm.memory=256M vm.vcpus=2 "vm.user=${user:-nobody}" "vm.kernel=$guest/vmlinuz" "vm.initrd=$guest/initrd.img"
        "vm.append=console=ttyS0 quiet kl.stay=1" "vm.serial=file:$tmp/{id}.serial" vm.shutdown-timeout=20s vm.timeout=120s) ;;
    bios) vm_defaults=(vm.memory=64M vm.vcpus=1 "vm.user=${user:-nobody}" vm.serial=none vm.shutdown-timeout=0s vm.timeout=120s) ;;
    esac
    vm_defaults+=(balloon.enabled=no)
}
