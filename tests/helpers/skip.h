/* Skips that say why. A cmocka test that cannot run on this machine calls
 * skip_because("what the machine lacks"): the reason is printed as
 * "skip: TEST: REASON" (TEST: the test's function), added to $KLTEST_SKIP_LOG (where
 * tests/run-tests.sh collects every skip with its reason), and cmocka's
 * skip() marks the test skipped, not passed. A program none of whose tests
 * can run returns skip_program("...") from main: "SKIP: REASON", exit 77. */
#ifndef KVMLAUNCH_TEST_SKIP_H
#define KVMLAUNCH_TEST_SKIP_H

/* Prints and logs the reason; then the caller skips. */
void skip_say(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints and logs the reason of a whole program's skip; returns 77. */
int skip_program(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* In a cmocka test: needs <cmocka.h> included before. */
#define skip_because(...)                   \
    do {                                    \
        skip_say(__func__, __VA_ARGS__);    \
        skip();                             \
    } while (0)

#endif
