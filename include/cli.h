/* The command line of kvmlaunch itself: parses it and runs the command. */
#ifndef KVMLAUNCH_CLI_H
#define KVMLAUNCH_CLI_H

#define KVMLAUNCH_VERSION "0.1.0"

/* Returns kvmlaunch's exit code (include/exitcode.h). */
int cli_main(int argc, char **argv);

#endif
