/* vf-worker: the daemon that runs the steps of jobs.
 *
 * DESIGN
 * - `worker_concurrency` runner threads, each with its own database
 *   connection, loop: claim the oldest runnable job (FOR UPDATE SKIP LOCKED,
 *   so several workers on several hosts never take the same one), run its
 *   step through the orchestrator, record the outcome, claim again. With
 *   nothing to do a runner sleeps `poll_ms` (with jitter).
 * - One heartbeat thread renews the lease of every running job every
 *   lease_s/3 seconds and reads the job's cancel flag; a lost lease or a
 *   cancel sets the runner's stop flag, which the step checks (the renderer
 *   at every progress report). The same thread reopens jobs whose lease
 *   expired (their worker died) and records that this worker is alive.
 * - SIGTERM/SIGINT only set a flag (the handler does nothing else): runners
 *   stop claiming, running steps are asked to stop and hand their job back
 *   to the queue untouched, and the process exits. */
#include <mysql.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "db/jobs.h"
#include "worker/orchestrator.h"

struct runner {
    pthread_t thread;
    int index;
    pthread_mutex_t lock;
    long long job_id;                   /* 0 when idle */
    volatile sig_atomic_t stop;         /* enum step_stop for the running job */
};

static struct vf_config cfg;
static char worker_name[96];
static volatile sig_atomic_t shutting_down;
static struct runner *runners;
static int nrunners;

static void on_signal(int sig)
{
    (void)sig;
    shutting_down = 1;
}

/* Sleeps ms milliseconds, waking early when the worker is stopping. */
static void nap(int ms)
{
    while (ms > 0 && !shutting_down) {
        int step = ms > 100 ? 100 : ms;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void *runner_main(void *arg)
{
    struct runner *r = arg;
    struct db *db = NULL;
    struct vf_err err = {0};
    unsigned seed = (unsigned)(time(NULL) ^ (r->index * 7919) ^ getpid());
    while (!shutting_down) {
        if (!db && !(db = db_open(&cfg, &err))) {
            log_warn("runner %d: database unavailable: %s", r->index, err.text);
            nap(1000 + (int)(rand_r(&seed) % 1000));
            continue;
        }
        struct job job;
        int got = 0;
        enum vf_rc rc = jobs_claim(db, worker_name, cfg.lease_s, &job, &got, &err);
        if (rc != VF_OK) {
            if (rc == VF_EDB) {
                log_warn("runner %d: database connection lost: %s", r->index, err.text);
                db_close(db);
                db = NULL;
            } else {
                log_error("runner %d: claim failed: %s", r->index, err.text);
            }
            nap(cfg.poll_ms);
            continue;
        }
        if (!got) {
            nap(cfg.poll_ms / 2 + (int)(rand_r(&seed) % (unsigned)(cfg.poll_ms + 1)));
            continue;
        }
        char tag[48];
        snprintf(tag, sizeof(tag), "job=%lld", job.id);
        log_set_context(tag);
        log_info("claimed: %s step, attempt %d", job_step_name(job.next_step), job.attempts);
        pthread_mutex_lock(&r->lock);
        r->stop = shutting_down ? STOP_SHUTDOWN : STOP_NONE;
        r->job_id = job.id;
        pthread_mutex_unlock(&r->lock);
        struct step_env env = {&cfg, db, &job, worker_name, &r->stop};
        orchestrator_run(&env);
        pthread_mutex_lock(&r->lock);
        r->job_id = 0;
        pthread_mutex_unlock(&r->lock);
        log_set_context(NULL);
        job_free(&job);
    }
    db_close(db);
    return NULL;
}

/* One pass of the heartbeat: renew leases, pass cancels on, note we live. */
static void heartbeat_pass(struct db *db)
{
    struct vf_err err = {0};
    for (int i = 0; i < nrunners; i++) {
        struct runner *r = &runners[i];
        pthread_mutex_lock(&r->lock);
        long long id = r->job_id;
        pthread_mutex_unlock(&r->lock);
        if (!id)
            continue;
        int lost = 0, cancel = 0;
        if (jobs_heartbeat(db, id, worker_name, cfg.lease_s, &lost, &cancel, &err) != VF_OK) {
            log_warn("heartbeat for job %lld failed: %s", id, err.text);
            continue;
        }
        pthread_mutex_lock(&r->lock);
        if (r->job_id == id && r->stop == STOP_NONE) {
            if (lost)
                r->stop = STOP_LEASE_LOST;
            else if (cancel)
                r->stop = STOP_CANCEL;
        }
        pthread_mutex_unlock(&r->lock);
    }
    int reclaimed = 0;
    if (jobs_reclaim_expired(db, &reclaimed, &err) != VF_OK)
        log_warn("reclaiming expired leases failed: %s", err.text);
    else if (reclaimed)
        log_warn("reopened %d job(s) whose worker stopped answering", reclaimed);
    (void)jobs_worker_seen(db, worker_name, &err);
}

static void heartbeat_loop(void)
{
    struct db *db = NULL;
    struct vf_err err = {0};
    int interval_ms = cfg.lease_s * 1000 / 3;
    if (interval_ms > 2000)
        interval_ms = 2000;  /* cancels should be noticed within a couple of seconds */
    while (!shutting_down) {
        if (!db)
            db = db_open(&cfg, &err);
        if (db)
            heartbeat_pass(db);
        nap(interval_ms);
    }
    db_close(db);
}

int main(void)
{
    char err[512];
    if (config_load(&cfg, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "vf-worker: %s\n", err);
        return 1;
    }
    enum log_level level = LOG_INFO;
    (void)log_level_parse(cfg.log_level, &level);
    if (log_open(cfg.log_file, level) != 0) {
        fprintf(stderr, "vf-worker: cannot open the log file %s\n", cfg.log_file);
        return 1;
    }
    char host[64] = "localhost";
    gethostname(host, sizeof(host) - 1);
    snprintf(worker_name, sizeof(worker_name), "%.63s:%d", host, (int)getpid());
    srand((unsigned)(time(NULL) ^ getpid()));
    mysql_library_init(0, NULL, NULL);

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    nrunners = cfg.worker_concurrency;
    runners = calloc((size_t)nrunners, sizeof(*runners));
    if (!runners)
        return 1;
    log_info("vf-worker %s starting %d runner(s)", worker_name, nrunners);
    for (int i = 0; i < nrunners; i++) {
        runners[i].index = i;
        pthread_mutex_init(&runners[i].lock, NULL);
        pthread_create(&runners[i].thread, NULL, runner_main, &runners[i]);
    }
    heartbeat_loop();

    /* Stopping: ask running steps to hand their jobs back, then wait. */
    for (int i = 0; i < nrunners; i++) {
        pthread_mutex_lock(&runners[i].lock);
        if (runners[i].job_id && runners[i].stop == STOP_NONE)
            runners[i].stop = STOP_SHUTDOWN;
        pthread_mutex_unlock(&runners[i].lock);
    }
    for (int i = 0; i < nrunners; i++) {
        pthread_join(runners[i].thread, NULL);
        pthread_mutex_destroy(&runners[i].lock);
    }
    free(runners);
    log_info("vf-worker %s stopped", worker_name);
    mysql_library_end();
    config_free(&cfg);
    log_close();
    return 0;
}
