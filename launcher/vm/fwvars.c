/* UEFI code and vars for QEMU (include/fwvars.h). Everything here runs
 * with QEMU's file-system ids (spawn_call_as_groups): the template is read
 * as the VM's user reads it, the store is created by that user (so it
 * owns it), and root never writes into the user's directory, which the
 * user could have filled with links. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h> /* renameat2 */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firmware.h"
#include "fwvars.h"
#include "log.h"
#include "util.h"

typedef struct FwJob {
    const char *code, *template;
    int dir_fd;
    int code_fd, vars_fd;
    bool copied;
    const char *failed;             /* what failed, for the message */
    const char *failed_path;
} FwJob;

static int fail(FwJob *j, const char *what, const char *path, int r) {
    j->failed = what;
    j->failed_path = path;
    return r;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The template into FIRMWARE_VARS_FILE, unless it is there already. */
static int copy_template(FwJob *j) {
    int src = open(j->template, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (src < 0) return fail(j, "open the vars template", j->template, -errno);
    char *buf = NULL;
    size_t len = 0;
    int r = read_fd_all(src, FWVARS_MAX, &buf, &len);
    close(src);
    if (r < 0) return fail(j, "read the vars template", j->template, r);
    /* One name: the VM's lock keeps a second start of it out, and a start
     * killed half-way leaves this behind for the next one to replace. */
    const char *tmp = "." FIRMWARE_VARS_FILE ".new";
    (void)unlinkat(j->dir_fd, tmp, 0);
    int fd = openat(j->dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        free(buf);
        return fail(j, "create", tmp, -errno);
    }
    /* 0600 whatever the umask; fsync before the rename, so the name never
     * points at a half-written store. */
    if ((r = fchmod(fd, 0600) < 0 ? -errno : 0) < 0 || (r = write_all(fd, buf, len)) < 0 || (r = fsync(fd) < 0 ? -errno : 0) < 0) {
        free(buf);
        close(fd);
        (void)unlinkat(j->dir_fd, tmp, 0);
        return fail(j, "write", tmp, r);
    }
    free(buf);
    close(fd);
    /* Never over a store a guest wrote (a second start racing this one
     * made it first: then that one is kept). */
    if (renameat2(j->dir_fd, tmp, j->dir_fd, FIRMWARE_VARS_FILE, RENAME_NOREPLACE) < 0) {
        r = -errno;
        (void)unlinkat(j->dir_fd, tmp, 0);
        if (r != -EEXIST) return fail(j, "rename into place", FIRMWARE_VARS_FILE, r);
        return 0;
    }
    j->copied = true;
    if (fsync(j->dir_fd) < 0) return fail(j, "fsync the state dir after creating", FIRMWARE_VARS_FILE, -errno);
    return 0;
}

static int open_firmware(void *arg) {
    FwJob *j = arg;
    j->code_fd = open(j->code, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (j->code_fd < 0) return fail(j, "open the firmware code", j->code, -errno);
    if (!j->template) return 0;
    j->vars_fd = openat(j->dir_fd, FIRMWARE_VARS_FILE, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (j->vars_fd < 0 && errno == ENOENT) {
        int r = copy_template(j);
        if (r < 0) return r;
        j->vars_fd = openat(j->dir_fd, FIRMWARE_VARS_FILE, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    }
    if (j->vars_fd < 0) return fail(j, "open read-write", FIRMWARE_VARS_FILE, -errno);
    struct stat st;
    if (fstat(j->vars_fd, &st) < 0) return fail(j, "stat", FIRMWARE_VARS_FILE, -errno);
    if (!S_ISREG(st.st_mode)) return fail(j, "find a regular file at", FIRMWARE_VARS_FILE, -EINVAL);
    return 0;
}

int fwvars_open(const VmSection *vm, const SpawnIdentity *id, int dir_fd, const char *dir, int *code_fd, int *vars_fd) {
    *code_fd = *vars_fd = -1;
    FwJob j = { .code = firmware_code(vm), .template = firmware_vars_template(vm), .dir_fd = dir_fd, .code_fd = -1, .vars_fd = -1 };
    if (!j.code) return 0;
    if (j.template && dir_fd < 0) return log_error_errno(-EINVAL, "%s: no state dir for the UEFI vars", vm->name);
    int r = id && id->change_id ? spawn_call_as_groups(id->uid, id->gid, id->groups, id->n_groups, open_firmware, &j, NULL) : open_firmware(&j);
    if (r < 0) {
        if (j.code_fd >= 0) close(j.code_fd);
        if (j.vars_fd >= 0) close(j.vars_fd);
        if (!j.failed) return log_error_errno(r, "%s: cannot open the UEFI firmware as QEMU's user: %m", vm->name);
        if (j.failed_path && j.failed_path[0] != '/')
            return log_error_errno(r, "%s: cannot %s %s/%s as QEMU's user: %m", vm->name, j.failed, dir, j.failed_path);
        return log_error_errno(r, "%s: cannot %s %s as QEMU's user: %m", vm->name, j.failed, j.failed_path);
    }
    if (j.copied) log_info("%s: UEFI vars %s/%s made from %s", vm->name, dir, FIRMWARE_VARS_FILE, j.template);
    *code_fd = j.code_fd;
    *vars_fd = j.vars_fd;
    return 0;
}
