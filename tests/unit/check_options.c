/* Job options: parse rows (accepted and rejected), frame sizes, the JSON round
 * trip, and the catalog. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "script/options.h"
#include "suites.h"


struct parse_row {
    const char *json;           /* the options object */
    int ok;
    const char *field;          /* expected fe.field when rejected */
    enum field_error_kind kind;
};

static const struct parse_row parse_rows[] = {
    {"{}", 1, NULL, FE_INVALID},
    {"{\"language\":\"fr\"}", 1, NULL, FE_INVALID},
    {"{\"language\":\"pt-br\",\"duration_s\":15}", 1, NULL, FE_INVALID},
    {"{\"duration_s\":180}", 1, NULL, FE_INVALID},
    {"{\"aspect\":\"16:9\",\"resolution\":720}", 1, NULL, FE_INVALID},
    {"{\"aspect\":\"1:1\"}", 1, NULL, FE_INVALID},
    {"{\"voice\":\"en-us+m3\",\"tts\":\"none\"}", 1, NULL, FE_INVALID},
    {"{\"voice\":\"Kore\"}", 1, NULL, FE_INVALID},
    {"{\"script_provider\":\"template\",\"tone\":\"mysterious\"}", 1, NULL, FE_INVALID},
    {"{\"style\":{\"palette\":\"sunset\",\"font\":\"DejaVu Serif\",\"caption_color\":\"#00ff00\","
     "\"highlight_color\":\"#112233\",\"caption_position\":\"top\"}}", 1, NULL, FE_INVALID},
    {"{\"style\":{}}", 1, NULL, FE_INVALID},
    {"{\"music\":{\"track\":null,\"volume\":0}}", 1, NULL, FE_INVALID},
    {"{\"music\":{\"volume\":1}}", 1, NULL, FE_INVALID},
    {"{\"music\":{\"track\":\"calm.mp3\",\"volume\":0.3}}", 1, NULL, FE_INVALID},

    {"{\"colour\":\"red\"}", 0, "options.colour", FE_UNKNOWN},
    {"{\"language\":\"xx\"}", 0, "options.language", FE_INVALID},
    {"{\"language\":\"EN\"}", 0, "options.language", FE_INVALID},
    {"{\"language\":\"english\"}", 0, "options.language", FE_INVALID},
    {"{\"language\":5}", 0, "options.language", FE_INVALID},
    {"{\"duration_s\":14}", 0, "options.duration_s", FE_INVALID},
    {"{\"duration_s\":181}", 0, "options.duration_s", FE_INVALID},
    {"{\"duration_s\":45.5}", 0, "options.duration_s", FE_INVALID},
    {"{\"duration_s\":\"45\"}", 0, "options.duration_s", FE_INVALID},
    {"{\"aspect\":\"4:3\"}", 0, "options.aspect", FE_INVALID},
    {"{\"resolution\":480}", 0, "options.resolution", FE_INVALID},
    {"{\"resolution\":\"1080\"}", 0, "options.resolution", FE_INVALID},
    {"{\"voice\":\"\"}", 0, "options.voice", FE_INVALID},
    {"{\"voice\":\"en us\"}", 0, "options.voice", FE_INVALID},
    {"{\"voice\":\"../etc/passwd\"}", 0, "options.voice", FE_INVALID},
    {"{\"voice\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 0,
     "options.voice", FE_INVALID},
    {"{\"tts\":\"festival\"}", 0, "options.tts", FE_INVALID},
    {"{\"script_provider\":\"claude\"}", 0, "options.script_provider", FE_INVALID},
    {"{\"tone\":\"angry\"}", 0, "options.tone", FE_INVALID},
    {"{\"tone\":null}", 0, "options.tone", FE_INVALID},
    {"{\"style\":\"sunset\"}", 0, "options.style", FE_INVALID},
    {"{\"style\":{\"palette\":\"rainbow\"}}", 0, "options.style.palette", FE_INVALID},
    {"{\"style\":{\"font\":\"Comic Sans\"}}", 0, "options.style.font", FE_INVALID},
    {"{\"style\":{\"caption_color\":\"white\"}}", 0, "options.style.caption_color", FE_INVALID},
    {"{\"style\":{\"highlight_color\":\"#FFD40\"}}", 0, "options.style.highlight_color",
     FE_INVALID},
    {"{\"style\":{\"caption_color\":\"#GGGGGG\"}}", 0, "options.style.caption_color", FE_INVALID},
    {"{\"style\":{\"caption_position\":\"left\"}}", 0, "options.style.caption_position",
     FE_INVALID},
    {"{\"style\":{\"size\":12}}", 0, "options.style.size", FE_UNKNOWN},
    {"{\"music\":null}", 0, "options.music", FE_INVALID},
    {"{\"music\":[]}", 0, "options.music", FE_INVALID},
    {"{\"music\":{\"track\":\"../secret.mp3\"}}", 0, "options.music.track", FE_INVALID},
    {"{\"music\":{\"track\":\".hidden.mp3\"}}", 0, "options.music.track", FE_INVALID},
    {"{\"music\":{\"track\":\"notes.txt\"}}", 0, "options.music.track", FE_INVALID},
    {"{\"music\":{\"track\":7}}", 0, "options.music.track", FE_INVALID},
    {"{\"music\":{\"volume\":1.5}}", 0, "options.music.volume", FE_INVALID},
    {"{\"music\":{\"volume\":-0.1}}", 0, "options.music.volume", FE_INVALID},
    {"{\"music\":{\"volume\":\"loud\"}}", 0, "options.music.volume", FE_INVALID},
    {"{\"music\":{\"loop\":true}}", 0, "options.music.loop", FE_UNKNOWN},
};

START_TEST(test_parse_rows)
{
    const struct parse_row *row = &parse_rows[_i];
    json_error_t jerr;
    json_t *in = json_loads(row->json, 0, &jerr);
    ck_assert_msg(in != NULL, "row %d does not parse: %s", _i, jerr.text);
    struct job_options o, before;
    struct field_error fe;
    job_options_defaults(&o, NULL);
    before = o;
    int rc = job_options_parse(in, &o, &fe);
    if (row->ok) {
        ck_assert_msg(rc == 0, "row %d (%s) rejected: %s %s", _i, row->json, fe.field, fe.message);
    } else {
        ck_assert_msg(rc == -1, "row %d (%s) accepted", _i, row->json);
        ck_assert_str_eq(fe.field, row->field);
        ck_assert_int_eq(fe.kind, row->kind);
        ck_assert(fe.message[0] != '\0');
        ck_assert_msg(memcmp(&o, &before, sizeof(o)) == 0, "row %d changed the options", _i);
    }
    json_decref(in);
}
END_TEST

START_TEST(test_defaults)
{
    struct job_options o;
    job_options_defaults(&o, NULL);
    ck_assert_str_eq(o.language, "en");
    ck_assert_int_eq(o.duration_s, 45);
    ck_assert_str_eq(o.aspect, "9:16");
    ck_assert_int_eq(o.resolution, 1080);
    ck_assert_str_eq(o.voice, "en-us+f3");
    ck_assert_str_eq(o.tts, "espeak");
    ck_assert_str_eq(o.script_provider, "template");
    ck_assert_str_eq(o.tone, "informative");
    ck_assert_str_eq(o.palette, "deep-sea");
    ck_assert_str_eq(o.font, "DejaVu Sans");
    ck_assert_str_eq(o.caption_color, "#FFFFFF");
    ck_assert_str_eq(o.highlight_color, "#FFD400");
    ck_assert_str_eq(o.caption_position, "bottom");
    ck_assert_str_eq(o.music_track, "");
    ck_assert(o.music_volume > 0.149 && o.music_volume < 0.151);

    char voice[] = "en-gb+m3", tts[] = "none", provider[] = "template";
    struct vf_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.default_voice = voice;
    cfg.tts = tts;
    cfg.script_provider = provider;
    job_options_defaults(&o, &cfg);
    ck_assert_str_eq(o.voice, "en-gb+m3");
    ck_assert_str_eq(o.tts, "none");
}
END_TEST

START_TEST(test_parse_null_and_non_object)
{
    struct job_options o;
    struct field_error fe;
    job_options_defaults(&o, NULL);
    ck_assert_int_eq(job_options_parse(NULL, &o, &fe), 0);
    json_t *arr = json_array();
    ck_assert_int_eq(job_options_parse(arr, &o, &fe), -1);
    ck_assert_str_eq(fe.field, "options");
    ck_assert_int_eq(fe.kind, FE_INVALID);
    json_decref(arr);
}
END_TEST

START_TEST(test_parse_values)
{
    struct job_options o;
    struct field_error fe;
    job_options_defaults(&o, NULL);
    json_t *in = json_loads("{\"duration_s\":60,\"style\":{\"caption_color\":\"#abcdef\"},"
                            "\"music\":{\"volume\":0.5}}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &o, &fe), 0);
    ck_assert_int_eq(o.duration_s, 60);
    ck_assert_str_eq(o.caption_color, "#ABCDEF");
    ck_assert(o.music_volume == 0.5);
    json_decref(in);
}
END_TEST

START_TEST(test_voice_follows_language)
{
    struct job_options o;
    struct field_error fe;
    json_t *in;

    job_options_defaults(&o, NULL);
    in = json_loads("{\"language\":\"fr\"}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &o, &fe), 0);
    ck_assert_str_eq(o.voice, "fr+f3");
    json_decref(in);

    job_options_defaults(&o, NULL);
    in = json_loads("{\"language\":\"en-gb\"}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &o, &fe), 0);
    ck_assert_str_eq(o.voice, "en-us+f3");   /* same language: voice kept */
    json_decref(in);

    job_options_defaults(&o, NULL);
    in = json_loads("{\"language\":\"de\",\"voice\":\"en-us+m3\"}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &o, &fe), 0);
    ck_assert_str_eq(o.voice, "en-us+m3");   /* an explicit voice wins */
    json_decref(in);
}
END_TEST

struct frame_row {
    const char *aspect;
    int resolution, width, height;
};

static const struct frame_row frame_rows[] = {
    {"9:16", 1080, 1080, 1920}, {"9:16", 720, 720, 1280},
    {"16:9", 1080, 1920, 1080}, {"16:9", 720, 1280, 720},
    {"1:1", 1080, 1080, 1080},  {"1:1", 720, 720, 720},
};

START_TEST(test_frame_size)
{
    const struct frame_row *row = &frame_rows[_i];
    struct job_options o;
    job_options_defaults(&o, NULL);
    snprintf(o.aspect, sizeof(o.aspect), "%s", row->aspect);
    o.resolution = row->resolution;
    int w = 0, h = 0;
    job_options_frame_size(&o, &w, &h);
    ck_assert_int_eq(w, row->width);
    ck_assert_int_eq(h, row->height);
}
END_TEST

START_TEST(test_to_json_round_trip)
{
    struct job_options a, b;
    struct field_error fe;
    job_options_defaults(&a, NULL);
    json_t *in = json_loads("{\"language\":\"es\",\"duration_s\":90,\"aspect\":\"1:1\","
                            "\"resolution\":720,\"voice\":\"es+m3\",\"tts\":\"none\","
                            "\"script_provider\":\"template\","
                            "\"tone\":\"calm\",\"style\":{\"palette\":\"forest\","
                            "\"font\":\"DejaVu Sans Mono\",\"caption_color\":\"#010203\","
                            "\"highlight_color\":\"#A0B0C0\",\"caption_position\":\"center\"},"
                            "\"music\":{\"track\":\"loop.ogg\",\"volume\":0.25}}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &a, &fe), 0);
    json_t *out = job_options_to_json(&a);
    ck_assert_ptr_nonnull(out);
    ck_assert(json_equal(in, out));

    job_options_defaults(&b, NULL);
    ck_assert_int_eq(job_options_parse(out, &b, &fe), 0);
    ck_assert(memcmp(&a, &b, sizeof(a)) == 0);

    /* defaults round-trip too, with music as a null track */
    job_options_defaults(&a, NULL);
    json_t *def = job_options_to_json(&a);
    ck_assert(json_is_null(json_object_get(json_object_get(def, "music"), "track")));
    job_options_defaults(&b, NULL);
    ck_assert_int_eq(job_options_parse(def, &b, &fe), 0);
    ck_assert(memcmp(&a, &b, sizeof(a)) == 0);
    json_decref(def);
    json_decref(out);
    json_decref(in);
}
END_TEST

static char media_dir[64];

static void make_media_dir(void)
{
    char path[128];
    snprintf(media_dir, sizeof(media_dir), "/tmp/vf-options-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(media_dir));
    snprintf(path, sizeof(path), "%s/music", media_dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    const char *files[] = {"b-track.mp3", "a-track.ogg", ".hidden.mp3", "readme.txt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/music/%s", media_dir, files[i]);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/music/folder.mp3", media_dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
}

static void remove_media_dir(void)
{
    const char *names[] = {"b-track.mp3", "a-track.ogg", ".hidden.mp3", "readme.txt"};
    char path[128];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/music/%s", media_dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/music/folder.mp3", media_dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/music", media_dir);
    rmdir(path);
    rmdir(media_dir);
}

START_TEST(test_music_checked_against_media_dir)
{
    make_media_dir();
    struct vf_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.media_dir = media_dir;
    struct job_options o;
    struct field_error fe;
    json_t *in;

    job_options_defaults(&o, &cfg);
    in = json_loads("{\"music\":{\"track\":\"a-track.ogg\"}}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &o, &fe), 0);
    ck_assert_str_eq(o.music_track, "a-track.ogg");
    json_decref(in);

    in = json_loads("{\"music\":{\"track\":\"missing.mp3\"}}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &o, &fe), -1);
    ck_assert_str_eq(fe.field, "options.music.track");
    json_decref(in);

    in = json_loads("{\"music\":{\"track\":\"folder.mp3\"}}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &o, &fe), -1);
    json_decref(in);

    json_t *cat = job_options_catalog(&cfg);
    ck_assert_ptr_nonnull(cat);
    json_t *music = json_object_get(cat, "music");
    ck_assert_int_eq(json_array_size(music), 2);
    ck_assert_str_eq(json_string_value(json_array_get(music, 0)), "a-track.ogg");
    ck_assert_str_eq(json_string_value(json_array_get(music, 1)), "b-track.mp3");
    json_decref(cat);
    remove_media_dir();
}
END_TEST

START_TEST(test_unconfigured_providers_rejected)
{
    struct vf_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    struct job_options o;
    struct field_error fe;
    job_options_defaults(&o, &cfg);
    json_t *in = json_loads("{\"script_provider\":\"gemini\"}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &o, &fe), -1);
    ck_assert_str_eq(fe.field, "options.script_provider");
    json_decref(in);
    in = json_loads("{\"tts\":\"gemini\"}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &o, &fe), -1);
    ck_assert_str_eq(fe.field, "options.tts");
    json_decref(in);

    char key[] = "k", url[] = "http://127.0.0.1:1/v1";
    cfg.gemini_api_key = key;
    cfg.openai_base_url = url;
    job_options_defaults(&o, &cfg);
    in = json_loads("{\"script_provider\":\"openai\",\"tts\":\"gemini\"}", 0, NULL);
    ck_assert_int_eq(job_options_parse(in, &o, &fe), 0);
    json_decref(in);
}
END_TEST

static int array_has(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    return 0;
}

START_TEST(test_catalog)
{
    json_t *cat = job_options_catalog(NULL);
    ck_assert_ptr_nonnull(cat);
    const char *keys[] = {"languages", "voices", "aspects", "resolutions", "durations", "tts",
                          "tones", "palettes", "fonts", "caption_positions", "music",
                          "providers", "defaults"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        ck_assert_msg(json_object_get(cat, keys[i]) != NULL, "missing %s", keys[i]);
    ck_assert(array_has(json_object_get(cat, "palettes"), "deep-sea"));
    ck_assert(array_has(json_object_get(cat, "voices"), "en-us+f3"));
    ck_assert(array_has(json_object_get(cat, "aspects"), "1:1"));
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(cat, "durations"),
                                                        "default")), 45);
    json_t *script = json_object_get(json_object_get(cat, "providers"), "script");
    ck_assert(array_has(script, "template"));
    ck_assert(!array_has(script, "gemini"));
    ck_assert_int_eq(json_array_size(json_object_get(cat, "music")), 0);

    /* every listed language, tone, palette and font is accepted by the parser */
    json_t *defaults = json_object_get(cat, "defaults");
    struct job_options o;
    struct field_error fe;
    job_options_defaults(&o, NULL);
    ck_assert_int_eq(job_options_parse(defaults, &o, &fe), 0);
    size_t i;
    json_t *lang;
    json_array_foreach(json_object_get(cat, "languages"), i, lang) {
        const char *code = json_string_value(json_object_get(lang, "code"));
        ck_assert_ptr_nonnull(code);
        ck_assert_ptr_nonnull(json_string_value(json_object_get(lang, "name")));
        ck_assert_msg(job_options_language_known(code), "%s", code);
    }
    const char *lists[][2] = {{"tones", "tone"}, {"palettes", NULL}, {"fonts", NULL}};
    for (size_t k = 0; k < 3; k++) {
        json_t *v;
        json_array_foreach(json_object_get(cat, lists[k][0]), i, v) {
            json_t *in = k == 0 ? json_pack("{s:O}", "tone", v)
                       : json_pack("{s:{s:O}}", "style", k == 1 ? "palette" : "font", v);
            job_options_defaults(&o, NULL);
            ck_assert_msg(job_options_parse(in, &o, &fe) == 0, "%s: %s", lists[k][0],
                          json_string_value(v));
            json_decref(in);
        }
    }
    json_decref(cat);
}
END_TEST

Suite *options_suite(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("options");
    tcase_add_loop_test(tc, test_parse_rows, 0, (int)(sizeof(parse_rows) / sizeof(parse_rows[0])));
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_parse_null_and_non_object);
    tcase_add_test(tc, test_parse_values);
    tcase_add_test(tc, test_voice_follows_language);
    tcase_add_loop_test(tc, test_frame_size, 0, (int)(sizeof(frame_rows) / sizeof(frame_rows[0])));
    tcase_add_test(tc, test_to_json_round_trip);
    tcase_add_test(tc, test_music_checked_against_media_dir);
    tcase_add_test(tc, test_unconfigured_providers_rejected);
    tcase_add_test(tc, test_catalog);
    suite_add_tcase(s, tc);
    return s;
}
