/* The S3 store. PROTOCOLS.md §3 has the wire formats and the traps. */
#include "store/store_s3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "core/buf.h"
#include "core/config.h"
#include "net/http.h"
#include "store/sigv4.h"

#define S3_TRIES 3
#define S3_PATH_MAX 2048

/* ---- where requests go ---- */

enum vf_rc s3_target_of(const struct vf_config *cfg, struct s3_target *t, struct vf_err *err)
{
    if (!cfg->s3_bucket[0])
        return vf_fail(err, VF_EPERMANENT, "the S3 store needs s3_bucket");
    if (!cfg->s3_access_key[0] || !cfg->s3_secret_key[0])
        return vf_fail(err, VF_EPERMANENT, "the S3 store needs s3_access_key and s3_secret_key");
    char endpoint[512];
    if (cfg->s3_endpoint[0])
        vf_strlcpy(endpoint, cfg->s3_endpoint, sizeof(endpoint));
    else
        snprintf(endpoint, sizeof(endpoint), "https://s3.%s.amazonaws.com", cfg->s3_region);
    size_t n = strlen(endpoint);
    while (n > 0 && endpoint[n - 1] == '/')
        endpoint[--n] = '\0';
    const char *scheme_end = strstr(endpoint, "://");
    if (!scheme_end || (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0))
        return vf_fail(err, VF_EPERMANENT,
                       "s3_endpoint must start with http:// or https:// (it is \"%s\")", endpoint);
    const char *host = scheme_end + 3;
    if (!*host || strchr(host, '/') || strchr(host, '?'))
        return vf_fail(err, VF_EPERMANENT,
                       "s3_endpoint must be scheme://host[:port] with no path (it is \"%s\")",
                       endpoint);
    if (strchr(cfg->s3_bucket, '/'))
        return vf_fail(err, VF_EPERMANENT, "s3_bucket must be a bucket name, not a path");
    int ok;
    if (cfg->s3_path_style) {
        ok = vf_snprintf(t->base, sizeof(t->base), "%s", endpoint) == 0 &&
             vf_snprintf(t->bucket_path, sizeof(t->bucket_path), "/%s", cfg->s3_bucket) == 0;
    } else {
        ok = vf_snprintf(t->base, sizeof(t->base), "%.*s%s.%s", (int)(host - endpoint), endpoint,
                         cfg->s3_bucket, host) == 0;
        t->bucket_path[0] = '\0';
    }
    if (!ok)
        return vf_fail(err, VF_EPERMANENT, "s3_endpoint or s3_bucket is too long");
    return VF_OK;
}

int s3_object_path(const struct vf_config *cfg, const struct s3_target *t, const char *key,
                   char *out, size_t outlen)
{
    const char *prefix = cfg->s3_prefix;
    while (*prefix == '/')
        prefix++;
    size_t plen = strlen(prefix);
    const char *sep = plen && prefix[plen - 1] != '/' ? "/" : "";
    return vf_snprintf(out, outlen, "%s/%s%s%s", t->bucket_path, prefix, sep, key);
}

long long s3_part_size(long long total)
{
    long long part = S3_MIN_PART_BYTES;
    long long need = (total + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
    if (need > part)
        part = (need + (1 << 20) - 1) / (1 << 20) * (1 << 20);
    return part;
}

/* ---- XML and errors ---- */

int s3_xml_value(const char *xml, const char *tag, char *out, size_t outlen)
{
    if (!xml || !outlen)
        return 0;
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *s = strstr(xml, open);
    if (!s)
        return 0;
    s += strlen(open);
    const char *e = strstr(s, close);
    if (!e)
        return 0;
    static const struct {
        const char *ent;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    size_t o = 0;
    while (s < e && o + 1 < outlen) {
        int done = 0;
        for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]) && !done; i++) {
            size_t l = strlen(ents[i].ent);
            if ((size_t)(e - s) >= l && strncmp(s, ents[i].ent, l) == 0) {
                out[o++] = ents[i].c;
                s += l;
                done = 1;
            }
        }
        if (!done)
            out[o++] = *s++;
    }
    out[o] = '\0';
    return 1;
}

enum vf_rc s3_error_of(const struct vf_config *cfg, const char *op, const char *key, long status,
                       const char *body, struct vf_err *err)
{
    char code[64] = "", msg[200] = "";
    s3_xml_value(body, "Code", code, sizeof(code));
    s3_xml_value(body, "Message", msg, sizeof(msg));
    err->http_status = (int)status;
    const char *says = msg[0] ? msg : code[0] ? code : "no details";
    if (strcmp(code, "SignatureDoesNotMatch") == 0)
        return vf_fail(err, VF_EPERMANENT,
                       "S3 rejected the signature: check s3_secret_key (and s3_region \"%s\") "
                       "(%s %s: SignatureDoesNotMatch)", cfg->s3_region, op, key);
    if (strcmp(code, "InvalidAccessKeyId") == 0)
        return vf_fail(err, VF_EPERMANENT,
                       "S3 does not know the access key: check s3_access_key (%s %s: "
                       "InvalidAccessKeyId)", op, key);
    if (strcmp(code, "NoSuchBucket") == 0)
        return vf_fail(err, VF_EPERMANENT,
                       "S3 has no bucket \"%s\": check s3_bucket (and s3_endpoint)",
                       cfg->s3_bucket);
    if (strcmp(code, "AuthorizationHeaderMalformed") == 0 || strcmp(code, "PermanentRedirect") == 0 ||
        strcmp(code, "IllegalLocationConstraintException") == 0 || status == 301)
        return vf_fail(err, VF_EPERMANENT,
                       "S3 says the bucket is in another region: check s3_region and s3_endpoint "
                       "(%s)", says);
    if (strcmp(code, "InvalidToken") == 0 || strcmp(code, "ExpiredToken") == 0)
        return vf_fail(err, VF_EPERMANENT,
                       "S3 refused the session token: check s3_session_token (%s)", says);
    if (strcmp(code, "RequestTimeTooSkewed") == 0)
        return vf_fail(err, VF_EPERMANENT,
                       "S3 says this machine's clock is off by more than 15 minutes: set the "
                       "clock (NTP)");
    if (strcmp(code, "AccessDenied") == 0)
        return vf_fail(err, VF_EPERMANENT,
                       "S3 denied %s %s: give the key s3_access_key permission to write to "
                       "bucket \"%s\" (%s)", op, key, cfg->s3_bucket, says);
    if (status >= 500 || status == 429 || status == 408 || strcmp(code, "SlowDown") == 0 ||
        strcmp(code, "RequestTimeout") == 0 || strcmp(code, "InternalError") == 0)
        return vf_fail(err, VF_ETRANSIENT, "S3 answered %ld %s to %s %s: %s", status,
                       code[0] ? code : "", op, key, says);
    return vf_fail(err, VF_EPERMANENT, "S3 refused %s %s: %ld %s: %s", op, key, status,
                   code[0] ? code : "", says);
}

/* ---- one signed request ---- */

struct s3_call {
    const char *method;
    const char *op;             /* for messages: "PUT", "multipart upload", ... */
    const char *key;
    const char *path;           /* decoded */
    const char *query;          /* encoded and already canonical, or NULL */
    const char *content_type;   /* or NULL */
    const void *body;
    size_t body_len;
    const char *body_file;      /* or a file region */
    long long offset, length;
    const char *payload_hash;
};

static enum vf_rc s3_send(const struct vf_config *cfg, const struct s3_target *t,
                          const struct s3_call *c, struct http_response *resp, struct vf_err *err)
{
    char amz_date[17];
    sigv4_amz_date(time(NULL), amz_date);
    const char *host = strstr(t->base, "://") + 3;
    struct sigv4_header sh[5];
    size_t n = 0;
    sh[n++] = (struct sigv4_header){"host", host};
    sh[n++] = (struct sigv4_header){"x-amz-content-sha256", c->payload_hash};
    sh[n++] = (struct sigv4_header){"x-amz-date", amz_date};
    if (c->content_type)
        sh[n++] = (struct sigv4_header){"content-type", c->content_type};
    int token = cfg->s3_session_token[0] != '\0';
    if (token)
        sh[n++] = (struct sigv4_header){"x-amz-security-token", cfg->s3_session_token};
    struct sigv4_credentials cr = {cfg->s3_access_key, cfg->s3_secret_key, cfg->s3_session_token,
                                   cfg->s3_region, "s3"};
    struct sigv4_request rq = {c->method, c->path, c->query, sh, n, c->payload_hash};
    struct sigv4_result sig;
    enum vf_rc rc = sigv4_sign(&cr, amz_date, &rq, &sig, NULL, err);
    if (rc != VF_OK)
        return rc;

    char epath[S3_PATH_MAX * 3], url[S3_PATH_MAX * 4];
    if (sigv4_encode_path(c->path, epath, sizeof(epath)) != 0 ||
        vf_snprintf(url, sizeof(url), "%s%s%s%s", t->base, epath, c->query ? "?" : "",
                    c->query ? c->query : "") != 0)
        return vf_fail(err, VF_EINVAL, "the S3 URL for %s is too long", c->key);
    char h_host[600], h_sha[100], h_date[40], h_type[200], h_auth[1100], h_token[4200];
    snprintf(h_host, sizeof(h_host), "Host: %s", host);
    snprintf(h_sha, sizeof(h_sha), "x-amz-content-sha256: %s", c->payload_hash);
    snprintf(h_date, sizeof(h_date), "x-amz-date: %s", amz_date);
    /* A header curl would add on its own (Content-Type for a POST) is
     * removed when we do not sign one. */
    if (c->content_type)
        snprintf(h_type, sizeof(h_type), "Content-Type: %s", c->content_type);
    else
        vf_strlcpy(h_type, "Content-Type:", sizeof(h_type));
    snprintf(h_auth, sizeof(h_auth), "Authorization: %s", sig.authorization);
    if (token && vf_snprintf(h_token, sizeof(h_token), "x-amz-security-token: %s",
                             cfg->s3_session_token) != 0)
        return vf_fail(err, VF_EPERMANENT, "s3_session_token is too long");
    const char *headers[] = {h_host, h_sha, h_date, h_type, h_auth, token ? h_token : NULL, NULL};

    long long bytes = c->body_file ? c->length : (long long)c->body_len;
    struct http_request hr = {
        .method = c->method, .url = url, .headers = headers, .body = c->body,
        .body_len = c->body_len, .body_file = c->body_file, .body_offset = c->offset,
        .body_file_len = c->length,
        /* s3_timeout_s for the answer, plus time to send the body at 256 KB/s
         * or more, so a large file does not hit the timeout */
        .timeout_ms = cfg->s3_timeout_s * 1000L + (long)(bytes / 256),
        .max_response = 1u << 20, .what = "S3",
    };
    return http_perform(&hr, resp, err);
}

static void pause_before_retry(int attempt, double retry_after)
{
    double s = retry_after > 0 && retry_after < 30 ? retry_after : 0.5 * (1 << attempt);
    s *= 0.75 + (double)rand() / RAND_MAX / 2;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Sends c, retrying timeouts, 5xx and 429 a few times. On VF_OK resp holds
 * a 2xx answer; anything else is in err. */
static enum vf_rc s3_call(const struct vf_config *cfg, const struct s3_target *t,
                          const struct s3_call *c, struct http_response *resp, struct vf_err *err)
{
    enum vf_rc rc = VF_ETRANSIENT;
    for (int attempt = 0; attempt < S3_TRIES; attempt++) {
        if (attempt > 0) {
            pause_before_retry(attempt, err->retry_after);
            http_response_free(resp);
            http_response_init(resp);
        }
        err->retry_after = 0;
        rc = s3_send(cfg, t, c, resp, err);
        if (rc == VF_OK && resp->status >= 200 && resp->status < 300)
            return VF_OK;
        if (rc == VF_OK) {
            rc = s3_error_of(cfg, c->op, c->key, resp->status, resp->body.data, err);
            char ra[32];
            if (http_header_value(resp, "Retry-After", ra, sizeof(ra)))
                err->retry_after = strtod(ra, NULL);
        }
        if (rc != VF_ETRANSIENT)
            return rc;
    }
    return rc;
}

/* ---- uploads ---- */

static enum vf_rc put_single(const struct vf_config *cfg, const struct s3_target *t,
                             const char *key, const char *opath, const char *path,
                             long long size, const char *content_type, struct vf_err *err)
{
    char hash[65];
    if (sigv4_sha256_file_hex(path, 0, size, hash) != 0)
        return vf_fail(err, VF_EPERMANENT, "cannot read %s: %s", path, strerror(errno));
    struct s3_call c = {.method = "PUT", .op = "PUT", .key = key, .path = opath,
                        .content_type = content_type, .body_file = path, .offset = 0,
                        .length = size, .payload_hash = hash};
    struct http_response resp;
    http_response_init(&resp);
    enum vf_rc rc = s3_call(cfg, t, &c, &resp, err);
    http_response_free(&resp);
    return rc;
}

static void abort_multipart(const struct vf_config *cfg, const struct s3_target *t,
                            const char *key, const char *opath, const char *query)
{
    struct s3_call c = {.method = "DELETE", .op = "abort multipart upload", .key = key,
                        .path = opath, .query = query, .payload_hash = SIGV4_EMPTY_SHA256};
    struct http_response resp;
    struct vf_err ignored = {0};
    http_response_init(&resp);
    (void)s3_call(cfg, t, &c, &resp, &ignored);
    http_response_free(&resp);
}

static enum vf_rc initiate_multipart(const struct vf_config *cfg, const struct s3_target *t,
                                     const char *key, const char *opath,
                                     const char *content_type, char *upload_id, size_t idlen,
                                     struct vf_err *err)
{
    struct s3_call c = {.method = "POST", .op = "start a multipart upload of", .key = key,
                        .path = opath, .query = "uploads=", .content_type = content_type,
                        .payload_hash = SIGV4_EMPTY_SHA256};
    struct http_response resp;
    http_response_init(&resp);
    enum vf_rc rc = s3_call(cfg, t, &c, &resp, err);
    if (rc == VF_OK && !s3_xml_value(resp.body.data, "UploadId", upload_id, idlen))
        rc = vf_fail(err, VF_ETRANSIENT, "S3 started a multipart upload of %s without an UploadId",
                     key);
    http_response_free(&resp);
    return rc;
}

static enum vf_rc upload_part(const struct vf_config *cfg, const struct s3_target *t,
                              const char *key, const char *opath, const char *path,
                              const char *eid, int number, long long offset, long long len,
                              char *etag, size_t etaglen, struct vf_err *err)
{
    char hash[65], query[1200];
    if (sigv4_sha256_file_hex(path, offset, len, hash) != 0)
        return vf_fail(err, VF_EPERMANENT, "cannot read %s: %s", path, strerror(errno));
    snprintf(query, sizeof(query), "partNumber=%d&uploadId=%s", number, eid);
    struct s3_call c = {.method = "PUT", .op = "upload a part of", .key = key, .path = opath,
                        .query = query, .body_file = path, .offset = offset, .length = len,
                        .payload_hash = hash};
    struct http_response resp;
    http_response_init(&resp);
    enum vf_rc rc = s3_call(cfg, t, &c, &resp, err);
    if (rc == VF_OK && !http_header_value(&resp, "ETag", etag, etaglen))
        rc = vf_fail(err, VF_ETRANSIENT, "S3 stored part %d of %s without an ETag", number, key);
    http_response_free(&resp);
    return rc;
}

static enum vf_rc complete_multipart(const struct vf_config *cfg, const struct s3_target *t,
                                     const char *key, const char *opath, const char *query,
                                     const struct buf *xml, struct vf_err *err)
{
    char hash[65];
    sigv4_sha256_hex(xml->data, xml->len, hash);
    struct s3_call c = {.method = "POST", .op = "complete the multipart upload of", .key = key,
                        .path = opath, .query = query, .content_type = "application/xml",
                        .body = xml->data, .body_len = xml->len, .payload_hash = hash};
    struct http_response resp;
    http_response_init(&resp);
    enum vf_rc rc = s3_call(cfg, t, &c, &resp, err);
    /* S3 may answer 200 and put an error in the body. */
    if (rc == VF_OK && resp.body.data && strstr(resp.body.data, "<Error>"))
        rc = s3_error_of(cfg, c.op, key, 500, resp.body.data, err);
    http_response_free(&resp);
    return rc;
}

static enum vf_rc put_multipart(const struct vf_config *cfg, const struct s3_target *t,
                                const char *key, const char *opath, const char *path,
                                long long size, const char *content_type, struct vf_err *err)
{
    char upload_id[1024], eid[1100], query[1200];
    enum vf_rc rc = initiate_multipart(cfg, t, key, opath, content_type, upload_id,
                                       sizeof(upload_id), err);
    if (rc != VF_OK)
        return rc;
    if (http_uri_encode(upload_id, 0, eid, sizeof(eid)) != 0)
        return vf_fail(err, VF_EPERMANENT, "S3 sent an UploadId that is too long");
    snprintf(query, sizeof(query), "uploadId=%s", eid);
    long long part = s3_part_size(size);
    struct buf xml;
    buf_init(&xml, 2u << 20);
    (void)buf_puts(&xml, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    int number = 1;
    for (long long off = 0; off < size && rc == VF_OK; off += part, number++) {
        long long len = size - off < part ? size - off : part;
        char etag[256];
        rc = upload_part(cfg, t, key, opath, path, eid, number, off, len, etag, sizeof(etag), err);
        if (rc == VF_OK && buf_printf(&xml, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
                                      number, etag) != 0)
            rc = vf_fail(err, VF_ENOMEM, "the multipart upload of %s has too many parts", key);
    }
    if (rc == VF_OK && buf_puts(&xml, "</CompleteMultipartUpload>") != 0)
        rc = vf_fail(err, VF_ENOMEM, "the multipart upload of %s has too many parts", key);
    if (rc == VF_OK)
        rc = complete_multipart(cfg, t, key, opath, query, &xml, err);
    buf_free(&xml);
    if (rc != VF_OK)
        abort_multipart(cfg, t, key, opath, query);
    return rc;
}

enum vf_rc store_s3_put_file(const struct vf_config *cfg, const char *key, const char *path,
                             const char *content_type, struct vf_err *err)
{
    struct s3_target t;
    enum vf_rc rc = s3_target_of(cfg, &t, err);
    if (rc != VF_OK)
        return rc;
    char opath[S3_PATH_MAX];
    if (s3_object_path(cfg, &t, key, opath, sizeof(opath)) != 0)
        return vf_fail(err, VF_EINVAL, "the S3 key for %s is too long", key);
    struct stat st;
    if (stat(path, &st) != 0)
        return vf_fail(err, VF_EPERMANENT, "cannot read %s: %s", path, strerror(errno));
    long long size = (long long)st.st_size;
    if (size >= cfg->s3_multipart_bytes && size > 0)
        return put_multipart(cfg, &t, key, opath, path, size, content_type, err);
    return put_single(cfg, &t, key, opath, path, size, content_type, err);
}

enum vf_rc store_s3_put_bytes(const struct vf_config *cfg, const char *key, const void *data,
                              size_t len, const char *content_type, struct vf_err *err)
{
    struct s3_target t;
    enum vf_rc rc = s3_target_of(cfg, &t, err);
    if (rc != VF_OK)
        return rc;
    char opath[S3_PATH_MAX], hash[65];
    if (s3_object_path(cfg, &t, key, opath, sizeof(opath)) != 0)
        return vf_fail(err, VF_EINVAL, "the S3 key for %s is too long", key);
    sigv4_sha256_hex(data, len, hash);
    struct s3_call c = {.method = "PUT", .op = "PUT", .key = key, .path = opath,
                        .content_type = content_type, .body = len ? data : "", .body_len = len,
                        .payload_hash = hash};
    struct http_response resp;
    http_response_init(&resp);
    rc = s3_call(cfg, &t, &c, &resp, err);
    http_response_free(&resp);
    return rc;
}

enum vf_rc store_s3_media_location(const struct vf_config *cfg, const char *key, char *out,
                                   size_t outlen, struct vf_err *err)
{
    if (cfg->s3_public_base_url[0]) {
        const char *prefix = cfg->s3_prefix;
        while (*prefix == '/')
            prefix++;
        size_t plen = strlen(prefix), blen = strlen(cfg->s3_public_base_url);
        char full[S3_PATH_MAX], enc[S3_PATH_MAX * 3];
        if (vf_snprintf(full, sizeof(full), "%s%s%s", prefix,
                        plen && prefix[plen - 1] != '/' ? "/" : "", key) != 0 ||
            sigv4_encode_path(full, enc, sizeof(enc)) != 0 ||
            vf_snprintf(out, outlen, "%.*s/%s", (int)(blen && cfg->s3_public_base_url[blen - 1] == '/'
                                                          ? blen - 1 : blen),
                        cfg->s3_public_base_url, enc) != 0)
            return vf_fail(err, VF_EINVAL, "the public URL of %s is too long", key);
        return VF_OK;
    }
    struct s3_target t;
    enum vf_rc rc = s3_target_of(cfg, &t, err);
    if (rc != VF_OK)
        return rc;
    char opath[S3_PATH_MAX], amz_date[17];
    if (s3_object_path(cfg, &t, key, opath, sizeof(opath)) != 0)
        return vf_fail(err, VF_EINVAL, "the S3 key for %s is too long", key);
    sigv4_amz_date(time(NULL), amz_date);
    struct sigv4_credentials cr = {cfg->s3_access_key, cfg->s3_secret_key, cfg->s3_session_token,
                                   cfg->s3_region, "s3"};
    return sigv4_presign_get(&cr, amz_date, S3_PRESIGN_EXPIRES_S, t.base, opath, out, outlen, err);
}

enum vf_rc store_s3_delete_job(const struct vf_config *cfg, long long job_id, struct vf_err *err)
{
    static const char *const names[] = {"script.json", "video.mp4", "thumb.jpg", "captions.srt",
                                        "captions.vtt"};
    struct s3_target t;
    enum vf_rc rc = s3_target_of(cfg, &t, err);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && rc == VF_OK; i++) {
        char key[96], opath[S3_PATH_MAX];
        snprintf(key, sizeof(key), "jobs/%lld/%s", job_id, names[i]);
        if (s3_object_path(cfg, &t, key, opath, sizeof(opath)) != 0)
            return vf_fail(err, VF_EINVAL, "the S3 key for %s is too long", key);
        struct s3_call c = {.method = "DELETE", .op = "DELETE", .key = key, .path = opath,
                            .payload_hash = SIGV4_EMPTY_SHA256};
        struct http_response resp;
        http_response_init(&resp);
        rc = s3_call(cfg, &t, &c, &resp, err);
        if (rc != VF_OK && err->http_status == 404)
            rc = VF_OK;     /* already gone */
        http_response_free(&resp);
    }
    return rc;
}
