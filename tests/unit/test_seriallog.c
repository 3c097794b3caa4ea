/* The serial log (seriallog.h): the directory rule (pure), and, as root,
 * the log looked at and opened as nobody: a root-only file, a symbolic link
 * in the middle of the path, shared directories, kernel filesystems and
 * devices refused, with nothing created; what nobody owns opens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seriallog.h"
#include "skip.h"
#include "util.h"

#define NOBODY 65534

static struct stat dir_st(uid_t owner, mode_t mode) {
    struct stat st = { 0 };
    st.st_uid = owner;
    st.st_mode = S_IFDIR | mode;
    return st;
}

static void test_dir_rule(void **state) {
    (void)state;
    struct stat st;
    st = dir_st(0, 0755);
    assert_null(seriallog_dir_shared(&st, NOBODY));
    st = dir_st(NOBODY, 0700);
    assert_null(seriallog_dir_shared(&st, NOBODY));
    st = dir_st(NOBODY, 0755);
    assert_null(seriallog_dir_shared(&st, NOBODY));
    /* Another user owns it: it may chmod, rename, swap at will. */
    st = dir_st(1000, 0700);
    assert_string_equal(seriallog_dir_shared(&st, NOBODY), "owned by another user");
    st = dir_st(1000, 0755);
    assert_null(seriallog_dir_shared(&st, 1000));
    /* /tmp: sticky does not keep a name from being taken first. */
    st = dir_st(0, 01777);
    assert_string_equal(seriallog_dir_shared(&st, NOBODY), "writable by every user");
    st = dir_st(0, 0777);
    assert_string_equal(seriallog_dir_shared(&st, NOBODY), "writable by every user");
    st = dir_st(NOBODY, 0703);
    assert_string_equal(seriallog_dir_shared(&st, NOBODY), "writable by every user");
    /* Whoever is in the group (or named by an ACL, whose mask shows here). */
    st = dir_st(0, 0775);
    assert_string_equal(seriallog_dir_shared(&st, NOBODY), "writable by its group");
    st = dir_st(NOBODY, 0770);
    assert_string_equal(seriallog_dir_shared(&st, NOBODY), "writable by its group");
    st = dir_st(0, 0750);
    assert_null(seriallog_dir_shared(&st, 0));
}

static char base[] = "/tmp/kl-seriallog-XXXXXX";
static struct passwd nobody = { .pw_name = (char *)"nobody", .pw_uid = NOBODY, .pw_gid = NOBODY };

static char *at(const char *rel) { return xasprintf("%s/%s", base, rel); }

static void mkdir_as(const char *rel, mode_t mode, uid_t owner) {
    _cleanup_free_ char *p = at(rel);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(chown(p, owner, owner), 0);
    assert_int_equal(chmod(p, mode), 0);
}

/* As the run (create) or the check would, as nobody unless PW is NULL. */
static int try_log(const char *path, bool create, const struct passwd *pw, SerialLog *l) {
    seriallog_init(l, path, pw ? pw->pw_name : NULL, pw, true);
    l->create = create;
    return seriallog_open(l);
}

static bool exists(const char *rel) {
    _cleanup_free_ char *p = at(rel);
    struct stat st;
    return lstat(p, &st) == 0;
}

static void test_open_as_nobody(void **state) {
    (void)state;
    if (geteuid() != 0) skip_because("opening as another user needs root");
    assert_non_null(mkdtemp(base));
    assert_int_equal(chmod(base, 0755), 0);
    mkdir_as("u", 0700, NOBODY);   /* nobody's own */
    mkdir_as("r", 0700, 0);        /* root's alone */
    mkdir_as("pub", 0755, 0);      /* root's, others read */
    mkdir_as("w", 01777, 0);       /* like /tmp */
    mkdir_as("g", 0770, 0);        /* a group may write */
    SerialLog l;

    /* nobody's directory: the check creates nothing; the run creates the
     * log, nobody's, and appends. */
    _cleanup_free_ char *ulog = at("u/log");
    assert_int_equal(try_log(ulog, false, &nobody, &l), 0);
    assert_false(l.existed);
    assert_false(exists("u/log"));
    int fd = try_log(ulog, true, &nobody, &l);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_uid, NOBODY);
    assert_true(fcntl(fd, F_GETFL) & O_APPEND);
    close(fd);
    assert_int_equal(try_log(ulog, false, &nobody, &l), 0);
    assert_true(l.existed);

    /* A root file 0600 where nobody could reach it: refused, untouched. */
    _cleanup_free_ char *precious = at("pub/precious");
    fd = open(precious, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    assert_int_equal(try_log(precious, false, &nobody, &l), -EACCES);
    assert_int_equal(l.fault, SERIALLOG_DENIED);
    assert_true(l.existed);
    assert_int_equal(try_log(precious, true, &nobody, &l), -EACCES);
    assert_int_equal(stat(precious, &st), 0);
    assert_int_equal(st.st_size, 1);
    /* Root's directory: nobody may not create there. */
    _cleanup_free_ char *publog = at("pub/log");
    assert_int_equal(try_log(publog, true, &nobody, &l), -EACCES);
    assert_int_equal(l.fault, SERIALLOG_DENIED);
    assert_false(exists("pub/log"));
    _cleanup_free_ char *why = seriallog_why(&l);
    _cleanup_free_ char *want = xasprintf("nobody cannot create %s: Permission denied", publog);
    assert_string_equal(why, want);
    /* Not reachable at all. */
    _cleanup_free_ char *rlog = at("r/log");
    assert_int_equal(try_log(rlog, false, &nobody, &l), -EACCES);
    assert_int_equal(l.fault, SERIALLOG_DIR_DENIED);

    /* A symbolic link in the middle, to root's directory: never followed,
     * by nobody or by root. */
    _cleanup_free_ char *link = at("u/x");
    _cleanup_free_ char *rdir = at("r");
    assert_int_equal(symlink(rdir, link), 0);
    _cleanup_free_ char *via = at("u/x/log");
    assert_int_equal(try_log(via, true, &nobody, &l), -ELOOP);
    assert_int_equal(l.fault, SERIALLOG_SYMLINK);
    assert_int_equal(try_log(via, true, NULL, &l), -ELOOP);
    assert_int_equal(l.fault, SERIALLOG_SYMLINK);
    assert_false(exists("r/log"));
    /* The log itself a link: refused as no regular file. */
    _cleanup_free_ char *llog = at("u/linklog");
    assert_int_equal(symlink(precious, llog), 0);
    assert_int_equal(try_log(llog, true, NULL, &l), -EPERM);
    assert_int_equal(l.fault, SERIALLOG_NOT_FILE);
    assert_true(S_ISLNK(l.st.st_mode));
    assert_int_equal(stat(precious, &st), 0);
    assert_int_equal(st.st_size, 1);

    /* Directories others may write: refused for nobody, allowed to root
     * without a user (QEMU as root could write there itself). */
    _cleanup_free_ char *wlog = at("w/log");
    assert_int_equal(try_log(wlog, true, &nobody, &l), -EPERM);
    assert_int_equal(l.fault, SERIALLOG_SHARED_DIR);
    assert_false(exists("w/log"));
    _cleanup_free_ char *glog = at("g/log");
    assert_int_equal(try_log(glog, false, &nobody, &l), -EPERM);
    assert_int_equal(l.fault, SERIALLOG_SHARED_DIR);
    free(why);
    why = seriallog_why(&l);
    free(want);
    want = xasprintf("expected a directory only root and nobody can write, found %s/g (owner uid 0, mode 0770) writable by its group", base);
    assert_string_equal(why, want);
    fd = try_log(wlog, true, NULL, &l);
    assert_true(fd >= 0);
    close(fd);

    /* Kernel filesystems, devices. */
    assert_int_equal(try_log("/proc/sys/kernel/core_pattern", false, NULL, &l), -EPERM);
    assert_int_equal(l.fault, SERIALLOG_KERNEL_FS);
    assert_int_equal(try_log("/dev/null", true, NULL, &l), -EPERM);
    assert_int_equal(l.fault, SERIALLOG_NOT_FILE);
    assert_int_equal(try_log("/nonexistent/log", false, NULL, &l), -ENOENT);
    assert_int_equal(l.fault, SERIALLOG_NO_DIR);

    /* The default log, in a directory kvmlaunch holds open. */
    _cleanup_free_ char *rpath = at("r/serial.log");
    int dfd = open(rdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    seriallog_init_private(&l, rpath, dfd);
    l.create = true;
    fd = seriallog_open(&l);
    assert_true(fd >= 0);
    close(fd);
    close(dfd);
    assert_true(exists("r/serial.log"));

    /* The caller is root still. */
    uid_t ru, eu, su;
    assert_int_equal(getresuid(&ru, &eu, &su), 0);
    assert_true(ru == 0 && eu == 0 && su == 0);
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

/* In a child whose openat2 and faccessat2 answer ENOSYS (Linux before 5.6
 * and 5.8, valgrind 3.19), the same rules hold: no symlink anywhere on
 * the way, nobody cannot create in root's directory, nobody's own works.
 * The child's exit status is the number of the first rule that failed. */
static int rules_without_openat2(void) {
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0) < 0 ||
        seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(faccessat2), 0) < 0 || seccomp_load(ctx) < 0)
        return 100;
    seccomp_release(ctx);
    SerialLog l;
    _cleanup_free_ char *via = at("u/x/log"), *ulog = at("u/log"), *publog = at("pub/log"), *wlog = at("w/log");
    if (try_log(via, true, &nobody, &l) != -ELOOP || l.fault != SERIALLOG_SYMLINK) return 1;
    if (try_log(via, true, NULL, &l) != -ELOOP || l.fault != SERIALLOG_SYMLINK) return 2;
    if (try_log(ulog, false, &nobody, &l) != 0) return 3;
    int fd = try_log(ulog, true, &nobody, &l);
    if (fd < 0) return 4;
    close(fd);
    if (try_log(publog, false, &nobody, &l) != -EACCES || l.fault != SERIALLOG_DENIED) return 5;
    if (try_log(publog, true, &nobody, &l) != -EACCES || exists("pub/log")) return 6;
    if (try_log(wlog, true, &nobody, &l) != -EPERM || l.fault != SERIALLOG_SHARED_DIR) return 7;
    return 0;
}

static void test_without_openat2(void **state) {
    (void)state;
    if (geteuid() != 0) skip_because("opening as another user needs root");
    strcpy(base, "/tmp/kl-seriallog-XXXXXX");
    assert_non_null(mkdtemp(base));
    assert_int_equal(chmod(base, 0755), 0);
    mkdir_as("u", 0700, NOBODY);
    mkdir_as("r", 0700, 0);
    mkdir_as("pub", 0755, 0);
    mkdir_as("w", 01777, 0);
    _cleanup_free_ char *link = at("u/x"), *rdir = at("r");
    assert_int_equal(symlink(rdir, link), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(rules_without_openat2());
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status)) fail_msg("without openat2, rule %d failed", WEXITSTATUS(status));
    assert_false(exists("r/log"));
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", base);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_dir_rule), cmocka_unit_test(test_open_as_nobody),
                                        cmocka_unit_test(test_without_openat2) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
