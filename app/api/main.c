/* vf-api: the FastCGI responder for /api (except the event streams).
 * spawn-fcgi starts N of these on one socket (fd 0); each handles one
 * request at a time, validates it, writes rows and answers. Nothing slow
 * happens here: long work is a job row that vf-worker picks up. */
#include <fcgiapp.h>
#include <mysql.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/config.h"
#include "core/log.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t in_request;

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
    if (!in_request)
        _exit(0);   /* idle in accept: nothing to finish */
}

static void read_body(FCGX_Request *fr, struct api_request *rq, struct buf *body, int max)
{
    const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
    long long want = cl && *cl ? strtoll(cl, NULL, 10) : 0;
    if (want <= 0)
        return;
    if (want > max) {
        rq->body_too_large = 1;
        return;
    }
    char chunk[8192];
    int n;
    while ((n = FCGX_GetStr(chunk, sizeof(chunk), fr->in)) > 0) {
        if (buf_append(body, chunk, (size_t)n) != 0) {
            rq->body_too_large = 1;
            return;
        }
    }
    rq->body = body->data;
    rq->body_len = body->len;
}

static void fill_request(FCGX_Request *fr, struct api_request *rq, unsigned long serial)
{
    char **env = fr->envp;
    const char *method = FCGX_GetParam("REQUEST_METHOD", env);
    const char *uri = FCGX_GetParam("DOCUMENT_URI", env);
    if (!uri)
        uri = FCGX_GetParam("REQUEST_URI", env);
    vf_strlcpy(rq->method, method ? method : "GET", sizeof(rq->method));
    size_t plen = strcspn(uri ? uri : "/", "?");
    if (plen >= sizeof(rq->path))
        plen = sizeof(rq->path) - 1;
    memcpy(rq->path, uri ? uri : "/", plen);
    rq->path[plen] = '\0';
    const char *q = FCGX_GetParam("QUERY_STRING", env);
    rq->query = q ? q : "";
    rq->cookie = FCGX_GetParam("HTTP_COOKIE", env);
    rq->authorization = FCGX_GetParam("HTTP_AUTHORIZATION", env);
    rq->content_type = FCGX_GetParam("CONTENT_TYPE", env);
    rq->requested_with = FCGX_GetParam("HTTP_X_REQUESTED_WITH", env);
    rq->remote_addr = FCGX_GetParam("REMOTE_ADDR", env);
    const char *rid = FCGX_GetParam("HTTP_X_REQUEST_ID", env);
    if (rid && strlen(rid) < sizeof(rq->request_id) && strspn(rid, "0123456789abcdef") == strlen(rid))
        vf_strlcpy(rq->request_id, rid, sizeof(rq->request_id));
    else
        snprintf(rq->request_id, sizeof(rq->request_id), "%d-%lu", (int)getpid(), serial);
}

static void write_response(FCGX_Request *fr, const struct api_response *rs)
{
    FCGX_FPrintF(fr->out, "Status: %d %s\r\n", rs->status, api_status_text(rs->status));
    if (rs->content_type)
        FCGX_FPrintF(fr->out, "Content-Type: %s\r\n", rs->content_type);
    if (rs->body)
        FCGX_FPrintF(fr->out, "Cache-Control: no-store\r\n");
    if (rs->headers.len)
        FCGX_PutStr(rs->headers.data, (int)rs->headers.len, fr->out);
    FCGX_PutS("\r\n", fr->out);
    if (rs->body && rs->body_len)
        FCGX_PutStr(rs->body, (int)rs->body_len, fr->out);
}

/* Opens the database when it is not open; at most once a second while it is down. */
static void ensure_db(struct api_ctx *ctx, time_t *last_try)
{
    if (ctx->db)
        return;
    time_t now = time(NULL);
    if (now == *last_try)
        return;
    *last_try = now;
    struct vf_err err = {0};
    ctx->db = db_open(ctx->cfg, &err);
    if (!ctx->db)
        log_warn("database unavailable: %s", err.text);
}

int main(void)
{
    struct vf_config cfg;
    char err[512];
    if (config_load(&cfg, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "vf-api: %s\n", err);
        return 1;
    }
    enum log_level level = LOG_INFO;
    (void)log_level_parse(cfg.log_level, &level);
    if (log_open(cfg.log_file, level) != 0) {
        fprintf(stderr, "vf-api: cannot open the log file %s\n", cfg.log_file);
        return 1;
    }
    mysql_library_init(0, NULL, NULL);
    if (FCGX_Init() != 0) {
        log_error("cannot initialise FastCGI");
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct api_ctx ctx = {.cfg = &cfg};
    time_t last_try = 0;
    ensure_db(&ctx, &last_try);
    FCGX_Request fr;
    FCGX_InitRequest(&fr, 0, 0);
    log_info("vf-api ready");
    unsigned long serial = 0;
    while (!stop_requested && FCGX_Accept_r(&fr) == 0) {
        in_request = 1;
        struct api_request rq = {0};
        struct api_response rs;
        struct buf body;
        buf_init(&body, (size_t)cfg.max_body_bytes);
        api_response_init(&rs);
        fill_request(&fr, &rq, ++serial);
        read_body(&fr, &rq, &body, cfg.max_body_bytes);
        ensure_db(&ctx, &last_try);
        api_handle(&ctx, &rq, &rs);
        if (rs.status == 503 && ctx.db) {
            /* The connection died under us: drop it so the next request reconnects. */
            db_close(ctx.db);
            ctx.db = NULL;
            last_try = 0;
        }
        if (rs.status >= 500)
            log_warn("%s %s -> %d", rq.method, rq.path, rs.status);
        else
            log_debug("%s %s -> %d", rq.method, rq.path, rs.status);
        write_response(&fr, &rs);
        FCGX_Finish_r(&fr);
        log_set_context(NULL);
        api_response_free(&rs);
        buf_free(&body);
        in_request = 0;
    }
    db_close(ctx.db);
    mysql_library_end();
    config_free(&cfg);
    log_close();
    return 0;
}
