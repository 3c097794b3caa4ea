/* The clock, the timers, the boot order and the guest agent's channel on
 * QEMU's command line (include/qemucmd.h). Pure. Why each option is there:
 * docs/TUNING.md, "QEMU timers and clock"; how it compares to libvirt's:
 * docs/QEMU-ARGS.md. */
#include "qemucmd.h"
#include "schema.h"

void qemucmd_machine_opts(const VmConfig *cfg, bool kvm, StrVec *m) {
    /* Guest RAM stays out of a core dump of QEMU unless asked for: the
     * backend inherits it and madvises MADV_DONTDUMP (VmFlags dd). */
    strvec_push(m, cfg->memory.dump ? "dump-guest-core=on" : "dump-guest-core=off");
    /* No HPET under KVM, as virt-install gives x86 guests: the guest uses
     * kvm-clock, and an HPET only costs exits. microvm has none anyway. */
    if (kvm && cfg->vm.machine != MACHINE_MICROVM) strvec_push(m, "hpet=off");
}

void qemucmd_clock(const VmConfig *cfg, bool kvm, StrVec *argv) {
    strvec_push(argv, "-rtc");
    /* QEMU's words are vm.ini's (utc, localtime). Under KVM the RTC's
     * missed ticks are re-injected faster (slew), and the PIT's delayed,
     * so an old guest that counts ticks keeps time after a stall. */
    strvec_pushf(argv, "base=%s%s", rtc_base_to_string(cfg->vm.rtc), kvm ? ",driftfix=slew" : "");
    if (kvm) {
        strvec_push(argv, "-global");
        strvec_push(argv, "kvm-pit.lost_tick_policy=delay");
    }
    /* Only the devices given a bootindex boot: no fallback to a NIC's
     * PXE or another disk the firmware happens to find. */
    strvec_push(argv, "-boot");
    strvec_push(argv, "strict=on");
}

void qemucmd_guest_agent(const VmConfig *cfg, const HostFacts *facts, bool pci, StrVec *argv) {
    if (!cfg->vm.guest_agent) return;
    /* A listening socket kvmlaunch made in the runtime dir, passed as an
     * fd: clients (status, stop, qmp --agent) connect to it one at a
     * time (include/agent.h). */
    strvec_push(argv, "-chardev");
    strvec_pushf(argv, "socket,id=qga0,fd=%d,server=on,wait=off", facts->agent_fd);
    strvec_push(argv, "-device");
    strvec_push(argv, pci ? "{\"driver\":\"virtio-serial-pci\",\"id\":\"vser0\"}" : "{\"driver\":\"virtio-serial-device\",\"id\":\"vser0\"}");
    strvec_push(argv, "-device");
    strvec_push(argv, "{\"driver\":\"virtserialport\",\"id\":\"qga0-port\",\"bus\":\"vser0.0\",\"chardev\":\"qga0\",\"name\":\"org.qemu.guest_agent.0\"}");
}
