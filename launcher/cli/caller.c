/* The user kvmlaunch runs for, and VM.INI read as them (include/caller.h). */
#include "caller.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <unistd.h>

#include "log.h"
#include "seriallog.h"
#include "spawn.h"
#include "util.h"
#include "userdb.h"

/* A decimal id, nothing else ("1000", not "1000x" or "-1"). */
static bool parse_id(const char *s, unsigned long *out) {
    if (!s || *s < '0' || *s > '9') return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v >= (unsigned long)(uid_t)-1) return false;
    *out = v;
    return true;
}

void caller_identify(Caller *c) {
    memset(c, 0, sizeof(*c));
    if (geteuid() != 0) return; /* the kernel already answers as this user */
    unsigned long uid = getuid(), gid = getgid();
    if (uid == 0) {
        /* sudo (and run0) say whom they ran root for. Without it, or for
         * root itself, root runs for root. */
        if (!parse_id(getenv("SUDO_UID"), &uid) || uid == 0) return;
        c->sudo = true;
        gid = (unsigned long)-1;
        parse_id(getenv("SUDO_GID"), &gid);
    }
    c->other = true;
    c->uid = (uid_t)uid;
    struct passwd *pw = userdb_getpwuid(c->uid);
    c->gid = gid != (unsigned long)-1 ? (gid_t)gid : pw ? pw->pw_gid : (gid_t)uid;
    /* The account's name from the user database; SUDO_USER only words the
     * message when the database has none. */
    const char *sudo_user = c->sudo ? getenv("SUDO_USER") : NULL;
    c->name = pw ? xstrdup(pw->pw_name) : !strempty(sudo_user) ? xstrdup(sudo_user) : xasprintf("uid %lu", uid);
    if (!pw) return; /* no groups known: the primary group alone */
    /* getgrouplist says how many there are when the array is too small. */
    int n = 16;
    c->groups = xmalloc((size_t)n * sizeof(gid_t));
    for (;;) {
        int want = n;
        if (userdb_getgrouplist(pw->pw_name, c->gid, c->groups, &want) >= 0) {
            c->n_groups = want;
            return;
        }
        if (want <= n || want > NGROUPS_MAX) return; /* the primary group alone */
        n = want;
        c->groups = xrealloc(c->groups, (size_t)n * sizeof(gid_t));
    }
}

void caller_free(Caller *c) {
    free(c->name);
    free(c->groups);
    memset(c, 0, sizeof(*c));
}

/* In the thread with the caller's identity (spawn_call_as_groups): the fd
 * lands in the process's table, which the threads share. */
static int open_config(void *arg) {
    int fd = open(arg, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

static int open_as(const Caller *c, const char *path, bool *identity) {
    return spawn_call_as_groups(c->uid, c->gid, c->groups, (size_t)c->n_groups, open_config, (void *)path, identity);
}

int caller_open_config(const char *path, ErrList *errors) {
    Caller c;
    caller_identify(&c);
    int fd;
    if (!c.other) {
        /* O_NONBLOCK: a FIFO must not hang the launcher; fstat refuses it next. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
            fd = -errno;
            errlist_addf(errors, 0, "%s: cannot open the VM definition: %s", path, strerror(-fd));
        }
        return fd;
    }
    bool identity = false;
    fd = open_as(&c, path, &identity);
    if (fd < 0 && !identity)
        errlist_addf(errors, 0, "%s: cannot open the VM definition as %s: %s", path, c.name, strerror(-fd));
    else if (fd < 0)
        errlist_addf(errors, 0, "%s: cannot be read by %s (the user %s): %s", path, c.name,
                     c.sudo ? "sudo ran kvmlaunch for" : "who ran kvmlaunch", strerror(-fd));
    caller_free(&c);
    return fd;
}

int caller_open_file(const char *path, char **who) {
    Caller c;
    caller_identify(&c);
    int fd;
    if (who) *who = c.other ? xstrdup(c.name) : NULL;
    if (!c.other) {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) fd = -errno;
    } else {
        bool identity = false;
        fd = open_as(&c, path, &identity);
    }
    caller_free(&c);
    return fd;
}

static int open_dir(void *arg) {
    int fd = open_no_symlinks(arg, O_PATH | O_DIRECTORY);
    return fd < 0 ? -errno : fd;
}

int caller_open_dir(const char *path, char **who) {
    Caller c;
    caller_identify(&c);
    if (who) *who = c.other ? xstrdup(c.name) : NULL;
    int fd = c.other ? spawn_call_as_groups(c.uid, c.gid, c.groups, (size_t)c.n_groups, open_dir, (void *)path, NULL) : open_dir((void *)path);
    caller_free(&c);
    return fd;
}

void caller_explain_unprivileged(void) {
    if (geteuid() == 0) return;
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &hdr, caps) < 0) return;
    for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
        if (caps[i].effective) return;
    struct passwd *pw = userdb_getpwuid(geteuid());
    log_error("kvmlaunch ran as %s (uid %ld), not root: a run prepares the host (its run dir, cgroups, taps, kernel settings) and "
              "needs root, as sudo or the unit kvmlaunch@.service gives it; `kvmlaunch check` and `--dry-run` work as any user",
              pw ? pw->pw_name : "a user", (long)geteuid());
}
