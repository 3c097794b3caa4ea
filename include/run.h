/* `kvmlaunch [run] VM.INI`: load → probe → plan → apply → spawn → place →
 * supervise → restore (DESIGN.md), and loading VM.INI with every problem
 * printed, which --dry-run and check share. Below the command line: cli.c
 * calls in, nothing here calls out to it. */
#ifndef KVMLAUNCH_RUN_H
#define KVMLAUNCH_RUN_H

#include <stdio.h>

#include "exitcode.h"

struct VmConfig;
struct ErrList;

/* Loads VM.INI and prints every problem to ERR. Returns 0, or EXIT_CONFIG. */
int run_load_config(const char *path, struct VmConfig *cfg, FILE *err);
/* Each message of EL on F, after PREFIX, and a line when EL stopped early. */
void run_print_errlist(FILE *f, const struct ErrList *el, const char *prefix);

/* Runs the VM of VM.INI until QEMU ends; returns kvmlaunch's exit code. */
int run_vm(const char *path);

#endif
