#ifndef VF_API_API_H
#define VF_API_API_H
/* The API's request dispatcher and handlers (one file per resource). The
 * dispatcher checks the route table's flags once (auth, CSRF) and calls the
 * handler; handlers never see FastCGI. */
#include "api/request.h"
#include "auth/auth.h"
#include "db/db.h"
#include "db/jobs.h"

struct vf_config;

struct api_ctx {
    const struct vf_config *cfg;
    struct db *db;              /* NULL while the database is unreachable */
    struct auth_user user;      /* valid for routes with API_AUTH */
    int via_cookie;
};

/* Handles one request: fills rs. Never fails; errors become 4xx/5xx JSON. */
void api_handle(struct api_ctx *ctx, const struct api_request *rq, struct api_response *rs);

/* Route parameters extracted by the dispatcher. */
struct api_params {
    long long id;
    char name[32];
};

typedef void (*api_handler)(struct api_ctx *ctx, const struct api_request *rq,
                            const struct api_params *pp, struct api_response *rs);

/* handlers: auth */
void api_auth_login(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_auth_logout(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_auth_me(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
/* handlers: jobs */
void api_jobs_generate(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_jobs_step_script(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_jobs_list(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_jobs_get(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_jobs_delete(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_jobs_step_video(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_jobs_step_finalize(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_jobs_put_script(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_jobs_retry(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_jobs_cancel(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_jobs_media(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
/* handlers: misc */
void api_options(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);
void api_health(struct api_ctx *, const struct api_request *, const struct api_params *, struct api_response *);

/* Answers a job-store failure with the fitting status (404, 409, 503, 500). */
void api_respond_store_error(struct api_response *rs, enum vf_rc rc, const struct vf_err *err);

/* The job as the API shows it (new reference). with_script: include the script. */
json_t *api_job_json(const struct job *j, int with_script);

#endif
