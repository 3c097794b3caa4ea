#!/usr/bin/env bash
# Every section and key of the contract (shared/CONFIG.md) is in the schema
# table, as `kvmlaunch keys` lists it; and docs/KEYS.md and
# man/kvmlaunch.ini.5 are what the table generates now.
set -u
. "$(dirname "$0")/lib.sh"

got=$("$bin" keys --markdown)
if [ "$got" != "$(cat docs/KEYS.md)" ]; then
    bad "docs/KEYS.md is stale: run 'make docs/KEYS.md'"
    diff <(echo "$got") docs/KEYS.md | head -20
else
    ok "docs/KEYS.md matches the schema table"
fi
if ! "$bin" keys --man | cmp -s - man/kvmlaunch.ini.5; then
    bad "man/kvmlaunch.ini.5 is stale: run 'make man/kvmlaunch.ini.5'"
    diff <("$bin" keys --man) man/kvmlaunch.ini.5 | head -20
else
    ok "man/kvmlaunch.ini.5 matches the schema table"
fi

contract=""
for c in ../shared/CONFIG.md shared/CONFIG.md; do [ -f "$c" ] && contract=$c && break; done
if [ -z "$contract" ]; then
    skip "shared/CONFIG.md is not beside the repository: the contract cross-check needs it"
    finish
fi

# "section key" pairs from the contract's tables...
want=$(awk '
    /^## \[/ { s = $2; gsub(/[\[\]]/, "", s); next }
    /^\| *key *\|/ || /^\|---/ { next }
    /^\| / && s != "" {
        split($0, cells, "|"); k = cells[2]; gsub(/`/, "", k)
        n = split(k, keys, ",")
        for (i = 1; i <= n; i++) { gsub(/^ +| +$/, "", keys[i]); if (keys[i] != "") print s, keys[i] }
    }' "$contract" | sort -u)
# ...and from the reference the schema table prints.
have=$("$bin" keys | awk '/^\[/ { s = $1; gsub(/[\[\]]/, "", s); next } /^  [a-z]/ { print s, $1 }' | sort -u)
# ...less the keys whose issues are still open (tests/cli/contract-pending.txt).
pending=$(awk '!/^#/ && NF { print $1, $2 }' tests/cli/contract-pending.txt | sort -u)
missing=$(comm -23 <(echo "$want") <(echo "$have") | comm -23 - <(echo "$pending"))
arrived=$(comm -12 <(echo "$pending") <(echo "$have"))
gone=$(comm -23 <(echo "$pending") <(echo "$want"))
n=$(echo "$want" | wc -l)
n_pending=$(echo "$pending" | grep -c .)
if [ -n "$missing" ]; then
    bad "keys of the contract that the schema lacks (and no open issue in tests/cli/contract-pending.txt brings):"
    echo "$missing"
else
    ok "all $((n - n_pending)) keys of $contract are in the schema; $n_pending wait for their issues ($(awk '!/^#/ && NF { print $3 }' tests/cli/contract-pending.txt | sort -un | tr '\n' ' ' | sed 's/ $//'))"
fi
[ -z "$arrived" ] && ok "no key of contract-pending.txt is in the schema yet" ||
    { bad "keys in the schema by now: take them off tests/cli/contract-pending.txt:"; echo "$arrived"; }
[ -z "$gone" ] && ok "every key of contract-pending.txt is in the contract" ||
    { bad "keys of contract-pending.txt the contract no longer has:"; echo "$gone"; }
[ "$n" -ge 60 ] || bad "only $n keys read from the contract; the table parser is broken"
finish
