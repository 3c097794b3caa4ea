#!/usr/bin/env bash
# `kvmlaunch metrics` on running VMs (the test guest under QEMU, TCG here),
# read by the real node_exporter: the test starts prometheus-node-exporter
# on 127.0.0.1 with the textfile collector alone, writes the metrics into
# its directory as the systemd service does, scrapes /metrics and finds
# the series with the values the VMs have: vCPU count and times, the CPU
# each vCPU last ran on within its pin, RSS by node, the balloon's actual
# size (the VM's memory) and guest stats, a disk's reads, a tap that sits
# in another network namespace (not visible from here, counted from
# there). A VM whose status monitor does not answer is said so in its own
# series while the other VM's are complete. `promtool check metrics`
# passes on every output, and every family printed is in docs/METRICS.md.
set -u
. "$(dirname "$0")/lib.sh"
need_root "QEMU is started as another user"
need_guest; need_cmd qemu-system-x86_64

make_tmp --rundir
make_user klmet
vms_named klmet-$$
wait_step=0.3
exporter=$(command -v prometheus-node-exporter || command -v node_exporter || true)
promtool=$(command -v promtool || true)
service=$top/systemd/kvmlaunch-metrics.service
timer=$top/systemd/kvmlaunch-metrics.timer

# promtool's lint on a saved output ($1).
lint() {
    [ -n "$promtool" ] || { skip "promtool is not installed (package prometheus; make deps installs it): $2 not linted"; return; }
    if "$promtool" check metrics < "$1" > "$tmp/lint.out" 2>&1; then ok "promtool check metrics passes on $2"
    else bad "promtool check metrics on $2: $(cat "$tmp/lint.out")"; fi
}
# value FILE SERIES: the value of the series named exactly SERIES (name{labels}).
value() { awk -v s="$2" '$1 == s { print $2; found = 1 } END { exit !found }' "$1"; }
# num_is FILE SERIES OP NUMBER: the series is there and compares so (awk numbers:
# node_exporter prints 2.68435456e+08 for 268435456).
num_is() { local v; v=$(value "$1" "$2") && awk -v v="$v" -v n="$4" -v op="$3" 'BEGIN { v += 0; exit !((op == "==" && v == n) || (op == ">" && v > n) || (op == ">=" && v >= n)) }'; }
documented() { # FILE: every family TYPEd in FILE is in docs/METRICS.md with that type
    local name type missing=
    while read -r _ _ name type; do
        grep -qE "^\| \`$name\` \| $type \|" docs/METRICS.md || missing+=" $name ($type)"
    done < <(grep '^# TYPE kvmlaunch_' "$1")
    [ -z "$missing" ] && ok "every family of $2 is in docs/METRICS.md with its type" || bad "not in docs/METRICS.md:$missing"
}

# No VM: exit 0, one family saying 0. Usage errors: exit 2.
"$bin" metrics > "$tmp/none.prom" 2> "$tmp/none.err"; rc=$?
[ $rc = 0 ] && [ "$(grep -v '^#' "$tmp/none.prom")" = "kvmlaunch_vms 0" ] && [ ! -s "$tmp/none.err" ] && ok "no VM running: exit 0, kvmlaunch_vms 0" ||
    bad "no VM: exit $rc: $(cat "$tmp/none.prom" "$tmp/none.err")"
lint "$tmp/none.prom" "the output without VMs"
# A run dir that cannot be listed (not root) is no "0 VMs": exit 1, nothing printed.
mkdir -m 0700 "$KVMLAUNCH_RUNDIR"
setpriv --reuid nobody --regid nogroup --clear-groups "$bin" metrics > "$tmp/closed.prom" 2> "$tmp/closed.err"; rc=$?
[ $rc = 1 ] && [ ! -s "$tmp/closed.prom" ] && grep -q "Failed to list $KVMLAUNCH_RUNDIR" "$tmp/closed.err" && ok "a run dir it cannot list: exit 1, said, nothing printed" ||
    bad "unlistable run dir: exit $rc: $(cat "$tmp/closed.prom" "$tmp/closed.err")"
for args in "extra" "--output" "--output ''" "--json"; do
    eval "\"\$bin\" metrics $args" > "$tmp/usage.out" 2>&1; rc=$?
    [ $rc = 2 ] && ok "metrics $args: exit 2 ($(head -1 "$tmp/usage.out"))" || bad "metrics $args: exit $rc: $(cat "$tmp/usage.out")"
done

# VM a: 2 vCPUs pinned to CPUs 1 and 0, a balloon with guest stats every
# second, a disk, and (with /dev/net/tun) a tap, started in a network
# namespace of this test's. VM b: no kernel, no balloon, 1 vCPU.
vm_preset guest
truncate -s 8M "$tmp/d0.img" && chown "$user" "$tmp/d0.img"
net=()
if [ -c /dev/net/tun ] && command -v ip > /dev/null; then
    make_netns klmet
    tap=klm$$
    net=('[net "lan"]' "tap = $tap")
fi
vm_ini a vm.vcpus=2 cpu.pin=1,0 balloon.enabled=yes balloon.stats-period=1s '[disk "d0"]' "file = $tmp/d0.img" "format = raw" "cache = writeback" "${net[@]}"
vm_preset bios
vm_ini b vm.vcpus=1 cpu.pin=none
a=$(name a) b=$(name b)
if [ ${#net[@]} -gt 0 ]; then ip netns exec "$ns" "$bin" "$tmp/a.ini" > "$tmp/a.out" 2>&1 &
else "$bin" "$tmp/a.ini" > "$tmp/a.out" 2>&1 & fi
pids+=($!)
"$bin" "$tmp/b.ini" > "$tmp/b.out" 2>&1 &
pids+=($!)
if ! wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/a.serial" || ! wait_for 30 vm_running a || ! wait_for 30 vm_running b; then
    bad "the VMs did not come up"; cat "$tmp/a.out" "$tmp/b.out"; finish
fi
qa=$(qemu_of a)

# The guest's first stats come a second or so after its driver loaded.
got_stats() { "$bin" metrics > "$tmp/m.prom" 2> "$tmp/m.err" && grep -q "^kvmlaunch_balloon_guest_total_bytes{vm=\"$a\"}" "$tmp/m.prom"; }
wait_for 60 got_stats || bad "no guest stats within 60s: $(grep balloon "$tmp/m.prom")"
t0=${EPOCHREALTIME/./}
"$bin" metrics > "$tmp/m.prom" 2> "$tmp/m.err"; rc=$?
ms=$(( (${EPOCHREALTIME/./} - t0) / 1000 ))
[ $rc = 0 ] && [ ! -s "$tmp/m.err" ] && ok "metrics with two VMs: exit 0, nothing on stderr, $ms ms" || bad "metrics: exit $rc: $(cat "$tmp/m.err")"
m=$tmp/m.prom
num_is "$m" kvmlaunch_vms == 2 && num_is "$m" "kvmlaunch_vm_up{vm=\"$a\"}" == 1 && num_is "$m" "kvmlaunch_vm_running{vm=\"$b\"}" == 1 &&
    ok "kvmlaunch_vms 2, each up and running" || bad "VMs: $(grep -E '^kvmlaunch_vm(s|_up|_running)' "$m")"
errs=$(grep "^kvmlaunch_scrape_error{" "$m" | grep -v ' 0$')
[ -z "$errs" ] && [ "$(grep -c "^kvmlaunch_scrape_error{vm=\"$a\"" "$m")" = 7 ] && ok "no part failed (7 parts a VM, each 0)" || bad "scrape errors: $errs"

# Not root, with the run dir open to all as /run/kvmlaunch is (0755) but
# each VM's dir 0700: the VMs cannot be seen, which is no "0 VMs": exit 1,
# each said, nothing printed.
mode_tmp=$(stat -c %a "$tmp") mode_run=$(stat -c %a "$KVMLAUNCH_RUNDIR")
chmod 0711 "$tmp"; chmod 0755 "$KVMLAUNCH_RUNDIR"
setpriv --reuid nobody --regid nogroup --clear-groups "$bin" metrics > "$tmp/nobody.prom" 2> "$tmp/nobody.err"; rc=$?
chmod "$mode_run" "$KVMLAUNCH_RUNDIR"; chmod "$mode_tmp" "$tmp"
[ $rc = 1 ] && [ ! -s "$tmp/nobody.prom" ] && grep -q "pid file of $a in .*Permission denied (run kvmlaunch metrics as root)" "$tmp/nobody.err" &&
    grep -q "pid file of $b in" "$tmp/nobody.err" && ok "not root, VM dirs 0700: exit 1, nothing printed, each VM said ($(head -1 "$tmp/nobody.err"))" ||
    bad "metrics as nobody: exit $rc: $(cat "$tmp/nobody.prom" "$tmp/nobody.err")"

# vCPUs: as many as the VM has, times that grow, each on its pinned CPU.
num_is "$m" "kvmlaunch_vm_vcpus{vm=\"$a\"}" == 2 && num_is "$m" "kvmlaunch_vm_vcpus{vm=\"$b\"}" == 1 &&
    [ "$(grep -c "^kvmlaunch_vcpu_cpu_seconds_total{vm=\"$a\"," "$m")" = 2 ] && ok "vCPUs: 2 of a, 1 of b, a time series each" || bad "vcpus: $(grep vcpu "$m")"
pins=(1 0)
for i in 0 1; do
    s="{vm=\"$a\",vcpu=\"$i\"}"
    num_is "$m" "kvmlaunch_vcpu_last_cpu$s" == "${pins[i]}" && ok "vcpu$i last ran on CPU ${pins[i]}, its pin" || bad "vcpu$i last cpu: $(value "$m" "kvmlaunch_vcpu_last_cpu$s")"
    num_is "$m" "kvmlaunch_vcpu_cpu_seconds_total$s" ">" 0 && num_is "$m" "kvmlaunch_vcpu_run_delay_seconds_total$s" ">=" 0 &&
        ok "vcpu$i: $(value "$m" "kvmlaunch_vcpu_cpu_seconds_total$s") s on a CPU, $(value "$m" "kvmlaunch_vcpu_run_delay_seconds_total$s") s waiting" || bad "vcpu$i times"
done
tid0=$("$bin" status "$a" --json 2>/dev/null | jq -r '.vcpus[0].tid' 2>/dev/null)
if [ -n "$tid0" ] && [ -r "/proc/$qa/task/$tid0/schedstat" ]; then
    read -r k_cpu k_delay _ < "/proc/$qa/task/$tid0/schedstat"
    "$bin" metrics > "$tmp/m2.prom" 2>/dev/null
    # Read right after the kernel's: the counter has only grown meanwhile.
    # (+0.5 ns: awk's double makes 1.961450612 * 1e9 a hair under 1961450612.)
    awk -v k="$k_cpu" -v m="$(value "$tmp/m2.prom" "kvmlaunch_vcpu_cpu_seconds_total{vm=\"$a\",vcpu=\"0\"}")" 'BEGIN { exit !(m * 1e9 + 0.5 >= k && m * 1e9 < k + 5e9) }' &&
        awk -v k="$k_delay" -v m="$(value "$tmp/m2.prom" "kvmlaunch_vcpu_run_delay_seconds_total{vm=\"$a\",vcpu=\"0\"}")" 'BEGIN { exit !(m * 1e9 + 0.5 >= k) }' &&
        ok "vcpu0's times are the kernel's schedstat (cpu $k_cpu ns, delay $k_delay ns) in seconds" || bad "vcpu0 times against schedstat $k_cpu $k_delay: $(grep 'vcpu="0"' "$tmp/m2.prom")"
else
    skip "no schedstat for vCPU 0 (jq missing or a kernel without CONFIG_SCHED_INFO)"
fi

# Memory: resident on some node, and as numa_maps says.
rss=$(awk -v vm="$a" 'index($1, "kvmlaunch_memory_resident_bytes{vm=\"" vm "\"") == 1 { s += $2 } END { print s + 0 }' "$m")
[ "$rss" -gt 0 ] && ok "RSS by node: $(grep "^kvmlaunch_memory_resident_bytes{vm=\"$a\"" "$m" | tr '\n' ' ')" || bad "RSS: $(grep memory "$m")"

# The balloon: the VM's memory, stats from the guest; b has no balloon.
num_is "$m" "kvmlaunch_balloon_enabled{vm=\"$a\"}" == 1 && num_is "$m" "kvmlaunch_balloon_actual_bytes{vm=\"$a\"}" == 268435456 &&
    ok "balloon of a: enabled, actual 256 MiB" || bad "balloon: $(grep "balloon_.*{vm=\"$a\"" "$m")"
num_is "$m" "kvmlaunch_balloon_guest_total_bytes{vm=\"$a\"}" ">" 0 && num_is "$m" "kvmlaunch_balloon_guest_free_bytes{vm=\"$a\"}" ">" 0 &&
    ok "guest stats: total $(value "$m" "kvmlaunch_balloon_guest_total_bytes{vm=\"$a\"}"), free $(value "$m" "kvmlaunch_balloon_guest_free_bytes{vm=\"$a\"}")" || bad "guest stats"
num_is "$m" "kvmlaunch_balloon_enabled{vm=\"$b\"}" == 0 && ! grep -q "^kvmlaunch_balloon_actual_bytes{vm=\"$b\"}" "$m" && ok "b: balloon_enabled 0, no actual size" || bad "balloon of b"

# The disk: the guest's kernel read its partition table.
num_is "$m" "kvmlaunch_block_read_ops_total{vm=\"$a\",disk=\"d0\"}" ">" 0 && num_is "$m" "kvmlaunch_block_read_bytes_total{vm=\"$a\",disk=\"d0\"}" ">" 0 &&
    ok "disk d0: $(value "$m" "kvmlaunch_block_read_ops_total{vm=\"$a\",disk=\"d0\"}") reads, $(value "$m" "kvmlaunch_block_read_bytes_total{vm=\"$a\",disk=\"d0\"}") bytes" ||
    bad "block: $(grep block "$m")"

# The tap lives in the namespace kvmlaunch ran in: not visible from here,
# counted from there.
if [ ${#net[@]} -gt 0 ]; then
    s="{vm=\"$a\",net=\"lan\",tap=\"$tap\"}"
    num_is "$m" "kvmlaunch_tap_visible$s" == 0 && ! grep -q "^kvmlaunch_tap_receive_bytes_total$s" "$m" && ok "tap $tap in another namespace: tap_visible 0, no counters" ||
        bad "tap from here: $(grep tap "$m")"
    ip netns exec "$ns" "$bin" metrics > "$tmp/ns.prom" 2> "$tmp/ns.err"
    kern=$(in_ns cat "/sys/class/net/$tap/statistics/tx_bytes")
    num_is "$tmp/ns.prom" "kvmlaunch_tap_visible$s" == 1 && num_is "$tmp/ns.prom" "kvmlaunch_tap_transmit_bytes_total$s" ">=" 0 &&
        num_is "$tmp/ns.prom" "kvmlaunch_tap_receive_packets_total$s" ">=" 0 && ok "from its namespace: visible, tx_bytes $(value "$tmp/ns.prom" "kvmlaunch_tap_transmit_bytes_total$s") (the kernel: $kern)" ||
        bad "tap from its namespace: $(grep tap "$tmp/ns.prom") $(cat "$tmp/ns.err")"
else
    skip "no /dev/net/tun or ip: no tap"
fi
lint "$m" "two VMs' metrics"
documented "$m" "two VMs' metrics"

# The host knobs a VM relies on, from the journal (host.state in the run
# dir). This test's VMs set no [host] knob (other tests change the host's
# knobs meanwhile), so a record of one is written by hand, for VM a, with
# the value the knob has now, and taken away again before any VM stops
# (a stop would put its "original" back).
knob=/sys/kernel/mm/ksm/sleep_millisecs
if [ -r $knob ]; then
    now=$(cat $knob)
    defer rm -f "$KVMLAUNCH_RUNDIR/host.state"
    printf '{ "knobs": [ { "path": "%s", "original": "777", "value": "%s", "users": [ "%s" ] } ] }\n' $knob "$now" "$a" > "$KVMLAUNCH_RUNDIR/host.state"
    "$bin" metrics > "$tmp/k.prom" 2> "$tmp/k.err"
    rm -f "$KVMLAUNCH_RUNDIR/host.state"
    num_is "$tmp/k.prom" "kvmlaunch_host_knob{vm=\"$a\",file=\"$knob\"}" == "$now" &&
        num_is "$tmp/k.prom" "kvmlaunch_host_knob_info{vm=\"$a\",file=\"$knob\",current=\"$now\",set=\"$now\",original=\"777\"}" == 1 &&
        ! grep -q "^kvmlaunch_host_knob.*vm=\"$b\"" "$tmp/k.prom" && ok "the knob a relies on: $knob $now now (original 777); none for b" ||
        bad "knobs: $(grep knob "$tmp/k.prom") $(cat "$tmp/k.err")"
    lint "$tmp/k.prom" "the output with a knob"
else
    skip "no $knob (a kernel without KSM): knobs are not checked here"
fi

# A VM whose status monitor does not answer: its parts that need QMP say
# so, the other VM's series are all there.
mv "$KVMLAUNCH_RUNDIR/$b/qmp.sock" "$KVMLAUNCH_RUNDIR/$b/qmp.sock.away"
"$bin" metrics > "$tmp/e.prom" 2> "$tmp/e.err"; rc=$?
mv "$KVMLAUNCH_RUNDIR/$b/qmp.sock.away" "$KVMLAUNCH_RUNDIR/$b/qmp.sock"
[ $rc = 0 ] && num_is "$tmp/e.prom" "kvmlaunch_scrape_error{vm=\"$b\",part=\"qmp\"}" == 1 && num_is "$tmp/e.prom" "kvmlaunch_scrape_error{vm=\"$b\",part=\"blockstats\"}" == 1 &&
    num_is "$tmp/e.prom" "kvmlaunch_vm_vcpus{vm=\"$b\"}" == 1 && ok "b's monitor gone: exit 0, its qmp and blockstats parts 1, its vCPUs still there" ||
    bad "b without a monitor: exit $rc: $(grep "vm=\"$b\"" "$tmp/e.prom")"
grep -q "the status monitor did not answer" "$tmp/e.err" && ok "said on stderr: $(head -1 "$tmp/e.err")" || bad "stderr: $(cat "$tmp/e.err")"
diff <(grep "vm=\"$a\"" "$tmp/e.prom" | grep -vE '_total|last_cpu|resident|balloon_(guest|stats)' ) <(grep "vm=\"$a\"" "$m" | grep -vE '_total|last_cpu|resident|balloon_(guest|stats)') > /dev/null &&
    [ -z "$(grep "^kvmlaunch_scrape_error{vm=\"$a\"" "$tmp/e.prom" | grep -v ' 0$')" ] && ok "a's series are complete meanwhile" || bad "a's series changed: $(grep "vm=\"$a\"" "$tmp/e.prom")"
lint "$tmp/e.prom" "the output with a failed VM"

# The systemd service's own command line, into a textfile directory of ours:
# the file is replaced whole, readable by node_exporter's user.
textdir=$tmp/textfile
mkdir "$textdir"
if [ -f "$service" ]; then
    cmd=$(sed -n 's/^ExecStart=//p' "$service" | sed "s|/usr/sbin/kvmlaunch|$bin|; s|/var/lib/prometheus/node-exporter|$textdir|g")
    echo stale > "$textdir/kvmlaunch.prom"
    # shellcheck disable=SC2086
    $cmd > "$tmp/svc.out" 2>&1; rc=$?
    [ $rc = 0 ] && num_is "$textdir/kvmlaunch.prom" kvmlaunch_vms == 2 && [ "$(stat -c %a "$textdir/kvmlaunch.prom")" = 644 ] &&
        [ "$(ls "$textdir")" = kvmlaunch.prom ] && ok "the service's ExecStart ($cmd) wrote kvmlaunch.prom (0644), nothing else in the directory" ||
        bad "service command: exit $rc $(cat "$tmp/svc.out"); $(ls -l "$textdir")"
    grep -q '^Type=oneshot$' "$service" && grep -q "^Unit=kvmlaunch-metrics.service$\|^OnUnitActiveSec=" "$timer" && ok "a oneshot service and its timer" || bad "unit settings"
    # The file is replaced by rename: a reader holding the old one keeps it whole.
    exec 5< "$textdir/kvmlaunch.prom"
    ino=$(stat -c %i "$textdir/kvmlaunch.prom")
    "$bin" metrics --output "$textdir/kvmlaunch.prom"
    [ "$(stat -c %i "$textdir/kvmlaunch.prom")" != "$ino" ] && grep -q "^kvmlaunch_vms 2$" <&5 && ok "--output renames a new file over the old one" || bad "not replaced by rename"
    exec 5<&-
    "$bin" metrics --output "$tmp/nodir/x.prom" > "$tmp/nodir.out" 2>&1; rc=$?
    [ $rc = 1 ] && grep -q "$tmp/nodir/x.prom" "$tmp/nodir.out" && ok "--output into a missing directory: exit 1, said" || bad "missing dir: exit $rc $(cat "$tmp/nodir.out")"
    if command -v systemd-analyze > /dev/null; then
        for u in "$service" "$timer"; do sed "s|/usr/sbin/kvmlaunch|$bin|g" "$u" > "$tmp/${u##*/}"; done
        systemd-analyze verify --man=no "$tmp/${service##*/}" "$tmp/${timer##*/}" > "$tmp/verify.out" 2>&1 && ok "systemd-analyze verify passes on both units" ||
            bad "systemd-analyze verify: $(cat "$tmp/verify.out")"
    else
        skip "systemd-analyze is not installed: the units are not verified here"
    fi
else
    bad "no $service"
    "$bin" metrics --output "$textdir/kvmlaunch.prom"
fi

# The real node_exporter, on 127.0.0.1 of a free port, its textfile
# collector alone, on our directory.
scrape() { # PORT: /metrics, the body alone
    local line
    exec 6<> "/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&6
    while IFS= read -r line <&6; do [ "${line%$'\r'}" = "" ] && break; done
    cat <&6
    exec 6<&-
}
if [ -n "$exporter" ]; then
    port= exp=
    for try in 1 2 3 4 5; do
        p=$((20000 + RANDOM % 40000))
        "$exporter" --web.listen-address="127.0.0.1:$p" --collector.disable-defaults --collector.textfile \
            --collector.textfile.directory="$textdir" --web.disable-exporter-metrics > "$tmp/exporter.log" 2>&1 &
        exp=$!
        defer kill "$exp"
        if wait_for 10 eval "scrape $p > \"$tmp/scrape.prom\" 2>/dev/null && grep -q '^node_textfile_scrape_error' \"$tmp/scrape.prom\""; then port=$p; break; fi
        kill "$exp" 2>/dev/null; wait "$exp" 2>/dev/null
    done
    if [ -z "$port" ]; then
        bad "node_exporter did not serve /metrics: $(tail -3 "$tmp/exporter.log")"
    else
        s=$tmp/scrape.prom
        ok "node_exporter ($("$exporter" --version 2>&1 | head -1)) serves 127.0.0.1:$port"
        num_is "$s" node_textfile_scrape_error == 0 && ok "its textfile collector read kvmlaunch.prom without error" || bad "textfile error: $(grep textfile "$s"; tail -3 "$tmp/exporter.log")"
        num_is "$s" kvmlaunch_vms == 2 && num_is "$s" "kvmlaunch_vm_vcpus{vm=\"$a\"}" == 2 &&
            num_is "$s" "kvmlaunch_balloon_actual_bytes{vm=\"$a\"}" == 268435456 && num_is "$s" "kvmlaunch_vcpu_last_cpu{vcpu=\"0\",vm=\"$a\"}" == 1 &&
            num_is "$s" "kvmlaunch_block_read_ops_total{disk=\"d0\",vm=\"$a\"}" ">" 0 &&
            ok "scraped: 2 VMs, a's 2 vCPUs, vcpu0 on CPU 1, balloon $(value "$s" "kvmlaunch_balloon_actual_bytes{vm=\"$a\"}"), d0 reads $(value "$s" "kvmlaunch_block_read_ops_total{disk=\"d0\",vm=\"$a\"}")" ||
            bad "scraped: $(grep "^kvmlaunch_\(vms\|vm_vcpus\|balloon_actual\|vcpu_last\|block_read_ops\)" "$s")"
        rss=$(awk -v vm="$a" '/^kvmlaunch_memory_resident_bytes\{/ && index($1, "vm=\"" vm "\"") { s += $2 } END { print s + 0 }' "$s")
        awk -v r="$rss" 'BEGIN { exit !(r > 0) }' && ok "scraped RSS of a: $rss bytes" || bad "scraped RSS: $(grep resident "$s")"
        grep -q '^# TYPE kvmlaunch_vcpu_cpu_seconds_total counter$' "$s" && ok "types come through: kvmlaunch_vcpu_cpu_seconds_total is a counter" || bad "types: $(grep '^# TYPE kvmlaunch' "$s" | head -3)"
    fi
else
    skip "prometheus-node-exporter is not installed (make deps installs it): not scraped"
fi

# The balloon's target, once `kvmlaunch balloon` (issue 15, item 4) set one.
if "$bin" --help 2>&1 | grep -qw balloon; then
    "$bin" balloon "$a" 192M > "$tmp/balloon.out" 2>&1; rc=$?
    "$bin" metrics > "$tmp/t.prom" 2>/dev/null
    [ $rc = 0 ] && num_is "$tmp/t.prom" "kvmlaunch_balloon_target_bytes{vm=\"$a\"}" == 201326592 &&
        num_is "$tmp/t.prom" "kvmlaunch_balloon_actual_bytes{vm=\"$a\"}" == 201326592 && ok "after kvmlaunch balloon $a 192M: target and actual 192 MiB" ||
        bad "balloon 192M: exit $rc $(cat "$tmp/balloon.out"); $(grep "balloon_\(target\|actual\)" "$tmp/t.prom")"
else
    skip "this kvmlaunch has no balloon command: kvmlaunch_balloon_target_bytes is not checked"
fi

"$bin" stop "$a" > /dev/null 2>&1; "$bin" stop "$b" > /dev/null 2>&1
wait "${pids[@]}" 2> /dev/null
"$bin" metrics > "$tmp/after.prom" 2>&1
[ "$(grep -v '^#' "$tmp/after.prom")" = "kvmlaunch_vms 0" ] && ok "after both stopped: kvmlaunch_vms 0" || bad "after stop: $(cat "$tmp/after.prom")"
[ -z "$(leftovers a)$(leftovers b)" ] && ok "nothing left of the VMs" || bad "leftovers: $(leftovers a) $(leftovers b)"
finish
