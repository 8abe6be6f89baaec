/* /api/options and /api/health. */
#include "api/api.h"
#include "script/options.h"

void api_options(struct api_ctx *ctx, const struct api_request *rq, const struct api_params *pp,
                 struct api_response *rs)
{
    (void)rq;
    (void)pp;
    json_t *cat = job_options_catalog(ctx->cfg);
    if (!cat) {
        api_respond_error(rs, 500, "internal", NULL, "cannot list the options");
        return;
    }
    api_respond_json(rs, 200, cat);
}

void api_health(struct api_ctx *ctx, const struct api_request *rq, const struct api_params *pp,
                struct api_response *rs)
{
    (void)rq;
    (void)pp;
    struct vf_err err = {0};
    long long workers = 0;
    if (!ctx->db || db_ping(ctx->db, &err) != VF_OK ||
        jobs_workers_recent(ctx->db, 60, &workers, &err) != VF_OK) {
        api_respond_json(rs, 503, json_pack("{s:s, s:s, s:{s:s, s:s}}", "status", "unavailable",
                                            "db", "down", "error", "code", "db_unavailable",
                                            "message", "the database cannot be reached"));
        return;
    }
    api_respond_json(rs, 200, json_pack("{s:s, s:s, s:I}", "status", "ok", "db", "ok", "workers",
                                        (json_int_t)workers));
}
