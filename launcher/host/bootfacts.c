/* The host facts the boot path needs (include/boottime.h). */
#include "boottime.h"
#include "util.h"

unsigned bootfacts_probe_tsc_khz(const HostRoot *hr) {
    _cleanup_free_ char *text = NULL;
    if (hr->fd < 0 || hostroot_read(hr, "/proc/cpuinfo", &text) < 0) return 0;
    return bootfacts_parse_tsc_khz(text);
}
