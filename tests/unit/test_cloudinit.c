/* [cloud-init] and `kvmlaunch ssh`: the keys and their refusals, the
 * seed's contents and instance-id, the ISO volume's framing (its files
 * are read back by isoinfo, blkid and cloud-init's own reader in
 * tests/cli/test_cloudinit.sh), the seed on QEMU's command line, and ssh's
 * argv, forwards and login files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config_test.h"
#include "cloudinit.h"
#include "hostfacts.h"
#include "qemucmd.h"
#include "util.h"
#include "values.h"
#include "vmconf.h"
#include "vmssh.h"

#define MINIMAL "[vm]\nname = ci_vm\nmemory = 64M\nvcpus = 1\n"

static void test_keys(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el;
    assert_int_equal(config_load(MINIMAL, &cfg, &el), 0);
    assert_false(cloudinit_wanted(&cfg));
    vmconf_free(&cfg);
    assert_int_equal(config_load(MINIMAL "[cloud-init]\nuser = ci\nssh-key = /k/id.pub\nhostname = box-1.test\nnetwork-config = /n.yaml\n", &cfg, &el), 0);
    assert_true(cloudinit_wanted(&cfg));
    assert_string_equal(cfg.cloudinit.user, "ci");
    assert_string_equal(cfg.cloudinit.ssh_key, "/k/id.pub");
    assert_string_equal(cfg.cloudinit.hostname, "box-1.test");
    assert_string_equal(cfg.cloudinit.network_config, "/n.yaml");
    assert_null(cfg.cloudinit.user_data);
    vmconf_free(&cfg);
    /* An empty section still asks for a seed (the image's defaults). */
    assert_int_equal(config_load(MINIMAL "[cloud-init]\n", &cfg, &el), 0);
    assert_true(cloudinit_wanted(&cfg));
    vmconf_free(&cfg);
}

static void test_refused(void **state) {
    (void)state;
    config_expect_error(MINIMAL "[cloud-init]\nuser-data = /u\nuser = ci\n", "vm.ini:7: [cloud-init] user: expected no user with user-data (line 6)");
    config_expect_error(MINIMAL "[cloud-init]\nssh-key = /k/id.pub\nuser-data = /u\n", "vm.ini:6: [cloud-init] ssh-key: expected no ssh-key with user-data (line 7)");
    config_expect_error(MINIMAL "[cloud-init]\nssh-key = /k/id\n", "vm.ini:6: [cloud-init] ssh-key: expected the public key, a path ending in .pub");
    config_expect_error(MINIMAL "[cloud-init]\nssh-key = /k/.pub\n", "[cloud-init] ssh-key: expected the public key");
    config_expect_error(MINIMAL "[cloud-init]\nhostname = a_b\n", "vm.ini:6: [cloud-init] hostname: expected a host name (letters, digits, - and .)");
    config_expect_error(MINIMAL "[cloud-init]\nhostname = -ab\n", "[cloud-init] hostname: expected a host name that neither starts nor ends");
    config_expect_error(MINIMAL "[cloud-init]\nuser = root\n", "[cloud-init] user:");
    config_expect_error(MINIMAL "[cloud-init]\nssh-key = id.pub\n", "[cloud-init] ssh-key:");
    config_expect_error(MINIMAL "[cloud-init]\nsshkey = /k/id.pub\n", "[cloud-init] sshkey: unknown key (did you mean ssh-key?)");
    config_expect_error(MINIMAL "[cloud-init]\n[cloud-init]\n", "[cloud-init]: section repeated");
    config_expect_error(MINIMAL "[cloudinit]\n", "unknown section (did you mean [cloud-init]?)");
}

static void test_names(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    assert_int_equal(cloudinit_check_hostname("a", err), 0);
    assert_int_equal(cloudinit_check_hostname("web-1.example.org", err), 0);
    assert_int_equal(cloudinit_check_hostname("", err), -EINVAL);
    assert_int_equal(cloudinit_check_hostname("a.", err), -EINVAL);
    assert_int_equal(cloudinit_check_hostname("a b", err), -EINVAL);
    char long_name[65];
    memset(long_name, 'a', 64);
    long_name[64] = '\0';
    assert_int_equal(cloudinit_check_hostname(long_name, err), -EINVAL);
    long_name[63] = '\0';
    assert_int_equal(cloudinit_check_hostname(long_name, err), 0);

    _cleanup_free_ char *p1 = cloudinit_private_key("/home/u/.ssh/id_ed25519.pub");
    assert_string_equal(p1, "/home/u/.ssh/id_ed25519");
    assert_null(cloudinit_private_key("/home/u/.ssh/id_ed25519"));
    assert_null(cloudinit_private_key("/k/.pub"));
    assert_null(cloudinit_private_key(".pub"));

    VmConfig cfg;
    ErrList el;
    assert_int_equal(config_load(MINIMAL "[cloud-init]\n", &cfg, &el), 0);
    _cleanup_free_ char *h = cloudinit_hostname(&cfg);
    assert_string_equal(h, "ci-vm"); /* a host name has no _ */
    vmconf_free(&cfg);
    assert_int_equal(config_load(MINIMAL "[cloud-init]\nhostname = other\n", &cfg, &el), 0);
    _cleanup_free_ char *h2 = cloudinit_hostname(&cfg);
    assert_string_equal(h2, "other");
    vmconf_free(&cfg);
}

static Blob text_blob(const char *s) { return (Blob){ (char *)s, strlen(s) }; }

static void test_pubkeys(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    char **keys;
    Blob b = text_blob("# mine\n\nssh-ed25519 AAAA one@host\r\n  ssh-rsa BBBB two\necdsa-sha2-nistp256 CCCC");
    assert_int_equal(cloudinit_parse_pubkeys(&b, &keys, err), 3);
    assert_string_equal(keys[0], "ssh-ed25519 AAAA one@host");
    assert_string_equal(keys[1], "ssh-rsa BBBB two");
    assert_string_equal(keys[2], "ecdsa-sha2-nistp256 CCCC");
    assert_null(keys[3]);
    strv_free(keys);
    b = text_blob("# only a comment\n\n");
    assert_int_equal(cloudinit_parse_pubkeys(&b, &keys, err), -EINVAL);
    assert_non_null(strstr(err, "found none"));
    b = text_blob("ssh-ed25519 AAAA\x1b[2J\n");
    assert_int_equal(cloudinit_parse_pubkeys(&b, &keys, err), -EINVAL);
    assert_non_null(strstr(err, "byte 0x1b on line 1"));
    Blob nul = { "ssh-ed25519 A\0B\n", 16 };
    assert_int_equal(cloudinit_parse_pubkeys(&nul, &keys, err), -EINVAL);
}

static void test_user_data(void **state) {
    (void)state;
    VmConfig cfg;
    ErrList el;
    char *keys[] = { "ssh-ed25519 AAAA a\"b\\c", "ssh-rsa BBBB", NULL };
    assert_int_equal(config_load(MINIMAL "[cloud-init]\nuser = ci\nssh-key = /k/id.pub\n", &cfg, &el), 0);
    _cleanup_free_ char *u = cloudinit_user_data(&cfg, keys, NULL, 0);
    assert_string_equal(u, "#cloud-config\n"
                           "# made by kvmlaunch from [cloud-init]\n"
                           "users:\n"
                           "  - name: \"ci\"\n"
                           "    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n"
                           "    shell: /bin/bash\n"
                           "    ssh_authorized_keys:\n"
                           "      - \"ssh-ed25519 AAAA a\\\"b\\\\c\"\n"
                           "      - \"ssh-rsa BBBB\"\n");
    vmconf_free(&cfg);
    /* No user: the key goes to the image's default user. */
    assert_int_equal(config_load(MINIMAL "[cloud-init]\nssh-key = /k/id.pub\n", &cfg, &el), 0);
    _cleanup_free_ char *d = cloudinit_user_data(&cfg, keys, NULL, 0);
    assert_string_equal(d, "#cloud-config\n# made by kvmlaunch from [cloud-init]\nssh_authorized_keys:\n  - \"ssh-ed25519 AAAA a\\\"b\\\\c\"\n"
                           "  - \"ssh-rsa BBBB\"\n");
    _cleanup_free_ char *e = cloudinit_user_data(&cfg, NULL, NULL, 0);
    assert_string_equal(e, "#cloud-config\n# made by kvmlaunch from [cloud-init]\n");
    /* Shares: mounted by bootcmd at /mnt/TAG, again on each boot. */
    CloudInitMount m[] = { { "work", true, false }, { "ro_9p", false, true }, { "src-ro", true, true } };
    _cleanup_free_ char *s = cloudinit_user_data(&cfg, NULL, m, ELEMENTSOF(m));
    assert_string_equal(s, "#cloud-config\n# made by kvmlaunch from [cloud-init]\nbootcmd:\n"
                           "  - \"mkdir -p /mnt/work && { mountpoint -q /mnt/work || mount -t virtiofs work /mnt/work; }\"\n"
                           "  - \"mkdir -p /mnt/ro_9p && { mountpoint -q /mnt/ro_9p || mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=524288 ro_9p /mnt/ro_9p; }\"\n"
                           "  - \"mkdir -p /mnt/src-ro && { mountpoint -q /mnt/src-ro || mount -t virtiofs -o ro src-ro /mnt/src-ro; }\"\n");
    CloudInitMount *none;
    assert_int_equal(cloudinit_mounts(&cfg, NULL, &none), 0);
    assert_null(none);
    vmconf_free(&cfg);
    /* The [share] sections, their drivers as the facts give them. */
    assert_int_equal(config_load(MINIMAL "[share \"work\"]\npath = /tmp\ndriver = 9p\n[share \"src\"]\npath = /tmp\nreadonly = yes\n"
                              "driver = virtiofs\n[cloud-init]\nuser = ci\n", &cfg, &el), 0);
    CloudInitMount *got;
    assert_int_equal(cloudinit_mounts(&cfg, NULL, &got), 2);
    assert_string_equal(got[0].tag, "work");
    assert_false(got[0].virtiofs);
    assert_false(got[0].readonly);
    assert_string_equal(got[1].tag, "src");
    assert_true(got[1].virtiofs);
    assert_true(got[1].readonly);
    free(got);
    CloudInitInputs none_in = { 0 };
    CloudInitSeed sd;
    char err2[VALUE_ERR_MAX];
    assert_int_equal(cloudinit_seed_build(&cfg, NULL, &none_in, &sd, err2), 0);
    assert_non_null(strstr(sd.user_data.data, "bootcmd:\n  - \"mkdir -p /mnt/work && { mountpoint -q /mnt/work || mount -t 9p -o trans=virtio,"));
    assert_non_null(strstr(sd.user_data.data, "mount -t virtiofs -o ro src /mnt/src; }\""));
    cloudinit_seed_free(&sd);
    vmconf_free(&cfg);
}

/* The seed of TEXT with IN; its instance-id into ID. */
static void seed_of(const char *text, const CloudInitInputs *in, CloudInitSeed *seed) {
    VmConfig cfg;
    ErrList el;
    assert_int_equal(config_load(text, &cfg, &el), 0);
    char err[VALUE_ERR_MAX];
    assert_int_equal(cloudinit_seed_build(&cfg, NULL, in, seed, err), 0);
    vmconf_free(&cfg);
}

static void id_of(const char *text, const CloudInitInputs *in, char *id) {
    CloudInitSeed seed;
    seed_of(text, in, &seed);
    strcpy(id, seed.instance_id);
    cloudinit_seed_free(&seed);
}

static void test_seed(void **state) {
    (void)state;
    CloudInitInputs in = { .ssh_key = text_blob("ssh-ed25519 AAAA me\n") };
    CloudInitSeed seed;
    seed_of(MINIMAL "[cloud-init]\nuser = ci\nssh-key = /k/id.pub\n", &in, &seed);
    assert_int_equal(strlen(seed.instance_id), strlen("kvmlaunch-") + 16);
    assert_memory_equal(seed.instance_id, "kvmlaunch-", 10);
    char md[128];
    snprintf(md, sizeof(md), "instance-id: \"%s\"\nlocal-hostname: \"ci-vm\"\n", seed.instance_id);
    assert_string_equal(seed.meta_data.data, md);
    assert_int_equal(seed.meta_data.size, strlen(md));
    assert_non_null(strstr(seed.user_data.data, "      - \"ssh-ed25519 AAAA me\"\n"));
    assert_null(seed.network_config.data);
    cloudinit_seed_free(&seed);

    /* A user-data file is taken byte for byte, NULs and all. */
    static const char gz[] = { 0x1f, (char)0x8b, 0, 1, 2 };
    CloudInitInputs file = { .user_data = { (char *)gz, sizeof(gz) }, .network_config = text_blob("version: 2\n") };
    seed_of(MINIMAL "[cloud-init]\nuser-data = /u\nnetwork-config = /n\n", &file, &seed);
    assert_int_equal(seed.user_data.size, sizeof(gz));
    assert_memory_equal(seed.user_data.data, gz, sizeof(gz));
    assert_string_equal(seed.network_config.data, "version: 2\n");
    cloudinit_seed_free(&seed);

    /* A .pub without a key is refused when the seed is built. */
    VmConfig cfg;
    ErrList el;
    char err[VALUE_ERR_MAX];
    CloudInitInputs empty = { .ssh_key = text_blob("\n") };
    assert_int_equal(config_load(MINIMAL "[cloud-init]\nssh-key = /k/id.pub\n", &cfg, &el), 0);
    assert_int_equal(cloudinit_seed_build(&cfg, NULL, &empty, &seed, err), -EINVAL);
    vmconf_free(&cfg);
}

/* The instance-id is the same for the same inputs and changes with each. */
static void test_instance_id(void **state) {
    (void)state;
    CloudInitInputs k1 = { .ssh_key = text_blob("ssh-ed25519 AAAA one\n") };
    CloudInitInputs k2 = { .ssh_key = text_blob("ssh-ed25519 AAAA two\n") };
    CloudInitInputs nc = { .ssh_key = k1.ssh_key, .network_config = text_blob("version: 2\n") };
    CloudInitInputs nc_empty = { .ssh_key = k1.ssh_key, .network_config = { "", 0 } };
    CloudInitInputs ud1 = { .user_data = text_blob("#cloud-config\n") };
    CloudInitInputs ud2 = { .user_data = text_blob("#cloud-config\n\n") };
#define BASE "[cloud-init]\nssh-key = /k/id.pub\n"
    char ids[10][64];
    id_of(MINIMAL BASE "user = ci\n", &k1, ids[0]);
    id_of(MINIMAL BASE "user = ci\n", &k1, ids[1]);
    assert_string_equal(ids[0], ids[1]);
    id_of(MINIMAL BASE "user = ci\n", &k2, ids[2]);                 /* the key */
    id_of(MINIMAL BASE "user = cj\n", &k1, ids[3]);                 /* the user */
    id_of(MINIMAL BASE "user = ci\nhostname = h\n", &k1, ids[4]);   /* the host name */
    id_of("[vm]\nname = ci-vm2\nmemory = 64M\nvcpus = 1\n" BASE "user = ci\nhostname = ci-vm\n", &k1, ids[5]); /* the VM */
    id_of(MINIMAL BASE "user = ci\nnetwork-config = /n\n", &nc, ids[6]);
    id_of(MINIMAL BASE "user = ci\nnetwork-config = /n\n", &nc_empty, ids[7]); /* an empty file is not none */
    id_of(MINIMAL "[cloud-init]\nuser-data = /u\n", &ud1, ids[8]);
    id_of(MINIMAL "[cloud-init]\nuser-data = /u\n", &ud2, ids[9]);
#undef BASE
    for (int i = 1; i < 10; i++)
        for (int j = 0; j < i; j++)
            if (!(i == 1 && j == 0) && streq(ids[i], ids[j])) fail_msg("seeds %d and %d have the same instance-id %s", j, i, ids[i]);
}

/* The volume's framing: whole sectors, the primary descriptor at sector
 * 16 labelled CIDATA, a Joliet one beside it, the set terminated. */
static void test_iso(void **state) {
    (void)state;
    CloudInitInputs in = { .ssh_key = text_blob("ssh-ed25519 AAAA me\n"), .network_config = text_blob("version: 2\n") };
    CloudInitSeed seed;
    seed_of(MINIMAL "[cloud-init]\nuser = ci\nssh-key = /k/id.pub\nnetwork-config = /n\n", &in, &seed);
    int fd = memfd_create("seed", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(cloudinit_iso_write(fd, &seed), 0);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size > 17 * 2048);
    assert_int_equal(size % 2048, 0);
    unsigned char *img = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    assert_true(img != MAP_FAILED);
    const unsigned char *pvd = img + 16 * 2048;
    assert_int_equal(pvd[0], 1);
    assert_memory_equal(pvd + 1, "CD001", 5);
    assert_memory_equal(pvd + 40, "CIDATA ", 7);
    bool joliet = false, end = false;
    for (int s = 17; s < 32 && !end; s++) {
        const unsigned char *d = img + s * 2048;
        if (memcmp(d + 1, "CD001", 5)) break;
        if (d[0] == 2 && d[88] == '%' && d[89] == '/') joliet = true;
        if (d[0] == 255) end = true;
    }
    assert_true(joliet);
    assert_true(end);
    /* The files' bytes are in it, whole. */
    assert_non_null(memmem(img, (size_t)size, seed.user_data.data, seed.user_data.size));
    assert_non_null(memmem(img, (size_t)size, seed.meta_data.data, seed.meta_data.size));
    assert_non_null(memmem(img, (size_t)size, "version: 2\n", 11));
    /* Rock Ridge names: NM entries with the names as they are. */
    assert_non_null(memmem(img, (size_t)size, "meta-data", 9));
    assert_non_null(memmem(img, (size_t)size, "network-config", 14));
    munmap(img, (size_t)size);
    close(fd);
    /* A write that fails is said, not a truncated seed. */
    int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(cloudinit_iso_write(ro, &seed) < 0);
    close(ro);
    cloudinit_seed_free(&seed);
}

static void test_qemu_argv(void **state) {
    (void)state;
    static const struct { const char *machine, *driver; } cases[] = {
        { "q35", "virtio-blk-pci" }, { "pc", "virtio-blk-pci" }, { "microvm", "virtio-blk-device" } };
    for (size_t m = 0; m < ELEMENTSOF(cases); m++) {
        VmConfig cfg;
        ErrList el;
        char text[512];
        snprintf(text, sizeof(text), MINIMAL "machine = %s\nkernel = /k\n[net \"n\"]\nbridge = br0\nqueues = 2\nvhost = off\n[cloud-init]\n",
                 cases[m].machine);
        assert_int_equal(config_load(text, &cfg, &el), 0);
        HostFacts f;
        memset(&f, 0, sizeof(f));
        f.kvm_usable = true;
        f.stdout_kind = STDOUT_PIPE;
        hostfacts_assign_fds(&cfg, &f);
        /* Last: 3 QMP, 4 status, 5 the serial pair, 6 and 7 the taps,
         * 8 the control monitor. */
        assert_int_equal(f.seed_fd, 9);
        StrVec argv = { 0 };
        ErrList errors = { 0 }, notes = { 0 };
        assert_int_equal(qemucmd_build(&cfg, &f, &argv, &errors, &notes), 0);
        _cleanup_free_ char *all = strvec_join(&argv, "\n");
        assert_non_null(strstr(all, "\n-add-fd\nfd=9,set=9,opaque=cloud-init-seed\n"));
        assert_non_null(strstr(all, "\n-blockdev\n{\"driver\":\"file\",\"node-name\":\"seed-file\",\"filename\":\"/dev/fdset/9\",\"read-only\":true}\n"));
        assert_non_null(strstr(all, "\n-blockdev\n{\"driver\":\"raw\",\"node-name\":\"seed\",\"file\":\"seed-file\",\"read-only\":true}\n"));
        char dev[128];
        snprintf(dev, sizeof(dev), "\n-device\n{\"driver\":\"%s\",\"id\":\"cloud-init-seed\",\"drive\":\"seed\"}\n", cases[m].driver);
        assert_non_null(strstr(all, dev));
        strvec_clear(&argv);
        errlist_clear(&errors);
        errlist_clear(&notes);
        hostfacts_free(&f);
        vmconf_free(&cfg);
    }
    /* Without [cloud-init]: no fd, no seed. */
    VmConfig cfg;
    ErrList el;
    assert_int_equal(config_load(MINIMAL, &cfg, &el), 0);
    HostFacts f;
    memset(&f, 0, sizeof(f));
    f.stdout_kind = STDOUT_PIPE;
    hostfacts_assign_fds(&cfg, &f);
    assert_int_equal(f.seed_fd, -1);
    StrVec argv = { 0 };
    ErrList errors = { 0 }, notes = { 0 };
    assert_int_equal(qemucmd_build(&cfg, &f, &argv, &errors, &notes), 0);
    _cleanup_free_ char *all = strvec_join(&argv, "\n");
    assert_null(strstr(all, "seed"));
    strvec_clear(&argv);
    errlist_clear(&errors);
    errlist_clear(&notes);
    hostfacts_free(&f);
    vmconf_free(&cfg);
}

static void test_ssh_state(void **state) {
    (void)state;
    assert_string_equal(vmssh_reach_addr("0.0.0.0"), "127.0.0.1"); /* every address: reached on loopback */
    assert_string_equal(vmssh_reach_addr("127.0.0.2"), "127.0.0.2");

    char *user, *key;
    assert_int_equal(vmssh_parse_login("user ci\nkey /k/id\n", &user, &key), 0);
    assert_string_equal(user, "ci");
    assert_string_equal(key, "/k/id");
    free(user);
    free(key);
    assert_int_equal(vmssh_parse_login("user \nkey /k/id\n", &user, &key), 0);
    assert_string_equal(user, "");
    free(user);
    free(key);
    assert_int_equal(vmssh_parse_login("user ci\n", &user, &key), -EBADMSG);
    assert_null(user);
    assert_null(key);
    assert_int_equal(vmssh_parse_login("key /k/id\n", &user, &key), 0);
    assert_string_equal(user, "");
    free(user);
    free(key);
}

static void test_ssh_argv(void **state) {
    (void)state;
    char *cmd[] = { "sh", "-c", "uname -r; exit 7", "it's", "", NULL };
    char **av = vmssh_argv("/usr/bin/ssh", "/k/id", "127.0.0.1", 40022, "/run/kvmlaunch/vm/known_hosts", "ci", cmd);
    StrVec v = { .v = av };
    while (av[v.n]) v.n++;
    _cleanup_free_ char *all = strvec_join(&v, "|");
    assert_string_equal(all, "/usr/bin/ssh|-F|none|-i|/k/id|-p|40022|-o|UserKnownHostsFile=/run/kvmlaunch/vm/known_hosts|"
                             "-o|GlobalKnownHostsFile=/dev/null|-o|StrictHostKeyChecking=accept-new|-o|BatchMode=yes|"
                             "-o|IdentitiesOnly=yes|-o|LogLevel=ERROR|--|ci@127.0.0.1|sh -c 'uname -r; exit 7' 'it'\\''s' ''");
    strv_free(av);
    /* No command: a login shell. */
    av = vmssh_argv("ssh", "/k/id", "127.0.0.2", 1, "/kh", "ci", NULL);
    size_t n = 0;
    while (av[n]) n++;
    assert_string_equal(av[n - 1], "ci@127.0.0.2");
    assert_string_equal(av[n - 2], "--");
    strv_free(av);
}

/* /proc/net/tcp as Linux writes it: the listeners a connection to
 * ADDR:PORT may reach are those on ADDR or 0.0.0.0 in state 0A (LISTEN);
 * an established one on that port, another port or address is none. */
static void test_tcp_listeners(void **state) {
    (void)state;
    static const char text[] =
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0\n"
        "   1: 00000000:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000    65534        0 2222 1 0000000000000000 100 0 0 10 0\n"
        "   2: 0100007F:9C40 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 20 4 30 10 -1\n"
        "   3: 0200007F:9C40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0\n"
        "  10: 0100007F:9C41 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 100 0 0 10 0\n";
    struct in_addr lo, lo2, other;
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &lo), 1);
    assert_int_equal(inet_pton(AF_INET, "127.0.0.2", &lo2), 1);
    assert_int_equal(inet_pton(AF_INET, "10.0.0.1", &other), 1);
    unsigned long ino[4] = { 0 };
    assert_int_equal(vmssh_tcp_listeners(text, lo.s_addr, 40000, ino, 4), 2);
    assert_int_equal(ino[0], 1111);
    assert_int_equal(ino[1], 2222);
    assert_int_equal(vmssh_tcp_listeners(text, lo2.s_addr, 40000, ino, 4), 2);
    assert_int_equal(ino[0], 2222);
    assert_int_equal(ino[1], 4444);
    assert_int_equal(vmssh_tcp_listeners(text, other.s_addr, 40000, ino, 4), 1); /* only 0.0.0.0 */
    assert_int_equal(ino[0], 2222);
    assert_int_equal(vmssh_tcp_listeners(text, lo.s_addr, 40001, ino, 4), 1);
    assert_int_equal(ino[0], 5555);
    assert_int_equal(vmssh_tcp_listeners(text, lo.s_addr, 40002, ino, 4), 0);
    /* More than MAX: counted all the same, so the caller can refuse. */
    assert_int_equal(vmssh_tcp_listeners(text, lo.s_addr, 40000, ino, 1), 2);
    assert_int_equal(vmssh_tcp_listeners("", lo.s_addr, 40000, ino, 4), 0);
    assert_int_equal(vmssh_tcp_listeners("header only", lo.s_addr, 40000, ino, 4), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),     cmocka_unit_test(test_refused),     cmocka_unit_test(test_names),
        cmocka_unit_test(test_pubkeys),  cmocka_unit_test(test_user_data),   cmocka_unit_test(test_seed),
        cmocka_unit_test(test_instance_id), cmocka_unit_test(test_iso),      cmocka_unit_test(test_qemu_argv),
        cmocka_unit_test(test_ssh_state), cmocka_unit_test(test_ssh_argv), cmocka_unit_test(test_tcp_listeners),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
