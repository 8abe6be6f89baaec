#ifndef VF_WORKER_ORCHESTRATOR_H
#define VF_WORKER_ORCHESTRATOR_H
/* The three steps of a job, mirroring the original design:
 *   script step (job) → script      render step (job, script) → video
 *   finalize step (job, video)
 * orchestrator_run() runs the step a claimed job needs and records the
 * outcome in the job store: done, retry later, failed, cancelled, or handed
 * back because the worker is stopping. */
#include <signal.h>
#include "db/jobs.h"

struct vf_config;

enum step_stop {
    STOP_NONE = 0,
    STOP_CANCEL,        /* a person cancelled the job */
    STOP_LEASE_LOST,    /* another worker may own the job now: write nothing */
    STOP_SHUTDOWN,      /* this worker is stopping: hand the step back */
};

struct step_env {
    const struct vf_config *cfg;
    struct db *db;                  /* the running thread's own connection */
    const struct job *job;
    const char *worker;             /* the lease owner name */
    volatile sig_atomic_t *stop;    /* enum step_stop, set by the heartbeat or a signal */
};

void orchestrator_run(struct step_env *env);

/* Backoff before the next attempt: exponential from 2 s, capped at 60 s,
 * with jitter; an upstream's own delay wins when it asked for one. */
double orchestrator_backoff(int attempt, double upstream_delay);

#endif
