/* [tpm]: the key and its refusal on microvm, swtpm's argv and the
 * --dry-run lines, QEMU's -chardev/-tpmdev/-device (tpm-crb on q35,
 * tpm-tis on pc), and where the control connection sits among QEMU's fds.
 * The guest's view and swtpm's life are tests/cli/test_tpm.sh's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_test.h"
#include "hostfacts.h"
#include "qemucmd.h"
#include "tpm.h"
#include "util.h"
#include "vmconf.h"

#define MINIMAL "[vm]\nname = tpm_vm\nmemory = 64M\nvcpus = 1\n"

static void test_key(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el;
    assert_int_equal(config_load(MINIMAL, &cfg, &el), 0);
    assert_false(cfg.tpm.enabled);
    vmconf_free(&cfg);
    assert_int_equal(config_load(MINIMAL "[tpm]\nenabled = yes\n", &cfg, &el), 0);
    assert_true(cfg.tpm.enabled);
    vmconf_free(&cfg);
    config_expect_error(MINIMAL "[tpm]\nenabled = maybe\n", "vm.ini:6: [tpm] enabled: expected");
    config_expect_error(MINIMAL "[tpm]\nversion = 2\n", "vm.ini:6: [tpm] version");
    config_expect_error(MINIMAL "machine = microvm\nkernel = /k\n[tpm]\nenabled = yes\n",
                        "vm.ini:8: [tpm] enabled: expected no with machine = microvm (line 5), which has no TPM device, found yes");
    /* No [tpm], or enabled = no: microvm is fine. */
    assert_int_equal(config_load(MINIMAL "machine = microvm\nkernel = /k\n[tpm]\nenabled = no\n", &cfg, &el), 0);
    vmconf_free(&cfg);
}

/* CFG loaded from TEXT, its facts as the probe would assign them, and
 * QEMU's argv joined with newlines (caller frees); *ERRORS filled. */
static char *build(const char *text, VmConfig *cfg, HostFacts *f, ErrList *errors) {
    ErrList el;
    assert_int_equal(config_load(text, cfg, &el), 0);
    memset(f, 0, sizeof(*f));
    f->kvm_usable = true;
    f->stdout_kind = STDOUT_PIPE;
    f->swtpm = xstrdup("/usr/bin/swtpm");
    hostfacts_assign_fds(cfg, f);
    StrVec argv = { 0 };
    ErrList notes = { 0 };
    memset(errors, 0, sizeof(*errors));
    (void)qemucmd_build(cfg, f, &argv, errors, &notes);
    char *all = strvec_join(&argv, "\n");
    strvec_clear(&argv);
    errlist_clear(&notes);
    return all;
}

static void test_qemu_argv(void **state) {
    (void)state;
    static const struct { const char *machine, *driver; } cases[] = { { "q35", "tpm-crb" }, { "pc", "tpm-tis" } };
    for (size_t m = 0; m < ELEMENTSOF(cases); m++) {
        char text[256];
        snprintf(text, sizeof(text), MINIMAL "machine = %s\n[cloud-init]\n[tpm]\nenabled = yes\n", cases[m].machine);
        VmConfig cfg;
        HostFacts f;
        ErrList errors;
        _cleanup_free_ char *all = build(text, &cfg, &f, &errors);
        assert_int_equal(errors.n, 0);
        /* After every other fd: 3 QMP, 4 status, 5 serial, 6 control,
         * 7 the seed; the others keep their numbers. */
        assert_int_equal(f.seed_fd, 7);
        assert_int_equal(f.tpm_fd, 8);
        assert_non_null(strstr(all, "\n-chardev\nsocket,id=chrtpm,fd=8\n-tpmdev\nemulator,id=tpm0,chardev=chrtpm\n"));
        char dev[96];
        snprintf(dev, sizeof(dev), "\n-device\n{\"driver\":\"%s\",\"tpmdev\":\"tpm0\",\"id\":\"tpm0-dev\"}\n", cases[m].driver);
        assert_non_null(strstr(all, dev));
        hostfacts_free(&f);
        vmconf_free(&cfg);
    }
    /* Without [tpm]: no fd, no device, the seed's fd as before. */
    VmConfig cfg;
    HostFacts f;
    ErrList errors;
    _cleanup_free_ char *all = build(MINIMAL "[cloud-init]\n[tpm]\nenabled = no\n", &cfg, &f, &errors);
    assert_int_equal(f.tpm_fd, -1);
    assert_int_equal(f.seed_fd, 7);
    assert_null(strstr(all, "chrtpm"));
    assert_null(strstr(all, "tpmdev"));
    hostfacts_free(&f);
    vmconf_free(&cfg);
}

static void test_swtpm_argv(void **state) {
    (void)state;
    assert_int_equal(setenv("KVMLAUNCH_STATEDIR", "/srv/vms", 1), 0);
    VmConfig cfg;
    HostFacts f;
    ErrList errors;
    _cleanup_free_ char *all = build(MINIMAL "user = vmuser\n[tpm]\nenabled = yes\n", &cfg, &f, &errors);
    _cleanup_free_ char *dir = tpm_state_path(&cfg);
    assert_string_equal(dir, "/srv/vms/tpm_vm/tpm");
    StrVec argv = { 0 };
    tpm_swtpm_argv(&cfg, &f, &argv);
    _cleanup_free_ char *sw = strvec_join(&argv, " ");
    assert_string_equal(sw, "/usr/bin/swtpm socket --tpm2 --tpmstate dir=/srv/vms/tpm_vm/tpm,mode=0600 --ctrl type=unixio,clientfd=3 --terminate");
    strvec_clear(&argv);
    _cleanup_free_ char *plan = tpm_render_plan(&cfg, &f);
    assert_non_null(strstr(plan, "# tpm: TPM 2.0 (tpm-crb) from /usr/bin/swtpm as vmuser, no capabilities"));
    /* 3 QMP, 4 status, 5 serial, 6 control: QEMU's is 7. */
    assert_int_equal(f.tpm_fd, 7);
    assert_non_null(strstr(plan, "state in /srv/vms/tpm_vm/tpm; control socket fd 3 for swtpm, fd 7 for QEMU\n"));
    assert_non_null(strstr(plan, "# swtpm command line:\n/usr/bin/swtpm socket --tpm2 --tpmstate dir=/srv/vms/tpm_vm/tpm,mode=0600 "));
    /* Without swtpm on the host, the plan says so (check FAILs). */
    free(f.swtpm);
    f.swtpm = NULL;
    _cleanup_free_ char *plan2 = tpm_render_plan(&cfg, &f);
    assert_non_null(strstr(plan2, "from swtpm (not found) as vmuser"));
    hostfacts_free(&f);
    vmconf_free(&cfg);

    /* Nothing to show without [tpm]. */
    _cleanup_free_ char *all2 = build(MINIMAL, &cfg, &f, &errors);
    _cleanup_free_ char *none = tpm_render_plan(&cfg, &f);
    assert_string_equal(none, "");
    hostfacts_free(&f);
    vmconf_free(&cfg);
    unsetenv("KVMLAUNCH_STATEDIR");
}

/* swtpm splits --tpmstate at commas, with no escape: such a state dir is
 * refused, naming the file and line. */
static void test_comma(void **state) {
    (void)state;
    VmConfig cfg;
    HostFacts f;
    ErrList errors;
    _cleanup_free_ char *all = build(MINIMAL "state-dir = /srv/a,b\n[tpm]\nenabled = yes\n", &cfg, &f, &errors);
    _cleanup_free_ char *msgs = config_all_errors(&errors);
    assert_non_null(strstr(msgs, "vm.ini:7: [tpm] enabled: expected a state dir without a comma for swtpm's --tpmstate, found /srv/a,b/tpm"));
    errlist_clear(&errors);
    hostfacts_free(&f);
    vmconf_free(&cfg);
}

static void test_find(void **state) {
    (void)state;
    assert_int_equal(setenv("KVMLAUNCH_SWTPM", "none", 1), 0);
    char *p = tpm_find_swtpm(true);
    assert_null(p);
    assert_int_equal(setenv("KVMLAUNCH_SWTPM", "/bin/true", 1), 0);
    p = tpm_find_swtpm(true);
    assert_string_equal(p, "/bin/true");
    free(p);
    /* Under sudo the variable is not honoured. */
    p = tpm_find_swtpm(false);
    if (p) assert_string_not_equal(p, "/bin/true");
    free(p);
    unsetenv("KVMLAUNCH_SWTPM");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key), cmocka_unit_test(test_qemu_argv), cmocka_unit_test(test_swtpm_argv),
        cmocka_unit_test(test_comma), cmocka_unit_test(test_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
