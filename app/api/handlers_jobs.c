/* /api/jobs: create, list, read, step, edit, retry, cancel, delete, media. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/config.h"
#include "core/log.h"
#include "script/options.h"
#include "script/script.h"
#include "store/store.h"

/* Admins see every job; everyone else only their own. */
static long long visible_owner(const struct api_ctx *ctx)
{
    return ctx->user.is_admin ? -1 : ctx->user.id;
}

static void respond_job(struct api_ctx *ctx, long long id, int status, struct api_response *rs)
{
    struct job j;
    struct vf_err err = {0};
    enum vf_rc rc = jobs_get(ctx->db, id, visible_owner(ctx), &j, &err);
    if (rc != VF_OK) {
        api_respond_store_error(rs, rc, &err);
        return;
    }
    api_respond_json(rs, status, json_pack("{s:o}", "job", api_job_json(&j, 1)));
    job_free(&j);
}

/* Loads the caller's job; answers 404/503 itself and returns -1 when it cannot. */
static int load_own_job(struct api_ctx *ctx, long long id, struct job *j, struct api_response *rs)
{
    struct vf_err err = {0};
    enum vf_rc rc = jobs_get(ctx->db, id, visible_owner(ctx), j, &err);
    if (rc != VF_OK) {
        api_respond_store_error(rs, rc, &err);
        return -1;
    }
    return 0;
}

typedef enum vf_rc (*job_op)(struct db *db, long long id, struct vf_err *err);

/* Runs a job-store change on the caller's job. Returns 0 when it was made;
 * -1 after answering (404 for another user's job, 409, 503). */
static int act_on_own_job(struct api_ctx *ctx, long long id, job_op op, struct api_response *rs)
{
    struct job j;
    if (load_own_job(ctx, id, &j, rs) != 0)
        return -1;
    job_free(&j);
    struct vf_err err = {0};
    enum vf_rc rc = op(ctx->db, id, &err);
    if (rc != VF_OK) {
        api_respond_store_error(rs, rc, &err);
        return -1;
    }
    return 0;
}

static void create_job(struct api_ctx *ctx, const struct api_request *rq, enum job_mode mode,
                       struct api_response *rs)
{
    json_t *body = api_parse_json_body(rq, rs);
    if (!body)
        return;
    char *topic = NULL;
    char *options_text = NULL;
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val) {
        if (strcmp(key, "topic") != 0 && strcmp(key, "options") != 0) {
            api_respond_error(rs, 400, "unknown_field", key, "unknown field %.64s", key);
            goto out;
        }
    }
    json_t *jt = json_object_get(body, "topic");
    if (!jt) {
        api_respond_error(rs, 400, "missing_field", "topic", "send a topic");
        goto out;
    }
    if (!json_is_string(jt) || strlen(json_string_value(jt)) != json_string_length(jt)) {
        api_respond_error(rs, 400, "invalid_field", "topic", "the topic must be a string");
        goto out;
    }
    char why[160];
    topic = api_clean_topic(json_string_value(jt), why, sizeof(why));
    if (!topic) {
        api_respond_error(rs, 400, "invalid_field", "topic", "%s", why);
        goto out;
    }
    struct job_options opt;
    struct field_error fe = {0};
    job_options_defaults(&opt, ctx->cfg);
    json_t *jo = json_object_get(body, "options");
    if (jo && json_is_null(jo))
        jo = NULL;
    if (jo && !json_is_object(jo)) {
        api_respond_error(rs, 400, "invalid_field", "options", "options must be an object");
        goto out;
    }
    if (job_options_parse(jo, &opt, &fe) != 0) {
        api_respond_error(rs, 400, fe.kind == FE_UNKNOWN ? "unknown_field" : "invalid_option",
                          fe.field, "%s: %s", fe.field, fe.message);
        goto out;
    }
    json_t *normal = job_options_to_json(&opt);
    options_text = normal ? json_dumps(normal, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(normal);
    if (!options_text) {
        api_respond_error(rs, 500, "internal", NULL, "out of memory");
        goto out;
    }
    struct vf_err err = {0};
    long long unfinished = 0;
    enum vf_rc rc = jobs_count_unfinished(ctx->db, ctx->user.id, &unfinished, &err);
    if (rc == VF_OK && unfinished >= ctx->cfg->max_unfinished_jobs) {
        api_respond_error(rs, 429, "too_many_jobs", NULL,
                          "you have %lld unfinished jobs; wait for one to finish or cancel one",
                          unfinished);
        goto out;
    }
    long long id = 0;
    if (rc == VF_OK)
        rc = jobs_create(ctx->db, ctx->user.id, mode, topic, options_text, &id, &err);
    if (rc != VF_OK) {
        api_respond_store_error(rs, rc, &err);
        goto out;
    }
    log_info("job %lld created (%s)", id, job_mode_name(mode));
    respond_job(ctx, id, 202, rs);
out:
    free(topic);
    free(options_text);
    json_decref(body);
}

void api_jobs_generate(struct api_ctx *ctx, const struct api_request *rq,
                       const struct api_params *pp, struct api_response *rs)
{
    (void)pp;
    create_job(ctx, rq, JOB_FULL, rs);
}

void api_jobs_step_script(struct api_ctx *ctx, const struct api_request *rq,
                          const struct api_params *pp, struct api_response *rs)
{
    (void)pp;
    create_job(ctx, rq, JOB_SEMI, rs);
}

void api_jobs_list(struct api_ctx *ctx, const struct api_request *rq,
                   const struct api_params *pp, struct api_response *rs)
{
    (void)pp;
    static const char *const known[] = {"state", "limit", "before", NULL};
    char v[32];
    if (api_query_check(rq->query, known, v, sizeof(v)) != 0) {
        api_respond_error(rs, 400, "invalid_query", v,
                          "the query may hold state, limit and before, each once (not \"%s\")", v);
        return;
    }
    int state = -1, limit = 20;
    long long before = 0;
    enum job_state wanted;
    int found = api_query_param(rq->query, "state", v, sizeof(v));
    if (found > 0 && v[0] && job_state_parse(v, &wanted) == 0)
        state = (int)wanted;
    else if (found < 0 || (found > 0 && v[0])) {
        api_respond_error(rs, 400, "invalid_query", "state", "state must be one of the job states");
        return;
    }
    found = api_query_param(rq->query, "limit", v, sizeof(v));
    if (found) {
        long long n;
        if (found < 0 || api_parse_id(v, strlen(v), &n) != 0 || n > 100) {
            api_respond_error(rs, 400, "invalid_query", "limit", "limit must be 1 to 100");
            return;
        }
        limit = (int)n;
    }
    found = api_query_param(rq->query, "before", v, sizeof(v));
    if (found && (found < 0 || api_parse_id(v, strlen(v), &before) != 0)) {
        api_respond_error(rs, 400, "invalid_query", "before", "before must be a job id");
        return;
    }
    struct job *jobs = NULL;
    int n = 0;
    struct vf_err err = {0};
    enum vf_rc rc = jobs_list(ctx->db, visible_owner(ctx), state, before, limit + 1, &jobs, &n, &err);
    if (rc != VF_OK) {
        api_respond_store_error(rs, rc, &err);
        return;
    }
    json_t *arr = json_array();
    int shown = n > limit ? limit : n;
    for (int i = 0; i < shown; i++)
        json_array_append_new(arr, api_job_json(&jobs[i], 0));
    json_t *next = n > limit ? json_integer(jobs[shown - 1].id) : json_null();
    for (int i = 0; i < n; i++)
        job_free(&jobs[i]);
    free(jobs);
    api_respond_json(rs, 200, json_pack("{s:o, s:o}", "jobs", arr, "next_before", next));
}

void api_jobs_get(struct api_ctx *ctx, const struct api_request *rq, const struct api_params *pp,
                  struct api_response *rs)
{
    (void)rq;
    respond_job(ctx, pp->id, 200, rs);
}

void api_jobs_delete(struct api_ctx *ctx, const struct api_request *rq,
                     const struct api_params *pp, struct api_response *rs)
{
    (void)rq;
    if (act_on_own_job(ctx, pp->id, jobs_delete, rs) != 0)
        return;
    struct vf_err err = {0};
    if (store_delete_job(ctx->cfg, pp->id, &err) != VF_OK)
        log_warn("job %lld deleted but its files stay: %s", pp->id, err.text);
    rs->status = 204;
}

static enum vf_rc step_video_op(struct db *db, long long id, struct vf_err *err)
{
    return jobs_request_step(db, id, JS_SCRIPT_READY, STEP_RENDER, err);
}

static enum vf_rc step_finalize_op(struct db *db, long long id, struct vf_err *err)
{
    return jobs_request_step(db, id, JS_VIDEO_READY, STEP_FINALIZE, err);
}

/* A change on the caller's job, answered with the job as it is now. */
static void act_and_respond(struct api_ctx *ctx, long long id, job_op op, struct api_response *rs)
{
    if (act_on_own_job(ctx, id, op, rs) == 0)
        respond_job(ctx, id, 202, rs);
}

void api_jobs_step_video(struct api_ctx *ctx, const struct api_request *rq,
                         const struct api_params *pp, struct api_response *rs)
{
    (void)rq;
    act_and_respond(ctx, pp->id, step_video_op, rs);
}

void api_jobs_step_finalize(struct api_ctx *ctx, const struct api_request *rq,
                            const struct api_params *pp, struct api_response *rs)
{
    (void)rq;
    act_and_respond(ctx, pp->id, step_finalize_op, rs);
}

static void respond_script_errors(struct api_response *rs, const struct script_errors *errs)
{
    char sentence[512];
    script_errors_format(errs, sentence, sizeof(sentence));
    json_t *fields = json_array();
    for (int i = 0; i < errs->count; i++)
        json_array_append_new(fields, json_pack("{s:s, s:s}", "field", errs->items[i].field,
                                                "message", errs->items[i].message));
    json_t *e = json_pack("{s:s, s:s, s:o}", "code", "invalid_script", "message", sentence,
                          "fields", fields);
    api_respond_json(rs, 400, json_pack("{s:o}", "error", e));
}

void api_jobs_put_script(struct api_ctx *ctx, const struct api_request *rq,
                         const struct api_params *pp, struct api_response *rs)
{
    json_t *body = api_parse_json_body(rq, rs);
    if (!body)
        return;
    struct job j;
    int loaded = 0;
    char *text = NULL;
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val) {
        if (strcmp(key, "script") != 0) {
            api_respond_error(rs, 400, "unknown_field", key, "unknown field %.64s", key);
            goto out;
        }
    }
    json_t *script = json_object_get(body, "script");
    if (!script) {
        api_respond_error(rs, 400, "missing_field", "script", "send the script");
        goto out;
    }
    if (load_own_job(ctx, pp->id, &j, rs) != 0)
        goto out;
    loaded = 1;
    struct job_options opt;
    struct field_error fe;
    job_options_defaults(&opt, ctx->cfg);
    json_t *stored = j.options_json ? json_loads(j.options_json, 0, NULL) : NULL;
    opt.cfg = NULL;     /* accepted with the job; not checked again */
    (void)job_options_parse(stored, &opt, &fe);
    opt.cfg = ctx->cfg;
    json_decref(stored);
    struct script_errors errs = {0};
    if (script_validate(script, &opt, &errs) != 0) {
        respond_script_errors(rs, &errs);
        goto out;
    }
    script_normalize(script, &opt);
    text = json_dumps(script, JSON_COMPACT);
    struct vf_err err = {0};
    enum vf_rc rc = text ? jobs_update_script(ctx->db, pp->id, text, &err) : VF_ENOMEM;
    if (rc != VF_OK) {
        api_respond_store_error(rs, rc, &err);
        goto out;
    }
    /* Keep the stored script.json the same as the job's script. */
    char skey[64];
    store_job_key(skey, sizeof(skey), pp->id, "script.json");
    if (store_put_bytes(ctx->cfg, skey, text, strlen(text), "application/json", &err) != VF_OK)
        log_warn("job %lld: edited script not stored: %s", pp->id, err.text);
    respond_job(ctx, pp->id, 200, rs);
out:
    if (loaded)
        job_free(&j);
    free(text);
    json_decref(body);
}

void api_jobs_retry(struct api_ctx *ctx, const struct api_request *rq,
                    const struct api_params *pp, struct api_response *rs)
{
    (void)rq;
    act_and_respond(ctx, pp->id, jobs_retry, rs);
}

void api_jobs_cancel(struct api_ctx *ctx, const struct api_request *rq,
                    const struct api_params *pp, struct api_response *rs)
{
    (void)rq;
    act_and_respond(ctx, pp->id, jobs_cancel, rs);
}

static const struct {
    const char *name;
    const char *content_type;
    int needs_video;
} media_files[] = {
    {"video.mp4", "video/mp4", 1},
    {"thumb.jpg", "image/jpeg", 1},
    {"captions.vtt", "text/vtt; charset=utf-8", 1},
    {"captions.srt", "application/x-subrip; charset=utf-8", 1},
    {"script.json", "application/json", 0},
};

void api_jobs_media(struct api_ctx *ctx, const struct api_request *rq,
                    const struct api_params *pp, struct api_response *rs)
{
    /* ?download or ?download=1 asks for an attachment; anything else is a mistake. */
    char v[8];
    int download = api_query_param(rq->query, "download", v, sizeof(v));
    if (download < 0 || (download == 1 && v[0] && strcmp(v, "1") != 0)) {
        api_respond_error(rs, 400, "invalid_query", "download", "download takes no value or 1");
        return;
    }
    int which = -1;
    for (size_t i = 0; i < sizeof(media_files) / sizeof(media_files[0]); i++)
        if (strcmp(pp->name, media_files[i].name) == 0)
            which = (int)i;
    if (which < 0) {
        api_respond_error(rs, 404, "not_found", NULL,
                          "no such file; a job has video.mp4, thumb.jpg, captions.vtt, "
                          "captions.srt and script.json");
        return;
    }
    struct job j;
    if (load_own_job(ctx, pp->id, &j, rs) != 0)
        return;
    int ready = media_files[which].needs_video ? j.has_video : j.script_json != NULL;
    job_free(&j);
    if (!ready) {
        api_respond_error(rs, 404, "not_found", NULL, "this job has no %s yet", pp->name);
        return;
    }
    char key[96], location[1024];
    int is_redirect = 0;
    struct vf_err err = {0};
    store_job_key(key, sizeof(key), pp->id, pp->name);
    enum vf_rc rc = store_media_location(ctx->cfg, key, location, sizeof(location), &is_redirect,
                                         &err);
    if (rc != VF_OK) {
        api_respond_store_error(rs, rc, &err);
        return;
    }
    if (is_redirect) {
        api_add_header(rs, "Location", location);
        api_add_header(rs, "Cache-Control", "private, no-store");
        rs->status = 302;
        return;
    }
    if (download == 1) {
        char disp[96];
        snprintf(disp, sizeof(disp), "attachment; filename=\"job-%lld-%s\"", pp->id, pp->name);
        api_add_header(rs, "Content-Disposition", disp);
    }
    api_add_header(rs, "X-Accel-Redirect", location);
    rs->content_type = media_files[which].content_type;
    rs->status = 200;
}
