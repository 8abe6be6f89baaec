/* Job options: defaults, the strict parser behind POST /api/jobs/..., the
 * normalised JSON form stored on the job, and the catalog of choices that
 * GET /api/options shows. The parser works on a copy and commits only when
 * every key is valid, so a failed parse leaves the caller's options alone. */
#include "script/options.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/config.h"
#include "render/palette.h"

#define DURATION_MIN 15
#define DURATION_MAX 180
#define DURATION_DEFAULT 45
#define MUSIC_MAX_TRACKS 200

struct language {
    const char *code;
    const char *name;
};

/* espeak-ng languages (code as espeak_SetVoiceByName accepts it) whose code
 * is 2–3 lowercase letters with an optional 2–3 character region. A static
 * list keeps validation cheap and thread-safe: asking libespeak-ng needs it
 * initialised, which is the renderer's business. */
static const struct language languages[] = {
    {"en", "English"}, {"en-us", "English (America)"}, {"en-gb", "English (Great Britain)"},
    {"es", "Spanish (Spain)"}, {"fr", "French (France)"}, {"fr-be", "French (Belgium)"},
    {"fr-ch", "French (Switzerland)"}, {"de", "German"}, {"pt", "Portuguese (Portugal)"},
    {"pt-br", "Portuguese (Brazil)"}, {"it", "Italian"}, {"nl", "Dutch"},
    {"af", "Afrikaans"}, {"am", "Amharic"}, {"ar", "Arabic"}, {"as", "Assamese"},
    {"az", "Azerbaijani"}, {"ba", "Bashkir"}, {"be", "Belarusian"}, {"bg", "Bulgarian"},
    {"bn", "Bengali"}, {"bs", "Bosnian"}, {"ca", "Catalan"}, {"cmn", "Chinese (Mandarin)"},
    {"cs", "Czech"}, {"cv", "Chuvash"}, {"cy", "Welsh"}, {"da", "Danish"}, {"el", "Greek"},
    {"eo", "Esperanto"}, {"et", "Estonian"}, {"eu", "Basque"}, {"fa", "Persian"},
    {"fi", "Finnish"}, {"ga", "Gaelic (Irish)"}, {"gd", "Gaelic (Scottish)"},
    {"gn", "Guarani"}, {"gu", "Gujarati"}, {"haw", "Hawaiian"}, {"he", "Hebrew"},
    {"hi", "Hindi"}, {"hr", "Croatian"}, {"ht", "Haitian Creole"}, {"hu", "Hungarian"},
    {"hy", "Armenian"}, {"id", "Indonesian"}, {"is", "Icelandic"}, {"ja", "Japanese"},
    {"ka", "Georgian"}, {"kk", "Kazakh"}, {"kl", "Greenlandic"}, {"kn", "Kannada"},
    {"ko", "Korean"}, {"ku", "Kurdish"}, {"ky", "Kyrgyz"}, {"la", "Latin"},
    {"lb", "Luxembourgish"}, {"lt", "Lithuanian"}, {"lv", "Latvian"}, {"mi", "Maori"},
    {"mk", "Macedonian"}, {"ml", "Malayalam"}, {"mr", "Marathi"}, {"ms", "Malay"},
    {"mt", "Maltese"}, {"my", "Myanmar (Burmese)"}, {"nb", "Norwegian Bokmal"},
    {"ne", "Nepali"}, {"om", "Oromo"}, {"or", "Oriya"}, {"pa", "Punjabi"},
    {"pl", "Polish"}, {"qu", "Quechua"}, {"ro", "Romanian"}, {"ru", "Russian"},
    {"sd", "Sindhi"}, {"si", "Sinhala"}, {"sk", "Slovak"}, {"sl", "Slovenian"},
    {"sq", "Albanian"}, {"sr", "Serbian"}, {"sv", "Swedish"}, {"sw", "Swahili"},
    {"ta", "Tamil"}, {"te", "Telugu"}, {"th", "Thai"}, {"tk", "Turkmen"},
    {"tn", "Setswana"}, {"tr", "Turkish"}, {"tt", "Tatar"}, {"ug", "Uyghur"},
    {"uk", "Ukrainian"}, {"ur", "Urdu"}, {"uz", "Uzbek"}, {"vi", "Vietnamese"},
    {"yue", "Chinese (Cantonese)"},
};

/* espeak voice ids: a language plus a variant (+f1..f4 female, +m1..m7 male). */
static const char *const espeak_voices[] = {
    "en-us+f3", "en-us+f1", "en-us+f2", "en-us+f4", "en-us+m1", "en-us+m3", "en-us+m7",
    "en-gb+f3", "en-gb+m3", "es+f3", "es+m3", "fr+f3", "fr+m3", "de+f3", "de+m3",
    "pt-br+f3", "pt-br+m3", "it+f3", "it+m3", NULL,
};

/* Prebuilt voices of Gemini TTS, offered when it is configured. */
static const char *const gemini_voices[] = {
    "Kore", "Puck", "Charon", "Fenrir", "Aoede", "Leda", "Orus", "Zephyr", NULL,
};

static const char *const aspects[] = {"9:16", "16:9", "1:1", NULL};
static const char *const tts_engines[] = {"espeak", "gemini", "none", NULL};
static const char *const script_providers[] = {"template", "gemini", "openai", NULL};
static const char *const tones[] = {
    "informative", "fun", "dramatic", "calm", "inspiring", "mysterious", NULL,
};
/* The fonts of Debian's fonts-dejavu-core, which the stack installs. */
static const char *const fonts[] = {"DejaVu Sans", "DejaVu Serif", "DejaVu Sans Mono", NULL};
static const char *const caption_positions[] = {"bottom", "center", "top", NULL};
static const char *const music_extensions[] = {
    ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wav", ".flac", NULL,
};

static const char *nonempty(const char *s, const char *fallback)
{
    return s && *s ? s : fallback;
}

static int in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

void job_options_defaults(struct job_options *o, const struct vf_config *cfg)
{
    memset(o, 0, sizeof(*o));
    vf_strlcpy(o->language, "en", sizeof(o->language));
    o->duration_s = DURATION_DEFAULT;
    vf_strlcpy(o->aspect, "9:16", sizeof(o->aspect));
    o->resolution = 1080;
    vf_strlcpy(o->voice, nonempty(cfg ? cfg->default_voice : NULL, "en-us+f3"), sizeof(o->voice));
    vf_strlcpy(o->tts, nonempty(cfg ? cfg->tts : NULL, "espeak"), sizeof(o->tts));
    vf_strlcpy(o->script_provider, nonempty(cfg ? cfg->script_provider : NULL, "template"),
               sizeof(o->script_provider));
    vf_strlcpy(o->tone, "informative", sizeof(o->tone));
    vf_strlcpy(o->palette, PALETTE_DEFAULT, sizeof(o->palette));
    vf_strlcpy(o->font, "DejaVu Sans", sizeof(o->font));
    vf_strlcpy(o->caption_color, "#FFFFFF", sizeof(o->caption_color));
    vf_strlcpy(o->highlight_color, "#FFD400", sizeof(o->highlight_color));
    vf_strlcpy(o->caption_position, "bottom", sizeof(o->caption_position));
    o->music_track[0] = '\0';
    o->music_volume = 0.15;
    o->cfg = cfg;
}

static int lower_letters(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 'a' || s[i] > 'z')
            return 0;
    return 1;
}

/* "xx", "xxx", optionally followed by "-yy" or "-yyy" (lowercase letters or digits). */
static int language_shape_ok(const char *code)
{
    size_t len = strlen(code);
    const char *dash = strchr(code, '-');
    size_t primary = dash ? (size_t)(dash - code) : len;
    if (primary < 2 || primary > 3 || !lower_letters(code, primary))
        return 0;
    if (!dash)
        return 1;
    size_t region = len - primary - 1;
    if (region < 2 || region > 3)
        return 0;
    for (const char *p = dash + 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return 0;
    return 1;
}

int job_options_language_known(const char *code)
{
    if (!code || !language_shape_ok(code))
        return 0;
    for (size_t i = 0; i < sizeof(languages) / sizeof(languages[0]); i++)
        if (strcmp(languages[i].code, code) == 0)
            return 1;
    return 0;
}

static int fail(struct field_error *fe, enum field_error_kind kind, const char *field,
                const char *message)
{
    vf_snprintf(fe->field, sizeof(fe->field), "options.%s", field);
    vf_strlcpy(fe->message, message, sizeof(fe->message));
    fe->kind = kind;
    return -1;
}

/* The string value of v when it is a string without embedded NULs, else NULL. */
static const char *plain_string(json_t *v)
{
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    return strlen(s) == json_string_length(v) ? s : NULL;
}

static int parse_choice(json_t *v, const char *const *choices, char *dst, size_t dstlen,
                        const char *field, const char *message, struct field_error *fe)
{
    const char *s = plain_string(v);
    if (!s || !in_list(choices, s))
        return fail(fe, FE_INVALID, field, message);
    vf_strlcpy(dst, s, dstlen);
    return 0;
}

static int parse_voice(json_t *v, struct job_options *o, struct field_error *fe)
{
    const char *s = plain_string(v);
    size_t len = s ? strlen(s) : 0;
    int ok = len >= 1 && len <= 63;
    for (size_t i = 0; ok && i < len; i++) {
        char c = s[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '+' || c == '_' || c == '-';
    }
    if (!ok)
        return fail(fe, FE_INVALID, "voice",
                    "must be 1 to 63 letters, digits, '+', '_' or '-', like en-us+f3");
    vf_strlcpy(o->voice, s, sizeof(o->voice));
    return 0;
}

/* "#RRGGBB" in either case; stored upper case. */
static int parse_color(json_t *v, char *dst, size_t dstlen, const char *field,
                       struct field_error *fe)
{
    const char *s = plain_string(v);
    int ok = s && strlen(s) == 7 && s[0] == '#';
    for (int i = 1; ok && i < 7; i++) {
        char c = s[i];
        ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }
    if (!ok)
        return fail(fe, FE_INVALID, field, "must be a colour like #FFD400");
    for (int i = 0; i < 7; i++)
        dst[i] = (s[i] >= 'a' && s[i] <= 'f') ? (char)(s[i] - 'a' + 'A') : s[i];
    dst[7] = '\0';
    (void)dstlen;
    return 0;
}

static int parse_style(json_t *style, struct job_options *o, struct field_error *fe)
{
    if (!json_is_object(style))
        return fail(fe, FE_INVALID, "style", "must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(style, key, v) {
        int rc;
        if (strcmp(key, "palette") == 0) {
            const char *s = plain_string(v);
            if (!s || !palette_find(s))
                return fail(fe, FE_INVALID, "style.palette",
                            "must be one of the palettes listed by /api/options");
            vf_strlcpy(o->palette, s, sizeof(o->palette));
            rc = 0;
        } else if (strcmp(key, "font") == 0) {
            rc = parse_choice(v, fonts, o->font, sizeof(o->font), "style.font",
                              "must be one of the fonts listed by /api/options", fe);
        } else if (strcmp(key, "caption_color") == 0) {
            rc = parse_color(v, o->caption_color, sizeof(o->caption_color),
                             "style.caption_color", fe);
        } else if (strcmp(key, "highlight_color") == 0) {
            rc = parse_color(v, o->highlight_color, sizeof(o->highlight_color),
                             "style.highlight_color", fe);
        } else if (strcmp(key, "caption_position") == 0) {
            rc = parse_choice(v, caption_positions, o->caption_position,
                              sizeof(o->caption_position), "style.caption_position",
                              "must be bottom, center or top", fe);
        } else {
            char field[48];
            vf_snprintf(field, sizeof(field), "style.%.30s", key);
            return fail(fe, FE_UNKNOWN, field, "unknown option");
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* A plain file name with a known audio extension: no directories, no hidden files. */
static int music_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len >= sizeof(((struct job_options *)0)->music_track) || name[0] == '.')
        return 0;
    for (const char *p = name; *p; p++)
        if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    for (const char *const *ext = music_extensions; *ext; ext++)
        if (has_suffix(name, *ext))
            return 1;
    return 0;
}

static int music_file_exists(const char *media_dir, const char *name)
{
    char path[4096];
    struct stat st;
    if (vf_snprintf(path, sizeof(path), "%s/music/%s", media_dir, name) != 0)
        return 0;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int parse_music_track(json_t *v, struct job_options *o, struct field_error *fe)
{
    if (json_is_null(v)) {
        o->music_track[0] = '\0';
        return 0;
    }
    const char *s = plain_string(v);
    if (!s)
        return fail(fe, FE_INVALID, "music.track", "must be a file name or null");
    if (!*s) {
        o->music_track[0] = '\0';
        return 0;
    }
    if (!music_name_ok(s))
        return fail(fe, FE_INVALID, "music.track",
                    "must be an audio file name from /api/options, without a path");
    /* Without a config (re-reading stored options) the track was checked when
     * the job was accepted; with one, it must be in the media library now. */
    if (o->cfg) {
        const char *media_dir = o->cfg->media_dir;
        if (!media_dir || !*media_dir)
            return fail(fe, FE_INVALID, "music.track",
                        "no media library is configured (media_dir), so there is no music");
        if (!music_file_exists(media_dir, s))
            return fail(fe, FE_INVALID, "music.track", "no such music track");
    }
    vf_strlcpy(o->music_track, s, sizeof(o->music_track));
    return 0;
}

static int parse_music(json_t *music, struct job_options *o, struct field_error *fe)
{
    if (!json_is_object(music))
        return fail(fe, FE_INVALID, "music", "must be an object");
    const char *key;
    json_t *v;
    json_object_foreach(music, key, v) {
        if (strcmp(key, "track") == 0) {
            if (parse_music_track(v, o, fe) != 0)
                return -1;
        } else if (strcmp(key, "volume") == 0) {
            double vol = json_is_number(v) ? json_number_value(v) : -1;
            if (!(vol >= 0.0 && vol <= 1.0))
                return fail(fe, FE_INVALID, "music.volume", "must be a number from 0 to 1");
            o->music_volume = vol;
        } else {
            char field[48];
            vf_snprintf(field, sizeof(field), "music.%.30s", key);
            return fail(fe, FE_UNKNOWN, field, "unknown option");
        }
    }
    return 0;
}

static int parse_int_range(json_t *v, int lo, int hi, int *dst)
{
    if (!json_is_integer(v))
        return -1;
    json_int_t n = json_integer_value(v);
    if (n < lo || n > hi)
        return -1;
    *dst = (int)n;
    return 0;
}

/* A chosen provider must have what it needs in the config. */
static int provider_configured(const struct vf_config *cfg, const char *name)
{
    if (!cfg || strcmp(name, "template") == 0 || strcmp(name, "espeak") == 0 ||
        strcmp(name, "none") == 0)
        return 1;
    if (strcmp(name, "gemini") == 0)
        return cfg->gemini_api_key && *cfg->gemini_api_key;
    if (strcmp(name, "openai") == 0)
        return cfg->openai_base_url && *cfg->openai_base_url;
    return 0;
}

static int parse_key(const char *key, json_t *v, struct job_options *o, struct field_error *fe)
{
    if (strcmp(key, "language") == 0) {
        const char *s = plain_string(v);
        if (!s || !job_options_language_known(s))
            return fail(fe, FE_INVALID, key,
                        "must be a language code listed by /api/options, like en or pt-br");
        vf_strlcpy(o->language, s, sizeof(o->language));
        return 0;
    }
    if (strcmp(key, "duration_s") == 0) {
        if (parse_int_range(v, DURATION_MIN, DURATION_MAX, &o->duration_s) != 0)
            return fail(fe, FE_INVALID, key, "must be a whole number of seconds from 15 to 180");
        return 0;
    }
    if (strcmp(key, "aspect") == 0)
        return parse_choice(v, aspects, o->aspect, sizeof(o->aspect), key,
                            "must be 9:16, 16:9 or 1:1", fe);
    if (strcmp(key, "resolution") == 0) {
        if (!json_is_integer(v) ||
            (json_integer_value(v) != 1080 && json_integer_value(v) != 720))
            return fail(fe, FE_INVALID, key, "must be 1080 or 720");
        o->resolution = (int)json_integer_value(v);
        return 0;
    }
    if (strcmp(key, "voice") == 0)
        return parse_voice(v, o, fe);
    if (strcmp(key, "tts") == 0) {
        if (parse_choice(v, tts_engines, o->tts, sizeof(o->tts), key,
                         "must be espeak, gemini or none", fe) != 0)
            return -1;
        if (!provider_configured(o->cfg, o->tts))
            return fail(fe, FE_INVALID, key, "this voice engine is not configured on the server");
        return 0;
    }
    if (strcmp(key, "script_provider") == 0) {
        if (parse_choice(v, script_providers, o->script_provider, sizeof(o->script_provider),
                         key, "must be template, gemini or openai", fe) != 0)
            return -1;
        if (!provider_configured(o->cfg, o->script_provider))
            return fail(fe, FE_INVALID, key,
                        "this script provider is not configured on the server");
        return 0;
    }
    if (strcmp(key, "tone") == 0)
        return parse_choice(v, tones, o->tone, sizeof(o->tone), key,
                            "must be one of the tones listed by /api/options", fe);
    if (strcmp(key, "style") == 0)
        return parse_style(v, o, fe);
    if (strcmp(key, "music") == 0)
        return parse_music(v, o, fe);
    char field[48];
    vf_snprintf(field, sizeof(field), "%.40s", key);
    return fail(fe, FE_UNKNOWN, field, "unknown option");
}

/* A language chosen without a voice gets the default voice's variant in that
 * language ("fr" with "en-us+f3" speaks as "fr+f3"), so espeak does not read
 * French with English rules. Voices of the same language are kept. */
static void voice_follow_language(struct job_options *o)
{
    char base[64];
    const char *plus = strchr(o->voice, '+');
    size_t baselen = plus ? (size_t)(plus - o->voice) : strlen(o->voice);
    if (baselen >= sizeof(base))
        return;
    memcpy(base, o->voice, baselen);
    base[baselen] = '\0';
    size_t lp = strcspn(o->language, "-"), bp = strcspn(base, "-");
    if (lp == bp && strncmp(o->language, base, lp) == 0)
        return;
    vf_snprintf(o->voice, sizeof(o->voice), "%s%s", o->language, plus ? plus : "");
}

int job_options_parse(json_t *in, struct job_options *o, struct field_error *fe)
{
    memset(fe, 0, sizeof(*fe));
    if (!in)
        return 0;
    if (!json_is_object(in)) {
        vf_strlcpy(fe->field, "options", sizeof(fe->field));
        vf_strlcpy(fe->message, "must be an object", sizeof(fe->message));
        fe->kind = FE_INVALID;
        return -1;
    }
    struct job_options tmp = *o;
    const char *key;
    json_t *v;
    json_object_foreach(in, key, v) {
        if (parse_key(key, v, &tmp, fe) != 0)
            return -1;
    }
    if (json_object_get(in, "language") && !json_object_get(in, "voice") &&
        strcmp(tmp.tts, "espeak") == 0)
        voice_follow_language(&tmp);
    *o = tmp;
    return 0;
}

json_t *job_options_to_json(const struct job_options *o)
{
    return json_pack("{s:s, s:i, s:s, s:i, s:s, s:s, s:s, s:s,"
                     " s:{s:s, s:s, s:s, s:s, s:s}, s:{s:s?, s:f}}",
                     "language", o->language, "duration_s", o->duration_s,
                     "aspect", o->aspect, "resolution", o->resolution,
                     "voice", o->voice, "tts", o->tts,
                     "script_provider", o->script_provider, "tone", o->tone,
                     "style", "palette", o->palette, "font", o->font,
                     "caption_color", o->caption_color,
                     "highlight_color", o->highlight_color,
                     "caption_position", o->caption_position,
                     "music", "track", o->music_track[0] ? o->music_track : NULL,
                     "volume", o->music_volume);
}

void job_options_frame_size(const struct job_options *o, int *width, int *height)
{
    int s = o->resolution == 720 ? 720 : 1080;
    int l = s == 720 ? 1280 : 1920;
    if (strcmp(o->aspect, "16:9") == 0) {
        *width = l;
        *height = s;
    } else if (strcmp(o->aspect, "1:1") == 0) {
        *width = s;
        *height = s;
    } else {
        *width = s;
        *height = l;
    }
}

static json_t *string_array(const char *const *list)
{
    json_t *a = json_array();
    for (; a && *list; list++)
        json_array_append_new(a, json_string(*list));
    return a;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Audio files in media_dir/music, sorted; an unreadable folder is an empty list. */
static json_t *music_tracks(const char *media_dir)
{
    json_t *out = json_array();
    char path[4096];
    if (!out || !media_dir || !*media_dir ||
        vf_snprintf(path, sizeof(path), "%s/music", media_dir) != 0)
        return out;
    DIR *d = opendir(path);
    if (!d)
        return out;
    char *names[MUSIC_MAX_TRACKS];
    size_t n = 0;
    struct dirent *de;
    while (n < MUSIC_MAX_TRACKS && (de = readdir(d)) != NULL) {
        if (!music_name_ok(de->d_name) || !music_file_exists(media_dir, de->d_name))
            continue;
        names[n] = strdup(de->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), compare_names);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(out, json_string(names[i]));
        free(names[i]);
    }
    return out;
}

static json_t *language_array(void)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < sizeof(languages) / sizeof(languages[0]); i++)
        json_array_append_new(a, json_pack("{s:s, s:s}", "code", languages[i].code,
                                           "name", languages[i].name));
    return a;
}

json_t *job_options_catalog(const struct vf_config *cfg)
{
    struct job_options def;
    job_options_defaults(&def, cfg);
    int gemini = provider_configured(cfg, "gemini") && cfg;
    json_t *script = json_array(), *tts = json_array();
    if (!script || !tts) {
        json_decref(script);
        json_decref(tts);
        return NULL;
    }
    json_array_append_new(script, json_string("template"));
    if (gemini)
        json_array_append_new(script, json_string("gemini"));
    if (cfg && provider_configured(cfg, "openai"))
        json_array_append_new(script, json_string("openai"));
    json_array_append_new(tts, json_string("espeak"));
    if (gemini)
        json_array_append_new(tts, json_string("gemini"));
    json_array_append_new(tts, json_string("none"));

    return json_pack("{s:o, s:o, s:o, s:o, s:[i,i], s:{s:i, s:i, s:i}, s:o, s:o, s:o,"
                     " s:o, s:o, s:o, s:{s:o, s:o}, s:o}",
                     "languages", language_array(),
                     "voices", string_array(espeak_voices),
                     "gemini_voices", gemini ? string_array(gemini_voices) : json_array(),
                     "aspects", string_array(aspects),
                     "resolutions", 1080, 720,
                     "durations", "min", DURATION_MIN, "max", DURATION_MAX,
                     "default", DURATION_DEFAULT,
                     "tts", string_array(tts_engines),
                     "tones", string_array(tones),
                     "palettes", string_array(palette_names()),
                     "fonts", string_array(fonts),
                     "caption_positions", string_array(caption_positions),
                     "music", music_tracks(cfg ? cfg->media_dir : NULL),
                     "providers", "script", script, "tts", tts,
                     "defaults", job_options_to_json(&def));
}
