#!/usr/bin/env bash
# `make demo`: writes the demo VM's vm.ini with this checkout's paths and
# hands it to kvmlaunch.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$top/build"
ini="$top/build/demo.ini"
sed "s|@GUEST@|$top/tests/guest/out|g" "$top/examples/demo/demo.ini.in" > "$ini"
echo "== kvmlaunch --dry-run $ini"
"$top/kvmlaunch" --dry-run "$ini"
echo
echo "== kvmlaunch $ini"
echo "Not yet: this version builds and checks the command line above but does not"
echo "start QEMU itself; starting, pinning and supervising the VM come with the"
echo "run issue. The command line above is what it will run."
