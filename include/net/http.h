#ifndef VF_NET_HTTP_H
#define VF_NET_HTTP_H
/* The one HTTP client (libcurl): connect and total timeouts, a cap on the
 * response size, and errors sorted into transient (timeouts, refused
 * connections: try again later) and permanent. Status codes are the
 * caller's to judge: any complete HTTP answer is VF_OK here. Only this
 * module touches libcurl. */
#include <stddef.h>
#include "core/buf.h"
#include "core/err.h"

struct http_request {
    const char *method;             /* "GET", "POST", "PUT", "DELETE" */
    const char *url;
    const char *const *headers;     /* NULL-terminated "Name: value" lines, or NULL */
    const void *body;               /* bytes to send, or NULL */
    size_t body_len;
    const char *body_file;          /* or: send this file's bytes ... */
    long long body_offset;          /* ... from this offset ... */
    long long body_file_len;        /* ... this many (-1: to the end) */
    long connect_timeout_ms;        /* 0: 10 s */
    long timeout_ms;                /* 0: 60 s */
    size_t max_response;            /* 0: BUF_MAX_UPSTREAM_RESP */
    const char *what;               /* for messages: "Gemini", "S3", ... */
};

struct http_response {
    long status;
    struct buf body;
    struct buf headers;             /* raw header lines of the final response */
};

void http_response_init(struct http_response *r);
void http_response_free(struct http_response *r);

/* Performs the request. VF_OK when an HTTP answer came back (any status);
 * VF_ETRANSIENT for timeouts and unreachable hosts; VF_ETOOBIG when the
 * answer passed max_response; VF_EPERMANENT for anything else (bad URL, TLS
 * failure). err->text names req->what and the cause. */
enum vf_rc http_perform(const struct http_request *req, struct http_response *resp,
                        struct vf_err *err);

/* Copies the value of the named response header (case-insensitive) into out.
 * Returns 1 found, 0 not. */
int http_header_value(const struct http_response *r, const char *name, char *out, size_t outlen);

/* Percent-encodes s per RFC 3986 (unreserved characters stay); '/' stays too
 * when keep_slash. Returns 0, or -1 when out is too small. */
int http_uri_encode(const char *s, int keep_slash, char *out, size_t outlen);

#endif
