/* [vm] firmware and firmware-vars (firmware.h): the words and paths, what
 * is refused, the descriptors QEMU gets, and the vars store made once in
 * the state dir (fwvars.h), as kvmlaunch's own user. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "config_test.h"
#include "firmware.h"
#include "fwvars.h"
#include "hostfacts.h"
#include "util.h"
#include "vmconf.h"

#define HEAD "[vm]\nname = t\nmemory = 1G\nvcpus = 1\n"

static void load_ok(const char *text, VmConfig *cfg) {
    ErrList el;
    if (config_load(text, cfg, &el) < 0) {
        _cleanup_free_ char *msgs = config_all_errors(&el);
        fail_msg("%s", msgs);
    }
    errlist_clear(&el);
}

static void test_words(void **state) {
    (void)state;
    VmConfig cfg;
    load_ok(HEAD, &cfg);
    assert_int_equal(firmware_kind(&cfg.vm), FIRMWARE_BIOS);
    assert_null(firmware_code(&cfg.vm));
    assert_null(firmware_vars_template(&cfg.vm));
    vmconf_free(&cfg);
    load_ok(HEAD "firmware = uefi\n", &cfg);
    assert_int_equal(firmware_kind(&cfg.vm), FIRMWARE_UEFI);
    assert_string_equal(firmware_code(&cfg.vm), "/usr/share/OVMF/OVMF_CODE_4M.fd");
    assert_string_equal(firmware_vars_template(&cfg.vm), "/usr/share/OVMF/OVMF_VARS_4M.fd");
    vmconf_free(&cfg);
    load_ok(HEAD "firmware = uefi-secure\n", &cfg);
    assert_int_equal(firmware_kind(&cfg.vm), FIRMWARE_UEFI_SECURE);
    assert_string_equal(firmware_code(&cfg.vm), "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd");
    assert_string_equal(firmware_vars_template(&cfg.vm), "/usr/share/OVMF/OVMF_VARS_4M.ms.fd");
    vmconf_free(&cfg);
    /* Other keys for uefi-secure: firmware-vars replaces the template. */
    load_ok(HEAD "firmware = uefi-secure\nfirmware-vars = /x/VARS.snakeoil.fd\n", &cfg);
    assert_string_equal(firmware_vars_template(&cfg.vm), "/x/VARS.snakeoil.fd");
    vmconf_free(&cfg);
    /* A path, as before firmware-vars: code only, its variables in RAM. */
    load_ok(HEAD "machine = pc\nfirmware = /x/CODE.fd\n", &cfg);
    assert_int_equal(firmware_kind(&cfg.vm), FIRMWARE_PATH);
    assert_string_equal(firmware_code(&cfg.vm), "/x/CODE.fd");
    assert_null(firmware_vars_template(&cfg.vm));
    vmconf_free(&cfg);
    load_ok(HEAD "firmware = /x/CODE.fd\nfirmware-vars = /x/VARS.fd\n", &cfg);
    assert_string_equal(firmware_vars_template(&cfg.vm), "/x/VARS.fd");
    vmconf_free(&cfg);
    /* bios written out. */
    load_ok(HEAD "firmware = bios\n", &cfg);
    assert_int_equal(firmware_kind(&cfg.vm), FIRMWARE_BIOS);
    vmconf_free(&cfg);
}

static void test_refused(void **state) {
    (void)state;
    config_expect_error(HEAD "machine = pc\nfirmware = uefi-secure\n",
                        "vm.ini:6: [vm] firmware: expected machine = q35 with firmware = uefi-secure (Secure Boot needs its SMM), found machine = pc");
    config_expect_error(HEAD "firmware-vars = /x/VARS.fd\n", "vm.ini:5: [vm] firmware-vars: expected firmware = uefi, uefi-secure or a path with firmware-vars, found bios");
    config_expect_error(HEAD "firmware = UEFI\n", "expected bios, uefi, uefi-secure or the absolute path of OVMF code, found \"UEFI\"");
    config_expect_error(HEAD "firmware-vars = VARS.fd\nfirmware = uefi\n", "[vm] firmware-vars: expected an absolute path");
    config_expect_error(HEAD "machine = microvm\nkernel = /k\nfirmware = uefi\n", "expected bios with machine = microvm");
}

static void test_fds(void **state) {
    (void)state;
    VmConfig cfg;
    HostFacts f = { 0 };
    load_ok(HEAD "firmware = uefi\n", &cfg);
    hostfacts_assign_fds(&cfg, &f);
    /* After the control socket (and the seed, none here): the others keep their numbers. */
    assert_int_equal(f.fw_code_fd, f.control_fd + 1);
    assert_int_equal(f.fw_vars_fd, f.control_fd + 2);
    hostfacts_free(&f);
    vmconf_free(&cfg);
    memset(&f, 0, sizeof(f));
    load_ok(HEAD "firmware = /x/CODE.fd\n", &cfg);
    hostfacts_assign_fds(&cfg, &f);
    assert_int_equal(f.fw_code_fd, f.control_fd + 1);
    assert_int_equal(f.fw_vars_fd, -1);
    hostfacts_free(&f);
    vmconf_free(&cfg);
    memset(&f, 0, sizeof(f));
    load_ok(HEAD, &cfg);
    hostfacts_assign_fds(&cfg, &f);
    assert_int_equal(f.fw_code_fd, -1);
    assert_int_equal(f.fw_vars_fd, -1);
    hostfacts_free(&f);
    vmconf_free(&cfg);
}

static void write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static char *read_at(int dir_fd, const char *name) {
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    char *s = NULL;
    assert_int_equal(read_fd_all(fd, 1 << 20, &s, NULL), 0);
    close(fd);
    return s;
}

/* The store: made from the template once (0600, through no temporary
 * file left behind), then kept however the template changes; a link in
 * its place is refused. */
static void test_store(void **state) {
    (void)state;
    char tmpl[] = "/tmp/kltest-fw.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    _cleanup_free_ char *code = xasprintf("%s/CODE.fd", tmpl), *vars = xasprintf("%s/VARS.fd", tmpl), *sdir = xasprintf("%s/state", tmpl);
    write_file(code, "code");
    write_file(vars, "template-1");
    assert_int_equal(mkdir(sdir, 0700), 0);
    int dir_fd = open(sdir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    assert_true(dir_fd >= 0);
    _cleanup_free_ char *text = xasprintf(HEAD "firmware = %s\nfirmware-vars = %s\n", code, vars);
    VmConfig cfg;
    load_ok(text, &cfg);
    SpawnIdentity self = { .change_id = false };

    int c = -1, v = -1;
    assert_int_equal(fwvars_open(&cfg.vm, &self, dir_fd, sdir, &c, &v), 0);
    assert_true(c >= 0 && v >= 0);
    assert_int_equal(fcntl(c, F_GETFL) & O_ACCMODE, O_RDONLY);
    assert_int_equal(fcntl(v, F_GETFL) & O_ACCMODE, O_RDWR);
    struct stat st;
    assert_int_equal(fstat(v, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_uid, geteuid());
    /* The guest writes its variables. */
    assert_int_equal(pwrite(v, "guest", 5, 0), 5);
    close(c);
    close(v);
    _cleanup_free_ char *got = read_at(dir_fd, FIRMWARE_VARS_FILE);
    assert_string_equal(got, "guestate-1");
    free(got);
    got = NULL;

    /* A later start keeps it, whatever the template says now. */
    write_file(vars, "template-2");
    assert_int_equal(fwvars_open(&cfg.vm, &self, dir_fd, sdir, &c, &v), 0);
    close(c);
    close(v);
    got = read_at(dir_fd, FIRMWARE_VARS_FILE);
    assert_string_equal(got, "guestate-1");
    /* Nothing else in the state dir. */
    assert_int_equal(faccessat(dir_fd, ".efivars.fd.new", F_OK, 0), -1);
    _cleanup_free_ char *ls = xasprintf("test $(ls -A %s | wc -l) = 1", sdir);
    assert_int_equal(system(ls), 0);

    /* A start killed half-way left its temporary file: the next replaces it. */
    assert_int_equal(unlinkat(dir_fd, FIRMWARE_VARS_FILE, 0), 0);
    int left = openat(dir_fd, ".efivars.fd.new", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(left >= 0);
    assert_int_equal(write(left, "half", 4), 4);
    close(left);
    assert_int_equal(fwvars_open(&cfg.vm, &self, dir_fd, sdir, &c, &v), 0);
    close(c);
    close(v);
    free(got);
    got = read_at(dir_fd, FIRMWARE_VARS_FILE);
    assert_string_equal(got, "template-2");
    assert_int_equal(system(ls), 0);

    /* A symbolic link in its place (the VM's user owns the dir): refused. */
    assert_int_equal(unlinkat(dir_fd, FIRMWARE_VARS_FILE, 0), 0);
    assert_int_equal(symlinkat(vars, dir_fd, FIRMWARE_VARS_FILE), 0);
    assert_int_equal(fwvars_open(&cfg.vm, &self, dir_fd, sdir, &c, &v), -ELOOP);
    assert_int_equal(c, -1);
    assert_int_equal(v, -1);
    free(got);
    got = read_at(AT_FDCWD, vars);
    assert_string_equal(got, "template-2");

    /* A template that cannot be read: nothing made. */
    assert_int_equal(unlinkat(dir_fd, FIRMWARE_VARS_FILE, 0), 0);
    assert_int_equal(unlink(vars), 0);
    assert_int_equal(fwvars_open(&cfg.vm, &self, dir_fd, sdir, &c, &v), -ENOENT);
    assert_int_equal(faccessat(dir_fd, FIRMWARE_VARS_FILE, F_OK, AT_SYMLINK_NOFOLLOW), -1);

    close(dir_fd);
    vmconf_free(&cfg);
    _cleanup_free_ char *rm = xasprintf("rm -rf %s", tmpl);
    assert_int_equal(system(rm), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_fds),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
