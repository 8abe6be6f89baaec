/* The route table and the dispatcher: flags are checked once, here. */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"

enum {
    API_AUTH = 1,       /* needs a user */
    API_WRITE = 2,      /* changes state: cookie callers must send X-Requested-With */
    API_DB = 4,         /* needs the database */
};

struct api_route {
    const char *method;
    const char *pattern;    /* segments; ":id" is a job id, ":name" a file name */
    api_handler handler;
    int flags;
};

static const struct api_route routes[] = {
    {"POST", "/api/auth/login", api_auth_login, API_DB},
    {"POST", "/api/auth/logout", api_auth_logout, API_DB | API_AUTH | API_WRITE},
    {"GET", "/api/auth/me", api_auth_me, API_DB | API_AUTH},
    {"POST", "/api/jobs/generate", api_jobs_generate, API_DB | API_AUTH | API_WRITE},
    {"POST", "/api/jobs/step-script", api_jobs_step_script, API_DB | API_AUTH | API_WRITE},
    {"GET", "/api/jobs", api_jobs_list, API_DB | API_AUTH},
    {"GET", "/api/jobs/:id", api_jobs_get, API_DB | API_AUTH},
    {"DELETE", "/api/jobs/:id", api_jobs_delete, API_DB | API_AUTH | API_WRITE},
    {"POST", "/api/jobs/:id/step-video", api_jobs_step_video, API_DB | API_AUTH | API_WRITE},
    {"POST", "/api/jobs/:id/step-finalize", api_jobs_step_finalize, API_DB | API_AUTH | API_WRITE},
    {"PUT", "/api/jobs/:id/script", api_jobs_put_script, API_DB | API_AUTH | API_WRITE},
    {"POST", "/api/jobs/:id/retry", api_jobs_retry, API_DB | API_AUTH | API_WRITE},
    {"POST", "/api/jobs/:id/cancel", api_jobs_cancel, API_DB | API_AUTH | API_WRITE},
    {"GET", "/api/jobs/:id/media/:name", api_jobs_media, API_DB | API_AUTH},
    {"GET", "/api/options", api_options, API_DB | API_AUTH},
    {"GET", "/api/health", api_health, 0},
};
#define ROUTE_COUNT (sizeof(routes) / sizeof(routes[0]))

enum match { NO_MATCH, MATCH, BAD_ID };

/* Matches path against pattern, segment by segment. */
static enum match route_match(const char *pattern, const char *path, struct api_params *pp)
{
    const char *p = pattern, *s = path;
    int bad_id = 0;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return NO_MATCH;
        p++;
        s++;
        const char *pe = strchr(p, '/'), *se = strchr(s, '/');
        size_t plen = pe ? (size_t)(pe - p) : strlen(p);
        size_t slen = se ? (size_t)(se - s) : strlen(s);
        if (plen == 3 && strncmp(p, ":id", 3) == 0) {
            if (api_parse_id(s, slen, &pp->id) != 0)
                bad_id = 1;
        } else if (plen == 5 && strncmp(p, ":name", 5) == 0) {
            if (slen == 0 || slen >= sizeof(pp->name))
                return NO_MATCH;
            memcpy(pp->name, s, slen);
            pp->name[slen] = '\0';
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return NO_MATCH;
        }
        p += plen;
        s += slen;
    }
    if (*p || *s)
        return NO_MATCH;
    return bad_id ? BAD_ID : MATCH;
}

/* Literal routes win over ":id" ones, so "/api/jobs/generate" is never an id. */
static const struct api_route *route_find(const struct api_request *rq, struct api_params *pp,
                                          int *path_known, int *bad_id)
{
    *path_known = 0;
    *bad_id = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < ROUTE_COUNT; i++) {
            int literal = strchr(routes[i].pattern, ':') == NULL;
            if (literal != (pass == 0))
                continue;
            struct api_params tmp = {0};
            enum match m = route_match(routes[i].pattern, rq->path, &tmp);
            if (m == NO_MATCH)
                continue;
            *path_known = 1;
            if (strcmp(routes[i].method, rq->method) != 0)
                continue;
            if (m == BAD_ID) {
                *bad_id = 1;
                return NULL;
            }
            *pp = tmp;
            return &routes[i];
        }
        if (*path_known)
            return NULL;
    }
    return NULL;
}

void api_handle(struct api_ctx *ctx, const struct api_request *rq, struct api_response *rs)
{
    struct api_params pp = {0};
    int path_known, bad_id;
    const struct api_route *r = route_find(rq, &pp, &path_known, &bad_id);
    if (bad_id) {
        api_respond_error(rs, 400, "invalid_id", NULL, "a job id is a positive whole number");
        return;
    }
    if (!r) {
        if (path_known)
            api_respond_error(rs, 405, "method_not_allowed", NULL, "%s is not allowed on %s",
                              rq->method, rq->path);
        else
            api_respond_error(rs, 404, "not_found", NULL, "no such endpoint");
        return;
    }
    if ((r->flags & API_DB) && !ctx->db) {
        api_respond_error(rs, 503, "db_unavailable", NULL,
                          "the database is unavailable; try again in a moment");
        return;
    }
    if (r->flags & API_AUTH) {
        struct vf_err err = {0};
        enum vf_rc rc = auth_identify(ctx->db, rq->cookie, rq->authorization, &ctx->user,
                                      &ctx->via_cookie, &err);
        if (rc == VF_ENOTFOUND) {
            api_respond_error(rs, 401, "unauthorized", NULL,
                              "log in, or send Authorization: Bearer <token>");
            return;
        }
        if (rc != VF_OK) {
            api_respond_store_error(rs, rc, &err);
            return;
        }
        if ((r->flags & API_WRITE) && ctx->via_cookie &&
            (!rq->requested_with || strcmp(rq->requested_with, "vf-dashboard") != 0)) {
            api_respond_error(rs, 403, "csrf_required", NULL,
                              "a browser request that changes data must carry "
                              "X-Requested-With: vf-dashboard");
            return;
        }
        char tag[48];
        snprintf(tag, sizeof(tag), "req=%s user=%lld", rq->request_id, ctx->user.id);
        log_set_context(tag);
    }
    r->handler(ctx, rq, &pp, rs);
}

void api_respond_store_error(struct api_response *rs, enum vf_rc rc, const struct vf_err *err)
{
    switch (rc) {
    case VF_ENOTFOUND:
        api_respond_error(rs, 404, "not_found", NULL, "no such job");
        return;
    case VF_EINVAL:
        api_respond_error(rs, 409, "wrong_state", NULL, "%s", err->text);
        return;
    case VF_EDB:
        api_respond_error(rs, 503, "db_unavailable", NULL,
                          "the database is unavailable; try again in a moment");
        return;
    default:
        log_error("request failed: %s", err->text);
        api_respond_error(rs, 500, "internal", NULL, "something went wrong on our side");
        return;
    }
}
