/* The human form of `kvmlaunch host`: a few aligned tables rendered from
 * the JSON of hostinfo_probe() and nothing else, so the two forms cannot
 * disagree. The commands themselves (cmd_host) are in commands.h. */
#ifndef KVMLAUNCH_HOSTREPORT_H
#define KVMLAUNCH_HOSTREPORT_H

#include <json-c/json.h>

/* Pure: the report as text (caller frees). Fields that are null or
 * missing print as "?" (unknown) or "-" (none), never fail. */
char *hostreport_render(json_object *host);

#endif
