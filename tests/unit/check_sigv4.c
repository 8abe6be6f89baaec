/* SigV4 against AWS's published vectors: the SigV4 test suite
 * (aws-sig-v4-test-suite, service "service", 20150830T123600Z) and the S3
 * documentation's header-signed and presigned examples (20130524). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/sigv4.h"
#include "suites.h"

static const struct sigv4_credentials suite_creds = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, "us-east-1", "service"};
static const struct sigv4_credentials s3doc_creds = {
    "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL, "us-east-1", "s3"};

#define SUITE_DATE "20150830T123600Z"
#define SUITE_HOST {"Host", "example.amazonaws.com"}
#define SUITE_XDATE {"X-Amz-Date", SUITE_DATE}

struct vector {
    const char *name;
    const char *method, *path, *query;
    struct sigv4_header headers[6];
    const char *body;
    const char *signed_headers;
    const char *signature;
};

static const struct vector suite_vectors[] = {
    {"get-vanilla", "GET", "/", NULL, {SUITE_HOST, SUITE_XDATE}, "", "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1",
     {SUITE_HOST, SUITE_XDATE}, "", "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-empty-query-key", "GET", "/", "Param1=value1", {SUITE_HOST, SUITE_XDATE}, "",
     "host;x-amz-date", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-query-unreserved", "GET", "/",
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {SUITE_HOST, SUITE_XDATE}, "", "host;x-amz-date",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query", "GET", "/", "%E1%88%B4=bar", {SUITE_HOST, SUITE_XDATE}, "",
     "host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-unreserved", "GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     NULL, {SUITE_HOST, SUITE_XDATE}, "", "host;x-amz-date",
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-utf8", "GET", "/\xe1\x88\xb4", NULL, {SUITE_HOST, SUITE_XDATE}, "", "host;x-amz-date",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-header-key-duplicate", "GET", "/", NULL,
     {SUITE_HOST, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"},
      SUITE_XDATE},
     "", "host;my-header1;x-amz-date",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"get-header-value-trim", "GET", "/", NULL,
     {SUITE_HOST, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}, SUITE_XDATE}, "",
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"post-vanilla", "POST", "/", NULL, {SUITE_HOST, SUITE_XDATE}, "", "host;x-amz-date",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-vanilla-query", "POST", "/", "Param1=value1", {SUITE_HOST, SUITE_XDATE}, "",
     "host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-vanilla-query-nonunreserved", "POST", "/",
     "%40%23%24%25%5E=&%2B=%2F%2C%3F%3E%3C%60%22%3B%3A%5C%7C%5D%5B%7B%7D",
     {SUITE_HOST, SUITE_XDATE}, "", "host;x-amz-date",
     "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e"},
    {"post-header-key-sort", "POST", "/", NULL,
     {SUITE_HOST, {"My-Header1", "value1"}, SUITE_XDATE}, "", "host;my-header1;x-amz-date",
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
    {"post-header-value-case", "POST", "/", NULL,
     {SUITE_HOST, {"My-Header1", "VALUE1"}, SUITE_XDATE}, "", "host;my-header1;x-amz-date",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-x-www-form-urlencoded", "POST", "/", NULL,
     {{"Content-Type", "application/x-www-form-urlencoded"}, SUITE_HOST, SUITE_XDATE},
     "Param1=value1", "content-type;host;x-amz-date",
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
    {"post-x-www-form-urlencoded-parameters", "POST", "/", NULL,
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}, SUITE_HOST, SUITE_XDATE},
     "Param1=value1", "content-type;host;x-amz-date",
     "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"},
};

static size_t count_headers(const struct sigv4_header *h, size_t max)
{
    size_t n = 0;
    while (n < max && h[n].name)
        n++;
    return n;
}

static void check_vector(const struct sigv4_credentials *cr, const char *date,
                         const struct vector *v)
{
    char hash[65];
    sigv4_sha256_hex(v->body, strlen(v->body), hash);
    struct sigv4_request rq = {v->method, v->path, v->query, v->headers,
                               count_headers(v->headers, 6), hash};
    struct sigv4_result res;
    struct vf_err err = {0};
    struct buf canon;
    buf_init(&canon, 1 << 16);
    ck_assert_int_eq(sigv4_sign(cr, date, &rq, &res, &canon, &err), VF_OK);
    ck_assert_msg(strcmp(res.signature, v->signature) == 0, "%s: signature %s, want %s\n%s",
                  v->name, res.signature, v->signature, canon.data);
    ck_assert_str_eq(res.signed_headers, v->signed_headers);
    buf_free(&canon);
}

START_TEST(test_suite_vectors)
{
    check_vector(&suite_creds, SUITE_DATE, &suite_vectors[_i]);
}
END_TEST

START_TEST(test_suite_authorization_header)
{
    struct sigv4_header h[] = {SUITE_HOST, SUITE_XDATE};
    struct sigv4_request rq = {"GET", "/", NULL, h, 2, SIGV4_EMPTY_SHA256};
    struct sigv4_result res;
    struct vf_err err = {0};
    ck_assert_int_eq(sigv4_sign(&suite_creds, SUITE_DATE, &rq, &res, NULL, &err), VF_OK);
    ck_assert_str_eq(res.authorization,
                     "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                     "aws4_request, SignedHeaders=host;x-amz-date, "
                     "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}
END_TEST

START_TEST(test_suite_canonical_request)
{
    struct sigv4_header h[] = {SUITE_HOST, {"My-Header1", " a   b "}, SUITE_XDATE};
    struct sigv4_request rq = {"GET", "/", "b=2&a=1&a=0", h, 3, SIGV4_EMPTY_SHA256};
    struct sigv4_result res;
    struct vf_err err = {0};
    struct buf canon;
    buf_init(&canon, 1 << 16);
    ck_assert_int_eq(sigv4_sign(&suite_creds, SUITE_DATE, &rq, &res, &canon, &err), VF_OK);
    const char *want = "GET\n/\na=0&a=1&b=2\nhost:example.amazonaws.com\nmy-header1:a b\n"
                       "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n"
                       SIGV4_EMPTY_SHA256 "\n----\n";
    ck_assert_msg(strncmp(canon.data, want, strlen(want)) == 0, "%s", canon.data);
    buf_free(&canon);
}
END_TEST

/* docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html */
static const struct vector s3_vectors[] = {
    {"GET object", "GET", "/test.txt", NULL,
     {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"},
      {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}, {"x-amz-date", "20130524T000000Z"}},
     "", "host;range;x-amz-content-sha256;x-amz-date",
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"},
    {"PUT object", "PUT", "/test$file.text", NULL,
     {{"Host", "examplebucket.s3.amazonaws.com"}, {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
      {"x-amz-date", "20130524T000000Z"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
      {"x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"}},
     "Welcome to Amazon S3.", "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"},
    {"GET bucket lifecycle", "GET", "/", "lifecycle",
     {{"Host", "examplebucket.s3.amazonaws.com"}, {"x-amz-date", "20130524T000000Z"},
      {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}},
     "", "host;x-amz-content-sha256;x-amz-date",
     "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"},
    {"list objects", "GET", "/", "max-keys=2&prefix=J",
     {{"Host", "examplebucket.s3.amazonaws.com"}, {"x-amz-date", "20130524T000000Z"},
      {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}},
     "", "host;x-amz-content-sha256;x-amz-date",
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"},
};

START_TEST(test_s3_doc_vectors)
{
    check_vector(&s3doc_creds, "20130524T000000Z", &s3_vectors[_i]);
}
END_TEST

/* docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html */
START_TEST(test_s3_doc_presigned)
{
    char url[2048];
    struct vf_err err = {0};
    ck_assert_int_eq(sigv4_presign_get(&s3doc_creds, "20130524T000000Z", 86400,
                                       "https://examplebucket.s3.amazonaws.com", "/test.txt", url,
                                       sizeof(url), &err),
                     VF_OK);
    ck_assert_str_eq(url,
                     "https://examplebucket.s3.amazonaws.com/test.txt"
                     "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                     "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
                     "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
                     "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}
END_TEST

START_TEST(test_presigned_with_token_and_port)
{
    struct sigv4_credentials cr = s3doc_creds;
    cr.session_token = "tok/en+=";
    char url[2048];
    struct vf_err err = {0};
    ck_assert_int_eq(sigv4_presign_get(&cr, "20130524T000000Z", 300, "http://127.0.0.1:9000",
                                       "/media/jobs/1/a b.mp4", url, sizeof(url), &err),
                     VF_OK);
    ck_assert_ptr_nonnull(strstr(url, "http://127.0.0.1:9000/media/jobs/1/a%20b.mp4?"));
    ck_assert_ptr_nonnull(strstr(url, "&X-Amz-Security-Token=tok%2Fen%2B%3D&"));
    ck_assert_ptr_nonnull(strstr(url, "&X-Amz-Expires=300&"));
}
END_TEST

START_TEST(test_path_encoding)
{
    char out[128];
    ck_assert_int_eq(sigv4_encode_path("/b/jobs/1/a b+c$~.mp4", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/b/jobs/1/a%20b%2Bc%24~.mp4");
    ck_assert_int_eq(sigv4_encode_path("/abcdef", out, 4), -1);
}
END_TEST

START_TEST(test_file_hash)
{
    char path[] = "/tmp/vf-sigv4-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "Welcome to Amazon S3.", 21), 21);
    close(fd);
    char hex[65];
    ck_assert_int_eq(sigv4_sha256_file_hex(path, 0, -1, hex), 0);
    ck_assert_str_eq(hex, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    ck_assert_int_eq(sigv4_sha256_file_hex(path, 0, 0, hex), 0);
    ck_assert_str_eq(hex, SIGV4_EMPTY_SHA256);
    char part[65];
    sigv4_sha256_hex("to Amazon", 9, part);
    ck_assert_int_eq(sigv4_sha256_file_hex(path, 8, 9, hex), 0);
    ck_assert_str_eq(hex, part);
    ck_assert_int_eq(sigv4_sha256_file_hex(path, 8, 100, hex), -1);
    unlink(path);
    ck_assert_int_eq(sigv4_sha256_file_hex(path, 0, -1, hex), -1);
}
END_TEST

START_TEST(test_amz_date)
{
    char d[17];
    sigv4_amz_date(1440938160, d);
    ck_assert_str_eq(d, SUITE_DATE);
}
END_TEST

Suite *sigv4_suite(void)
{
    Suite *s = suite_create("sigv4");
    TCase *tc = tcase_create("sigv4");
    tcase_add_loop_test(tc, test_suite_vectors, 0,
                        (int)(sizeof(suite_vectors) / sizeof(suite_vectors[0])));
    tcase_add_test(tc, test_suite_authorization_header);
    tcase_add_test(tc, test_suite_canonical_request);
    tcase_add_loop_test(tc, test_s3_doc_vectors, 0, (int)(sizeof(s3_vectors) / sizeof(s3_vectors[0])));
    tcase_add_test(tc, test_s3_doc_presigned);
    tcase_add_test(tc, test_presigned_with_token_and_port);
    tcase_add_test(tc, test_path_encoding);
    tcase_add_test(tc, test_file_hash);
    tcase_add_test(tc, test_amz_date);
    suite_add_tcase(s, tc);
    return s;
}
