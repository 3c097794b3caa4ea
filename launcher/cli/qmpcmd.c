/* `kvmlaunch qmp NAME [COMMAND [ARGS-JSON]]`: QMP commands on the VM's
 * control monitor (include/vmlive.h), never on status' monitor. One
 * command: its "return" value, pretty-printed. From stdin: one request a
 * line, one reply a line ({"return": ...} or {"error": {"class", "desc"}}),
 * so a script can pair them. */
#include "livecmds.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "exitcode.h"
#include "log.h"
#include "runtime.h"
#include "schema.h"
#include "util.h"
#include "vmlive.h"

/* QMP's own commands may take long (a big query-*); a hung QEMU must not
 * hang the caller for ever. */
#define QMPCMD_TIMEOUT_MS 30000
/* How long the guest agent gets to answer its sync: a guest still
 * booting, or one without qemu-guest-agent, never does. */
#define QMPCMD_AGENT_SYNC_MS 5000
/* A line of stdin at most: far above any request a person or script sends. */
#define QMPCMD_LINE_MAX 65536

static bool command_name_ok(const char *s) {
    if (!*s || strlen(s) > 128) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_') return false;
    return true;
}

/* A whole JSON text: trailing bytes other than blanks are an error too
 * (json_tokener_parse would ignore them). NULL with *e set on failure. */
static json_object *parse_json_whole(const char *text, enum json_tokener_error *e) {
    struct json_tokener *tok = json_tokener_new();
    if (!tok) die_oom();
    size_t len = strlen(text);
    /* With its NUL: a number at the very end is complete, not "continue". */
    json_object *o = json_tokener_parse_ex(tok, text, (int)len + 1);
    *e = json_tokener_get_error(tok);
    if (o && *e == json_tokener_success) {
        size_t end = json_tokener_get_parse_end(tok);
        while (end < len && isspace((unsigned char)text[end])) end++;
        if (end < len) {
            json_object_put(o);
            o = NULL;
            *e = json_tokener_error_parse_unexpected;
        }
    } else if (!o && *e == json_tokener_continue) {
        *e = json_tokener_error_parse_eof;
    }
    json_tokener_free(tok);
    return o;
}

int qmpcmd_parse_request(const char *command, const char *args_json, char **out_command, json_object **out_args, char *err) {
    *out_command = NULL;
    *out_args = NULL;
    if (!command_name_ok(command)) {
        snprintf(err, VALUE_ERR_MAX, "expected a QMP command name (letters, digits, - and _), found \"%.64s\"", command);
        return -EINVAL;
    }
    if (args_json) {
        enum json_tokener_error e;
        json_object *a = parse_json_whole(args_json, &e);
        if (!a || !json_object_is_type(a, json_type_object)) {
            snprintf(err, VALUE_ERR_MAX, "expected the arguments of %s as a JSON object such as {\"value\": 1}, found %s", command,
                     a ? "another JSON value" : json_tokener_error_desc(e));
            json_object_put(a);
            return -EINVAL;
        }
        *out_args = a;
    }
    *out_command = xstrdup(command);
    return 0;
}

/* {"execute": ..., "arguments": {...}}: "id" is kvmlaunch's to give. */
static int parse_object_line(const char *line, char **out_command, json_object **out_args, char *err) {
    enum json_tokener_error e;
    json_object *o = parse_json_whole(line, &e);
    if (!o || !json_object_is_type(o, json_type_object)) {
        snprintf(err, VALUE_ERR_MAX, "expected a JSON object {\"execute\": ..., \"arguments\": {...}}, found %s",
                 o ? "another JSON value" : json_tokener_error_desc(e));
        json_object_put(o);
        return -EINVAL;
    }
    json_object *exec = NULL, *args = NULL;
    int r = 0;
    json_object_object_foreach(o, key, val) {
        if (streq(key, "execute")) exec = val;
        else if (streq(key, "arguments")) args = val;
        else {
            snprintf(err, VALUE_ERR_MAX, "expected only \"execute\" and \"arguments\" in a request, found \"%.64s\"", key);
            r = -EINVAL;
            break;
        }
    }
    if (r == 0 && (!exec || !json_object_is_type(exec, json_type_string))) {
        snprintf(err, VALUE_ERR_MAX, "expected \"execute\" with a command name");
        r = -EINVAL;
    }
    if (r == 0 && args && !json_object_is_type(args, json_type_object)) {
        snprintf(err, VALUE_ERR_MAX, "expected \"arguments\" as a JSON object");
        r = -EINVAL;
    }
    if (r == 0) {
        r = qmpcmd_parse_request(json_object_get_string(exec), NULL, out_command, out_args, err);
        if (r == 0 && args) *out_args = json_object_get(args);
    }
    json_object_put(o);
    return r == 0 ? 1 : r;
}

int qmpcmd_parse_line(const char *line, char **out_command, json_object **out_args, char *err) {
    *out_command = NULL;
    *out_args = NULL;
    while (isspace((unsigned char)*line)) line++;
    if (!*line || *line == '#') return 0;
    if (*line == '{') return parse_object_line(line, out_command, out_args, err);
    size_t n = strcspn(line, " \t\r\n");
    _cleanup_free_ char *command = xstrndup(line, n);
    const char *rest = line + n;
    while (isspace((unsigned char)*rest)) rest++;
    int r = qmpcmd_parse_request(command, *rest ? rest : NULL, out_command, out_args, err);
    return r < 0 ? r : 1;
}

/* Events on this monitor are nobody's business here: dropped as they come,
 * so a long stdin session never fills the client's queue. */
static void drop_events(QmpClient *q) {
    json_object *ev;
    while (q->n_events && qmp_next_event(q, &ev, 0) == 0) json_object_put(ev);
}

/* q->error is "Class: desc" (qmp.c); split for the JSON form. */
static json_object *error_json(const char *error) {
    const char *sep = error ? strstr(error, ": ") : NULL;
    json_object *e = json_object_new_object();
    _cleanup_free_ char *cls = sep ? xstrndup(error, (size_t)(sep - error)) : xstrdup("GenericError");
    json_object_object_add(e, "class", json_object_new_string(cls));
    json_object_object_add(e, "desc", json_object_new_string(sep ? sep + 2 : error ? error : "no answer"));
    json_object *o = json_object_new_object();
    json_object_object_add(o, "error", e);
    return o;
}

/* Runs one request; 0, -EIO for QEMU's error (q->error says it), or
 * another -errno when the monitor failed (then nothing more can run). */
static int run_one(QmpClient *q, const char *command, json_object *args, json_object **ret) {
    int r = qmp_execute(q, command, args, ret, QMPCMD_TIMEOUT_MS);
    drop_events(q);
    return r;
}

static int run_single(const char *name, QmpClient *q, const char *command, json_object *args) {
    json_object *ret = NULL;
    int r = run_one(q, command, args, &ret);
    if (r == -EIO) {
        fprintf(stderr, "kvmlaunch: %s: %s: %s\n", name, command, q->error);
        return EXIT_RUNTIME;
    }
    if (r < 0) {
        log_error("%s: %s: %s", name, command, q->error ? q->error : strerror(-r));
        return EXIT_RUNTIME;
    }
    printf("%s\n", json_object_to_json_string_ext(ret, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(ret);
    return EXIT_OK;
}

/* Stops at the first line that does not parse (exit 2: the lines before it
 * ran) or when the monitor fails (1); a QMP error is that line's reply and
 * the next line runs (exit 1 at the end). */
static int run_stdin(const char *name, QmpClient *q) {
    static char line[QMPCMD_LINE_MAX];
    int rc = EXIT_OK;
    for (unsigned long no = 1; fgets(line, sizeof(line), stdin); no++) {
        if (!strchr(line, '\n') && !feof(stdin)) {
            fprintf(stderr, "kvmlaunch qmp: stdin:%lu: expected a line of at most %d bytes\n", no, QMPCMD_LINE_MAX - 1);
            return EXIT_CONFIG;
        }
        char err[VALUE_ERR_MAX];
        _cleanup_free_ char *command = NULL;
        json_object *args = NULL, *ret = NULL;
        int r = qmpcmd_parse_line(line, &command, &args, err);
        if (r < 0) {
            fprintf(stderr, "kvmlaunch qmp: stdin:%lu: %s\n", no, err);
            return EXIT_CONFIG;
        }
        if (r == 0) continue;
        r = run_one(q, command, args, &ret);
        json_object *reply;
        if (r == -EIO) {
            reply = error_json(q->error);
            rc = EXIT_RUNTIME;
        } else if (r < 0) {
            log_error("%s: stdin:%lu: %s: %s", name, no, command, q->error ? q->error : strerror(-r));
            return EXIT_RUNTIME;
        } else {
            reply = json_object_new_object();
            json_object_object_add(reply, "return", ret);
        }
        printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        fflush(stdout);
        json_object_put(reply);
    }
    return rc;
}

/* --agent: the same on the guest agent (include/agent.h), not on QEMU. */
static int run_agent(const char *name, const char *command, json_object *args) {
    char err[VALUE_ERR_MAX];
    if (schema_check_vm_name(name, err) < 0) {
        fprintf(stderr, "kvmlaunch: NAME: %s\n", err);
        json_object_put(args);
        return EXIT_CONFIG;
    }
    if (runtime_query(name, NULL, NULL) != 1) {
        log_error("%s is not running", name);
        json_object_put(args);
        return EXIT_RUNTIME;
    }
    _cleanup_free_ char *dir = xasprintf("%s/%s", runtime_base(), name);
    _cleanup_close_ int dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dir_fd < 0) {
        log_error_errno(-errno, "Failed to open %s: %m", dir);
        json_object_put(args);
        return EXIT_RUNTIME;
    }
    AgentClient a;
    int r = agent_open(dir, dir_fd, &a, QMPCMD_AGENT_SYNC_MS, false);
    if (r == -ENOENT) log_error("%s has no guest agent channel: set [vm] guest-agent = yes", name);
    int rc = r < 0 ? EXIT_RUNTIME : command ? run_single(name, &a.q, command, args) : run_stdin(name, &a.q);
    if (r < 0) json_object_put(args);
    agent_close(&a);
    return rc;
}

int cmd_qmp_main(int argc, char **argv) {
    int i = 1;
    bool agent = false;
    /* Options before NAME, or --agent right after it (as CONFIG.md writes it). */
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (streq(argv[i], "--")) {
            i++;
            break;
        }
        if (streq(argv[i], "--agent")) {
            agent = true;
            continue;
        }
        fprintf(stderr, "kvmlaunch qmp: unknown option \"%s\"\n", argv[i]);
        return EXIT_CONFIG;
    }
    if (!agent && i + 1 < argc && streq(argv[i + 1], "--agent")) {
        agent = true;
        memmove(&argv[i + 1], &argv[i + 2], (size_t)(argc - i - 2) * sizeof(char *));
        argc--;
    }
    int n = argc - i;
    if (n < 1 || n > 3) {
        fprintf(stderr, "kvmlaunch qmp: expected NAME [--agent] [COMMAND [ARGS-JSON]]\n");
        return EXIT_CONFIG;
    }
    const char *name = argv[i];
    _cleanup_free_ char *command = NULL;
    json_object *args = NULL;
    if (n >= 2) {
        char err[VALUE_ERR_MAX];
        if (qmpcmd_parse_request(argv[i + 1], n == 3 ? argv[i + 2] : NULL, &command, &args, err) < 0) {
            fprintf(stderr, "kvmlaunch qmp: %s\n", err);
            return EXIT_CONFIG;
        }
    }
    if (agent) return run_agent(name, command, args);
    VmControl c;
    int r = vmcontrol_open(name, &c);
    if (r < 0) {
        vmcontrol_close(&c);
        json_object_put(args);
        return r == -EINVAL ? EXIT_CONFIG : EXIT_RUNTIME;
    }
    int rc = command ? run_single(c.name, &c.qmp, command, args) : run_stdin(c.name, &c.qmp);
    vmcontrol_close(&c);
    return rc;
}
