/* Host facts: the descriptor layout QEMU gets, what the probe reads from
 * disk files (qcow2 magic, block devices, missing files), and opening a
 * file as QEMU's user (spawn_open_as) without changing who we are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostfacts.h"
#include "spawn.h"
#include "skip.h"
#include "util.h"
#include "vmconf.h"

static void load(const char *text, VmConfig *cfg) {
    ErrList el = { 0 };
    int r = vmconf_load_buffer("t.ini", text, strlen(text), cfg, &el);
    if (r < 0) fail_msg("%s", el.n ? el.e[0].msg : "load failed");
}

static void test_fd_layout(void **state) {
    (void)state;
    VmConfig cfg;
    load("[vm]\nname = t\nmemory = 1G\nvcpus = 4\n[net \"a\"]\nqueues = 2\n[net \"b\"]\nqueues = 1\nvhost = off\n", &cfg);
    HostFacts f = { .vhost_net_usable = true };
    hostfacts_assign_fds(&cfg, &f);
    assert_int_equal(f.qmp_fd, 3);
    assert_int_equal(f.status_fd, 4);
    /* A terminal: serial on stdout, through the serial socket pair. */
    assert_int_equal(f.serial_fd, 5);
    assert_int_equal(f.n_nets, 2);
    assert_int_equal(f.nets[0].queues, 2);
    assert_int_equal(f.nets[0].tap[0], 6);
    assert_int_equal(f.nets[0].tap[1], 7);
    assert_int_equal(f.nets[0].vhost[0], 8);
    assert_int_equal(f.nets[0].vhost[1], 9);
    assert_int_equal(f.nets[1].tap[0], 10);
    assert_null(f.nets[1].vhost); /* vhost = off */
    /* Assigning again (after the facts changed) replaces the layout; a
     * serial log file goes through the same socket pair. */
    f.vhost_net_usable = false;
    f.stdout_kind = STDOUT_OTHER;
    hostfacts_assign_fds(&cfg, &f);
    assert_int_equal(f.serial_fd, 5);
    assert_null(f.nets[0].vhost);
    assert_int_equal(f.nets[0].tap[0], 6);
    assert_int_equal(f.nets[1].tap[0], 8);
    hostfacts_free(&f);
    vmconf_free(&cfg);
    /* serial = none: no socket pair, the taps move up. */
    load("[vm]\nname = t\nmemory = 1G\nvcpus = 4\nserial = none\n[net \"a\"]\n", &cfg);
    f = (HostFacts){ 0 };
    hostfacts_assign_fds(&cfg, &f);
    assert_int_equal(f.serial_fd, -1);
    assert_int_equal(f.nets[0].tap[0], 5);
    hostfacts_free(&f);
    vmconf_free(&cfg);
}

static void test_probe_disks(void **state) {
    (void)state;
    char dir[] = "/tmp/kvmlaunch-facts-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *q = xasprintf("%s/a.img", dir), *r = xasprintf("%s/b.img", dir);
    FILE *f = fopen(q, "w");
    assert_non_null(f);
    fwrite("QFI\xfb\0\0\0\3", 1, 8, f);
    fclose(f);
    f = fopen(r, "w");
    assert_non_null(f);
    fwrite("\0\0\0\0\0\0\0\0", 1, 8, f);
    fclose(f);
    _cleanup_free_ char *ini = xasprintf("[vm]\nname = t\nmemory = 1G\nvcpus = 1\nqemu = /opt/q\n"
                                         "[disk \"q\"]\nfile = %s\n[disk \"r\"]\nfile = %s\n[disk \"m\"]\nfile = %s/none\nformat = raw\n"
                                         "[disk \"null\"]\nfile = /dev/null\nformat = raw\n", q, r, dir);
    VmConfig cfg;
    load(ini, &cfg);
    setenv("KVMLAUNCH_RUNDIR", dir, 1);
    HostFacts hf;
    hostfacts_probe(&cfg, &hf);
    unsetenv("KVMLAUNCH_RUNDIR");
    assert_int_equal(hf.n_disks, 4);
    assert_true(hf.disks[0].exists);
    assert_int_equal(hf.disks[0].detected_format, FORMAT_QCOW2);
    assert_true(hf.disks[1].exists);
    assert_int_equal(hf.disks[1].detected_format, FORMAT_RAW);
    assert_false(hf.disks[2].exists);
    assert_false(hf.disks[3].exists); /* a character device is no disk */
    assert_string_equal(hf.qemu_binary, "/opt/q");
    _cleanup_free_ char *rd = xasprintf("%s/t", dir);
    assert_string_equal(hf.runtime_dir, rd);
    hostfacts_free(&hf);
    vmconf_free(&cfg);
    unlink(q);
    unlink(r);
    rmdir(dir);
}

/* As nobody: the mode bits decide, root's groups do not help, and
 * afterwards kvmlaunch is still root, dumpable and single-threaded. */
static void test_open_as(void **state) {
    (void)state;
    if (geteuid() != 0) {
        skip_because("opening as another user needs root");
    }
    char dir[] = "/tmp/kl-openas-XXXXXX";
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    _cleanup_free_ char *f = xasprintf("%s/f", dir);
    FILE *fp = fopen(f, "w");
    assert_non_null(fp);
    fclose(fp);
    int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
    assert_int_equal(chmod(f, 0600), 0);
    assert_int_equal(spawn_open_as(true, 65534, 65534, f, O_RDONLY), -EACCES);
    assert_int_equal(spawn_open_as(false, 0, 0, f, O_RDWR), 0); /* as ourselves: root */
    assert_int_equal(chmod(f, 0640), 0);                         /* group root: no supplementary group helps */
    assert_int_equal(spawn_open_as(true, 65534, 65534, f, O_RDONLY), -EACCES);
    assert_int_equal(chmod(f, 0604), 0);
    assert_int_equal(spawn_open_as(true, 65534, 65534, f, O_RDONLY), 0);
    assert_int_equal(spawn_open_as(true, 65534, 65534, f, O_RDWR), -EACCES);
    assert_int_equal(chown(f, 65534, 65534), 0);
    assert_int_equal(chmod(f, 0600), 0);
    assert_int_equal(spawn_open_as(true, 65534, 65534, f, O_RDWR), 0);
    /* With QEMU's supplementary groups (spawn_open_as_id): a file only a
     * group may read opens for a member of it, and only for one. */
    assert_int_equal(chown(f, 0, 54321), 0);
    assert_int_equal(chmod(f, 0640), 0);
    gid_t with[] = { 65534, 54321 }, without[] = { 65534 };
    SpawnIdentity in = { true, 65534, 65534, with, 2 }, out = { true, 65534, 65534, without, 1 };
    assert_int_equal(spawn_open_as_id(&in, f, O_RDONLY), 0);
    assert_int_equal(spawn_open_as_id(&in, f, O_RDWR), -EACCES);
    assert_int_equal(spawn_open_as_id(&out, f, O_RDONLY), -EACCES);
    assert_int_equal(spawn_open_as_id(NULL, f, O_RDWR), 0); /* as ourselves: root */
    gid_t mine[256];
    assert_int_equal(getgroups(256, mine), getgroups(0, NULL)); /* ours unchanged: the thread's were its own */
    for (int i = 0; i < getgroups(0, NULL); i++) assert_true(mine[i] != 54321);
    _cleanup_free_ char *missing = xasprintf("%s/none", dir);
    assert_int_equal(spawn_open_as(true, 65534, 65534, missing, O_RDONLY), -ENOENT);
    /* No search permission on the directory for nobody. */
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(spawn_open_as(true, 65534, 65534, f, O_RDWR), -EACCES);
    /* The caller is unchanged. */
    uid_t ru, eu, su;
    assert_int_equal(getresuid(&ru, &eu, &su), 0);
    assert_true(ru == 0 && eu == 0 && su == 0);
    assert_int_equal(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), dumpable);
    assert_int_equal(chmod(f, 0600), 0);
    int fd = open(f, O_RDWR); /* root again (fsuid 0, CAP_DAC_OVERRIDE): a nobody-owned 0600 file opens */
    assert_true(fd >= 0);
    close(fd);
    unlink(f);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_fd_layout), cmocka_unit_test(test_probe_disks), cmocka_unit_test(test_open_as) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
