#ifndef VF_DB_JOBS_H
#define VF_DB_JOBS_H
/* The job store: ALL SQL of the jobs and job_events tables.
 *
 * Every state change is one transaction that updates `jobs` and inserts its
 * `job_events` row, and asks job_transition_allowed() first. Functions that
 * act for a worker take its lease name and do nothing (VF_ECANCELLED) when
 * the worker no longer holds the lease. */
#include <stdint.h>
#include "core/err.h"
#include "db/db.h"
#include "db/job_state.h"

struct job {
    long long id, owner_id;
    char owner_name[64];
    enum job_mode mode;
    enum job_state state;
    char *topic;
    char *options_json;
    char *script_json;          /* NULL until the script step */
    char *usage_json;           /* token usage of the script writer, or NULL */
    int has_video;
    char *video_key;
    double video_duration_s;
    long long video_size_bytes;
    int video_width, video_height;
    char video_sha256[65];
    double render_seconds;
    enum job_step error_step;
    char *error_message;
    enum job_step progress_step;
    int progress_percent;
    char *progress_message;
    enum job_step next_step;
    int attempts;
    int cancel_requested;
    int leased;
    char created_at[32], updated_at[32];   /* "2026-11-24T10:00:00.123Z" */
};

void job_free(struct job *j);

/* ---- for the API ---- */

/* Inserts an IDLE job with next_step=script and its first event. */
enum vf_rc jobs_create(struct db *db, long long owner_id, enum job_mode mode, const char *topic,
                       const char *options_json, long long *id, struct vf_err *err);
/* VF_ENOTFOUND for a missing or deleted job. owner_id < 0: any owner. */
enum vf_rc jobs_get(struct db *db, long long id, long long owner_id, struct job *out,
                    struct vf_err *err);
/* Newest first. owner_id < 0: all owners; state < 0: any state; before_id 0: from the newest.
 * *out is a new array of n jobs (free each with job_free, then free(*out)). */
enum vf_rc jobs_list(struct db *db, long long owner_id, int state, long long before_id, int limit,
                     struct job **out, int *n, struct vf_err *err);
enum vf_rc jobs_count_unfinished(struct db *db, long long owner_id, long long *count,
                                 struct vf_err *err);

/* A person asks for the next step: from → running state of step, next_step=step.
 * VF_EINVAL when the job is not in `from` (the API answers 409). */
enum vf_rc jobs_request_step(struct db *db, long long id, enum job_state from,
                             enum job_step step, struct vf_err *err);
/* Replaces the script; only in SCRIPT_READY (else VF_EINVAL). */
enum vf_rc jobs_update_script(struct db *db, long long id, const char *script_json,
                              struct vf_err *err);
/* FAILED → the failed step again, attempts reset. VF_EINVAL when not FAILED. */
enum vf_rc jobs_retry(struct db *db, long long id, struct vf_err *err);
/* An idle or waiting job is cancelled at once; one a worker holds gets
 * cancel_requested and the worker stops it. VF_EINVAL when already finished. */
enum vf_rc jobs_cancel(struct db *db, long long id, struct vf_err *err);
/* Marks the job deleted; VF_EINVAL while a worker holds it. */
enum vf_rc jobs_delete(struct db *db, long long id, struct vf_err *err);

/* ---- for the worker ---- */

/* Reopens jobs whose lease expired (their worker died). */
enum vf_rc jobs_reclaim_expired(struct db *db, int *reclaimed, struct vf_err *err);
/* Claims the oldest runnable job (FOR UPDATE SKIP LOCKED), leases it to
 * `worker` for lease_s, bumps attempts, and moves IDLE → GENERATING_SCRIPT
 * when the step is the script. *got = 0 when there is nothing to do. */
enum vf_rc jobs_claim(struct db *db, const char *worker, int lease_s, struct job *out, int *got,
                      struct vf_err *err);
/* Extends the lease; *lost = 1 when the lease is gone, *cancel = 1 when a
 * person asked to cancel. */
enum vf_rc jobs_heartbeat(struct db *db, long long id, const char *worker, int lease_s,
                          int *lost, int *cancel, struct vf_err *err);
/* Stores a progress report and its event (no state change). */
enum vf_rc jobs_progress(struct db *db, long long id, const char *worker, enum job_step step,
                         int percent, const char *message, struct vf_err *err);
/* Adds a log event for the job. level: "debug" "info" "warn" "error". */
enum vf_rc jobs_log(struct db *db, long long id, const char *level, const char *message,
                    struct vf_err *err);

struct job_video {
    const char *key;            /* store key of video.mp4 */
    double duration_s;
    long long size_bytes;
    int width, height;
    const char *sha256;
    double render_seconds;
};

/* A step finished: stores its product (script_json+usage_json for the script
 * step, video for the render step, nothing for finalize), moves the job to
 * the state that follows and releases the lease. */
enum vf_rc jobs_step_done(struct db *db, long long id, const char *worker, enum job_step step,
                          const char *script_json, const char *usage_json,
                          const struct job_video *video, struct vf_err *err);
/* A transient failure: release the lease and run again after delay_s, or fail
 * the job when attempts reached max_attempts. *failed tells which. */
enum vf_rc jobs_step_retry_later(struct db *db, long long id, const char *worker,
                                 enum job_step step, const char *message, double delay_s,
                                 int max_attempts, int *failed, struct vf_err *err);
/* A permanent failure: → FAILED with error step and message. */
enum vf_rc jobs_step_fail(struct db *db, long long id, const char *worker, enum job_step step,
                          const char *message, struct vf_err *err);
/* The worker honours a cancel request: → CANCELLED. */
enum vf_rc jobs_step_cancelled(struct db *db, long long id, const char *worker,
                               struct vf_err *err);
/* The worker is stopping: give the job back untouched (attempt not counted). */
enum vf_rc jobs_step_release(struct db *db, long long id, const char *worker,
                             struct vf_err *err);
/* Records that a worker is alive (for /api/health). */
enum vf_rc jobs_worker_seen(struct db *db, const char *worker, struct vf_err *err);
enum vf_rc jobs_workers_recent(struct db *db, int seconds, long long *count, struct vf_err *err);

/* ---- for the event streams ---- */

struct job_event {
    long long id, job_id, owner_id;
    char at[32];
    char type[12];          /* "state" "progress" "log" */
    char state[24];         /* "" when none */
    char step[12];          /* "" when none */
    int percent;            /* -1 when none */
    char level[8];          /* "" when none */
    char *message;          /* NULL when none */
};
void job_event_free(struct job_event *e);

/* Events with id > after_id, oldest first, at most limit. owner_id < 0: any
 * owner; job_id 0: any job. *out is a new array (free each, then free(*out)). */
enum vf_rc jobs_events_after(struct db *db, long long after_id, long long owner_id,
                             long long job_id, int limit, struct job_event **out, int *n,
                             struct vf_err *err);
/* The newest event id (0 when none). */
enum vf_rc jobs_events_max_id(struct db *db, long long *max_id, struct vf_err *err);

#endif
