/* Google service-account OAuth: JWT bearer grant (RFC 7523). */
#include "ledger/google_auth.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "net/http.h"

int google_base64url(const void *data, size_t len, char *out, size_t outlen)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    size_t o = 0, i = 0;
    if ((len + 2) / 3 * 4 + 1 > outlen)
        return -1;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = tbl[(v >> 6) & 63];
        out[o++] = tbl[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0);
        out[o++] = tbl[v >> 18];
        out[o++] = tbl[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = tbl[(v >> 6) & 63];
    }
    out[o] = '\0';
    return 0;
}

/* ---- the key file ---- */

static int copy_field(json_t *root, const char *name, char *out, size_t outlen)
{
    const char *v = json_string_value(json_object_get(root, name));
    if (!v || !*v || strlen(v) >= outlen)
        return -1;
    vf_strlcpy(out, v, outlen);
    return 0;
}

enum vf_rc google_sa_load(const char *path, struct google_sa *sa, struct vf_err *err)
{
    memset(sa, 0, sizeof(*sa));
    if (!path || !*path)
        return vf_fail(err, VF_EPERMANENT, "the sheets ledger needs google_service_account_file");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return vf_fail(err, VF_EPERMANENT,
                       "cannot read the service-account file google_service_account_file=%s: %s",
                       path, jerr.text);
    const char *missing = NULL;
    const char *pem = json_string_value(json_object_get(root, "private_key"));
    if (copy_field(root, "client_email", sa->client_email, sizeof(sa->client_email)) != 0)
        missing = "client_email";
    else if (copy_field(root, "token_uri", sa->token_uri, sizeof(sa->token_uri)) != 0)
        missing = "token_uri";
    else if (!pem || !strstr(pem, "PRIVATE KEY-----"))
        missing = "private_key";
    if (!missing) {
        (void)copy_field(root, "private_key_id", sa->private_key_id, sizeof(sa->private_key_id));
        sa->private_key_pem = strdup(pem);
    }
    json_decref(root);
    if (missing)
        return vf_fail(err, VF_EPERMANENT,
                       "the service-account file %s has no %s: download a JSON key of the "
                       "service account from the Google Cloud console", path, missing);
    if (!sa->private_key_pem)
        return vf_fail(err, VF_ENOMEM, "out of memory");
    return VF_OK;
}

void google_sa_free(struct google_sa *sa)
{
    if (sa->private_key_pem) {
        OPENSSL_cleanse(sa->private_key_pem, strlen(sa->private_key_pem));
        free(sa->private_key_pem);
    }
    sa->private_key_pem = NULL;
}

/* ---- the JWT ---- */

static int b64_json(json_t *j, struct buf *out)
{
    char *text = json_dumps(j, JSON_COMPACT);
    if (!text)
        return -1;
    size_t n = strlen(text);
    size_t cap = (n + 2) / 3 * 4 + 1;
    char *enc = malloc(cap);
    int rc = enc && google_base64url(text, n, enc, cap) == 0 ? buf_puts(out, enc) : -1;
    free(enc);
    free(text);
    return rc;
}

static int rs256_sign(EVP_PKEY *key, const char *msg, unsigned char **sig, size_t *siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(ctx, NULL, siglen, (const unsigned char *)msg, strlen(msg)) == 1 &&
             (*sig = malloc(*siglen)) != NULL &&
             EVP_DigestSign(ctx, *sig, siglen, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

enum vf_rc google_jwt_assertion(const struct google_sa *sa, const char *scope, time_t now,
                                char **out, struct vf_err *err)
{
    *out = NULL;
    BIO *bio = BIO_new_mem_buf(sa->private_key_pem, -1);
    EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (!key)
        return vf_fail(err, VF_EPERMANENT,
                       "the private_key of the service-account file is not a PEM RSA key");
    json_t *header = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
    if (header && sa->private_key_id[0])
        json_object_set_new(header, "kid", json_string(sa->private_key_id));
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", sa->client_email, "scope",
                               scope, "aud", GOOGLE_TOKEN_AUDIENCE, "iat", (json_int_t)now, "exp",
                               (json_int_t)now + 3600);
    struct buf jwt;
    buf_init(&jwt, 64 * 1024);
    unsigned char *sig = NULL;
    size_t siglen = 0;
    enum vf_rc rc = VF_OK;
    if (!header || !claims || b64_json(header, &jwt) != 0 || buf_puts(&jwt, ".") != 0 ||
        b64_json(claims, &jwt) != 0)
        rc = vf_fail(err, VF_ENOMEM, "cannot build the token request");
    else if (rs256_sign(key, jwt.data, &sig, &siglen) != 0)
        rc = vf_fail(err, VF_EPERMANENT, "cannot sign with the service account's private_key");
    if (rc == VF_OK) {
        char enc[1024];
        if (google_base64url(sig, siglen, enc, sizeof(enc)) != 0 ||
            buf_printf(&jwt, ".%s", enc) != 0)
            rc = vf_fail(err, VF_EPERMANENT, "the service account's key is too large");
    }
    free(sig);
    json_decref(header);
    json_decref(claims);
    EVP_PKEY_free(key);
    if (rc == VF_OK)
        *out = buf_take(&jwt);
    buf_free(&jwt);
    return rc;
}

/* ---- the token exchange ---- */

static enum vf_rc token_error(const struct google_sa *sa, long status, const char *body,
                              struct vf_err *err)
{
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    const char *code = j ? json_string_value(json_object_get(j, "error")) : NULL;
    const char *desc = j ? json_string_value(json_object_get(j, "error_description")) : NULL;
    char text[240];
    snprintf(text, sizeof(text), "%s%s%s", code ? code : "", desc ? ": " : "", desc ? desc : "");
    int retry = status >= 500 || status == 429 || status == 408 ||
                (code && (strcmp(code, "internal_failure") == 0 ||
                          strcmp(code, "server_error") == 0 ||
                          strcmp(code, "temporarily_unavailable") == 0));
    enum vf_rc rc;
    err->http_status = (int)status;
    if (retry)
        rc = vf_fail(err, VF_ETRANSIENT, "Google's token endpoint answered %ld (%s)", status,
                     text[0] ? text : "no details");
    else
        rc = vf_fail(err, VF_EPERMANENT,
                     "Google refused a token for %s (%ld %s): check google_service_account_file "
                     "(a deleted or revoked key, or this machine's clock)",
                     sa->client_email, status, text[0] ? text : "no details");
    json_decref(j);
    return rc;
}

static enum vf_rc fetch_token(const struct google_sa *sa, const char *scope, char *token,
                              size_t toklen, time_t *expires_at, struct vf_err *err)
{
    time_t now = time(NULL);
    char *jwt = NULL;
    enum vf_rc rc = google_jwt_assertion(sa, scope, now, &jwt, err);
    if (rc != VF_OK)
        return rc;
    struct buf form;
    buf_init(&form, 64 * 1024);
    /* The JWT is base64url and dots only: nothing to escape. */
    if (buf_printf(&form, "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-bearer"
                          "&assertion=%s", jwt) != 0) {
        free(jwt);
        buf_free(&form);
        return vf_fail(err, VF_ENOMEM, "cannot build the token request");
    }
    free(jwt);
    const char *headers[] = {"Content-Type: application/x-www-form-urlencoded",
                             "Accept: application/json", NULL};
    struct http_request rq = {.method = "POST", .url = sa->token_uri, .headers = headers,
                              .body = form.data, .body_len = form.len, .timeout_ms = 30000,
                              .max_response = 64 * 1024, .what = "Google's token endpoint"};
    struct http_response resp;
    http_response_init(&resp);
    rc = http_perform(&rq, &resp, err);
    buf_free(&form);
    if (rc == VF_OK && resp.status != 200)
        rc = token_error(sa, resp.status, resp.body.data, err);
    if (rc == VF_OK) {
        json_t *j = json_loads(resp.body.data ? resp.body.data : "", 0, NULL);
        const char *tok = j ? json_string_value(json_object_get(j, "access_token")) : NULL;
        json_t *exp = j ? json_object_get(j, "expires_in") : NULL;
        /* expires_in comes as a number or a string */
        long long secs = json_is_integer(exp) ? (long long)json_integer_value(exp)
                         : json_is_real(exp)  ? (long long)json_real_value(exp)
                         : json_is_string(exp) ? strtoll(json_string_value(exp), NULL, 10)
                                               : 3600;
        if (!tok || !*tok || strlen(tok) >= toklen)
            rc = vf_fail(err, VF_ETRANSIENT, "Google's token endpoint answered without a token");
        else {
            vf_strlcpy(token, tok, toklen);
            *expires_at = now + (secs > 0 ? secs : 60);
        }
        json_decref(j);
    }
    http_response_free(&resp);
    return rc;
}

/* ---- the cache ---- */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char path[512];
    char scope[256];
    char email[256];
    char token[4096];
    time_t expires_at;
} cache;

enum vf_rc google_access_token(const char *sa_path, const char *scope, const char *refused,
                               char *token, size_t toklen, char *client_email, size_t emaillen,
                               struct vf_err *err)
{
    enum vf_rc rc = VF_OK;
    pthread_mutex_lock(&cache_lock);
    int same = strcmp(cache.path, sa_path) == 0 && strcmp(cache.scope, scope) == 0;
    int fresh = same && cache.token[0] && time(NULL) < cache.expires_at - GOOGLE_TOKEN_MARGIN_S;
    if (fresh && refused && strcmp(refused, cache.token) == 0)
        fresh = 0;
    if (!fresh) {
        struct google_sa sa;
        rc = google_sa_load(sa_path, &sa, err);
        if (rc == VF_OK)
            rc = fetch_token(&sa, scope, cache.token, sizeof(cache.token), &cache.expires_at, err);
        if (rc == VF_OK) {
            vf_strlcpy(cache.path, sa_path, sizeof(cache.path));
            vf_strlcpy(cache.scope, scope, sizeof(cache.scope));
            vf_strlcpy(cache.email, sa.client_email, sizeof(cache.email));
        } else {
            cache.token[0] = '\0';
            cache.path[0] = '\0';
        }
        google_sa_free(&sa);
    }
    if (rc == VF_OK) {
        if (strlen(cache.token) >= toklen)
            rc = vf_fail(err, VF_EINVAL, "the access token is too long");
        else
            vf_strlcpy(token, cache.token, toklen);
        if (client_email)
            vf_strlcpy(client_email, cache.email, emaillen);
    }
    pthread_mutex_unlock(&cache_lock);
    return rc;
}
