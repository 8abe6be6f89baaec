/* AWS Signature Version 4 (docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv.html). */
#include "store/sigv4.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/http.h"

#define SIGV4_MAX_PARAMS 64
#define SIGV4_MAX_HEADERS 32
#define SIGV4_MAX_CANONICAL (64u << 10)

static void hex_of(const unsigned char *d, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    hex_of(md, sizeof(md), out);
}

int sigv4_sha256_file_hex(const char *path, long long offset, long long len, char out[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    if (offset > 0 && fseeko(f, (off_t)offset, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        fclose(f);
        errno = ENOMEM;
        return -1;
    }
    static __thread unsigned char chunk[1 << 16];
    int rc = 0;
    while (len != 0) {
        size_t want = sizeof(chunk);
        if (len > 0 && (long long)want > len)
            want = (size_t)len;
        size_t got = fread(chunk, 1, want, f);
        if (got == 0) {
            if (ferror(f) || len > 0) {
                rc = -1;
                if (!ferror(f))
                    errno = EIO;   /* the file is shorter than asked */
            }
            break;
        }
        EVP_DigestUpdate(ctx, chunk, got);
        if (len > 0)
            len -= (long long)got;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    fclose(f);
    if (rc == 0)
        hex_of(md, SHA256_DIGEST_LENGTH, out);
    return rc;
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

int sigv4_encode_path(const char *path, char *out, size_t outlen)
{
    return http_uri_encode(path, 1, out, outlen);
}

/* ---- canonical query ---- */

struct param {
    char *name, *value;     /* encoded the canonical way */
};

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes %XX in [s, s+n) and encodes the result canonically; malloc'd. */
static char *recode(const char *s, size_t n)
{
    char *dec = malloc(n + 1);
    if (!dec)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            dec[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            dec[o++] = s[i];
        }
    }
    dec[o] = '\0';
    size_t cap = 3 * o + 1;
    char *enc = malloc(cap);
    if (enc && http_uri_encode(dec, 0, enc, cap) != 0) {
        free(enc);
        enc = NULL;
    }
    free(dec);
    return enc;
}

static int param_cmp(const void *a, const void *b)
{
    const struct param *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static int canonical_query(const char *query, struct buf *out)
{
    struct param params[SIGV4_MAX_PARAMS];
    size_t np = 0;
    int rc = 0;
    const char *p = query ? query : "";
    while (*p && rc == 0) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t nlen = eq ? (size_t)(eq - p) : len;
            if (np == SIGV4_MAX_PARAMS) {
                rc = -1;
                break;
            }
            params[np].name = recode(p, nlen);
            params[np].value = eq ? recode(eq + 1, len - nlen - 1) : strdup("");
            np++;
            if (!params[np - 1].name || !params[np - 1].value)
                rc = -1;
        }
        p += len + (amp ? 1 : 0);
    }
    if (rc == 0) {
        qsort(params, np, sizeof(params[0]), param_cmp);
        for (size_t i = 0; i < np && rc == 0; i++)
            rc = buf_printf(out, "%s%s=%s", i ? "&" : "", params[i].name, params[i].value);
    }
    for (size_t i = 0; i < np; i++) {
        free(params[i].name);
        free(params[i].value);
    }
    return rc;
}

/* ---- canonical headers ---- */

struct hdr {
    char name[64];
    const char *value;
    size_t order;
};

static int hdr_cmp(const void *a, const void *b)
{
    const struct hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Appends value trimmed, with runs of spaces as one space. */
static int put_trimmed(struct buf *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    const char *end = v + strlen(v);
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    int rc = 0;
    for (const char *p = v; p < end && rc == 0; p++) {
        if ((*p == ' ' || *p == '\t') && (p[1] == ' ' || p[1] == '\t'))
            continue;
        rc = buf_append(b, *p == '\t' ? " " : p, 1);
    }
    return rc;
}

/* Appends the canonical headers block and fills signed ("a;b;c"). */
static int canonical_headers(const struct sigv4_request *rq, struct buf *out, char *signed_h,
                             size_t signed_len)
{
    struct hdr h[SIGV4_MAX_HEADERS];
    if (rq->nheaders > SIGV4_MAX_HEADERS)
        return -1;
    for (size_t i = 0; i < rq->nheaders; i++) {
        size_t n = strlen(rq->headers[i].name);
        if (n >= sizeof(h[i].name))
            return -1;
        for (size_t k = 0; k <= n; k++)
            h[i].name[k] = (char)tolower((unsigned char)rq->headers[i].name[k]);
        h[i].value = rq->headers[i].value ? rq->headers[i].value : "";
        h[i].order = i;
    }
    qsort(h, rq->nheaders, sizeof(h[0]), hdr_cmp);
    struct buf sb;
    buf_init(&sb, signed_len - 1);
    int rc = 0;
    for (size_t i = 0; i < rq->nheaders && rc == 0; i++) {
        int same = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
        if (same) {
            rc = buf_puts(out, ",");
        } else {
            if (i > 0)
                rc = buf_puts(out, "\n");
            if (rc == 0)
                rc = buf_printf(out, "%s:", h[i].name);
            if (rc == 0)
                rc = buf_printf(&sb, "%s%s", sb.len ? ";" : "", h[i].name);
        }
        if (rc == 0)
            rc = put_trimmed(out, h[i].value);
    }
    if (rc == 0 && rq->nheaders)
        rc = buf_puts(out, "\n");
    if (rc == 0 && sb.data)
        vf_strlcpy(signed_h, sb.data, signed_len);
    else if (rc == 0)
        signed_h[0] = '\0';
    buf_free(&sb);
    return rc;
}

/* ---- signing ---- */

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, strlen(msg), out, &len);
}

static void signing_key(const struct sigv4_credentials *cr, const char *date8,
                        unsigned char key[32])
{
    char k0[256];
    snprintf(k0, sizeof(k0), "AWS4%s", cr->secret_key);
    unsigned char a[32], b[32];
    hmac(k0, strlen(k0), date8, a);
    hmac(a, 32, cr->region, b);
    hmac(b, 32, cr->service, a);
    hmac(a, 32, "aws4_request", key);
    OPENSSL_cleanse(k0, sizeof(k0));
}

/* Builds the canonical request into creq; returns 0 or -1. */
static int canonical_request(const struct sigv4_request *rq, struct buf *creq, char *signed_h,
                             size_t signed_len)
{
    char path[4096];
    if (sigv4_encode_path(rq->path && *rq->path ? rq->path : "/", path, sizeof(path)) != 0)
        return -1;
    if (buf_printf(creq, "%s\n%s\n", rq->method, path) != 0 || canonical_query(rq->query, creq) != 0 ||
        buf_puts(creq, "\n") != 0 || canonical_headers(rq, creq, signed_h, signed_len) != 0 ||
        buf_printf(creq, "\n%s\n%s", signed_h, rq->payload_hash) != 0)
        return -1;
    return 0;
}

enum vf_rc sigv4_sign(const struct sigv4_credentials *cr, const char *amz_date,
                      const struct sigv4_request *rq, struct sigv4_result *out,
                      struct buf *canonical, struct vf_err *err)
{
    if (strlen(amz_date) != 16)
        return vf_fail(err, VF_EINVAL, "bad x-amz-date %s", amz_date);
    char date8[9];
    memcpy(date8, amz_date, 8);
    date8[8] = '\0';
    struct buf creq;
    buf_init(&creq, SIGV4_MAX_CANONICAL);
    if (canonical_request(rq, &creq, out->signed_headers, sizeof(out->signed_headers)) != 0 ||
        !creq.data) {
        buf_free(&creq);
        return vf_fail(err, VF_EINVAL, "the request is too large to sign");
    }
    char creq_hash[65], sts[512];
    sigv4_sha256_hex(creq.data, creq.len, creq_hash);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", amz_date, date8,
             cr->region, cr->service, creq_hash);
    if (canonical) {
        (void)buf_append(canonical, creq.data, creq.len);
        (void)buf_printf(canonical, "\n----\n%s", sts);
    }
    buf_free(&creq);
    unsigned char key[32], sig[32];
    signing_key(cr, date8, key);
    hmac(key, sizeof(key), sts, sig);
    OPENSSL_cleanse(key, sizeof(key));
    hex_of(sig, sizeof(sig), out->signature);
    if (vf_snprintf(out->authorization, sizeof(out->authorization),
                    "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                    "Signature=%s",
                    cr->access_key, date8, cr->region, cr->service, out->signed_headers,
                    out->signature) != 0)
        return vf_fail(err, VF_EINVAL, "the Authorization header is too long");
    return VF_OK;
}

/* The host part of "scheme://host[:port]". */
static const char *host_of(const char *base)
{
    const char *p = strstr(base, "://");
    return p ? p + 3 : base;
}

enum vf_rc sigv4_presign_get(const struct sigv4_credentials *cr, const char *amz_date,
                             long expires_s, const char *base, const char *path, char *url,
                             size_t urllen, struct vf_err *err)
{
    if (strlen(amz_date) != 16)
        return vf_fail(err, VF_EINVAL, "bad x-amz-date %s", amz_date);
    char cred[512], cred_enc[1536], token_enc[4096] = "", query[8192], epath[4096];
    snprintf(cred, sizeof(cred), "%s/%.8s/%s/%s/aws4_request", cr->access_key, amz_date,
             cr->region, cr->service);
    if (http_uri_encode(cred, 0, cred_enc, sizeof(cred_enc)) != 0 ||
        (cr->session_token && *cr->session_token &&
         http_uri_encode(cr->session_token, 0, token_enc, sizeof(token_enc)) != 0) ||
        sigv4_encode_path(path, epath, sizeof(epath)) != 0)
        return vf_fail(err, VF_EINVAL, "the presigned URL is too long");
    /* Written in canonical order already; the signer sorts anyway. */
    if (vf_snprintf(query, sizeof(query),
                    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%s&X-Amz-Date=%s"
                    "&X-Amz-Expires=%ld%s%s&X-Amz-SignedHeaders=host",
                    cred_enc, amz_date, expires_s, token_enc[0] ? "&X-Amz-Security-Token=" : "",
                    token_enc) != 0)
        return vf_fail(err, VF_EINVAL, "the presigned URL is too long");
    struct sigv4_header host = {"host", host_of(base)};
    struct sigv4_request rq = {"GET", path, query, &host, 1, SIGV4_UNSIGNED_PAYLOAD};
    struct sigv4_result res;
    enum vf_rc rc = sigv4_sign(cr, amz_date, &rq, &res, NULL, err);
    if (rc != VF_OK)
        return rc;
    if (vf_snprintf(url, urllen, "%s%s?%s&X-Amz-Signature=%s", base, epath, query,
                    res.signature) != 0)
        return vf_fail(err, VF_EINVAL, "the presigned URL is too long");
    return VF_OK;
}
