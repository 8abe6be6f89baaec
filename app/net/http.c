/* HTTP client on libcurl. */
#include "net/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void http_response_init(struct http_response *r)
{
    r->status = 0;
    buf_init(&r->body, BUF_MAX_UPSTREAM_RESP);
    buf_init(&r->headers, 64 * 1024);
}

void http_response_free(struct http_response *r)
{
    buf_free(&r->body);
    buf_free(&r->headers);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    if (buf_append(b, data, size * n) != 0)
        return 0;   /* aborts the transfer: CURLE_WRITE_ERROR */
    return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    /* A new status line starts the headers of a later response (after a
     * 100 Continue or a redirect): keep only the final response's. */
    if (size * n >= 5 && strncmp(data, "HTTP/", 5) == 0)
        buf_reset(b);
    (void)buf_append(b, data, size * n);
    return size * n;
}

struct file_source {
    FILE *f;
    long long left;
};

static size_t on_read(char *out, size_t size, size_t n, void *ud)
{
    struct file_source *src = ud;
    size_t want = size * n;
    if (src->left >= 0 && (long long)want > src->left)
        want = (size_t)src->left;
    if (want == 0)
        return 0;
    size_t got = fread(out, 1, want, src->f);
    if (got == 0 && ferror(src->f))
        return CURL_READFUNC_ABORT;
    if (src->left >= 0)
        src->left -= (long long)got;
    return got;
}

static enum vf_rc classify(CURLcode cc, const struct http_request *req, const struct buf *body,
                           const char *detail, struct vf_err *err)
{
    const char *what = req->what ? req->what : "the server";
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return vf_fail(err, VF_ETRANSIENT, "%s did not answer in time (%s)", what, detail);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return vf_fail(err, VF_ETRANSIENT, "could not reach %s: %s", what, detail);
    case CURLE_WRITE_ERROR:
        if (body->toobig)
            return vf_fail(err, VF_ETOOBIG, "%s sent an answer larger than %zu bytes", what,
                           body->max);
        return vf_fail(err, VF_ETRANSIENT, "reading the answer of %s failed: %s", what, detail);
    default:
        return vf_fail(err, VF_EPERMANENT, "request to %s failed: %s", what, detail);
    }
}

enum vf_rc http_perform(const struct http_request *req, struct http_response *resp,
                        struct vf_err *err)
{
    pthread_once(&curl_once, curl_setup);
    CURL *c = curl_easy_init();
    if (!c)
        return vf_fail(err, VF_ENOMEM, "cannot start an HTTP request");
    resp->body.max = req->max_response ? req->max_response : BUF_MAX_UPSTREAM_RESP;
    struct curl_slist *hdrs = NULL;
    for (const char *const *h = req->headers; h && *h; h++)
        hdrs = curl_slist_append(hdrs, *h);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct file_source src = {NULL, -1};
    enum vf_rc rc = VF_OK;

    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms ? req->connect_timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req->timeout_ms ? req->timeout_ms : 60000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp->headers);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "video-factory/1");
    if (req->body_file) {
        src.f = fopen(req->body_file, "rb");
        if (!src.f) {
            rc = vf_fail(err, VF_EPERMANENT, "cannot read %s: %s", req->body_file, strerror(errno));
            goto out;
        }
        if (req->body_offset > 0 && fseeko(src.f, (off_t)req->body_offset, SEEK_SET) != 0) {
            rc = vf_fail(err, VF_EPERMANENT, "cannot seek in %s", req->body_file);
            goto out;
        }
        src.left = req->body_file_len;
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
        if (req->body_file_len >= 0)
            curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_file_len);
    } else if (req->body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    } else if (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = classify(cc, req, &resp->body, errbuf[0] ? errbuf : curl_easy_strerror(cc), err);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
out:
    if (src.f)
        fclose(src.f);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

int http_header_value(const struct http_response *r, const char *name, char *out, size_t outlen)
{
    if (!r->headers.data || !outlen)
        return 0;
    size_t nlen = strlen(name);
    const char *p = r->headers.data;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            const char *end = p + len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' '))
                end--;
            size_t vlen = (size_t)(end - v);
            if (vlen >= outlen)
                vlen = outlen - 1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 1;
        }
        if (!eol)
            break;
        p = eol + 1;
    }
    return 0;
}

int http_uri_encode(const char *s, int keep_slash, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
                    *p == '~' || (keep_slash && *p == '/');
        if (o + (plain ? 1 : 3) >= outlen)
            return -1;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    if (o >= outlen)
        return -1;
    out[o] = '\0';
    return 0;
}
