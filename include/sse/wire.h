#ifndef VF_SSE_WIRE_H
#define VF_SSE_WIRE_H
/* The pure parts of the event streams: which stream a path names, the
 * Last-Event-ID a client resumes from, and the text of one event on the wire.
 * No I/O and no database here, so all of it is unit-tested. */
#include <stddef.h>

struct job_event;

enum sse_route_kind {
    SSE_ROUTE_NONE,         /* not an event stream: 404 */
    SSE_ROUTE_BAD_ID,       /* /api/jobs/<not a positive integer>/events: 400 */
    SSE_ROUTE_ALL,          /* /api/events */
    SSE_ROUTE_JOB,          /* /api/jobs/<id>/events */
};

struct sse_route {
    enum sse_route_kind kind;
    long long job_id;       /* SSE_ROUTE_JOB only */
};

/* Ids are BIGINT UNSIGNED, but ours stay far below 10^18. */
#define SSE_ID_MAX_DIGITS 18

/* Reads the route from a request path; anything from '?' on is ignored. */
struct sse_route sse_parse_route(const char *path);

/* Parses a decimal id of 1..SSE_ID_MAX_DIGITS digits (0 allowed when
 * allow_zero). Returns 0, or -1 for anything else (signs, spaces, empty). */
int sse_parse_id(const char *s, size_t len, int allow_zero, long long *out);

/* Where a client resumes: the Last-Event-ID header wins over the
 * `last_event_id=` query parameter (a reconnecting browser sends the header
 * while its URL still carries the first value). An empty value counts as
 * absent. Returns 0 with *have set (and *id when *have), or -1 for a value
 * that is not a plain non-negative integer (400 invalid_query). */
int sse_parse_last_event_id(const char *header, const char *query, int *have, long long *id);

/* The event as it goes on the wire:
 *   id: <id>\nevent: <type>\ndata: <one line of JSON>\n\n
 * Returns a new string (free it), or NULL when out of memory or the type is
 * unknown. *len gets its length when len is not NULL. */
char *sse_format_event(const struct job_event *e, size_t *len);

/* The API's error body {"error":{"code":...,"message":...}} as a new string. */
char *sse_error_body(const char *code, const char *message);

#endif
