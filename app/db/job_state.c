/* The job state machine: the only place that knows which moves are legal. */
#include "db/job_state.h"

#include <stddef.h>
#include <string.h>

static const char *const state_names[JS_COUNT] = {
    "IDLE", "GENERATING_SCRIPT", "SCRIPT_READY", "ASSEMBLING_VIDEO", "VIDEO_READY",
    "FINALIZING", "COMPLETED", "FAILED", "CANCELLED",
};

const char *job_state_name(enum job_state s)
{
    return (unsigned)s < JS_COUNT ? state_names[s] : "UNKNOWN";
}

int job_state_parse(const char *name, enum job_state *out)
{
    if (!name)
        return -1;
    for (int i = 0; i < JS_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (enum job_state)i;
            return 0;
        }
    }
    return -1;
}

const char *job_mode_name(enum job_mode m)
{
    return m == JOB_SEMI ? "semi" : "full";
}

int job_mode_parse(const char *name, enum job_mode *out)
{
    if (name && strcmp(name, "full") == 0)
        *out = JOB_FULL;
    else if (name && strcmp(name, "semi") == 0)
        *out = JOB_SEMI;
    else
        return -1;
    return 0;
}

const char *job_step_name(enum job_step s)
{
    switch (s) {
    case STEP_SCRIPT: return "script";
    case STEP_RENDER: return "render";
    case STEP_FINALIZE: return "finalize";
    case STEP_NONE: break;
    }
    return NULL;
}

enum job_step job_step_parse(const char *name)
{
    if (!name)
        return STEP_NONE;
    if (strcmp(name, "script") == 0)
        return STEP_SCRIPT;
    if (strcmp(name, "render") == 0)
        return STEP_RENDER;
    if (strcmp(name, "finalize") == 0)
        return STEP_FINALIZE;
    return STEP_NONE;
}

int job_state_is_terminal(enum job_state s)
{
    return s == JS_COMPLETED || s == JS_FAILED || s == JS_CANCELLED;
}

enum job_step job_state_step(enum job_state s)
{
    switch (s) {
    case JS_GENERATING_SCRIPT: return STEP_SCRIPT;
    case JS_ASSEMBLING_VIDEO: return STEP_RENDER;
    case JS_FINALIZING: return STEP_FINALIZE;
    default: return STEP_NONE;
    }
}

enum job_state job_step_running_state(enum job_step step)
{
    switch (step) {
    case STEP_SCRIPT: return JS_GENERATING_SCRIPT;
    case STEP_RENDER: return JS_ASSEMBLING_VIDEO;
    case STEP_FINALIZE: return JS_FINALIZING;
    case STEP_NONE: break;
    }
    return JS_IDLE;
}

int job_transition_allowed(enum job_mode mode, enum job_state from, enum job_state to)
{
    if ((unsigned)from >= JS_COUNT || (unsigned)to >= JS_COUNT || from == to)
        return 0;
    if (to == JS_FAILED || to == JS_CANCELLED)
        return !job_state_is_terminal(from);
    if (from == JS_FAILED)  /* retry resumes at the step that failed */
        return to == JS_IDLE || to == JS_ASSEMBLING_VIDEO || to == JS_FINALIZING;
    int semi = mode == JOB_SEMI;
    switch (from) {
    case JS_IDLE: return to == JS_GENERATING_SCRIPT;
    case JS_GENERATING_SCRIPT: return to == (semi ? JS_SCRIPT_READY : JS_ASSEMBLING_VIDEO);
    case JS_SCRIPT_READY: return semi && to == JS_ASSEMBLING_VIDEO;
    case JS_ASSEMBLING_VIDEO: return to == (semi ? JS_VIDEO_READY : JS_FINALIZING);
    case JS_VIDEO_READY: return semi && to == JS_FINALIZING;
    case JS_FINALIZING: return to == JS_COMPLETED;
    default: return 0;
    }
}

void job_after_step(enum job_mode mode, enum job_step done, enum job_state *next_state,
                    enum job_step *next_step)
{
    int semi = mode == JOB_SEMI;
    switch (done) {
    case STEP_SCRIPT:
        *next_state = semi ? JS_SCRIPT_READY : JS_ASSEMBLING_VIDEO;
        *next_step = semi ? STEP_NONE : STEP_RENDER;
        return;
    case STEP_RENDER:
        *next_state = semi ? JS_VIDEO_READY : JS_FINALIZING;
        *next_step = semi ? STEP_NONE : STEP_FINALIZE;
        return;
    case STEP_FINALIZE:
    case STEP_NONE:
        break;
    }
    *next_state = JS_COMPLETED;
    *next_step = STEP_NONE;
}
