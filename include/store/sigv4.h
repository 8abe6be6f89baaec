#ifndef VF_STORE_SIGV4_H
#define VF_STORE_SIGV4_H
/* AWS Signature Version 4 on libcrypto: the Authorization header for a
 * request, and presigned URLs (query-string signing). Checked against AWS's
 * SigV4 test suite and the S3 documentation's examples (tests/unit/check_sigv4.c).
 *
 * Paths are given decoded ("/bucket/jobs/42/video.mp4") and encoded here the
 * S3 way: every byte but RFC 3986 unreserved characters and '/' as %XX, once.
 * Queries are given as sent (already percent-encoded, any order); the signer
 * decodes and re-encodes each name and value and sorts them. */
#include <stddef.h>
#include <time.h>
#include "core/buf.h"
#include "core/err.h"

#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"

struct sigv4_credentials {
    const char *access_key;
    const char *secret_key;
    const char *session_token;  /* NULL or "" when none */
    const char *region;         /* "us-east-1", "auto" (R2), ... */
    const char *service;        /* "s3" */
};

struct sigv4_header {
    const char *name;           /* any case; signed in lower case */
    const char *value;
};

struct sigv4_request {
    const char *method;
    const char *path;           /* decoded, starts with '/' */
    const char *query;          /* as sent, without '?'; NULL or "" when none */
    const struct sigv4_header *headers; /* every header to sign: host and x-amz-date too */
    size_t nheaders;
    const char *payload_hash;   /* hex SHA-256 of the body, or SIGV4_UNSIGNED_PAYLOAD */
};

struct sigv4_result {
    char signature[65];
    char signed_headers[512];
    char authorization[1024];   /* the Authorization header's value */
};

/* Signs rq at amz_date ("20150830T123600Z"). When canonical is not NULL the
 * canonical request and then the string to sign are appended to it (for
 * tests and for debugging a SignatureDoesNotMatch). */
enum vf_rc sigv4_sign(const struct sigv4_credentials *cr, const char *amz_date,
                      const struct sigv4_request *rq, struct sigv4_result *out,
                      struct buf *canonical, struct vf_err *err);

/* A presigned GET URL: base is "scheme://host[:port]" exactly as the client
 * will send Host, path is decoded. Only host is signed, the payload is
 * UNSIGNED-PAYLOAD (as S3 requires for query signing). */
enum vf_rc sigv4_presign_get(const struct sigv4_credentials *cr, const char *amz_date,
                             long expires_s, const char *base, const char *path, char *url,
                             size_t urllen, struct vf_err *err);

/* "20150830T123600Z" for t (UTC). */
void sigv4_amz_date(time_t t, char out[17]);
/* Lowercase hex SHA-256 of data. */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);
/* Hex SHA-256 of len bytes of the file from offset (len -1: to the end).
 * Returns 0, or -1 (errno) when the file cannot be read. */
int sigv4_sha256_file_hex(const char *path, long long offset, long long len, char out[65]);
/* The S3-style encoding of a decoded path (see above). Returns 0 or -1 when out is small. */
int sigv4_encode_path(const char *path, char *out, size_t outlen);

#endif
