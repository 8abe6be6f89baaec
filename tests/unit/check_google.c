/* Google service-account auth: base64url, the key file, and an RS256 JWT
 * verified with the public half of a key made for the test; the Sheets id
 * range; S3 helpers (XML errors, part sizes, targets). */
#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "ledger/google_auth.h"
#include "ledger/ledger_sheets.h"
#include "store/store_s3.h"
#include "suites.h"

START_TEST(test_base64url)
{
    char out[32];
    ck_assert_int_eq(google_base64url("", 0, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(google_base64url("f", 1, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "Zg");
    ck_assert_int_eq(google_base64url("fo", 2, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "Zm8");
    ck_assert_int_eq(google_base64url("foo", 3, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "Zm9v");
    ck_assert_int_eq(google_base64url("\xfb\xff\xfe", 3, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "-__-");
    ck_assert_int_eq(google_base64url("foobar", 6, out, 8), -1);
}
END_TEST

/* Base64url → bytes (test helper). */
static unsigned char *unb64url(const char *s, size_t n, size_t *outlen)
{
    char *std = calloc(n + 4, 1);
    for (size_t i = 0; i < n; i++)
        std[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
    size_t m = n;
    while (m % 4)
        std[m++] = '=';
    unsigned char *out = calloc(m, 1);
    int len = EVP_DecodeBlock(out, (unsigned char *)std, (int)m);
    free(std);
    ck_assert_int_ge(len, 0);
    *outlen = (size_t)len - (m - n);
    return out;
}

static EVP_PKEY *test_key;

/* Writes a key file with the test key (PKCS#8 or PKCS#1 PEM). */
static void write_key_file(const char *path, int pkcs1, const char *kid)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (pkcs1)
        ck_assert_int_eq(PEM_write_bio_PrivateKey_traditional(bio, test_key, NULL, NULL, 0, NULL, NULL), 1);
    else
        ck_assert_int_eq(PEM_write_bio_PrivateKey(bio, test_key, NULL, NULL, 0, NULL, NULL), 1);
    char *pem;
    long n = BIO_get_mem_data(bio, &pem);
    json_t *j = json_pack("{s:s, s:s%, s:s, s:s}", "type", "service_account", "private_key", pem,
                          (size_t)n, "client_email", "svc@p.iam.gserviceaccount.com", "token_uri",
                          "http://127.0.0.1:1/token");
    if (kid)
        json_object_set_new(j, "private_key_id", json_string(kid));
    ck_assert_int_eq(json_dump_file(j, path, 0), 0);
    json_decref(j);
    BIO_free(bio);
}

static void check_jwt(const char *jwt, const char *kid)
{
    const char *d1 = strchr(jwt, '.');
    ck_assert_ptr_nonnull(d1);
    const char *d2 = strchr(d1 + 1, '.');
    ck_assert_ptr_nonnull(d2);
    size_t hl, cl, sl;
    unsigned char *h = unb64url(jwt, (size_t)(d1 - jwt), &hl);
    unsigned char *c = unb64url(d1 + 1, (size_t)(d2 - d1 - 1), &cl);
    unsigned char *s = unb64url(d2 + 1, strlen(d2 + 1), &sl);
    json_t *hj = json_loadb((char *)h, hl, 0, NULL), *cj = json_loadb((char *)c, cl, 0, NULL);
    ck_assert_ptr_nonnull(hj);
    ck_assert_ptr_nonnull(cj);
    ck_assert_str_eq(json_string_value(json_object_get(hj, "alg")), "RS256");
    ck_assert_str_eq(json_string_value(json_object_get(hj, "typ")), "JWT");
    if (kid)
        ck_assert_str_eq(json_string_value(json_object_get(hj, "kid")), kid);
    else
        ck_assert_ptr_null(json_object_get(hj, "kid"));
    ck_assert_str_eq(json_string_value(json_object_get(cj, "iss")), "svc@p.iam.gserviceaccount.com");
    ck_assert_str_eq(json_string_value(json_object_get(cj, "scope")), GOOGLE_SHEETS_SCOPE);
    ck_assert_str_eq(json_string_value(json_object_get(cj, "aud")), GOOGLE_TOKEN_AUDIENCE);
    ck_assert_int_eq(json_integer_value(json_object_get(cj, "iat")), 1764025200);
    ck_assert_int_eq(json_integer_value(json_object_get(cj, "exp")), 1764025200 + 3600);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ck_assert_int_eq(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, test_key), 1);
    ck_assert_int_eq(EVP_DigestVerify(ctx, s, sl, (const unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
    EVP_MD_CTX_free(ctx);
    json_decref(hj);
    json_decref(cj);
    free(h);
    free(c);
    free(s);
}

START_TEST(test_jwt_signed_and_verified)
{
    char path[] = "/tmp/vf-sa-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    for (int pkcs1 = 0; pkcs1 < 2; pkcs1++) {
        const char *kid = pkcs1 ? NULL : "a1b2c3";
        write_key_file(path, pkcs1, kid);
        struct google_sa sa;
        struct vf_err err = {0};
        ck_assert_int_eq(google_sa_load(path, &sa, &err), VF_OK);
        ck_assert_str_eq(sa.token_uri, "http://127.0.0.1:1/token");
        char *jwt = NULL;
        ck_assert_int_eq(google_jwt_assertion(&sa, GOOGLE_SHEETS_SCOPE, 1764025200, &jwt, &err),
                         VF_OK);
        check_jwt(jwt, kid);
        free(jwt);
        google_sa_free(&sa);
    }
    unlink(path);
}
END_TEST

START_TEST(test_key_file_errors)
{
    struct google_sa sa;
    struct vf_err err = {0};
    ck_assert_int_eq(google_sa_load("/nonexistent/sa.json", &sa, &err), VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "google_service_account_file"));
    char path[] = "/tmp/vf-sa-XXXXXX";
    int fd = mkstemp(path);
    const char *text = "{\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nxx\\n-----END PRIVATE KEY-----\\n\","
                       "\"client_email\":\"a@b\"}";
    ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
    ck_assert_int_eq(google_sa_load(path, &sa, &err), VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "token_uri"));
    unlink(path);
}
END_TEST

START_TEST(test_token_endpoint_unreachable_is_transient)
{
    char path[] = "/tmp/vf-sa-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    write_key_file(path, 0, NULL);
    char tok[64];
    struct vf_err err = {0};
    ck_assert_int_eq(google_access_token(path, GOOGLE_SHEETS_SCOPE, NULL, tok, sizeof(tok), NULL, 0,
                                         &err),
                     VF_ETRANSIENT);
    unlink(path);
}
END_TEST

START_TEST(test_sheets_id_range)
{
    char out[64];
    ck_assert_int_eq(ledger_sheets_id_range("Sheet1!A1", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "Sheet1!A:A");
    ck_assert_int_eq(ledger_sheets_id_range("'My Sheet'!B2:D", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "'My Sheet'!A:A");
    ck_assert_int_eq(ledger_sheets_id_range("Runs", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "Runs!A:A");
    ck_assert_int_eq(ledger_sheets_id_range("Runs", out, 4), -1);
}
END_TEST

START_TEST(test_s3_errors)
{
    struct vf_config cfg;
    char why[256];
    ck_assert_int_eq(config_load_string(&cfg, "s3_bucket = media\n", "t", why, sizeof(why)), 0);
    struct vf_err err = {0};
    ck_assert_int_eq(s3_error_of(&cfg, "PUT", "jobs/1/video.mp4", 403,
                                 "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code>"
                                 "<Message>The request signature we calculated does not match"
                                 "</Message></Error>", &err),
                     VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "S3 rejected the signature: check s3_secret_key"));
    ck_assert_int_eq(s3_error_of(&cfg, "PUT", "k", 403,
                                 "<Error><Code>InvalidAccessKeyId</Code></Error>", &err),
                     VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "check s3_access_key"));
    ck_assert_int_eq(s3_error_of(&cfg, "PUT", "k", 404, "<Error><Code>NoSuchBucket</Code></Error>",
                                 &err),
                     VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "check s3_bucket"));
    ck_assert_int_eq(s3_error_of(&cfg, "PUT", "k", 500, "<Error><Code>InternalError</Code></Error>",
                                 &err),
                     VF_ETRANSIENT);
    ck_assert_int_eq(s3_error_of(&cfg, "PUT", "k", 503, "", &err), VF_ETRANSIENT);
    ck_assert_int_eq(s3_error_of(&cfg, "PUT", "k", 400, "<Error><Code>EntityTooSmall</Code>"
                                 "<Message>a &amp; b</Message></Error>", &err),
                     VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "a & b"));
    config_free(&cfg);
}
END_TEST

START_TEST(test_s3_targets)
{
    struct vf_config cfg;
    char why[256], path[256];
    struct s3_target t;
    struct vf_err err = {0};
    ck_assert_int_eq(config_load_string(&cfg, "s3_bucket = media\ns3_access_key = a\n"
                                              "s3_secret_key = b\ns3_endpoint = http://127.0.0.1:9000/\n"
                                              "s3_prefix = /vf\n", "t", why, sizeof(why)), 0);
    ck_assert_int_eq(s3_target_of(&cfg, &t, &err), VF_OK);
    ck_assert_str_eq(t.base, "http://127.0.0.1:9000");
    ck_assert_int_eq(s3_object_path(&cfg, &t, "jobs/1/video.mp4", path, sizeof(path)), 0);
    ck_assert_str_eq(path, "/media/vf/jobs/1/video.mp4");
    config_free(&cfg);

    ck_assert_int_eq(config_load_string(&cfg, "s3_bucket = media\ns3_access_key = a\n"
                                              "s3_secret_key = b\ns3_path_style = 0\n"
                                              "s3_region = eu-west-1\n", "t", why, sizeof(why)), 0);
    ck_assert_int_eq(s3_target_of(&cfg, &t, &err), VF_OK);
    ck_assert_str_eq(t.base, "https://media.s3.eu-west-1.amazonaws.com");
    ck_assert_int_eq(s3_object_path(&cfg, &t, "jobs/1/video.mp4", path, sizeof(path)), 0);
    ck_assert_str_eq(path, "/jobs/1/video.mp4");
    config_free(&cfg);

    ck_assert_int_eq(config_load_string(&cfg, "s3_bucket = media\n", "t", why, sizeof(why)), 0);
    ck_assert_int_eq(s3_target_of(&cfg, &t, &err), VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "s3_access_key"));
    config_free(&cfg);
}
END_TEST

START_TEST(test_s3_part_size)
{
    ck_assert_int_eq(s3_part_size(1), 5LL << 20);
    ck_assert_int_eq(s3_part_size(20LL << 20), 5LL << 20);
    long long big = 100LL << 30;
    long long part = s3_part_size(big);
    ck_assert_int_ge(part, 5LL << 20);
    ck_assert_int_le((big + part - 1) / part, 10000);
    ck_assert_int_eq(part % (1 << 20), 0);
}
END_TEST

static void make_key(void)
{
    test_key = EVP_RSA_gen(2048);
    ck_assert_ptr_nonnull(test_key);
}

static void free_key(void)
{
    EVP_PKEY_free(test_key);
    test_key = NULL;
}

Suite *google_suite(void)
{
    Suite *s = suite_create("google");
    TCase *tc = tcase_create("google");
    tcase_add_unchecked_fixture(tc, make_key, free_key);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_base64url);
    tcase_add_test(tc, test_jwt_signed_and_verified);
    tcase_add_test(tc, test_key_file_errors);
    tcase_add_test(tc, test_token_endpoint_unreachable_is_transient);
    tcase_add_test(tc, test_sheets_id_range);
    tcase_add_test(tc, test_s3_errors);
    tcase_add_test(tc, test_s3_targets);
    tcase_add_test(tc, test_s3_part_size);
    suite_add_tcase(s, tc);
    return s;
}
