/* Request validation: bodies, ids, query strings, topics, cookies, routes. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "auth/auth.h"
#include "core/config.h"
#include "suites.h"

static const struct {
    const char *content_type, *body;
    int too_large;
    int status;             /* 0: accepted */
    const char *code;
} bodies[] = {
    {"application/json", "{\"topic\":\"x\"}", 0, 0, NULL},
    {"application/json; charset=utf-8", "{}", 0, 0, NULL},
    {"text/plain", "{}", 0, 415, "unsupported_media_type"},
    {NULL, "{}", 0, 415, "unsupported_media_type"},
    {"application/jsonp", "{}", 0, 415, "unsupported_media_type"},
    {"application/json", "", 0, 400, "invalid_json"},
    {"application/json", "{", 0, 400, "invalid_json"},
    {"application/json", "[1,2]", 0, 400, "invalid_json"},
    {"application/json", "\"str\"", 0, 400, "invalid_json"},
    {"application/json", "{\"a\":1,\"a\":2}", 0, 400, "invalid_json"},
    {"application/json", "{\"t\":\"\xff\xfe\"}", 0, 400, "invalid_json"},
    {"application/json", "{\"t\":\"a\\u0000b\"}", 0, 400, "invalid_json"},
    {"application/json", "{\"n\":123456789012345678901234567890}", 0, 400, "invalid_json"},
    {"application/json", "{}", 1, 413, "body_too_large"},
};

START_TEST(test_json_bodies)
{
    struct api_request rq = {0};
    struct api_response rs;
    api_response_init(&rs);
    rq.content_type = bodies[_i].content_type;
    rq.body = bodies[_i].body;
    rq.body_len = strlen(bodies[_i].body);
    rq.body_too_large = bodies[_i].too_large;
    json_t *j = api_parse_json_body(&rq, &rs);
    if (bodies[_i].status == 0) {
        ck_assert_ptr_nonnull(j);
    } else {
        ck_assert_ptr_null(j);
        ck_assert_int_eq(rs.status, bodies[_i].status);
        json_t *resp = json_loads(rs.body, 0, NULL);
        ck_assert_ptr_nonnull(resp);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(resp, "error"), "code")),
                         bodies[_i].code);
        json_decref(resp);
    }
    json_decref(j);
    api_response_free(&rs);
}
END_TEST

static const struct {
    const char *text;
    int ok;
    long long id;
} ids[] = {
    {"1", 1, 1}, {"42", 1, 42}, {"9007199254740992", 1, 9007199254740992LL},
    {"0", 0, 0}, {"-1", 0, 0}, {"abc", 0, 0}, {"", 0, 0}, {"01", 0, 0}, {"1e3", 0, 0},
    {"99999999999999999999", 0, 0}, {"9007199254740993", 0, 0}, {"4 2", 0, 0}, {"+5", 0, 0},
};

START_TEST(test_ids)
{
    long long id = 0;
    int rc = api_parse_id(ids[_i].text, strlen(ids[_i].text), &id);
    ck_assert_int_eq(rc == 0, ids[_i].ok);
    if (ids[_i].ok)
        ck_assert_int_eq(id, ids[_i].id);
}
END_TEST

START_TEST(test_query_params)
{
    char v[16];
    ck_assert_int_eq(api_query_param("state=FAILED&limit=5", "limit", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "5");
    ck_assert_int_eq(api_query_param("state=FAILED&limit=5", "state", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "FAILED");
    ck_assert_int_eq(api_query_param("xlimit=5", "limit", v, sizeof(v)), 0);
    ck_assert_int_eq(api_query_param("a=%41%42+c", "a", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "AB c");
    ck_assert_int_eq(api_query_param("a=%4", "a", v, sizeof(v)), -1);
    ck_assert_int_eq(api_query_param("a=%00", "a", v, sizeof(v)), -1);
    ck_assert_int_eq(api_query_param("a=0123456789abcdefghij", "a", v, sizeof(v)), -1);
    ck_assert_int_eq(api_query_param("", "a", v, sizeof(v)), 0);
    ck_assert_int_eq(api_query_param("download", "download", v, sizeof(v)), 1);
    ck_assert_str_eq(v, "");
}
END_TEST

START_TEST(test_query_names)
{
    static const char *const known[] = {"state", "limit", "before", NULL};
    char bad[16];
    ck_assert_int_eq(api_query_check("", known, bad, sizeof(bad)), 0);
    ck_assert_int_eq(api_query_check(NULL, known, bad, sizeof(bad)), 0);
    ck_assert_int_eq(api_query_check("state=FAILED&limit=5&before=9", known, bad, sizeof(bad)), 0);
    ck_assert_int_eq(api_query_check("limit=5&", known, bad, sizeof(bad)), 0);
    ck_assert_int_eq(api_query_check("limit=1&limit=2", known, bad, sizeof(bad)), -1);
    ck_assert_str_eq(bad, "limit");
    ck_assert_int_eq(api_query_check("limit=1&bogus", known, bad, sizeof(bad)), -1);
    ck_assert_str_eq(bad, "bogus");
    ck_assert_int_eq(api_query_check("=5", known, bad, sizeof(bad)), -1);
    ck_assert_str_eq(bad, "");
    ck_assert_int_eq(api_query_check("state[]=FAILED", known, bad, sizeof(bad)), -1);
    ck_assert_int_eq(api_query_check("%6cimit=5", known, bad, sizeof(bad)), -1);
    ck_assert_int_eq(api_query_check("a_very_long_parameter_name=1", known, bad, sizeof(bad)), -1);
    ck_assert_str_eq(bad, "a_very_long_par");
}
END_TEST

static const struct {
    const char *topic;
    const char *clean;      /* NULL: refused */
} topics[] = {
    {"why octopuses have three hearts", "why octopuses have three hearts"},
    {"   padded topic \n", "padded topic"},
    {"abc", "abc"},
    {"ab", NULL},
    {"   ", NULL},
    {"", NULL},
    {"tab\tinside", NULL},
    {"bell\x07", NULL},
    {"\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"},   /* 3 characters, 5 bytes */
    {"\xc3\xa9\xc3\xa9", NULL},                    /* 2 characters, 4 bytes */
};

START_TEST(test_topics)
{
    char why[160];
    char *t = api_clean_topic(topics[_i].topic, why, sizeof(why));
    if (topics[_i].clean) {
        ck_assert_ptr_nonnull(t);
        ck_assert_str_eq(t, topics[_i].clean);
    } else {
        ck_assert_ptr_null(t);
    }
    free(t);
}
END_TEST

START_TEST(test_topic_length_limit)
{
    char why[160], text[400];
    memset(text, 'a', 200);
    text[200] = '\0';
    char *t = api_clean_topic(text, why, sizeof(why));
    ck_assert_ptr_nonnull(t);
    free(t);
    text[200] = 'a';
    text[201] = '\0';
    ck_assert_ptr_null(api_clean_topic(text, why, sizeof(why)));
}
END_TEST

START_TEST(test_cookies)
{
    char v[80];
    ck_assert_int_eq(auth_cookie_value("a=1; vf_session=abc; b=2", "vf_session", v, sizeof(v)), 0);
    ck_assert_str_eq(v, "abc");
    ck_assert_int_eq(auth_cookie_value("vf_session=xyz", "vf_session", v, sizeof(v)), 0);
    ck_assert_str_eq(v, "xyz");
    ck_assert_int_eq(auth_cookie_value("xvf_session=1", "vf_session", v, sizeof(v)), -1);
    ck_assert_int_eq(auth_cookie_value("", "vf_session", v, sizeof(v)), -1);
    ck_assert_int_eq(auth_cookie_value(NULL, "vf_session", v, sizeof(v)), -1);
    char small[4];
    ck_assert_int_eq(auth_cookie_value("vf_session=toolong", "vf_session", small, sizeof(small)), -1);
    char hex[65];
    auth_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    /* The credential a stream is re-checked by: the token wins, and only
     * well-formed secrets count. */
    const char secret[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char cookie[100], bearer[100], want[65];
    snprintf(cookie, sizeof(cookie), "x=1; vf_session=%s", secret);
    snprintf(bearer, sizeof(bearer), "Bearer %s", secret);
    auth_sha256_hex(secret, 64, want);
    struct auth_credential c;
    ck_assert_int_eq(auth_credential_of(cookie, NULL, &c), 0);
    ck_assert_int_eq(c.kind, AUTH_SESSION);
    ck_assert_str_eq(c.hash, want);
    ck_assert_int_eq(auth_credential_of(cookie, bearer, &c), 0);
    ck_assert_int_eq(c.kind, AUTH_TOKEN);
    ck_assert_str_eq(c.hash, want);
    ck_assert_int_eq(auth_credential_of(cookie, "Basic abc", &c), -1);
    ck_assert_int_eq(auth_credential_of("vf_session=ABC", NULL, &c), -1);
    ck_assert_int_eq(auth_credential_of(NULL, "", &c), -1);
}
END_TEST

/* Routing needs no database for these answers: unknown routes, wrong
 * methods, bad ids and the database-down case are decided first. */
static const struct {
    const char *method, *path;
    int status;
    const char *code;
} routes[] = {
    {"GET", "/api/nothing", 404, "not_found"},
    {"GET", "/api/jobs/abc", 400, "invalid_id"},
    {"GET", "/api/jobs/0", 400, "invalid_id"},
    {"POST", "/api/jobs/-1/cancel", 400, "invalid_id"},
    {"DELETE", "/api/jobs", 405, "method_not_allowed"},
    {"GET", "/api/jobs/generate", 405, "method_not_allowed"},
    {"PUT", "/api/auth/login", 405, "method_not_allowed"},
    {"GET", "/api/jobs/1/media/x/y", 404, "not_found"},
    {"GET", "/api/jobs", 503, "db_unavailable"},
    {"POST", "/api/jobs/generate", 503, "db_unavailable"},
};

START_TEST(test_routes_without_database)
{
    struct vf_config cfg;
    char err[128];
    ck_assert_int_eq(config_load_string(&cfg, "", "t", err, sizeof(err)), 0);
    struct api_ctx ctx = {.cfg = &cfg, .db = NULL};
    struct api_request rq = {0};
    struct api_response rs;
    api_response_init(&rs);
    snprintf(rq.method, sizeof(rq.method), "%s", routes[_i].method);
    snprintf(rq.path, sizeof(rq.path), "%s", routes[_i].path);
    rq.query = "";
    api_handle(&ctx, &rq, &rs);
    ck_assert_int_eq(rs.status, routes[_i].status);
    json_t *resp = json_loads(rs.body, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(resp, "error"), "code")),
                     routes[_i].code);
    json_decref(resp);
    api_response_free(&rs);
    config_free(&cfg);
}
END_TEST

Suite *request_suite(void)
{
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("request");
    tcase_add_loop_test(tc, test_json_bodies, 0, (int)(sizeof(bodies) / sizeof(bodies[0])));
    tcase_add_loop_test(tc, test_ids, 0, (int)(sizeof(ids) / sizeof(ids[0])));
    tcase_add_test(tc, test_query_params);
    tcase_add_test(tc, test_query_names);
    tcase_add_loop_test(tc, test_topics, 0, (int)(sizeof(topics) / sizeof(topics[0])));
    tcase_add_test(tc, test_topic_length_limit);
    tcase_add_test(tc, test_cookies);
    tcase_add_loop_test(tc, test_routes_without_database, 0,
                        (int)(sizeof(routes) / sizeof(routes[0])));
    suite_add_tcase(s, tc);
    return s;
}
