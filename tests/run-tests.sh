#!/usr/bin/env bash
# Runs every test program of each build given (build/plain build/asan), from
# the repository root (tests/unit, tests/e2e, tests/cli, tests/cloud), and
# ends with one line: "N passed, N failed, N skipped".
# The programs expected are those of the sources (tests/unit/test_*.c,
# tests/e2e/test_*.c): one that is not built fails. A program or script
# that exits 0 passed, 77 skipped (it says why), anything else failed.
# Skipped counts each skip with its reason: a whole program or script that
# exited 77, and each part of one that could not run here (a cmocka test
# that called skip_because(), a script's `skip`). Both write their reason to
# $KLTEST_SKIP_LOG (tests/helpers/skip.h, tests/cli/lib.sh).
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0
failed_names=() skip_lines=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export KLTEST_SKIP_LOG
KLTEST_SKIP_LOG=$(mktemp /tmp/kltest-skips.XXXXXX) || exit 1
trap 'rm -f "$KLTEST_SKIP_LOG"' EXIT

# run NAME BUILD CMD...: runs one test, counts it and its skips.
run() {
    local name=$1 build=$2 rc n line
    shift 2
    echo "=== $name"
    : > "$KLTEST_SKIP_LOG"
    # Each test's VMs keep their state ([vm] state-dir) in a dir of its own,
    # never the host's /var/lib/kvmlaunch, and never another test's.
    local state
    state=$(mktemp -d /tmp/kltest-state.XXXXXX) && chmod 0755 "$state" || exit 1
    KVMLAUNCH_STATEDIR=$state KVMLAUNCH_BIN="$build/kvmlaunch" "$@"
    rc=$?
    rm -rf "$state"
    n=0
    while IFS= read -r line; do
        skip_lines+=("$name: $line")
        n=$((n + 1))
    done < "$KLTEST_SKIP_LOG"
    if [ $rc -eq 77 ] && [ $n = 0 ]; then skip_lines+=("$name: (it did not say why)"); n=1; fi
    skipped=$((skipped + n))
    if [ $rc -eq 0 ]; then passed=$((passed + 1))
    elif [ $rc -ne 77 ]; then failed=$((failed + 1)); failed_names+=("$name (exit $rc)")
    fi
}

shopt -s nullglob
for build in "$@"; do
    for src in tests/unit/test_*.c tests/e2e/test_*.c; do
        t=$build/${src%.c}
        if [ ! -x "$t" ]; then
            echo "=== $t"
            echo "FAIL: $t is not built (from $src)"
            failed=$((failed + 1)); failed_names+=("$t (not built)")
            continue
        fi
        run "$t" "$build" "$t"
    done
done
# tests/cloud boots a real cloud image: minutes under TCG; it runs in the
# plain build only and says so (a skip) in the ASan build.
for t in tests/cli/test_*.sh tests/cloud/test_*.sh; do
    for build in "$@"; do
        if [ ! -x "$t" ]; then
            failed=$((failed + 1)); failed_names+=("$t (not executable)")
            continue
        fi
        run "$t $build" "$build" "$t"
    done
done
echo
for n in "${skip_lines[@]}"; do echo "SKIPPED: $n"; done
for n in "${failed_names[@]}"; do echo "FAILED: $n"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
