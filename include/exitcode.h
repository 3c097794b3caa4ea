/* kvmlaunch's exit codes (CONFIG.md "Exit codes"): one header that the
 * commands, the run and the supervisor share, so none of them includes
 * another's. */
#ifndef KVMLAUNCH_EXITCODE_H
#define KVMLAUNCH_EXITCODE_H

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_CONFIG = 2, EXIT_TIMEOUT = 124 };

#endif
