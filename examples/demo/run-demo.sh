#!/usr/bin/env bash
# `make demo`: writes the demo VM's vm.ini with this checkout's paths and
# boots it through kvmlaunch: QEMU paused, vCPUs pinned, privileges dropped,
# the guest's console on stdout, kvmlaunch's exit code the guest's own.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$top/build"
ini="$top/build/demo.ini"
[ -f "$top/build/demo-disk.qcow2" ] || qemu-img create -q -f qcow2 "$top/build/demo-disk.qcow2" 16M
chmod 0644 "$top/build/demo-disk.qcow2"
sed "s|@GUEST@|$top/tests/guest/out|g; s|@BUILD@|$top/build|g" "$top/examples/demo/demo.ini.in" > "$ini"
echo "== kvmlaunch check $ini"
"$top/kvmlaunch" check "$ini"
echo
echo "== kvmlaunch --dry-run $ini"
"$top/kvmlaunch" --dry-run "$ini"
echo
echo "== kvmlaunch $ini"
rc=0
"$top/kvmlaunch" "$ini" || rc=$?
echo
if [ $rc -eq 0 ]; then
    echo "The demo VM booted, reported what it saw, and powered off: exit 0."
else
    echo "The demo VM ended with exit code $rc." >&2
fi
exit $rc
