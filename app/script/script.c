/* The script's one validator, its normaliser, and script_write, which picks
 * the writer named by the job's options. Every script, whether a model, the
 * template or a person wrote it, passes through script_validate before the
 * renderer sees it, so the renderer can trust its shape and sizes. */
#include "script/script.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "render/palette.h"
#include "script/writers.h"

#define TITLE_MAX 120
#define CAPTION_MAX 120
#define KEYWORDS_MAX 8
#define KEYWORD_MAX 40
#define MEDIA_MAX 128
#define HASHTAGS_MAX 15
#define HASHTAG_MAX 40
#define DESCRIPTION_MAX 1000

/* espeak-ng's default rate is 175 words a minute (2.9 a second), but the
 * pauses it makes at commas and full stops bring the delivered pace of
 * ordinary narration down to about 2.6. Natural speech (Gemini TTS) runs at
 * about 150 a minute; without a voice, captions are paced for reading. */
#define WPS_ESPEAK 2.6
#define WPS_NATURAL 2.5
/* The narration may be this much shorter or longer than the budget. */
#define BUDGET_MIN_RATIO 0.5
#define BUDGET_MAX_RATIO 1.6

/* Decodes one UTF-8 sequence at s; returns its length and the code point in
 * *cp, or 0 when the bytes are not valid UTF-8 (overlong, surrogate, > U+10FFFF). */
static size_t utf8_decode(const unsigned char *s, unsigned *cp)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        n = 2; min = 0x80; c &= 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3; min = 0x800; c &= 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        n = 4; min = 0x10000; c &= 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

/* Scripts without spaces between words: each character is a syllable or so. */
static int dense_script(unsigned cp)
{
    return (cp >= 0x2E80 && cp <= 0x9FFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x0E00 && cp <= 0x0EFF) || (cp >= 0x1000 && cp <= 0x109F) ||
           (cp >= 0x1780 && cp <= 0x17FF) || (cp >= 0x20000 && cp <= 0x2FFFF);
}

static int space_or_punct(unsigned cp)
{
    if (cp < 0x80)
        return !((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
                 (cp >= '0' && cp <= '9'));
    return cp == 0xA0 || (cp >= 0x2000 && cp <= 0x206F) || cp == 0x3000 ||
           (cp >= 0xFF00 && cp <= 0xFF0F);
}

int script_count_words(const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    long halves = 0;
    int in_word = 0;
    while (*p) {
        unsigned cp;
        size_t n = utf8_decode(p, &cp);
        if (n == 0)
            return -1;
        p += n;
        if (dense_script(cp)) {
            halves += 1;
            in_word = 0;
        } else if (space_or_punct(cp)) {
            /* apostrophes and hyphens inside a word do not split it */
            if (cp != '\'' && cp != '-' && cp != 0x2019)
                in_word = 0;
        } else if (!in_word) {
            halves += 2;
            in_word = 1;
        }
    }
    return (int)((halves + 1) / 2);
}

double script_words_per_second(const struct job_options *opt)
{
    return strcmp(opt->tts, "espeak") == 0 ? WPS_ESPEAK : WPS_NATURAL;
}

int script_word_budget(const struct job_options *opt)
{
    return (int)lround(opt->duration_s * script_words_per_second(opt));
}

static void add_error(struct script_errors *errs, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(struct script_errors *errs, const char *field, const char *fmt, ...)
{
    if (errs->count >= SCRIPT_MAX_ERRORS)
        return;
    struct field_error *fe = &errs->items[errs->count++];
    vf_strlcpy(fe->field, field, sizeof(fe->field));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fe->message, sizeof(fe->message), fmt, ap);
    va_end(ap);
    fe->kind = FE_INVALID;
}

enum text_flags {
    TEXT_MULTILINE = 1,     /* newlines and tabs allowed */
    TEXT_NONBLANK = 2,      /* must hold more than white space */
};

/* Checks that v is a clean string of min..max code points. Returns 0 or -1
 * (the error is recorded under field). */
static int check_text(json_t *v, const char *field, int min, int max, int flags,
                      struct script_errors *errs)
{
    if (!json_is_string(v)) {
        add_error(errs, field, "must be a string");
        return -1;
    }
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) {
        add_error(errs, field, "must not contain NUL characters");
        return -1;
    }
    const unsigned char *p = (const unsigned char *)s;
    int count = 0, blank = 1;
    while (*p) {
        unsigned cp;
        size_t n = utf8_decode(p, &cp);
        if (n == 0) {
            add_error(errs, field, "must be valid UTF-8");
            return -1;
        }
        int ws = cp == ' ' || cp == '\n' || cp == '\t';
        if ((cp < 0x20 && !((flags & TEXT_MULTILINE) && ws)) || cp == 0x7F ||
            (cp >= 0x80 && cp < 0xA0)) {
            add_error(errs, field, "must not contain control characters");
            return -1;
        }
        if (!ws)
            blank = 0;
        count++;
        p += n;
    }
    if (count < min || count > max || ((flags & TEXT_NONBLANK) && blank)) {
        if (min > 0)
            add_error(errs, field, "must be %d to %d characters", min, max);
        else
            add_error(errs, field, "must be at most %d characters", max);
        return -1;
    }
    return 0;
}

/* Reports keys of obj that are not in allowed (NULL-terminated). */
static void check_keys(json_t *obj, const char *const *allowed, const char *prefix,
                       struct script_errors *errs)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known) {
            char field[64];
            vf_snprintf(field, sizeof(field), "%s%s%.32s", prefix, *prefix ? "." : "", key);
            add_error(errs, field, "unknown key");
        }
    }
}

/* A plain file name: no folders, no parent references, not hidden. */
static int plain_file_name(const char *s)
{
    return *s && s[0] != '.' && !strchr(s, '/') && !strchr(s, '\\') && !strstr(s, "..");
}

static void check_visual(json_t *visual, const char *prefix, struct script_errors *errs)
{
    static const char *const keys[] = {"keywords", "palette", "media", NULL};
    char field[64];
    if (json_is_null(visual))
        return;
    if (!json_is_object(visual)) {
        add_error(errs, prefix, "must be an object");
        return;
    }
    check_keys(visual, keys, prefix, errs);

    json_t *kw = json_object_get(visual, "keywords");
    vf_snprintf(field, sizeof(field), "%s.keywords", prefix);
    if (kw && !json_is_array(kw)) {
        add_error(errs, field, "must be an array of strings");
    } else if (kw && json_array_size(kw) > KEYWORDS_MAX) {
        add_error(errs, field, "must have at most %d keywords", KEYWORDS_MAX);
    } else if (kw) {
        size_t i;
        json_t *k;
        json_array_foreach(kw, i, k) {
            vf_snprintf(field, sizeof(field), "%s.keywords[%zu]", prefix, i);
            check_text(k, field, 1, KEYWORD_MAX, TEXT_NONBLANK, errs);
        }
    }

    json_t *pal = json_object_get(visual, "palette");
    vf_snprintf(field, sizeof(field), "%s.palette", prefix);
    if (pal && !json_is_null(pal) &&
        (!json_is_string(pal) || !palette_find(json_string_value(pal)) ||
         strlen(json_string_value(pal)) != json_string_length(pal)))
        add_error(errs, field, "must be null or a palette listed by /api/options");

    json_t *media = json_object_get(visual, "media");
    vf_snprintf(field, sizeof(field), "%s.media", prefix);
    if (media && !json_is_null(media) &&
        check_text(media, field, 1, MEDIA_MAX, 0, errs) == 0 &&
        !plain_file_name(json_string_value(media)))
        add_error(errs, field, "must be null or a file name from the media library, without a path");
}

/* Checks one scene; returns its narration's word count, or -1 when the
 * narration is unusable. */
static int check_scene(json_t *scene, size_t index, struct script_errors *errs)
{
    static const char *const keys[] = {"narration", "caption", "visual", NULL};
    char prefix[32], field[64];
    vf_snprintf(prefix, sizeof(prefix), "scenes[%zu]", index);
    if (!json_is_object(scene)) {
        add_error(errs, prefix, "must be an object");
        return -1;
    }
    check_keys(scene, keys, prefix, errs);

    int words = -1;
    json_t *narration = json_object_get(scene, "narration");
    vf_snprintf(field, sizeof(field), "%s.narration", prefix);
    if (!narration)
        add_error(errs, field, "is required");
    else if (check_text(narration, field, 1, SCRIPT_MAX_NARRATION,
                        TEXT_MULTILINE | TEXT_NONBLANK, errs) == 0)
        words = script_count_words(json_string_value(narration));

    json_t *caption = json_object_get(scene, "caption");
    vf_snprintf(field, sizeof(field), "%s.caption", prefix);
    if (caption && !json_is_null(caption))
        check_text(caption, field, 0, CAPTION_MAX, 0, errs);

    json_t *visual = json_object_get(scene, "visual");
    if (visual) {
        vf_snprintf(field, sizeof(field), "%s.visual", prefix);
        check_visual(visual, field, errs);
    }
    return words;
}

static void check_hashtags(json_t *tags, struct script_errors *errs)
{
    if (!json_is_array(tags)) {
        add_error(errs, "hashtags", "must be an array of strings");
        return;
    }
    if (json_array_size(tags) > HASHTAGS_MAX) {
        add_error(errs, "hashtags", "must have at most %d hashtags", HASHTAGS_MAX);
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        char field[32];
        vf_snprintf(field, sizeof(field), "hashtags[%zu]", i);
        if (check_text(t, field, 2, HASHTAG_MAX, 0, errs) != 0)
            continue;
        const char *s = json_string_value(t);
        if (s[0] != '#' || strpbrk(s + 1, " \t#"))
            add_error(errs, field, "must be one word starting with #, like #science");
    }
}

/* Total narration length against the duration: too short leaves silence,
 * too long overshoots the video's length. */
static void check_budget(int words, const struct job_options *opt, struct script_errors *errs)
{
    int budget = script_word_budget(opt);
    int min = (int)ceil(budget * BUDGET_MIN_RATIO);
    int max = (int)floor(budget * BUDGET_MAX_RATIO);
    if (words < min)
        add_error(errs, "scenes",
                  "narration is too short for a %d s video: %d words, at least %d needed",
                  opt->duration_s, words, min);
    else if (words > max)
        add_error(errs, "scenes",
                  "narration is too long for a %d s video: %d words, at most %d fit",
                  opt->duration_s, words, max);
}

int script_validate(json_t *script, const struct job_options *opt, struct script_errors *errs)
{
    static const char *const keys[] = {
        "title", "language", "scenes", "hashtags", "description", NULL,
    };
    memset(errs, 0, sizeof(*errs));
    if (!json_is_object(script)) {
        add_error(errs, "script", "must be a JSON object");
        return -1;
    }
    check_keys(script, keys, "", errs);

    json_t *title = json_object_get(script, "title");
    if (!title)
        add_error(errs, "title", "is required");
    else
        check_text(title, "title", 1, TITLE_MAX, TEXT_NONBLANK, errs);

    json_t *language = json_object_get(script, "language");
    if (language && (!json_is_string(language) ||
                     strlen(json_string_value(language)) != json_string_length(language) ||
                     !job_options_language_known(json_string_value(language))))
        add_error(errs, "language", "must be a language code listed by /api/options");

    json_t *scenes = json_object_get(script, "scenes");
    if (!scenes) {
        add_error(errs, "scenes", "is required");
    } else if (!json_is_array(scenes) || json_array_size(scenes) < 1 ||
               json_array_size(scenes) > SCRIPT_MAX_SCENES) {
        add_error(errs, "scenes", "must be an array of 1 to %d scenes", SCRIPT_MAX_SCENES);
    } else {
        int total = 0, usable = 1;
        size_t i;
        json_t *scene;
        json_array_foreach(scenes, i, scene) {
            int words = check_scene(scene, i, errs);
            if (words < 0)
                usable = 0;
            else
                total += words;
        }
        if (usable && opt)
            check_budget(total, opt, errs);
    }

    json_t *hashtags = json_object_get(script, "hashtags");
    if (hashtags)
        check_hashtags(hashtags, errs);

    json_t *description = json_object_get(script, "description");
    if (description)
        check_text(description, "description", 0, DESCRIPTION_MAX, TEXT_MULTILINE, errs);

    return errs->count ? -1 : 0;
}

void script_errors_format(const struct script_errors *errs, char *out, size_t outlen)
{
    struct buf b;
    if (!outlen)
        return;
    buf_init(&b, outlen - 1);
    out[0] = '\0';
    for (int i = 0; i < errs->count; i++) {
        const struct field_error *fe = &errs->items[i];
        if (buf_printf(&b, "%s%s: %s", i ? "; " : "", fe->field, fe->message) != 0)
            break;
    }
    if (b.data)
        vf_strlcpy(out, b.data, outlen);
    buf_free(&b);
}

static void set_default(json_t *obj, const char *key, json_t *value)
{
    if (!json_object_get(obj, key))
        json_object_set_new(obj, key, value);
    else
        json_decref(value);
}

void script_normalize(json_t *script, const struct job_options *opt)
{
    if (!json_is_object(script))
        return;
    set_default(script, "language", json_string(opt->language));
    set_default(script, "hashtags", json_array());
    set_default(script, "description", json_string(""));
    size_t i;
    json_t *scene;
    json_array_foreach(json_object_get(script, "scenes"), i, scene) {
        if (!json_is_object(scene))
            continue;
        set_default(scene, "caption", json_null());
        json_t *visual = json_object_get(scene, "visual");
        if (!json_is_object(visual)) {
            visual = json_object();
            if (json_object_set_new(scene, "visual", visual) != 0)
                continue;
        }
        set_default(visual, "keywords", json_array());
        json_t *pal = json_object_get(visual, "palette");
        if (!pal || json_is_null(pal))
            json_object_set_new(visual, "palette", json_string(opt->palette));
        set_default(visual, "media", json_null());
    }
}

static enum vf_rc write_template(const char *topic, const struct job_options *opt,
                                 json_t **out, struct vf_err *err)
{
    json_t *script = script_template_write(topic, opt);
    if (!script)
        return vf_fail(err, VF_ENOMEM, "out of memory writing the script");
    struct script_errors errs;
    if (script_validate(script, opt, &errs) != 0) {
        char text[sizeof(err->text) - 64];
        script_errors_format(&errs, text, sizeof(text));
        json_decref(script);
        return vf_fail(err, VF_EPERMANENT, "template script is invalid: %s", text);
    }
    script_normalize(script, opt);
    *out = script;
    return VF_OK;
}

typedef enum vf_rc (*model_writer_fn)(const struct vf_config *cfg, const struct model_prompt *p,
                                       char **text, struct model_usage *usage,
                                       struct vf_err *err);

static json_t *usage_json(const char *provider, const char *model, const struct model_usage *u)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:i}", "provider", provider, "model",
                     model ? model : "", "prompt_tokens", (json_int_t)u->prompt_tokens,
                     "output_tokens", (json_int_t)u->output_tokens, "total_tokens",
                     (json_int_t)u->total_tokens, "requests", u->requests);
}

/* Reads a model's answer as a script. Returns the script, or NULL with what
 * is wrong with it in problems. */
static json_t *answer_to_script(const char *text, const struct job_options *opt,
                                char *problems, size_t len)
{
    json_t *script = model_text_to_json(text, problems, len);
    if (!script)
        return NULL;
    struct script_errors errs;
    if (script_validate(script, opt, &errs) != 0) {
        script_errors_format(&errs, problems, len);
        json_decref(script);
        return NULL;
    }
    return script;
}

/* A model writes the script; an unusable answer is asked for again once,
 * with the problems in the request, before the step fails for good. */
static enum vf_rc write_with_model(const struct vf_config *cfg, const char *topic,
                                   const struct job_options *opt, model_writer_fn writer,
                                   const char *who, const char *provider, const char *model,
                                   json_t **out, json_t **usage, struct vf_err *err)
{
    struct model_usage mu = {0};
    char *system = script_system_prompt(opt);
    char *user = script_user_prompt(topic, opt);
    char *previous = NULL, *fix = NULL;
    char problems[sizeof(err->text) - 96] = "";
    enum vf_rc rc;
    if (!system || !user) {
        rc = vf_fail(err, VF_ENOMEM, "out of memory writing the prompt");
        goto out;
    }
    for (int round = 0;; round++) {
        struct model_prompt p = {system, user, previous, fix};
        char *text = NULL;
        rc = writer(cfg, &p, &text, &mu, err);
        if (rc != VF_OK)
            break;
        json_t *script = answer_to_script(text, opt, problems, sizeof(problems));
        if (script) {
            free(text);
            script_normalize(script, opt);
            *out = script;
            break;
        }
        if (round > 0) {
            free(text);
            rc = vf_fail(err, VF_EPERMANENT,
                         "%s wrote an unusable script, and again when asked to fix it: %s", who,
                         problems);
            break;
        }
        free(previous);
        free(fix);
        previous = text;
        fix = script_fix_prompt(problems);
        if (!fix) {
            rc = vf_fail(err, VF_ENOMEM, "out of memory writing the prompt");
            break;
        }
    }
    if (usage && mu.requests > 0 && rc == VF_OK)
        *usage = usage_json(provider, model, &mu);
out:
    free(system);
    free(user);
    free(previous);
    free(fix);
    return rc;
}

enum vf_rc script_write(const struct vf_config *cfg, const char *topic,
                        const struct job_options *opt, json_t **out, json_t **usage,
                        struct vf_err *err)
{
    *out = NULL;
    if (usage)
        *usage = NULL;
    if (!topic || !*topic || strspn(topic, " \t\r\n") == strlen(topic))
        return vf_fail(err, VF_EINVAL, "the topic is empty");
    if (strcmp(opt->script_provider, "template") == 0)
        return write_template(topic, opt, out, err);
    if (cfg && strcmp(opt->script_provider, "gemini") == 0)
        return write_with_model(cfg, topic, opt, gemini_write, "Gemini", "gemini",
                                cfg->gemini_model, out, usage, err);
    if (cfg && strcmp(opt->script_provider, "openai") == 0)
        return write_with_model(cfg, topic, opt, openai_write, "The OpenAI-compatible model", "openai",
                                cfg->openai_model, out, usage, err);
    return vf_fail(err, VF_EPERMANENT, "script provider %s is not configured",
                   opt->script_provider);
}
