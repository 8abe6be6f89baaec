#ifndef VF_CORE_BUF_H
#define VF_CORE_BUF_H
/* Bounded growable byte buffer. Everything that grows from outside input
 * (request bodies, upstream responses, stream backlogs) goes through one of
 * these with a named maximum, so a hostile peer cannot exhaust memory. */
#include <stddef.h>
#include <stdarg.h>

#define BUF_MAX_REQUEST_BODY   (1u << 20)   /* default; the api caps lower by config */
#define BUF_MAX_UPSTREAM_RESP  (8u << 20)
#define BUF_MAX_SCRIPT_JSON    (256u << 10)

struct buf {
    char *data;     /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max;     /* hard limit on len */
    int toobig;     /* set once an append was refused for size */
};

void buf_init(struct buf *b, size_t max);
/* Returns 0, or -1 when the data would pass b->max (toobig is set) or on ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_reset(struct buf *b);
/* Caller owns the returned string; the buffer is emptied. */
char *buf_take(struct buf *b);
void buf_free(struct buf *b);

/* Copy with truncation that always terminates; returns strlen(src). */
size_t vf_strlcpy(char *dst, const char *src, size_t size);
/* snprintf that never overflows; returns 0 or -1 when truncated. */
int vf_snprintf(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Copies src into dst (size bytes with the NUL), cutting at a UTF-8
 * character boundary so a truncated text stays valid UTF-8. */
void vf_utf8_copy(char *dst, const char *src, size_t size);

#endif
