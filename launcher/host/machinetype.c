/* Stable machine types: resolving q35/pc and the state dir's record
 * (include/machinetype.h). */
#include "machinetype.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"
#include "statedir.h"
#include "supervise.h"
#include "util.h"

/* `-machine help` prints in milliseconds; a wedged binary must not hang check. */
#define HELP_TIMEOUT_MS 10000
#define HELP_MAX (256u << 10)

char *machinetype_help(const char *binary) {
    static const char *const args[] = { "-machine", "help", NULL };
    char *help = spawn_capture(binary, args, HELP_MAX, HELP_TIMEOUT_MS);
    if (help && !*help) help = x_free(help);
    return help;
}

bool machinetype_name_ok(const char *name) {
    size_t n = strlen(name);
    return n && n <= 64 && strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n && name[0] != '-';
}

/* The line of HELP whose first word is NAME, or NULL; *len its length. */
static const char *find_line(const char *help, const char *name, size_t *len) {
    size_t nl = strlen(name);
    for (const char *l = help; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        size_t ll = strcspn(l, "\n");
        if (ll > nl && !strncmp(l, name, nl) && (l[nl] == ' ' || l[nl] == '\t')) {
            *len = ll;
            return l;
        }
    }
    return NULL;
}

char *machinetype_alias_target(const char *help, const char *alias) {
    size_t len;
    const char *l = find_line(help, alias, &len);
    if (!l) return NULL;
    _cleanup_free_ char *line = xstrndup(l, len);
    const char *a = strstr(line, "(alias of ");
    if (!a) return NULL;
    a += strlen("(alias of ");
    char *t = xstrndup(a, strcspn(a, ")"));
    if (!machinetype_name_ok(t)) t = x_free(t);
    return t;
}

bool machinetype_offered(const char *help, const char *name) {
    size_t len;
    return find_line(help, name, &len) != NULL;
}

int machinetype_read(const char *state_path, char **type) {
    *type = NULL;
    _cleanup_free_ char *path = xasprintf("%s/%s", state_path, MACHINE_STATE_FILE);
    /* The dir is the VM user's: what lies there may be a FIFO (which would
     * hold a blocking open) or a device; only a regular file is read. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) return 0;
    if (fd < 0) return log_error_errno(-errno, "Failed to open %s: %m", path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        log_error("%s is not a regular file; remove it to record the machine type anew", path);
        return -EBADMSG;
    }
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n < 0) return log_error_errno(-errno, "Failed to read %s: %m", path);
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    if (!machinetype_name_ok(buf)) {
        log_error("%s holds no machine type (expected one line such as pc-q35-7.2); remove it to record the type anew", path);
        return -EBADMSG;
    }
    *type = xstrdup(buf);
    return 1;
}

int machinetype_write(int state_fd, const char *type) {
    static const char tmp[] = MACHINE_STATE_FILE ".tmp";
    unlinkat(state_fd, tmp, 0);
    _cleanup_close_ int fd = openat(state_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return log_error_errno(-errno, "Failed to create %s in the state dir: %m", tmp);
    int r = dprintf(fd, "%s\n", type) < 0 ? -EIO : 0;
    if (r == 0 && fsync(fd) < 0) r = -errno;
    if (r == 0 && renameat(state_fd, tmp, state_fd, MACHINE_STATE_FILE) < 0) r = -errno;
    if (r < 0) {
        unlinkat(state_fd, tmp, 0);
        return log_error_errno(r, "Failed to record the machine type in the state dir: %m");
    }
    return 0;
}

void machinetype_probe(const VmConfig *cfg, const char *qemu_binary, char **type, int *source) {
    *type = NULL;
    *source = MACHINE_AS_WRITTEN;
    if (!vmconf_machine_is_alias(&cfg->vm)) return;
    _cleanup_free_ char *state = statedir_path(cfg);
    int r = machinetype_read(state, type);
    if (r != 0) {
        *source = r > 0 ? MACHINE_RECORDED : MACHINE_RECORD_BAD;
        return;
    }
    /* The first start (or a dry run before it): the one QEMU run. */
    if (!qemu_binary || !strchr(qemu_binary, '/')) return;
    _cleanup_free_ char *help = machinetype_help(qemu_binary);
    *type = help ? machinetype_alias_target(help, vmconf_machine_written(&cfg->vm)) : NULL;
    if (*type) *source = MACHINE_RESOLVED;
}
