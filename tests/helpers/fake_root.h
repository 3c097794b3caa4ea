/* Tests on fake host trees (tests/hostroot/SCENARIO): a private copy in a
 * temp dir becomes $KVMLAUNCH_ROOT, with a private $KVMLAUNCH_RUNDIR, and
 * every HostRoot opened until the teardown gets the fake kernel's ops
 * (fake_kernel.h). */
#ifndef KVMLAUNCH_FAKE_ROOT_H
#define KVMLAUNCH_FAKE_ROOT_H

#include <stdbool.h>

typedef struct FakeRoot {
    char dir[64];                   /* the temp dir */
    char *root;                     /* owned: DIR/root, the copy */
    char *orig;                     /* owned: tests/hostroot/SCENARIO */
} FakeRoot;

/* Runs a shell command built like printf; its exit status. */
int test_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* 0, or -1 when the copy could not be made (said on stderr). */
int fake_root_setup(FakeRoot *f, const char *scenario);
void fake_root_teardown(FakeRoot *f);
/* The copy is byte for byte the scenario again (differences on stderr). */
bool fake_root_unchanged(const FakeRoot *f);
/* The text of PATH in the copy ("(missing)" when absent); caller frees. */
char *fake_root_read(const FakeRoot *f, const char *path);
/* Writes TEXT to PATH in the copy, making its directories; 0 or -1. */
int fake_root_write(const FakeRoot *f, const char *path, const char *text);

#endif
