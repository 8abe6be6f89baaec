/* Request and response plumbing and the pure input checks of the API. */
#include "api/request.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void api_response_init(struct api_response *rs)
{
    memset(rs, 0, sizeof(*rs));
    buf_init(&rs->headers, 16384);
    rs->status = 200;
}

void api_response_free(struct api_response *rs)
{
    buf_free(&rs->headers);
    free(rs->body);
    rs->body = NULL;
}

const char *api_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

void api_respond_json(struct api_response *rs, int status, json_t *body)
{
    free(rs->body);
    rs->body = NULL;
    rs->body_len = 0;
    rs->status = status;
    rs->content_type = "application/json";
    if (body) {
        rs->body = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10));
        rs->body_len = rs->body ? strlen(rs->body) : 0;
        json_decref(body);
    }
}

/* A message or field may quote the client's bytes (a path, a key cut to
 * length): make it valid UTF-8, or jansson refuses it and the error would
 * go out without a body. */
static json_t *json_text(char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    for (char *p = s; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    return json_string(s);
}

void api_respond_error(struct api_response *rs, int status, const char *code, const char *field,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_t *e = json_object();
    json_object_set_new(e, "code", json_string(code));
    json_object_set_new(e, "message", json_text(msg));
    if (field) {
        char f[128];
        vf_utf8_copy(f, field, sizeof(f));
        json_object_set_new(e, "field", json_text(f));
    }
    api_respond_json(rs, status, json_pack("{s:o}", "error", e));
}

void api_add_header(struct api_response *rs, const char *name, const char *value)
{
    if (strpbrk(value, "\r\n"))
        return;
    (void)buf_printf(&rs->headers, "%s: %s\r\n", name, value);
}

json_t *api_parse_json_body(const struct api_request *rq, struct api_response *rs)
{
    if (rq->body_too_large) {
        api_respond_error(rs, 413, "body_too_large", NULL, "the request body is too large");
        return NULL;
    }
    const char *ct = rq->content_type;
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' ')) {
        api_respond_error(rs, 415, "unsupported_media_type", NULL,
                          "send the body as JSON with Content-Type: application/json");
        return NULL;
    }
    if (!rq->body || rq->body_len == 0) {
        api_respond_error(rs, 400, "invalid_json", NULL, "the request body is empty; send a JSON object");
        return NULL;
    }
    json_error_t jerr;
    json_t *j = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j) {
        api_respond_error(rs, 400, "invalid_json", NULL, "the body is not valid JSON: %s (at %d:%d)",
                          jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        api_respond_error(rs, 400, "invalid_json", NULL, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

int api_parse_id(const char *s, size_t len, long long *id)
{
    if (len == 0 || len > 16)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v <= 0 || v > (1LL << 53) || s[0] == '0')
        return -1;
    *id = v;
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int api_query_param(const char *query, const char *name, char *out, size_t outlen)
{
    if (!query || !outlen)
        return 0;
    size_t nlen = strlen(name);
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *kend = eq ? eq : end;
        if ((size_t)(kend - p) == nlen && strncmp(p, name, nlen) == 0) {
            size_t o = 0;
            for (const char *v = eq ? eq + 1 : end; v < end; v++) {
                int c = (unsigned char)*v;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    if (end - v < 3 || hexval(v[1]) < 0 || hexval(v[2]) < 0)
                        return -1;
                    c = hexval(v[1]) * 16 + hexval(v[2]);
                    v += 2;
                }
                if (c == 0 || o + 1 >= outlen)
                    return -1;
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return 1;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return 0;
}

int api_query_check(const char *query, const char *const *allowed, char *bad, size_t badlen)
{
    if (badlen)
        bad[0] = '\0';
    if (!query)
        return 0;
    unsigned seen = 0;      /* bit i: allowed[i] was seen */
    for (const char *p = query; *p;) {
        const char *end = p + strcspn(p, "&");
        size_t nlen = strcspn(p, "=&");
        if (end > p) {
            int which = -1;
            for (int i = 0; allowed[i] && i < 32; i++)
                if (strlen(allowed[i]) == nlen && strncmp(p, allowed[i], nlen) == 0)
                    which = i;
            if (which < 0 || (seen & (1u << which))) {
                if (badlen)
                    snprintf(bad, badlen, "%.*s", (int)(nlen < badlen ? nlen : badlen - 1), p);
                return -1;
            }
            seen |= 1u << which;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

size_t api_utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

char *api_clean_topic(const char *topic, char *why, size_t whylen)
{
    while (*topic && isspace((unsigned char)*topic))
        topic++;
    size_t len = strlen(topic);
    while (len && isspace((unsigned char)topic[len - 1]))
        len--;
    char *t = strndup(topic, len);
    if (!t) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    for (const char *p = t; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(why, whylen, "the topic must not contain control characters");
            free(t);
            return NULL;
        }
    }
    size_t chars = api_utf8_length(t);
    if (chars < 3 || chars > 200) {
        snprintf(why, whylen, "the topic must have 3 to 200 characters (it has %zu)", chars);
        free(t);
        return NULL;
    }
    return t;
}
