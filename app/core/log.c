/* Level-checked logging with a per-thread context tag. */
#include "core/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_min_level = LOG_INFO;
static int log_fd = 2;
static _Thread_local char log_context[64];

int log_level_parse(const char *name, enum log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

int log_open(const char *path, enum log_level min_level)
{
    log_min_level = min_level;
    if (!path || !*path || strcmp(path, "-") == 0) {
        log_fd = 2;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    if (log_fd > 2)
        close(log_fd);
    log_fd = fd;
    return 0;
}

void log_close(void)
{
    if (log_fd > 2)
        close(log_fd);
    log_fd = 2;
}

void log_set_context(const char *tag)
{
    if (tag)
        snprintf(log_context, sizeof(log_context), "%s", tag);
    else
        log_context[0] = '\0';
}

void log_write(enum log_level level, const char *fmt, ...)
{
    static const char letters[] = "DIWE";
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %d %c ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), (int)getpid(), letters[level & 3]);
    if (log_context[0] && n < (int)sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, "[%s] ", log_context);
    if (n < (int)sizeof(line)) {
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    /* One write(2) per line so lines from several processes do not interleave. */
    for (int i = 0; i < n; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(log_fd, line, (size_t)n);
    (void)w;
}

void log_from_signal(const char *msg)
{
    ssize_t w = write(log_fd, msg, strlen(msg));
    w = write(log_fd, "\n", 1);
    (void)w;
}
