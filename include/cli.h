/* The command line of kvmlaunch itself: parses it and runs the command. */
#ifndef KVMLAUNCH_CLI_H
#define KVMLAUNCH_CLI_H

#include <stdio.h>

#define KVMLAUNCH_VERSION "0.1.0"

/* Exit codes (CONFIG.md). */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_CONFIG = 2, EXIT_TIMEOUT = 124 };

int cli_main(int argc, char **argv);

/* Loads VM.INI and prints every problem to ERR. Returns 0, or EXIT_CONFIG. */
struct VmConfig;
int cli_load_config(const char *path, struct VmConfig *cfg, FILE *err);

#endif
