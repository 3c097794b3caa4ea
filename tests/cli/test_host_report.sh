#!/usr/bin/env bash
# `kvmlaunch host [--json]` (docs/HOST.md).
# 1. Golden outputs: on copies of the fake host trees listed in $scenarios,
#    with an empty run dir, both forms must equal tests/host/NAME.txt and
#    NAME.json byte for byte, twice in a row, leave the tree as it was, and
#    say on stderr only what is expected there. KVMLAUNCH_TEST_REGENERATE=1
#    rewrites the files instead (review the diff). A file in tests/host that
#    no scenario reads fails.
# 2. Usage errors are exit 2; a root or a cpu/online that cannot be read, 1.
# 3. On this machine: the JSON parses and agrees with /sys and /dev (online
#    CPUs, nodes and their cpulists, THP enabled, KSM run, each block
#    device's scheduler, /dev/kvm and /dev/net/tun); the human form shows
#    the node table. Run with the ASan build, a leak fails it too.
set -u
. "$(dirname "$0")/lib.sh"
golden=tests/host
need_cmd jq -- make deps installs it
make_tmp --rundir
mkdir "$tmp/run"
unset KVMLAUNCH_ROOT
regen=${KVMLAUNCH_TEST_REGENERATE:-}

scenarios=(host-2x8 host-numa4 nic-msix cgroup1)
# What a scenario may say on stderr: nic-msix has no /proc/mounts, so the
# cgroup layout is unknown (the report says so too).
expected_stderr() {
    case $1 in
    nic-msix) echo "kvmlaunch: error: Failed to read /proc/mounts: No such file or directory" ;;
    esac
}

# ---- 1. golden outputs ----
for sc in "${scenarios[@]}"; do
    rm -rf "$tmp/root"
    cp -a "tests/hostroot/$sc" "$tmp/root"
    for form in txt json; do
        args=(host)
        [ $form = json ] && args+=(--json)
        want=$golden/$sc.$form
        for run in 1 2; do
            KVMLAUNCH_ROOT=$tmp/root "$bin" "${args[@]}" > "$tmp/out.$run" 2> "$tmp/err"
            rc=$?
            [ $rc = 0 ] || bad "$sc: kvmlaunch ${args[*]} exited $rc: $(cat "$tmp/err")"
            [ "$(cat "$tmp/err")" = "$(expected_stderr "$sc")" ] || bad "$sc: unexpected stderr of ${args[*]}: $(cat "$tmp/err")"
        done
        cmp -s "$tmp/out.1" "$tmp/out.2" || bad "$sc: two runs of ${args[*]} differ"
        if [ -n "$regen" ]; then
            cp "$tmp/out.1" "$want"
            echo "regenerated $want"
        elif [ ! -f "$want" ]; then
            bad "$sc: $want is missing (KVMLAUNCH_TEST_REGENERATE=1 writes it)"
        elif diff -u "$want" "$tmp/out.1" > "$tmp/diff"; then
            ok "$sc: ${args[*]} is $want"
        else
            bad "$sc: ${args[*]} differs from $want (review, then KVMLAUNCH_TEST_REGENERATE=1 rewrites it):"
            cat "$tmp/diff"
        fi
    done
    jq -e '.version == 1' "$tmp/out.1" > /dev/null || bad "$sc: the JSON does not parse or has no \"version\": 1"
    if diff -r "tests/hostroot/$sc" "$tmp/root" > "$tmp/diff"; then ok "$sc: the tree is unchanged"
    else bad "$sc: the report changed the tree:"; cat "$tmp/diff"; fi
done
# Every file in tests/host belongs to a scenario above.
for f in "$golden"/*; do
    b=$(basename "$f")
    [ "$b" = README.md ] && continue
    known=0
    for sc in "${scenarios[@]}"; do [ "$b" = "$sc.txt" ] || [ "$b" = "$sc.json" ] && known=1; done
    [ $known = 1 ] || bad "$f: no test reads it (remove it, or add its scenario to \$scenarios)"
done

# ---- 2. usage and failures ----
for args in "host --yaml" "host --json extra" "host extra"; do
    # shellcheck disable=SC2086
    "$bin" $args > /dev/null 2> "$tmp/err"
    rc=$?
    if [ $rc = 2 ] && grep -q "expected no argument or --json" "$tmp/err"; then ok "kvmlaunch $args: usage error"
    else bad "kvmlaunch $args: exit $rc (want 2), stderr: $(cat "$tmp/err")"; fi
done
KVMLAUNCH_ROOT=$tmp/nonexistent "$bin" host > /dev/null 2> "$tmp/err"
rc=$?
[ $rc = 1 ] && ok "a missing root: exit 1" || bad "a missing root: exit $rc (want 1)"
rm -rf "$tmp/root"
cp -a tests/hostroot/cgroup1 "$tmp/root"
rm "$tmp/root/sys/devices/system/cpu/online"
KVMLAUNCH_ROOT=$tmp/root "$bin" host --json > "$tmp/out" 2> "$tmp/err"
rc=$?
if [ $rc = 1 ] && [ ! -s "$tmp/out" ] && grep -q "cpu/online" "$tmp/err"; then ok "no cpu/online: exit 1, said"
else bad "no cpu/online: exit $rc (want 1), stdout $(wc -c < "$tmp/out") bytes, stderr: $(cat "$tmp/err")"; fi

# ---- 3. this machine ----
sel() { sed -n 's/.*\[\([^]]*\)\].*/\1/p' "$1"; }
# What the report is checked against. Other tests may change THP, KSM or a
# scheduler meanwhile: the probe counts only when this reads the same
# before and after it.
snapshot() {
    cat /sys/devices/system/cpu/online
    for n in /sys/devices/system/node/node[0-9]*; do [ -d "$n" ] && echo "$n $(cat "$n/cpulist")"; done
    sel /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null
    cat /sys/kernel/mm/ksm/run 2>/dev/null
    for d in /sys/block/*; do echo "$d $(sel "$d/queue/scheduler" 2>/dev/null)"; done
    ls -d /dev/kvm /dev/net/tun 2>/dev/null
}
for attempt in 1 2 3 4 5; do
    before=$(snapshot)
    "$bin" host --json > "$tmp/real.json" 2> "$tmp/err"
    rc=$?
    after=$(snapshot)
    [ "$before" = "$after" ] && break
done
[ "$before" = "$after" ] || bad "the host kept changing under the probe; nothing compared"
[ $rc = 0 ] || bad "kvmlaunch host --json exited $rc: $(cat "$tmp/err")"
j() { jq -r "$1" "$tmp/real.json"; }
if ! jq -e '.version == 1' "$tmp/real.json" > /dev/null; then
    bad "the JSON of this host does not parse"
else
    count=$(awk -F, '{ n = 0; for (i = 1; i <= NF; i++) { split($i, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1) } print n }' \
        /sys/devices/system/cpu/online)
    [ "$(j .cpu.count)" = "$count" ] && [ "$(j .cpu.online)" = "$(cat /sys/devices/system/cpu/online)" ] &&
        ok "online CPUs: $count ($(j .cpu.online))" || bad "online CPUs: $(j .cpu.count) ($(j .cpu.online)), /sys says $count"
    nodes=0
    for n in /sys/devices/system/node/node[0-9]*; do
        [ -d "$n" ] || continue
        nodes=$((nodes + 1))
        id=${n##*node}
        got=$(j ".numa.nodes[] | select(.id == $id) | .cpus")
        [ "$got" = "$(cat "$n/cpulist")" ] && ok "node $id: CPUs $got" || bad "node $id: CPUs \"$got\", /sys says $(cat "$n/cpulist")"
    done
    [ "$(j '.numa.nodes | length')" = "$nodes" ] && ok "$nodes NUMA node(s)" || bad "nodes: $(j '.numa.nodes | length'), /sys has $nodes"
    thp=$(sel /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)
    [ "$(j '.knobs.thp.enabled // ""')" = "$thp" ] && ok "THP enabled: $thp" || bad "THP enabled: $(j .knobs.thp.enabled), /sys says $thp"
    ksm=$(cat /sys/kernel/mm/ksm/run 2>/dev/null)
    [ "$(j '.knobs.ksm.run // ""')" = "$ksm" ] && ok "KSM run: $ksm" || bad "KSM run: $(j .knobs.ksm.run), /sys says $ksm"
    for d in /sys/block/*; do
        name=${d##*/}
        want=$(sel "$d/queue/scheduler" 2>/dev/null)
        got=$(j ".disks[] | select(.name == \"$name\") | .scheduler // \"\"")
        [ "$got" = "$want" ] || bad "$name: scheduler \"$got\", /sys says \"$want\""
    done
    [ "$(j '[.disks[].name] | join(" ")')" = "$(cd /sys/block && echo * | tr ' ' '\n' | sort -V | xargs)" ] &&
        ok "disks and their schedulers: $(j '[.disks[] | "\(.name)=\(.scheduler)"] | join(" ")')" || bad "disks: $(j '[.disks[].name] | join(" ")')"
    for dev in kvm:/dev/kvm tun:/dev/net/tun; do
        key=${dev%%:*} path=${dev#*:}
        want=false
        [ -e "$path" ] && want=true
        [ "$(j ".devices.$key.present")" = $want ] && ok "$path present: $want" || bad "$path present: $(j ".devices.$key.present"), want $want"
    done
fi
"$bin" host > "$tmp/real.txt" 2> "$tmp/err"
rc=$?
if [ $rc = 0 ] && grep -q '^NODE  CPUS  MEMORY  FREE' "$tmp/real.txt" && grep -q '^0  ' "$tmp/real.txt"; then
    ok "the human form shows the node table"
else
    bad "kvmlaunch host: exit $rc, stderr: $(cat "$tmp/err"), output:"
    cat "$tmp/real.txt"
fi
finish
