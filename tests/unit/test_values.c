/* Value parsers of vm.ini: sizes, durations, bools, cpulists, MACs, enums,
 * and the checks for control characters and UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util.h"
#include "values.h"

static void test_size(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    uint64_t v;
    assert_int_equal(value_parse_size("512M", &v, err), 0);
    assert_int_equal(v, UINT64_C(512) << 20);
    assert_int_equal(value_parse_size("4G", &v, err), 0);
    assert_int_equal(v, UINT64_C(4) << 30);
    assert_int_equal(value_parse_size("4GiB", &v, err), 0);
    assert_int_equal(v, UINT64_C(4) << 30);
    assert_int_equal(value_parse_size("1T", &v, err), 0);
    assert_int_equal(v, UINT64_C(1) << 40);
    assert_int_equal(value_parse_size("4096", &v, err), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(value_parse_size("4X", &v, err), -EINVAL);
    assert_non_null(strstr(err, "found \"4X\""));
    assert_int_equal(value_parse_size("-1G", &v, err), -EINVAL);
    assert_int_equal(value_parse_size(" 1G", &v, err), -EINVAL);
    assert_int_equal(value_parse_size("", &v, err), -EINVAL);
    assert_int_equal(value_parse_size("0x10", &v, err), -EINVAL);
    assert_int_equal(value_parse_size("99999999999999999999", &v, err), -EINVAL);
    assert_int_equal(value_parse_size("17179869184G", &v, err), -EINVAL); /* 2^34 G overflows */
    assert_int_equal(value_parse_size("16777215T", &v, err), 0);
}

static void test_duration(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    uint64_t ms;
    assert_int_equal(value_parse_duration("90s", &ms, err), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(value_parse_duration("5m", &ms, err), 0);
    assert_int_equal(ms, 300000);
    assert_int_equal(value_parse_duration("500ms", &ms, err), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(value_parse_duration("7", &ms, err), 0);
    assert_int_equal(ms, 7000);
    assert_int_equal(value_parse_duration("2h", &ms, err), 0);
    assert_int_equal(ms, 7200000);
    assert_int_equal(value_parse_duration("5 s", &ms, err), -EINVAL);
    assert_int_equal(value_parse_duration("1.5s", &ms, err), -EINVAL);
    assert_int_equal(value_parse_duration("9999999999h", &ms, err), -EINVAL);
    assert_non_null(strstr(err, "at most a year"));
}

static void test_bool(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    bool b;
    const char *yes[] = { "yes", "on", "true", "1" }, *no[] = { "no", "off", "false", "0" };
    for (size_t i = 0; i < 4; i++) {
        b = false;
        assert_int_equal(value_parse_bool(yes[i], &b, err), 0);
        assert_true(b);
        assert_int_equal(value_parse_bool(no[i], &b, err), 0);
        assert_false(b);
    }
    assert_int_equal(value_parse_bool("Yes", &b, err), -EINVAL);
    assert_int_equal(value_parse_bool("y", &b, err), -EINVAL);
    assert_non_null(strstr(err, "yes/no"));
}

static void test_cpulist(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    CpuList l;
    assert_int_equal(value_parse_cpulist("0-3,8,10-11", &l, err), 0);
    int want[] = { 0, 1, 2, 3, 8, 10, 11 };
    assert_int_equal(l.n, 7);
    assert_memory_equal(l.cpu, want, sizeof(want));
    _cleanup_free_ char *s = cpulist_format(&l);
    assert_string_equal(s, "0-3,8,10-11");
    assert_true(cpulist_contains(&l, 10));
    assert_false(cpulist_contains(&l, 9));
    cpulist_free(&l);

    /* Order is kept: vCPU i runs on the i-th CPU written. */
    assert_int_equal(value_parse_cpulist("3,1,2", &l, err), 0);
    assert_int_equal(l.cpu[0], 3);
    assert_int_equal(l.cpu[1], 1);
    _cleanup_free_ char *s2 = cpulist_format(&l);
    assert_string_equal(s2, "1-3");
    cpulist_free(&l);

    const char *bad[] = { "", ",", "1,", "1-", "-1", "3-1", "a", "1 ,2", "0-8192", "1,1", "0-3,2" };
    for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
        l = (CpuList){ NULL, 0 };
        assert_int_equal(value_parse_cpulist(bad[i], &l, err), -EINVAL);
        assert_null(l.cpu);
    }
    assert_int_equal(value_parse_cpulist("1,1", &l, err), -EINVAL);
    assert_non_null(strstr(err, "1 is listed twice"));

    /* A sequence keeps its order and its repeats; the syntax is the same. */
    assert_int_equal(value_parse_cpulist_seq("0,1,0-1,3", &l, err), 0);
    assert_int_equal(l.n, 5);
    static const int want_seq[] = { 0, 1, 0, 1, 3 };
    for (size_t i = 0; i < 5; i++) assert_int_equal(l.cpu[i], want_seq[i]);
    _cleanup_free_ char *set = cpulist_format(&l);
    assert_string_equal(set, "0-1,3");
    cpulist_free(&l);
    const char *bad_seq[] = { "", "1,", "3-1", "0-8192" };
    for (size_t i = 0; i < ELEMENTSOF(bad_seq); i++) {
        l = (CpuList){ NULL, 0 };
        assert_int_equal(value_parse_cpulist_seq(bad_seq[i], &l, err), -EINVAL);
        assert_null(l.cpu);
    }
}

static void test_cpulist_sets(void **state) {
    (void)state;
    CpuList a = { (int[]){ 3, 1, 3, 2 }, 4 }, b = { (int[]){ 1, 2, 3 }, 3 }, c = { (int[]){ 1, 2 }, 2 }, none = { NULL, 0 };
    CpuList s = cpulist_sorted(&a);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.cpu[0], 1);
    assert_int_equal(s.cpu[2], 3);
    cpulist_free(&s);
    assert_true(cpulist_same_set(&a, &b));
    assert_false(cpulist_same_set(&b, &c));
    assert_false(cpulist_same_set(&c, &none));
    assert_true(cpulist_same_set(&none, &none));
    CpuList e = cpulist_sorted(&none);
    assert_int_equal(e.n, 0);
}

static void test_mac(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    MacAddr m;
    assert_int_equal(value_parse_mac("52:54:00:AB:cd:01", &m, err), 0);
    _cleanup_free_ char *s = mac_format(&m);
    assert_string_equal(s, "52:54:00:ab:cd:01");
    assert_int_equal(value_parse_mac("01:00:5e:00:00:01", &m, err), -EINVAL); /* multicast */
    assert_non_null(strstr(err, "unicast"));
    assert_int_equal(value_parse_mac("00:00:00:00:00:00", &m, err), -EINVAL);
    assert_int_equal(value_parse_mac("52:54:00:ab:cd", &m, err), -EINVAL);
    assert_int_equal(value_parse_mac("52-54-00-ab-cd-01", &m, err), -EINVAL);
    assert_int_equal(value_parse_mac("52:54:00:ab:cd:0g", &m, err), -EINVAL);
}

static void test_enum(void **state) {
    (void)state;
    static const EnumName t[] = { { "a", 10, NULL }, { "b", 20, NULL }, { "old", 10, "old means a" }, { NULL, 0, NULL } };
    char err[VALUE_ERR_MAX];
    int v;
    assert_int_equal(value_parse_enum("b", t, &v, err), 1);
    assert_int_equal(v, 20);
    assert_int_equal(value_parse_enum("old", t, &v, err), 2);
    assert_int_equal(v, 10);
    assert_int_equal(value_parse_enum("c", t, &v, err), -EINVAL);
    assert_string_equal(err, "expected a or b, found \"c\"");
    assert_string_equal(enum_to_string(t, 10), "a");
    assert_null(enum_to_string(t, 30));
}

static void test_int(void **state) {
    (void)state;
    char err[VALUE_ERR_MAX];
    int64_t v;
    assert_int_equal(value_parse_int("16", 1, 16, &v, err), 0);
    assert_int_equal(v, 16);
    assert_int_equal(value_parse_int("17", 1, 16, &v, err), -EINVAL);
    assert_string_equal(err, "expected a number from 1 to 16, found \"17\"");
    assert_int_equal(value_parse_int("0", 1, 16, &v, err), -EINVAL);
    assert_int_equal(value_parse_int("+3", 1, 16, &v, err), -EINVAL);
    assert_int_equal(value_parse_int("99999999999999999999999", 1, 16, &v, err), -EINVAL);
}

static void test_bad_char(void **state) {
    (void)state;
    assert_int_equal(value_find_bad_char("plain text, with = and ,"), -1);
    assert_int_equal(value_find_bad_char("caf\xc3\xa9"), -1);              /* é */
    assert_int_equal(value_find_bad_char("\xe2\x82\xac 5"), -1);           /* € */
    assert_int_equal(value_find_bad_char("a\tb"), 1);
    assert_int_equal(value_find_bad_char("a\rb"), 1);
    assert_int_equal(value_find_bad_char("a\x7f"), 1);
    assert_int_equal(value_find_bad_char("ab\xff"), 2);                    /* not UTF-8 */
    assert_int_equal(value_find_bad_char("\xc0\xaf"), 0);                  /* overlong / */
    assert_int_equal(value_find_bad_char("\xed\xa0\x80"), 0);              /* surrogate */
    assert_int_equal(value_find_bad_char("x\xc2\x85"), 1);                 /* C1 NEL */
    assert_int_equal(value_find_bad_char("\xe2\x82"), 0);                  /* truncated */
}

static void test_size_format(void **state) {
    (void)state;
    _cleanup_free_ char *a = size_format(UINT64_C(2) << 20);
    _cleanup_free_ char *b = size_format(UINT64_C(1536) << 20);
    _cleanup_free_ char *c = size_format(1000);
    _cleanup_free_ char *d = size_format(UINT64_C(1) << 30);
    assert_string_equal(a, "2M");
    assert_string_equal(b, "1536M");
    assert_string_equal(c, "1000");
    assert_string_equal(d, "1G");
}

static void test_distance(void **state) {
    (void)state;
    assert_int_equal(string_distance("memory", "memory"), 0);
    assert_int_equal(string_distance("memroy", "memory"), 2);
    assert_int_equal(string_distance("vcpu", "vcpus"), 1);
    assert_int_equal(string_distance("", "abc"), 3);
}

/* Text echoed to a terminal: printable UTF-8 stays, every control
 * character (C0, DEL, C1) and every byte of invalid UTF-8 is \xNN. */
static void test_escape(void **state) {
    (void)state;
    static const struct { const char *in, *out; } cases[] = {
        { "plain", "plain" },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
        { "a\x1b[31mb", "a\\x1b[31mb" },
        { "del\x7f", "del\\x7f" },
        { "csi\xc2\x9b", "csi\\xc2\\x9b" },             /* U+009B, the C1 CSI */
        { "latin1 \xe9t\xe9", "latin1 \\xe9t\\xe9" },
        { "cut \xe2\x82", "cut \\xe2\\x82" },              /* a sequence cut short */
        { "overlong \xc0\xaf", "overlong \\xc0\\xaf" },
        { "surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *e = value_escape(cases[i].in, strlen(cases[i].in));
        if (strcmp(e, cases[i].out)) fail_msg("value_escape(%zu): got \"%s\", expected \"%s\"", i, e, cases[i].out);
        assert_int_equal(value_find_bad_char(e), -1);
        free(e);
    }
    /* At most N bytes: a sequence that N cuts is escaped, not read past N. */
    char *e = value_escape("\xc3\xa9", 1);
    assert_string_equal(e, "\\xc3");
    free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size),     cmocka_unit_test(test_duration), cmocka_unit_test(test_bool),
        cmocka_unit_test(test_cpulist),  cmocka_unit_test(test_cpulist_sets), cmocka_unit_test(test_mac),      cmocka_unit_test(test_enum),
        cmocka_unit_test(test_int),      cmocka_unit_test(test_bad_char), cmocka_unit_test(test_size_format),
        cmocka_unit_test(test_distance), cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
