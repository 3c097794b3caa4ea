/* Stable machine types (include/machinetype.h): the alias in QEMU's
 * `-machine help`, the [vm] machine words and versioned types, and the
 * state dir's record written through a rename. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "machinetype.h"
#include "util.h"
#include "vmconf.h"

/* As QEMU 7.2 prints it (cut). */
static const char help72[] =
    "Supported machines are:\n"
    "microvm              microvm (i386)\n"
    "pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
    "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"
    "pc-i440fx-7.1        Standard PC (i440FX + PIIX, 1996)\n"
    "q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)\n"
    "pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)\n"
    "pc-q35-7.1           Standard PC (Q35 + ICH9, 2009)\n"
    "none                 empty machine\n";

static void alias_target(void **state) {
    (void)state;
    char *t = machinetype_alias_target(help72, "q35");
    assert_string_equal(t, "pc-q35-7.2");
    free(t);
    t = machinetype_alias_target(help72, "pc");
    assert_string_equal(t, "pc-i440fx-7.2");
    free(t);
    /* A versioned type is no alias; a prefix is not a name. */
    assert_null(machinetype_alias_target(help72, "pc-q35-7.2"));
    assert_null(machinetype_alias_target(help72, "q3"));
    assert_null(machinetype_alias_target("q35  x (alias of pc-q35-7.2,accel=tcg)\n", "q35"));
}

static void offered(void **state) {
    (void)state;
    assert_true(machinetype_offered(help72, "pc-q35-7.1"));
    assert_true(machinetype_offered(help72, "q35"));
    assert_false(machinetype_offered(help72, "pc-q35-7.0"));
    assert_false(machinetype_offered(help72, "pc-q35-7"));
}

static void words_and_versions(void **state) {
    (void)state;
    int f = -1;
    assert_int_equal(vmconf_machine_parse("q35", &f), 0);
    assert_int_equal(f, MACHINE_Q35);
    assert_int_equal(vmconf_machine_parse("pc-q35-7.1", &f), 0);
    assert_int_equal(f, MACHINE_Q35);
    assert_int_equal(vmconf_machine_parse("pc-i440fx-2.12", &f), 0);
    assert_int_equal(f, MACHINE_PC);
    assert_int_equal(vmconf_machine_parse("microvm", &f), 0);
    assert_int_equal(f, MACHINE_MICROVM);
    assert_int_equal(vmconf_machine_parse("pc-q35-7", &f), -EINVAL);
    assert_int_equal(vmconf_machine_parse("pc-q35-7.2,accel=tcg", &f), -EINVAL);
    assert_int_equal(vmconf_machine_parse("virt", &f), -EINVAL);
    VmSection vm = { .machine = MACHINE_Q35 };
    assert_true(vmconf_machine_is_alias(&vm));
    vm.machine_name = (char *)"pc-q35-7.1";
    assert_false(vmconf_machine_is_alias(&vm));
    vm.machine_name = (char *)"microvm";
    assert_false(vmconf_machine_is_alias(&vm));
}

static void record(void **state) {
    (void)state;
    char dir[] = "/tmp/kltest-machine-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *t = NULL;
    assert_int_equal(machinetype_read(dir, &t), 0);
    assert_null(t);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(machinetype_write(fd, "pc-q35-7.1"), 0);
    assert_int_equal(machinetype_read(dir, &t), 1);
    assert_string_equal(t, "pc-q35-7.1");
    free(t);
    /* Replaced whole; no temporary file left. */
    assert_int_equal(machinetype_write(fd, "pc-q35-7.2"), 0);
    assert_int_equal(machinetype_read(dir, &t), 1);
    assert_string_equal(t, "pc-q35-7.2");
    free(t);
    assert_int_equal(faccessat(fd, "machine.tmp", F_OK, 0), -1);
    /* Garbage is refused, not guessed from. */
    int g = openat(fd, "machine", O_WRONLY | O_TRUNC);
    assert_true(g >= 0);
    assert_int_equal(write(g, "pc-q35 7.2\n", 11), 11);
    close(g);
    assert_int_equal(machinetype_read(dir, &t), -EBADMSG);
    assert_null(t);
    unlinkat(fd, "machine", 0);
    close(fd);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(alias_target),
        cmocka_unit_test(offered),
        cmocka_unit_test(words_and_versions),
        cmocka_unit_test(record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
