/* The job state machine: every legal move of both modes, and the illegal ones. */
#include <check.h>

#include "db/job_state.h"
#include "suites.h"

struct move { enum job_mode mode; enum job_state from, to; int allowed; };

static const struct move moves[] = {
    /* full auto, the happy path */
    {JOB_FULL, JS_IDLE, JS_GENERATING_SCRIPT, 1},
    {JOB_FULL, JS_GENERATING_SCRIPT, JS_ASSEMBLING_VIDEO, 1},
    {JOB_FULL, JS_ASSEMBLING_VIDEO, JS_FINALIZING, 1},
    {JOB_FULL, JS_FINALIZING, JS_COMPLETED, 1},
    /* full auto never waits for a person */
    {JOB_FULL, JS_GENERATING_SCRIPT, JS_SCRIPT_READY, 0},
    {JOB_FULL, JS_ASSEMBLING_VIDEO, JS_VIDEO_READY, 0},
    {JOB_FULL, JS_SCRIPT_READY, JS_ASSEMBLING_VIDEO, 0},
    /* semi auto */
    {JOB_SEMI, JS_IDLE, JS_GENERATING_SCRIPT, 1},
    {JOB_SEMI, JS_GENERATING_SCRIPT, JS_SCRIPT_READY, 1},
    {JOB_SEMI, JS_SCRIPT_READY, JS_ASSEMBLING_VIDEO, 1},
    {JOB_SEMI, JS_ASSEMBLING_VIDEO, JS_VIDEO_READY, 1},
    {JOB_SEMI, JS_VIDEO_READY, JS_FINALIZING, 1},
    {JOB_SEMI, JS_FINALIZING, JS_COMPLETED, 1},
    {JOB_SEMI, JS_GENERATING_SCRIPT, JS_ASSEMBLING_VIDEO, 0},
    {JOB_SEMI, JS_SCRIPT_READY, JS_FINALIZING, 0},
    {JOB_SEMI, JS_IDLE, JS_COMPLETED, 0},
    /* failure and cancel from any unfinished state */
    {JOB_FULL, JS_IDLE, JS_CANCELLED, 1},
    {JOB_SEMI, JS_SCRIPT_READY, JS_CANCELLED, 1},
    {JOB_SEMI, JS_VIDEO_READY, JS_FAILED, 1},
    {JOB_FULL, JS_ASSEMBLING_VIDEO, JS_FAILED, 1},
    {JOB_FULL, JS_COMPLETED, JS_FAILED, 0},
    {JOB_FULL, JS_COMPLETED, JS_CANCELLED, 0},
    {JOB_FULL, JS_CANCELLED, JS_FAILED, 0},
    {JOB_FULL, JS_FAILED, JS_CANCELLED, 0},
    /* retry resumes the failed step */
    {JOB_FULL, JS_FAILED, JS_IDLE, 1},
    {JOB_FULL, JS_FAILED, JS_ASSEMBLING_VIDEO, 1},
    {JOB_SEMI, JS_FAILED, JS_FINALIZING, 1},
    {JOB_FULL, JS_FAILED, JS_COMPLETED, 0},
    {JOB_SEMI, JS_FAILED, JS_SCRIPT_READY, 0},
    /* nothing leaves COMPLETED or CANCELLED; no self moves */
    {JOB_FULL, JS_COMPLETED, JS_IDLE, 0},
    {JOB_SEMI, JS_CANCELLED, JS_IDLE, 0},
    {JOB_FULL, JS_IDLE, JS_IDLE, 0},
    {JOB_FULL, JS_COUNT, JS_IDLE, 0},
};

START_TEST(test_transition_table)
{
    const struct move *m = &moves[_i];
    ck_assert_msg(job_transition_allowed(m->mode, m->from, m->to) == m->allowed,
                  "%s %s -> %s should be %s", job_mode_name(m->mode), job_state_name(m->from),
                  job_state_name(m->to), m->allowed ? "allowed" : "refused");
}
END_TEST

START_TEST(test_names_round_trip)
{
    for (int s = 0; s < JS_COUNT; s++) {
        enum job_state back;
        ck_assert_int_eq(job_state_parse(job_state_name((enum job_state)s), &back), 0);
        ck_assert_int_eq(back, s);
    }
    enum job_state x;
    ck_assert_int_eq(job_state_parse("completed", &x), -1);
    ck_assert_int_eq(job_state_parse("", &x), -1);
    ck_assert_int_eq(job_state_parse(NULL, &x), -1);
    ck_assert_str_eq(job_state_name(JS_ASSEMBLING_VIDEO), "ASSEMBLING_VIDEO");
    ck_assert_int_eq(job_step_parse("render"), STEP_RENDER);
    ck_assert_int_eq(job_step_parse("bogus"), STEP_NONE);
}
END_TEST

START_TEST(test_after_step_follows_the_machine)
{
    /* Whatever job_after_step says must itself be a legal move. */
    for (int mode = JOB_FULL; mode <= JOB_SEMI; mode++) {
        for (int step = STEP_SCRIPT; step <= STEP_FINALIZE; step++) {
            enum job_state next;
            enum job_step next_step;
            job_after_step((enum job_mode)mode, (enum job_step)step, &next, &next_step);
            enum job_state running = job_step_running_state((enum job_step)step);
            ck_assert_msg(job_transition_allowed((enum job_mode)mode, running, next),
                          "%s after %s", job_state_name(next), job_step_name((enum job_step)step));
        }
    }
    enum job_state next;
    enum job_step ns;
    job_after_step(JOB_SEMI, STEP_SCRIPT, &next, &ns);
    ck_assert_int_eq(next, JS_SCRIPT_READY);
    ck_assert_int_eq(ns, STEP_NONE);
    job_after_step(JOB_FULL, STEP_SCRIPT, &next, &ns);
    ck_assert_int_eq(next, JS_ASSEMBLING_VIDEO);
    ck_assert_int_eq(ns, STEP_RENDER);
    job_after_step(JOB_FULL, STEP_FINALIZE, &next, &ns);
    ck_assert_int_eq(next, JS_COMPLETED);
}
END_TEST

Suite *state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("machine");
    tcase_add_loop_test(tc, test_transition_table, 0, (int)(sizeof(moves) / sizeof(moves[0])));
    tcase_add_test(tc, test_names_round_trip);
    tcase_add_test(tc, test_after_step_follows_the_machine);
    suite_add_tcase(s, tc);
    return s;
}
