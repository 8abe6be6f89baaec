/* The poller thread: job_events rows → formatted events → hub (see poller.h). */
#include "sse/poller.h"

#include <malloc.h>
#include <stdlib.h>
#include <time.h>

#include "auth/auth.h"
#include "core/config.h"
#include "core/log.h"
#include "sse/hub.h"
#include "sse/wire.h"

long long sse_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sse_publishable_prefix(struct sse_gap *gap, long long high_water,
                           const struct job_event *rows, int n, long long now_ms,
                           long long grace_ms)
{
    long long expected = high_water + 1;
    for (int i = 0; i < n; i++) {
        if (rows[i].id <= expected) {
            if (gap->first_missing && gap->first_missing <= rows[i].id)
                gap->first_missing = 0;
            expected = rows[i].id + 1;
            continue;
        }
        if (gap->first_missing != expected) {
            gap->first_missing = expected;
            gap->since_ms = now_ms;
        }
        if (now_ms - gap->since_ms < grace_ms)
            return i;
        gap->first_missing = 0;     /* never coming: a rolled-back insert */
        expected = rows[i].id + 1;
    }
    return n;
}

int sse_trim_due(struct sse_trim *t, int streams, long long now_ms)
{
    if (streams > t->peak)
        t->peak = streams;
    if (t->peak - streams < SSE_TRIM_DROP && !(streams == 0 && t->peak > 0)) {
        t->due_ms = 0;
        return 0;
    }
    if (t->due_ms == 0) {
        t->due_ms = now_ms + SSE_TRIM_DELAY_MS;
        return 0;
    }
    if (now_ms < t->due_ms)
        return 0;
    t->peak = streams;
    t->due_ms = 0;
    return 1;
}

/* Formats rows[0..n) and publishes them with the new high-water mark. */
static void publish_rows(struct sse_hub *hub, const struct job_event *rows, int n)
{
    struct sse_event **evs = malloc(sizeof(*evs) * (size_t)(n ? n : 1));
    int m = 0;
    for (int i = 0; evs && i < n; i++) {
        size_t len;
        char *text = sse_format_event(&rows[i], &len);
        if (!text) {
            log_warn("event %lld skipped: cannot format type '%s'", rows[i].id, rows[i].type);
            continue;
        }
        struct sse_event *ev = sse_event_new(rows[i].id, rows[i].job_id, rows[i].owner_id, text, len);
        free(text);
        if (ev)
            evs[m++] = ev;
    }
    if (!evs)
        log_error("out of memory: %d events not published", n);
    sse_hub_publish(hub, evs, m, n ? rows[n - 1].id : 0);
    free(evs);
}

static void free_rows(struct job_event *rows, int n)
{
    for (int i = 0; i < n; i++)
        job_event_free(&rows[i]);
    free(rows);
}

/* Ends the streams whose credentials were revoked since they opened. A
 * database that cannot answer leaves them open: they were let in, and
 * the next check asks again. */
static void check_credentials(struct db *db, struct sse_hub *hub, int *failing)
{
    int n = 0;
    struct auth_credential *creds = sse_hub_credentials(hub, &n);
    if (!creds)
        return;
    unsigned char *live = malloc((size_t)n);
    struct vf_err err = {0};
    if (live && auth_credentials_live(db, creds, n, live, &err) == VF_OK) {
        int ended = 0;
        for (int i = 0; i < n; i++)
            if (!live[i])
                ended += sse_hub_revoke(hub, &creds[i]);
        if (ended)
            log_info("ended %d stream(s): signed out, expired or revoked", ended);
        *failing = 0;
    } else if (live && !(*failing)++) {
        log_warn("cannot re-check stream credentials: %s", err.text);
    }
    free(live);
    free(creds);
}

/* Connects and learns where the table ends; retries until it can or the hub stops. */
static struct db *poller_connect(struct sse_poller_args *a, long long *high_water)
{
    int warned = 0;
    for (;;) {
        struct vf_err err = {0};
        struct db *db = db_open(a->cfg, &err);
        if (db && jobs_events_max_id(db, high_water, &err) == VF_OK)
            return db;
        db_close(db);
        if (!warned++)
            log_warn("event poller waiting for the database: %s", err.text);
        if (sse_hub_sleep(a->hub, 1000) != 0)
            return NULL;
    }
}

void *sse_poller_main(void *arg)
{
    struct sse_poller_args *a = arg;
    log_set_context("poller");
    long long high_water = 0;
    struct db *db = poller_connect(a, &high_water);
    if (!db)
        return NULL;
    sse_hub_start(a->hub, high_water);
    log_info("event poller started after event %lld", high_water);

    struct sse_gap gap = {0, 0};
    struct sse_trim trim = {0, 0};
    long long next_auth_check = sse_now_ms() + SSE_AUTH_CHECK_MS;
    int auth_check_failing = 0;
    int db_down = 0;
    const int poll_ms = a->cfg->sse_poll_ms;
    while (!sse_hub_stopping(a->hub)) {
        long long started = sse_now_ms();
        if (sse_trim_due(&trim, sse_hub_count(a->hub), sse_now_ms()))
            malloc_trim(0);
        if (started >= next_auth_check) {
            check_credentials(db, a->hub, &auth_check_failing);
            next_auth_check = started + SSE_AUTH_CHECK_MS;
        }
        struct job_event *rows = NULL;
        int n = 0;
        struct vf_err err = {0};
        enum vf_rc rc = jobs_events_after(db, high_water, -1, 0, SSE_POLL_BATCH, &rows, &n, &err);
        if (rc != VF_OK) {
            if (!db_down++)
                log_warn("event poller cannot read events: %s", err.text);
            if (sse_hub_sleep(a->hub, poll_ms) != 0)
                break;
            continue;
        }
        if (db_down) {
            log_info("event poller reads events again");
            db_down = 0;
        }
        int k = sse_publishable_prefix(&gap, high_water, rows, n, sse_now_ms(), SSE_GAP_GRACE_MS);
        if (k > 0) {
            publish_rows(a->hub, rows, k);
            high_water = rows[k - 1].id;
        }
        free_rows(rows, n);
        /* A full batch that went out whole means more is waiting: read on at once. */
        if (n == SSE_POLL_BATCH && k == n)
            continue;
        /* Poll at a steady rate: the time the fan-out took (it grows with
         * the number of streams) comes off the wait, not on top of it. */
        long long wait = poll_ms - (sse_now_ms() - started);
        if (sse_hub_sleep(a->hub, (int)(wait > poll_ms / 4 ? wait : poll_ms / 4)) != 0)
            break;
    }
    db_close(db);
    return NULL;
}
