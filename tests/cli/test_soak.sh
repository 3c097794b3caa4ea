#!/usr/bin/env bash
# Soak (issue 7, item 4): SOAK_CYCLES start/stop cycles of one small VM
# (no kernel: it sits in the BIOS) with `pin = auto` and a tap, inside a
# network namespace of this test's own, with the host's cpuset hierarchy
# mounted there too. Each cycle: start, wait until the supervisor is locked
# down, sample its fd count and VmRSS, `kvmlaunch stop`, exit 0. Checked:
# every start stops with exit 0; the supervisor's fds are the ones it means
# to hold (classified in cycle 1) and as many in every cycle; its RSS stays
# flat across cycles and across several seconds of one supervisor's life;
# at the end nothing is left: no runtime dir, host.state or cpus.state, no
# cgroup, no tap, no process. Prints cycles/s and the fd/RSS figures.
#
# SOAK_CYCLES: 200 by default (CI), 50 in the ASan build (each start there
# costs several times as much); `make soak` runs 1000 in the plain build.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user, taps, namespaces"
need_cmd qemu-system-x86_64; need_cmd ip -- iproute2; need_tun
if asan_build; then asan=1; else asan=0; fi
# ASan keeps freed memory in quarantine (up to 256 MiB), so a supervisor
# that allocates and frees each second (the placement watch, the steering
# re-check) grows its RSS without leaking; with no quarantine the RSS says
# what it says in the plain build. Leaks are LSan's at exit either way.
[ $asan = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
cycles=${SOAK_CYCLES:-$([ $asan = 1 ] && echo 50 || echo 200)}

# The cpuset hierarchy as the host mounts it, to mount again in the
# namespace (ip netns exec mounts a fresh /sys, without cgroups).
cg_v1=$(awk '$3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/ {print $2; exit}' /proc/self/mounts)
cg_v2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
make_netns klsoak
make_tmp --rundir
make_user klsoak
vms_named klsoak-$$
name=$(name soak)
sup=
kill_sup() { [ -n "$sup" ] && kill -9 "$sup"; }
defer kill_sup
# kvmlaunch in the namespace, with the cpuset hierarchy mounted where the
# host has it (the mounts vanish with the process's mount namespace).
start_in_ns() { # OUT: $! is kvmlaunch itself (ip netns exec and sh exec in place)
    ip netns exec $ns sh -c '
        if [ -n "$CG_V1" ]; then mount -t tmpfs cgroup "${CG_V1%/*}" && mkdir -p "$CG_V1" && mount -t cgroup -o cpuset cpuset "$CG_V1" || exit 99
        elif [ -n "$CG_V2" ]; then mount -t cgroup2 cgroup2 "$CG_V2" || exit 99; fi
        exec "$0" "$1"' "$bin" "$tmp/soak.ini" > "$1" 2>&1 &
}
export CG_V1=$cg_v1 CG_V2=$cg_v2
before=$(links)
tap=kl-sk$$
vm_preset bios
vm_ini soak vm.timeout=300s cpu.pin=auto '[net "lan"]' "tap = $tap"

status_field() { # PID KEY: the value of KEY: in /proc/PID/status (bash only: no fork)
    local k v
    while read -r k v; do [ "$k" = "$2:" ] && { echo "${v%% *}"; return 0; }; done < "/proc/$1/status" 2>/dev/null
    return 1
}
locked_down() { [ "$(status_field "$1" Seccomp)" = 2 ]; }
fd_count() { local f=(/proc/$1/fd/*); echo ${#f[@]}; }

# The supervisor's fds from 3 up, each classified; what is not one of its
# own or inherited from this shell is a leak.
classify_fds() { # PID: prints "fd kind" lines; unknown ones as "fd LEAK target"
    local mine=() fd t
    for fd in /proc/$$/fd/*; do mine+=("$(readlink "$fd")"); done
    for fd in /proc/$1/fd/*; do
        t=$(readlink "$fd") || continue
        fd=${fd##*/}
        [ "$fd" -le 2 ] && continue
        case "$t" in
            /) echo "$fd host root (/)" ;;
            anon_inode:\[signalfd\]) echo "$fd signalfd" ;;
            "$KVMLAUNCH_RUNDIR/$name") echo "$fd runtime dir" ;;
            "$KVMLAUNCH_RUNDIR/$name/pid") echo "$fd pid file (locked)" ;;
            socket:*) echo "$fd socket (QMP)" ;;
            *) if printf '%s\n' "${mine[@]}" | grep -qxF "$t"; then echo "$fd inherited from the test ($t)"; else echo "$fd LEAK $t"; fi ;;
        esac
    done
}

fds=() rss=() rcs_bad=() t_life=0 t_start=$EPOCHREALTIME
for i in $(seq 1 "$cycles"); do
    start_in_ns "$tmp/cycle.out"; sup=$!
    end=$((SECONDS + 60))
    until locked_down $sup || ! kill -0 $sup 2>/dev/null || [ $SECONDS -ge $end ]; do sleep 0.02; done
    if ! locked_down $sup; then
        bad "cycle $i: the supervisor did not reach lockdown"; cat "$tmp/cycle.out"; kill -9 $sup 2>/dev/null; wait $sup; sup=; break
    fi
    fds+=("$(fd_count $sup)") rss+=("$(status_field $sup VmRSS)")
    if [ "$i" = 1 ]; then
        classify_fds $sup > "$tmp/fds.txt"
        grep -q LEAK "$tmp/fds.txt" && bad "the supervisor holds fds it did not mean to: $(grep LEAK "$tmp/fds.txt" | tr '\n' ';')" ||
            ok "the supervisor's fds: 0-2, $(cut -d' ' -f2- "$tmp/fds.txt" | sort | uniq -c | sed 's/^ *//' | tr '\n' ',' | sed 's/,$//')"
        [ "$(grep -c 'socket' "$tmp/fds.txt")" = 1 ] || bad "the supervisor holds $(grep -c socket "$tmp/fds.txt") sockets, expected 1 (QMP)"
    fi
    if [ "$i" = "$cycles" ]; then
        t_life=$EPOCHREALTIME
        # One supervisor over several seconds: the steering re-check runs
        # each second, status queries hit QEMU; nothing may grow.
        life_fd=() life_rss=()
        for s in $(seq 1 10); do
            "$bin" status "$name" --json > /dev/null 2>&1
            life_fd+=("$(fd_count $sup)") life_rss+=("$(status_field $sup VmRSS)")
            sleep 0.5
        done
        t_life=$(awk -v a="$t_life" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
    fi
    "$bin" stop "$name" > "$tmp/stop.out" 2>&1 || { bad "cycle $i: stop failed"; cat "$tmp/stop.out"; }
    wait $sup; rc=$?
    sup=
    [ $rc = 0 ] || { rcs_bad+=("cycle $i: exit $rc"); cp "$tmp/cycle.out" "$tmp/cycle-$i.out"; }
done
t_end=$EPOCHREALTIME
n=${#fds[@]}
[ -n "${SOAK_SERIES:-}" ] && echo "rss: ${rss[*]}"
# The seconds spent watching one supervisor do not count.
secs=$(awk -v a="$t_start" -v b="$t_end" -v l="$t_life" 'BEGIN { printf "%.1f", b - a - l }')
rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.2f", (s > 0 ? n / s : 0) }')
echo "measure: $n start/stop cycles in $secs s: $rate cycles/s ($([ $asan = 1 ] && echo ASan || echo plain) build)"
[ "$n" = "$cycles" ] && [ ${#rcs_bad[@]} = 0 ] && ok "$cycles cycles: every start ran and stopped with exit 0" ||
    { bad "$n of $cycles cycles ran; bad exits: ${rcs_bad[*]}"; for f in "$tmp"/cycle-*.out; do [ -e "$f" ] && { echo "--- $f"; head -20 "$f"; }; done; }
if [ "$n" -gt 0 ]; then
    fmin=$(printf '%s\n' "${fds[@]}" | sort -n | head -1) fmax=$(printf '%s\n' "${fds[@]}" | sort -n | tail -1)
    rmin=$(printf '%s\n' "${rss[@]}" | sort -n | head -1) rmax=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
    echo "measure: supervisor fds: cycle 1 ${fds[0]}, cycle $n ${fds[$((n - 1))]} (min $fmin, max $fmax)"
    echo "measure: supervisor VmRSS kB: cycle 1 ${rss[0]}, cycle $n ${rss[$((n - 1))]} (min $rmin, max $rmax)"
    [ "$fmin" = "$fmax" ] && ok "fd count flat: $fmin in every cycle" || bad "fd count varies: $fmin..$fmax"
    # A fresh process each cycle: RSS moves a little with what the kernel
    # and libc share; growth with the cycle count would be a leak in state
    # carried over (files it reads back).
    # ASan's allocator (quarantine, shadow pages) moves RSS by several hundred
    # kB from one process to the next; the trend check below is what finds leaks.
    spread=$([ $asan = 1 ] && echo 2048 || echo 512)
    [ $((rmax - rmin)) -le $spread ] && ok "RSS flat across cycles: $rmin..$rmax kB" || bad "RSS varies across cycles: $rmin..$rmax kB (over $spread)"
    if [ "$n" -ge 8 ]; then
        q=$((n / 4))
        first=$(printf '%s\n' "${rss[@]:0:$q}" | awk '{ s += $1 } END { printf "%d", s / NR }')
        last=$(printf '%s\n' "${rss[@]:$((n - q))}" | awk '{ s += $1 } END { printf "%d", s / NR }')
        echo "measure: supervisor VmRSS kB, mean of the first and the last $q cycles: $first, $last"
        [ $((last - first)) -le 128 ] && ok "no RSS trend over the cycles" || bad "RSS grows over the cycles: $first -> $last kB"
    fi
fi
if [ -n "${life_fd+x}" ]; then
    echo "measure: one supervisor over 5 s: fds ${life_fd[*]}; VmRSS kB ${life_rss[*]}"
    lf=$(printf '%s\n' "${life_fd[@]}" | sort -u | wc -l)
    lr0=${life_rss[0]} lr9=${life_rss[9]}
    [ "$lf" = 1 ] && [ $((lr9 - lr0)) -le 64 ] && ok "flat within one supervisor's life (10 samples over 5 s)" || bad "one supervisor grows: fds ${life_fd[*]}, RSS ${life_rss[*]}"
fi

# Nothing left.
left=()
[ -n "$(ls -A "$KVMLAUNCH_RUNDIR" 2>/dev/null)" ] && left+=("in $KVMLAUNCH_RUNDIR: $(ls -A "$KVMLAUNCH_RUNDIR" | tr '\n' ' ')")
while read -r l; do left+=("$l"); done < <(leftovers soak)
[ "$(links)" = "$before" ] || left+=("links in the namespace: $(links), were: $before")
pgrep -u "$user" > /dev/null && left+=("processes of $user")
echo "measure: leftovers after $n cycles: ${#left[@]}"
[ ${#left[@]} = 0 ] && ok "nothing left: no runtime dir, host.state, cpus.state, cgroup, tap or process" || bad "left: ${left[*]}"
finish
