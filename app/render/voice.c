/* Narration: espeak-ng in synchronous mode, one espeak_Synth per scene.
 *
 * espeak-ng keeps its voice, callback and buffers in globals and is not
 * thread-safe, while the worker renders several jobs at once; one lock
 * serialises everything from espeak_SetVoiceByName to the end of the last
 * scene (synthesis runs far faster than real time, so the wait is short).
 *
 * Word timing: espeak reports an espeakEVENT_WORD with the word's position in
 * the text (1-based, in characters) and its sample offset in the output. The
 * narration is split on white space into our own words, and each takes the
 * time of the first event that falls inside it, so captions show exactly the
 * text of the script even where espeak splits differently ("1984" is three
 * events).
 *
 * Gemini TTS gives audio without word positions: the words are spread over
 * the speech (silence at either end left out) in proportion to their place
 * in the text, counted in characters. */
#include "render/voice.h"

#include <espeak-ng/speak_lib.h>
#include <libavutil/channel_layout.h>
#include <libswresample/swresample.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "render/tts_gemini.h"

#define NONE_SAMPLE_RATE 22050
#define GEMINI_SAMPLE_RATE 24000
#define SPEECH_THRESHOLD 300        /* |sample| above this is speech, not silence */

enum speaker { SPEAK_ESPEAK, SPEAK_GEMINI, SPEAK_NONE };

struct token {
    const char *text;
    size_t len;
    int char_first, char_last;  /* 1-based character positions, inclusive */
    double start;               /* seconds from the scene's start, < 0 = unknown */
};

struct word_event {
    int text_pos;
    long sample;
};

struct synth_capture {
    int16_t *pcm;
    size_t n, cap;
    struct word_event *ev;
    size_t nev, evcap;
    int oom;
};

static pthread_mutex_t espeak_lock = PTHREAD_MUTEX_INITIALIZER;
static int espeak_sample_rate;          /* 0 = not initialised yet; guarded by espeak_lock */
static struct synth_capture *capture;   /* the scene being spoken; guarded by espeak_lock */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 1024;
    while (ncap < need)
        ncap *= 2;
    void *q = realloc(*p, ncap * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = ncap;
    return 0;
}

static int synth_callback(short *wav, int nsamples, espeak_EVENT *events)
{
    struct synth_capture *c = capture;
    if (!c || c->oom)
        return 0;
    if (wav && nsamples > 0) {
        if (grow((void **)&c->pcm, &c->cap, c->n + (size_t)nsamples, sizeof(int16_t)) < 0) {
            c->oom = 1;
            return 0;
        }
        memcpy(c->pcm + c->n, wav, (size_t)nsamples * sizeof(int16_t));
        c->n += (size_t)nsamples;
    }
    for (espeak_EVENT *e = events; e && e->type != espeakEVENT_LIST_TERMINATED; e++) {
        if (e->type != espeakEVENT_WORD)
            continue;
        if (grow((void **)&c->ev, &c->evcap, c->nev + 1, sizeof(*c->ev)) < 0) {
            c->oom = 1;
            return 0;
        }
        c->ev[c->nev].text_pos = e->text_position;
        c->ev[c->nev].sample = e->sample;
        c->nev++;
    }
    return 0;
}

/* A token made only of punctuation (a dash, an ellipsis) is not a caption word. */
static int is_wordlike(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))
            return 1;
        if (ch >= 0xc0) {
            /* U+2000..U+206F (E2 80..81 xx) is general punctuation */
            if (!(ch == 0xe2 && i + 1 < n && ((unsigned char)s[i + 1] == 0x80 || (unsigned char)s[i + 1] == 0x81)))
                return 1;
        }
    }
    return 0;
}

/* Splits text on ASCII white space. tokens has room for strlen(text)/2+1. */
static size_t tokenize(const char *text, struct token *tokens)
{
    size_t n = 0;
    int chars = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
            p++;
            chars++;
        }
        if (!*p)
            break;
        const char *s = p;
        int first = chars + 1;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            if (((unsigned char)*p & 0xc0) != 0x80)
                chars++;
            p++;
        }
        if (!is_wordlike(s, (size_t)(p - s)))
            continue;
        tokens[n].text = s;
        tokens[n].len = (size_t)(p - s);
        tokens[n].char_first = first;
        tokens[n].char_last = chars;
        tokens[n].start = -1;
        n++;
    }
    return n;
}

/* Gives each token the time of the first word event inside it, then fills
 * tokens espeak did not report from their neighbours so times never go back. */
static void time_tokens(struct token *t, size_t nt, const struct word_event *ev, size_t nev,
                        int rate, double speech_end)
{
    size_t k = 0;
    for (size_t i = 0; i < nev && k < nt; i++) {
        while (k < nt && t[k].char_last < ev[i].text_pos)
            k++;
        if (k < nt && t[k].start < 0)
            t[k].start = (double)ev[i].sample / rate;
    }
    double next = speech_end;
    for (size_t j = nt; j-- > 0;) {
        if (t[j].start < 0 || t[j].start > next)
            t[j].start = next;
        next = t[j].start;
    }
}

/* Steady reading rate for videos without a voice: longer words take longer,
 * clause ends add a pause. Returns the scene's length in seconds. */
static double time_tokens_reading(struct token *t, size_t nt)
{
    double at = 0.1;
    for (size_t i = 0; i < nt; i++) {
        t[i].start = at;
        at += 0.14 + 0.055 * (double)t[i].len;
        char last = t[i].text[t[i].len - 1];
        if (strchr(".!?", last))
            at += 0.35;
        else if (strchr(",;:", last))
            at += 0.18;
    }
    return at + 0.1;
}

static int set_voice(const struct job_options *opt)
{
    if (opt->voice[0] && espeak_SetVoiceByName(opt->voice) == EE_OK)
        return 0;
    if (opt->language[0] && espeak_SetVoiceByName(opt->language) == EE_OK)
        return 0;
    return -1;
}

struct builder {
    struct narration *out;
    enum speaker speaker;
    const struct job_options *opt;
    const struct vf_config *cfg;
    size_t pcm_cap, words_cap;
    struct token *tokens;
};

static int append_silence(struct builder *b, size_t n)
{
    struct narration *o = b->out;
    if (grow((void **)&o->pcm, &b->pcm_cap, o->nsamples + n, sizeof(int16_t)) < 0)
        return -1;
    memset(o->pcm + o->nsamples, 0, n * sizeof(int16_t));
    o->nsamples += n;
    return 0;
}

static int append_words(struct builder *b, size_t nt, int scene, double base, double scene_end)
{
    struct narration *o = b->out;
    if (grow((void **)&o->words, &b->words_cap, o->nwords + nt, sizeof(*o->words)) < 0)
        return -1;
    for (size_t i = 0; i < nt; i++) {
        struct caption_word *w = &o->words[o->nwords++];
        w->text = b->tokens[i].text;
        w->len = b->tokens[i].len;
        w->start = base + b->tokens[i].start;
        w->end = base + (i + 1 < nt ? b->tokens[i + 1].start : scene_end);
        w->scene = scene;
    }
    return 0;
}

/* Word starts in proportion to their first character's place in the text,
 * between the first and the last audible sample. */
static void time_tokens_by_chars(struct token *t, size_t nt, const char *text, const int16_t *pcm,
                                 size_t n, int rate)
{
    size_t first = 0, last = n;
    while (first < n && abs(pcm[first]) < SPEECH_THRESHOLD)
        first++;
    while (last > first && abs(pcm[last - 1]) < SPEECH_THRESHOLD)
        last--;
    if (first >= last) {
        first = 0;
        last = n;
    }
    int chars = 0;
    for (const char *p = text; *p; p++)
        if (((unsigned char)*p & 0xc0) != 0x80)
            chars++;
    double from = (double)first / rate, span = (double)(last - first) / rate;
    for (size_t i = 0; i < nt; i++)
        t[i].start = from + span * (double)(t[i].char_first - 1) / (chars > 0 ? chars : 1);
}

/* Converts 16-bit mono PCM from rate `from` to `to`; *out is malloc'ed. */
static enum vf_rc resample_s16(const int16_t *in, size_t n, int from, int to, int16_t **out,
                               size_t *nout, struct vf_err *err)
{
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    SwrContext *swr = NULL;
    size_t cap = (size_t)((double)n * to / from) + 1024;
    int16_t *buf = n < INT32_MAX / 8 ? malloc(cap * sizeof(*buf)) : NULL;
    int r = swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_S16, to, &mono, AV_SAMPLE_FMT_S16, from,
                                0, NULL);
    if (r >= 0)
        r = swr_init(swr);
    int got = 0, tail = 0;
    if (r >= 0 && buf) {
        uint8_t *dst[1] = { (uint8_t *)buf };
        const uint8_t *src[1] = { (const uint8_t *)in };
        got = r = swr_convert(swr, dst, (int)cap, src, (int)n);
        if (r >= 0) {
            dst[0] = (uint8_t *)(buf + got);
            tail = r = swr_convert(swr, dst, (int)cap - got, NULL, 0);
        }
    }
    swr_free(&swr);
    if (r < 0 || !buf) {
        free(buf);
        return vf_fail(err, buf ? VF_EPERMANENT : VF_ENOMEM, "cannot resample the speech");
    }
    *out = buf;
    *nout = (size_t)got + (size_t)tail;
    return VF_OK;
}

/* One scene from Gemini TTS, at the narration's rate. */
static enum vf_rc speak_gemini(struct builder *b, const char *text, int scene, int16_t **pcm,
                               size_t *n, struct vf_err *err)
{
    int rate = 0;
    enum vf_rc rc = gemini_tts_speak(b->cfg, b->opt->voice, text, pcm, n, &rate, err);
    if (rc != VF_OK) {
        /* name the scene, keep the cause (and retry_after, http_status) */
        char cause[sizeof(err->text)];
        vf_strlcpy(cause, err->text, sizeof(cause));
        vf_snprintf(err->text, sizeof(err->text), "scene %d: %s", scene + 1, cause);
        return rc;
    }
    if (rate != b->out->sample_rate && *n > 0) {
        int16_t *conv = NULL;
        size_t nconv = 0;
        rc = resample_s16(*pcm, *n, rate, b->out->sample_rate, &conv, &nconv, err);
        free(*pcm);
        *pcm = rc == VF_OK ? conv : NULL;
        *n = rc == VF_OK ? nconv : 0;
    }
    return rc;
}

/* Speaks (or times) one scene and appends its audio and words. */
static enum vf_rc add_scene(struct builder *b, const char *text, int scene, struct vf_err *err)
{
    struct narration *o = b->out;
    double base = (double)o->nsamples / o->sample_rate;
    size_t nt = tokenize(text, b->tokens);
    if (b->speaker == SPEAK_GEMINI) {
        int16_t *pcm = NULL;
        size_t n = 0;
        enum vf_rc rc = speak_gemini(b, text, scene, &pcm, &n, err);
        if (rc == VF_OK) {
            double len = (double)n / o->sample_rate;
            time_tokens_by_chars(b->tokens, nt, text, pcm, n, o->sample_rate);
            if (grow((void **)&o->pcm, &b->pcm_cap, o->nsamples + n, sizeof(int16_t)) < 0
                || append_words(b, nt, scene, base, len) < 0) {
                rc = vf_fail(err, VF_ENOMEM, "out of memory for the narration");
            } else {
                if (n)
                    memcpy(o->pcm + o->nsamples, pcm, n * sizeof(int16_t));
                o->nsamples += n;
            }
        }
        free(pcm);
        return rc;
    }
    if (b->speaker == SPEAK_NONE) {
        double len = time_tokens_reading(b->tokens, nt);
        if (append_silence(b, (size_t)lround(len * o->sample_rate)) < 0)
            return vf_fail(err, VF_ENOMEM, "out of memory for the narration");
        return append_words(b, nt, scene, base, len) < 0
            ? vf_fail(err, VF_ENOMEM, "out of memory for the narration") : VF_OK;
    }
    struct synth_capture c = { 0 };
    capture = &c;
    espeak_ERROR e = espeak_Synth(text, strlen(text) + 1, 0, POS_CHARACTER, 0,
                                  espeakCHARS_UTF8, NULL, NULL);
    capture = NULL;
    enum vf_rc rc = VF_OK;
    if (e != EE_OK)
        rc = vf_fail(err, VF_EPERMANENT, "espeak-ng could not speak scene %d", scene + 1);
    else if (c.oom)
        rc = vf_fail(err, VF_ENOMEM, "out of memory for the narration");
    if (rc == VF_OK) {
        double len = (double)c.n / o->sample_rate;
        time_tokens(b->tokens, nt, c.ev, c.nev, o->sample_rate, len);
        if (grow((void **)&o->pcm, &b->pcm_cap, o->nsamples + c.n, sizeof(int16_t)) < 0
            || append_words(b, nt, scene, base, len) < 0) {
            rc = vf_fail(err, VF_ENOMEM, "out of memory for the narration");
        } else {
            memcpy(o->pcm + o->nsamples, c.pcm, c.n * sizeof(int16_t));
            o->nsamples += c.n;
        }
    }
    free(c.pcm);
    free(c.ev);
    return rc;
}

static const char *json_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static enum vf_rc add_scenes(struct builder *b, json_t *scenes, struct vf_err *err)
{
    struct narration *o = b->out;
    size_t gap = (size_t)lround(VOICE_SCENE_GAP_S * o->sample_rate);
    size_t i;
    json_t *scene;
    json_array_foreach(scenes, i, scene) {
        const char *text = json_str(scene, "narration");
        if (!text)
            return vf_fail(err, VF_EINVAL, "scene %zu has no narration", i + 1);
        free(b->tokens);
        b->tokens = malloc((strlen(text) / 2 + 1) * sizeof(*b->tokens));
        if (!b->tokens)
            return vf_fail(err, VF_ENOMEM, "out of memory for the narration");
        struct scene_span *sp = &o->scenes[o->nscenes++];
        sp->start = (double)o->nsamples / o->sample_rate;
        sp->palette = json_str(json_object_get(scene, "visual"), "palette");
        sp->title = json_str(scene, "caption");
        enum vf_rc rc = add_scene(b, text, (int)i, err);
        if (rc != VF_OK)
            return rc;
        size_t pad = i + 1 < json_array_size(scenes) ? gap : (size_t)lround(VOICE_TAIL_S * o->sample_rate);
        if (append_silence(b, pad) < 0)
            return vf_fail(err, VF_ENOMEM, "out of memory for the narration");
        sp->end = (double)o->nsamples / o->sample_rate;
    }
    return VF_OK;
}

/* Called with espeak_lock held. */
static enum vf_rc espeak_ready(const struct job_options *opt, struct vf_err *err)
{
    if (espeak_sample_rate == 0) {
        int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 200, NULL,
                                     espeakINITIALIZE_DONT_EXIT);
        espeak_sample_rate = rate > 0 ? rate : -1;
        if (rate > 0)
            espeak_SetSynthCallback(synth_callback);
    }
    if (espeak_sample_rate < 0)
        return vf_fail(err, VF_EPERMANENT, "espeak-ng could not start (is espeak-ng-data installed?)");
    if (set_voice(opt) < 0)
        return vf_fail(err, VF_EINVAL, "espeak-ng has no voice \"%s\" or language \"%s\"",
                       opt->voice, opt->language);
    return VF_OK;
}

enum vf_rc narration_build(json_t *script, const struct job_options *opt,
                           const struct vf_config *cfg, struct narration *out, struct vf_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *scenes = json_object_get(script, "scenes");
    if (!json_is_array(scenes) || json_array_size(scenes) == 0)
        return vf_fail(err, VF_EINVAL, "the script has no scenes");
    struct builder b = { .out = out, .opt = opt, .cfg = cfg };
    if (strcmp(opt->tts, "espeak") == 0 || opt->tts[0] == '\0')
        b.speaker = SPEAK_ESPEAK;
    else if (strcmp(opt->tts, "none") == 0)
        b.speaker = SPEAK_NONE;
    else if (strcmp(opt->tts, "gemini") == 0)
        b.speaker = SPEAK_GEMINI;
    else
        return vf_fail(err, VF_EINVAL, "unknown tts \"%s\"", opt->tts);

    out->scenes = calloc(json_array_size(scenes), sizeof(*out->scenes));
    if (!out->scenes)
        return vf_fail(err, VF_ENOMEM, "out of memory for the narration");
    enum vf_rc rc;
    if (b.speaker == SPEAK_ESPEAK) {
        pthread_mutex_lock(&espeak_lock);
        rc = espeak_ready(opt, err);
        if (rc == VF_OK) {
            out->sample_rate = espeak_sample_rate;
            rc = add_scenes(&b, scenes, err);
        }
        pthread_mutex_unlock(&espeak_lock);
    } else {
        out->sample_rate = b.speaker == SPEAK_GEMINI ? GEMINI_SAMPLE_RATE : NONE_SAMPLE_RATE;
        rc = add_scenes(&b, scenes, err);
    }
    free(b.tokens);
    if (rc != VF_OK) {
        narration_free(out);
        return rc;
    }
    out->duration_s = (double)out->nsamples / out->sample_rate;
    return VF_OK;
}

void narration_free(struct narration *n)
{
    free(n->pcm);
    free(n->words);
    free(n->scenes);
    memset(n, 0, sizeof(*n));
}
