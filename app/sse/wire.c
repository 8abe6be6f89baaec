/* Event-stream routes, Last-Event-ID and the wire text of an event. */
#include "sse/wire.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "db/jobs.h"

#define SSE_JOBS_PREFIX "/api/jobs/"
#define SSE_EVENTS_SUFFIX "/events"

int sse_parse_id(const char *s, size_t len, int allow_zero, long long *out)
{
    if (!s || len == 0 || len > SSE_ID_MAX_DIGITS)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v == 0 && !allow_zero)
        return -1;
    *out = v;
    return 0;
}

struct sse_route sse_parse_route(const char *path)
{
    struct sse_route r = {SSE_ROUTE_NONE, 0};
    if (!path)
        return r;
    size_t len = strcspn(path, "?");
    if (len == strlen("/api/events") && memcmp(path, "/api/events", len) == 0) {
        r.kind = SSE_ROUTE_ALL;
        return r;
    }
    size_t plen = strlen(SSE_JOBS_PREFIX), slen = strlen(SSE_EVENTS_SUFFIX);
    if (len <= plen + slen || memcmp(path, SSE_JOBS_PREFIX, plen) != 0 ||
        memcmp(path + len - slen, SSE_EVENTS_SUFFIX, slen) != 0)
        return r;
    const char *id = path + plen;
    size_t idlen = len - plen - slen;
    if (memchr(id, '/', idlen))
        return r;   /* deeper paths are not ours */
    if (sse_parse_id(id, idlen, 0, &r.job_id) != 0) {
        r.kind = SSE_ROUTE_BAD_ID;
        r.job_id = 0;
        return r;
    }
    r.kind = SSE_ROUTE_JOB;
    return r;
}

/* Finds `name=` in a query string and returns its value (not decoded) and length. */
static const char *query_value(const char *query, const char *name, size_t *vlen)
{
    size_t nlen = strlen(name);
    const char *p = query;
    while (p && *p) {
        size_t plen = strcspn(p, "&");
        if (plen > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            *vlen = plen - nlen - 1;
            return p + nlen + 1;
        }
        if (plen == nlen && memcmp(p, name, nlen) == 0) {
            *vlen = 0;
            return p + plen;
        }
        p += plen;
        if (*p == '&')
            p++;
    }
    return NULL;
}

int sse_parse_last_event_id(const char *header, const char *query, int *have, long long *id)
{
    const char *v = NULL;
    size_t vlen = 0;
    if (header && *header) {
        v = header;
        vlen = strlen(header);
    } else if (query) {
        v = query_value(query, "last_event_id", &vlen);
    }
    *have = 0;
    if (!v || vlen == 0)
        return 0;
    if (sse_parse_id(v, vlen, 1, id) != 0)
        return -1;
    *have = 1;
    return 0;
}

/* A JSON string from text that should be UTF-8; bytes that are not are
 * replaced so that one bad row cannot stop a stream. */
static json_t *json_text(const char *s)
{
    if (!s)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *copy = malloc(n + 1);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++)
        copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
    copy[n] = '\0';
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *json_text_or_null(const char *s)
{
    return s && *s ? json_text(s) : json_null();
}

static json_t *event_data(const struct job_event *e)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = json_object_set_new(o, "job_id", json_integer(e->job_id));
    if (strcmp(e->type, "state") == 0) {
        bad |= json_object_set_new(o, "state", json_text_or_null(e->state));
        bad |= json_object_set_new(o, "step", json_text_or_null(e->step));
        bad |= json_object_set_new(o, "at", json_text_or_null(e->at));
    } else if (strcmp(e->type, "progress") == 0) {
        bad |= json_object_set_new(o, "step", json_text_or_null(e->step));
        bad |= json_object_set_new(o, "percent",
                                   e->percent >= 0 ? json_integer(e->percent) : json_null());
        bad |= json_object_set_new(o, "message", json_text(e->message));
        bad |= json_object_set_new(o, "at", json_text_or_null(e->at));
    } else if (strcmp(e->type, "log") == 0) {
        bad |= json_object_set_new(o, "level", json_text_or_null(e->level));
        bad |= json_object_set_new(o, "message", json_text(e->message));
        bad |= json_object_set_new(o, "at", json_text_or_null(e->at));
    } else {
        bad = 1;
    }
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *sse_format_event(const struct job_event *e, size_t *len)
{
    json_t *data = event_data(e);
    if (!data)
        return NULL;
    /* Compact output never contains a raw newline (strings escape it), so
     * the whole object fits on one `data:` line. */
    char *json = json_dumps(data, JSON_COMPACT);
    json_decref(data);
    if (!json)
        return NULL;
    struct buf b;
    buf_init(&b, strlen(json) + 128);
    int rc = buf_printf(&b, "id: %lld\nevent: %s\ndata: %s\n\n", e->id, e->type, json);
    free(json);
    if (rc != 0) {
        buf_free(&b);
        return NULL;
    }
    if (len)
        *len = b.len;
    return buf_take(&b);
}

char *sse_error_body(const char *code, const char *message)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
