/* Pure parts of the network side: CPU masks for rps_cpus/xps_cpus. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "tap.h"
#include "util.h"

static char *mask_of(const char *list) {
    CpuList l;
    char err[VALUE_ERR_MAX];
    if (value_parse_cpulist(list, &l, err) < 0) fail_msg("%s", err);
    char *m = cpumask_format(&l);
    cpulist_free(&l);
    return m;
}

static void test_cpumask(void **state) {
    (void)state;
    static const struct { const char *list, *mask; } cases[] = {
        { "0", "1" }, { "1", "2" }, { "0-3", "f" }, { "0-3,8", "10f" }, { "31", "80000000" },
        { "32", "1,00000000" }, { "0,32,64", "1,00000001,00000001" }, { "4-7", "f0" },
    };
    for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
        _cleanup_free_ char *m = mask_of(cases[i].list);
        assert_string_equal(m, cases[i].mask);
    }
    CpuList empty = { NULL, 0 };
    _cleanup_free_ char *z = cpumask_format(&empty);
    assert_string_equal(z, "0");
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_cpumask) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
