#!/usr/bin/env bash
# The README's example is valid, and the dry-run path has no memory errors
# or leaks under valgrind (on the plain build; the ASan build checks itself).
set -u
bin=${KVMLAUNCH_BIN:-./kvmlaunch}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

awk '/^```ini$/ { on = 1; next } /^```$/ { on = 0 } on' README.md > "$tmp/readme.ini"
[ -s "$tmp/readme.ini" ] || { echo "FAIL: no \`\`\`ini block in README.md"; exit 1; }
if "$bin" --dry-run "$tmp/readme.ini" > "$tmp/out" 2>&1; then
    echo "ok: the README example passes --dry-run"
else
    echo "FAIL: the README example: $(cat "$tmp/out")"; fail=1
fi

case "$bin" in *asan*) echo "ok: valgrind part left to the plain build"; exit $fail ;; esac
if ! command -v valgrind >/dev/null; then echo "SKIP: valgrind is not installed"; exit 77; fi
printf '[vm]\nname = x\nmemory = 1X\nvcpus = 0\n[cpu]\npin = 9-1\n[disk "a"]\n' > "$tmp/bad.ini"
for ini in "$tmp/readme.ini" examples/*.ini "$tmp/bad.ini"; do
    [ -f "$ini" ] || continue
    if valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
        --error-exitcode=99 "$bin" --dry-run "$ini" > "$tmp/vg" 2>&1; [ $? -eq 99 ]; then
        echo "FAIL: valgrind on --dry-run $ini:"; grep '==' "$tmp/vg" | head -20; fail=1
    else
        echo "ok: valgrind clean on --dry-run $ini"
    fi
done
exit $fail
