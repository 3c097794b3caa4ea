#!/usr/bin/env bash
# Issue 22: kvmlaunch under Slurm, for real, on this one machine.
# Slurm and MUNGE from Debian 12 (slurmctld, slurmd, slurm-client, munge and
# their libraries) are unpacked under build/slurm (apt-get download +
# dpkg-deb -x, once; never installed: the packages would enable and start
# their services). The test starts munged, slurmctld and slurmd on
# localhost (ports from its pid, state in its temp dir; proctrack/cgroup,
# task/cgroup with ConstrainCores=yes, jobacct_gather/cgroup, jobcomp/
# filetxt), with no systemd: slurmd needs only the v1 cgroup mounts
# (cpuset, freezer, cpuacct, memory) or a cgroup2 mount, root, and
# `-d slurmstepd` since its compiled-in path is /usr/sbin.
# 1. `sbatch -c 1 --wrap 'exec kvmlaunch a.ini'` with pin = auto: the vCPU
#    runs on the job's CPU (scontrol's CPU_IDs, its cpuset cgroup), every
#    QEMU thread stays in the job's cgroups (cpuset under the job's, the
#    others the job's own), sstat sees the step's CPU time while it runs,
#    the job ends with the guest's exit code (7) in scontrol and jobcomp.
# 2. `scancel --batch --signal=TERM`: kvmlaunch's SIGTERM path powers the
#    guest down (ACPI), the job ends 0 well within KillWait; nothing is
#    left (runtime dir, cgroups, QEMU).
# 3. plain `scancel`: Slurm sends SIGTERM to every process of the job,
#    QEMU too; kvmlaunch still ends the VM within KillWait and leaves
#    nothing.
# 4. Two jobs with -c 1 at once: two VMs side by side, one CPU each,
#    different CPUs.
# What this machine cannot give is said and skipped alone: sacct's CPU
# time needs the accounting database (slurmdbd with MariaDB or MySQL);
# jobcomp/filetxt keeps state, times and exit code only.
# Stops everything it started (daemons, munged, state dir, Slurm's cgroups).
set -u
KVMLAUNCH_BIN=${KVMLAUNCH_BIN:-build/plain/kvmlaunch}
. "$(dirname "$0")/lib.sh"
need_root "slurmd runs jobs as root and makes cgroups"
need_guest
need_cmd qemu-system-x86_64 taskset
ncpu=$(nproc)

# ---- the fixture: Debian's Slurm and MUNGE, unpacked ----
pkgs="libhwloc15 liblua5.1-0 libmunge2 munge slurm-wlm-basic-plugins slurm-client slurmctld slurmd"
sroot=$top/build/slurm/root
stamp=$top/build/slurm/.unpacked-$(echo "$pkgs" | md5sum | cut -c1-12)
if [ ! -e "$stamp" ]; then
    need_cmd apt-get dpkg-deb
    rm -rf "$top/build/slurm" && mkdir -p "$top/build/slurm/debs" "$sroot"
    (cd "$top/build/slurm/debs" && apt-get download $pkgs > download.log 2>&1) ||
        skip_all "apt-get download $pkgs failed (no network or no Debian 12 sources): $(tail -1 "$top/build/slurm/debs/download.log")"
    for d in "$top"/build/slurm/debs/*.deb; do dpkg-deb -x "$d" "$sroot" || exit 1; done
    for p in slurmd slurmctld slurmstepd; do ln -sf "$p-wlm" "$sroot/usr/sbin/$p"; done
    touch "$stamp"
fi
export LD_LIBRARY_PATH=$sroot/usr/lib/x86_64-linux-gnu:$sroot/usr/lib/x86_64-linux-gnu/slurm-wlm
sbin=$sroot/usr/sbin sbinc=$sroot/usr/bin
"$sbin/slurmd" -V > /dev/null 2>&1 || skip_all "the unpacked Slurm does not run here: $("$sbin/slurmd" -V 2>&1 | head -1)"

# ---- the daemons ----
make_tmp --rundir
D=$tmp/slurm
mkdir -p "$D/munge" "$D/state" "$D/spool" "$D/log" && chmod 700 "$D/munge"
head -c 1024 /dev/urandom > "$D/munge/key" && chmod 400 "$D/munge/key"
stop_pid() { # PIDFILE
    local p
    p=$(cat "$1" 2> /dev/null) || return 0
    kill "$p" 2> /dev/null || return 0
    for _ in $(seq 50); do kill -0 "$p" 2> /dev/null || return 0; sleep 0.2; done
    kill -9 "$p" 2> /dev/null
}
host=$(hostname -s)
# Slurm's cgroups: slurm_NODE in each v1 hierarchy, or system.slice-less
# /slurm_NODE on cgroup2 (no systemd to ask for a scope).
slurm_cgroups() { find /sys/fs/cgroup -maxdepth 2 -type d -name "slurm_$host" 2> /dev/null; }
before_cg=$(slurm_cgroups)
[ -z "$before_cg" ] || skip_all "Slurm's cgroups are there already ($before_cg): another slurmd runs on this machine"
remove_slurm_cgroups() {
    local c
    for c in $(slurm_cgroups); do find "$c" -depth -type d -exec rmdir {} + 2> /dev/null; done
}
defer remove_slurm_cgroups
defer stop_pid "$D/munge/pid"
"$sbin/munged" --force --socket="$D/munge/sock" --key-file="$D/munge/key" --pid-file="$D/munge/pid" \
    --log-file="$D/munge/log" --seed-file="$D/munge/seed" || skip_all "munged does not start: $(tail -1 "$D/munge/log")"
port=$((20000 + ($$ % 10000) * 2))
node=$("$sbin/slurmd" -C | head -1)
cgv=cgroup/v1
grep -q ' /sys/fs/cgroup cgroup2 ' /proc/self/mounts && cgv=cgroup/v2
cat > "$D/slurm.conf" << EOF
ClusterName=kltest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$D/munge/sock
CredType=cred/munge
PluginDir=$sroot/usr/lib/x86_64-linux-gnu/slurm-wlm
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
JobAcctGatherType=jobacct_gather/cgroup
JobAcctGatherFrequency=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
KillWait=30
MinJobAge=600
MpiDefault=none
ReturnToService=2
$node NodeAddr=127.0.0.1
PartitionName=kl Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
cat > "$D/cgroup.conf" << EOF
CgroupPlugin=$cgv
ConstrainCores=yes
ConstrainRAMSpace=no
ConstrainDevices=no
EOF
export SLURM_CONF=$D/slurm.conf
defer stop_pid "$D/slurmctld.pid"
defer stop_pid "$D/slurmd.pid"
"$sbin/slurmctld" -i > "$D/log/slurmctld.start" 2>&1 || { bad "slurmctld does not start: $(tail -3 "$D/log/slurmctld.log")"; finish; }
"$sbin/slurmd" -d "$sbin/slurmstepd" > "$D/log/slurmd.start" 2>&1 || { bad "slurmd does not start: $(tail -3 "$D/log/slurmd.log")"; finish; }
idle() { "$sbinc/sinfo" -h -o %t 2> /dev/null | grep -q idle; }
wait_for 30 idle && ok "slurmctld and slurmd run ($cgv, proctrack/cgroup, task/cgroup, ConstrainCores=yes)" ||
    { bad "the node is not idle: $("$sbinc/sinfo" 2>&1) $(tail -3 "$D/log/slurmd.log")"; finish; }

# ---- the VMs ----
make_user klsl
vms_named klsl-$$
vm_preset guest
vm_defaults+=(vm.vcpus=1 vm.memory=128M cpu.pin=auto vm.exit-device=yes vm.shutdown-timeout=20s vm.timeout=240s)
submit() { # ID [SBATCH ARGS]: the job id
    local id=$1
    shift
    "$sbinc/sbatch" --parsable -c 1 -J "$(name "$id")" -o "$tmp/$id.job" "$@" --wrap "exec $bin $tmp/$id.ini"
}
jstate() { "$sbinc/scontrol" show job "$1" 2> /dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2; }
jexit() { "$sbinc/scontrol" show job "$1" 2> /dev/null | grep -o ' ExitCode=[0-9:]*' | cut -d= -f2; }
done_job() { case $(jstate "$1") in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) return 0 ;; esac; return 1; }
job_cpus() { "$sbinc/scontrol" show job -d "$1" | grep -o 'CPU_IDs=[0-9,-]*' | head -1 | cut -d= -f2; }
vcpu_cpu() { # QEMU-PID: the CPUs of its vCPU thread
    local t
    for t in /proc/"$1"/task/*; do
        case $(cat "$t/comm") in "CPU 0/"*) taskset -cp "${t##*/}" | sed 's/.*: //'; return ;; esac
    done
}
# Every QEMU thread in the job's cgroups: in each hierarchy at or below
# where kvmlaunch (its parent, the job's batch process) is, and the cpuset
# one under job_N (kvmlaunch/ nests there).
in_job_cgroups() { # QEMU-PID JOBID: what is outside, one per line
    local t id ctl path sup
    sup=$(awk '/^PPid:/ { print $2 }' "/proc/$1/status")
    grep -q "/job_$2/" "/proc/$sup/cgroup" || echo "kvmlaunch (pid $sup) is not in job $2: $(tr '\n' ' ' < "/proc/$sup/cgroup")"
    for t in /proc/"$1"/task/*; do
        while IFS=: read -r id ctl path; do
            mine=$(awk -F: -v c="$ctl" '$2 == c { print $3 }' "/proc/$sup/cgroup")
            case $path in "$mine" | "${mine%/}"/*) ;; *) echo "${t##*/} $id:$ctl:$path (kvmlaunch: $mine)" ;; esac
            case $ctl in *cpuset*) [[ $path == */job_$2/* ]] || echo "${t##*/} cpuset $path" ;; esac
        done < "$t/cgroup"
    done
}

# 1. one job: its CPU, its cgroups, its CPU time, its exit code
vm_ini a "vm.append=console=ttyS0 quiet kl.sleep=6 kl.exit=7"
ja=$(submit a) || { bad "sbatch: $ja"; finish; }
has_qemu() { [ -n "$(qemu_of "$1")" ]; }
if wait_for 120 has_qemu a; then
    q=$(qemu_of a)
    wait_for 60 grep -qs "KVMLAUNCH-GUEST" "$tmp/a.serial"
    jc=$(job_cpus "$ja") vc=$(vcpu_cpu "$q")
    [ -n "$jc" ] && [ "$vc" = "$jc" ] && ok "job $ja has CPU $jc (CPU_IDs); the vCPU runs on $vc" ||
        bad "job $ja: CPU_IDs=$jc, the vCPU on ${vc:-?}"
    out=$(in_job_cgroups "$q" "$ja")
    [ -z "$out" ] && ok "every QEMU thread is in job $ja's cgroups: $(grep cpuset "/proc/$q/cgroup" | head -1)" ||
        bad "QEMU threads outside job $ja's cgroups: $(head -3 <<< "$out")"
    st=$("$sbinc/sstat" -n -P -j "$ja.batch" -o AveCPU,MaxRSS 2>&1)
    [[ $st == [0-9]* ]] && ok "sstat sees the batch step, QEMU included: AveCPU|MaxRSS $st" || bad "sstat -j $ja.batch: $st"
else
    bad "job $ja started no QEMU: $(jstate "$ja") $(cat "$tmp/a.job")"
fi
wait_for 180 done_job "$ja"
[ "$(jexit "$ja")" = 7:0 ] && ok "job $ja ends with the guest's code: ExitCode=7:0 ($(jstate "$ja"))" ||
    { bad "job $ja: $(jstate "$ja") ExitCode=$(jexit "$ja")"; cat "$tmp/a.job"; }
grep -q "JobId=$ja .*ExitCode=7:0" "$D/jobcomp.txt" && ok "jobcomp/filetxt records ExitCode=7:0" || bad "jobcomp: $(cat "$D/jobcomp.txt")"
"$sbinc/sacct" -c -j "$ja" > /dev/null 2>&1 && skip "sacct's CPU time (TotalCPU) needs the accounting database: slurmdbd with MariaDB or MySQL, services this test does not run; sacct -c shows jobcomp's state, times and exit code only"
[ -z "$(leftovers a)" ] && ok "nothing left of job $ja's VM" || bad "left: $(leftovers a)"

# 2. scancel --batch --signal=TERM: kvmlaunch alone gets SIGTERM
stop_test() { # ID SCANCEL-ARGS...
    local id=$1 j t0 t1 what
    shift
    what="scancel${*:+ $*}"
    vm_ini "$id" "vm.append=console=ttyS0 quiet kl.stay=1"
    j=$(submit "$id") || { bad "sbatch: $j"; return; }
    if ! wait_for 120 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/$id.serial"; then
        bad "job $j's guest did not come up: $(jstate "$j") $(cat "$tmp/$id.job")"; return
    fi
    t0=$(date +%s)
    "$sbinc/scancel" "$@" "$j"
    wait_for 60 done_job "$j"
    t1=$(date +%s)
    [ $((t1 - t0)) -lt 30 ] && ok "$what: job $j ended in $((t1 - t0)) s, within KillWait (30 s): $(jstate "$j") ExitCode=$(jexit "$j")" ||
        bad "$what: job $j took $((t1 - t0)) s ($(jstate "$j"))"
    grep -q "asking the guest of $(name "$id") to power down" "$tmp/$id.job" &&
        ok "$what: kvmlaunch's SIGTERM path: $(grep -o 'asking the guest.*' "$tmp/$id.job" | head -1)" || bad "$what: no power-down: $(tail -5 "$tmp/$id.job")"
    grep -q "KVMLAUNCH-GUEST: bye" "$tmp/$id.serial" && ok "$what: the guest powered down (ACPI)" || echo "  note: $what: the guest printed no bye"
    wait_for 10 test -z "$(leftovers "$id")"
    [ -z "$(leftovers "$id")" ] && ok "$what: nothing left" || bad "$what: left: $(leftovers "$id")"
}
stop_test b --batch --signal=TERM
# 3. plain scancel: SIGTERM to every process of the job, QEMU too
stop_test c

# 4. two jobs side by side
if [ "$ncpu" -lt 2 ]; then
    skip "two jobs side by side need two CPUs; this machine has $ncpu"
else
    vm_ini d "vm.append=console=ttyS0 quiet kl.stay=1"
    vm_ini e "vm.append=console=ttyS0 quiet kl.stay=1"
    jd=$(submit d) je=$(submit e)
    if wait_for 150 grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/d.serial" "$tmp/e.serial" &&
        wait_for 60 eval 'grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/d.serial" && grep -qs "KVMLAUNCH-GUEST: stay" "$tmp/e.serial"'; then
        cd_=$(vcpu_cpu "$(qemu_of d)") ce=$(vcpu_cpu "$(qemu_of e)")
        [ "$(jstate "$jd")$(jstate "$je")" = RUNNINGRUNNING ] && [ -n "$cd_" ] && [ "$cd_" != "$ce" ] &&
            [ "$cd_" = "$(job_cpus "$jd")" ] && [ "$ce" = "$(job_cpus "$je")" ] &&
            ok "two jobs, two VMs side by side: job $jd's vCPU on $cd_, job $je's on $ce" ||
            bad "side by side: job $jd $(jstate "$jd") CPU_IDs=$(job_cpus "$jd") vCPU ${cd_:-?}; job $je $(jstate "$je") CPU_IDs=$(job_cpus "$je") vCPU ${ce:-?}"
    else
        bad "the two VMs did not both come up: $(jstate "$jd") $(jstate "$je")"
    fi
    "$sbinc/scancel" --batch --signal=TERM "$jd" "$je"
    wait_for 60 eval 'done_job "$jd" && done_job "$je"'
    [ -z "$(leftovers d)$(leftovers e)" ] && ok "both ended, nothing left" || bad "left: $(leftovers d) $(leftovers e)"
fi

# Everything this test started goes; Slurm's cgroups too.
stop_pid "$D/slurmd.pid"
stop_pid "$D/slurmctld.pid"
stop_pid "$D/munge/pid"
remove_slurm_cgroups
[ -z "$(slurm_cgroups)" ] && ok "daemons stopped, Slurm's cgroups removed" || bad "left: $(slurm_cgroups)"
finish
