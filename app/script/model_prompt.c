/* What every model writer asks for: the script's JSON schema, a system
 * instruction for a short people watch to the end, the request, and the
 * follow-up that lists what was wrong with an unusable answer. Also the
 * lenient reading of a model's answer as JSON, and the fault rules every
 * writer follows (PROTOCOLS §1.3). */
#include "script/model_prompt.h"
#include "script/writers.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "net/http.h"
#include "render/palette.h"
#include "script/script.h"

#define PROMPT_MAX (32u << 10)
#define TOPIC_IN_PROMPT_MAX 600
/* The model is asked for the budget give or take this much; the validator
 * allows more, so a near miss still passes. */
#define ASK_MIN_RATIO 0.9
#define ASK_MAX_RATIO 1.1
#define CONNECT_TIMEOUT_MS 10000L

static json_t *string_schema(const char *description, int max_length, int portable)
{
    json_t *s = json_pack("{s:s, s:s}", "type", "string", "description", description);
    if (s && !portable && max_length > 0)
        json_object_set_new(s, "maxLength", json_integer(max_length));
    return s;
}

json_t *script_json_schema(int portable)
{
    json_t *palettes = json_array();
    for (const char *const *n = palette_names(); *n; n++)
        json_array_append_new(palettes, json_string(*n));

    json_t *visual = json_pack(
        "{s:s, s:{s:{s:s, s:s, s:{s:s}}, s:{s:s, s:s, s:o}}, s:[s, s], s:b}",
        "type", "object",
        "properties",
        "keywords", "type", "array", "description",
        "1 to 4 short English words naming what the picture shows", "items", "type", "string",
        "palette", "type", "string", "description", "background colours matching the mood",
        "enum", palettes,
        "required", "keywords", "palette", "additionalProperties", 0);
    json_t *scene = json_pack(
        "{s:s, s:{s:o, s:o}, s:[s, s], s:b}",
        "type", "object",
        "properties",
        "narration", string_schema("what the voice says in this scene: one idea, spoken "
                                   "sentences, no emoji or hashtags", SCRIPT_MAX_NARRATION,
                                   portable),
        "visual", visual,
        "required", "narration", "visual", "additionalProperties", 0);
    json_t *scenes = json_pack("{s:s, s:o}", "type", "array", "items", scene);
    if (scenes && !portable) {
        json_object_set_new(scenes, "minItems", json_integer(1));
        json_object_set_new(scenes, "maxItems", json_integer(SCRIPT_MAX_SCENES));
    }
    return json_pack(
        "{s:s, s:{s:o, s:o, s:{s:s, s:s, s:{s:s}}, s:o}, s:[s, s, s, s], s:b}",
        "type", "object",
        "properties",
        "title", string_schema("a short title that makes people curious", 120, portable),
        "scenes", scenes,
        "hashtags", "type", "array", "description", "3 to 6 hashtags like #science",
        "items", "type", "string",
        "description", string_schema("one or two sentences for the video's page", 1000,
                                     portable),
        "required", "title", "scenes", "hashtags", "description",
        "additionalProperties", 0);
}

/* Scenes to ask for: a hook, one idea per scene, a call to action. */
static void scene_range(int duration_s, int *lo, int *hi)
{
    *lo = duration_s <= 20 ? 3 : 4;
    *hi = duration_s / 7;
    if (*hi < *lo + 1)
        *hi = *lo + 1;
    if (*hi > SCRIPT_MAX_SCENES)
        *hi = SCRIPT_MAX_SCENES;
}

static char *finish(struct buf *b)
{
    if (b->toobig) {
        buf_free(b);
        return NULL;
    }
    return buf_take(b);
}

char *script_system_prompt(const struct job_options *opt)
{
    struct buf b;
    int budget = script_word_budget(opt);
    int lo, hi;
    scene_range(opt->duration_s, &lo, &hi);
    buf_init(&b, PROMPT_MAX);
    buf_printf(&b,
        "You write the narration of vertical short videos (YouTube Shorts, TikTok, Reels) "
        "that viewers watch to the end.\n"
        "Rules:\n"
        "- Scene 1 is the hook: its first sentence, spoken in the first two seconds, gives "
        "the viewer a reason to stay (a surprising fact, a question, or a bold claim). No "
        "greetings, no \"in this video\".\n"
        "- One idea per scene, in short spoken sentences with concrete details a viewer can "
        "picture. Each scene makes the viewer want the next one.\n"
        "- The last scene is a call to action tied to the topic: follow, comment or share.\n"
        "- A text-to-speech voice reads the narration aloud: no emoji, hashtags, Markdown, "
        "stage directions or scene labels in it.\n"
        "- Do not state precise numbers or quotes you are not sure of.\n"
        "- Write the title, every narration and the description in the language with the "
        "code \"%s\".\n"
        "- Tone: %s.\n"
        "- Length: the video lasts %d seconds, so write about %d words of narration in total "
        "(between %d and %d), in %d to %d scenes, each narration at most %d characters.\n"
        "- visual.keywords: 1 to 4 short English words for the background picture; "
        "visual.palette: one of the listed palettes, matching the scene's mood.\n"
        "- hashtags: 3 to 6, each one word starting with #. title: at most 120 characters. "
        "description: one or two sentences.\n"
        "Answer with the script as one JSON object and nothing else.",
        opt->language, opt->tone, opt->duration_s, budget,
        (int)ceil(budget * ASK_MIN_RATIO), (int)floor(budget * ASK_MAX_RATIO), lo, hi,
        SCRIPT_MAX_NARRATION);
    return finish(&b);
}

char *script_user_prompt(const char *topic, const struct job_options *opt)
{
    struct buf b;
    char clean[TOPIC_IN_PROMPT_MAX + 1];
    /* One line: a topic's line breaks must not look like more instructions. */
    vf_utf8_copy(clean, topic, sizeof(clean));
    for (char *c = clean; *c; c++)
        if (*c == '\n' || *c == '\r' || *c == '\t')
            *c = ' ';
    buf_init(&b, PROMPT_MAX);
    buf_printf(&b,
        "Topic: %s\n"
        "Write the script for a %d-second short about this topic: about %d words, "
        "language \"%s\", tone %s.",
        clean, opt->duration_s, script_word_budget(opt), opt->language, opt->tone);
    return finish(&b);
}

char *script_fix_prompt(const char *problems)
{
    struct buf b;
    buf_init(&b, PROMPT_MAX);
    buf_printf(&b,
        "That answer cannot be used: %s\n"
        "Write the whole script again as one JSON object, fixing every problem listed and "
        "keeping to the rules.", problems);
    return finish(&b);
}

/* Drops a ```json … ``` fence around the text, which chat models add even
 * when asked for plain JSON. */
static void strip_fence(const char **start, const char **end)
{
    const char *s = *start, *e = *end;
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    if (e - s >= 6 && strncmp(s, "```", 3) == 0) {
        const char *nl = memchr(s, '\n', (size_t)(e - s));
        if (nl) {
            s = nl + 1;
            if (e - s >= 3 && strncmp(e - 3, "```", 3) == 0)
                e -= 3;
        }
    }
    *start = s;
    *end = e;
}

json_t *model_text_to_json(const char *text, char *why, size_t whylen)
{
    json_error_t jerr;
    const char *s = text, *e = text + strlen(text);
    strip_fence(&s, &e);
    if (s == e) {
        vf_snprintf(why, whylen, "the answer is empty, not a JSON object");
        return NULL;
    }
    json_t *v = json_loadb(s, (size_t)(e - s), JSON_REJECT_DUPLICATES, &jerr);
    if (!v) {
        /* Prose around the object: try from the first { to the last }. */
        const char *open = memchr(s, '{', (size_t)(e - s));
        const char *close = e;
        while (close > s && close[-1] != '}')
            close--;
        if (open && close > open && (open != s || close != e))
            v = json_loadb(open, (size_t)(close - open), JSON_REJECT_DUPLICATES, NULL);
    }
    if (!v) {
        vf_snprintf(why, whylen, "the answer is not valid JSON (%.120s at line %d, column %d)",
                    jerr.text, jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        vf_snprintf(why, whylen, "the answer is JSON but not an object");
        return NULL;
    }
    return v;
}

double model_parse_seconds(const char *s)
{
    if (!s)
        return -1;
    char *end;
    double d = strtod(s, &end);
    if (end == s || !isfinite(d) || d < 0)
        return -1;
    while (*end == ' ')
        end++;
    if (*end == 's')
        end++;
    while (*end == ' ')
        end++;
    return *end ? -1 : d;
}

/* ---- faults ---- */

enum vf_rc model_post(const struct model_endpoint *ep, const char *payload,
                      struct http_response *resp, char *retry_after, size_t retry_after_len,
                      struct vf_err *err)
{
    struct http_request req = {
        .method = "POST", .url = ep->url, .headers = ep->headers,
        .body = payload, .body_len = strlen(payload),
        .connect_timeout_ms = CONNECT_TIMEOUT_MS, .timeout_ms = ep->timeout_ms,
        .max_response = MODEL_RESPONSE_MAX, .what = ep->who,
    };
    http_response_init(resp);
    retry_after[0] = '\0';
    enum vf_rc rc = http_perform(&req, resp, err);
    if (rc == VF_ETOOBIG)
        return vf_fail(err, VF_EPERMANENT, "%s's answer is larger than %u bytes", ep->who,
                       MODEL_RESPONSE_MAX);
    if (rc == VF_OK && !http_header_value(resp, "Retry-After", retry_after, retry_after_len))
        retry_after[0] = '\0';
    return rc;
}

enum vf_rc model_fault_classify(const struct model_fault *f, struct vf_err *err)
{
    const char *status_name = f->status_name ? f->status_name : "";
    const char *message = f->message ? f->message : "";
    const char *reason = f->key_reason ? f->key_reason : "";
    /* "HTTP 503 UNAVAILABLE: The model is overloaded." */
    char detail[MODEL_UPSTREAM_MESSAGE_MAX + 96];
    vf_snprintf(detail, sizeof(detail), "HTTP %ld%s%s%s%s", f->status, *status_name ? " " : "",
                status_name, *message ? ": " : "", message);
    enum vf_rc rc;
    if (f->status == 401 || f->status == 403 || f->key_rejected) {
        /* The key's own words stay out: only the status and the reason. */
        rc = vf_fail(err, VF_EPERMANENT, "%s rejected the API key (HTTP %ld%s%s); check %s",
                     f->who, f->status, *reason ? " " : "", reason, f->key_setting);
    } else if (f->status == 429 && f->quota_used_up) {
        rc = vf_fail(err, VF_EPERMANENT, "%s", f->quota_used_up);
    } else if (f->status == 429) {
        double delay = f->retry_delay >= 0 ? f->retry_delay : model_parse_seconds(f->retry_after);
        rc = vf_fail(err, VF_ETRANSIENT, "%s's rate limit was reached (%s)", f->who, detail);
        if (delay > 0)
            err->retry_after = delay;
    } else if (f->status == 408 || f->status >= 500) {
        rc = vf_fail(err, VF_ETRANSIENT, "%s is unavailable (%s)", f->who, detail);
    } else {
        rc = vf_fail(err, VF_EPERMANENT, "%s refused the request (%s)", f->who, detail);
    }
    err->http_status = (int)f->status;
    return rc;
}

void model_redact_key(struct vf_err *err, const char *who, const char *key)
{
    if (key && strlen(key) >= 4 && strstr(err->text, key))
        vf_snprintf(err->text, sizeof(err->text),
                    "%s refused the request (HTTP %d); its message is withheld because it "
                    "quotes the API key", who, err->http_status);
}
