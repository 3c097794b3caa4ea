/* The QEMU command line builder: escaping, quoting, and that user values
 * reach QEMU as one JSON string or one keyval value, never as options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <json-c/json.h>
#include <string.h>

#include "hostfacts.h"
#include "qemucmd.h"
#include "share.h"
#include "util.h"
#include "vmconf.h"

static void test_escape(void **state) {
    (void)state;
    _cleanup_free_ char *a = qemu_escape_keyval("/a,b,,c=d");
    assert_string_equal(a, "/a,,b,,,,c=d");
    _cleanup_free_ char *b = qemu_escape_keyval("");
    assert_string_equal(b, "");
}

static void test_shell_quote(void **state) {
    (void)state;
    _cleanup_free_ char *a = shell_quote("-m");
    _cleanup_free_ char *b = shell_quote("{\"a\":1}");
    _cleanup_free_ char *c = shell_quote("it's");
    _cleanup_free_ char *d = shell_quote("");
    _cleanup_free_ char *e = shell_quote("a b");
    assert_string_equal(a, "-m");
    assert_string_equal(b, "'{\"a\":1}'");
    assert_string_equal(c, "'it'\\''s'");
    assert_string_equal(d, "''");
    assert_string_equal(e, "'a b'");
}

static void test_render(void **state) {
    (void)state;
    char *argv[] = { "qemu", "-S", "-m", "1024M", "-nodefaults", "-append", "a b", NULL };
    _cleanup_free_ char *s = qemucmd_render(argv);
    assert_string_equal(s, "qemu \\\n    -S \\\n    -m 1024M \\\n    -nodefaults \\\n    -append 'a b'\n");
}

static void fake_facts(const VmConfig *cfg, HostFacts *f, bool kvm, bool vhost) {
    memset(f, 0, sizeof(*f));
    f->kvm_usable = kvm;
    f->vhost_net_usable = vhost;
    f->stdout_kind = STDOUT_PIPE;
    f->n_disks = cfg->n_disks;
    f->disks = xcalloc(cfg->n_disks, sizeof(DiskFacts));
    for (size_t i = 0; i < cfg->n_disks; i++) f->disks[i] = (DiskFacts){ true, false, FORMAT_RAW };
    hostfacts_assign_fds(cfg, f);
}

static const char *arg_after(char **argv, const char *opt, const char *containing) {
    for (size_t i = 0; argv[i] && argv[i + 1]; i++)
        if (streq(argv[i], opt) && strstr(argv[i + 1], containing)) return argv[i + 1];
    return NULL;
}

static void test_hostile_values(void **state) {
    (void)state;
    static const char ini[] =
        "[vm]\nname = x.y_z-1\nmemory = 256M\nvcpus = 2\nkernel = /boot/k,initrd=/evil\n"
        "append = console=ttyS0,115200 \"quoted\" -device x\n"
        "[disk \"a\"]\nfile = /img/a,snapshot=on,file.driver=nbd\n"
        "[disk \"b\"]\nfile = /img/json:{\"driver\":\"nbd\"}\nsnapshot = yes\nformat = qcow2\n"
        "[memory]\nbacking = hugepages\nhugepage-path = /dev/hugepages,share=on\n"
        "[vm]\n";
    VmConfig cfg;
    ErrList el = { 0 };
    /* The trailing [vm] repeats a section: drop it and load the rest. */
    size_t len = strlen(ini) - strlen("[vm]\n");
    assert_int_equal(vmconf_load_buffer("t.ini", ini, len, &cfg, &el), 0);
    HostFacts f;
    fake_facts(&cfg, &f, false, false);
    StrVec argv = STRVEC_INIT;
    ErrList errors = { 0 }, notes = { 0 };
    assert_int_equal(qemucmd_build(&cfg, &f, &argv, &errors, &notes), 0);

    /* No control characters anywhere. */
    for (size_t i = 0; i < argv.n; i++) assert_int_equal(value_find_bad_char(argv.v[i]), -1);

    /* JSON options parse back, and the path is one whole string value. */
    const char *blk = arg_after(argv.v, "-blockdev", "file-a");
    assert_non_null(blk);
    json_object *o = json_tokener_parse(blk);
    assert_non_null(o);
    json_object *fn;
    assert_true(json_object_object_get_ex(o, "filename", &fn));
    assert_string_equal(json_object_get_string(fn), "/img/a,snapshot=on,file.driver=nbd");
    json_object_put(o);

    const char *mem = arg_after(argv.v, "-object", "ram-node0");
    o = json_tokener_parse(mem);
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "mem-path", &fn));
    assert_string_equal(json_object_get_string(fn), "/dev/hugepages,share=on");
    json_object_put(o);

    /* The snapshot disk uses keyval: commas doubled, the driver explicit so
     * "json:" is not a protocol. */
    const char *drive = arg_after(argv.v, "-drive", "fmt-b");
    assert_non_null(drive);
    assert_non_null(strstr(drive, "file.driver=file,file.filename=/img/json:{\"driver\":\"nbd\"},"));
    assert_non_null(strstr(drive, ",snapshot=on"));

    /* -kernel and -append take the next argument verbatim. */
    assert_non_null(arg_after(argv.v, "-kernel", "/boot/k,initrd=/evil"));
    assert_non_null(arg_after(argv.v, "-append", "console=ttyS0,115200 \"quoted\" -device x"));
    assert_null(arg_after(argv.v, "-initrd", ""));

    /* Notes: TCG fallback, and no format for disk a. */
    assert_int_equal(notes.n, 2);
    strvec_clear(&argv);
    errlist_clear(&errors);
    errlist_clear(&notes);
    hostfacts_free(&f);
    vmconf_free(&cfg);
}

static void test_host_errors(void **state) {
    (void)state;
    static const char ini[] = "[vm]\nname = t\nmemory = 1G\nvcpus = 4\naccel = kvm\n[net \"n\"]\nvhost = on\n";
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(vmconf_load_buffer("t.ini", ini, strlen(ini), &cfg, &el), 0);
    HostFacts f;
    fake_facts(&cfg, &f, false, false);
    f.running_as_root = true;
    StrVec argv = STRVEC_INIT;
    ErrList errors = { 0 }, notes = { 0 };
    assert_int_equal(qemucmd_build(&cfg, &f, &argv, &errors, &notes), -EINVAL);
    assert_int_equal(errors.n, 3);
    assert_string_equal(errors.e[0].msg, "t.ini:1: [vm] user: required when kvmlaunch runs as root (QEMU never runs as root)");
    assert_non_null(strstr(errors.e[1].msg, "t.ini:5: [vm] accel: expected /dev/kvm to open read-write"));
    assert_non_null(strstr(errors.e[2].msg, "t.ini:7: [net \"n\"] vhost: expected /dev/vhost-net to open"));
    strvec_clear(&argv);
    errlist_clear(&errors);
    errlist_clear(&notes);
    hostfacts_free(&f);

    /* With KVM and vhost-net: kvm, -cpu host, vhostfds after the tap fds
     * (which follow the serial socket at 5). */
    fake_facts(&cfg, &f, true, true);
    assert_int_equal(qemucmd_build(&cfg, &f, &argv, &errors, &notes), 0);
    assert_non_null(arg_after(argv.v, "-accel", "kvm"));
    assert_non_null(arg_after(argv.v, "-cpu", "host"));
    assert_non_null(arg_after(argv.v, "-netdev", "\"fds\":\"6:7:8:9\",\"vhost\":true,\"vhostfds\":\"10:11:12:13\""));
    assert_non_null(arg_after(argv.v, "-device", "\"mq\":true,\"vectors\":10"));
    assert_int_equal(notes.n, 0);
    strvec_clear(&argv);
    errlist_clear(&errors);
    errlist_clear(&notes);
    hostfacts_free(&f);
    vmconf_free(&cfg);
}

/* Nothing reaches QEMU's argv with a control character (C0 or C1) or
 * invalid UTF-8, whatever filled the model: the emulator found on PATH,
 * or a value set after the loader checked the file. */
static void test_argv_text(void **state) {
    (void)state;
    static const char ini[] = "[vm]\nname = t\nmemory = 1G\nvcpus = 1\nkernel = /k\nappend = quiet\n";
    VmConfig cfg;
    ErrList el = { 0 };
    assert_int_equal(vmconf_load_buffer("t.ini", ini, strlen(ini), &cfg, &el), 0);
    HostFacts f;
    StrVec argv = STRVEC_INIT;
    ErrList errors = { 0 }, notes = { 0 };

    fake_facts(&cfg, &f, true, true);
    free(f.qemu_binary);
    f.qemu_binary = xstrdup("/opt/\xc2\x9b/qemu-system-x86_64");
    assert_int_equal(qemucmd_build(&cfg, &f, &argv, &errors, &notes), -EINVAL);
    assert_int_equal(errors.n, 1);
    assert_string_equal(errors.e[0].msg, "t.ini:1: [vm] qemu: expected printable UTF-8 text, found byte 0xc2 at column 6 of the emulator's "
                                         "path \"/opt/\\xc2\\x9b/qemu-system-x86_64\"");
    assert_string_equal(errors.e[0].section, "vm");
    assert_string_equal(errors.e[0].key, "qemu");
    strvec_clear(&argv);
    errlist_clear(&errors);
    errlist_clear(&notes);
    hostfacts_free(&f);

    static const char *const bad[] = { "quiet \xc2\x85", "quiet \xff", "quiet \x1b[2J", "quiet \xe2\x82" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        free(cfg.vm.append);
        cfg.vm.append = xstrdup(bad[i]);
        fake_facts(&cfg, &f, true, true);
        assert_int_equal(qemucmd_build(&cfg, &f, &argv, &errors, &notes), -EINVAL);
        assert_int_equal(errors.n, 1);
        if (!strstr(errors.e[0].msg, "t.ini:1: [vm]: expected printable UTF-8 text, found byte 0x") ||
            !strstr(errors.e[0].msg, "of QEMU's command line \"quiet \\x"))
            fail_msg("%s", errors.e[0].msg);
        assert_null(errors.e[0].key);
        strvec_clear(&argv);
        errlist_clear(&errors);
        errlist_clear(&notes);
        hostfacts_free(&f);
    }
    /* The same model with clean text builds. */
    free(cfg.vm.append);
    cfg.vm.append = xstrdup("quiet caf\xc3\xa9 \xe2\x82\xac");
    fake_facts(&cfg, &f, true, true);
    assert_int_equal(qemucmd_build(&cfg, &f, &argv, &errors, &notes), 0);
    strvec_clear(&argv);
    errlist_clear(&errors);
    errlist_clear(&notes);
    hostfacts_free(&f);
    vmconf_free(&cfg);
}

/* /dev/kvm refused to QEMU's user: the message names the identity tried,
 * the device's mode and group, and the fix; a missing device says so. */
static void test_kvm_refused(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el = { 0 };
    static const char ini[] = "[vm]\nname = k\nmemory = 256M\nvcpus = 1\nuser = web\naccel = kvm\n";
    assert_int_equal(vmconf_load_buffer("t.ini", ini, strlen(ini), &cfg, &el), 0);
    static gid_t groups[] = { 990 };
    static char *names[] = { "web" };
    for (int pass = 0; pass < 4; pass++) {
        HostFacts f;
        fake_facts(&cfg, &f, false, false);
        f.running_as_root = true;
        f.user_known = true;
        f.qemu_uid = 991;
        f.qemu_gid = 990;
        f.qemu_groups = xmalloc(sizeof(groups));
        memcpy(f.qemu_groups, groups, sizeof(groups));
        f.qemu_group_names = xcalloc(1, sizeof(char *));
        f.qemu_group_names[0] = xstrdup(names[0]);
        f.n_qemu_groups = 1;
        f.kvm_checked_as = xstrdup("web");
        f.kvm_err = pass == 3 ? -ENOENT : -EACCES;
        f.kvm_stat_known = pass != 3;
        f.kvm_mode = pass == 1 ? 020600 : 020660;
        f.kvm_gid = pass == 2 ? 990 : 104;
        f.kvm_group = xstrdup(pass == 2 ? "web" : "kvm");
        cfg.vm.accel = pass == 0 ? ACCEL_AUTO : ACCEL_KVM;
        StrVec argv = STRVEC_INIT;
        ErrList errors = { 0 }, notes = { 0 };
        int r = qemucmd_build(&cfg, &f, &argv, &errors, &notes);
        const ErrList *l = pass == 0 ? &notes : &errors;
        assert_int_equal(r, pass == 0 ? 0 : -EINVAL);
        assert_int_equal(l->n, 1);
        const char *m = l->e[0].msg;
        static const char *const want[] = {
            "t.ini:6: [vm] accel: running under TCG, a slow software emulator: /dev/kvm does not open read-write, found it refused to web (uid 991, "
            "gid 990, groups web): Permission denied; /dev/kvm is mode 0660, group kvm; fix: usermod -aG kvm web",
            "t.ini:6: [vm] accel: expected /dev/kvm to open read-write for accel = kvm, found it refused to web (uid 991, gid 990, groups web): "
            "Permission denied; /dev/kvm is mode 0600, group kvm; fix: chmod 0660 /dev/kvm (Debian's udev rule makes it 0660 root:kvm) and "
            "usermod -aG kvm web",
            "t.ini:6: [vm] accel: expected /dev/kvm to open read-write for accel = kvm, found it refused to web (uid 991, gid 990, groups web): "
            "Permission denied; /dev/kvm is mode 0660, group web; fix: chmod 0660 /dev/kvm (Debian's udev rule makes it 0660 root:kvm)",
            "t.ini:6: [vm] accel: expected /dev/kvm to open read-write for accel = kvm, found no /dev/kvm; this host offers no KVM (no vmx or svm, "
            "or the kvm module is not loaded)",
        };
        if (!streq(m, want[pass])) fail_msg("pass %d:\n got %s\nwant %s", pass, m, want[pass]);
        assert_non_null(arg_after(argv.v, "-accel", pass == 0 ? "tcg" : "kvm"));
        strvec_clear(&argv);
        errlist_clear(&errors);
        errlist_clear(&notes);
        hostfacts_free(&f);
    }
    vmconf_free(&cfg);
}

/* [share]: virtiofs by default where a virtiofsd runs as root, with the
 * RAM made a shared memfd (a shared file on hugepage-path); 9p otherwise;
 * a path with commas stays one keyval value; [memory] share = no written
 * beside virtiofs, and virtiofs asked for where it cannot run, are errors. */
static void build_shares(const char *ini, bool root, const char *virtiofsd, StrVec *argv, ErrList *errors) {
    VmConfig cfg;
    ErrList el = { 0 }, notes = { 0 };
    assert_int_equal(vmconf_load_buffer("t.ini", ini, strlen(ini), &cfg, &el), 0);
    HostFacts f;
    memset(&f, 0, sizeof(f));
    f.stdout_kind = STDOUT_PIPE;
    f.running_as_root = root;
    f.virtiofsd = virtiofsd ? xstrdup(virtiofsd) : NULL;
    hostfacts_assign_fds(&cfg, &f);
    (void)qemucmd_build(&cfg, &f, argv, errors, &notes);
    errlist_clear(&notes);
    hostfacts_free(&f);
    vmconf_free(&cfg);
}

static void test_shares(void **state) {
    (void)state;
    static const char base[] = "[vm]\nname = t\nmemory = 1G\nvcpus = 1\nuser = u\n";
    StrVec argv = STRVEC_INIT;
    ErrList errors = { 0 };
    _cleanup_free_ char *two = xasprintf("%s[share \"w\"]\npath = /src,x=y\n[share \"r\"]\npath = /ro\ndriver = 9p\nreadonly = yes\n", base);

    build_shares(two, true, "/usr/lib/qemu/virtiofsd", &argv, &errors);
    assert_int_equal(errors.n, 0);
    assert_non_null(arg_after(argv.v, "-object", "\"qom-type\":\"memory-backend-memfd\",\"id\":\"ram-node0\",\"size\":1073741824,\"share\":true"));
    /* QMP 3, status 4, serial 5, then the one virtiofs connection. */
    assert_non_null(arg_after(argv.v, "-chardev", "socket,id=vfs-w,fd=6"));
    assert_non_null(arg_after(argv.v, "-device", "{\"driver\":\"vhost-user-fs-pci\",\"id\":\"share-w\",\"chardev\":\"vfs-w\",\"tag\":\"w\"}"));
    assert_non_null(arg_after(argv.v, "-fsdev", "local,id=fs-r,path=/ro,security_model=none,readonly=on"));
    assert_non_null(arg_after(argv.v, "-device", "\"driver\":\"virtio-9p-pci\",\"id\":\"share-r\",\"fsdev\":\"fs-r\",\"mount_tag\":\"r\""));
    strvec_clear(&argv);

    /* Not root: 9p for both, the path's comma doubled, the RAM as it was. */
    build_shares(two, false, "/usr/lib/qemu/virtiofsd", &argv, &errors);
    assert_int_equal(errors.n, 0);
    assert_non_null(arg_after(argv.v, "-fsdev", "local,id=fs-w,path=/src,,x=y,security_model=none"));
    assert_null(arg_after(argv.v, "-fsdev", "id=fs-w,path=/src,,x=y,security_model=none,readonly"));
    assert_non_null(arg_after(argv.v, "-object", "\"memory-backend-ram\""));
    assert_null(arg_after(argv.v, "-device", "vhost-user-fs"));
    strvec_clear(&argv);

    /* Huge pages: memfd hugetlb share=on; on hugepage-path, the file shared. */
    _cleanup_free_ char *huge = xasprintf("%s[memory]\nbacking = hugepages\n[share \"w\"]\npath = /src\n", base);
    build_shares(huge, true, "/v", &argv, &errors);
    assert_int_equal(errors.n, 0);
    assert_non_null(arg_after(argv.v, "-object", "\"memory-backend-memfd\",\"id\":\"ram-node0\",\"size\":1073741824,\"hugetlb\":true,\"hugetlbsize\":2097152,\"share\":true"));
    strvec_clear(&argv);
    _cleanup_free_ char *file = xasprintf("%s[memory]\nbacking = hugepages\nhugepage-path = /hp\n[share \"w\"]\npath = /src\n", base);
    build_shares(file, true, "/v", &argv, &errors);
    assert_int_equal(errors.n, 0);
    assert_non_null(arg_after(argv.v, "-object", "\"memory-backend-file\",\"id\":\"ram-node0\",\"size\":1073741824,\"mem-path\":\"/hp\",\"share\":true"));
    strvec_clear(&argv);

    /* share = no written: refused, naming the key. */
    _cleanup_free_ char *noshare = xasprintf("%s[memory]\nshare = no\n[share \"w\"]\npath = /src\n", base);
    build_shares(noshare, true, "/v", &argv, &errors);
    assert_int_equal(errors.n, 1);
    assert_non_null(strstr(errors.e[0].msg, "t.ini:7: [memory] share: expected yes (or no share key) for [share \"w\"] with virtiofs"));
    strvec_clear(&argv);
    errlist_clear(&errors);

    /* virtiofs asked for: without a virtiofsd, and not as root. */
    _cleanup_free_ char *asked = xasprintf("%s[share \"w\"]\npath = /src\ndriver = virtiofs\n", base);
    build_shares(asked, true, NULL, &argv, &errors);
    assert_int_equal(errors.n, 1);
    assert_non_null(strstr(errors.e[0].msg, "t.ini:8: [share \"w\"] driver: expected a virtiofsd for driver = virtiofs"));
    strvec_clear(&argv);
    errlist_clear(&errors);
    build_shares(asked, false, "/v", &argv, &errors);
    assert_int_equal(errors.n, 1);
    assert_non_null(strstr(errors.e[0].msg, "t.ini:8: [share \"w\"] driver: expected kvmlaunch to run as root for driver = virtiofs"));
    strvec_clear(&argv);
    errlist_clear(&errors);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape), cmocka_unit_test(test_shell_quote), cmocka_unit_test(test_render),
        cmocka_unit_test(test_hostile_values), cmocka_unit_test(test_host_errors), cmocka_unit_test(test_argv_text),
        cmocka_unit_test(test_kvm_refused),       cmocka_unit_test(test_shares),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
