/* One event stream: checks, replay from the table, then live events.
 *
 * A client that leaves shows up only when a flush fails (PROTOCOLS §4.4),
 * and only the first failing flush says so; every flush is therefore
 * checked with FCGX_GetError. While idle, the stream also looks at its
 * FastCGI connection once a second: nginx closes it when the browser goes
 * away, so the thread is freed without waiting for the next keepalive. */
#include "sse/stream.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "db/jobs.h"
#include "sse/hub.h"
#include "sse/poller.h"
#include "sse/pool.h"
#include "sse/wire.h"

static const char SSE_HEADERS[] =
    "Status: 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\n"
    "\r\n"
    "retry: 3000\n\n";

struct stream {
    struct sse_server *srv;
    FCGX_Request *req;
    struct sse_filter filter;
    struct auth_credential cred;    /* what opened it, re-checked by the poller */
    struct sse_sub *sub;
    long long last_sent;        /* id of the newest event the client has */
    long long last_write_ms;
};

/* extra: more header lines, each ending in \r\n, or "". */
static void send_error_with(FCGX_Request *req, int status, const char *reason, const char *code,
                            const char *message, const char *extra)
{
    char head[200];
    vf_snprintf(head, sizeof(head),
                "Status: %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n%s\r\n",
                status, reason, extra);
    char *body = sse_error_body(code, message);
    FCGX_PutS(head, req->out);
    if (body) {
        FCGX_PutS(body, req->out);
        FCGX_PutS("\n", req->out);
    }
    free(body);
}

static void send_error(FCGX_Request *req, int status, const char *reason, const char *code,
                       const char *message)
{
    send_error_with(req, status, reason, code, message, status == 405 ? "Allow: GET\r\n" : "");
}

void sse_refuse_busy(FCGX_Request *req)
{
    send_error_with(req, 503, "Service Unavailable", "too_many_streams",
                    "Every event stream slot is taken; try again shortly.",
                    "Retry-After: " SSE_BUSY_RETRY_AFTER_S "\r\n");
}

/* Sends what was written so far. Returns 0, or -1 when the client is gone. */
static int stream_flush(struct stream *st)
{
    FCGX_FFlush(st->req->out);
    if (FCGX_GetError(st->req->out) != 0)
        return -1;
    st->last_write_ms = sse_now_ms();
    return 0;
}

static int stream_put(struct stream *st, const char *text, size_t len)
{
    return FCGX_PutStr(text, (int)len, st->req->out) == (int)len ? 0 : -1;
}

/* Did nginx close our connection (the browser left)? */
static int client_gone(FCGX_Request *req)
{
    if (req->ipcFd < 0)
        return 1;
    struct pollfd p = {.fd = req->ipcFd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* Writes rows with ids in (last_sent, upto]. Returns 1 when a row above upto
 * was seen, else 0; -1 when the client is gone. */
static int write_rows(struct stream *st, const struct job_event *rows, int n, long long upto)
{
    for (int i = 0; i < n; i++) {
        if (rows[i].id > upto)
            return 1;
        if (rows[i].id <= st->last_sent)
            continue;
        size_t len;
        char *text = sse_format_event(&rows[i], &len);
        int rc = text ? stream_put(st, text, len) : 0;
        free(text);
        if (rc != 0)
            return -1;
        st->last_sent = rows[i].id;
    }
    return 0;
}

/* Sends the table's events in (last_sent, upto] that the stream may see,
 * a batch at a time, holding a database connection only for each query.
 * Returns 0; -1 when the client is gone or the database is down (either
 * way the stream ends; a browser resumes from its Last-Event-ID). */
static int replay(struct stream *st, long long upto)
{
    while (st->last_sent < upto) {
        struct vf_err err = {0};
        struct db *db = sse_pool_get(st->srv->pool, &err);
        struct job_event *rows = NULL;
        int n = 0;
        enum vf_rc rc = db ? jobs_events_after(db, st->last_sent, st->filter.owner_id,
                                               st->filter.job_id, SSE_REPLAY_BATCH, &rows, &n,
                                               &err)
                           : VF_EDB;
        sse_pool_put(st->srv->pool, db);
        if (rc != VF_OK) {
            log_warn("replay failed, ending the stream: %s", err.text);
            return -1;
        }
        int seen_end = write_rows(st, rows, n, upto);
        for (int i = 0; i < n; i++)
            job_event_free(&rows[i]);
        free(rows);
        if (seen_end < 0 || stream_flush(st) != 0)
            return -1;
        if (seen_end || n < SSE_REPLAY_BATCH)
            break;
    }
    if (st->last_sent < upto)
        st->last_sent = upto;   /* nothing else up to there is for this stream */
    return 0;
}

/* Writes queued live events, skipping what replay already sent. */
static int write_live(struct stream *st, struct sse_event **evs, int n)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && evs[i]->id > st->last_sent) {
            rc = stream_put(st, evs[i]->text, evs[i]->len);
            st->last_sent = evs[i]->id;
        }
        sse_event_release(evs[i]);
    }
    return rc == 0 ? stream_flush(st) : -1;
}

/* Live events until the client leaves or the server stops. */
static void run_live(struct stream *st)
{
    const struct vf_config *cfg = st->srv->cfg;
    long long keepalive_ms = (long long)cfg->sse_keepalive_s * 1000;
    struct sse_event *evs[SSE_LIVE_BATCH];
    for (;;) {
        long long idle = sse_now_ms() - st->last_write_ms;
        long long wait = keepalive_ms - idle;
        if (wait > SSE_CLIENT_CHECK_MS)
            wait = SSE_CLIENT_CHECK_MS;
        struct sse_take t = sse_sub_take(st->srv->hub, st->sub, wait > 0 ? (int)wait : 0, evs,
                                         SSE_LIVE_BATCH);
        if (t.n > 0 && write_live(st, evs, t.n) != 0)
            return;
        if (t.stopping)
            return;
        if (t.revoked) {
            /* The browser reconnects, is refused with 401 and signs in again. */
            log_debug("stream ended: its credentials were revoked");
            return;
        }
        if (t.lagged) {
            log_debug("stream fell behind after event %lld; reading the table", st->last_sent);
            if (replay(st, sse_hub_resync(st->srv->hub, st->sub)) != 0)
                return;
        }
        if (sse_now_ms() - st->last_write_ms >= keepalive_ms) {
            static const char keepalive[] = ": keepalive\n\n";
            if (stream_put(st, keepalive, sizeof(keepalive) - 1) != 0 || stream_flush(st) != 0)
                return;
        }
        if (t.n == 0 && client_gone(st->req))
            return;
    }
}

static void send_db_unavailable(FCGX_Request *req)
{
    send_error(req, 503, "Service Unavailable", "db_unavailable",
               "The database cannot be reached; try again.");
}

/* Who asks, and may they see this job? Answers the error itself and
 * returns -1 when not. */
static int authorize(struct stream *st, const struct sse_route *route, struct auth_user *user)
{
    FCGX_Request *req = st->req;
    struct vf_err err = {0};
    struct db *db = sse_pool_get(st->srv->pool, &err);
    if (!db) {
        log_warn("no database connection for a stream: %s", err.text);
        send_db_unavailable(req);
        return -1;
    }
    int via_cookie = 0;
    enum vf_rc rc = auth_identify(db, FCGX_GetParam("HTTP_COOKIE", req->envp),
                                  FCGX_GetParam("HTTP_AUTHORIZATION", req->envp), user,
                                  &via_cookie, &err);
    enum vf_rc job_rc = VF_OK;
    if (rc == VF_OK && route->kind == SSE_ROUTE_JOB) {
        struct job job;
        memset(&job, 0, sizeof(job));
        job_rc = jobs_get(db, route->job_id, user->is_admin ? -1 : user->id, &job, &err);
        if (job_rc == VF_OK)
            job_free(&job);
    }
    sse_pool_put(st->srv->pool, db);

    if (rc == VF_ENOTFOUND) {
        send_error(req, 401, "Unauthorized", "unauthorized",
                   "Sign in, or send a valid API token (Authorization: Bearer ...).");
        return -1;
    }
    if (rc == VF_OK && job_rc == VF_ENOTFOUND) {
        send_error(req, 404, "Not Found", "not_found", "There is no such job among yours.");
        return -1;
    }
    if (rc != VF_OK || job_rc != VF_OK) {
        log_warn("stream check failed: %s", err.text);
        send_db_unavailable(req);
        return -1;
    }
    return 0;
}

/* Registers with the hub and sends the headers. Returns -1 (answered) when it cannot. */
static int start_stream(struct stream *st, long long *high_water)
{
    enum sse_sub_status status;
    st->sub = sse_hub_subscribe(st->srv->hub, &st->filter, &st->cred, high_water, &status);
    if (!st->sub) {
        if (status == SSE_SUB_NOT_READY)
            send_error(st->req, 503, "Service Unavailable", "db_unavailable",
                       "The event stream is waiting for the database; try again.");
        else
            send_error(st->req, 503, "Service Unavailable", "unavailable",
                       "The event stream is restarting; try again.");
        return -1;
    }
    if (stream_put(st, SSE_HEADERS, sizeof(SSE_HEADERS) - 1) != 0 || stream_flush(st) != 0)
        return -1;
    return 0;
}

/* Checks everything that can be answered without the database. */
static int check_request(FCGX_Request *req, struct sse_route *route, int *have_lei,
                         long long *lei)
{
    const char *path = FCGX_GetParam("DOCUMENT_URI", req->envp);
    if (!path || !*path)
        path = FCGX_GetParam("REQUEST_URI", req->envp);
    const char *method = FCGX_GetParam("REQUEST_METHOD", req->envp);
    *route = sse_parse_route(path);
    if (route->kind == SSE_ROUTE_NONE) {
        send_error(req, 404, "Not Found", "not_found", "There is no such event stream.");
        return -1;
    }
    if (!method || strcmp(method, "GET") != 0) {
        send_error(req, 405, "Method Not Allowed", "method_not_allowed",
                   "Event streams are read with GET.");
        return -1;
    }
    if (route->kind == SSE_ROUTE_BAD_ID) {
        send_error(req, 400, "Bad Request", "invalid_id", "The job id must be a positive integer.");
        return -1;
    }
    if (sse_parse_last_event_id(FCGX_GetParam("HTTP_LAST_EVENT_ID", req->envp),
                                FCGX_GetParam("QUERY_STRING", req->envp), have_lei, lei) != 0) {
        send_error(req, 400, "Bad Request", "invalid_query",
                   "Last-Event-ID (or last_event_id) must be a non-negative integer.");
        return -1;
    }
    return 0;
}

void sse_serve(struct sse_server *srv, FCGX_Request *req)
{
    struct sse_route route;
    int have_lei = 0;
    long long lei = 0;
    if (check_request(req, &route, &have_lei, &lei) != 0)
        return;
    struct stream st = {.srv = srv, .req = req};
    struct auth_user user;
    memset(&user, 0, sizeof(user));
    if (authorize(&st, &route, &user) != 0)
        return;
    if (auth_credential_of(FCGX_GetParam("HTTP_COOKIE", req->envp),
                           FCGX_GetParam("HTTP_AUTHORIZATION", req->envp), &st.cred) != 0)
        return;     /* cannot happen: authorize read the same headers */
    /* A per-job stream was checked above; the all-jobs stream filters by owner. */
    st.filter.job_id = route.kind == SSE_ROUTE_JOB ? route.job_id : 0;
    st.filter.owner_id = route.kind == SSE_ROUTE_JOB || user.is_admin ? -1 : user.id;

    char tag[96];
    vf_snprintf(tag, sizeof(tag), "user=%s stream=%lld", user.username, st.filter.job_id);
    log_set_context(tag);
    long long high_water = 0;
    if (start_stream(&st, &high_water) == 0) {
        log_debug("stream open, resuming after %lld", have_lei ? lei : -1LL);
        /* Without Last-Event-ID a job's stream tells its whole story and the
         * all-jobs stream starts from now. */
        st.last_sent = have_lei ? lei : route.kind == SSE_ROUTE_JOB ? 0 : high_water;
        if (replay(&st, high_water) == 0)
            run_live(&st);
        log_debug("stream closed after event %lld", st.last_sent);
    }
    sse_hub_unsubscribe(srv->hub, st.sub);
    log_set_context(NULL);
}
