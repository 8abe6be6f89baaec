/* The renderer: palettes, caption documents, Gemini TTS answers, media
 * choice, and real renders (720p or short) checked by decoding them. */
#include <arpa/inet.h>
#include <check.h>
#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "core/buf.h"
#include "core/config.h"
#include "render/audio.h"
#include "render/captions.h"
#include "render/media.h"
#include "render/music.h"
#include "render/palette.h"
#include "render/render.h"
#include "render/tts_gemini.h"
#include "render/voice.h"

static const char *const SCRIPT_JSON =
    "{\"title\":\"Octopus hearts\",\"language\":\"en\",\"scenes\":["
    "{\"narration\":\"Octopuses have three hearts, and two of them stop when they swim.\","
    "\"caption\":\"Three hearts\",\"visual\":{\"keywords\":[\"ocean\"],\"palette\":\"deep-sea\",\"media\":null}},"
    "{\"narration\":\"Their blood is blue because it carries copper instead of iron.\","
    "\"caption\":null,\"visual\":{\"keywords\":[],\"palette\":\"sunset\",\"media\":null}}],"
    "\"hashtags\":[\"#octopus\"],\"description\":\"Facts.\"}";

static void test_options(struct job_options *o)
{
    memset(o, 0, sizeof(*o));
    vf_strlcpy(o->language, "en", sizeof(o->language));
    o->duration_s = 15;
    vf_strlcpy(o->aspect, "9:16", sizeof(o->aspect));
    o->resolution = 720;
    vf_strlcpy(o->voice, "en-us+f3", sizeof(o->voice));
    vf_strlcpy(o->tts, "espeak", sizeof(o->tts));
    vf_strlcpy(o->palette, "deep-sea", sizeof(o->palette));
    vf_strlcpy(o->font, "DejaVu Sans", sizeof(o->font));
    vf_strlcpy(o->caption_color, "#FFFFFF", sizeof(o->caption_color));
    vf_strlcpy(o->highlight_color, "#FFD700", sizeof(o->highlight_color));
    vf_strlcpy(o->caption_position, "bottom", sizeof(o->caption_position));
    o->music_volume = 0.15;
}

/* ---- palettes ---- */

START_TEST(palettes_all_findable)
{
    const char *const *names = palette_names();
    int n = 0;
    for (; names[n]; n++)
        ck_assert_ptr_nonnull(palette_find(names[n]));
    ck_assert_int_eq(n, 8);
    ck_assert_ptr_nonnull(palette_find(PALETTE_DEFAULT));
    ck_assert_ptr_null(palette_find("plaid"));
    ck_assert_ptr_null(palette_find(NULL));
}
END_TEST

/* ---- loudness ---- */

static float *sine(size_t n, double amplitude)
{
    float *x = malloc(n * sizeof(*x));
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(amplitude * sin(2 * M_PI * 997.0 * (double)i / AUDIO_RATE));
    return x;
}

START_TEST(loudness_reference_tone)
{
    /* BS.1770: a 997 Hz sine at full scale in one channel reads -3.01 LUFS */
    size_t n = AUDIO_RATE * 3;
    float *x = sine(n, 0.1);
    const float *ch[1] = { x };
    ck_assert_double_eq_tol(audio_loudness(ch, 1, n), -23.01, 0.1);
    float *ch2[1] = { x };
    ck_assert_double_eq_tol(audio_normalize(ch2, 1, n, -14.0), -14.0, 0.3);
    free(x);

    /* a loud tone needs the limiter to reach the target without clipping */
    x = sine(n, 0.05);
    for (size_t i = AUDIO_RATE; i < AUDIO_RATE + 100; i++)
        x[i] = 0.95f;
    ch2[0] = x;
    ck_assert_double_eq_tol(audio_normalize(ch2, 1, n, -5.0), -5.0, 0.5);
    for (size_t i = 0; i < n; i++)
        ck_assert(fabsf(x[i]) <= AUDIO_CEILING + 1e-4f);
    free(x);

    float *silence = calloc(n, sizeof(float));
    ch2[0] = silence;
    ck_assert(!isfinite(audio_normalize(ch2, 1, n, -14.0)));
    ck_assert(silence[0] == 0.0f);
    free(silence);
}
END_TEST

/* ---- music ---- */

/* A 16-bit stereo 44.1 kHz WAV of a tone: a resample and a downmix away from the track. */
static void write_tone_wav(const char *path, double seconds, double freq)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    unsigned n = (unsigned)(seconds * 44100), bytes = n * 4;
    unsigned char h[44] = "RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x02\0\x44\xac\0\0\x10\xb1\x02\0\x04\0\x10\0data";
    unsigned riff = 36 + bytes;
    for (int i = 0; i < 4; i++) {
        h[4 + i] = (unsigned char)(riff >> (8 * i));
        h[40 + i] = (unsigned char)(bytes >> (8 * i));
    }
    fwrite(h, 1, 44, f);
    for (unsigned i = 0; i < n; i++) {
        short v = (short)(12000 * sin(2 * M_PI * freq * i / 44100.0));
        unsigned char s4[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)v, (unsigned char)(v >> 8) };
        fwrite(s4, 1, 4, f);
    }
    fclose(f);
}

static double rms_of_difference(const float *a, const float *b, size_t from, size_t to)
{
    double s = 0;
    for (size_t i = from; i < to; i++)
        s += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return sqrt(s / (double)(to - from));
}

START_TEST(music_ducked_under_voice)
{
    char wav[] = "/tmp/vf-music-XXXXXX.wav";
    int fd = mkstemps(wav, 4);
    ck_assert_int_ge(fd, 0);
    close(fd);
    write_tone_wav(wav, 0.7, 220.0);   /* shorter than the track: it must loop */
    size_t n = AUDIO_RATE * 4;
    float *track = calloc(n, sizeof(float)), *orig = calloc(n, sizeof(float));
    for (size_t i = AUDIO_RATE; i < 3 * AUDIO_RATE; i++)   /* "speech" from 1 s to 3 s */
        track[i] = orig[i] = (float)(0.3 * sin(2 * M_PI * 150.0 * (double)i / AUDIO_RATE));
    struct vf_err err = { 0 };
    ck_assert_int_eq(music_mix(wav, 0.5, track, n, &err), VF_OK);
    double quiet = rms_of_difference(track, orig, AUDIO_RATE / 4, AUDIO_RATE * 3 / 4);
    double under = rms_of_difference(track, orig, AUDIO_RATE * 3 / 2, AUDIO_RATE * 5 / 2);
    double after = rms_of_difference(track, orig, AUDIO_RATE * 7 / 2, AUDIO_RATE * 4 - 1);
    ck_assert(quiet > 0.05);
    ck_assert_double_eq_tol(under / quiet, MUSIC_DUCK_GAIN, 0.03);
    ck_assert(after > quiet * 0.8);
    unlink(wav);

    ck_assert_int_eq(music_mix("/nonexistent/song.mp3", 0.5, track, n, &err), VF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "/nonexistent/song.mp3"));
    free(track);
    free(orig);
}
END_TEST

/* ---- captions ---- */

static struct caption_word word(const char *t, double s, double e, int scene)
{
    struct caption_word w = { t, strlen(t), s, e, scene };
    return w;
}

START_TEST(captions_grouping)
{
    struct caption_word w[] = {
        word("One", 0.0, 0.3, 0), word("two", 0.3, 0.6, 0), word("three", 0.6, 0.9, 0),
        word("four.", 0.9, 1.4, 0), word("Five,", 1.4, 1.8, 0), word("six", 1.8, 2.0, 0),
        word("extraordinarily", 2.0, 2.6, 0), word("next", 3.0, 3.2, 1),
    };
    struct caption_chunk c[8];
    size_t n = captions_group(w, 8, c);
    /* [One two three] [four.] [Five,] [six] [extraordinarily] [next]: "six extraordinarily" is too long */
    ck_assert_uint_eq(n, 6);
    ck_assert_uint_eq(c[0].count, 3);
    ck_assert_uint_eq(c[1].first, 3);
    ck_assert_uint_eq(c[1].count, 1);
    ck_assert_uint_eq(c[2].count, 1);
    ck_assert_uint_eq(c[5].first, 7);
    ck_assert(c[0].start == 0.0 && c[0].end == 0.9);
}
END_TEST

START_TEST(captions_documents)
{
    struct caption_word w[] = { word("Hello,", 1.0, 1.5, 0), word("<world>", 1.5, 2.25, 0),
                                word("{x}", 62.0, 3601.5, 0) };
    struct caption_chunk c[3];
    size_t n = captions_group(w, 3, c);
    ck_assert_uint_eq(n, 3);
    struct buf b;
    buf_init(&b, 1 << 16);
    ck_assert_int_eq(captions_to_srt(w, c, n, &b), 0);
    ck_assert_str_eq(b.data, "1\n00:00:01,000 --> 00:00:01,500\nHello\n\n"
                             "2\n00:00:01,500 --> 00:00:02,250\n<world>\n\n"
                             "3\n00:01:02,000 --> 01:00:01,500\n{x}\n\n");
    buf_reset(&b);
    ck_assert_int_eq(captions_to_vtt(w, c, n, &b), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "WEBVTT\n\n00:00:01.000 --> 00:00:01.500\nHello\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "&lt;world&gt;"));
    buf_reset(&b);
    struct caption_style st = { 720, 1280, "DejaVu Sans", { 255, 255, 255 }, { 0xff, 0xd7, 0 }, "bottom" };
    struct caption_title title = { "A {title}", 0.0, 3.0 };
    ck_assert_int_eq(captions_to_ass(w, c, n, &title, 1, &st, &b), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "PlayResX: 720\nPlayResY: 1280\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "Dialogue: 0,0:00:01.00,0:00:01.50,Caption,,0,0,0,,{\\c&H00D7FF&}Hello{\\c}\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "Dialogue: 1,0:00:00.00,0:00:03.00,Title,,0,0,0,,A (title)\n"));
    ck_assert_ptr_nonnull(strstr(b.data, "(x)"));
    ck_assert_ptr_null(strstr(b.data, "{x}"));
    buf_free(&b);
}
END_TEST

START_TEST(captions_colors)
{
    unsigned char rgb[3] = { 1, 2, 3 };
    ck_assert_int_eq(captions_parse_color("#FFd700", rgb), 0);
    ck_assert(rgb[0] == 0xff && rgb[1] == 0xd7 && rgb[2] == 0x00);
    const char *bad[] = { "", "FFD700", "#FFD70", "#FFD7000", "#GGGGGG", "#12 456", NULL };
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(captions_parse_color(bad[i], rgb), -1);
    ck_assert(rgb[0] == 0xff && rgb[1] == 0xd7 && rgb[2] == 0x00);
}
END_TEST

/* ---- narration ---- */

START_TEST(narration_words_timed)
{
    struct job_options o;
    struct narration n;
    struct vf_err err = { 0 };
    test_options(&o);
    json_t *s = json_loads(SCRIPT_JSON, 0, NULL);
    ck_assert_int_eq(narration_build(s, &o, NULL, &n, &err), VF_OK);
    ck_assert_uint_eq(n.nwords, 23);
    ck_assert_uint_eq(n.nscenes, 2);
    ck_assert_int_eq(n.sample_rate, 22050);
    for (size_t i = 0; i < n.nwords; i++) {
        ck_assert(n.words[i].start <= n.words[i].end);
        if (i > 0)
            ck_assert(n.words[i].start >= n.words[i - 1].start);
    }
    ck_assert_int_eq(n.words[12].scene, 1);
    ck_assert(n.words[12].start >= n.scenes[1].start - 1e-9);
    ck_assert(n.duration_s > 4.0 && n.duration_s < 15.0);
    narration_free(&n);

    vf_strlcpy(o.tts, "none", sizeof(o.tts));
    ck_assert_int_eq(narration_build(s, &o, NULL, &n, &err), VF_OK);
    ck_assert_uint_eq(n.nwords, 23);
    ck_assert(n.duration_s > 4.0);
    narration_free(&n);

    vf_strlcpy(o.tts, "espeak", sizeof(o.tts));
    vf_strlcpy(o.voice, "xx-nope", sizeof(o.voice));
    vf_strlcpy(o.language, "zz", sizeof(o.language));
    ck_assert_int_eq(narration_build(s, &o, NULL, &n, &err), VF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "xx-nope"));
    json_decref(s);
}
END_TEST


/* ---- Gemini TTS ---- */

static char *b64(const unsigned char *data, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    return out;
}

/* n samples of a 440 Hz tone as little-endian 16-bit bytes (malloc'ed). */
static unsigned char *tone_pcm(size_t n, int rate)
{
    unsigned char *b = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        short v = (short)(8000 * sin(2 * M_PI * 440.0 * (double)i / rate));
        b[2 * i] = (unsigned char)v;
        b[2 * i + 1] = (unsigned char)((unsigned short)v >> 8);
    }
    return b;
}

/* A 200 answer carrying seconds of tone as mimeType (rate in the type). */
static char *tts_answer(double seconds, int rate, const char *mime)
{
    size_t n = (size_t)(seconds * rate);
    unsigned char *pcm = tone_pcm(n, rate);
    char *data = b64(pcm, n * 2);
    struct buf b;
    buf_init(&b, 64u << 20);
    buf_printf(&b, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"inlineData\":"
                   "{\"mimeType\":\"%s\",\"data\":\"%s\"}}]},\"finishReason\":\"STOP\",\"index\":0}],"
                   "\"modelVersion\":\"gemini-2.5-flash-preview-tts\"}", mime, data);
    free(pcm);
    free(data);
    return buf_take(&b);
}

START_TEST(gemini_request_shape)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    ck_assert_int_eq(gemini_tts_request_body("Say \"hi\"", "Puck", &b), 0);
    json_t *j = json_loads(b.data, 0, NULL);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(
        json_array_get(json_object_get(j, "contents"), 0), "parts"), 0), "text")), "Say \"hi\"");
    json_t *g = json_object_get(j, "generationConfig");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(g, "responseModalities"), 0)), "AUDIO");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(json_object_get(
        g, "speechConfig"), "voiceConfig"), "prebuiltVoiceConfig"), "voiceName")), "Puck");
    json_decref(j);
    buf_free(&b);
    ck_assert(gemini_tts_voice_known("Kore"));
    ck_assert(!gemini_tts_voice_known("en-us+f3"));
    ck_assert(!gemini_tts_voice_known(NULL));
}
END_TEST

START_TEST(gemini_answers)
{
    int16_t *pcm;
    size_t n;
    int rate;
    struct vf_err err = { 0 };

    char *ok = tts_answer(0.5, 24000, "audio/L16;codec=pcm;rate=24000");
    ck_assert_int_eq(gemini_tts_read_answer(200, ok, strlen(ok), &pcm, &n, &rate, &err), VF_OK);
    ck_assert_int_eq(rate, 24000);
    ck_assert_uint_eq(n, 12000);
    ck_assert_int_eq(pcm[0], 0);
    ck_assert_int_eq(pcm[15], (short)(8000 * sin(2 * M_PI * 440.0 * 15 / 24000)));
    free(pcm);
    free(ok);
    /* the rate comes from the mimeType */
    ok = tts_answer(0.25, 16000, "audio/L16;codec=pcm;rate=16000");
    ck_assert_int_eq(gemini_tts_read_answer(200, ok, strlen(ok), &pcm, &n, &rate, &err), VF_OK);
    ck_assert_int_eq(rate, 16000);
    ck_assert_uint_eq(n, 4000);
    free(pcm);
    free(ok);

    /* audio/wav: the RIFF header is read, stereo mixed down */
    unsigned char wav[44 + 8] = "RIFF\0\0\0\0WAVEfmt \x10\0\0\0\x01\0\x02\0\x80\x3e\0\0\0\xfa\0\0\x04\0\x10\0data\x08\0\0\0";
    short frames[4] = { 1000, 3000, -200, -400 };
    memcpy(wav + 44, frames, 8);
    char *data = b64(wav, sizeof(wav));
    char body[512];
    vf_snprintf(body, sizeof(body), "{\"candidates\":[{\"content\":{\"parts\":[{\"inlineData\":"
                "{\"mimeType\":\"audio/wav\",\"data\":\"%s\"}}]}}]}", data);
    free(data);
    ck_assert_int_eq(gemini_tts_read_answer(200, body, strlen(body), &pcm, &n, &rate, &err), VF_OK);
    ck_assert_int_eq(rate, 16000);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(pcm[0], 2000);
    ck_assert_int_eq(pcm[1], -300);
    free(pcm);

    static const struct {
        long status;
        const char *body;
        enum vf_rc rc;
        const char *says;
        double retry_after;
    } faults[] = {
        { 429, "{\"error\":{\"code\":429,\"message\":\"You exceeded your current quota. Please retry in 48.8s.\","
               "\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\"},"
               "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"48s\"}]}}",
          VF_ETRANSIENT, "quota", 48 },
        { 503, "{\"error\":{\"code\":503,\"message\":\"The model is overloaded. Please try again later.\",\"status\":\"UNAVAILABLE\"}}",
          VF_ETRANSIENT, "overloaded", 0 },
        { 500, "<html>oops</html>", VF_ETRANSIENT, "HTTP 500", 0 },
        { 504, "", VF_ETRANSIENT, "HTTP 504", 0 },
        { 400, "{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API key.\",\"status\":\"INVALID_ARGUMENT\","
               "\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\"}]}}",
          VF_EPERMANENT, "Gemini rejected the API key", 0 },
        { 403, "{\"error\":{\"code\":403,\"message\":\"Method doesn't allow unregistered callers\",\"status\":\"PERMISSION_DENIED\"}}",
          VF_EPERMANENT, "Gemini rejected the API key", 0 },
        { 404, "{\"error\":{\"code\":404,\"message\":\"models/nope is not found\",\"status\":\"NOT_FOUND\"}}",
          VF_EPERMANENT, "models/nope is not found", 0 },
        { 200, "{\"promptFeedback\":{\"blockReason\":\"PROHIBITED_CONTENT\"}}", VF_EPERMANENT, "PROHIBITED_CONTENT", 0 },
        { 200, "{\"candidates\":[{\"content\":{\"role\":\"model\"},\"finishReason\":\"OTHER\"}]}", VF_ETRANSIENT, "no audio", 0 },
        { 200, "{\"candidates\":[{\"content\":{\"parts\":[{\"inlineData\":{\"mimeType\":\"audio/mpeg\",\"data\":\"AAAA\"}}]}}]}",
          VF_EPERMANENT, "audio/mpeg", 0 },
        { 200, "{\"candidates\":[{\"content\":{\"parts\":[{\"inlineData\":{\"mimeType\":\"audio/L16;rate=24000\",\"data\":\"!!\"}}]}}]}",
          VF_EPERMANENT, "base64", 0 },
        { 200, "not json", VF_ETRANSIENT, "not JSON", 0 },
    };
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        struct vf_err e = { 0 };
        enum vf_rc rc = gemini_tts_read_answer(faults[i].status, faults[i].body, strlen(faults[i].body),
                                               &pcm, &n, &rate, &e);
        ck_assert_msg(rc == faults[i].rc, "case %zu: rc %d (%s)", i, rc, e.text);
        ck_assert_msg(strstr(e.text, faults[i].says), "case %zu: \"%s\"", i, e.text);
        ck_assert_double_eq_tol(e.retry_after, faults[i].retry_after, 1e-9);
        ck_assert_ptr_null(pcm);
    }
}
END_TEST

/* A one-thread HTTP server standing in for Gemini: answers `nanswers`
 * connections with `answer` (status and body), or with a tone when body is
 * NULL, and keeps the first request. */
struct fake_tts {
    int fd, port, nanswers, status;
    const char *body;
    char first_request[8192];
    int requests;
    pthread_t thread;
};

static void *fake_tts_serve(void *ud)
{
    struct fake_tts *f = ud;
    for (int k = 0; k < f->nanswers; k++) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            break;
        char req[65536];
        size_t got = 0;
        long want = -1;
        while (got + 1 < sizeof(req)) {
            ssize_t r = read(c, req + got, sizeof(req) - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            req[got] = '\0';
            char *end = strstr(req, "\r\n\r\n");
            if (end && want < 0) {
                char *cl = strcasestr(req, "content-length:");
                want = (long)(end + 4 - req) + (cl ? strtol(cl + 15, NULL, 10) : 0);
            }
            if (want >= 0 && (long)got >= want)
                break;
        }
        if (f->requests++ == 0)
            vf_strlcpy(f->first_request, req, sizeof(f->first_request));
        char *answer = f->body ? strdup(f->body) : tts_answer(1.0, 16000, "audio/L16;codec=pcm;rate=16000");
        char head[256];
        vf_snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                    "Content-Length: %zu\r\nConnection: close\r\n\r\n", f->body ? f->status : 200, strlen(answer));
        ck_assert(write(c, head, strlen(head)) == (ssize_t)strlen(head));
        ck_assert(write(c, answer, strlen(answer)) == (ssize_t)strlen(answer));
        free(answer);
        close(c);
    }
    return NULL;
}

static void fake_tts_start(struct fake_tts *f)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(f->fd, 0);
    ck_assert_int_eq(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(f->fd, 8), 0);
    ck_assert_int_eq(getsockname(f->fd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_tts_serve, f), 0);
}

static void fake_tts_stop(struct fake_tts *f)
{
    shutdown(f->fd, SHUT_RDWR);
    pthread_join(f->thread, NULL);
    close(f->fd);
}

START_TEST(narration_gemini)
{
    struct job_options o;
    struct narration n;
    struct vf_err err = { 0 };
    struct vf_config cfg;
    char key[] = "test-key", url[64], model[] = "gemini-2.5-flash-preview-tts";
    struct fake_tts f = { .nanswers = 2 };
    fake_tts_start(&f);
    memset(&cfg, 0, sizeof(cfg));
    vf_snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f.port);
    cfg.gemini_api_key = key;
    cfg.gemini_base_url = url;
    cfg.gemini_tts_model = model;
    test_options(&o);
    vf_strlcpy(o.tts, "gemini", sizeof(o.tts));
    json_t *s = json_loads(SCRIPT_JSON, 0, NULL);
    enum vf_rc rc = narration_build(s, &o, &cfg, &n, &err);
    fake_tts_stop(&f);
    ck_assert_msg(rc == VF_OK, "%s", err.text);
    ck_assert_int_eq(f.requests, 2);
    ck_assert(strncmp(f.first_request,
                      "POST /v1beta/models/gemini-2.5-flash-preview-tts:generateContent HTTP/1.1\r\n", 75) == 0);
    ck_assert_ptr_nonnull(strcasestr(f.first_request, "\r\nx-goog-api-key: test-key\r\n"));
    ck_assert_ptr_nonnull(strstr(f.first_request, "\"responseModalities\":[\"AUDIO\"]"));
    ck_assert_ptr_nonnull(strstr(f.first_request, "\"voiceName\":\"Kore\""));   /* en-us+f3 is no Gemini voice */
    ck_assert_ptr_nonnull(strstr(f.first_request, "Octopuses have three hearts"));
    /* 1 s of 16 kHz speech per scene, at 24 kHz, plus the pauses */
    ck_assert_int_eq(n.sample_rate, 24000);
    ck_assert_double_eq_tol(n.duration_s, 2.0 + VOICE_SCENE_GAP_S + VOICE_TAIL_S, 0.02);
    ck_assert_uint_eq(n.nwords, 23);
    /* words spread over each scene's second in proportion to their characters */
    ck_assert_double_eq_tol(n.words[0].start, 0.0, 0.01);
    ck_assert_double_eq_tol(n.words[1].start, 10.0 / 65, 0.01);       /* "have" is character 11 of 65 */
    ck_assert(n.words[11].start < 1.0 && n.words[11].start > 0.8);
    ck_assert_double_eq_tol(n.words[12].start, 1.0 + VOICE_SCENE_GAP_S, 0.01);
    for (size_t i = 1; i < n.nwords; i++)
        ck_assert(n.words[i].start > n.words[i - 1].start);
    narration_free(&n);

    /* a prebuilt voice name is passed through; a 429 is transient with its delay */
    static const char quota[] = "{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted\","
                                "\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":"
                                "\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"7s\"}]}}";
    struct fake_tts busy = { .nanswers = 1, .status = 429, .body = quota };
    fake_tts_start(&busy);
    vf_snprintf(url, sizeof(url), "http://127.0.0.1:%d", busy.port);
    vf_strlcpy(o.voice, "Puck", sizeof(o.voice));
    memset(&err, 0, sizeof(err));
    rc = narration_build(s, &o, &cfg, &n, &err);
    fake_tts_stop(&busy);
    ck_assert_int_eq(rc, VF_ETRANSIENT);
    ck_assert_double_eq_tol(err.retry_after, 7.0, 1e-9);
    ck_assert_int_eq(err.http_status, 429);
    ck_assert_ptr_nonnull(strstr(err.text, "scene 1"));
    ck_assert_ptr_nonnull(strstr(busy.first_request, "\"voiceName\":\"Puck\""));

    /* nobody listening: transient; no key: permanent */
    vf_strlcpy(url, "http://127.0.0.1:1", sizeof(url));
    ck_assert_int_eq(narration_build(s, &o, &cfg, &n, &err), VF_ETRANSIENT);
    cfg.gemini_api_key = NULL;
    ck_assert_int_eq(narration_build(s, &o, &cfg, &n, &err), VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "gemini_api_key"));
    json_decref(s);
}
END_TEST

/* ---- media library ---- */

static void touch(const char *dir, const char *name)
{
    char p[512];
    vf_snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("not really media", f);
    fclose(f);
}

static const char *chosen(const char *dir, const char *visual_json, int scene, enum vf_rc want)
{
    static char path[512];
    static struct vf_err err;
    int found = -1;
    json_t *v = json_loads(visual_json, 0, NULL);
    ck_assert_ptr_nonnull(v);
    enum vf_rc rc = media_choose(dir, v, scene, path, sizeof(path), &found, &err);
    json_decref(v);
    ck_assert_msg(rc == want, "%s: rc %d (%s)", visual_json, rc, err.text);
    if (rc != VF_OK)
        return err.text;
    if (!found)
        return NULL;
    ck_assert(strncmp(path, dir, strlen(dir)) == 0 && path[strlen(dir)] == '/');
    return path + strlen(dir) + 1;
}

START_TEST(media_choice)
{
    char tmpl[] = "/tmp/vf-media-XXXXXX";
    char *dir = mkdtemp(tmpl), sub[512];
    ck_assert_ptr_nonnull(dir);
    const char *names[] = { "ocean-waves.jpg", "Ocean_Sunset.png", "city.mp4", "notes.txt", ".ocean.jpg" };
    for (int i = 0; i < 5; i++)
        touch(dir, names[i]);
    vf_snprintf(sub, sizeof(sub), "%s/ocean.jpg", dir);     /* a directory is never chosen */
    ck_assert_int_eq(mkdir(sub, 0700), 0);

    ck_assert_str_eq(chosen(dir, "{\"keywords\":[\"forest\",\"oceans\"]}", 0, VF_OK), "Ocean_Sunset.png");
    ck_assert_str_eq(chosen(dir, "{\"keywords\":[\"forest\",\"oceans\"]}", 1, VF_OK), "ocean-waves.jpg");
    ck_assert_str_eq(chosen(dir, "{\"keywords\":[\"ocean waves\"]}", 0, VF_OK), "ocean-waves.jpg");
    ck_assert_str_eq(chosen(dir, "{\"keywords\":[\"CITY\"],\"media\":null}", 3, VF_OK), "city.mp4");
    ck_assert_ptr_null(chosen(dir, "{\"keywords\":[\"sun\",\"notes\"]}", 0, VF_OK));
    ck_assert_ptr_null(chosen(dir, "{\"keywords\":[]}", 0, VF_OK));
    ck_assert_ptr_null(chosen(NULL, "{\"keywords\":[\"ocean\"]}", 0, VF_OK));
    ck_assert_str_eq(chosen(dir, "{\"keywords\":[\"ocean\"],\"media\":\"city.mp4\"}", 0, VF_OK), "city.mp4");
    ck_assert_ptr_nonnull(strstr(chosen(dir, "{\"media\":\"../etc/passwd\"}", 1, VF_EINVAL), "scene 2"));
    ck_assert_ptr_nonnull(strstr(chosen(dir, "{\"media\":\".ocean.jpg\"}", 0, VF_EINVAL), ".ocean.jpg"));
    ck_assert_ptr_nonnull(strstr(chosen(dir, "{\"media\":\"ocean.jpg\"}", 0, VF_EINVAL), "not in the media library"));
    ck_assert_ptr_nonnull(strstr(chosen(dir, "{\"media\":\"gone.png\"}", 0, VF_EINVAL), "gone.png"));
    ck_assert_ptr_nonnull(strstr(chosen(NULL, "{\"media\":\"city.mp4\"}", 0, VF_EINVAL), "media_dir"));
    ck_assert(!media_plain_name("a/b.jpg") && !media_plain_name("") && media_plain_name("a b.jpg"));

    /* a file that is not media fails to open, naming it */
    struct media_source *m = NULL;
    struct vf_err err = { 0 };
    char p[512];
    vf_snprintf(p, sizeof(p), "%s/city.mp4", dir);
    ck_assert_int_eq(media_open(p, 720, 1280, 0, &m, &err), VF_EINVAL);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(err.text, p));

    rmdir(sub);
    for (int i = 0; i < 5; i++) {
        vf_snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}
END_TEST

/* ---- full renders ---- */

struct progress_log {
    int calls, last, increasing, cancel_at;
};

static int on_progress(void *ud, int percent, const char *message)
{
    struct progress_log *p = ud;
    if (p->calls > 0 && percent <= p->last)
        p->increasing = 0;
    ck_assert_ptr_nonnull(message);
    p->calls++;
    p->last = percent;
    return p->cancel_at > 0 && percent >= p->cancel_at;
}

static char *make_temp_dir(void)
{
    char tmpl[] = "/tmp/vf-render-XXXXXX";
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    return strdup(d);
}

static void remove_dir(const char *dir)
{
    const char *names[] = { "video.mp4", "thumb.jpg", "captions.srt", "captions.vtt", "captions.ass" };
    char p[512];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        vf_snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static long file_size(const char *dir, const char *name)
{
    char p[512];
    struct stat sb;
    vf_snprintf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static char *read_text(const char *dir, const char *name)
{
    char p[512];
    vf_snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    char *data = calloc(1, 1 << 20);
    size_t n = fread(data, 1, (1 << 20) - 1, f);
    data[n] = '\0';
    fclose(f);
    return data;
}

/* Cue times in order: each cue ends after it starts and never before the last. */
static int check_cues(const char *doc, char frac)
{
    int n = 0;
    double prev_end = -1;
    for (const char *p = strstr(doc, " --> "); p; p = strstr(p + 5, " --> ")) {
        unsigned h0, m0, s0, ms0, h1, m1, s1, ms1;
        char f0, f1;
        ck_assert_int_eq(sscanf(p - 12, "%2u:%2u:%2u%c%3u --> %2u:%2u:%2u%c%3u", &h0, &m0, &s0, &f0,
                                &ms0, &h1, &m1, &s1, &f1, &ms1), 10);
        ck_assert(f0 == frac && f1 == frac);
        double a = h0 * 3600.0 + m0 * 60.0 + s0 + ms0 / 1000.0;
        double b = h1 * 3600.0 + m1 * 60.0 + s1 + ms1 / 1000.0;
        ck_assert(b > a);
        ck_assert(a >= prev_end - 1e-9);
        prev_end = b;
        n++;
    }
    return n;
}

/* With +faststart the top-level moov box comes before mdat. */
static int moov_before_mdat(const char *dir)
{
    char p[512];
    unsigned char h[16];
    long moov = -1, mdat = -1, at = 0;
    vf_snprintf(p, sizeof(p), "%s/video.mp4", dir);
    FILE *f = fopen(p, "rb");
    ck_assert_ptr_nonnull(f);
    while (fread(h, 1, 8, f) == 8) {
        unsigned long long size = (unsigned long long)h[0] << 24 | h[1] << 16 | h[2] << 8 | h[3];
        if (size == 1 && fread(h + 8, 1, 8, f) == 8) {
            size = 0;
            for (int i = 8; i < 16; i++)
                size = size << 8 | h[i];
        }
        if (memcmp(h + 4, "moov", 4) == 0)
            moov = at;
        if (memcmp(h + 4, "mdat", 4) == 0)
            mdat = at;
        if (size < 8)
            break;
        at += (long)size;
        fseek(f, at, SEEK_SET);
    }
    fclose(f);
    return moov >= 0 && mdat >= 0 && moov < mdat;
}

/* Integrated loudness of the file's audio as libavfilter's ebur128 measures
 * it (amovie → ebur128 → abuffersink; the last frame carries the total). */
static double ebur128_loudness(const char *path)
{
    AVFilterGraph *g = avfilter_graph_alloc();
    AVFilterContext *src = avfilter_graph_alloc_filter(g, avfilter_get_by_name("amovie"), "in");
    AVFilterContext *meter = avfilter_graph_alloc_filter(g, avfilter_get_by_name("ebur128"), "meter");
    AVFilterContext *sink = NULL;
    ck_assert_ptr_nonnull(src);
    ck_assert_ptr_nonnull(meter);
    ck_assert_int_ge(av_opt_set(src, "filename", path, AV_OPT_SEARCH_CHILDREN), 0);
    ck_assert_int_ge(avfilter_init_str(src, NULL), 0);
    ck_assert_int_ge(av_opt_set_int(meter, "metadata", 1, AV_OPT_SEARCH_CHILDREN), 0);
    ck_assert_int_ge(avfilter_init_str(meter, NULL), 0);
    ck_assert_int_ge(avfilter_graph_create_filter(&sink, avfilter_get_by_name("abuffersink"), "out",
                                                  NULL, NULL, g), 0);
    ck_assert_int_ge(avfilter_link(src, 0, meter, 0), 0);
    ck_assert_int_ge(avfilter_link(meter, 0, sink, 0), 0);
    ck_assert_int_ge(avfilter_graph_config(g, NULL), 0);
    AVFrame *f = av_frame_alloc();
    double lufs = NAN;
    while (av_buffersink_get_frame(sink, f) >= 0) {
        AVDictionaryEntry *e = av_dict_get(f->metadata, "lavfi.r128.I", NULL, 0);
        if (e)
            lufs = strtod(e->value, NULL);
        av_frame_unref(f);
    }
    av_frame_free(&f);
    avfilter_graph_free(&g);
    return lufs;
}

/* The file's audio decoded as one mono 48 kHz track (the channels averaged). */
static float *decode_audio(const char *path, size_t *n)
{
    AVFormatContext *fc = NULL;
    ck_assert_int_eq(avformat_open_input(&fc, path, NULL, NULL), 0);
    ck_assert_int_ge(avformat_find_stream_info(fc, NULL), 0);
    int si = av_find_best_stream(fc, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    ck_assert_int_ge(si, 0);
    const AVCodec *dec = avcodec_find_decoder(fc->streams[si]->codecpar->codec_id);
    AVCodecContext *d = avcodec_alloc_context3(dec);
    avcodec_parameters_to_context(d, fc->streams[si]->codecpar);
    ck_assert_int_eq(avcodec_open2(d, dec, NULL), 0);
    ck_assert_int_eq(d->sample_fmt, AV_SAMPLE_FMT_FLTP);
    size_t cap = (size_t)AUDIO_RATE * 120;
    float *out = malloc(cap * sizeof(float));
    AVPacket *p = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    *n = 0;
    while (av_read_frame(fc, p) >= 0) {
        if (p->stream_index == si && avcodec_send_packet(d, p) >= 0)
            while (avcodec_receive_frame(d, f) >= 0) {
                int nch = f->ch_layout.nb_channels;
                for (int i = 0; i < f->nb_samples && *n < cap; i++, (*n)++) {
                    float sum = 0;
                    for (int c = 0; c < nch; c++)
                        sum += ((float *)f->data[c])[i];
                    out[*n] = sum / (float)nch;
                }
            }
        av_packet_unref(p);
    }
    av_frame_free(&f);
    av_packet_free(&p);
    avcodec_free_context(&d);
    avformat_close_input(&fc);
    return out;
}

/* The first decoded video frame at or after t seconds. */
static AVFrame *frame_at(const char *dir, double t)
{
    char p[512];
    AVFormatContext *fc = NULL;
    vf_snprintf(p, sizeof(p), "%s/video.mp4", dir);
    ck_assert_int_eq(avformat_open_input(&fc, p, NULL, NULL), 0);
    ck_assert_int_ge(avformat_find_stream_info(fc, NULL), 0);
    int si = av_find_best_stream(fc, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    ck_assert_int_ge(si, 0);
    const AVCodec *dec = avcodec_find_decoder(fc->streams[si]->codecpar->codec_id);
    AVCodecContext *d = avcodec_alloc_context3(dec);
    avcodec_parameters_to_context(d, fc->streams[si]->codecpar);
    ck_assert_int_eq(avcodec_open2(d, dec, NULL), 0);
    AVPacket *pk = av_packet_alloc();
    AVFrame *f = av_frame_alloc(), *found = NULL;
    double tb = av_q2d(fc->streams[si]->time_base);
    int eof = 0;
    while (!found) {
        int r = avcodec_receive_frame(d, f);
        if (r >= 0) {
            if (f->best_effort_timestamp * tb >= t - 0.001)
                found = av_frame_clone(f);
            av_frame_unref(f);
            continue;
        }
        ck_assert_int_eq(r, AVERROR(EAGAIN));
        if (eof || av_read_frame(fc, pk) < 0) {
            ck_assert(!eof);
            eof = 1;
            avcodec_send_packet(d, NULL);
            continue;
        }
        if (pk->stream_index == si)
            avcodec_send_packet(d, pk);
        av_packet_unref(pk);
    }
    av_frame_free(&f);
    av_packet_free(&pk);
    avcodec_free_context(&d);
    avformat_close_input(&fc);
    return found;
}

/* Mean of plane `plane` over a box (in that plane's pixels). */
static double plane_mean(const AVFrame *f, int plane, int x0, int y0, int w, int h)
{
    double sum = 0;
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++)
            sum += f->data[plane][(size_t)y * f->linesize[plane] + x];
    return sum / ((double)w * h);
}

/* Share of pixels in rows y0..y1 whose luma differs by more than 40
 * between two same-sized frames (text, not encoder noise). */
static double luma_changed(const AVFrame *a, const AVFrame *b, int y0, int y1)
{
    long changed = 0;
    for (int y = y0; y < y1; y++)
        for (int x = 0; x < a->width; x++)
            changed += abs(a->data[0][(size_t)y * a->linesize[0] + x]
                           - b->data[0][(size_t)y * b->linesize[0] + x]) > 40;
    return (double)changed / ((double)(y1 - y0) * a->width);
}

/* Amplitude of the freq component of x[from..to) (Goertzel). */
static double tone_level(const float *x, size_t from, size_t to, double freq)
{
    double k = 2 * cos(2 * M_PI * freq / AUDIO_RATE), s1 = 0, s2 = 0;
    for (size_t i = from; i < to; i++) {
        double s0 = x[i] + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    double power = s1 * s1 + s2 * s2 - k * s1 * s2;
    return 2 * sqrt(power) / (double)(to - from);
}

static double rms(const float *x, size_t from, size_t to)
{
    double s = 0;
    for (size_t i = from; i < to; i++)
        s += (double)x[i] * x[i];
    return sqrt(s / (double)(to - from));
}

/* A PNG of w x h in three vertical bands, red | green | blue. */
static void write_bands_png(const char *path, int w, int h)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_PNG);
    AVCodecContext *e = avcodec_alloc_context3(codec);
    AVFrame *f = av_frame_alloc();
    AVPacket *p = av_packet_alloc();
    e->width = f->width = w;
    e->height = f->height = h;
    e->pix_fmt = f->format = AV_PIX_FMT_RGB24;
    e->time_base = (AVRational){ 1, 25 };
    ck_assert_int_eq(avcodec_open2(e, codec, NULL), 0);
    ck_assert_int_eq(av_frame_get_buffer(f, 0), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *px = f->data[0] + (size_t)y * f->linesize[0] + 3 * x;
            int band = x * 3 / w;
            px[0] = band == 0 ? 220 : 20;
            px[1] = band == 1 ? 220 : 20;
            px[2] = band == 2 ? 220 : 20;
        }
    ck_assert_int_eq(avcodec_send_frame(e, f), 0);
    ck_assert_int_eq(avcodec_receive_packet(e, p), 0);
    FILE *out = fopen(path, "wb");
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(fwrite(p->data, 1, (size_t)p->size, out), (size_t)p->size);
    fclose(out);
    av_packet_free(&p);
    av_frame_free(&f);
    avcodec_free_context(&e);
}

#define CLIP_FPS 25
#define CLIP_FRAMES 25

/* Luma of frame i of the generated clip: a ramp that restarts each second. */
static int clip_luma(int i)
{
    return 40 + 6 * (i % CLIP_FRAMES);
}

/* A one-second MPEG-4 clip in an MP4, w x h, each frame one flat grey. */
static void write_ramp_clip(const char *path, int w, int h)
{
    AVFormatContext *oc = NULL;
    ck_assert_int_ge(avformat_alloc_output_context2(&oc, NULL, "mp4", path), 0);
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
    AVCodecContext *e = avcodec_alloc_context3(codec);
    e->width = w;
    e->height = h;
    e->pix_fmt = AV_PIX_FMT_YUV420P;
    e->time_base = (AVRational){ 1, CLIP_FPS };
    e->framerate = (AVRational){ CLIP_FPS, 1 };
    e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER | AV_CODEC_FLAG_QSCALE;
    e->global_quality = FF_QP2LAMBDA * 2;
    ck_assert_int_eq(avcodec_open2(e, codec, NULL), 0);
    AVStream *st = avformat_new_stream(oc, NULL);
    st->time_base = e->time_base;
    avcodec_parameters_from_context(st->codecpar, e);
    ck_assert_int_ge(avio_open(&oc->pb, path, AVIO_FLAG_WRITE), 0);
    ck_assert_int_ge(avformat_write_header(oc, NULL), 0);
    AVFrame *f = av_frame_alloc();
    AVPacket *p = av_packet_alloc();
    for (int i = 0; i <= CLIP_FRAMES; i++) {
        if (i < CLIP_FRAMES) {
            f->width = w;
            f->height = h;
            f->format = AV_PIX_FMT_YUV420P;
            ck_assert_int_eq(av_frame_get_buffer(f, 0), 0);
            memset(f->data[0], clip_luma(i), (size_t)f->linesize[0] * h);
            memset(f->data[1], 128, (size_t)f->linesize[1] * h / 2);
            memset(f->data[2], 128, (size_t)f->linesize[2] * h / 2);
            f->pts = i;
            f->quality = e->global_quality;
        }
        ck_assert_int_ge(avcodec_send_frame(e, i < CLIP_FRAMES ? f : NULL), 0);
        av_frame_unref(f);
        while (avcodec_receive_packet(e, p) >= 0) {
            p->duration = 1;    /* else the last frame has none and the edit list drops it */
            av_packet_rescale_ts(p, e->time_base, st->time_base);
            p->stream_index = st->index;
            ck_assert_int_ge(av_interleaved_write_frame(oc, p), 0);
        }
    }
    ck_assert_int_ge(av_write_trailer(oc), 0);
    avio_closep(&oc->pb);
    av_frame_free(&f);
    av_packet_free(&p);
    avcodec_free_context(&e);
    avformat_free_context(oc);
}

/* Caption events of the ASS document against the word timings: every
 * Caption event lights one word, starting when that word is spoken (to the
 * centisecond: espeak's timing wobbles by a few samples between runs). */
static void check_caption_events(const char *ass, const struct narration *n)
{
    size_t w = 0, events = 0;
    for (const char *p = strstr(ass, "Dialogue: 0,"); p; p = strstr(p + 1, "Dialogue: 0,")) {
        unsigned h, m, sec, cs;
        ck_assert_int_eq(sscanf(p + 12, "%u:%2u:%2u.%2u", &h, &m, &sec, &cs), 4);
        long start = (long)(((h * 60 + m) * 60 + sec) * 100 + cs);
        const char *lit = strstr(p, "{\\c&H");
        ck_assert_ptr_nonnull(lit);
        lit = strchr(lit, '}') + 1;
        size_t litlen = (size_t)(strstr(lit, "{\\c}") - lit);
        /* the word spoken from this event's start */
        while (w < n->nwords && lround(n->words[w].start * 100) < start - 1)
            w++;
        ck_assert_msg(w < n->nwords, "event at %ld cs has no word", start);
        ck_assert_msg(labs(lround(n->words[w].start * 100) - start) <= 1, "event at %ld cs, word at %.3f s",
                      start, n->words[w].start);
        ck_assert_msg(litlen <= n->words[w].len && strncmp(lit, n->words[w].text, litlen) == 0,
                      "event at %ld cs lights \"%.*s\", word is \"%.*s\"", start, (int)litlen, lit,
                      (int)n->words[w].len, n->words[w].text);
        events++;
        w++;
    }
    ck_assert_uint_ge(events, n->nwords - 2);
}

static void check_mp4(const char *dir, double expect_s, int width, int height)
{
    char p[512];
    AVFormatContext *fc = NULL;
    vf_snprintf(p, sizeof(p), "%s/video.mp4", dir);
    ck_assert_int_eq(avformat_open_input(&fc, p, NULL, NULL), 0);
    ck_assert_int_ge(avformat_find_stream_info(fc, NULL), 0);
    ck_assert_uint_eq(fc->nb_streams, 2);
    int h264 = 0, aac = 0;
    for (unsigned i = 0; i < fc->nb_streams; i++) {
        AVCodecParameters *cp = fc->streams[i]->codecpar;
        if (cp->codec_id == AV_CODEC_ID_H264) {
            h264++;
            ck_assert_int_eq(cp->width, width);
            ck_assert_int_eq(cp->height, height);
            ck_assert_int_eq(cp->format, AV_PIX_FMT_YUV420P);
            ck_assert_int_eq(cp->profile, FF_PROFILE_H264_HIGH);
        } else if (cp->codec_id == AV_CODEC_ID_AAC) {
            aac++;
            ck_assert_int_eq(cp->sample_rate, 48000);
        }
    }
    ck_assert_int_eq(h264, 1);
    ck_assert_int_eq(aac, 1);
    double dur = (double)fc->duration / AV_TIME_BASE;
    ck_assert_msg(dur > expect_s * 0.9 && dur < expect_s * 1.1, "duration %.2f vs %.2f", dur, expect_s);
    avformat_close_input(&fc);
    ck_assert(moov_before_mdat(dir));
}

#define MUSIC_TONE_HZ 5000.0

/* 9:16 at 720p, espeak over a music bed: streams, size, length, faststart,
 * loudness (ebur128), caption events against the word timings, ducking. */
START_TEST(render_720p)
{
    struct job_options o;
    struct vf_config cfg;
    char preset[] = "veryfast";
    struct vf_err err = { 0 };
    struct render_result res;
    struct progress_log log = { .increasing = 1 };
    test_options(&o);
    vf_strlcpy(o.music_track, "tone.wav", sizeof(o.music_track));
    o.music_volume = 0.15;
    char *media = make_temp_dir(), music_dir[512], wav[600], mp4[512];
    vf_snprintf(music_dir, sizeof(music_dir), "%s/music", media);
    ck_assert_int_eq(mkdir(music_dir, 0700), 0);
    vf_snprintf(wav, sizeof(wav), "%s/tone.wav", music_dir);
    write_tone_wav(wav, 1.3, MUSIC_TONE_HZ);
    memset(&cfg, 0, sizeof(cfg));
    cfg.x264_preset = preset;
    cfg.media_dir = media;      /* holds no pictures: the keyword "ocean" keeps the gradient */
    json_t *s = json_loads(SCRIPT_JSON, 0, NULL);
    char *dir = make_temp_dir();
    struct render_request rq = { s, &o, &cfg, dir, on_progress, &log, 0 };
    /* espeak's first synthesis in a process pauses a little longer at
     * commas than later ones: speak once so the render and the narration
     * compared with it below are both later ones */
    struct narration n;
    ck_assert_int_eq(narration_build(s, &o, NULL, &n, &err), VF_OK);
    narration_free(&n);

    enum vf_rc rc = render_video(&rq, &res, &err);
    ck_assert_msg(rc == VF_OK, "render: %s", err.text);
    const char *files[] = { "video.mp4", "thumb.jpg", "captions.srt", "captions.vtt", "captions.ass" };
    for (int i = 0; i < 5; i++)
        ck_assert_msg(file_size(dir, files[i]) > 0, "%s missing", files[i]);
    ck_assert_int_eq(res.width, 720);
    ck_assert_int_eq(res.height, 1280);
    ck_assert_int_eq((long)res.size_bytes, file_size(dir, "video.mp4"));
    ck_assert_uint_eq(strlen(res.sha256), 64);

    /* the narration alone: lengths, cues, word times */
    ck_assert_int_eq(narration_build(s, &o, NULL, &n, &err), VF_OK);
    check_mp4(dir, n.duration_s, 720, 1280);
    ck_assert(res.duration_s > n.duration_s * 0.95 && res.duration_s < n.duration_s * 1.05);
    vf_snprintf(mp4, sizeof(mp4), "%s/video.mp4", dir);
    double lufs = ebur128_loudness(mp4);
    ck_assert_msg(fabs(lufs - AUDIO_TARGET_LUFS) <= 1.0, "ebur128 reads %.2f LUFS", lufs);
    struct caption_chunk *chunks = calloc(n.nwords, sizeof(*chunks));
    size_t nchunks = captions_group(n.words, n.nwords, chunks);
    char *srt = read_text(dir, "captions.srt"), *vtt = read_text(dir, "captions.vtt");
    char *ass = read_text(dir, "captions.ass");
    ck_assert_int_eq(check_cues(srt, ','), (int)nchunks);
    ck_assert_int_eq(check_cues(vtt, '.'), (int)nchunks);
    ck_assert(strncmp(vtt, "WEBVTT\n", 7) == 0);
    check_caption_events(ass, &n);
    ck_assert_int_ge(log.calls, 10);
    ck_assert(log.increasing);
    ck_assert_int_eq(log.last, 100);

    /* ducking: the music's tone is well under its music-only level while
     * words are spoken, and the voice stands above the music */
    size_t na;
    float *audio = decode_audio(mp4, &na);
    double tone_voice = 0, rms_voice = 0;
    int segments = 0;
    for (size_t i = 0; i < n.nwords; i++) {
        double len = n.words[i].end - n.words[i].start;
        if (len < 0.2)
            continue;
        size_t a = (size_t)((n.words[i].start + 0.3 * len) * AUDIO_RATE);
        size_t b = (size_t)((n.words[i].end - 0.3 * len) * AUDIO_RATE);
        ck_assert(b < na);
        tone_voice += tone_level(audio, a, b, MUSIC_TONE_HZ);
        rms_voice += rms(audio, a, b);
        segments++;
    }
    ck_assert_int_ge(segments, 8);
    tone_voice /= segments;
    rms_voice /= segments;
    /* music only: the end of the tail after the last word */
    size_t a = (size_t)((n.duration_s - 0.25) * AUDIO_RATE), b = (size_t)((n.duration_s - 0.05) * AUDIO_RATE);
    ck_assert(b <= na);
    double tone_music = tone_level(audio, a, b, MUSIC_TONE_HZ), rms_music = rms(audio, a, b);
    ck_assert_msg(tone_music > 0.01, "music-only tone %.4f", tone_music);
    ck_assert_msg(tone_voice < 0.6 * tone_music, "music %.4f under the voice, %.4f alone", tone_voice, tone_music);
    ck_assert_msg(rms_voice > 1.3 * rms_music, "voice segments %.4f, music only %.4f", rms_voice, rms_music);

    free(audio);
    free(srt);
    free(vtt);
    free(ass);
    free(chunks);
    narration_free(&n);
    remove_dir(dir);
    free(dir);
    unlink(wav);
    rmdir(music_dir);
    rmdir(media);
    free(media);
    json_decref(s);
}
END_TEST

static const char *const SHORT_SCRIPT =
    "{\"title\":\"Short\",\"language\":\"en\",\"scenes\":["
    "{\"narration\":\"Big bold words here.\",\"caption\":null,"
    "\"visual\":{\"keywords\":[\"ocean\"],\"palette\":\"sunset\",\"media\":null}},"
    "{\"narration\":\"Then a moving clip.\",\"caption\":null,"
    "\"visual\":{\"keywords\":[],\"palette\":\"forest\",\"media\":\"ramp.mp4\"}}],"
    "\"hashtags\":[],\"description\":\"\"}";

/* 16:9 at 720p: a frame at a caption's time differs from the same frame
 * rendered without captions, where the caption sits. */
START_TEST(render_captions_drawn)
{
    struct job_options o;
    struct vf_err err = { 0 };
    struct render_result res;
    test_options(&o);
    vf_strlcpy(o.tts, "none", sizeof(o.tts));
    vf_strlcpy(o.aspect, "16:9", sizeof(o.aspect));
    json_t *s = json_loads(SHORT_SCRIPT, 0, NULL);
    json_object_set_new(json_object_get(json_array_get(json_object_get(s, "scenes"), 1), "visual"),
                        "media", json_null());
    char *with = make_temp_dir(), *without = make_temp_dir();
    struct render_request rq = { s, &o, NULL, with, NULL, NULL, 0 };
    ck_assert_msg(render_video(&rq, &res, &err) == VF_OK, "%s", err.text);
    ck_assert_int_eq(res.width, 1280);
    ck_assert_int_eq(res.height, 720);
    rq.out_dir = without;
    rq.no_captions = 1;
    ck_assert_msg(render_video(&rq, &res, &err) == VF_OK, "%s", err.text);

    struct narration n;
    ck_assert_int_eq(narration_build(s, &o, NULL, &n, &err), VF_OK);
    check_mp4(with, n.duration_s, 1280, 720);
    double t = (n.words[1].start + n.words[1].end) / 2;
    AVFrame *a = frame_at(with, t), *b = frame_at(without, t);
    ck_assert_int_eq(a->width, 1280);
    /* bottom captions on 16:9 stand on a line 10 % above the bottom */
    double caption_band = luma_changed(a, b, 720 * 78 / 100, 720 * 92 / 100);
    double top_band = luma_changed(a, b, 0, 720 * 30 / 100);
    ck_assert_msg(caption_band > 0.015, "%.4f of the caption band changed", caption_band);
    ck_assert_msg(top_band < 0.001, "%.4f of the top band changed", top_band);
    av_frame_free(&a);
    av_frame_free(&b);
    narration_free(&n);
    remove_dir(with);
    remove_dir(without);
    free(with);
    free(without);
    json_decref(s);
}
END_TEST

/* 1:1 at 1080: scene 1 shows the library picture its keyword names (cropped
 * to the square: the middle band), scene 2 the clip it names, looped. */
START_TEST(render_media_square)
{
    struct job_options o;
    struct vf_config cfg;
    struct vf_err err = { 0 };
    struct render_result res;
    char *media = make_temp_dir(), png[512], clip[512];
    vf_snprintf(png, sizeof(png), "%s/ocean-waves.png", media);
    vf_snprintf(clip, sizeof(clip), "%s/ramp.mp4", media);
    write_bands_png(png, 960, 540);
    write_ramp_clip(clip, 320, 180);
    test_options(&o);
    vf_strlcpy(o.tts, "none", sizeof(o.tts));
    vf_strlcpy(o.aspect, "1:1", sizeof(o.aspect));
    o.resolution = 1080;
    memset(&cfg, 0, sizeof(cfg));
    cfg.media_dir = media;
    json_t *s = json_loads(SHORT_SCRIPT, 0, NULL);
    char *dir = make_temp_dir();
    struct render_request rq = { s, &o, &cfg, dir, NULL, NULL, 1 };
    ck_assert_msg(render_video(&rq, &res, &err) == VF_OK, "%s", err.text);
    ck_assert_int_eq(res.width, 1080);
    ck_assert_int_eq(res.height, 1080);
    struct narration n;
    ck_assert_int_eq(narration_build(s, &o, NULL, &n, &err), VF_OK);
    check_mp4(dir, n.duration_s, 1080, 1080);
    ck_assert(n.scenes[1].end - n.scenes[1].start > 1.5);     /* longer than the clip: it loops */

    /* the square shows the middle of the picture: green in the centre, red
     * and blue at the edges (V high = red, U high = blue) */
    AVFrame *f = frame_at(dir, 0.5);
    double centre_u = plane_mean(f, 1, 250, 250, 40, 40), centre_v = plane_mean(f, 2, 250, 250, 40, 40);
    ck_assert_msg(centre_u < 110 && centre_v < 110, "centre U %.0f V %.0f", centre_u, centre_v);
    ck_assert_msg(plane_mean(f, 2, 5, 250, 20, 40) > 150, "left edge is not red");
    ck_assert_msg(plane_mean(f, 1, 515, 250, 20, 40) > 150, "right edge is not blue");
    av_frame_free(&f);

    /* the clip: flat greys in a ramp, dimmed like every media background;
     * after the crossfade its frames follow the scene's clock, looping */
    for (int k = 0; k < 3; k++) {
        double local = 0.8 + 0.4 * k;
        f = frame_at(dir, n.scenes[1].start + local);
        int clip_frame = (int)floor(local * CLIP_FPS + 1e-6);
        double want = 16 + (clip_luma(clip_frame) - 16) * 0.8;
        double got = plane_mean(f, 0, 100, 100, 64, 64);
        ck_assert_msg(fabs(got - want) < 4, "at %.2f s of the clip: luma %.1f, want %.1f", local, got, want);
        ck_assert_msg(fabs(plane_mean(f, 1, 100, 100, 32, 32) - 128) < 4, "clip is not grey");
        av_frame_free(&f);
    }
    narration_free(&n);
    remove_dir(dir);
    free(dir);
    unlink(png);
    unlink(clip);
    rmdir(media);
    free(media);
    json_decref(s);
}
END_TEST

START_TEST(render_cancel)
{
    struct job_options o;
    struct vf_err err = { 0 };
    struct render_result res;
    struct progress_log log = { .increasing = 1, .cancel_at = 20 };
    test_options(&o);
    vf_strlcpy(o.tts, "none", sizeof(o.tts));
    json_t *s = json_loads(SCRIPT_JSON, 0, NULL);
    char *dir = make_temp_dir();
    struct render_request rq = { s, &o, NULL, dir, on_progress, &log };
    ck_assert_int_eq(render_video(&rq, &res, &err), VF_ECANCELLED);
    ck_assert_int_ge(log.last, 20);
    ck_assert_int_lt(log.last, 30);
    ck_assert_int_eq(file_size(dir, "video.mp4"), -1);
    remove_dir(dir);
    free(dir);
    json_decref(s);
}
END_TEST

START_TEST(render_bad_requests)
{
    struct job_options o;
    struct vf_err err = { 0 };
    struct render_result res;
    test_options(&o);
    json_t *s = json_loads(SCRIPT_JSON, 0, NULL);
    char *dir = make_temp_dir();
    struct render_request rq = { s, &o, NULL, dir, NULL, NULL };

    vf_strlcpy(o.tts, "gemini", sizeof(o.tts));
    ck_assert_int_eq(render_video(&rq, &res, &err), VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "gemini"));
    vf_strlcpy(o.tts, "espeak", sizeof(o.tts));

    vf_strlcpy(o.highlight_color, "yellow", sizeof(o.highlight_color));
    ck_assert_int_eq(render_video(&rq, &res, &err), VF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "highlight_color"));
    vf_strlcpy(o.highlight_color, "#FFD700", sizeof(o.highlight_color));

    struct vf_config cfg;
    char fonts[] = "/nonexistent/fonts";
    memset(&cfg, 0, sizeof(cfg));
    cfg.fonts_dir = fonts;
    rq.cfg = &cfg;
    ck_assert_int_eq(render_video(&rq, &res, &err), VF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "/nonexistent/fonts"));
    rq.cfg = NULL;

    vf_strlcpy(o.music_track, "calm.mp3", sizeof(o.music_track));
    ck_assert_int_eq(render_video(&rq, &res, &err), VF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "media_dir"));
    vf_strlcpy(o.music_track, "../secret", sizeof(o.music_track));
    ck_assert_int_eq(render_video(&rq, &res, &err), VF_EINVAL);
    o.music_track[0] = '\0';

    /* an unreadable media file fails the render before any encoding, named */
    char *media = make_temp_dir();
    touch(media, "broken.jpg");
    memset(&cfg, 0, sizeof(cfg));
    cfg.media_dir = media;
    rq.cfg = &cfg;
    json_t *visual = json_object_get(json_array_get(json_object_get(s, "scenes"), 1), "visual");
    json_object_set_new(visual, "media", json_string("broken.jpg"));
    ck_assert_int_eq(render_video(&rq, &res, &err), VF_EINVAL);
    ck_assert_msg(strstr(err.text, "broken.jpg") != NULL, "%s", err.text);
    ck_assert_int_eq(file_size(dir, "video.mp4"), -1);
    json_object_set_new(visual, "media", json_string("../broken.jpg"));
    ck_assert_int_eq(render_video(&rq, &res, &err), VF_EINVAL);
    ck_assert_msg(strstr(err.text, "not a plain file name") != NULL, "%s", err.text);
    json_object_set_new(visual, "media", json_null());
    char p[512];
    vf_snprintf(p, sizeof(p), "%s/broken.jpg", media);
    unlink(p);
    rmdir(media);
    free(media);
    rq.cfg = NULL;

    rq.out_dir = "/nonexistent/out";
    ck_assert_int_eq(render_video(&rq, &res, &err), VF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "/nonexistent/out"));

    remove_dir(dir);
    free(dir);
    json_decref(s);
}
END_TEST

Suite *render_suite(void);

Suite *render_suite(void)
{
    Suite *s = suite_create("render");
    TCase *fast = tcase_create("documents");
    tcase_add_test(fast, palettes_all_findable);
    tcase_add_test(fast, loudness_reference_tone);
    tcase_add_test(fast, music_ducked_under_voice);
    tcase_add_test(fast, captions_grouping);
    tcase_add_test(fast, captions_documents);
    tcase_add_test(fast, captions_colors);
    tcase_add_test(fast, narration_words_timed);
    tcase_add_test(fast, gemini_request_shape);
    tcase_add_test(fast, gemini_answers);
    tcase_add_test(fast, narration_gemini);
    tcase_add_test(fast, media_choice);
    suite_add_tcase(s, fast);
    TCase *renders = tcase_create("renders");
    tcase_set_timeout(renders, 180);
    tcase_add_test(renders, render_720p);
    tcase_add_test(renders, render_captions_drawn);
    tcase_add_test(renders, render_media_square);
    tcase_add_test(renders, render_cancel);
    tcase_add_test(renders, render_bad_requests);
    suite_add_tcase(s, renders);
    return s;
}
