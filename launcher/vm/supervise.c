/* The supervisor loop: QMP events, signals, the [vm] timeout, and the
 * graceful-then-forced shutdown (system_powerdown, quit, SIGKILL). */
#include "supervise.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "boottime.h"
#include "notify.h"
#include "placewatch.h"
#include "serialrelay.h"
#include "exitcode.h"
#include "log.h"
#include "schema.h"
#include "tap.h"
#include "util.h"

/* Commands the loop sends must not stall it: a hung QEMU gets SIGKILL. */
#define QMP_CMD_TIMEOUT_MS 1000
/* How often the taps' queue steering is checked (the guest may enable
 * queues, and the kernel then makes their files anew, at any time). */
#define STEER_EVERY_MS 1000
/* After quit, how long QEMU gets before SIGKILL. */
#define QUIT_GRACE_MS 5000

int64_t monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t monotonic_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int supervise_signals_setup(sigset_t *old) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, old) < 0) return log_error_errno(-errno, "Failed to block signals: %m");
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) return log_error_errno(-errno, "Failed to create a signalfd: %m");
    return fd;
}

int supervise_exit_code(const VmConfig *cfg, int status, StopReason stop, bool killed) {
    if (stop == STOP_TIMEOUT) return EXIT_TIMEOUT;
    if (stop == STOP_BOOT_BUDGET) return EXIT_RUNTIME;
    /* Why was said when it was decided. */
    if (stop == STOP_CRASH) return EXIT_RUNTIME;
    if (WIFSIGNALED(status)) {
        if (!killed) log_error("QEMU was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
        else log_error("QEMU did not end in time and was killed");
        return EXIT_RUNTIME;
    }
    int code = WEXITSTATUS(status);
    /* isa-debug-exit makes QEMU exit with (N << 1) | 1 for the guest's N. */
    if (cfg->vm.exit_device && (code & 1)) return code >> 1;
    if (code == 0) return EXIT_OK;
    log_error("QEMU exited with status %d", code);
    return EXIT_RUNTIME;
}

static void log_event(Supervisor *s, json_object *ev) {
    const char *name = qmp_event_name(ev);
    /* A guest in a reboot loop would fill the log: the first few say it. */
    if (streq(name, "RESET") && ++s->resets > 3) {
        if (s->resets == 4) log_notice("the guest keeps resetting; further RESET events are not shown");
        return;
    }
    json_object *data = json_object_object_get(ev, "data");
    const char *detail = data ? json_object_to_json_string_ext(data, JSON_C_TO_STRING_PLAIN) : "";
    if (streq(name, "GUEST_PANICKED")) log_error("guest panicked %s", detail);
    else if (streq(name, "SHUTDOWN") || streq(name, "RESET") || streq(name, "STOP") || streq(name, "POWERDOWN"))
        log_notice("QEMU event %s %s", name, detail);
    else log_debug("QEMU event %s %s", name, detail);
}

static void send_quit(Supervisor *s);
static void handle_guest_trouble(Supervisor *s, json_object *ev);

static void drain_events(Supervisor *s) {
    json_object *ev;
    for (;;) {
        int r = qmp_next_event(s->qmp, &ev, 0);
        if (r == -ETIMEDOUT) return;
        if (r < 0) {
            /* QEMU closed QMP: it is on its way out; SIGCHLD follows. */
            log_debug("QMP closed: %s", s->qmp->error ? s->qmp->error : "");
            s->qmp = NULL;
            return;
        }
        log_event(s, ev);
        handle_guest_trouble(s, ev);
        json_object_put(ev);
    }
}

static void send_quit(Supervisor *s) {
    if (s->qmp && qmp_execute(s->qmp, "quit", NULL, NULL, QMP_CMD_TIMEOUT_MS) < 0 && s->qmp->error)
        log_debug("quit: %s", s->qmp->error);
    s->kill_at_ms = monotonic_ms() + QUIT_GRACE_MS;
    s->quit_at_ms = 0;
}

static void begin_shutdown(Supervisor *s) {
    if (s->kill_at_ms) {
        /* Asked a third time: no more waiting at all. */
        log_notice("killing QEMU of %s", s->cfg->vm.name);
        kill(s->qemu, SIGKILL);
        s->killed = true;
        return;
    }
    if (s->stop != STOP_NONE) {
        /* A second request: no more waiting for the guest. */
        log_notice("stopping %s now", s->cfg->vm.name);
        send_quit(s);
        return;
    }
    if (s->crash.held != TROUBLE_NONE) {
        /* A paused guest cannot power down; it ended in a crash. */
        log_notice("stopping %s, kept paused after a %s", s->cfg->vm.name, crashpolicy_trouble_name(s->crash.held));
        notify_send(s->notify_fd, "STOPPING=1\nSTATUS=%s: stopping", s->cfg->vm.name);
        s->stop = STOP_CRASH;
        send_quit(s);
        return;
    }
    s->stop = STOP_SIGNAL;
    notify_send(s->notify_fd, "STOPPING=1\nSTATUS=%s: asking the guest to power down", s->cfg->vm.name);
    log_notice("asking the guest of %s to power down (up to %llus)", s->cfg->vm.name,
               (unsigned long long)(s->cfg->vm.shutdown_timeout_ms / 1000));
    if (s->qmp && qmp_execute(s->qmp, "system_powerdown", NULL, NULL, QMP_CMD_TIMEOUT_MS) < 0)
        log_warning("system_powerdown failed: %s", s->qmp ? s->qmp->error : "QMP closed");
    s->quit_at_ms = monotonic_ms() + (int64_t)s->cfg->vm.shutdown_timeout_ms;
}

/* ---- [vm] on-crash, watchdog-action, restart-limit, on-reboot ---- */

static void stop_for_crash(Supervisor *s) {
    s->stop = STOP_CRASH;
    notify_send(s->notify_fd, "STOPPING=1\nSTATUS=%s: stopping after a guest failure", s->cfg->vm.name);
    send_quit(s);
}

static void reset_guest(Supervisor *s, const char *what) {
    CrashWatch *w = &s->crash;
    const VmSection *vm = &s->cfg->vm;
    w->last_time = (int64_t)time(NULL);
    _cleanup_free_ char *limit = crashpolicy_limit_text(&vm->restart_limit);
    log_warning("%s: resetting the guest of %s (restart %llu, restart-limit = %s)", what, vm->name, (unsigned long long)w->restarts, limit);
    crashwatch_save(w);
    if (crashwatch_reset(w, s->qmp, monotonic_ms()) < 0) {
        log_error("the guest of %s could not be reset: stopping it", vm->name);
        stop_for_crash(s);
        return;
    }
    notify_send(s->notify_fd, "STATUS=%s runs: guest reset after a %s (restart %llu)", vm->name, crashpolicy_trouble_name(w->last),
                (unsigned long long)w->restarts);
}

static void handle_guest_trouble(Supervisor *s, json_object *ev) {
    CrashWatch *w = &s->crash;
    const VmSection *vm = &s->cfg->vm;
    const char *name = qmp_event_name(ev);
    if (crashwatch_event(w, s->qmp, ev) < 0) {
        stop_for_crash(s);
        return;
    }
    json_object *data = json_object_object_get(ev, "data");
    const char *reason = vmlive_str(data, "reason");
    if (streq(name, "SHUTDOWN") && vm->on_reboot == ON_REBOOT_STOP && reason && streq(reason, "guest-reset"))
        log_notice("the guest of %s rebooted: on-reboot = stop ends the VM", vm->name);
    Trouble t = crashpolicy_trouble(ev);
    /* One at a time: a VM on its way out, or in a reset, is left to it. */
    if (t == TROUBLE_NONE || s->stop != STOP_NONE || w->cont_pending) return;
    const char *what = t == TROUBLE_PANIC ? "the guest panicked" : "the guest's watchdog expired";
    const char *key = t == TROUBLE_PANIC ? "on-crash" : "watchdog-action";
    const char *word = t == TROUBLE_PANIC ? on_crash_to_string(vm->on_crash) : watchdog_do_to_string(vm->watchdog_action);
    _cleanup_free_ char *limit = NULL;
    switch (crashpolicy_decide(w, t, monotonic_ms())) {
    case CRASH_IGNORE: log_warning("%s (%s = %s): nothing done", what, key, word); break;
    case CRASH_RESET: reset_guest(s, what); break;
    case CRASH_HOLD:
        w->held = t;
        log_error("%s: %s is kept paused for inspection (%s = %s); `kvmlaunch stop %s` ends it", what, vm->name, key, word, vm->name);
        notify_send(s->notify_fd, "STATUS=%s: paused after a guest %s", vm->name, crashpolicy_trouble_name(t));
        break;
    case CRASH_STOP:
        log_error("%s: stopping %s (%s = %s)", what, vm->name, key, word);
        stop_for_crash(s);
        break;
    case CRASH_LIMIT:
        limit = crashpolicy_limit_text(&vm->restart_limit);
        log_error("%s: stopping %s: one more reset would pass restart-limit = %s (reset %llu times so far)", what, vm->name, limit,
                  (unsigned long long)w->restarts);
        stop_for_crash(s);
        break;
    }
}

/* A reset's cont and reboot=shutdown, when their events did not come. */
static int64_t crash_deadline(Supervisor *s, int64_t now, int64_t next) {
    int error;
    next = crashwatch_tick(&s->crash, s->qmp, now, next, &error);
    if (error < 0 && s->stop == STOP_NONE) stop_for_crash(s);
    return next;
}

static int supervise_loop(Supervisor *s);

int supervise(Supervisor *s) {
    crashwatch_init(&s->crash, &s->cfg->vm, s->rundir_fd);
    int rc = supervise_loop(s);
    crashwatch_free(&s->crash);
    return rc;
}

static int supervise_loop(Supervisor *s) {
    if (s->cfg->vm.timeout_ms && !s->timeout_at_ms) s->timeout_at_ms = monotonic_ms() + (int64_t)s->cfg->vm.timeout_ms;
    for (;;) {
        int64_t now = monotonic_ms(), next = -1;
        if (s->timeout_at_ms && s->stop != STOP_TIMEOUT) {
            if (now >= s->timeout_at_ms) {
                log_error("%s ran past its timeout of %llus: stopping it", s->cfg->vm.name,
                          (unsigned long long)(s->cfg->vm.timeout_ms / 1000));
                s->stop = STOP_TIMEOUT;
                send_quit(s);
                continue;
            }
            next = s->timeout_at_ms;
        }
        /* Not while a crashed guest is held for inspection (on-crash =
         * pause) or being reset: the budget must not end what the user
         * asked to keep. */
        bool crash_busy = s->crash.held != TROUBLE_NONE || s->crash.cont_pending;
        int64_t boot_at = s->boot && s->stop == STOP_NONE && !crash_busy ? boottime_deadline_ms(s->boot) : -1;
        if (boot_at >= 0) {
            if (now >= boot_at) {
                if (boottime_budget_passed(s->boot)) {
                    s->stop = STOP_BOOT_BUDGET;
                    send_quit(s);
                }
                continue;
            }
            if (next < 0 || boot_at < next) next = boot_at;
        }
        if (s->quit_at_ms) {
            if (now >= s->quit_at_ms) {
                log_warning("the guest did not power down in time: quitting QEMU");
                send_quit(s);
                continue;
            }
            if (next < 0 || s->quit_at_ms < next) next = s->quit_at_ms;
        }
        if (s->steering && s->steering->n) {
            if (now >= s->steer_at_ms) {
                /* A re-pin moved the masks: keep steering where it put them. */
                if (s->rundir_fd >= 0 && vmlive_steering_follow(s->rundir_fd, s->steering, &s->live) > 0)
                    log_info("tap steering follows the placement `kvmlaunch pin` set");
                steering_refresh(s->steering);
                s->steer_at_ms = now + STEER_EVERY_MS;
            }
            if (next < 0 || s->steer_at_ms < next) next = s->steer_at_ms;
        }
        /* Threads that drifted or appeared put where they belong. */
        if (s->watch && s->stop == STOP_NONE) placewatch_tick(s->watch, now, &next);
        next = crash_deadline(s, now, next);
        if (s->kill_at_ms && !s->killed) {
            if (now >= s->kill_at_ms) {
                kill(s->qemu, SIGKILL);
                s->killed = true;
                continue;
            }
            if (next < 0 || s->kill_at_ms < next) next = s->kill_at_ms;
        }
        struct pollfd p[2 + SERIAL_RELAY_POLLFDS] = { { .fd = s->sigfd, .events = POLLIN }, { .fd = s->qmp ? s->qmp->fd : -1, .events = POLLIN } };
        /* The serial console in the same wait: the guest's output is read
         * as soon as it comes, whatever else the loop waits for. */
        size_t n_serial = s->serial ? serial_relay_pollfds(s->serial, p + 2) : 0;
        /* Capped: a deadline weeks away must not overflow poll's int. */
        int wait = next < 0 ? -1 : next - now > 60000 ? 60000 : (int)(next - now);
        /* Bytes may already sit in the QMP buffer from a command's reply. */
        if (s->qmp && (s->qmp->len || s->qmp->n_events)) wait = 0;
        int r = poll(p, 2 + n_serial, wait);
        if (r < 0 && errno != EINTR) {
            /* Nothing can be watched any more: QEMU goes too, reaped, so
             * that the teardown after us finds it dead as it assumes. */
            log_error_errno(-errno, "poll failed: %m; stopping QEMU");
            kill(s->qemu, SIGKILL);
            waitpid(s->qemu, NULL, 0);
            return EXIT_RUNTIME;
        }
        if (r > 0 && n_serial) serial_relay_handle(s->serial, p + 2, n_serial);
        if (s->qmp) drain_events(s);
        struct signalfd_siginfo si;
        while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGCHLD) continue;
            log_notice("got %s", strsignal((int)si.ssi_signo));
            begin_shutdown(s);
        }
        if (s->reap_helpers) s->reap_helpers(s->helpers);
        int status;
        pid_t w = waitpid(s->qemu, &status, WNOHANG);
        if (w == s->qemu) {
            if (s->qmp) drain_events(s);
            /* Its last output may still be in the socket. */
            if (s->serial) serial_relay_drain(s->serial);
            return supervise_exit_code(s->cfg, status, s->stop, s->killed);
        }
    }
}
