#ifndef VF_TESTS_UNIT_SUITES_H
#define VF_TESTS_UNIT_SUITES_H
/* Every unit-test suite; tests/unit/main.c runs them all. */
#include <check.h>

Suite *state_suite(void);
Suite *config_suite(void);
Suite *request_suite(void);
Suite *options_suite(void);
Suite *script_suite(void);
Suite *render_suite(void);
Suite *sse_suite(void);
Suite *writers_suite(void);
Suite *sigv4_suite(void);
Suite *google_suite(void);

#endif
