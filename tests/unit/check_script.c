/* The script: validator rows (each bad script names its field), word
 * counting, normalising, and the offline template writer. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "script/script.h"
#include "suites.h"


/* 40 words: three scenes of it make 120, inside the 59..187 words that a
 * 45 s video with espeak allows. */
static const char narration40[] =
    "One two three four five six seven eight nine ten, one two three four five six seven "
    "eight nine ten. One two three four five six seven eight nine ten, one two three four "
    "five six seven eight nine ten.";

static json_t *base_script(void)
{
    json_t *s = json_pack("{s:s, s:s, s:[{s:s, s:n, s:{s:[s,s], s:s, s:n}}, {s:s}, {s:s}],"
                          " s:[s,s], s:s}",
                          "title", "Why octopuses have three hearts", "language", "en",
                          "scenes", "narration", narration40, "caption",
                          "visual", "keywords", "octopus", "heart", "palette", "sunset", "media",
                          "narration", narration40, "narration", narration40,
                          "hashtags", "#octopus", "#science", "description", "A short video.");
    ck_assert_ptr_nonnull(s);
    return s;
}

/* "~N" makes a string of N 'a'; "~eN" one of N 'é' (two bytes each). */
static json_t *make_value(const char *spec)
{
    if (spec[0] == '~') {
        int utf = spec[1] == 'e';
        int n = (int)strtol(spec + 1 + utf, NULL, 10);
        size_t width = utf ? 2 : 1;
        char *s = malloc((size_t)n * width + 1);
        for (int i = 0; i < n; i++)
            memcpy(s + (size_t)i * width, utf ? "\xc3\xa9" : "a", width);
        s[(size_t)n * width] = '\0';
        json_t *v = json_string(s);
        free(s);
        return v;
    }
    json_error_t jerr;
    json_t *v = json_loads(spec, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    ck_assert_msg(v != NULL, "bad value %s: %s", spec, jerr.text);
    return v;
}

/* Sets (value non-NULL) or deletes the element at a dotted path ("scenes.0.visual.media"). */
static void mutate(json_t *root, const char *path, const char *value)
{
    json_t *cur = root;
    const char *seg = path;
    for (;;) {
        char name[64];
        size_t len = strcspn(seg, ".");
        snprintf(name, sizeof(name), "%.*s", (int)len, seg);
        int is_index = name[0] >= '0' && name[0] <= '9';
        size_t index = is_index ? (size_t)strtoul(name, NULL, 10) : 0;
        if (seg[len] == '\0') {
            json_t *v = value ? make_value(value) : NULL;
            if (is_index && !v)
                json_array_remove(cur, index);
            else if (is_index && index == json_array_size(cur))
                json_array_append_new(cur, v);
            else if (is_index)
                json_array_set_new(cur, index, v);
            else if (v)
                json_object_set_new(cur, name, v);
            else
                json_object_del(cur, name);
            return;
        }
        cur = is_index ? json_array_get(cur, index) : json_object_get(cur, name);
        ck_assert_msg(cur != NULL, "no %s in path %s", name, path);
        seg += len + 1;
    }
}

struct script_row {
    const char *path;       /* NULL: no change */
    const char *value;      /* NULL: delete the element */
    const char *field;      /* expected first error field; NULL: valid */
};

static const struct script_row script_rows[] = {
    /* valid variations */
    {NULL, NULL, NULL},
    {"scenes.0.caption", "\"A caption\"", NULL},
    {"scenes.0.caption", "\"\"", NULL},
    {"scenes.0.visual", "null", NULL},
    {"scenes.0.visual.palette", "null", NULL},
    {"scenes.0.visual.media", "\"forest.jpg\"", NULL},
    {"scenes.0.visual.keywords", "[]", NULL},
    {"scenes.0.narration", "~e400", NULL},
    {"title", "~e120", NULL},
    {"description", "~1000", NULL},
    {"language", NULL, NULL},
    {"hashtags", NULL, NULL},
    {"language", "\"pt-br\"", NULL},
    {"scenes.1.narration", "\"Line one.\\nLine two.\\tTabbed, and then twenty eight more words "
     "to keep the total inside the budget: a b c d e f g h i j k l m n o p q r s t u v w x y z "
     "aa bb\"", NULL},

    /* invalid: each names its field */
    {"title", NULL, "title"},
    {"title", "\"\"", "title"},
    {"title", "\"   \"", "title"},
    {"title", "~121", "title"},
    {"title", "42", "title"},
    {"title", "\"a\\u0000b\"", "title"},
    {"author", "\"me\"", "author"},
    {"language", "\"klingon\"", "language"},
    {"language", "7", "language"},
    {"scenes", NULL, "scenes"},
    {"scenes", "[]", "scenes"},
    {"scenes", "{}", "scenes"},
    {"scenes.1", "\"scene\"", "scenes[1]"},
    {"scenes.1.narration", NULL, "scenes[1].narration"},
    {"scenes.2.narration", "\"\"", "scenes[2].narration"},
    {"scenes.2.narration", "\" \\n \"", "scenes[2].narration"},
    {"scenes.0.narration", "~e401", "scenes[0].narration"},
    {"scenes.0.narration", "[\"text\"]", "scenes[0].narration"},
    {"scenes.0.narration", "\"bell \\u0007 rings\"", "scenes[0].narration"},
    {"scenes.0.narration", "\"nul \\u0000 inside\"", "scenes[0].narration"},
    {"scenes.0.caption", "~121", "scenes[0].caption"},
    {"scenes.0.caption", "5", "scenes[0].caption"},
    {"scenes.0.caption", "\"two\\nlines\"", "scenes[0].caption"},
    {"scenes.0.duration", "3", "scenes[0].duration"},
    {"scenes.0.visual", "\"sunset\"", "scenes[0].visual"},
    {"scenes.0.visual.keywords", "\"octopus\"", "scenes[0].visual.keywords"},
    {"scenes.0.visual.keywords", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]",
     "scenes[0].visual.keywords"},
    {"scenes.0.visual.keywords.1", "\"\"", "scenes[0].visual.keywords[1]"},
    {"scenes.0.visual.keywords.1", "~41", "scenes[0].visual.keywords[1]"},
    {"scenes.0.visual.keywords.0", "3", "scenes[0].visual.keywords[0]"},
    {"scenes.0.visual.palette", "\"rainbow\"", "scenes[0].visual.palette"},
    {"scenes.0.visual.palette", "1", "scenes[0].visual.palette"},
    {"scenes.0.visual.media", "\"../secret.jpg\"", "scenes[0].visual.media"},
    {"scenes.0.visual.media", "\"photos/a.jpg\"", "scenes[0].visual.media"},
    {"scenes.0.visual.media", "\".env\"", "scenes[0].visual.media"},
    {"scenes.0.visual.media", "\"\"", "scenes[0].visual.media"},
    {"scenes.0.visual.media", "true", "scenes[0].visual.media"},
    {"scenes.0.visual.url", "\"http://x\"", "scenes[0].visual.url"},
    {"hashtags", "\"#a\"", "hashtags"},
    {"hashtags", "[\"#a1\",\"#a2\",\"#a3\",\"#a4\",\"#a5\",\"#a6\",\"#a7\",\"#a8\",\"#a9\","
     "\"#b1\",\"#b2\",\"#b3\",\"#b4\",\"#b5\",\"#b6\",\"#b7\"]", "hashtags"},
    {"hashtags.0", "\"science\"", "hashtags[0]"},
    {"hashtags.1", "\"#two words\"", "hashtags[1]"},
    {"hashtags.1", "\"#\"", "hashtags[1]"},
    {"hashtags.1", "~41", "hashtags[1]"},
    {"hashtags.1", "null", "hashtags[1]"},
    {"description", "~1001", "description"},
    {"description", "5", "description"},
    /* narration length against the 45 s budget */
    {"scenes", "[{\"narration\":\"Too short.\"}]", "scenes"},
    {"scenes.1", NULL, NULL},
};

START_TEST(test_validate_rows)
{
    const struct script_row *row = &script_rows[_i];
    json_t *script = base_script();
    if (row->path)
        mutate(script, row->path, row->value);
    struct job_options opt;
    job_options_defaults(&opt, NULL);
    char *before = json_dumps(script, JSON_SORT_KEYS | JSON_ENCODE_ANY);
    struct script_errors errs;
    int rc = script_validate(script, &opt, &errs);
    char text[1024];
    script_errors_format(&errs, text, sizeof(text));
    if (row->field) {
        ck_assert_msg(rc == -1, "row %d (%s) accepted", _i, row->path);
        ck_assert_int_ge(errs.count, 1);
        ck_assert_msg(strcmp(errs.items[0].field, row->field) == 0,
                      "row %d: expected %s, got %s", _i, row->field, text);
        ck_assert(errs.items[0].message[0] != '\0');
    } else {
        ck_assert_msg(rc == 0, "row %d (%s) rejected: %s", _i, row->path ? row->path : "-", text);
        ck_assert_int_eq(errs.count, 0);
    }
    char *after = json_dumps(script, JSON_SORT_KEYS | JSON_ENCODE_ANY);
    ck_assert_str_eq(before, after);     /* never modifies the script */
    free(before);
    free(after);
    json_decref(script);
}
END_TEST

START_TEST(test_validate_not_object)
{
    struct job_options opt;
    struct script_errors errs;
    job_options_defaults(&opt, NULL);
    json_t *v = json_array();
    ck_assert_int_eq(script_validate(v, &opt, &errs), -1);
    ck_assert_str_eq(errs.items[0].field, "script");
    json_decref(v);
    ck_assert_int_eq(script_validate(NULL, &opt, &errs), -1);
}
END_TEST

START_TEST(test_validate_too_many_scenes)
{
    struct job_options opt;
    struct script_errors errs;
    job_options_defaults(&opt, NULL);
    json_t *script = base_script();
    json_t *scenes = json_object_get(script, "scenes");
    while (json_array_size(scenes) <= SCRIPT_MAX_SCENES)
        json_array_append_new(scenes, json_pack("{s:s}", "narration", "Word."));
    ck_assert_int_eq(script_validate(script, &opt, &errs), -1);
    ck_assert_str_eq(errs.items[0].field, "scenes");
    json_decref(script);
}
END_TEST

/* Duration decides how many words fit: 45 s with espeak is 117 words. */
struct budget_row {
    int duration_s;
    int scenes_of_40;       /* scenes of narration40 */
    int ok;
};

static const struct budget_row budget_rows[] = {
    {45, 1, 0},     /* 40 < 59 */
    {45, 2, 1},     /* 80 */
    {45, 4, 1},     /* 160 <= 187 */
    {45, 5, 0},     /* 200 > 187 */
    {15, 1, 1},     /* 40 in 20..62 */
    {15, 2, 0},     /* 80 > 62 */
    {180, 5, 0},    /* 200 < 234 */
    {180, 6, 1},    /* 240 */
};

START_TEST(test_budget_rows)
{
    const struct budget_row *row = &budget_rows[_i];
    struct job_options opt;
    struct script_errors errs;
    job_options_defaults(&opt, NULL);
    opt.duration_s = row->duration_s;
    json_t *script = json_pack("{s:s, s:[]}", "title", "T", "scenes");
    for (int i = 0; i < row->scenes_of_40; i++)
        json_array_append_new(json_object_get(script, "scenes"),
                              json_pack("{s:s}", "narration", narration40));
    int rc = script_validate(script, &opt, &errs);
    ck_assert_msg((rc == 0) == row->ok, "row %d: rc %d", _i, rc);
    if (!row->ok)
        ck_assert_str_eq(errs.items[0].field, "scenes");
    json_decref(script);
}
END_TEST

START_TEST(test_many_errors_are_capped)
{
    struct job_options opt;
    struct script_errors errs;
    job_options_defaults(&opt, NULL);
    json_t *script = json_pack("{s:i, s:[]}", "title", 1, "scenes");
    for (int i = 0; i < SCRIPT_MAX_SCENES; i++)
        json_array_append_new(json_object_get(script, "scenes"), json_pack("{s:i}", "narration", i));
    ck_assert_int_eq(script_validate(script, &opt, &errs), -1);
    ck_assert_int_eq(errs.count, SCRIPT_MAX_ERRORS);
    char small[40];
    script_errors_format(&errs, small, sizeof(small));
    ck_assert_uint_lt(strlen(small), sizeof(small));
    json_decref(script);
}
END_TEST

START_TEST(test_errors_format)
{
    struct script_errors errs;
    memset(&errs, 0, sizeof(errs));
    errs.count = 2;
    snprintf(errs.items[0].field, sizeof(errs.items[0].field), "title");
    snprintf(errs.items[0].message, sizeof(errs.items[0].message), "is required");
    snprintf(errs.items[1].field, sizeof(errs.items[1].field), "scenes[2].narration");
    snprintf(errs.items[1].message, sizeof(errs.items[1].message), "must be a string");
    char out[256];
    script_errors_format(&errs, out, sizeof(out));
    ck_assert_str_eq(out, "title: is required; scenes[2].narration: must be a string");
    errs.count = 0;
    script_errors_format(&errs, out, sizeof(out));
    ck_assert_str_eq(out, "");
}
END_TEST

struct words_row {
    const char *text;
    int words;
};

static const struct words_row words_rows[] = {
    {"", 0}, {"   \n\t ", 0}, {"hello", 1}, {"hello world", 2}, {"  hello   world  ", 2},
    {"don't stop", 2}, {"well-known fact", 2}, {"a, b; c.", 3}, {"\xe2\x80\x94 yes \xe2\x80\x94", 1},
    {"caf\xc3\xa9 cr\xc3\xa8me", 2}, {"42 is 6 x 7", 5}, {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 2},
    {"\xff", -1}, {"ok \xc0\xaf", -1},
};

START_TEST(test_count_words)
{
    ck_assert_int_eq(script_count_words(words_rows[_i].text), words_rows[_i].words);
}
END_TEST

START_TEST(test_budget_numbers)
{
    struct job_options opt;
    job_options_defaults(&opt, NULL);
    ck_assert(script_words_per_second(&opt) > 2.0 && script_words_per_second(&opt) < 3.0);
    ck_assert_int_eq(script_word_budget(&opt), 117);
    opt.duration_s = 15;
    ck_assert_int_eq(script_word_budget(&opt), 39);
}
END_TEST

START_TEST(test_normalize)
{
    struct job_options opt;
    struct script_errors errs;
    job_options_defaults(&opt, NULL);
    json_t *script = json_pack("{s:s, s:[{s:s}, {s:s, s:{s:n}}, {s:s, s:n}]}", "title", "T",
                               "scenes", "narration", narration40, "narration", narration40,
                               "visual", "palette", "narration", narration40, "visual");
    ck_assert_int_eq(script_validate(script, &opt, &errs), 0);
    script_normalize(script, &opt);
    ck_assert_int_eq(script_validate(script, &opt, &errs), 0);
    ck_assert_str_eq(json_string_value(json_object_get(script, "language")), "en");
    ck_assert(json_is_array(json_object_get(script, "hashtags")));
    ck_assert(json_is_string(json_object_get(script, "description")));
    size_t i;
    json_t *scene;
    json_array_foreach(json_object_get(script, "scenes"), i, scene) {
        ck_assert(json_is_null(json_object_get(scene, "caption")));
        json_t *visual = json_object_get(scene, "visual");
        ck_assert(json_is_object(visual));
        ck_assert(json_is_array(json_object_get(visual, "keywords")));
        ck_assert_str_eq(json_string_value(json_object_get(visual, "palette")), "deep-sea");
        ck_assert(json_is_null(json_object_get(visual, "media")));
    }
    /* idempotent */
    json_t *copy = json_deep_copy(script);
    script_normalize(script, &opt);
    ck_assert(json_equal(copy, script));
    json_decref(copy);
    json_decref(script);
}
END_TEST

/* ---- template writer ---- */

static const char *const topics[] = {
    "Why octopuses have three hearts",
    "The history of the Roman Empire",
    "How volcanoes erupt",
    "what is quantum computing?",
    "x",
    "A very long topic about the many strange and wonderful ways that honey bees communicate "
    "with each other inside the hive using dances, smells and vibrations that scientists study",
    "caf\xc3\xa9 culture in Vienna",
};

static const char *const tones[] = {"informative", "fun", "dramatic", "calm", "inspiring",
                                    "mysterious"};
static const int durations[] = {15, 30, 45, 60, 90, 120, 180};
static const char *const languages[] = {"en", "en-gb", "es", "fr", "de", "pt-br", "it", "ja"};

static int total_words(json_t *script)
{
    int total = 0;
    size_t i;
    json_t *scene;
    json_array_foreach(json_object_get(script, "scenes"), i, scene)
        total += script_count_words(json_string_value(json_object_get(scene, "narration")));
    return total;
}

static json_t *write_for(const char *topic, const char *tone, int duration, const char *lang)
{
    struct job_options opt;
    job_options_defaults(&opt, NULL);
    snprintf(opt.tone, sizeof(opt.tone), "%s", tone);
    snprintf(opt.language, sizeof(opt.language), "%s", lang);
    opt.duration_s = duration;
    json_t *out = NULL;
    struct vf_err err = {{0}};
    enum vf_rc rc = script_write(NULL, topic, &opt, &out, NULL, &err);
    ck_assert_msg(rc == VF_OK, "%s/%s/%d/%s: %s", topic, tone, duration, lang, err.text);
    ck_assert_ptr_nonnull(out);
    return out;
}

/* Every topic, tone, duration and language gives a valid script. */
START_TEST(test_template_valid_everywhere)
{
    const char *topic = topics[_i];
    for (size_t t = 0; t < sizeof(tones) / sizeof(tones[0]); t++)
        for (size_t d = 0; d < sizeof(durations) / sizeof(durations[0]); d++)
            for (size_t l = 0; l < sizeof(languages) / sizeof(languages[0]); l++) {
                json_t *s = write_for(topic, tones[t], durations[d], languages[l]);
                ck_assert_str_eq(json_string_value(json_object_get(s, "language")), languages[l]);
                size_t n = json_array_size(json_object_get(s, "scenes"));
                ck_assert(n >= 4 && n <= SCRIPT_MAX_SCENES);
                json_decref(s);
            }
}
END_TEST

START_TEST(test_template_deterministic)
{
    for (size_t t = 0; t < sizeof(tones) / sizeof(tones[0]); t++) {
        json_t *a = write_for(topics[0], tones[t], 45, "en");
        json_t *b = write_for(topics[0], tones[t], 45, "en");
        ck_assert(json_equal(a, b));
        json_decref(a);
        json_decref(b);
    }
    /* the tone changes the script */
    json_t *a = write_for(topics[0], "calm", 45, "en");
    json_t *b = write_for(topics[0], "fun", 45, "en");
    ck_assert(!json_equal(a, b));
    json_decref(a);
    json_decref(b);
}
END_TEST

/* English has phrases enough to land near the budget at every duration. */
START_TEST(test_template_word_budget)
{
    struct job_options opt;
    job_options_defaults(&opt, NULL);
    for (size_t d = 0; d < sizeof(durations) / sizeof(durations[0]); d++)
        for (size_t t = 0; t < 2; t++) {
            opt.duration_s = durations[d];
            int budget = script_word_budget(&opt);
            json_t *s = write_for(topics[t], tones[t], durations[d], "en");
            int words = total_words(s);
            ck_assert_msg(words >= budget * 0.7 && words <= budget * 1.3,
                          "%d s: %d words for a budget of %d", durations[d], words, budget);
            json_decref(s);
        }
}
END_TEST

START_TEST(test_template_uses_topic_words)
{
    json_t *s = write_for("Why octopuses have three hearts", "informative", 45, "en");
    const char *hook = json_string_value(
        json_object_get(json_array_get(json_object_get(s, "scenes"), 0), "narration"));
    char *all = json_dumps(json_object_get(s, "scenes"), 0);
    ck_assert_ptr_nonnull(strstr(all, "octopuses"));
    ck_assert_ptr_nonnull(hook);
    free(all);
    ck_assert_str_eq(json_string_value(json_object_get(s, "title")),
                     "Why octopuses have three hearts");
    json_t *tags = json_object_get(s, "hashtags");
    ck_assert_str_eq(json_string_value(json_array_get(tags, 0)), "#octopuses");
    json_t *kw = json_object_get(json_object_get(json_array_get(json_object_get(s, "scenes"), 1),
                                                 "visual"), "keywords");
    ck_assert_str_eq(json_string_value(json_array_get(kw, 0)), "octopuses");
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(s, "description")),
                                 "octopuses"));
    json_decref(s);

    /* "the history of X" is about X */
    s = write_for("The history of the Roman Empire", "informative", 45, "en");
    all = json_dumps(json_object_get(s, "scenes"), 0);
    ck_assert_ptr_nonnull(strstr(all, "the Roman Empire"));
    free(all);
    json_decref(s);
}
END_TEST

START_TEST(test_template_palettes_rotate)
{
    struct job_options opt;
    job_options_defaults(&opt, NULL);
    snprintf(opt.palette, sizeof(opt.palette), "sunset");
    json_t *s = script_template_write("Why octopuses have three hearts", &opt);
    json_t *scenes = json_object_get(s, "scenes");
    const char *first = json_string_value(
        json_object_get(json_object_get(json_array_get(scenes, 0), "visual"), "palette"));
    const char *second = json_string_value(
        json_object_get(json_object_get(json_array_get(scenes, 1), "visual"), "palette"));
    ck_assert_str_eq(first, "sunset");
    ck_assert_str_ne(first, second);
    json_decref(s);
}
END_TEST

START_TEST(test_template_translated)
{
    json_t *s = write_for("Por qué los pulpos tienen tres corazones", "informative", 45, "es");
    char *all = json_dumps(s, 0);
    ck_assert_ptr_nonnull(strstr(all, "los pulpos"));
    ck_assert_ptr_nonnull(strstr(all, "S\xc3\xadguenos"));
    free(all);
    json_decref(s);
}
END_TEST

START_TEST(test_write_providers)
{
    struct job_options opt;
    job_options_defaults(&opt, NULL);
    json_t *out = NULL, *usage = NULL;
    struct vf_err err = {{0}};
    snprintf(opt.script_provider, sizeof(opt.script_provider), "gemini");
    ck_assert_int_eq(script_write(NULL, "topic", &opt, &out, &usage, &err), VF_EPERMANENT);
    ck_assert_str_eq(err.text, "script provider gemini is not configured");
    ck_assert_ptr_null(out);
    snprintf(opt.script_provider, sizeof(opt.script_provider), "template");
    ck_assert_int_eq(script_write(NULL, "  ", &opt, &out, &usage, &err), VF_EINVAL);
    ck_assert_int_eq(script_write(NULL, "Tides", &opt, &out, &usage, &err), VF_OK);
    ck_assert_ptr_null(usage);
    ck_assert_ptr_nonnull(out);
    json_decref(out);
}
END_TEST

Suite *script_suite(void)
{
    Suite *s = suite_create("script");
    TCase *tc = tcase_create("validate");
    tcase_add_loop_test(tc, test_validate_rows, 0,
                        (int)(sizeof(script_rows) / sizeof(script_rows[0])));
    tcase_add_test(tc, test_validate_not_object);
    tcase_add_test(tc, test_validate_too_many_scenes);
    tcase_add_loop_test(tc, test_budget_rows, 0,
                        (int)(sizeof(budget_rows) / sizeof(budget_rows[0])));
    tcase_add_test(tc, test_many_errors_are_capped);
    tcase_add_test(tc, test_errors_format);
    tcase_add_loop_test(tc, test_count_words, 0,
                        (int)(sizeof(words_rows) / sizeof(words_rows[0])));
    tcase_add_test(tc, test_budget_numbers);
    tcase_add_test(tc, test_normalize);
    suite_add_tcase(s, tc);

    TCase *tw = tcase_create("template");
    tcase_set_timeout(tw, 60);
    tcase_add_loop_test(tw, test_template_valid_everywhere, 0,
                        (int)(sizeof(topics) / sizeof(topics[0])));
    tcase_add_test(tw, test_template_deterministic);
    tcase_add_test(tw, test_template_word_budget);
    tcase_add_test(tw, test_template_uses_topic_words);
    tcase_add_test(tw, test_template_palettes_rotate);
    tcase_add_test(tw, test_template_translated);
    tcase_add_test(tw, test_write_providers);
    suite_add_tcase(s, tw);
    return s;
}
