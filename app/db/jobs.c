/* The job store: all SQL of `jobs` and `job_events`.
 *
 * DESIGN
 * - A state change is one transaction: lock the row (SELECT … FOR UPDATE),
 *   ask job_transition_allowed(), update the row, insert the `state` event.
 *   Deadlocks and lock timeouts retry the whole transaction.
 * - The queue lives in the same row: `next_step` says what a worker should
 *   run, `run_after` when, `lease_owner`/`lease_until` who holds it. The
 *   generated column `runnable` and the index (runnable, id) make the claim a
 *   one-row lock even under SKIP LOCKED (PROTOCOLS §5.2).
 * - Worker-side writes are conditional on the lease, so a worker that lost
 *   its lease (it stalled, someone reclaimed the job) cannot overwrite the
 *   work of the one that holds it now. */
#include "db/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define JOB_COLUMNS \
    "j.id, j.owner_id, u.username, j.mode, j.state, j.topic, j.options, j.script, j.usage_json, " \
    "j.video_key, j.video_duration_s, j.video_size_bytes, j.video_width, j.video_height, " \
    "j.video_sha256, j.render_seconds, j.error_step, j.error_message, j.progress_step, " \
    "j.progress_percent, j.progress_message, j.next_step, j.attempts, j.cancel_requested, " \
    "j.lease_owner IS NOT NULL, j.created_at, j.updated_at"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* "2026-11-24 10:00:00.123" → "2026-11-24T10:00:00.123Z" */
static void iso_time(const char *db_time, char out[32])
{
    if (!db_time) {
        out[0] = '\0';
        return;
    }
    snprintf(out, 32, "%.23sZ", db_time);
    if (strlen(out) > 10 && out[10] == ' ')
        out[10] = 'T';
}

static void job_from_row(const struct db_result *r, int row, struct job *j)
{
    memset(j, 0, sizeof(*j));
    j->id = db_cell_int(r, row, 0, 0);
    j->owner_id = db_cell_int(r, row, 1, 0);
    vf_strlcpy(j->owner_name, db_cell(r, row, 2) ? db_cell(r, row, 2) : "", sizeof(j->owner_name));
    (void)job_mode_parse(db_cell(r, row, 3), &j->mode);
    (void)job_state_parse(db_cell(r, row, 4), &j->state);
    j->topic = dup_or_null(db_cell(r, row, 5));
    j->options_json = dup_or_null(db_cell(r, row, 6));
    j->script_json = dup_or_null(db_cell(r, row, 7));
    j->usage_json = dup_or_null(db_cell(r, row, 8));
    j->video_key = dup_or_null(db_cell(r, row, 9));
    j->has_video = j->video_key != NULL;
    j->video_duration_s = db_cell(r, row, 10) ? strtod(db_cell(r, row, 10), NULL) : 0;
    j->video_size_bytes = db_cell_int(r, row, 11, 0);
    j->video_width = (int)db_cell_int(r, row, 12, 0);
    j->video_height = (int)db_cell_int(r, row, 13, 0);
    vf_strlcpy(j->video_sha256, db_cell(r, row, 14) ? db_cell(r, row, 14) : "",
               sizeof(j->video_sha256));
    j->render_seconds = db_cell(r, row, 15) ? strtod(db_cell(r, row, 15), NULL) : 0;
    j->error_step = job_step_parse(db_cell(r, row, 16));
    j->error_message = dup_or_null(db_cell(r, row, 17));
    j->progress_step = job_step_parse(db_cell(r, row, 18));
    j->progress_percent = (int)db_cell_int(r, row, 19, 0);
    j->progress_message = dup_or_null(db_cell(r, row, 20));
    j->next_step = job_step_parse(db_cell(r, row, 21));
    j->attempts = (int)db_cell_int(r, row, 22, 0);
    j->cancel_requested = (int)db_cell_int(r, row, 23, 0);
    j->leased = (int)db_cell_int(r, row, 24, 0);
    iso_time(db_cell(r, row, 25), j->created_at);
    iso_time(db_cell(r, row, 26), j->updated_at);
}

void job_free(struct job *j)
{
    if (!j)
        return;
    free(j->topic);
    free(j->options_json);
    free(j->script_json);
    free(j->usage_json);
    free(j->video_key);
    free(j->error_message);
    free(j->progress_message);
    memset(j, 0, sizeof(*j));
}

static struct db_param step_param(enum job_step s)
{
    const char *name = job_step_name(s);
    return name ? DB_STR(name) : DB_NULL;
}

/* ---- events ---- */

static enum vf_rc event_insert(struct db *db, long long job_id, long long owner_id,
                               const char *type, const char *state, enum job_step step,
                               int percent, const char *level, const char *message,
                               struct vf_err *err)
{
    static const char sql[] =
        "INSERT INTO job_events (job_id, owner_id, type, state, step, percent, level, message) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
    char msg[1000];
    if (message)
        vf_utf8_copy(msg, message, sizeof(msg));
    struct db_param p[] = {
        DB_INT(job_id), DB_INT(owner_id), DB_STR(type), DB_STR(state), step_param(step),
        percent >= 0 ? DB_INT(percent) : DB_NULL, DB_STR(level), message ? DB_STR(msg) : DB_NULL,
    };
    return db_exec(db, sql, p, 8, NULL, NULL, err);
}

/* ---- transactions ---- */

typedef enum vf_rc (*tx_body)(struct db *db, void *ctx, struct vf_err *err);

/* Runs body in a transaction, retrying on deadlock or lock timeout. */
static enum vf_rc jobs_tx(struct db *db, int read_committed, tx_body body, void *ctx,
                          struct vf_err *err)
{
    enum vf_rc rc = VF_ETRANSIENT;
    for (int attempt = 0; attempt < 5 && rc == VF_ETRANSIENT; attempt++) {
        rc = db_begin(db, read_committed, err);
        if (rc != VF_OK)
            return rc;
        rc = body(db, ctx, err);
        if (rc == VF_OK)
            rc = db_commit(db, err);
        else
            db_rollback(db);
    }
    return rc;
}

struct locked_job {
    enum job_mode mode;
    enum job_state state;
    long long owner_id;
    int leased;
    int attempts;
    enum job_step next_step, error_step;
    char lease_owner[96];
};

/* Locks the job's row for the rest of the transaction. */
static enum vf_rc job_lock(struct db *db, long long id, struct locked_job *lj, struct vf_err *err)
{
    static const char sql[] =
        "SELECT mode, state, owner_id, lease_owner, attempts, next_step, error_step "
        "FROM jobs WHERE id = ? AND deleted = 0 FOR UPDATE";
    struct db_param p[] = {DB_INT(id)};
    struct db_result r;
    enum vf_rc rc = db_query(db, sql, p, 1, &r, err);
    if (rc != VF_OK)
        return rc;
    if (r.nrows == 0) {
        db_result_free(&r);
        return vf_fail(err, VF_ENOTFOUND, "job %lld not found", id);
    }
    memset(lj, 0, sizeof(*lj));
    (void)job_mode_parse(db_cell(&r, 0, 0), &lj->mode);
    (void)job_state_parse(db_cell(&r, 0, 1), &lj->state);
    lj->owner_id = db_cell_int(&r, 0, 2, 0);
    lj->leased = db_cell(&r, 0, 3) != NULL;
    vf_strlcpy(lj->lease_owner, lj->leased ? db_cell(&r, 0, 3) : "", sizeof(lj->lease_owner));
    lj->attempts = (int)db_cell_int(&r, 0, 4, 0);
    lj->next_step = job_step_parse(db_cell(&r, 0, 5));
    lj->error_step = job_step_parse(db_cell(&r, 0, 6));
    db_result_free(&r);
    return VF_OK;
}

/* Locks the job for a change that only a job in state want may take.
 * refusal states the rule for a job in another state ("only a FAILED job can
 * be retried"); NULL says that the step needs want. */
static enum vf_rc lock_in_state(struct db *db, long long id, enum job_state want,
                                const char *refusal, struct locked_job *lj, struct vf_err *err)
{
    enum vf_rc rc = job_lock(db, id, lj, err);
    if (rc != VF_OK || lj->state == want)
        return rc;
    if (!refusal)
        return vf_fail(err, VF_EINVAL, "the job is %s; this step needs %s",
                       job_state_name(lj->state), job_state_name(want));
    return vf_fail(err, VF_EINVAL, "%s; the job is %s", refusal, job_state_name(lj->state));
}

static enum vf_rc check_lease(const struct locked_job *lj, const char *worker, struct vf_err *err)
{
    if (worker && (!lj->leased || strcmp(lj->lease_owner, worker) != 0))
        return vf_fail(err, VF_ECANCELLED, "the lease on this job was lost");
    return VF_OK;
}

/* The one way a job changes state: checks the state machine, updates the
 * row (next step, lease released when asked) and writes the state event.
 * Must run inside a transaction that holds the row lock (job_lock). */
static enum vf_rc job_move(struct db *db, long long id, const struct locked_job *lj,
                           enum job_state to, enum job_step next, enum job_step event_step,
                           int release_lease, struct vf_err *err)
{
    if (!job_transition_allowed(lj->mode, lj->state, to))
        return vf_fail(err, VF_EINVAL, "a %s job cannot go from %s to %s",
                       job_mode_name(lj->mode), job_state_name(lj->state), job_state_name(to));
    static const char sql[] =
        "UPDATE jobs SET state = ?, next_step = ?, run_after = UTC_TIMESTAMP(3), "
        "lease_owner = IF(?, NULL, lease_owner), lease_until = IF(?, NULL, lease_until), "
        "updated_at = UTC_TIMESTAMP(3) WHERE id = ?";
    struct db_param p[] = {
        DB_STR(job_state_name(to)), step_param(next), DB_INT(release_lease), DB_INT(release_lease),
        DB_INT(id),
    };
    enum vf_rc rc = db_exec(db, sql, p, 5, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    /* A running state names its own step; a waiting or final one names the
     * step that led to it. */
    enum job_step own = job_state_step(to);
    return event_insert(db, id, lj->owner_id, "state", job_state_name(to),
                        own != STEP_NONE ? own : event_step, -1, NULL, NULL, err);
}

/* ---- reads ---- */

enum vf_rc jobs_get(struct db *db, long long id, long long owner_id, struct job *out,
                    struct vf_err *err)
{
    static const char sql[] = "SELECT " JOB_COLUMNS " FROM jobs j JOIN users u ON u.id = j.owner_id "
                              "WHERE j.id = ? AND j.deleted = 0 AND (? < 0 OR j.owner_id = ?)";
    struct db_param p[] = {DB_INT(id), DB_INT(owner_id), DB_INT(owner_id)};
    struct db_result r;
    enum vf_rc rc = db_query(db, sql, p, 3, &r, err);
    if (rc != VF_OK)
        return rc;
    if (r.nrows == 0) {
        db_result_free(&r);
        return vf_fail(err, VF_ENOTFOUND, "job %lld not found", id);
    }
    job_from_row(&r, 0, out);
    db_result_free(&r);
    return VF_OK;
}

enum vf_rc jobs_list(struct db *db, long long owner_id, int state, long long before_id, int limit,
                     struct job **out, int *n, struct vf_err *err)
{
    static const char sql[] =
        "SELECT " JOB_COLUMNS " FROM jobs j JOIN users u ON u.id = j.owner_id "
        "WHERE j.deleted = 0 AND (? < 0 OR j.owner_id = ?) AND (? = '' OR j.state = ?) "
        "AND (? = 0 OR j.id < ?) ORDER BY j.id DESC LIMIT ?";
    const char *state_name = state >= 0 ? job_state_name((enum job_state)state) : "";
    struct db_param p[] = {
        DB_INT(owner_id), DB_INT(owner_id), DB_STR(state_name), DB_STR(state_name),
        DB_INT(before_id), DB_INT(before_id), DB_INT(limit),
    };
    struct db_result r;
    *out = NULL;
    *n = 0;
    enum vf_rc rc = db_query(db, sql, p, 7, &r, err);
    if (rc != VF_OK)
        return rc;
    struct job *jobs = calloc((size_t)r.nrows + 1, sizeof(*jobs));
    if (!jobs) {
        db_result_free(&r);
        return vf_fail(err, VF_ENOMEM, "out of memory");
    }
    for (int i = 0; i < r.nrows; i++)
        job_from_row(&r, i, &jobs[i]);
    *out = jobs;
    *n = r.nrows;
    db_result_free(&r);
    return VF_OK;
}

enum vf_rc jobs_count_unfinished(struct db *db, long long owner_id, long long *count,
                                 struct vf_err *err)
{
    static const char sql[] =
        "SELECT COUNT(*) FROM jobs WHERE owner_id = ? AND deleted = 0 "
        "AND state NOT IN ('COMPLETED', 'FAILED', 'CANCELLED')";
    struct db_param p[] = {DB_INT(owner_id)};
    struct db_result r;
    enum vf_rc rc = db_query(db, sql, p, 1, &r, err);
    if (rc != VF_OK)
        return rc;
    *count = db_cell_int(&r, 0, 0, 0);
    db_result_free(&r);
    return VF_OK;
}

/* ---- API-side changes ---- */

struct create_ctx {
    long long owner_id;
    enum job_mode mode;
    const char *topic, *options_json;
    long long id;
};

static enum vf_rc create_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct create_ctx *c = vctx;
    static const char sql[] =
        "INSERT INTO jobs (owner_id, mode, state, topic, options, next_step, progress_step, "
        "progress_message) VALUES (?, ?, 'IDLE', ?, ?, 'script', 'script', 'waiting for a worker')";
    struct db_param p[] = {DB_INT(c->owner_id), DB_STR(job_mode_name(c->mode)), DB_STR(c->topic),
                           DB_STR(c->options_json)};
    uint64_t id = 0;
    enum vf_rc rc = db_exec(db, sql, p, 4, NULL, &id, err);
    if (rc != VF_OK)
        return rc;
    c->id = (long long)id;
    return event_insert(db, c->id, c->owner_id, "state", "IDLE", STEP_SCRIPT, -1, NULL, NULL, err);
}

enum vf_rc jobs_create(struct db *db, long long owner_id, enum job_mode mode, const char *topic,
                       const char *options_json, long long *id, struct vf_err *err)
{
    struct create_ctx c = {owner_id, mode, topic, options_json, 0};
    enum vf_rc rc = jobs_tx(db, 0, create_body, &c, err);
    if (rc == VF_OK)
        *id = c.id;
    return rc;
}

struct step_ctx {
    long long id;
    enum job_state from;
    enum job_step step;
    const char *text;
};

static enum vf_rc request_step_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct step_ctx *c = vctx;
    struct locked_job lj;
    enum vf_rc rc = lock_in_state(db, c->id, c->from, NULL, &lj, err);
    if (rc != VF_OK)
        return rc;
    static const char sql[] = "UPDATE jobs SET attempts = 0, progress_step = ?, "
                              "progress_percent = 0, progress_message = 'waiting for a worker' "
                              "WHERE id = ?";
    struct db_param p[] = {step_param(c->step), DB_INT(c->id)};
    rc = db_exec(db, sql, p, 2, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    return job_move(db, c->id, &lj, job_step_running_state(c->step), c->step, c->step, 0, err);
}

enum vf_rc jobs_request_step(struct db *db, long long id, enum job_state from,
                             enum job_step step, struct vf_err *err)
{
    struct step_ctx c = {id, from, step, NULL};
    return jobs_tx(db, 0, request_step_body, &c, err);
}

static enum vf_rc update_script_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct step_ctx *c = vctx;
    struct locked_job lj;
    enum vf_rc rc = lock_in_state(db, c->id, JS_SCRIPT_READY,
                                  "the script can be edited only in SCRIPT_READY", &lj, err);
    if (rc != VF_OK)
        return rc;
    static const char sql[] =
        "UPDATE jobs SET script = ?, updated_at = UTC_TIMESTAMP(3) WHERE id = ?";
    struct db_param p[] = {DB_STR(c->text), DB_INT(c->id)};
    rc = db_exec(db, sql, p, 2, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    return event_insert(db, c->id, lj.owner_id, "log", NULL, STEP_SCRIPT, -1, "info",
                        "script edited", err);
}

enum vf_rc jobs_update_script(struct db *db, long long id, const char *script_json,
                              struct vf_err *err)
{
    struct step_ctx c = {id, JS_SCRIPT_READY, STEP_SCRIPT, script_json};
    return jobs_tx(db, 0, update_script_body, &c, err);
}

static enum vf_rc retry_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct step_ctx *c = vctx;
    struct locked_job lj;
    enum vf_rc rc = lock_in_state(db, c->id, JS_FAILED, "only a FAILED job can be retried",
                                  &lj, err);
    if (rc != VF_OK)
        return rc;
    enum job_step step = lj.error_step != STEP_NONE ? lj.error_step : STEP_SCRIPT;
    static const char sql[] =
        "UPDATE jobs SET attempts = 0, cancel_requested = 0, error_step = NULL, "
        "error_message = NULL, progress_step = ?, progress_percent = 0, "
        "progress_message = 'waiting for a worker' WHERE id = ?";
    struct db_param p[] = {step_param(step), DB_INT(c->id)};
    rc = db_exec(db, sql, p, 2, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    enum job_state to = step == STEP_SCRIPT ? JS_IDLE : job_step_running_state(step);
    return job_move(db, c->id, &lj, to, step, step, 0, err);
}

enum vf_rc jobs_retry(struct db *db, long long id, struct vf_err *err)
{
    struct step_ctx c = {id, JS_FAILED, STEP_NONE, NULL};
    return jobs_tx(db, 0, retry_body, &c, err);
}

static enum vf_rc cancel_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct step_ctx *c = vctx;
    struct locked_job lj;
    enum vf_rc rc = job_lock(db, c->id, &lj, err);
    if (rc != VF_OK)
        return rc;
    if (job_state_is_terminal(lj.state))
        return vf_fail(err, VF_EINVAL, "the job is already %s", job_state_name(lj.state));
    if (!lj.leased)
        return job_move(db, c->id, &lj, JS_CANCELLED, STEP_NONE, job_state_step(lj.state), 1,
                        err);
    /* A worker holds it: it sees the flag at its next heartbeat and stops. */
    static const char sql[] = "UPDATE jobs SET cancel_requested = 1 WHERE id = ?";
    struct db_param p[] = {DB_INT(c->id)};
    rc = db_exec(db, sql, p, 1, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    return event_insert(db, c->id, lj.owner_id, "log", NULL, job_state_step(lj.state), -1, "info",
                        "cancel requested", err);
}

enum vf_rc jobs_cancel(struct db *db, long long id, struct vf_err *err)
{
    struct step_ctx c = {id, JS_IDLE, STEP_NONE, NULL};
    return jobs_tx(db, 0, cancel_body, &c, err);
}

static enum vf_rc delete_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct step_ctx *c = vctx;
    struct locked_job lj;
    enum vf_rc rc = job_lock(db, c->id, &lj, err);
    if (rc != VF_OK)
        return rc;
    if (lj.leased)
        return vf_fail(err, VF_EINVAL, "a worker is running this job; cancel it first");
    static const char sql[] =
        "UPDATE jobs SET deleted = 1, next_step = NULL, updated_at = UTC_TIMESTAMP(3) WHERE id = ?";
    struct db_param p[] = {DB_INT(c->id)};
    return db_exec(db, sql, p, 1, NULL, NULL, err);
}

enum vf_rc jobs_delete(struct db *db, long long id, struct vf_err *err)
{
    struct step_ctx c = {id, JS_IDLE, STEP_NONE, NULL};
    return jobs_tx(db, 0, delete_body, &c, err);
}

/* ---- worker-side changes ---- */

enum vf_rc jobs_reclaim_expired(struct db *db, int *reclaimed, struct vf_err *err)
{
    static const char find[] =
        "SELECT id, owner_id, next_step FROM jobs "
        "WHERE lease_owner IS NOT NULL AND lease_until < UTC_TIMESTAMP(3) LIMIT 100";
    static const char reopen[] =
        "UPDATE jobs SET lease_owner = NULL, lease_until = NULL "
        "WHERE id = ? AND lease_owner IS NOT NULL AND lease_until < UTC_TIMESTAMP(3)";
    struct db_result r;
    *reclaimed = 0;
    enum vf_rc rc = db_query(db, find, NULL, 0, &r, err);
    if (rc != VF_OK)
        return rc;
    for (int i = 0; i < r.nrows && rc == VF_OK; i++) {
        struct db_param p[] = {DB_INT(db_cell_int(&r, i, 0, 0))};
        uint64_t affected = 0;
        rc = db_exec(db, reopen, p, 1, &affected, NULL, err);
        if (rc == VF_OK && affected) {
            (*reclaimed)++;
            char msg[160];
            snprintf(msg, sizeof(msg), "the worker running the %s step stopped answering; "
                     "the step will run again", db_cell(&r, i, 2) ? db_cell(&r, i, 2) : "current");
            rc = event_insert(db, db_cell_int(&r, i, 0, 0), db_cell_int(&r, i, 1, 0), "log", NULL,
                              job_step_parse(db_cell(&r, i, 2)), -1, "warn", msg, err);
        }
    }
    db_result_free(&r);
    return rc;
}

struct claim_ctx {
    const char *worker;
    int lease_s;
    long long id;
};

static enum vf_rc claim_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct claim_ctx *c = vctx;
    static const char pick[] =
        "SELECT id FROM jobs WHERE runnable = 1 AND run_after <= UTC_TIMESTAMP(3) "
        "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED";
    static const char lease[] =
        "UPDATE jobs SET lease_owner = ?, lease_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND, "
        "attempts = attempts + 1, progress_step = next_step, progress_percent = 0, "
        "progress_message = CONCAT(next_step, ' started'), updated_at = UTC_TIMESTAMP(3) "
        "WHERE id = ?";
    struct db_result r;
    c->id = 0;
    enum vf_rc rc = db_query(db, pick, NULL, 0, &r, err);
    if (rc != VF_OK)
        return rc;
    long long id = r.nrows ? db_cell_int(&r, 0, 0, 0) : 0;
    db_result_free(&r);
    if (!id)
        return VF_OK;
    struct locked_job lj;
    rc = job_lock(db, id, &lj, err);
    if (rc != VF_OK)
        return rc;
    struct db_param p[] = {DB_STR(c->worker), DB_INT(c->lease_s), DB_INT(id)};
    rc = db_exec(db, lease, p, 3, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    if (lj.next_step == STEP_SCRIPT && lj.state == JS_IDLE) {
        rc = job_move(db, id, &lj, JS_GENERATING_SCRIPT, STEP_SCRIPT, STEP_SCRIPT, 0, err);
        if (rc != VF_OK)
            return rc;
    }
    char msg[64];
    snprintf(msg, sizeof(msg), "%s started", job_step_name(lj.next_step));
    rc = event_insert(db, id, lj.owner_id, "log", NULL, lj.next_step, -1, "info", msg, err);
    if (rc == VF_OK)
        c->id = id;
    return rc;
}

enum vf_rc jobs_claim(struct db *db, const char *worker, int lease_s, struct job *out, int *got,
                      struct vf_err *err)
{
    struct claim_ctx c = {worker, lease_s, 0};
    *got = 0;
    enum vf_rc rc = jobs_tx(db, 1, claim_body, &c, err);
    if (rc != VF_OK || !c.id)
        return rc;
    rc = jobs_get(db, c.id, -1, out, err);
    if (rc == VF_OK)
        *got = 1;
    return rc;
}

enum vf_rc jobs_heartbeat(struct db *db, long long id, const char *worker, int lease_s,
                          int *lost, int *cancel, struct vf_err *err)
{
    static const char renew[] =
        "UPDATE jobs SET lease_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND "
        "WHERE id = ? AND lease_owner = ?";
    static const char check[] =
        "SELECT cancel_requested FROM jobs WHERE id = ? AND lease_owner = ? AND deleted = 0";
    struct db_param p[] = {DB_INT(lease_s), DB_INT(id), DB_STR(worker)};
    enum vf_rc rc = db_exec(db, renew, p, 3, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    struct db_result r;
    rc = db_query(db, check, p + 1, 2, &r, err);
    if (rc != VF_OK)
        return rc;
    *lost = r.nrows == 0;
    *cancel = r.nrows ? (int)db_cell_int(&r, 0, 0, 0) : 0;
    db_result_free(&r);
    return VF_OK;
}

enum vf_rc jobs_progress(struct db *db, long long id, const char *worker, enum job_step step,
                         int percent, const char *message, struct vf_err *err)
{
    static const char sql[] =
        "UPDATE jobs SET progress_step = ?, progress_percent = ?, progress_message = ?, "
        "updated_at = UTC_TIMESTAMP(3) WHERE id = ? AND lease_owner = ?";
    static const char owner[] = "SELECT owner_id FROM jobs WHERE id = ?";
    char msg[255];
    vf_utf8_copy(msg, message ? message : "", sizeof(msg));
    struct db_param p[] = {step_param(step), DB_INT(percent), DB_STR(msg), DB_INT(id),
                           DB_STR(worker)};
    uint64_t affected = 0;
    enum vf_rc rc = db_exec(db, sql, p, 5, &affected, NULL, err);
    if (rc != VF_OK)
        return rc;
    struct db_result r;
    rc = db_query(db, owner, p + 3, 1, &r, err);
    if (rc != VF_OK)
        return rc;
    long long owner_id = db_cell_int(&r, 0, 0, 0);
    db_result_free(&r);
    return event_insert(db, id, owner_id, "progress", NULL, step, percent, NULL, msg, err);
}

enum vf_rc jobs_log(struct db *db, long long id, const char *level, const char *message,
                    struct vf_err *err)
{
    static const char owner[] = "SELECT owner_id, progress_step FROM jobs WHERE id = ?";
    struct db_param p[] = {DB_INT(id)};
    struct db_result r;
    enum vf_rc rc = db_query(db, owner, p, 1, &r, err);
    if (rc != VF_OK)
        return rc;
    long long owner_id = db_cell_int(&r, 0, 0, 0);
    enum job_step step = job_step_parse(db_cell(&r, 0, 1));
    db_result_free(&r);
    return event_insert(db, id, owner_id, "log", NULL, step, -1, level, message, err);
}

struct done_ctx {
    long long id;
    const char *worker;
    enum job_step step;
    const char *script_json, *usage_json;
    const struct job_video *video;
    const char *message;
    double delay_s;
    int max_attempts;
    int failed;
};

/* Locks the job for a worker: VF_ECANCELLED when its lease is gone. */
static enum vf_rc lock_leased(struct db *db, const struct done_ctx *c, struct locked_job *lj,
                              struct vf_err *err)
{
    enum vf_rc rc = job_lock(db, c->id, lj, err);
    return rc == VF_OK ? check_lease(lj, c->worker, err) : rc;
}

static enum vf_rc done_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct done_ctx *c = vctx;
    struct locked_job lj;
    enum vf_rc rc = lock_leased(db, c, &lj, err);
    if (rc != VF_OK)
        return rc;
    if (c->step == STEP_SCRIPT) {
        static const char sql[] = "UPDATE jobs SET script = ?, usage_json = ? WHERE id = ?";
        struct db_param p[] = {DB_STR(c->script_json), DB_STR(c->usage_json), DB_INT(c->id)};
        rc = db_exec(db, sql, p, 3, NULL, NULL, err);
    } else if (c->step == STEP_RENDER && c->video) {
        static const char sql[] =
            "UPDATE jobs SET video_key = ?, video_duration_s = ?, video_size_bytes = ?, "
            "video_width = ?, video_height = ?, video_sha256 = ?, render_seconds = ? WHERE id = ?";
        const struct job_video *v = c->video;
        struct db_param p[] = {DB_STR(v->key), DB_DOUBLE(v->duration_s), DB_INT(v->size_bytes),
                               DB_INT(v->width), DB_INT(v->height), DB_STR(v->sha256),
                               DB_DOUBLE(v->render_seconds), DB_INT(c->id)};
        rc = db_exec(db, sql, p, 8, NULL, NULL, err);
    }
    if (rc != VF_OK)
        return rc;
    static const char progress[] =
        "UPDATE jobs SET attempts = 0, progress_step = ?, progress_percent = 100, "
        "progress_message = ? WHERE id = ?";
    char msg[64];
    snprintf(msg, sizeof(msg), "%s done", job_step_name(c->step));
    struct db_param pp[] = {step_param(c->step), DB_STR(msg), DB_INT(c->id)};
    rc = db_exec(db, progress, pp, 3, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    enum job_state next_state;
    enum job_step next_step;
    job_after_step(lj.mode, c->step, &next_state, &next_step);
    return job_move(db, c->id, &lj, next_state, next_step, c->step, 1, err);
}

enum vf_rc jobs_step_done(struct db *db, long long id, const char *worker, enum job_step step,
                          const char *script_json, const char *usage_json,
                          const struct job_video *video, struct vf_err *err)
{
    struct done_ctx c = {id, worker, step, script_json, usage_json, video, NULL, 0, 0, 0};
    return jobs_tx(db, 0, done_body, &c, err);
}

static enum vf_rc fail_locked(struct db *db, long long id, const struct locked_job *lj,
                              enum job_step step, const char *message, struct vf_err *err)
{
    static const char sql[] =
        "UPDATE jobs SET error_step = ?, error_message = ?, cancel_requested = 0, "
        "progress_message = ? WHERE id = ?";
    char msg[1000];
    char short_msg[250];
    vf_utf8_copy(msg, message ? message : "failed", sizeof(msg));
    vf_utf8_copy(short_msg, msg, sizeof(short_msg));
    struct db_param p[] = {step_param(step), DB_STR(msg), DB_STR(short_msg), DB_INT(id)};
    enum vf_rc rc = db_exec(db, sql, p, 4, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    rc = event_insert(db, id, lj->owner_id, "log", NULL, step, -1, "error", msg, err);
    if (rc != VF_OK)
        return rc;
    return job_move(db, id, lj, JS_FAILED, STEP_NONE, step, 1, err);
}

static enum vf_rc retry_later_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct done_ctx *c = vctx;
    struct locked_job lj;
    enum vf_rc rc = lock_leased(db, c, &lj, err);
    if (rc != VF_OK)
        return rc;
    if (lj.attempts >= c->max_attempts) {
        char msg[1000];
        snprintf(msg, sizeof(msg), "%s (gave up after %d attempts)", c->message, lj.attempts);
        c->failed = 1;
        return fail_locked(db, c->id, &lj, c->step, msg, err);
    }
    static const char sql[] =
        "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, "
        "run_after = UTC_TIMESTAMP(3) + INTERVAL ? SECOND_MICROSECOND WHERE id = ?";
    /* INTERVAL 'S.ffffff' SECOND_MICROSECOND takes the delay with sub-second precision. */
    char delay[32];
    snprintf(delay, sizeof(delay), "%.6f", c->delay_s);
    struct db_param p[] = {DB_STR(delay), DB_INT(c->id)};
    rc = db_exec(db, sql, p, 2, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    char msg[1000];
    snprintf(msg, sizeof(msg), "%s failed (attempt %d of %d), trying again in %.1f s: %s",
             job_step_name(c->step), lj.attempts, c->max_attempts, c->delay_s, c->message);
    return event_insert(db, c->id, lj.owner_id, "log", NULL, c->step, -1, "warn", msg, err);
}

enum vf_rc jobs_step_retry_later(struct db *db, long long id, const char *worker,
                                 enum job_step step, const char *message, double delay_s,
                                 int max_attempts, int *failed, struct vf_err *err)
{
    struct done_ctx c = {id, worker, step, NULL, NULL, NULL, message, delay_s, max_attempts, 0};
    enum vf_rc rc = jobs_tx(db, 0, retry_later_body, &c, err);
    *failed = c.failed;
    return rc;
}

static enum vf_rc fail_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct done_ctx *c = vctx;
    struct locked_job lj;
    enum vf_rc rc = lock_leased(db, c, &lj, err);
    if (rc != VF_OK)
        return rc;
    return fail_locked(db, c->id, &lj, c->step, c->message, err);
}

enum vf_rc jobs_step_fail(struct db *db, long long id, const char *worker, enum job_step step,
                          const char *message, struct vf_err *err)
{
    struct done_ctx c = {id, worker, step, NULL, NULL, NULL, message, 0, 0, 0};
    return jobs_tx(db, 0, fail_body, &c, err);
}

static enum vf_rc cancelled_body(struct db *db, void *vctx, struct vf_err *err)
{
    struct done_ctx *c = vctx;
    struct locked_job lj;
    enum vf_rc rc = lock_leased(db, c, &lj, err);
    if (rc != VF_OK)
        return rc;
    static const char sql[] = "UPDATE jobs SET progress_message = 'cancelled' WHERE id = ?";
    struct db_param p[] = {DB_INT(c->id)};
    rc = db_exec(db, sql, p, 1, NULL, NULL, err);
    if (rc != VF_OK)
        return rc;
    return job_move(db, c->id, &lj, JS_CANCELLED, STEP_NONE, job_state_step(lj.state), 1, err);
}

enum vf_rc jobs_step_cancelled(struct db *db, long long id, const char *worker,
                               struct vf_err *err)
{
    struct done_ctx c = {id, worker, STEP_NONE, NULL, NULL, NULL, NULL, 0, 0, 0};
    return jobs_tx(db, 0, cancelled_body, &c, err);
}

enum vf_rc jobs_step_release(struct db *db, long long id, const char *worker,
                             struct vf_err *err)
{
    static const char sql[] =
        "UPDATE jobs SET lease_owner = NULL, lease_until = NULL, "
        "attempts = IF(attempts > 0, attempts - 1, 0), run_after = UTC_TIMESTAMP(3) "
        "WHERE id = ? AND lease_owner = ?";
    struct db_param p[] = {DB_INT(id), DB_STR(worker)};
    uint64_t affected = 0;
    enum vf_rc rc = db_exec(db, sql, p, 2, &affected, NULL, err);
    if (rc != VF_OK || !affected)
        return rc;
    return jobs_log(db, id, "info", "the worker stopped; the step was handed back to the queue",
                    err);
}

enum vf_rc jobs_worker_seen(struct db *db, const char *worker, struct vf_err *err)
{
    static const char sql[] =
        "INSERT INTO workers (name) VALUES (?) ON DUPLICATE KEY UPDATE seen_at = UTC_TIMESTAMP(3)";
    struct db_param p[] = {DB_STR(worker)};
    return db_exec(db, sql, p, 1, NULL, NULL, err);
}

enum vf_rc jobs_workers_recent(struct db *db, int seconds, long long *count, struct vf_err *err)
{
    static const char sql[] =
        "SELECT COUNT(*) FROM workers WHERE seen_at > UTC_TIMESTAMP(3) - INTERVAL ? SECOND";
    struct db_param p[] = {DB_INT(seconds)};
    struct db_result r;
    enum vf_rc rc = db_query(db, sql, p, 1, &r, err);
    if (rc != VF_OK)
        return rc;
    *count = db_cell_int(&r, 0, 0, 0);
    db_result_free(&r);
    return VF_OK;
}

/* ---- events for the streams ---- */

void job_event_free(struct job_event *e)
{
    if (!e)
        return;
    free(e->message);
    e->message = NULL;
}

enum vf_rc jobs_events_after(struct db *db, long long after_id, long long owner_id,
                             long long job_id, int limit, struct job_event **out, int *n,
                             struct vf_err *err)
{
    static const char sql[] =
        "SELECT id, job_id, owner_id, at, type, state, step, percent, level, message "
        "FROM job_events WHERE id > ? AND (? < 0 OR owner_id = ?) AND (? = 0 OR job_id = ?) "
        "ORDER BY id LIMIT ?";
    struct db_param p[] = {DB_INT(after_id), DB_INT(owner_id), DB_INT(owner_id), DB_INT(job_id),
                           DB_INT(job_id), DB_INT(limit)};
    struct db_result r;
    *out = NULL;
    *n = 0;
    enum vf_rc rc = db_query(db, sql, p, 6, &r, err);
    if (rc != VF_OK)
        return rc;
    struct job_event *ev = calloc((size_t)r.nrows + 1, sizeof(*ev));
    if (!ev) {
        db_result_free(&r);
        return vf_fail(err, VF_ENOMEM, "out of memory");
    }
    for (int i = 0; i < r.nrows; i++) {
        struct job_event *e = &ev[i];
        e->id = db_cell_int(&r, i, 0, 0);
        e->job_id = db_cell_int(&r, i, 1, 0);
        e->owner_id = db_cell_int(&r, i, 2, 0);
        iso_time(db_cell(&r, i, 3), e->at);
        vf_strlcpy(e->type, db_cell(&r, i, 4) ? db_cell(&r, i, 4) : "", sizeof(e->type));
        vf_strlcpy(e->state, db_cell(&r, i, 5) ? db_cell(&r, i, 5) : "", sizeof(e->state));
        vf_strlcpy(e->step, db_cell(&r, i, 6) ? db_cell(&r, i, 6) : "", sizeof(e->step));
        e->percent = (int)db_cell_int(&r, i, 7, -1);
        vf_strlcpy(e->level, db_cell(&r, i, 8) ? db_cell(&r, i, 8) : "", sizeof(e->level));
        e->message = dup_or_null(db_cell(&r, i, 9));
    }
    *out = ev;
    *n = r.nrows;
    db_result_free(&r);
    return VF_OK;
}

enum vf_rc jobs_events_max_id(struct db *db, long long *max_id, struct vf_err *err)
{
    static const char sql[] = "SELECT COALESCE(MAX(id), 0) FROM job_events";
    struct db_result r;
    enum vf_rc rc = db_query(db, sql, NULL, 0, &r, err);
    if (rc != VF_OK)
        return rc;
    *max_id = db_cell_int(&r, 0, 0, 0);
    db_result_free(&r);
    return VF_OK;
}
