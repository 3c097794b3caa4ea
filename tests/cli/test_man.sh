#!/usr/bin/env bash
# The man pages render without a groff warning, kvmlaunch.ini(5) lists every
# key of `kvmlaunch keys` under its section (and no key the table lacks), and
# kvmlaunch(1) names every command and option of `kvmlaunch --help`.
# (That man/kvmlaunch.ini.5 is what `kvmlaunch keys --man` prints now is
# checked by test_contract_keys.sh.)
set -u
. "$(dirname "$0")/lib.sh"
need_cmd man groff -- make deps installs man-db and groff-base
# The pages do not depend on the build: the plain one checks them.
asan_build && skip_all "this is the ASan build: the man pages do not depend on the build, the plain build checks them"
make_tmp

# ASCII output, a wide line: one key a line, nothing hyphenated.
for page in man/kvmlaunch.1 man/kvmlaunch.ini.5; do
    out=$tmp/${page##*/}
    LC_ALL=C MANWIDTH=250 MANPAGER=cat man -l --warnings=all "$page" > "$out.raw" 2> "$out.err"
    col -bx < "$out.raw" > "$out"
    warnings=$(cat "$out.err"; groff -man -ww -z "$page" 2>&1)
    if [ -z "$warnings" ] && [ -s "$out" ]; then ok "$page renders without warnings"; else bad "$page: ${warnings:-no output}"; fi
done
render() { cat "$tmp/${1##*/}"; }

# "[section] key" from the rendered page (".SS [disk "ID"]", then ".TP key = ...")...
have=$(render man/kvmlaunch.ini.5 | awk '
    /^[A-Z]/ { in_keys = ($0 == "SECTIONS AND KEYS"); next }
    !in_keys { next }
    /^   \[/ { s = $1; gsub(/[\[\]]/, "", s); next }
    /^       [a-z][a-z0-9.N-]* = / { print s, $1 }' | sort -u)
# ...and from the table.
want=$("$bin" keys | awk '/^\[/ { s = $1; gsub(/[\[\]]/, "", s); next } /^  [a-z]/ { print s, $1 }' | sort -u)
n=$(echo "$want" | grep -c .)
if [ "$have" = "$want" ]; then
    ok "kvmlaunch.ini(5) lists all $n keys, each under its section"
else
    bad "kvmlaunch.ini(5) and 'kvmlaunch keys' differ (< page, > table):"
    diff <(echo "$have") <(echo "$want") | grep '^[<>]' | head -20
fi
[ "$n" -ge 60 ] || bad "only $n keys read from 'kvmlaunch keys'"

page1=$(render man/kvmlaunch.1)
for word in run --dry-run check host status stop console cleanup --all list keys --markdown --man --json metrics --output qmp balloon pin \
    -n -q --quiet -v --verbose -h --help -V --version; do
    grep -qe "$word" <<<"$page1" || bad "kvmlaunch(1) does not mention $word"
done
for word in $("$bin" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    grep -qe "$word" <<<"$page1" || bad "kvmlaunch(1) lacks $word, which --help shows"
done
for code in 0 1 2 124; do
    grep -qE "^       $code +[A-Z]" <<<"$page1" || bad "kvmlaunch(1) EXIT STATUS lacks $code"
done
for var in KVMLAUNCH_RUNDIR KVMLAUNCH_ROOT KVMLAUNCH_VIRTIOFSD NOTIFY_SOCKET JOURNAL_STREAM; do
    grep -q "$var" <<<"$page1" || bad "kvmlaunch(1) ENVIRONMENT lacks $var"
done
[ $fail -eq 0 ] && ok "kvmlaunch(1) has every command, option, exit code and variable"
finish
