#!/usr/bin/env bash
# The bad-input corpus (issue 7, item 2): every tests/bad/*.ini, and the
# files that cannot be committed (10 MB, a directory, a FIFO, a symlink to
# /dev/zero, an unreadable file, ...), through the real run path (as root),
# `--dry-run` and `check`. Each must be refused: exit 2 (check and --dry-run:
# 2 for a load error, 1 with a FAIL line where the host refuses it), stdout empty on exit
# 2, no control character on stderr, stderr matching the case's `# expect:`
# regex, every error line naming FILE:LINE (or FILE where the file as a whole
# is the problem), at most 50 of them, and nothing left on the host.
#
# Leftovers are looked for after every case (runtime dir, cgroups, THP, KSM,
# zone reclaim, huge pages, I/O schedulers; processes and interfaces, a fork
# each, every 10 cases), and once more over the whole run. Only
# what our cases could create counts (VM names klbad-*, taps kl-klbad*, the
# interface names the cases write): other tests run on this host at the same
# time. A knob that moves during a case to a value the case does not ask for
# was moved by someone else: it is counted in a note, not a failure.
#
# Case header (tests/bad/README.md): line 1 `# what it tests`, line 2
# `# expect: REGEX` (ERE; FILE stands for the case's path), then optionally
# `# expect-check: 1`, `# expect-dry-run: 1` (refused by the host checks:
# --dry-run prints the plan, then the FAIL lines), `# expect-not: REGEX` and
# `# skip-if-exists: PATH` (pin = 99 is no error on a host with CPU 99).
#
# The plain build runs every case in all three modes. A load error takes the
# same path in all three (the file is loaded first and nothing else runs), and
# tests/unit/test_bad_corpus loads every case in one process under ASan, so the
# ASan build of kvmlaunch, 5-10 times slower to start, runs every case the
# loader accepts in all three modes, one load error in five and each made
# file in one mode, in turn. Cases run in three lanes, each with a runtime dir
# of its own.
set -u
export LC_ALL=C
. "$(dirname "$0")/lib.sh"
need_root "the real run path, and cases that open files as QEMU's user"
[ -x "$bin" ] || { bad "no kvmlaunch binary at $bin"; finish; }
all_modes=1
asan_build && all_modes=0

make_tmp --rundir /tmp/kl-badinputs.XXXXXX
cases=0 runs=0 effects=0
failed_cases=()
t_start=$EPOCHREALTIME
shopt -s nullglob dotglob

PROC_PAT='klba[d]-'   # the brackets keep pgrep from matching another pgrep
IFACE_PAT='^(kl-klbad|klbad|br,script)'
procs() { pgrep -f "$PROC_PAT" | sort; }
ifaces() { ip -o link show 2>/dev/null | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort; }
# Builtins only from here to the end of the case loop: forks are what costs.
cgroups() { local c; CG=(); for c in "${cgroup_bases[@]}"; do CG+=("$c"/klbad-*); done; }
rundir_left() { LEFT=("$KVMLAUNCH_RUNDIR"/*); }
knob_files=(/sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag
    /sys/kernel/mm/ksm/run /sys/kernel/mm/ksm/pages_to_scan /sys/kernel/mm/ksm/sleep_millisecs /sys/kernel/mm/ksm/merge_across_nodes
    /proc/sys/vm/zone_reclaim_mode /proc/sys/vm/nr_hugepages /sys/kernel/mm/hugepages/*/nr_hugepages
    /sys/devices/system/node/node*/hugepages/*/nr_hugepages /sys/block/*/queue/scheduler)
knobs() { # fills KNOB[path]=value
    local f v
    KNOB=()
    for f in "${knob_files[@]}"; do [ -r "$f" ] && { read -r v < "$f"; KNOB[$f]=$v; }; done
}
declare -A KNOB KNOB0 moved moved_n
# knob_asked KNOB FILE VALUE: does the case ask for the value the knob now
# has? Every case is refused, so a knob kvmlaunch wrongly changed would hold
# what the file asks; a knob that moved to anything else was moved by
# another process on this shared host (another test), not by the case.
knob_asked() {
    local key want
    case "$1" in
    */transparent_hugepage/enabled) key='thp' ;;
    */transparent_hugepage/defrag) key='thp-defrag' ;;
    */ksm/run) key='ksm' ;;
    */ksm/pages_to_scan) key='ksm-pages-to-scan' ;;
    */ksm/sleep_millisecs) key='ksm-sleep-ms' ;;
    */ksm/merge_across_nodes) key='ksm-merge-across-nodes' ;;
    */zone_reclaim_mode) key='zone-reclaim' ;;
    *nr_hugepages) grep -qa 'hugepages' "$2"; return ;;   # the count follows memory: any huge page case
    */queue/scheduler) key='scheduler' ;;
    *) return 0 ;;
    esac
    want=$(sed -n "s/^[[:space:]]*$key[[:space:]]*=[[:space:]]*\([^[:space:]#;]*\).*/\1/p" "$2" 2>/dev/null | head -1)
    [ -n "$want" ] || return 1
    case $want in on | yes | true) want=1 ;; off | no | false) want=0 ;; noop) want=none ;; deadline) want=mq-deadline ;; cfq) want=bfq ;; esac
    # "always [madvise] never": the word in brackets; else the whole value.
    local now=$3
    [[ $now == *\[*\]* ]] && { now=${now#*[}; now=${now%%]*}; }
    [ "$now" = "$want" ]
}

procs0=$(procs)
ifaces0=$(ifaces)
cgroups; cg0=${#CG[@]}
knobs; for k in "${!KNOB[@]}"; do KNOB0[$k]=${KNOB[$k]}; done
[ $cg0 = 0 ] || echo "note: cgroups named klbad-* exist before the run: ${CG[*]}"

# A watchdog: a case the loader wrongly accepts could start a VM that runs
# for ever; past 30 s its kvmlaunch is killed (and the case fails).
( while sleep 2; do
      for c in "$tmp"/current.*; do
          read -r pid since < "$c" 2>/dev/null || continue
          [ -n "${pid:-}" ] && [ $((EPOCHSECONDS - since)) -gt 30 ] && kill -9 "$pid" 2>/dev/null
      done
  done ) &
watchdog=$!

cleanup_cases() {
    kill "$watchdog" 2>/dev/null
    # Only what our cases started: processes that were not there before.
    for p in $(comm -13 <(echo "$procs0") <(procs)); do kill -9 "$p" 2>/dev/null; done
    for d in "$tmp"/run*/klbad-*; do [ -d "$d" ] && KVMLAUNCH_RUNDIR=${d%/*} "$bin" cleanup "${d##*/}" >/dev/null 2>&1; done
}
defer cleanup_cases

bad_case() { # CASE MESSAGE...
    bad "$1: ${*:2}"
    [[ " ${failed_cases[*]} " == *" $1 "* ]] || failed_cases+=("$1")
}

# side_effects CASE FILE FULL: the host against the state before the case.
# FULL=1: processes and interfaces too (a fork each).
side_effects() {
    local name=$1 file=$2 full=$3 window=${4:-$1} k
    rundir_left
    if [ ${#LEFT[@]} -gt 0 ]; then
        bad_case "$name" "left in the runtime dir: ${LEFT[*]}"
        effects=$((effects + 1))
        for k in "${LEFT[@]}"; do [ -d "$k" ] && "$bin" cleanup "${k##*/}" >/dev/null 2>&1; done
        rm -rf "${KVMLAUNCH_RUNDIR:?}"/*
    fi
    cgroups
    if [ ${#CG[@]} -gt $cg0 ]; then bad_case "$name" "left cgroups: ${CG[*]}"; effects=$((effects + 1)); cg0=${#CG[@]}; fi
    knobs
    for k in "${!KNOB[@]}"; do
        [ "${KNOB[$k]}" = "${KNOB0[$k]-}" ] && continue
        if [ -f "$file" ] && knob_asked "$k" "$file" "${KNOB[$k]}"; then
            bad_case "$name" "changed $k: ${KNOB0[$k]-} -> ${KNOB[$k]}, as the case asks"
            effects=$((effects + 1))
        else
            [ -n "${moved[$k]-}" ] || moved[$k]="first during $name"
            moved_n[$k]=$(( ${moved_n[$k]-0} + 1 ))
        fi
        KNOB0[$k]=${KNOB[$k]}
    done
    [ "$full" = 1 ] || return 0
    local now new
    new=$(comm -13 <(echo "$procs0") <(procs))
    if [ -n "$new" ]; then
        # Another lane's kvmlaunch may be between its start and its end: what
        # is left lives on.
        sleep 1
        local p left=
        for p in $new; do [ -r "/proc/$p/cmdline" ] && left+="$p "; done
        new=$(comm -12 <(tr ' ' '\n' <<<"$left" | sort) <(procs))
    fi
    if [ -n "$new" ]; then
        bad_case "$name" "left processes after one of $window: $(for p in $new; do { tr '\0' ' ' < "/proc/$p/cmdline"; } 2>/dev/null | cut -c1-160; echo; done)"
        effects=$((effects + 1))
        for p in $new; do kill -9 "$p" 2>/dev/null; done
    fi
    new=$(comm -13 <(echo "$ifaces0") <(ifaces) | grep -E "$IFACE_PAT")
    # As above: what is left lives on.
    [ -n "$new" ] && { sleep 1; new=$(comm -12 <(echo "$new") <(ifaces)); }
    [ -n "$new" ] && { bad_case "$name" "left interfaces after one of $window: $new"; effects=$((effects + 1)); }
    return 0
}

# one CASE FILE MODE WANT_RC EXPECT [EXPECT_NOT] [WHOLE_FILE]: runs one mode
# and checks its exit status, stdout and stderr. WHOLE_FILE=1: messages may
# name the file without a line.
one() {
    local name=$1 file=$2 mode=$3 want=$4 expect=$5 expect_not=${6:-} whole=${7:-0} rc line msg matched=0 n=0 stray=
    local out=$tmp/out.$lane err=$tmp/err.$lane
    case $mode in
    run) "$bin" "$file" >"$out" 2>"$err" & ;;
    dry-run) "$bin" --dry-run "$file" >"$out" 2>"$err" & ;;
    check) "$bin" check "$file" >"$out" 2>"$err" & ;;
    esac
    echo "$! $EPOCHSECONDS" > "$tmp/current.$lane"
    wait $!
    rc=$?
    : > "$tmp/current.$lane"
    runs=$((runs + 1))
    if [ "$rc" != "$want" ]; then
        bad_case "$name" "$mode: exit $rc, expected $want: $(head -c 300 "$err" | tr '\n' '|')"
        return
    fi
    [ "$want" = 0 ] && return
    # Exit 1 (the host refuses the file): check prints FAIL lines on
    # stdout; --dry-run prints the plan and the command line on stdout,
    # then the same FAIL lines on stderr.
    local src=$err fail_lines=0
    if [ "$mode" = check ] && [ "$want" = 1 ]; then
        src=$out fail_lines=1
    elif [ "$mode" = dry-run ] && [ "$want" = 1 ]; then
        fail_lines=1
        grep -q '^# QEMU command line' "$out" || bad_case "$name" "dry-run: exit 1 without the plan and the command line on stdout: $(head -c 200 "$out" | tr '\n' '|')"
    elif [ -s "$out" ]; then
        bad_case "$name" "$mode: exit $want but stdout is not empty: $(head -c 200 "$out" | tr '\n' '|')"
    fi
    local ctl=$'[\x01-\x08\x0b-\x1f\x7f]'
    # The C1 controls (U+0080..U+009F) and bytes that are no UTF-8 reach a
    # terminal as raw as C0 would: messages carry them as \xNN.
    iconv -f UTF-8 -t UTF-8 "$src" > /dev/null 2>&1 || bad_case "$name" "$mode: invalid UTF-8 in a message: $(head -c 200 "$src" | od -c | head -3 | tr '\n' ' ')"
    LC_ALL=C grep -aq $'\xc2[\x80-\x9f]' "$src" && bad_case "$name" "$mode: a C1 control character in a message"
    while IFS= read -r line || [ -n "$line" ]; do
        [[ $line =~ $ctl ]] && bad_case "$name" "$mode: a control character in a message: ${line//$ctl/?}"
        if [ $fail_lines = 1 ]; then
            [[ $line == "FAIL "* ]] || continue
            msg=${line#FAIL }; msg=${msg#"${msg%%[! ]*}"}; msg=${msg#*[ ]}; msg=${msg#"${msg%%[! ]*}"}
        else
            case $line in "warning: "* | "note: "*) continue ;; esac
            msg=$line
        fi
        msg=${msg//"$file"/FILE}
        [[ $msg =~ $expect ]] && matched=1
        [ -n "$expect_not" ] && [[ $msg =~ $expect_not ]] && bad_case "$name" "$mode: a message matches /$expect_not/, which it must not: $msg"
        if [[ $msg == FILE:* ]]; then
            n=$((n + 1))
            [[ $msg =~ ^FILE:[0-9]+:\  ]] || { [ "$whole" = 1 ] && [[ $msg == "FILE: "* ]]; } || stray=$msg
        elif [ "$msg" != "stopped after 50 messages; fix these first" ]; then
            stray=$msg
        fi
    done < "$src"
    [ $matched = 1 ] || bad_case "$name" "$mode: no message matches /$expect/: $(head -c 400 "$src" | tr '\n' '|')"
    [ -z "$stray" ] || bad_case "$name" "$mode: a message that names no FILE:LINE: $stray"
    [ $n -le 50 ] || bad_case "$name" "$mode: $n messages, more than ERRLIST_MAX (50)"
    [ $fail_lines = 1 ] && [ $n = 0 ] && bad_case "$name" "$mode: exit 1 without a FAIL line naming FILE:LINE"
    return 0
}

# read_header FILE: what, expect, want_check, want_dry, expect_not, skip_if.
read_header() {
    what= expect= want_check= want_dry= expect_not= skip_if=
    local line n=0
    while [ $n -lt 8 ] && IFS= read -r line; do
        n=$((n + 1))
        line=${line#$'\xef\xbb\xbf'}; line=${line#$'\xef\xbb\xbf'}
        case $line in
        "# expect: "*) expect=${line#"# expect: "} ;;
        "# expect-check: "*) want_check=${line#"# expect-check: "} ;;
        "# expect-dry-run: "*) want_dry=${line#"# expect-dry-run: "} ;;
        "# expect-not: "*) expect_not=${line#"# expect-not: "} ;;
        "# skip-if-exists: "*) skip_if=${line#"# skip-if-exists: "} ;;
        "# "*) [ $n = 1 ] && what=${line#"# "} ;;
        esac
    done < "$1"
}

# --- the committed corpus, in two lanes (each with a runtime dir of its own)
corpus=(tests/bad/*.ini)
[ ${#corpus[@]} -ge 100 ] || bad_case corpus "only ${#corpus[@]} cases in tests/bad (at least 100)"
for f in tests/bad/*; do
    case "$f" in *.ini | tests/bad/README.md | tests/bad/.gitattributes) ;; *) bad_case corpus "$f: neither a case (NAME.ini) nor the README" ;; esac
done
LANES=${KLBAD_LANES:-3}
run_lane() { # LANE: the cases i with i % LANES = LANE; prints FAIL lines, notes, then "STATS ..."
    lane=$1
    export KVMLAUNCH_RUNDIR=$tmp/run$lane
    local i turn=0 since=()
    for ((i = lane; i < ${#corpus[@]}; i += LANES)); do
        file=${corpus[i]}
        name=${file##*/}; name=${name%.ini}
        read_header "$file" 2>/dev/null
        if [ -z "$what" ] || [ -z "$expect" ]; then
            bad_case "$name" "the header lacks '# what it tests' and '# expect: REGEX' (tests/bad/README.md)"
            continue
        fi
        if [ -n "$skip_if" ] && [ -e "$skip_if" ]; then
            skip "$name not run: this host has $skip_if"
            continue
        fi
        host=0
        [ -n "$want_check$want_dry" ] && host=1
        if [ $all_modes = 1 ] || [ $host = 1 ]; then
            modes=(run dry-run check)
        elif [ $((turn++ % 5)) = 0 ]; then
            modes=(run dry-run check)
            modes=("${modes[$(( (turn / 5) % 3 ))]}")
        else
            continue
        fi
        cases=$((cases + 1))
        for mode in "${modes[@]}"; do
            case $mode in run) want=2 ;; dry-run) want=${want_dry:-2} ;; check) want=${want_check:-2} ;; esac
            one "$name" "$file" "$mode" "$want" "$expect" "$expect_not"
        done
        since+=("$name")
        # Processes and interfaces cost a fork each: every 10 cases, naming those 10.
        if [ ${#since[@]} -ge 10 ] || [ $((i + LANES)) -ge ${#corpus[@]} ]; then
            side_effects "$name" "$file" 1 "${since[*]}"
            since=()
        else
            side_effects "$name" "$file" 0
        fi
    done
    for k in "${!moved[@]}"; do echo "note: $k changed ${moved_n[$k]} times (${moved[$k]}) to values no case asks for: another process's doing"; done
    echo "STATS $cases $runs $effects $fail ${failed_cases[*]}"
}
for ((l = 0; l < LANES; l++)); do run_lane $l > "$tmp/lane$l.log" 2>&1 & lanes[l]=$!; done
for ((l = 0; l < LANES; l++)); do
    wait "${lanes[l]}"
    grep -q '^STATS ' "$tmp/lane$l.log" || bad_case corpus "lane $l did not finish: $(tail -3 "$tmp/lane$l.log")"
    while IFS= read -r line; do
        if [[ $line == "STATS "* ]]; then
            read -r _ c r e f names <<<"$line"
            cases=$((cases + c)) runs=$((runs + r)) effects=$((effects + e))
            [ "$f" = 1 ] && fail=1 && failed_cases+=($names)
        else
            echo "$line"
            # The lane's counts, in this shell.
            case $line in "ok: "*) n_ok=$((n_ok + 1)) ;; "FAIL: "*) n_bad=$((n_bad + 1)) ;; "skip: "*) n_skip=$((n_skip + 1)) ;; esac
        fi
    done < "$tmp/lane$l.log"
done
export KVMLAUNCH_RUNDIR=$tmp/run
lane=main

# --- files that cannot be committed: made here
gen=$tmp/gen
mkdir -p "$gen"
gen_modes() { # the modes for a made file: all three, or one in turn under ASan
    modes=(run dry-run check)
    [ $all_modes = 1 ] || modes=("${modes[$((gturn++ % 3))]}")
}
gturn=0
whole() { # NAME PATH EXPECT: refused (exit 2), the message naming the file
    cases=$((cases + 1))
    gen_modes
    for mode in "${modes[@]}"; do one "gen-$1" "$2" "$mode" 2 "$3" "" 1; done
    side_effects "gen-$1" /dev/null 0
}
mkdir "$gen/a-directory.ini"
whole directory "$gen/a-directory.ini" '^FILE: expected a regular file, found a directory$'
mkfifo "$gen/a-fifo.ini"
whole fifo "$gen/a-fifo.ini" '^FILE: expected a regular file, found a FIFO$'
ln -s /dev/zero "$gen/zero.ini"
whole symlink-dev-zero "$gen/zero.ini" '^FILE: expected a regular file, found a character device$'
ln -s /dev/null "$gen/null.ini"
whole symlink-dev-null "$gen/null.ini" '^FILE: expected a regular file, found a character device$'
ln -s "$gen/nowhere.ini" "$gen/dangling.ini"
whole dangling-symlink "$gen/dangling.ini" '^FILE: cannot open the VM definition: No such file or directory$'
ln -s "$gen/loop-b.ini" "$gen/loop-a.ini"; ln -s "$gen/loop-a.ini" "$gen/loop-b.ini"
whole symlink-loop "$gen/loop-a.ini" '^FILE: cannot open the VM definition: Too many levels of symbolic links$'
whole missing "$gen/missing.ini" '^FILE: cannot open the VM definition: No such file or directory$'
: > "$gen/empty.ini"
whole not-a-directory "$gen/empty.ini/vm.ini" '^FILE: cannot open the VM definition: Not a directory$'
whole empty "$gen/empty.ini" '^FILE:1: \[vm\]: required section missing'
truncate -s 17M "$gen/sparse-17M.ini"
whole over-16MiB "$gen/sparse-17M.ini" '^FILE: expected a VM definition of at most 16 MiB, found 17825792 bytes$'
# A serial log that is a symlink (the checks never follow it; a regression
# would only write into this test's own file), in a directory of the VM's
# user (the log is opened as that user: $gen is root's).
sgen=$(mktemp -d /tmp/kl-badserial.XXXXXX) && defer rm -rf "$sgen" && chown nobody "$sgen"
: > "$sgen/serial-target.log"
ln -s "$sgen/serial-target.log" "$sgen/serial-link.log"
printf '[vm]\nname = klbad-gen-serial-symlink\nmemory = 64M\nvcpus = 1\nuser = nobody\nserial = file:%s\n' "$sgen/serial-link.log" > "$gen/serial-symlink.ini"
cases=$((cases + 1))
for mode in run dry-run check; do
    case $mode in run) want=2 ;; dry-run) want=1 ;; check) want=1 ;; esac
    one gen-serial-symlink "$gen/serial-symlink.ini" "$mode" "$want" \
        "^FILE:6: \[vm\] serial: expected a regular file \(or none: it is created\), found a symbolic link at $sgen/serial-link.log\$"
done
side_effects gen-serial-symlink "$gen/serial-symlink.ini" 1
[ -s "$sgen/serial-target.log" ] && bad_case gen-serial-symlink "the guest wrote through the symlink: $(head -c 100 "$sgen/serial-target.log")"

# Unreadable: root reads any file, so this one runs as root without the
# capabilities that bypass file permissions.
printf '[vm]\nname = klbad-unreadable\nmemory = 64M\nvcpus = 1\nuser = nobody\n' > "$gen/unreadable.ini"
chmod 000 "$gen/unreadable.ini"
if command -v setpriv >/dev/null; then
    cases=$((cases + 1))
    gen_modes
    for mode in "${modes[@]}"; do
        case $mode in run) args=("$gen/unreadable.ini") ;; dry-run) args=(--dry-run "$gen/unreadable.ini") ;; check) args=(check "$gen/unreadable.ini") ;; esac
        timeout -k 5 30 setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-dac_override,-dac_read_search \
            "$bin" "${args[@]}" >"$tmp/out" 2>"$tmp/err"
        rc=$?; runs=$((runs + 1))
        if [ $rc = 2 ] && [ ! -s "$tmp/out" ] && grep -qx "$gen/unreadable.ini: cannot open the VM definition: Permission denied" "$tmp/err"; then :
        else bad_case gen-unreadable "$mode: exit $rc: $(head -c 300 "$tmp/err")"; fi
    done
    side_effects gen-unreadable /dev/null 0
else
    skip "setpriv is not installed: the unreadable-file case is not run"
fi

# 10 MB: refused quickly (< 2 s), at most 50 messages.
big() { # NAME COMMAND EXPECT
    local name=$1 file=$gen/$1.ini expect=$3 t0 ms
    eval "$2" > "$file"
    cases=$((cases + 1))
    t0=$EPOCHREALTIME
    one "gen-$name" "$file" run 2 "$expect" "" 1
    ms=$(( (${EPOCHREALTIME/./} - ${t0/./}) / 1000 ))
    [ $ms -lt 2000 ] || bad_case "gen-$name" "took ${ms} ms to refuse a $(stat -c %s "$file")-byte file (limit 2000 ms)"
    if [ $all_modes = 1 ]; then
        one "gen-$name" "$file" dry-run 2 "$expect" "" 1
        one "gen-$name" "$file" check 2 "$expect" "" 1
    fi
    side_effects "gen-$name" /dev/null 0
    ok "$name: $(stat -c %s "$file") bytes refused in ${ms} ms"
}
big 10MB-junk "{ echo '[vm]'; yes 'this line is neither a key nor a header' | head -c 10485760; }" '^stopped after 50 messages; fix these first$'
big 10MB-comments "{ printf '[vm]\nname = klbad-big\nmemory = 64M\nvcpus = 1\nuser = nobody\n'; yes '# a comment, over and over, to fill ten megabytes' | head -c 10485760; echo; echo 'vcpus = 2'; }" \
    '^FILE:[0-9]{6}: \[vm\] vcpus: duplicate key, first set on line 4$'
big 10MB-one-line "head -c 10485760 /dev/zero | tr '\\0' 'x'" '^FILE:1: expected lines of at most 198 bytes, found 10485760'
big 10MB-sections "{ printf '[vm]\nname = klbad-big\nmemory = 64M\nvcpus = 1\nuser = nobody\n'; seq 1 2000000 | sed 's/.*/[disk \"d&\"]/' | head -c 10485760; echo; }" \
    '^FILE:[0-9]+: \[disk "d65"\]: expected at most 64 \[disk\] sections, found more$'
big 10MB-continuation "{ printf '[vm]\nname = klbad-big\nmemory = 64M\nvcpus = 1\nuser = nobody\nkernel = /tmp/vmlinuz\nappend = a\n'; yes '    console=ttyS0 quiet' | head -c 10485760; }" \
    '^FILE:[0-9]+: \[vm\] append: expected at most 16384 bytes in all, found more with this line'

# --- the whole run: nothing new of ours on the host
new=$(comm -13 <(echo "$procs0") <(procs))
[ -n "$new" ] && { bad_case whole-run "processes left at the end: $new"; effects=$((effects + 1)); }
cgroups; [ ${#CG[@]} -le $cg0 ] || { bad_case whole-run "cgroups at the end: ${CG[*]}"; effects=$((effects + 1)); }
new=$(comm -13 <(echo "$ifaces0") <(ifaces))
if [ -n "$new" ]; then
    grep -E "$IFACE_PAT" <<<"$new" >/dev/null && { bad_case whole-run "interfaces left at the end: $(grep -E "$IFACE_PAT" <<<"$new" | tr '\n' ' ')"; effects=$((effects + 1)); }
    grep -vE "$IFACE_PAT" <<<"$new" | while read -r i; do echo "note: interface $i appeared during the run: not a name our cases use"; done
fi
rundir_left; [ ${#LEFT[@]} = 0 ] || bad_case whole-run "the runtime dir is not empty: ${LEFT[*]}"
for k in "${!moved[@]}"; do echo "note: $k changed ${moved_n[$k]} times (${moved[$k]}) to values no case asks for: another process's doing"; done

ms=$(( (${EPOCHREALTIME/./} - ${t_start/./}) / 1000 ))
summary="$cases bad inputs, $runs runs of kvmlaunch ($([ $all_modes = 1 ] && echo "every case in 3 modes" || echo "of the ${#corpus[@]} committed: those the loader accepts in 3 modes, one load error in 5 in 1 mode")), $((ms / 1000)).$(printf %03d $((ms % 1000))) s, side effects: $effects"
if [ $fail = 0 ]; then ok "$summary"; else echo "FAILED: ${failed_cases[*]}"; echo "$summary"; fi
finish
