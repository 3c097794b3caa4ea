/* kvmlaunch's own command line. Commands that later issues bring say so
 * instead of pretending. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"
#include "check.h"
#include "commands.h"
#include "hostfacts.h"
#include "hostnic.h"
#include "hostplan.h"
#include "livecmds.h"
#include "log.h"
#include "netforward.h"
#include "metrics.h"
#include "qemucmd.h"
#include "run.h"
#include "schema.h"
#include "share.h"
#include "tpm.h"
#include "util.h"
#include "vmconf.h"
#include "vmplan.h"
#include "vmssh.h"

static void print_usage(FILE *f) {
    fputs("Usage: kvmlaunch [run] [--dry-run] VM.INI   prepare the host, start QEMU, pin, supervise\n"
          "       kvmlaunch --dry-run VM.INI         print the host plan and the QEMU command line\n"
          "       kvmlaunch check VM.INI             can this host run this VM as asked?\n"
          "       kvmlaunch host [--json]            the host's topology and tuning state\n"
          "       kvmlaunch status NAME [--json] | stop NAME | cleanup NAME|--all | list\n"
          "       kvmlaunch console NAME             attach to the serial console (Ctrl-] detaches)\n"
          "       kvmlaunch qmp NAME [COMMAND [ARGS-JSON]]   QMP on a running VM (stdin: a command a line)\n"
          "       kvmlaunch balloon NAME SIZE        set a running guest's memory through the balloon\n"
          "       kvmlaunch pin NAME KEY=CPULIST...  re-pin a running VM (vcpu.N, emulator, iothreads, vhost)\n"
          "       kvmlaunch keys [--markdown|--man]  every section and key of vm.ini\n"
          "       kvmlaunch metrics [--output FILE]  every running VM in Prometheus' text format\n"
          "       kvmlaunch ssh NAME [--wait DURATION] [-- COMMAND...]  ssh into the guest ([cloud-init])\n"
          "\n"
          "Options: -n, --dry-run   change nothing, print what would be done\n"
          "         -q, --quiet     errors only\n"
          "         -v, --verbose   debug messages too\n"
          "         -h, --help      this text\n"
          "         -V, --version   the version\n"
          "\n"
          "Exit status: 0 the guest ended cleanly, 1 runtime failure, 2 bad configuration\n"
          "or usage, 124 timeout, the guest's code with exit-device.\n",
          f);
}

/* The VM's cgroup tree, as it would be made (thread ids come at run time). */
static void print_cgroups(const HostRoot *hr, const VmConfig *cfg) {
    CgroupLayout l;
    memset(&l, 0, sizeof(l));
    if (cgroup_detect(hr, &l) < 0 || l.version == CGROUP_NONE) {
        printf("# cgroups: no usable cpuset hierarchy: threads are placed by affinity alone\n");
        cgroup_layout_free(&l);
        return;
    }
    CgroupGroups groups;
    CgroupPlan plan;
    cgroup_groups_from_config(cfg, &groups);
    if (cgroup_plan_vm(&l, cfg, &groups, &plan) == 0) {
        _cleanup_free_ char *text = cgroup_plan_render(&plan, &groups);
        printf("# cgroups (%s):\n", l.why);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) printf("#   %s\n", line);
        cgroup_plan_free(&plan);
    }
    cgroup_groups_free(&groups);
    cgroup_layout_free(&l);
}

/* A user-mode NIC: nothing to open; its forwards, with the host port an
 * auto one got for this plan (a run chooses again). */
static void print_user_net(const VmConfig *cfg, const HostFacts *facts, size_t i) {
    const NetSection *n = &cfg->nets[i];
    printf("# net \"%s\": QEMU's user-mode network (slirp), no tap, no host privilege", n->head.id);
    for (size_t k = 0; k < n->forward.n; k++) {
        const NetForward *f = &n->forward.v[k];
        const UserNetFacts *u = facts->user_nets ? &facts->user_nets[i] : NULL;
        int port = u && k < u->n ? u->fwd[k].port : 0;
        _cleanup_free_ char *text = netforward_format(f, port);
        printf("%s %s%s", k ? "," : "; forwards", text, f->host_port ? "" : " (auto: chosen again at start)");
    }
    printf("\n");
}

/* What kvmlaunch opens for each NIC and where QEMU finds it. */
static void print_network(const VmConfig *cfg, const HostFacts *facts) {
    for (size_t i = 0; i < cfg->n_nets && i < facts->n_nets; i++) {
        const NetSection *n = &cfg->nets[i];
        const NetFds *f = &facts->nets[i];
        if (n->mode == NET_MODE_USER) {
            print_user_net(cfg, facts, i);
            continue;
        }
        _cleanup_free_ char *tap = vmconf_net_tap_name(cfg, n);
        printf("# net \"%s\": tap %s, %zu queue%s (fds %d-%d)", n->head.id, tap, f->queues, f->queues == 1 ? "" : "s", f->tap[0],
               f->tap[f->queues - 1]);
        if (f->vhost) printf(", vhost-net (fds %d-%d)", f->vhost[0], f->vhost[f->queues - 1]);
        if (n->bridge) printf(", on bridge %s", n->bridge);
        if (vmconf_net_steering(cfg, n)) printf(", queue i steered to vCPU i's CPU (queues/rx-i/rps_cpus)");
        printf("\n");
    }
}

/* Loads PATH, plans it, and hands both to SHOW with the plan's result. */
static int with_plan(const char *path, int (*show)(const VmConfig *cfg, VmPlan *p, int r)) {
    VmConfig cfg;
    int r = run_load_config(path, &cfg, stderr);
    if (r) return r;
    VmPlan p;
    r = vmplan_make(&cfg, &p);
    int rc = show(&cfg, &p, r);
    vmplan_free(&p);
    vmconf_free(&cfg);
    return rc;
}

/* Whether an argument holds a byte a terminal would act on: the plan's
 * own check refused it then, and it is not printed. */
static bool argv_has_control(char *const *argv) {
    for (size_t i = 0; argv && argv[i]; i++)
        for (const unsigned char *c = (const unsigned char *)argv[i]; *c; c++)
            if (*c < 0x20 || *c == 0x7f) return true;
    return false;
}

/* The plan and the command line, also on a host that cannot run the VM as
 * asked (too few huge pages, a missing node: what a run's checks refuse):
 * then the problems follow, as FAIL lines on stderr, and the exit status
 * is 1. Bad configuration never gets here (exit 2 on loading). */
static int show_dry_run(const VmConfig *cfg, VmPlan *p, int r) {
    run_print_errlist(stderr, &p->notes, "warning: ");
    if (r < 0 && r != -EINVAL && r != -ENOSPC) return EXIT_RUNTIME;
    CheckReport rep;
    check_vm(cfg, p, false, &rep);
    _cleanup_free_ char *plan_text = hostplan_render(&p->plan);
    _cleanup_free_ char *text = argv_has_control(p->argv.v) ? NULL : qemucmd_render(p->argv.v);
    if (p->auto_pin) printf("# [cpu] pin = auto: %s\n", p->choice.why);
    printf("%s", plan_text);
    if (cfg->n_hostnics) {
        NicOffloads *o = hostnic_offloads_read_all(&p->hr, cfg);
        _cleanup_free_ char *off = hostnic_render_offloads(cfg, o, cfg->n_hostnics);
        printf("%s", off);
        hostnic_offloads_free(o, cfg->n_hostnics);
    }
    print_cgroups(&p->hr, cfg);
    print_network(cfg, &p->facts);
    if (cfg->n_shares) {
        _cleanup_free_ char *shares = share_render_plan(cfg, &p->facts);
        printf("%s", shares);
    }
    if (cfg->tpm.enabled) {
        _cleanup_free_ char *tpm = tpm_render_plan(cfg, &p->facts);
        printf("%s", tpm);
    }
    if (cfg->vm.user && p->facts.user_known) {
        /* The identity the spawner gives QEMU (include/hostfacts.h). */
        _cleanup_free_ char *who = hostfacts_qemu_identity_text(&p->facts, cfg->vm.user);
        printf("# QEMU runs as %s, no capabilities%s\n", who, p->facts.running_as_root ? "" : ", when kvmlaunch runs as root");
    }
    if (text) printf("# QEMU command line:\n%s", text);
    else printf("# QEMU command line: not shown, an argument holds a control character (below)\n");
    fflush(stdout);
    for (size_t i = 0; i < rep.n; i++)
        if (rep.v[i].level == CHECK_FAIL) fprintf(stderr, "FAIL  %-9s  %s\n", rep.v[i].topic, rep.v[i].msg);
    if (rep.fails)
        fprintf(stderr, "%s: %zu failed: this host cannot run it as asked (`kvmlaunch check %s` says what passes too)\n", cfg->vm.name, rep.fails,
                cfg->path);
    int rc = rep.fails ? EXIT_RUNTIME : EXIT_OK;
    check_report_free(&rep);
    return rc;
}

/* One PASS/WARN/FAIL line per need; exit 1 on any FAIL. */
static int show_check(const VmConfig *cfg, VmPlan *p, int r) {
    if (r < 0 && r != -EINVAL && r != -ENOSPC) return EXIT_RUNTIME;
    CheckReport rep;
    check_vm(cfg, p, true, &rep);
    check_report_print(stdout, &rep);
    printf("%s: %zu passed, %zu warnings, %zu failed\n", cfg->vm.name, rep.n - rep.warns - rep.fails, rep.warns, rep.fails);
    int rc = rep.fails ? EXIT_RUNTIME : EXIT_OK;
    check_report_free(&rep);
    return rc;
}

static int cmd_keys(int argc, char **argv) {
    ReferenceFormat format = REFERENCE_TEXT;
    if (argc > 1 && streq(argv[1], "--markdown")) format = REFERENCE_MARKDOWN;
    else if (argc > 1 && streq(argv[1], "--man")) format = REFERENCE_MAN;
    int used = format == REFERENCE_TEXT ? 1 : 2;
    if (argc > used) {
        fprintf(stderr, "kvmlaunch keys: unexpected argument \"%s\" (expected --markdown or --man)\n", argv[used]);
        return EXIT_CONFIG;
    }
    schema_print_reference(stdout, format);
    return EXIT_OK;
}

int cli_main(int argc, char **argv) {
    static const struct option options[] = {
        { "dry-run", no_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
        { "quiet", no_argument, NULL, 'q' },   { "verbose", no_argument, NULL, 'v' }, { NULL, 0, NULL, 0 },
    };
    bool dry_run = false;
    int c;
    /* A write to QMP after QEMU closed it must be an EPIPE to handle, not a
     * signal that kills the supervisor before it cleans up. */
    signal(SIGPIPE, SIG_IGN);
    log_setup();
    /* A closed 0, 1 or 2 would be taken by the next open (a disk image,
     * say) and QEMU's messages would land there: /dev/null holds them. */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd) return EXIT_RUNTIME;
    /* "+": stop at the first word, so `keys --markdown` reaches its command. */
    while ((c = getopt_long(argc, argv, "+nhVqv", options, NULL)) != -1) {
        switch (c) {
        case 'n': dry_run = true; break;
        case 'h': print_usage(stdout); return EXIT_OK;
        case 'V': printf("kvmlaunch %s\n", KVMLAUNCH_VERSION); return EXIT_OK;
        case 'q': log_set_max_level(LOG_ERR); break;
        case 'v': log_set_max_level(LOG_DEBUG); break;
        default: print_usage(stderr); return EXIT_CONFIG;
        }
    }
    int n = argc - optind;
    char **args = argv + optind;
    if (n == 0) {
        print_usage(stderr);
        return EXIT_CONFIG;
    }
    const char *cmd = args[0];
    if (streq(cmd, "keys")) return cmd_keys(n, args);
    if (streq(cmd, "host")) return cmd_host_main(n, args);
    if (streq(cmd, "qmp")) return cmd_qmp_main(n, args);
    if (streq(cmd, "balloon")) return cmd_balloon_main(n, args);
    if (streq(cmd, "pin")) return cmd_pin_main(n, args);
    if (streq(cmd, "metrics")) return cmd_metrics_main(n, args);
    if (streq(cmd, "ssh")) return cmd_ssh_main(n, args);
    if (streq(cmd, "list")) {
        if (n != 1) {
            fprintf(stderr, "kvmlaunch list: takes no arguments\n");
            return EXIT_CONFIG;
        }
        return cmd_list();
    }
    if (streq(cmd, "cleanup") && n == 2 && streq(args[1], "--all")) return cmd_cleanup(NULL);
    if (streq(cmd, "status") || streq(cmd, "stop") || streq(cmd, "cleanup")) {
        bool json = streq(cmd, "status") && n == 3 && streq(args[2], "--json");
        if (n != 2 && !json) {
            fprintf(stderr, "kvmlaunch %s: expected one VM name%s\n", cmd, streq(cmd, "status") ? " (and --json)" : "");
            return EXIT_CONFIG;
        }
        if (streq(cmd, "status")) return cmd_status(args[1], json);
        return streq(cmd, "stop") ? cmd_stop(args[1]) : cmd_cleanup(args[1]);
    }
    if (streq(cmd, "console")) {
        if (n != 2) {
            fprintf(stderr, "kvmlaunch console: expected one VM name\n");
            return EXIT_CONFIG;
        }
        return cmd_console(args[1]);
    }
    if (streq(cmd, "check")) {
        if (n != 2) {
            fprintf(stderr, "kvmlaunch check: expected one VM.INI\n");
            return EXIT_CONFIG;
        }
        return with_plan(args[1], show_check);
    }
    if (streq(cmd, "run")) {
        args++;
        n--;
        /* `kvmlaunch run --dry-run vm.ini` reads as well as the other order. */
        if (n > 0 && (streq(args[0], "--dry-run") || streq(args[0], "-n"))) {
            dry_run = true;
            args++;
            n--;
        }
    }
    if (n != 1) {
        fprintf(stderr, "kvmlaunch: expected one VM.INI, found %d arguments\n", n);
        print_usage(stderr);
        return EXIT_CONFIG;
    }
    if (dry_run) return with_plan(args[0], show_dry_run);
    return run_vm(args[0]);
}
