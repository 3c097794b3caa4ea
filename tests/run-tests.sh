#!/usr/bin/env bash
# Runs every test program of each build given (build/plain build/asan), from
# the repository root, and ends with one line: "N passed, N failed, N skipped".
# A program that exits 77 skipped (it says why); any other non-zero failed.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0
failed_names=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for build in "$@"; do
    for t in "$build"/tests/unit/test_* "$build"/tests/e2e/test_*; do
        [ -x "$t" ] || continue
        case "$t" in *.o) continue ;; esac
        echo "=== $t"
        KVMLAUNCH_BIN="$build/kvmlaunch" "$t"
        rc=$?
        if [ $rc -eq 0 ]; then passed=$((passed + 1))
        elif [ $rc -eq 77 ]; then skipped=$((skipped + 1))
        else failed=$((failed + 1)); failed_names+=("$t (exit $rc)")
        fi
    done
done
for t in tests/cli/test_*.sh; do
    [ -x "$t" ] || continue
    for build in "$@"; do
        echo "=== $t $build"
        KVMLAUNCH_BIN="$build/kvmlaunch" "$t"
        rc=$?
        if [ $rc -eq 0 ]; then passed=$((passed + 1))
        elif [ $rc -eq 77 ]; then skipped=$((skipped + 1))
        else failed=$((failed + 1)); failed_names+=("$t $build (exit $rc)")
        fi
    done
done
echo
for n in "${failed_names[@]}"; do echo "FAILED: $n"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
