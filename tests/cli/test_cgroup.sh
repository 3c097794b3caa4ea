#!/usr/bin/env bash
# Per-VM cgroups for real on this host: `test_cgroup --real` (tests/unit/
# test_cgroup.c) gives a process with three threads its VM cgroups, checks
# from /proc/TID/cgroup and the thread's affinity where each landed, that
# rmdir waits out live threads with EBUSY, then removes everything, also
# through `cleanup` after a "crash". This script runs it from the build of
# $KVMLAUNCH_BIN and checks that the host's cgroup directories are as
# before. Skips (77) without root or a cpuset hierarchy.
set -u
KVMLAUNCH_BIN=${KVMLAUNCH_BIN:-build/plain/kvmlaunch}
. "$(dirname "$0")/lib.sh"
test=$(dirname "$bin")/tests/unit/test_cgroup
[ -x "$test" ] || skip_all "$test is not built (make tests)"
need_root "it creates cgroups"

# Every cgroup directory of the cpuset hierarchies, v1 and v2.
dirs() {
    awk '$3 == "cgroup2" || ($3 == "cgroup" && $4 ~ /(^|,)cpuset(,|$)/) { print $2 }' /proc/self/mounts |
        while read -r m; do find "$m" -type d 2>/dev/null; done | LC_ALL=C sort
}
before=$(dirs)
# Safety net: whatever the test left of its own (kltest-*) goes, threads
# first; nothing that was there before is touched.
remove_own_cgroups() {
    comm -13 <(echo "$before") <(dirs) | grep -E '/kvmlaunch(/kltest-[0-9]+(/[a-z0-9]+)?)?$' | sort -r |
        while read -r d; do
            for t in $(cat "$d/tasks" "$d/cgroup.threads" 2>/dev/null); do kill -9 "$t" 2>/dev/null; done
            sleep 0.2
            rmdir "$d" 2>/dev/null && echo "removed a leftover $d"
        done
}
defer remove_own_cgroups
"$test" --real
rc=$?
[ $rc -eq 77 ] && exit 77   # it said why
after=$(dirs)
if [ "$before" != "$after" ]; then
    bad "the cgroup directories changed:"
    diff <(echo "$before") <(echo "$after")
    finish
fi
[ $rc -eq 0 ] || { bad "test_cgroup --real exited $rc"; finish; }
ok "cgroups placed and removed; the host's cgroup directories are as before"
finish
