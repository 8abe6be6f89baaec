#ifndef VF_CORE_LOG_H
#define VF_CORE_LOG_H
/* Level-checked logger. Lines look like
 *   2026-11-24T10:00:00.123Z 1234 W [job=42] render failed: ...
 * The level is checked before the arguments are evaluated. The context tag is
 * per thread (a job id in the worker, a request id in the api). */

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

extern int log_min_level;

/* Returns 0, or -1 for an unknown level name. */
int log_level_parse(const char *name, enum log_level *out);
/* Opens path for appending (NULL or "" or "-" means stderr). Returns 0 or -1. */
int log_open(const char *path, enum log_level min_level);
void log_close(void);
/* Sets this thread's context tag ("job=42"); NULL clears it. Copied. */
void log_set_context(const char *tag);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_msg(level, ...) do { \
        if ((int)(level) < log_min_level) break; \
        log_write(level, __VA_ARGS__); \
    } while (0)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Async-signal-safe: write(2) of a fixed message to the log fd. */
void log_from_signal(const char *msg);

#endif
