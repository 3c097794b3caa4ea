/* kvmlaunch on a test tree: the program itself, with the fake kernel's ops
 * (tests/helpers/fake_kernel.h) under $KVMLAUNCH_ROOT, so that a test tree's
 * list files and NICs answer as the kernel's do. Never installed; refuses
 * the real root, whose files the fake ops must never write. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fake_host.h"

int main(int argc, char **argv) {
    const char *root = getenv("KVMLAUNCH_ROOT");
    if (!root || !*root || !strcmp(root, "/")) {
        fprintf(stderr, "kvmlaunch-faketree: runs on a test tree only: set KVMLAUNCH_ROOT\n");
        return 2;
    }
    hostroot_set_ops_override(&fake_host_ops, NULL);
    return cli_main(argc, argv);
}
