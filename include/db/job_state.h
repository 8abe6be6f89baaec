#ifndef VF_DB_JOB_STATE_H
#define VF_DB_JOB_STATE_H
/* The job state machine (DESIGN §1), in exactly one place. State names are
 * part of the API and never change spelling. */

enum job_state {
    JS_IDLE, JS_GENERATING_SCRIPT, JS_SCRIPT_READY, JS_ASSEMBLING_VIDEO, JS_VIDEO_READY,
    JS_FINALIZING, JS_COMPLETED, JS_FAILED, JS_CANCELLED, JS_COUNT
};
enum job_mode { JOB_FULL, JOB_SEMI };
enum job_step { STEP_NONE, STEP_SCRIPT, STEP_RENDER, STEP_FINALIZE };

const char *job_state_name(enum job_state s);
/* Returns 0, or -1 for a name that is not a state. */
int job_state_parse(const char *name, enum job_state *out);
const char *job_mode_name(enum job_mode m);        /* "full" / "semi" */
int job_mode_parse(const char *name, enum job_mode *out);
const char *job_step_name(enum job_step s);        /* "script" ... ; NULL for STEP_NONE */
enum job_step job_step_parse(const char *name);    /* STEP_NONE for NULL or unknown */

int job_state_is_terminal(enum job_state s);
/* The step a worker runs in this state (GENERATING_SCRIPT → script, ...), else STEP_NONE. */
enum job_step job_state_step(enum job_state s);
/* The state a worker moves a job into when it starts `step` from `from`. */
enum job_state job_step_running_state(enum job_step step);

/* Is from → to allowed for a job of this mode? The only definition of the
 * workflow; every state change in the job store asks it. */
int job_transition_allowed(enum job_mode mode, enum job_state from, enum job_state to);

/* What follows a finished step: the next state and the step a worker should
 * run next (STEP_NONE when a person must act or the job is done). */
void job_after_step(enum job_mode mode, enum job_step done, enum job_state *next_state,
                    enum job_step *next_step);

#endif
