#!/usr/bin/env bash
# docs/QEMU-ARGS.md and tests/golden stay in step: every `code` span of the
# "kvmlaunch" column of its "Options both write" table is a fixed string of
# tests/golden/libvirt-tuned.args (the same VM's command line, which the
# golden test keeps current); and the options docs/TUNING.md explains
# ("QEMU timers and clock") are in the goldens it names.
set -u
. "$(dirname "$0")/lib.sh"
doc=docs/QEMU-ARGS.md golden=tests/golden/libvirt-tuned.args
[ -f "$doc" ] && [ -f "$golden" ] || { bad "missing $doc or $golden"; finish; }
n=0
while IFS= read -r cell; do
    while [[ $cell =~ \`([^\`]+)\` ]]; do
        span=${BASH_REMATCH[1]}
        cell=${cell#*\`"$span"\`}
        n=$((n + 1))
        grep -qF -- "$span" "$golden" || bad "$doc names $span for kvmlaunch; $golden lacks it"
    done
done < <(awk -F'|' '/^## Options both write/ { t = 1; next } /^## / { t = 0 } t && /^\| / && !/^\| topic/ { print $3 }' "$doc")
[ $n -ge 25 ] && ok "$n kvmlaunch options of $doc are in $golden" || bad "only $n options found in $doc's table"
for o in 'base=utc' 'driftfix=slew' 'kvm-pit.lost_tick_policy=delay' 'hpet=off' 'strict=on' 'dump-guest-core=off'; do
    grep -qF -- "$o" tests/golden/clock-localtime-dump.args tests/golden/libvirt-tuned.args && grep -qF -- "$o" docs/TUNING.md &&
        ok "$o: in a golden and explained in docs/TUNING.md" || bad "$o: missing from the goldens or docs/TUNING.md"
done
# Under TCG the KVM-only policies are left out.
for o in 'driftfix' 'kvm-pit' 'hpet=off'; do
    grep -qF -- "$o" tests/golden/accel-tcg.args && bad "accel-tcg.args has $o (KVM only)" || ok "TCG: no $o"
done
finish
