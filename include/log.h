/* One line per event on stderr: "kvmlaunch[VM]: LEVEL: message" (the VM's
 * name once known), with a "<N>" priority first when stderr is the
 * journal. */
#ifndef KVMLAUNCH_LOG_H
#define KVMLAUNCH_LOG_H

typedef enum { LOG_ERR = 3, LOG_WARNING = 4, LOG_NOTICE = 5, LOG_INFO = 6, LOG_DEBUG = 7 } LogLevel;

void log_set_max_level(LogLevel level);
/* Looks at $JOURNAL_STREAM; call once, early (fstat after lockdown is not
 * to be counted on). */
void log_setup(void);
/* Every later line names this VM. */
void log_set_vm_name(const char *name);
/* Every function returns r unchanged (a negative errno), so callers can write
 * `return log_error_errno(r, "...: %m")`; %m prints strerror(-r). */
int log_full_errno(LogLevel level, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_error_errno(r, ...) log_full_errno(LOG_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_full_errno(LOG_WARNING, (r), __VA_ARGS__)

#endif
