#!/usr/bin/env bash
# completions/kvmlaunch, sourced into a bash of its own: commands, options,
# VM names from `kvmlaunch list` (its header line skipped), .ini files and
# directories, and each command's flags. Once with plain bash (compgen), once
# with the bash-completion package's _filedir when it is installed.
set -u
. "$(dirname "$0")/lib.sh"
make_tmp

# `kvmlaunch list` of this build with no VM running: its header, which the
# completion must skip...
mkdir -p "$tmp/run" "$tmp/stub" "$tmp/cwd/vms" "$tmp/cwd/empty"
header=$(KVMLAUNCH_RUNDIR=$tmp/run "$bin" list)
case "$header" in
NAME*) ok "'kvmlaunch list' starts with its header line" ;;
*) bad "'kvmlaunch list' with no VM printed \"$header\", not a NAME header" ;;
esac
# ...followed by two running VMs, as a stub on PATH prints them.
cat > "$tmp/stub/kvmlaunch" <<EOF
#!/bin/sh
[ "\$1" = list ] || exit 2
printf '%s\n' "$header"
printf '%-24s %10s %10s\n' web 100 101 db-1 200 201
EOF
chmod +x "$tmp/stub/kvmlaunch"
touch "$tmp/cwd/web.ini" "$tmp/cwd/ci.ini" "$tmp/cwd/notes.txt" "$tmp/cwd/vms/db.ini"

# Each case: the words typed (the last one is being completed) and the
# sorted COMPREPLY expected, space-separated.
cases=(
    "kvmlaunch |balloon check ci.ini cleanup console empty host keys list metrics pin qmp run ssh status stop vms web.ini"
    "kvmlaunch s|ssh status stop"
    "kvmlaunch st|status stop"
    "kvmlaunch -|--dry-run --help --quiet --verbose --version -V -h -n -q -v"
    "kvmlaunch --d|--dry-run"
    "kvmlaunch --dry-run |ci.ini empty vms web.ini"
    "kvmlaunch -q w|web.ini"
    "kvmlaunch run |ci.ini empty vms web.ini"
    "kvmlaunch run -|--dry-run -n"
    "kvmlaunch run --dry-run |ci.ini empty vms web.ini"
    "kvmlaunch run web.ini |"
    "kvmlaunch check |ci.ini empty vms web.ini"
    "kvmlaunch check vms/|vms/db.ini"
    "kvmlaunch host |--json"
    "kvmlaunch host --json |"
    "kvmlaunch status |db-1 web"
    "kvmlaunch -v status w|web"
    "kvmlaunch status web |--json"
    "kvmlaunch stop |db-1 web"
    "kvmlaunch stop web |"
    "kvmlaunch console |db-1 web"
    "kvmlaunch co|console"
    "kvmlaunch console web |"
    "kvmlaunch qmp |db-1 web"
    "kvmlaunch qmp web |--agent"
    "kvmlaunch qmp web --agent |"
    "kvmlaunch balloon d|db-1"
    "kvmlaunch balloon web |"
    "kvmlaunch pin |db-1 web"
    "kvmlaunch pin web |emulator= iothreads= vcpu. vhost="
    "kvmlaunch pin web vcpu.0=1 e|emulator="
    "kvmlaunch pin web vcpu.0=|"
    "kvmlaunch cleanup |--all db-1 web"
    "kvmlaunch cleanup -|--all"
    "kvmlaunch list |"
    "kvmlaunch keys |--man --markdown"
    "kvmlaunch keys --ma|--man --markdown"
    "kvmlaunch metrics |--output"
    "kvmlaunch metrics --output w|web.ini"
    "kvmlaunch metrics --output web.ini |"
    "kvmlaunch ssh |db-1 web"
    "kvmlaunch ssh web |-- --wait"
    "kvmlaunch ssh web --wait |"
    "kvmlaunch ssh web --wait 300s |-- --wait"
    "kvmlaunch ssh web -- |"
    "kvmlaunch ssh web -- uname -|"
    "kvmlaunch --version |"
)

# Prints "WORDS|REPLY" for each word of each case's COMPREPLY (and "WORDS|"
# for each case, so an empty reply shows), from one bash: forks are slow here.
run_cases() {
    local preload=$1
    (
        cd "$tmp/cwd" || exit 1
        PATH=$tmp/stub:$PATH bash --norc --noprofile -c '
            preload=$1; shift
            if [ -n "$preload" ]; then source "$preload" || exit 1; fi
            source "$0" || exit 1
            [ "$(complete -p kvmlaunch)" = "complete -F _kvmlaunch kvmlaunch" ] || { echo "not registered"; exit 1; }
            for c in "$@"; do
                line=${c%%|*}
                read -r -a COMP_WORDS <<<"$line"
                [ "${line: -1}" = " " ] && COMP_WORDS+=("")
                COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
                COMP_LINE=$line COMP_POINT=${#line}
                COMPREPLY=()
                _kvmlaunch kvmlaunch "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
                printf "%s|\n" "$line"
                for w in "${COMPREPLY[@]}"; do printf "%s|%s\n" "$line" "$w"; done
            done' "$top/completions/kvmlaunch" "$preload" "${cases[@]}"
    )
}

# The expected lines, in the same form.
for c in "${cases[@]}"; do
    line=${c%%|*}
    printf '%s|\n' "$line"
    read -r -a words <<<"${c#*|}"
    for w in "${words[@]}"; do printf '%s|%s\n' "$line" "$w"; done
done | LC_ALL=C sort > "$tmp/want"

check_mode() {
    local mode=$1 preload=$2
    run_cases "$preload" | LC_ALL=C sort > "$tmp/got"
    if cmp -s "$tmp/want" "$tmp/got"; then
        ok "($mode) ${#cases[@]} cases complete as expected"
    else
        bad "($mode) completions differ (< expected, > got; WORDS|REPLY):"
        diff "$tmp/want" "$tmp/got" | grep '^[<>]' | head -30
    fi
}

check_mode "plain bash" ""
bc=/usr/share/bash-completion/bash_completion
if [ -f "$bc" ]; then
    check_mode "bash-completion" "$bc"
else
    skip "bash-completion is not installed: its _filedir path is untested"
fi
finish
