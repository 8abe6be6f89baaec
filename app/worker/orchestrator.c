/* The orchestrator: the script, render and finalize steps. */
#include "worker/orchestrator.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "ledger/ledger.h"
#include "render/render.h"
#include "script/options.h"
#include "script/script.h"
#include "store/store.h"
#include "store/store_local.h"

double orchestrator_backoff(int attempt, double upstream_delay)
{
    if (upstream_delay > 0)
        return upstream_delay;
    double base = 2.0;
    for (int i = 1; i < attempt && base < 60; i++)
        base *= 2;
    if (base > 60)
        base = 60;
    return base * (0.5 + (double)rand() / RAND_MAX / 2);
}

static void job_options_of(const struct step_env *env, struct job_options *opt)
{
    struct field_error fe;
    job_options_defaults(opt, env->cfg);
    json_t *o = env->job->options_json ? json_loads(env->job->options_json, 0, NULL) : NULL;
    /* The API checked these options against the config when it took the job;
     * re-read them as they are, without the checks that depend on files or
     * providers that may have changed since. */
    const struct vf_config *cfg = opt->cfg;
    opt->cfg = NULL;
    int bad = o && job_options_parse(o, opt, &fe) != 0;
    opt->cfg = cfg;
    if (bad)
        log_warn("stored options no longer valid (%s: %s); using defaults for the rest",
                 fe.field, fe.message);
    json_decref(o);
}

static void progress(struct step_env *env, enum job_step step, int percent, const char *msg)
{
    struct vf_err err = {0};
    if (jobs_progress(env->db, env->job->id, env->worker, step, percent, msg, &err) != VF_OK)
        log_warn("progress not recorded: %s", err.text);
}

/* ---- script ---- */

static enum vf_rc step_script(struct step_env *env, char **script_text, char **usage_text,
                              struct vf_err *err)
{
    struct job_options opt;
    job_options_of(env, &opt);
    char msg[96];
    snprintf(msg, sizeof(msg), "writing the script (%s)", opt.script_provider);
    progress(env, STEP_SCRIPT, 10, msg);
    json_t *script = NULL, *usage = NULL;
    enum vf_rc rc = script_write(env->cfg, env->job->topic, &opt, &script, &usage, err);
    if (rc != VF_OK)
        return rc;
    if (*env->stop)
        rc = vf_fail(err, VF_ECANCELLED, "stopped");
    if (rc == VF_OK) {
        *script_text = json_dumps(script, JSON_COMPACT);
        *usage_text = usage ? json_dumps(usage, JSON_COMPACT) : NULL;
        char key[64];
        store_job_key(key, sizeof(key), env->job->id, "script.json");
        rc = store_put_bytes(env->cfg, key, *script_text, strlen(*script_text),
                             "application/json", err);
    }
    json_decref(script);
    json_decref(usage);
    return rc;
}

/* ---- render ---- */

struct render_progress_ctx {
    struct step_env *env;
};

static int on_render_progress(void *ud, int percent, const char *message)
{
    struct render_progress_ctx *c = ud;
    /* Leave the last few percent for storing the files. */
    progress(c->env, STEP_RENDER, percent * 95 / 100, message);
    return *c->env->stop != STOP_NONE;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static const struct {
    const char *name, *content_type;
} render_outputs[] = {
    {"captions.srt", "application/x-subrip"},
    {"captions.vtt", "text/vtt"},
    {"thumb.jpg", "image/jpeg"},
    {"video.mp4", "video/mp4"},     /* last: its presence means the set is complete */
};

static enum vf_rc step_render(struct step_env *env, struct job_video *video, char *key_out,
                              size_t keylen, struct vf_err *err)
{
    struct job_options opt;
    job_options_of(env, &opt);
    if (!env->job->script_json)
        return vf_fail(err, VF_EPERMANENT, "the job has no script to render");
    json_error_t jerr;
    json_t *script = json_loads(env->job->script_json, 0, &jerr);
    if (!script)
        return vf_fail(err, VF_EPERMANENT, "the stored script is not valid JSON: %s", jerr.text);
    char dir[PATH_MAX - 64];
    snprintf(dir, sizeof(dir), "%s/job-%lld-%d", env->cfg->work_dir, env->job->id, (int)getpid());
    remove_dir(dir);
    if (store_mkdirs(dir) != 0) {
        json_decref(script);
        return vf_fail(err, VF_ETRANSIENT, "cannot create the work folder %s", dir);
    }
    progress(env, STEP_RENDER, 0, "rendering");
    struct render_progress_ctx pc = {env};
    struct render_request rq = {script, &opt, env->cfg, dir, on_render_progress, &pc};
    struct render_result res = {0};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    enum vf_rc rc = render_video(&rq, &res, err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    json_decref(script);
    if (rc == VF_OK) {
        progress(env, STEP_RENDER, 96, "storing the video");
        for (size_t i = 0; i < sizeof(render_outputs) / sizeof(render_outputs[0]) && rc == VF_OK; i++) {
            char path[PATH_MAX + 32], key[96];
            snprintf(path, sizeof(path), "%s/%s", dir, render_outputs[i].name);
            store_job_key(key, sizeof(key), env->job->id, render_outputs[i].name);
            rc = store_put_file(env->cfg, key, path, render_outputs[i].content_type, err);
        }
    }
    remove_dir(dir);
    if (rc != VF_OK)
        return rc;
    store_job_key(key_out, keylen, env->job->id, "video.mp4");
    video->key = key_out;
    video->duration_s = res.duration_s;
    video->size_bytes = res.size_bytes;
    video->width = res.width;
    video->height = res.height;
    video->sha256 = strdup(res.sha256);
    video->render_seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    return VF_OK;
}

/* ---- finalize ---- */

static enum vf_rc step_finalize(struct step_env *env, struct vf_err *err)
{
    const struct job *j = env->job;
    struct job_options opt;
    job_options_of(env, &opt);
    progress(env, STEP_FINALIZE, 30, "writing the ledger row");
    json_t *script = j->script_json ? json_loads(j->script_json, 0, NULL) : NULL;
    const char *title = script ? json_string_value(json_object_get(script, "title")) : NULL;
    char url[256], providers[64], completed[32];
    snprintf(url, sizeof(url), "/api/jobs/%lld/media/video.mp4", j->id);
    snprintf(providers, sizeof(providers), "%s+%s", opt.script_provider, opt.tts);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(completed, sizeof(completed), "%Y-%m-%dT%H:%M:%SZ", &tm);
    struct ledger_row row = {
        .job_id = j->id, .created_at = j->created_at, .completed_at = completed,
        .mode = job_mode_name(j->mode), .topic = j->topic, .title = title ? title : "",
        .video_url = url, .duration_s = j->video_duration_s, .size_bytes = j->video_size_bytes,
        .width = j->video_width, .height = j->video_height, .providers = providers,
        .render_seconds = j->render_seconds, .user = j->owner_name,
    };
    int appended = 0;
    enum vf_rc rc = ledger_append(env->cfg, &row, &appended, err);
    json_decref(script);
    if (rc == VF_OK && !appended)
        log_info("ledger already had job %lld; not appended again", j->id);
    return rc;
}

/* ---- the outcome ---- */

/* An outcome the database could not take is kept and written again once it
 * is back: without this a render finished during an outage is thrown away
 * and runs again when the lease runs out. Waits between tries (0.25 s to
 * 2 s) and returns 0 to try again, or -1 to give up because the worker is
 * stopping or the heartbeat saw the lease lost or a cancel; the heartbeat
 * renews the lease meanwhile, and a write that comes too late finds the
 * lease gone and changes nothing. */
static int wait_for_database(struct step_env *env, const char *what, int *pause_ms)
{
    if (*env->stop != STOP_NONE)
        return -1;
    if (*pause_ms == 0) {
        log_warn("the database is unreachable; keeping the outcome of the %s step until it "
                 "is back", what);
        *pause_ms = 250;
    }
    for (int slept = 0; slept < *pause_ms && *env->stop == STOP_NONE; slept += 50) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (*pause_ms < 2000)
        *pause_ms *= 2;
    return *env->stop == STOP_NONE ? 0 : -1;
}

static void record_outcome(struct step_env *env, enum job_step step, enum vf_rc rc,
                           const struct vf_err *step_err)
{
    const struct job *j = env->job;
    struct vf_err err = {0};
    enum vf_rc wrc = VF_OK;
    int stop = *env->stop;
    int pause_ms = 0;
    if (rc == VF_ECANCELLED || stop != STOP_NONE) {
        if (stop == STOP_CANCEL) {
            log_info("%s step cancelled", job_step_name(step));
            wrc = jobs_step_cancelled(env->db, j->id, env->worker, &err);
        } else if (stop == STOP_SHUTDOWN) {
            log_info("%s step handed back: the worker is stopping", job_step_name(step));
            wrc = jobs_step_release(env->db, j->id, env->worker, &err);
        } else {
            log_warn("%s step abandoned: the lease was lost", job_step_name(step));
        }
    } else if (rc == VF_ETRANSIENT || rc == VF_EDB) {
        int failed = 0;
        double delay = orchestrator_backoff(j->attempts, step_err->retry_after);
        log_warn("%s step failed (attempt %d): %s", job_step_name(step), j->attempts,
                 step_err->text);
        do
            wrc = jobs_step_retry_later(env->db, j->id, env->worker, step, step_err->text, delay,
                                        env->cfg->max_attempts, &failed, &err);
        while (wrc == VF_EDB && wait_for_database(env, job_step_name(step), &pause_ms) == 0);
    } else {
        log_warn("%s step failed for good: %s", job_step_name(step), step_err->text);
        do
            wrc = jobs_step_fail(env->db, j->id, env->worker, step, step_err->text, &err);
        while (wrc == VF_EDB && wait_for_database(env, job_step_name(step), &pause_ms) == 0);
    }
    if (wrc != VF_OK && wrc != VF_ECANCELLED)
        log_error("cannot record the outcome of the %s step: %s", job_step_name(step), err.text);
}

void orchestrator_run(struct step_env *env)
{
    const struct job *j = env->job;
    enum job_step step = j->next_step;
    struct vf_err err = {0};
    enum vf_rc rc;
    if (j->cancel_requested) {
        *env->stop = STOP_CANCEL;
        record_outcome(env, step, VF_ECANCELLED, &err);
        return;
    }
    if (j->attempts > env->cfg->max_attempts) {
        vf_fail(&err, VF_EPERMANENT,
                "the %s step was interrupted %d times (its worker stopped or was lost); "
                "retry the job", job_step_name(step), j->attempts - 1);
        record_outcome(env, step, VF_EPERMANENT, &err);
        return;
    }
    char *script_text = NULL, *usage_text = NULL;
    struct job_video video = {0};
    char video_key[96];
    switch (step) {
    case STEP_SCRIPT:
        rc = step_script(env, &script_text, &usage_text, &err);
        break;
    case STEP_RENDER:
        rc = step_render(env, &video, video_key, sizeof(video_key), &err);
        break;
    case STEP_FINALIZE:
        rc = step_finalize(env, &err);
        break;
    default:
        rc = vf_fail(&err, VF_EPERMANENT, "the job has no step to run");
        break;
    }
    if (rc == VF_OK && *env->stop == STOP_NONE) {
        struct vf_err werr = {0};
        enum vf_rc wrc;
        int pause_ms = 0;
        do
            wrc = jobs_step_done(env->db, j->id, env->worker, step, script_text, usage_text,
                                 step == STEP_RENDER ? &video : NULL, &werr);
        while (wrc == VF_EDB && wait_for_database(env, job_step_name(step), &pause_ms) == 0);
        if (wrc == VF_OK)
            log_info("%s step done", job_step_name(step));
        else
            log_error("%s step done but not recorded: %s", job_step_name(step), werr.text);
    } else {
        record_outcome(env, step, rc == VF_OK ? VF_ECANCELLED : rc, &err);
    }
    free(script_text);
    free(usage_text);
    free((char *)video.sha256);
}
