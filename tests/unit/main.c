/* The unit-test runner: one Check runner for every module's suite.
 * `build/unit-tests [NAME]` runs them all, or the one named. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

static const struct {
    const char *name;
    Suite *(*make)(void);
} all_suites[] = {
    {"state", state_suite}, {"config", config_suite}, {"request", request_suite},
    {"options", options_suite}, {"script", script_suite}, {"sse", sse_suite},
    {"render", render_suite}, {"sigv4", sigv4_suite}, {"google", google_suite},
    {"writers", writers_suite},
};

int main(int argc, char **argv)
{
    SRunner *sr = NULL;
    for (size_t i = 0; i < sizeof(all_suites) / sizeof(all_suites[0]); i++) {
        if (argc > 1 && strcmp(argv[1], all_suites[i].name) != 0)
            continue;
        Suite *s = all_suites[i].make();
        if (!sr)
            sr = srunner_create(s);
        else
            srunner_add_suite(sr, s);
    }
    if (!sr) {
        fprintf(stderr, "no suite called %s\n", argc > 1 ? argv[1] : "");
        return 2;
    }
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
