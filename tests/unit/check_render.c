/* The renderer: palettes, caption documents, and real renders at 720p. */
#include <check.h>
#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "render/audio.h"
#include "render/captions.h"
#include "render/music.h"
#include "render/palette.h"
#include "render/render.h"
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

/* A 16-bit stereo 44.1 kHz WAV of a 220 Hz tone: a resample and a downmix away from the track. */
static void write_tone_wav(const char *path, double seconds)
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
        short v = (short)(12000 * sin(2 * M_PI * 220.0 * i / 44100.0));
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
    write_tone_wav(wav, 0.7);   /* shorter than the track: it must loop */
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
    ck_assert_int_eq(narration_build(s, &o, &n, &err), VF_OK);
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
    ck_assert_int_eq(narration_build(s, &o, &n, &err), VF_OK);
    ck_assert_uint_eq(n.nwords, 23);
    ck_assert(n.duration_s > 4.0);
    narration_free(&n);

    vf_strlcpy(o.tts, "espeak", sizeof(o.tts));
    vf_strlcpy(o.voice, "xx-nope", sizeof(o.voice));
    vf_strlcpy(o.language, "zz", sizeof(o.language));
    ck_assert_int_eq(narration_build(s, &o, &n, &err), VF_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.text, "xx-nope"));
    json_decref(s);
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

/* Integrated loudness of the file's audio, decoded. */
static double decoded_loudness(AVFormatContext *fc)
{
    int si = av_find_best_stream(fc, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    ck_assert_int_ge(si, 0);
    const AVCodec *dec = avcodec_find_decoder(fc->streams[si]->codecpar->codec_id);
    AVCodecContext *d = avcodec_alloc_context3(dec);
    avcodec_parameters_to_context(d, fc->streams[si]->codecpar);
    ck_assert_int_eq(avcodec_open2(d, dec, NULL), 0);
    ck_assert_int_eq(d->sample_fmt, AV_SAMPLE_FMT_FLTP);
    size_t cap = (size_t)AUDIO_RATE * 120, n = 0;
    float *l = malloc(cap * sizeof(float)), *r = malloc(cap * sizeof(float));
    AVPacket *p = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    while (av_read_frame(fc, p) >= 0) {
        if (p->stream_index == si && avcodec_send_packet(d, p) >= 0)
            while (avcodec_receive_frame(d, f) >= 0) {
                for (int i = 0; i < f->nb_samples && n < cap; i++, n++) {
                    l[n] = ((float *)f->data[0])[i];
                    r[n] = ((float *)f->data[1])[i];
                }
            }
        av_packet_unref(p);
    }
    const float *ch[2] = { l, r };
    double lufs = audio_loudness(ch, 2, n);
    av_frame_free(&f);
    av_packet_free(&p);
    avcodec_free_context(&d);
    free(l);
    free(r);
    av_seek_frame(fc, -1, 0, AVSEEK_FLAG_BACKWARD);
    return lufs;
}

static void check_mp4(const char *dir, double expect_s)
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
            ck_assert_int_eq(cp->width, 720);
            ck_assert_int_eq(cp->height, 1280);
            ck_assert_int_eq(cp->format, AV_PIX_FMT_YUV420P);
            ck_assert_int_eq(cp->profile, FF_PROFILE_H264_HIGH);
        } else if (cp->codec_id == AV_CODEC_ID_AAC) {
            aac++;
            ck_assert_int_eq(cp->sample_rate, 48000);
        }
    }
    ck_assert_int_eq(h264, 1);
    ck_assert_int_eq(aac, 1);
    ck_assert_double_eq_tol(decoded_loudness(fc), AUDIO_TARGET_LUFS, 1.0);
    double dur = (double)fc->duration / AV_TIME_BASE;
    ck_assert_msg(dur > expect_s * 0.9 && dur < expect_s * 1.1, "duration %.2f vs %.2f", dur, expect_s);
    avformat_close_input(&fc);
}

START_TEST(render_720p)
{
    struct job_options o;
    struct vf_config cfg;
    char preset[] = "veryfast";
    struct vf_err err = { 0 };
    struct render_result res;
    struct progress_log log = { .increasing = 1 };
    test_options(&o);
    memset(&cfg, 0, sizeof(cfg));
    cfg.x264_preset = preset;
    json_t *s = json_loads(SCRIPT_JSON, 0, NULL);
    char *dir = make_temp_dir();
    struct render_request rq = { s, &o, &cfg, dir, on_progress, &log };

    enum vf_rc rc = render_video(&rq, &res, &err);
    ck_assert_msg(rc == VF_OK, "render: %s", err.text);
    const char *files[] = { "video.mp4", "thumb.jpg", "captions.srt", "captions.vtt", "captions.ass" };
    for (int i = 0; i < 5; i++)
        ck_assert_msg(file_size(dir, files[i]) > 0, "%s missing", files[i]);
    ck_assert_int_eq(res.width, 720);
    ck_assert_int_eq(res.height, 1280);
    ck_assert_int_eq((long)res.size_bytes, file_size(dir, "video.mp4"));
    ck_assert_uint_eq(strlen(res.sha256), 64);

    /* the narration alone, to compare lengths and cue counts against */
    struct narration n;
    ck_assert_int_eq(narration_build(s, &o, &n, &err), VF_OK);
    check_mp4(dir, n.duration_s);
    ck_assert(res.duration_s > n.duration_s * 0.95 && res.duration_s < n.duration_s * 1.05);
    struct caption_chunk *chunks = calloc(n.nwords, sizeof(*chunks));
    size_t nchunks = captions_group(n.words, n.nwords, chunks);
    char *srt = read_text(dir, "captions.srt"), *vtt = read_text(dir, "captions.vtt");
    ck_assert_int_eq(check_cues(srt, ','), (int)nchunks);
    ck_assert_int_eq(check_cues(vtt, '.'), (int)nchunks);
    ck_assert(strncmp(vtt, "WEBVTT\n", 7) == 0);
    ck_assert(moov_before_mdat(dir));
    ck_assert_int_ge(log.calls, 10);
    ck_assert(log.increasing);
    ck_assert_int_eq(log.last, 100);

    free(srt);
    free(vtt);
    free(chunks);
    narration_free(&n);
    remove_dir(dir);
    free(dir);
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
    suite_add_tcase(s, fast);
    TCase *renders = tcase_create("renders");
    tcase_set_timeout(renders, 180);
    tcase_add_test(renders, render_720p);
    tcase_add_test(renders, render_cancel);
    tcase_add_test(renders, render_bad_requests);
    suite_add_tcase(s, renders);
    return s;
}
