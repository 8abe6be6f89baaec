/* Event streams: routes, Last-Event-ID, wire format, hub fan-out, gap rule. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/jobs.h"
#include "sse/hub.h"
#include "sse/poller.h"
#include "sse/wire.h"

#include "suites.h"

#define SET(field, text) snprintf((field), sizeof(field), "%s", (text))

static const struct {
    const char *path;
    enum sse_route_kind kind;
    long long job_id;
} route_cases[] = {
    {"/api/events", SSE_ROUTE_ALL, 0},
    {"/api/events?last_event_id=3", SSE_ROUTE_ALL, 0},
    {"/api/jobs/42/events", SSE_ROUTE_JOB, 42},
    {"/api/jobs/42/events?x=1", SSE_ROUTE_JOB, 42},
    {"/api/jobs/999999999999999999/events", SSE_ROUTE_JOB, 999999999999999999LL},
    {"/api/jobs/0/events", SSE_ROUTE_BAD_ID, 0},
    {"/api/jobs/abc/events", SSE_ROUTE_BAD_ID, 0},
    {"/api/jobs/-1/events", SSE_ROUTE_BAD_ID, 0},
    {"/api/jobs/+1/events", SSE_ROUTE_BAD_ID, 0},
    {"/api/jobs/1 /events", SSE_ROUTE_BAD_ID, 0},
    {"/api/jobs/1000000000000000000/events", SSE_ROUTE_BAD_ID, 0},
    {"/api/jobs//events", SSE_ROUTE_NONE, 0},
    {"/api/jobs/1/2/events", SSE_ROUTE_NONE, 0},
    {"/api/jobs/1/events/", SSE_ROUTE_NONE, 0},
    {"/api/events/", SSE_ROUTE_NONE, 0},
    {"/api/eventsx", SSE_ROUTE_NONE, 0},
    {"/api/jobs/1", SSE_ROUTE_NONE, 0},
    {"/api/jobs/events", SSE_ROUTE_NONE, 0},
    {"", SSE_ROUTE_NONE, 0},
    {NULL, SSE_ROUTE_NONE, 0},
};

START_TEST(test_route)
{
    struct sse_route r = sse_parse_route(route_cases[_i].path);
    ck_assert_msg(r.kind == route_cases[_i].kind, "kind of '%s'", route_cases[_i].path);
    ck_assert_int_eq(r.job_id, route_cases[_i].job_id);
}
END_TEST

static const struct {
    const char *header, *query;
    int rc, have;
    long long id;
} lei_cases[] = {
    {NULL, NULL, 0, 0, 0},
    {"", "", 0, 0, 0},
    {"17", NULL, 0, 1, 17},
    {"0", NULL, 0, 1, 0},
    {NULL, "last_event_id=25", 0, 1, 25},
    {NULL, "a=1&last_event_id=25&b=2", 0, 1, 25},
    {NULL, "xlast_event_id=25", 0, 0, 0},
    {NULL, "last_event_id=", 0, 0, 0},
    {NULL, "last_event_id", 0, 0, 0},
    {"30", "last_event_id=25", 0, 1, 30},       /* the header wins */
    {"", "last_event_id=25", 0, 1, 25},
    {"abc", NULL, -1, 0, 0},
    {"-1", NULL, -1, 0, 0},
    {" 5", NULL, -1, 0, 0},
    {"5 ", NULL, -1, 0, 0},
    {"1000000000000000000", NULL, -1, 0, 0},
    {NULL, "last_event_id=1x", -1, 0, 0},
    {NULL, "last_event_id=%31", -1, 0, 0},
};

START_TEST(test_last_event_id)
{
    int have = -1;
    long long id = 0;
    int rc = sse_parse_last_event_id(lei_cases[_i].header, lei_cases[_i].query, &have, &id);
    ck_assert_int_eq(rc, lei_cases[_i].rc);
    if (rc == 0) {
        ck_assert_int_eq(have, lei_cases[_i].have);
        if (have)
            ck_assert_int_eq(id, lei_cases[_i].id);
    }
}
END_TEST

static struct job_event make_event(long long id, const char *type)
{
    struct job_event e;
    memset(&e, 0, sizeof(e));
    e.id = id;
    e.job_id = 42;
    e.owner_id = 7;
    e.percent = -1;
    SET(e.type, type);
    return e;
}

START_TEST(test_format_state)
{
    struct job_event e = make_event(17, "state");
    SET(e.state, "GENERATING_SCRIPT");
    SET(e.step, "script");
    SET(e.at, "2026-11-24T10:00:00.123Z");
    size_t len = 0;
    char *s = sse_format_event(&e, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_str_eq(s, "id: 17\nevent: state\ndata: {\"job_id\":42,\"state\":\"GENERATING_SCRIPT\","
                        "\"step\":\"script\",\"at\":\"2026-11-24T10:00:00.123Z\"}\n\n");
    ck_assert_uint_eq(len, strlen(s));
    free(s);

    e.step[0] = '\0';   /* a state without a step */
    s = sse_format_event(&e, NULL);
    ck_assert_ptr_nonnull(strstr(s, "\"step\":null"));
    free(s);
}
END_TEST

START_TEST(test_format_progress_and_log)
{
    struct job_event e = make_event(18, "progress");
    SET(e.step, "render");
    e.percent = 40;
    e.message = strdup("frame 480/1200\nwith a newline \"quoted\"");
    char *s = sse_format_event(&e, NULL);
    ck_assert_str_eq(s, "id: 18\nevent: progress\ndata: {\"job_id\":42,\"step\":\"render\","
                        "\"percent\":40,\"message\":\"frame 480/1200\\nwith a newline "
                        "\\\"quoted\\\"\",\"at\":null}\n\n");
    free(s);
    free(e.message);

    struct job_event l = make_event(19, "log");
    SET(l.level, "info");
    l.message = strdup("render started");
    SET(l.at, "2026-11-24T10:00:01.000Z");
    s = sse_format_event(&l, NULL);
    ck_assert_str_eq(s, "id: 19\nevent: log\ndata: {\"job_id\":42,\"level\":\"info\","
                        "\"message\":\"render started\",\"at\":\"2026-11-24T10:00:01.000Z\"}\n\n");
    free(s);
    free(l.message);

    struct job_event p = make_event(20, "progress");   /* no step, percent, message */
    s = sse_format_event(&p, NULL);
    ck_assert_ptr_nonnull(strstr(s, "{\"job_id\":42,\"step\":null,\"percent\":null,\"message\":null,\"at\":null}"));
    free(s);
}
END_TEST

START_TEST(test_format_bad_input)
{
    struct job_event e = make_event(21, "bogus");
    ck_assert_ptr_null(sse_format_event(&e, NULL));

    struct job_event l = make_event(22, "log");
    SET(l.level, "warn");
    l.message = strdup("bad \xff utf-8");
    char *s = sse_format_event(&l, NULL);
    ck_assert_ptr_nonnull(s);
    ck_assert_ptr_nonnull(strstr(s, "\"message\":\"bad ? utf-8\""));
    free(s);
    free(l.message);
}
END_TEST

START_TEST(test_error_body)
{
    char *s = sse_error_body("unauthorized", "Sign \"in\".");
    ck_assert_str_eq(s, "{\"error\":{\"code\":\"unauthorized\",\"message\":\"Sign \\\"in\\\".\"}}");
    free(s);
}
END_TEST

static struct sse_event *ev(long long id, long long job, long long owner)
{
    char text[32];
    int n = snprintf(text, sizeof(text), "id: %lld\n\n", id);
    return sse_event_new(id, job, owner, text, (size_t)n);
}

START_TEST(test_hub_fanout)
{
    struct sse_hub *hub = sse_hub_new();
    long long hw = -1;
    enum sse_sub_status st;
    struct sse_filter mine = {7, 0}, admin = {-1, 0}, job = {-1, 42};
    ck_assert_ptr_null(sse_hub_subscribe(hub, &mine, NULL, &hw, &st));
    ck_assert_int_eq(st, SSE_SUB_NOT_READY);

    sse_hub_start(hub, 100);
    struct sse_sub *a = sse_hub_subscribe(hub, &mine, NULL, &hw, &st);
    ck_assert_int_eq(hw, 100);
    struct sse_sub *b = sse_hub_subscribe(hub, &admin, NULL, &hw, &st);
    struct sse_sub *c = sse_hub_subscribe(hub, &job, NULL, &hw, &st);
    ck_assert_int_eq(sse_hub_count(hub), 3);

    struct sse_event *batch[3] = {ev(101, 42, 7), ev(102, 43, 8), ev(103, 44, 7)};
    sse_hub_publish(hub, batch, 3, 103);

    struct sse_event *out[8];
    struct sse_take t = sse_sub_take(hub, a, 0, out, 8);
    ck_assert_int_eq(t.n, 2);
    ck_assert_int_eq(out[0]->id, 101);
    ck_assert_int_eq(out[1]->id, 103);
    for (int i = 0; i < t.n; i++)
        sse_event_release(out[i]);
    t = sse_sub_take(hub, b, 0, out, 2);    /* at most max at a time */
    ck_assert_int_eq(t.n, 2);
    sse_event_release(out[0]);
    sse_event_release(out[1]);
    t = sse_sub_take(hub, b, 0, out, 2);
    ck_assert_int_eq(t.n, 1);
    ck_assert_int_eq(out[0]->id, 103);
    sse_event_release(out[0]);
    t = sse_sub_take(hub, c, 10, out, 8);
    ck_assert_int_eq(t.n, 1);
    ck_assert_int_eq(out[0]->job_id, 42);
    sse_event_release(out[0]);

    struct sse_sub *d = sse_hub_subscribe(hub, &mine, NULL, &hw, &st);
    ck_assert_int_eq(hw, 103);
    sse_hub_unsubscribe(hub, d);

    /* queued events are freed with the subscription */
    struct sse_event *more[1] = {ev(104, 42, 7)};
    sse_hub_publish(hub, more, 1, 104);
    sse_hub_unsubscribe(hub, a);
    sse_hub_unsubscribe(hub, b);
    sse_hub_unsubscribe(hub, c);
    ck_assert_int_eq(sse_hub_count(hub), 0);
    sse_hub_free(hub);
}
END_TEST

/* A subscription that sees every event, opened with credential c (or none). */
static struct sse_sub *subscribe_any(struct sse_hub *hub, const struct auth_credential *c)
{
    long long hw;
    enum sse_sub_status st;
    struct sse_filter any = {-1, 0};
    struct sse_sub *sub = sse_hub_subscribe(hub, &any, c, &hw, &st);
    ck_assert_ptr_nonnull(sub);
    return sub;
}

START_TEST(test_hub_lag_and_stop)
{
    struct sse_hub *hub = sse_hub_new();
    sse_hub_start(hub, 0);
    long long hw;
    enum sse_sub_status st;
    struct sse_filter any = {-1, 0};
    struct sse_sub *s = subscribe_any(hub, NULL);
    long long id = 0;
    for (int round = 0; round < SSE_SUB_QUEUE_MAX / 100 + 2; round++) {
        struct sse_event *batch[100];
        for (int i = 0; i < 100; i++)
            batch[i] = ev(++id, 1, 1);
        sse_hub_publish(hub, batch, 100, id);
    }
    struct sse_event *out[4];
    struct sse_take t = sse_sub_take(hub, s, 0, out, 4);
    ck_assert_int_eq(t.n, 0);
    ck_assert_int_eq(t.lagged, 1);
    ck_assert_int_eq(sse_hub_resync(hub, s), id);
    t = sse_sub_take(hub, s, 0, out, 4);
    ck_assert_int_eq(t.lagged, 0);
    ck_assert_int_eq(t.n, 0);

    struct sse_event *one[1] = {ev(++id, 1, 1)};
    sse_hub_publish(hub, one, 1, id);
    t = sse_sub_take(hub, s, 0, out, 4);
    ck_assert_int_eq(t.n, 1);
    ck_assert_int_eq(out[0]->id, id);
    sse_event_release(out[0]);

    sse_hub_stop(hub);
    ck_assert_int_eq(sse_hub_sleep(hub, 5000), -1);
    t = sse_sub_take(hub, s, 5000, out, 4);     /* returns at once */
    ck_assert_int_eq(t.stopping, 1);
    ck_assert_ptr_null(sse_hub_subscribe(hub, &any, NULL, &hw, &st));
    ck_assert_int_eq(st, SSE_SUB_STOPPING);
    sse_hub_unsubscribe(hub, s);
    sse_hub_free(hub);
}
END_TEST

static struct auth_credential cred(enum auth_kind kind, char fill)
{
    struct auth_credential c = {.kind = kind};
    memset(c.hash, fill, 64);
    c.hash[64] = '\0';
    return c;
}

START_TEST(test_hub_revoke)
{
    struct sse_hub *hub = sse_hub_new();
    sse_hub_start(hub, 0);
    struct auth_credential tab = cred(AUTH_SESSION, 'a'), tok = cred(AUTH_TOKEN, 'a'),
                           other = cred(AUTH_SESSION, 'b');
    struct sse_sub *s1 = subscribe_any(hub, &tab);
    struct sse_sub *s2 = subscribe_any(hub, &tab);     /* a second tab */
    struct sse_sub *s3 = subscribe_any(hub, &tok);
    struct sse_sub *s4 = subscribe_any(hub, &other);
    struct sse_sub *s5 = subscribe_any(hub, NULL);

    int n = -1;
    struct auth_credential *creds = sse_hub_credentials(hub, &n);
    ck_assert_int_eq(n, 3);     /* distinct, and the stream without one is not asked about */
    ck_assert_int_eq(creds[0].kind, AUTH_SESSION);
    ck_assert_int_eq(creds[0].hash[0], 'a');
    ck_assert_int_eq(creds[1].hash[0], 'b');
    ck_assert_int_eq(creds[2].kind, AUTH_TOKEN);
    free(creds);

    /* the session ends both its tabs, not the token with the same hash text */
    ck_assert_int_eq(sse_hub_revoke(hub, &tab), 2);
    ck_assert_int_eq(sse_hub_revoke(hub, &tab), 0);
    struct sse_event *out[4];
    struct sse_take t = sse_sub_take(hub, s1, 5000, out, 4);    /* returns at once */
    ck_assert_int_eq(t.revoked, 1);
    ck_assert_int_eq(sse_sub_take(hub, s2, 0, out, 4).revoked, 1);
    ck_assert_int_eq(sse_sub_take(hub, s3, 0, out, 4).revoked, 0);
    ck_assert_int_eq(sse_sub_take(hub, s4, 0, out, 4).revoked, 0);
    ck_assert_int_eq(sse_sub_take(hub, s5, 0, out, 4).revoked, 0);
    creds = sse_hub_credentials(hub, &n);
    ck_assert_int_eq(n, 2);     /* revoked ones are not asked about again */
    free(creds);

    sse_hub_unsubscribe(hub, s1);
    sse_hub_unsubscribe(hub, s2);
    sse_hub_unsubscribe(hub, s3);
    sse_hub_unsubscribe(hub, s4);
    creds = sse_hub_credentials(hub, &n);
    ck_assert_ptr_null(creds);
    ck_assert_int_eq(n, 0);
    sse_hub_unsubscribe(hub, s5);
    sse_hub_free(hub);
}
END_TEST

static int prefix(struct sse_gap *g, long long hw, const long long *ids, int n, long long now)
{
    struct job_event rows[8];
    memset(rows, 0, sizeof(rows));
    for (int i = 0; i < n; i++)
        rows[i].id = ids[i];
    return sse_publishable_prefix(g, hw, rows, n, now, 1000);
}

START_TEST(test_gap_rule)
{
    struct sse_gap g = {0, 0};
    const long long contiguous[] = {11, 12, 13};
    ck_assert_int_eq(prefix(&g, 10, contiguous, 3, 0), 3);

    const long long hole[] = {11, 13, 14};      /* 12 not visible yet */
    ck_assert_int_eq(prefix(&g, 10, hole, 3, 100), 1);
    ck_assert_int_eq(g.first_missing, 12);
    const long long after[] = {13, 14};
    ck_assert_int_eq(prefix(&g, 11, after, 2, 600), 0);    /* still waiting */
    const long long filled[] = {12, 13, 14};
    ck_assert_int_eq(prefix(&g, 11, filled, 3, 700), 3);    /* 12 committed late */
    ck_assert_int_eq(g.first_missing, 0);

    ck_assert_int_eq(prefix(&g, 14, (const long long[]){16}, 1, 2000), 0);
    ck_assert_int_eq(prefix(&g, 14, (const long long[]){16, 17}, 2, 3000), 2);  /* given up */
    ck_assert_int_eq(prefix(&g, 14, NULL, 0, 3000), 0);
}
END_TEST

START_TEST(test_trim_rule)
{
    struct sse_trim t = {0, 0};
    ck_assert_int_eq(sse_trim_due(&t, 0, 0), 0);           /* nothing ever opened */
    ck_assert_int_eq(sse_trim_due(&t, 100, 10), 0);
    ck_assert_int_eq(sse_trim_due(&t, 100 - SSE_TRIM_DROP + 1, 20), 0);   /* small drop */
    ck_assert_int_eq(sse_trim_due(&t, 100 - SSE_TRIM_DROP, 30), 0);       /* pending */
    ck_assert_int_eq(sse_trim_due(&t, 50, 30 + SSE_TRIM_DELAY_MS - 1), 0);
    ck_assert_int_eq(sse_trim_due(&t, 40, 30 + SSE_TRIM_DELAY_MS), 1);
    ck_assert_int_eq(t.peak, 40);
    ck_assert_int_eq(sse_trim_due(&t, 40, 5000), 0);       /* done until the next drop */

    /* A crowd that comes back before the delay cancels the trim. */
    ck_assert_int_eq(sse_trim_due(&t, 0, 6000), 0);
    ck_assert_int_eq(sse_trim_due(&t, 40, 6100), 0);
    ck_assert_int_eq(sse_trim_due(&t, 40, 9000), 0);

    /* The last viewers leaving trims even after a small drop. */
    ck_assert_int_eq(sse_trim_due(&t, 0, 9100), 0);
    ck_assert_int_eq(sse_trim_due(&t, 0, 9100 + SSE_TRIM_DELAY_MS), 1);
    ck_assert_int_eq(sse_trim_due(&t, 0, 20000), 0);
}
END_TEST

Suite *sse_suite(void)
{
    Suite *s = suite_create("sse");
    TCase *tc = tcase_create("wire");
    tcase_add_loop_test(tc, test_route, 0, sizeof(route_cases) / sizeof(route_cases[0]));
    tcase_add_loop_test(tc, test_last_event_id, 0, sizeof(lei_cases) / sizeof(lei_cases[0]));
    tcase_add_test(tc, test_format_state);
    tcase_add_test(tc, test_format_progress_and_log);
    tcase_add_test(tc, test_format_bad_input);
    tcase_add_test(tc, test_error_body);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("hub");
    tcase_add_test(th, test_hub_fanout);
    tcase_add_test(th, test_hub_lag_and_stop);
    tcase_add_test(th, test_hub_revoke);
    tcase_add_test(th, test_gap_rule);
    tcase_add_test(th, test_trim_rule);
    suite_add_tcase(s, th);
    return s;
}
