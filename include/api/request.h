#ifndef VF_API_REQUEST_H
#define VF_API_REQUEST_H
/* One request and its response, free of FastCGI so tests can drive the
 * handlers directly. Rebuilt for every request. */
#include <jansson.h>
#include <stddef.h>
#include "core/buf.h"

struct api_request {
    char method[8];
    char path[512];             /* without the query string */
    const char *query;          /* borrowed; "" when none */
    const char *cookie;         /* borrowed; NULL when absent */
    const char *authorization;
    const char *content_type;
    const char *requested_with; /* X-Requested-With */
    const char *remote_addr;
    const char *body;           /* NULL when there is none */
    size_t body_len;
    int body_too_large;
    char request_id[20];
};

struct api_response {
    int status;
    struct buf headers;         /* extra header lines, each ending in \r\n */
    char *body;                 /* owned; NULL for no body */
    size_t body_len;
    const char *content_type;   /* static string */
};

void api_response_init(struct api_response *rs);
void api_response_free(struct api_response *rs);
/* Sets a JSON body (steals the reference to body). */
void api_respond_json(struct api_response *rs, int status, json_t *body);
/* {"error":{"code","message"}} with an optional "field". */
void api_respond_error(struct api_response *rs, int status, const char *code, const char *field,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Adds "Name: value\r\n" (value must not contain CR or LF). */
void api_add_header(struct api_response *rs, const char *name, const char *value);
const char *api_status_text(int status);

/* ---- request validation (pure, unit-tested) ---- */

/* Parses the body as one JSON object. Returns the object (new reference), or
 * NULL after answering: 415 unsupported_media_type, 413 body_too_large,
 * 400 invalid_json. */
json_t *api_parse_json_body(const struct api_request *rq, struct api_response *rs);
/* A job id from a path segment: 1..2^53. Returns 0 and *id, or -1. */
int api_parse_id(const char *s, size_t len, long long *id);
/* Copies the value of `name` from a query string, percent-decoded, into out.
 * Returns 1 found, 0 absent, -1 malformed or too long. */
int api_query_param(const char *query, const char *name, char *out, size_t outlen);
/* Checks the names of a query string: each must be one of `allowed` (a
 * NULL-terminated list) and appear at most once; empty segments ("a=1&")
 * are ignored. Returns 0, or -1 with the first offending name (raw, cut to
 * fit) in bad. */
int api_query_check(const char *query, const char *const *allowed, char *bad, size_t badlen);
/* Trims the topic and checks it: 3–200 characters, no control characters.
 * Returns a new string or NULL with a reason in why. */
char *api_clean_topic(const char *topic, char *why, size_t whylen);
/* Number of UTF-8 characters (the input is valid UTF-8). */
size_t api_utf8_length(const char *s);

#endif
