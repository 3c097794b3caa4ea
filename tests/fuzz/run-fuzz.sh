#!/usr/bin/env bash
# Runs libFuzzer harnesses for a set time each (`make fuzz`, and `make check`
# with 60 s): tests/fuzz/run-fuzz.sh [--parallel] SECONDS build/fuzz/fuzz_NAME...
#
# Each harness starts from a scratch copy of tests/fuzz/corpus/NAME and
# tests/fuzz/regress/NAME under build/fuzz/work/NAME/ (what it learns stays
# there: the committed corpus only grows by hand). A crash, leak, timeout or
# out-of-memory is copied into tests/fuzz/regress/NAME/, where the replay test
# (tests/unit/test_fuzz_replay.c) runs it in every build from then on, and
# the run fails. The last lines give, per harness, the executions, the
# corpus before and after, coverage and crashes: the figures of the docs.
set -u
cd "$(dirname "$0")/../.."

parallel=0
if [ "${1:-}" = --parallel ]; then parallel=1; shift; fi
if [ $# -lt 2 ]; then
    echo "usage: $0 [--parallel] SECONDS build/fuzz/fuzz_NAME..." >&2
    exit 2
fi
seconds=$1
shift

# Leaks are bugs here too; a UBSan report stops the run like a crash.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

count_files() { find "$1" -maxdepth 1 -type f | wc -l; }
count_bytes() { find "$1" -maxdepth 1 -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

start() {
    local bin=$1 name work
    name=$(basename "$bin")
    name=${name#fuzz_}
    work=build/fuzz/work/$name
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    for d in tests/fuzz/corpus/$name tests/fuzz/regress/$name; do
        [ -d "$d" ] && find "$d" -maxdepth 1 -type f ! -name README.md -exec cp {} "$work/corpus/" \;
    done
    count_files "$work/corpus" > "$work/seed-files"
    local dict=()
    [ -f "tests/fuzz/fuzz_$name.dict" ] && dict=(-dict="tests/fuzz/fuzz_$name.dict")
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
        -artifact_prefix="$work/artifacts/" "$work/corpus" > "$work/log" 2>&1
    echo $? > "$work/rc"
}

names=()
for bin in "$@"; do
    [ -x "$bin" ] || { echo "$0: $bin is not built (make fuzz-build)" >&2; exit 2; }
    n=$(basename "$bin")
    names+=("${n#fuzz_}")
    echo "fuzz ${n#fuzz_}: $seconds s ($bin)"
    if [ $parallel = 1 ]; then start "$bin" & else start "$bin"; fi
done
wait

failed=0
echo
for name in "${names[@]}"; do
    work=build/fuzz/work/$name
    rc=$(cat "$work/rc" 2>/dev/null || echo 1)
    stat() { sed -n "s/^stat::$1: *//p" "$work/log" | tail -1; }
    execs=$(stat number_of_executed_units)
    # "Done N runs in T second(s)" when it ran its time; a crash stops it early.
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$work/log" | tail -1)
    rate=$(stat average_exec_per_sec)
    cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$work/log" | tail -1 | cut -d' ' -f2)
    # slow-unit-* files are libFuzzer's notes, not failures.
    artifacts=$(find "$work/artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
    if [ "$rc" != 0 ] || [ "$artifacts" != 0 ]; then
        failed=1
        echo "=== fuzz $name FAILED (exit $rc); the end of $work/log:"
        tail -n 40 "$work/log"
        mkdir -p "tests/fuzz/regress/$name"
        for a in "$work"/artifacts/crash-* "$work"/artifacts/leak-* "$work"/artifacts/timeout-* "$work"/artifacts/oom-*; do
            [ -f "$a" ] || continue
            known=
            for k in "tests/fuzz/regress/$name"/*; do cmp -s "$a" "$k" && known=$k; done
            if [ -n "$known" ]; then echo "fuzz $name: fails on $known again"; continue; fi
            cp "$a" "tests/fuzz/regress/$name/"
            echo "fuzz $name: kept tests/fuzz/regress/$name/$(basename "$a") (commit it with the fix)"
        done
    fi
    printf 'fuzz %-7s %s executions in %s s (%s/s), corpus %s -> %s inputs (%s bytes), cov %s, ft %s, crashes %s\n' \
        "$name" "${execs:-?}" "${took:-?}" "${rate:-?}" "$(cat "$work/seed-files")" "$(count_files "$work/corpus")" \
        "$(count_bytes "$work/corpus")" "${cov:-?}" "${ft:-?}" "$artifacts"
done
exit $failed
