/* Configuration: defaults, the file, environment overrides and bad input. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "suites.h"

START_TEST(test_defaults)
{
    struct vf_config c;
    char err[256];
    ck_assert_int_eq(config_load_string(&c, "", "t.conf", err, sizeof(err)), 0);
    ck_assert_str_eq(c.script_provider, "template");
    ck_assert_str_eq(c.store, "local");
    ck_assert_str_eq(c.ledger, "csv");
    ck_assert_str_eq(c.tts, "espeak");
    ck_assert_int_eq(c.worker_concurrency, 1);
    ck_assert_str_eq(c.gemini_base_url, "https://generativelanguage.googleapis.com");
    config_free(&c);
}
END_TEST

START_TEST(test_file_values)
{
    struct vf_config c;
    char err[256];
    const char *text = "# comment\n\n db_name = videos \nlease_s=30\nx264_preset = \"ultrafast\"\n"
                       "s3_path_style = false\nlog_level=debug\n";
    ck_assert_int_eq(config_load_string(&c, text, "t.conf", err, sizeof(err)), 0);
    ck_assert_str_eq(c.db_name, "videos");
    ck_assert_int_eq(c.lease_s, 30);
    ck_assert_str_eq(c.x264_preset, "ultrafast");
    ck_assert_int_eq(c.s3_path_style, 0);
    ck_assert_str_eq(c.log_level, "debug");
    config_free(&c);
}
END_TEST

static const struct {
    const char *text;
    const char *expect;     /* substring of the error */
} bad_files[] = {
    {"bogus_key = 1\n", "t.conf:1: unknown key \"bogus_key\""},
    {"db_name = a\ndb_name = b\n", "t.conf:2: \"db_name\" is duplicate"},
    {"\n\nlease_s = abc\n", "t.conf:3: lease_s must be a whole number"},
    {"lease_s = 1\n", "lease_s must be"},
    {"worker_concurrency = 99999\n", "worker_concurrency must be"},
    {"store = ftp\n", "store must be one of local|s3"},
    {"script_provider = chatgpt\n", "script_provider must be one of"},
    {"db_port = 70000\n", "db_port must be"},
    {"just some words\n", "t.conf:1: expected key = value"},
    {"s3_path_style = maybe\n", "s3_path_style must be a boolean"},
    {"poll_ms = 10x\n", "poll_ms must be"},
};

START_TEST(test_bad_files)
{
    struct vf_config c;
    char err[256] = "";
    ck_assert_int_eq(config_load_string(&c, bad_files[_i].text, "t.conf", err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, bad_files[_i].expect) != NULL, "error \"%s\" lacks \"%s\"", err,
                  bad_files[_i].expect);
    config_free(&c);
}
END_TEST

START_TEST(test_environment_overrides)
{
    char path[] = "/tmp/vf-config-test-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    const char *text = "db_name = fromfile\nlease_s = 20\n";
    ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
    close(fd);
    setenv("VF_DB_NAME", "fromenv", 1);
    setenv("VF_X264_PRESET", "medium", 1);
    struct vf_config c;
    char err[256];
    ck_assert_int_eq(config_load(&c, path, err, sizeof(err)), 0);
    ck_assert_str_eq(c.db_name, "fromenv");
    ck_assert_int_eq(c.lease_s, 20);
    ck_assert_str_eq(c.x264_preset, "medium");
    config_free(&c);
    setenv("VF_LEASE_S", "nope", 1);
    ck_assert_int_eq(config_load(&c, path, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "VF_LEASE_S"));
    config_free(&c);
    unsetenv("VF_DB_NAME");
    unsetenv("VF_X264_PRESET");
    unsetenv("VF_LEASE_S");
    ck_assert_int_eq(config_load(&c, "/nonexistent/vf.conf", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/vf.conf"));
    config_free(&c);
    unlink(path);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_file_values);
    tcase_add_loop_test(tc, test_bad_files, 0, (int)(sizeof(bad_files) / sizeof(bad_files[0])));
    tcase_add_test(tc, test_environment_overrides);
    suite_add_tcase(s, tc);
    return s;
}
