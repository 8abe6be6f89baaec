/* The render pipeline, all in-process:
 *
 *   narration (espeak-ng PCM + word times) ──► swresample 48 kHz ──► + ducked music
 *       ──► -14 LUFS ──► AAC packets (kept)
 *   word times ──► captions.ass / .srt / .vtt
 *   per frame: gradient (small, scaled up) or media-library image/clip,
 *       crossfaded at scene changes ──► buffer → ass (libass) → buffersink ──► libx264
 *
 * The audio is known before the first frame, so it is encoded up front and its
 * packets are written as the video catches up with them, which keeps the MP4
 * interleaved without buffering video. The muxer then moves the moov atom to
 * the front (+faststart). Frames stay yuv420p end to end: the graph does no
 * format conversion. */
#include "render/render.h"

#include <errno.h>
#include <limits.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "render/audio.h"
#include "render/background.h"
#include "render/captions.h"
#include "render/media.h"
#include "render/music.h"
#include "render/palette.h"
#include "render/voice.h"

#define RENDER_FPS 30
#define RENDER_CRF 21.0
#define RENDER_AUDIO_RATE AUDIO_RATE
#define RENDER_AUDIO_BITRATE 128000
#define RENDER_XFADE_S 0.6              /* background crossfade at a scene change */
#define RENDER_THUMB_AT_S 1.0
#define RENDER_PATH_MAX 4096
#define RENDER_FRAME_ALIGN 64

/* What is behind a scene: its palette's gradient, or a media-library file
 * (opened when the scene comes on screen, closed after it has faded out). */
struct scene_background {
    const struct palette *palette;
    char *media_path;                   /* NULL: the gradient */
    struct media_source *media;
};

struct render_ctx {
    const struct render_request *rq;
    struct vf_err *err;
    int width, height;
    int64_t nframes;
    int last_percent;
    struct narration narr;
    struct scene_background *scene_bg;  /* per scene */
    char mp4_path[RENDER_PATH_MAX], thumb_path[RENDER_PATH_MAX], ass_path[RENDER_PATH_MAX];

    AVFormatContext *oc;
    AVCodecContext *venc, *aenc;
    AVStream *vst, *ast;
    AVPacket **apkts;                   /* encoded audio, written as the video reaches it */
    size_t napkts, acap, anext;
    AVPacket *pkt;

    AVFilterGraph *graph;
    AVFilterContext *src, *sink;
    struct background *bg;
    AVBufferPool *frame_pool;           /* frame buffers are reused, not allocated per frame */
    AVFrame *frame, *filtered;
    uint8_t *fade[4];                   /* the outgoing scene during a crossfade */
    int fade_stride[4];
};

static pthread_once_t ffmpeg_once = PTHREAD_ONCE_INIT;

/* FFmpeg logs to stderr at info level by default (x264's statistics, ...);
 * keep only errors unless the program chose a level itself. */
static void ffmpeg_quiet(void)
{
    if (av_log_get_level() == AV_LOG_INFO)
        av_log_set_level(AV_LOG_ERROR);
}

static const char *averr(int code, char *buf, size_t n)
{
    av_strerror(code, buf, n);
    return buf;
}

static enum vf_rc fail_av(struct render_ctx *c, const char *what, int code)
{
    char e[AV_ERROR_MAX_STRING_SIZE];
    return vf_fail(c->err, code == AVERROR(ENOMEM) ? VF_ENOMEM : VF_EPERMANENT, "%s: %s", what,
                   averr(code, e, sizeof(e)));
}

/* Returns nonzero when the caller asked to stop. */
static int report(struct render_ctx *c, int percent, const char *message)
{
    c->last_percent = percent;
    return c->rq->progress ? c->rq->progress(c->rq->progress_ud, percent, message) : 0;
}

/* ---- captions ---- */

static enum vf_rc write_captions(struct render_ctx *c)
{
    const struct job_options *o = c->rq->opt;
    struct caption_style st = {
        .width = c->width, .height = c->height,
        .font = o->font[0] ? o->font : "DejaVu Sans",
        .color = { 0xff, 0xff, 0xff }, .highlight = { 0xff, 0xd7, 0x00 },
        .position = o->caption_position[0] ? o->caption_position : "bottom",
    };
    if (o->caption_color[0] && captions_parse_color(o->caption_color, st.color) < 0)
        return vf_fail(c->err, VF_EINVAL, "caption_color \"%s\" is not #RRGGBB", o->caption_color);
    if (o->highlight_color[0] && captions_parse_color(o->highlight_color, st.highlight) < 0)
        return vf_fail(c->err, VF_EINVAL, "highlight_color \"%s\" is not #RRGGBB", o->highlight_color);
    struct caption_title *titles = calloc(c->narr.nscenes, sizeof(*titles));
    if (!titles)
        return vf_fail(c->err, VF_ENOMEM, "out of memory for captions");
    for (size_t i = 0; i < c->narr.nscenes; i++) {
        titles[i].text = c->narr.scenes[i].title;
        titles[i].start = c->narr.scenes[i].start;
        titles[i].end = c->narr.scenes[i].end;
    }
    enum vf_rc rc = captions_write_files(c->narr.words, c->narr.nwords, titles, c->narr.nscenes,
                                         &st, c->rq->out_dir, c->err);
    free(titles);
    return rc;
}

/* ---- output and encoders ---- */

static enum vf_rc open_video_encoder(struct render_ctx *c)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    const struct vf_config *cfg = c->rq->cfg;
    if (!codec)
        return vf_fail(c->err, VF_EPERMANENT, "the libx264 encoder is not available");
    AVCodecContext *v = c->venc = avcodec_alloc_context3(codec);
    if (!v)
        return vf_fail(c->err, VF_ENOMEM, "out of memory for the video encoder");
    v->width = c->width;
    v->height = c->height;
    v->pix_fmt = AV_PIX_FMT_YUV420P;
    v->time_base = (AVRational){ 1, RENDER_FPS };
    v->framerate = (AVRational){ RENDER_FPS, 1 };
    v->sample_aspect_ratio = (AVRational){ 1, 1 };
    v->gop_size = 4 * RENDER_FPS;
    v->thread_count = cfg && cfg->render_threads > 0 ? cfg->render_threads : 0;
    v->color_range = AVCOL_RANGE_MPEG;
    v->colorspace = AVCOL_SPC_SMPTE170M;
    v->color_primaries = AVCOL_PRI_SMPTE170M;
    v->color_trc = AVCOL_TRC_SMPTE170M;
    if (c->oc->oformat->flags & AVFMT_GLOBALHEADER)
        v->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    const char *preset = cfg && cfg->x264_preset && cfg->x264_preset[0] ? cfg->x264_preset : "veryfast";
    AVDictionary *o = NULL;
    av_dict_set(&o, "preset", preset, 0);
    av_dict_set(&o, "profile", "high", 0);
    av_dict_set(&o, "crf", "21", 0);
    /* Tuned for smooth gradients under captions: milder adaptive quantisation
     * (full strength spends most bits on flat areas), and at the default
     * preset a diamond search (the background moves too little for hex). */
    av_dict_set(&o, "x264-params",
                strcmp(preset, "veryfast") == 0 ? "aq-strength=0.6:me=dia:subme=1" : "aq-strength=0.6", 0);
    int r = avcodec_open2(v, codec, &o);
    av_dict_free(&o);
    if (r < 0)
        return vf_fail(c->err, VF_EINVAL, "cannot open libx264 with preset \"%s\"", preset);
    c->vst = avformat_new_stream(c->oc, NULL);
    if (!c->vst)
        return vf_fail(c->err, VF_ENOMEM, "out of memory for the video stream");
    c->vst->time_base = v->time_base;
    c->vst->avg_frame_rate = v->framerate;
    r = avcodec_parameters_from_context(c->vst->codecpar, v);
    return r < 0 ? fail_av(c, "video stream parameters", r) : VF_OK;
}

static enum vf_rc open_audio_encoder(struct render_ctx *c)
{
    const AVCodec *codec = avcodec_find_encoder_by_name("aac");
    if (!codec)
        return vf_fail(c->err, VF_EPERMANENT, "the aac encoder is not available");
    AVCodecContext *a = c->aenc = avcodec_alloc_context3(codec);
    if (!a)
        return vf_fail(c->err, VF_ENOMEM, "out of memory for the audio encoder");
    a->sample_rate = RENDER_AUDIO_RATE;
    a->sample_fmt = AV_SAMPLE_FMT_FLTP;
    a->bit_rate = RENDER_AUDIO_BITRATE;
    a->time_base = (AVRational){ 1, RENDER_AUDIO_RATE };
    av_channel_layout_default(&a->ch_layout, 2);
    if (c->oc->oformat->flags & AVFMT_GLOBALHEADER)
        a->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int r = avcodec_open2(a, codec, NULL);
    if (r < 0)
        return fail_av(c, "cannot open the aac encoder", r);
    c->ast = avformat_new_stream(c->oc, NULL);
    if (!c->ast)
        return vf_fail(c->err, VF_ENOMEM, "out of memory for the audio stream");
    c->ast->time_base = a->time_base;
    r = avcodec_parameters_from_context(c->ast->codecpar, a);
    return r < 0 ? fail_av(c, "audio stream parameters", r) : VF_OK;
}

static enum vf_rc open_output(struct render_ctx *c)
{
    int r = avformat_alloc_output_context2(&c->oc, NULL, "mp4", c->mp4_path);
    if (r < 0)
        return fail_av(c, "cannot create the mp4 muxer", r);
    enum vf_rc rc = open_video_encoder(c);
    if (rc == VF_OK)
        rc = open_audio_encoder(c);
    if (rc != VF_OK)
        return rc;
    r = avio_open(&c->oc->pb, c->mp4_path, AVIO_FLAG_WRITE);
    if (r < 0) {
        char e[AV_ERROR_MAX_STRING_SIZE];
        return vf_fail(c->err, VF_ETRANSIENT, "cannot write %s: %s", c->mp4_path,
                       averr(r, e, sizeof(e)));
    }
    AVDictionary *o = NULL;
    av_dict_set(&o, "movflags", "+faststart", 0);
    r = avformat_write_header(c->oc, &o);
    av_dict_free(&o);
    return r < 0 ? fail_av(c, "cannot write the mp4 header", r) : VF_OK;
}

/* ---- audio: resample the narration and encode it all up front ---- */

static enum vf_rc keep_audio_packets(struct render_ctx *c)
{
    int r;
    while ((r = avcodec_receive_packet(c->aenc, c->pkt)) >= 0) {
        if (c->napkts == c->acap) {
            size_t ncap = c->acap ? c->acap * 2 : 1024;
            AVPacket **p = realloc(c->apkts, ncap * sizeof(*p));
            if (!p)
                return vf_fail(c->err, VF_ENOMEM, "out of memory for audio packets");
            c->apkts = p;
            c->acap = ncap;
        }
        AVPacket *keep = av_packet_alloc();
        if (!keep)
            return vf_fail(c->err, VF_ENOMEM, "out of memory for audio packets");
        av_packet_move_ref(keep, c->pkt);
        av_packet_rescale_ts(keep, c->aenc->time_base, c->ast->time_base);
        keep->stream_index = c->ast->index;
        c->apkts[c->napkts++] = keep;
    }
    return r == AVERROR(EAGAIN) || r == AVERROR_EOF ? VF_OK : fail_av(c, "aac encoding", r);
}

/* The narration at 48 kHz as one mono float track, the form the loudness
 * normaliser works on. *out is malloc'ed. */
static enum vf_rc resample_narration(struct render_ctx *c, float **out, size_t *nout)
{
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    SwrContext *swr = NULL;
    size_t cap = (size_t)av_rescale_rnd((int64_t)c->narr.nsamples, RENDER_AUDIO_RATE,
                                        c->narr.sample_rate, AV_ROUND_UP) + 4096;
    float *buf = cap < INT_MAX ? malloc(cap * sizeof(*buf)) : NULL;
    int r = swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, RENDER_AUDIO_RATE, &mono,
                                AV_SAMPLE_FMT_S16, c->narr.sample_rate, 0, NULL);
    if (r >= 0)
        r = swr_init(swr);
    int got = 0, tail = 0;
    if (r >= 0 && buf) {
        uint8_t *dst[1] = { (uint8_t *)buf };
        const uint8_t *src[1] = { (const uint8_t *)c->narr.pcm };
        got = r = swr_convert(swr, dst, (int)cap, src, (int)c->narr.nsamples);
        if (r >= 0) {
            dst[0] = (uint8_t *)(buf + got);
            tail = r = swr_convert(swr, dst, (int)cap - got, NULL, 0);
        }
    }
    swr_free(&swr);
    if (r < 0 || !buf) {
        free(buf);
        return r < 0 ? fail_av(c, "resampling the narration", r)
                     : vf_fail(c->err, VF_ENOMEM, "out of memory for audio");
    }
    *out = buf;
    *nout = (size_t)got + (size_t)tail;
    return VF_OK;
}

/* Sends the track to the encoder frame by frame, the same samples on both
 * channels; the native encoder accepts a short last frame. */
static enum vf_rc encode_track(struct render_ctx *c, const float *track, size_t n)
{
    AVFrame *f = av_frame_alloc();
    if (!f)
        return vf_fail(c->err, VF_ENOMEM, "out of memory for audio");
    enum vf_rc rc = VF_OK;
    for (size_t at = 0; rc == VF_OK && at < n; at += (size_t)c->aenc->frame_size) {
        int k = (int)FFMIN((size_t)c->aenc->frame_size, n - at);
        f->nb_samples = k;
        f->format = c->aenc->sample_fmt;
        f->sample_rate = c->aenc->sample_rate;
        int r = av_channel_layout_copy(&f->ch_layout, &c->aenc->ch_layout);
        if (r >= 0)
            r = av_frame_get_buffer(f, 0);
        if (r >= 0) {
            for (int ch = 0; ch < c->aenc->ch_layout.nb_channels; ch++)
                memcpy(f->data[ch], track + at, (size_t)k * sizeof(float));
            f->pts = (int64_t)at;
            r = avcodec_send_frame(c->aenc, f);
        }
        rc = r < 0 ? fail_av(c, "aac encoding", r) : keep_audio_packets(c);
        av_frame_unref(f);
    }
    av_frame_free(&f);
    if (rc == VF_OK) {
        int r = avcodec_send_frame(c->aenc, NULL);
        rc = r < 0 ? fail_av(c, "aac encoding", r) : keep_audio_packets(c);
    }
    return rc;
}

/* Mixes the job's music track (a file name in media_dir/music) under the voice. */
static enum vf_rc add_music(struct render_ctx *c, float *track, size_t n)
{
    const struct job_options *o = c->rq->opt;
    const struct vf_config *cfg = c->rq->cfg;
    char path[RENDER_PATH_MAX];
    if (!o->music_track[0] || o->music_volume <= 0)
        return VF_OK;
    if (strchr(o->music_track, '/') || o->music_track[0] == '.')
        return vf_fail(c->err, VF_EINVAL, "music track \"%s\" is not a file name", o->music_track);
    if (!cfg || !cfg->media_dir || !cfg->media_dir[0])
        return vf_fail(c->err, VF_EINVAL, "music track \"%s\" asked for but media_dir is not set",
                       o->music_track);
    if (vf_snprintf(path, sizeof(path), "%s/music/%s", cfg->media_dir, o->music_track) < 0)
        return vf_fail(c->err, VF_EINVAL, "music track path too long");
    return music_mix(path, o->music_volume > 1 ? 1.0 : o->music_volume, track, n, c->err);
}

static enum vf_rc encode_audio(struct render_ctx *c)
{
    float *track = NULL;
    size_t n = 0;
    enum vf_rc rc = resample_narration(c, &track, &n);
    if (rc == VF_OK)
        rc = add_music(c, track, n);
    if (rc != VF_OK) {
        free(track);
        return rc;
    }
    /* the mono track plays on two channels, which BS.1770 counts as 3 dB louder */
    float *ch[1] = { track };
    audio_normalize(ch, 1, n, AUDIO_TARGET_LUFS - 3.0103);
    rc = encode_track(c, track, n);
    free(track);
    return rc;
}

/* Audio packets up to `until` (in the video stream's time base) go first, so
 * both streams advance together through the file. */
static enum vf_rc write_audio_until(struct render_ctx *c, int64_t until, int all)
{
    while (c->anext < c->napkts) {
        AVPacket *p = c->apkts[c->anext];
        if (!all && av_compare_ts(p->dts, c->ast->time_base, until, c->vst->time_base) > 0)
            break;
        c->anext++;
        int r = av_interleaved_write_frame(c->oc, p);
        if (r < 0)
            return fail_av(c, "writing audio to video.mp4", r);
    }
    return VF_OK;
}

/* ---- video ---- */

static enum vf_rc write_video_packets(struct render_ctx *c)
{
    int r;
    while ((r = avcodec_receive_packet(c->venc, c->pkt)) >= 0) {
        av_packet_rescale_ts(c->pkt, c->venc->time_base, c->vst->time_base);
        c->pkt->stream_index = c->vst->index;
        enum vf_rc rc = write_audio_until(c, c->pkt->dts, 0);
        if (rc != VF_OK)
            return rc;
        r = av_interleaved_write_frame(c->oc, c->pkt);
        if (r < 0)
            return fail_av(c, "writing video to video.mp4", r);
    }
    return r == AVERROR(EAGAIN) || r == AVERROR_EOF ? VF_OK : fail_av(c, "h264 encoding", r);
}

static enum vf_rc setup_filters(struct render_ctx *c)
{
    const AVFilter *ass_filter = avfilter_get_by_name("ass");
    if (!ass_filter)
        return vf_fail(c->err, VF_EPERMANENT, "libavfilter has no ass filter (built without libass)");
    c->graph = avfilter_graph_alloc();
    if (!c->graph)
        return vf_fail(c->err, VF_ENOMEM, "out of memory for the filter graph");
    char args[256];
    vf_snprintf(args, sizeof(args), "video_size=%dx%d:pix_fmt=%d:time_base=1/%d:pixel_aspect=1/1",
                c->width, c->height, AV_PIX_FMT_YUV420P, RENDER_FPS);
    int r = avfilter_graph_create_filter(&c->src, avfilter_get_by_name("buffer"), "frames", args,
                                         NULL, c->graph);
    if (r < 0)
        return fail_av(c, "filter graph source", r);
    AVFilterContext *ass = NULL;
    if (!c->rq->no_captions) {
        ass = avfilter_graph_alloc_filter(c->graph, ass_filter, "captions");
        if (!ass)
            return vf_fail(c->err, VF_ENOMEM, "out of memory for the filter graph");
        /* options set one by one, so the paths need no filter-string escaping */
        const struct vf_config *cfg = c->rq->cfg;
        r = av_opt_set(ass, "filename", c->ass_path, AV_OPT_SEARCH_CHILDREN);
        if (r >= 0 && cfg && cfg->fonts_dir && cfg->fonts_dir[0])
            r = av_opt_set(ass, "fontsdir", cfg->fonts_dir, AV_OPT_SEARCH_CHILDREN);
        if (r >= 0)
            r = avfilter_init_str(ass, NULL);
        if (r < 0)
            return vf_fail(c->err, VF_EINVAL, "libass could not load %s", c->ass_path);
    }
    r = avfilter_graph_create_filter(&c->sink, avfilter_get_by_name("buffersink"), "out", NULL,
                                     NULL, c->graph);
    AVFilterContext *last = ass ? ass : c->src;
    if (r >= 0) {
        enum AVPixelFormat fmts[] = { AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE };
        r = av_opt_set_int_list(c->sink, "pix_fmts", fmts, AV_PIX_FMT_NONE, AV_OPT_SEARCH_CHILDREN);
    }
    if (r >= 0 && ass)
        r = avfilter_link(c->src, 0, ass, 0);
    if (r >= 0)
        r = avfilter_link(last, 0, c->sink, 0);
    if (r >= 0)
        r = avfilter_graph_config(c->graph, NULL);
    return r < 0 ? fail_av(c, "filter graph", r) : VF_OK;
}

static enum vf_rc write_thumbnail(struct render_ctx *c, const AVFrame *src)
{
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    AVCodecContext *j = codec ? avcodec_alloc_context3(codec) : NULL;
    AVFrame *f = av_frame_alloc();
    AVPacket *p = av_packet_alloc();
    struct SwsContext *sws = NULL;
    enum vf_rc rc = VF_OK;
    int r = -1;
    if (!j || !f || !p) {
        rc = vf_fail(c->err, codec ? VF_ENOMEM : VF_EPERMANENT, "cannot set up the mjpeg encoder");
        goto out;
    }
    /* JPEG is full range: convert once, for this one frame */
    j->width = f->width = src->width;
    j->height = f->height = src->height;
    j->pix_fmt = f->format = AV_PIX_FMT_YUV420P;
    j->color_range = f->color_range = AVCOL_RANGE_JPEG;
    j->time_base = (AVRational){ 1, RENDER_FPS };
    j->flags |= AV_CODEC_FLAG_QSCALE;
    j->global_quality = FF_QP2LAMBDA * 3;
    f->quality = j->global_quality;
    sws = sws_getContext(src->width, src->height, src->format, f->width, f->height, f->format,
                         SWS_BILINEAR, NULL, NULL, NULL);
    if (sws) {
        const int *coef = sws_getCoefficients(SWS_CS_ITU601);
        sws_setColorspaceDetails(sws, coef, 0, coef, 1, 0, 1 << 16, 1 << 16);
        r = av_frame_get_buffer(f, 0);
    }
    if (r >= 0)
        r = sws_scale(sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
                      f->data, f->linesize);
    if (r >= 0)
        r = avcodec_open2(j, codec, NULL);
    if (r >= 0)
        r = avcodec_send_frame(j, f);
    if (r >= 0)
        r = avcodec_receive_packet(j, p);
    if (r < 0) {
        rc = fail_av(c, "thumbnail encoding", r);
        goto out;
    }
    FILE *out = fopen(c->thumb_path, "wb");
    int bad = !out || fwrite(p->data, 1, (size_t)p->size, out) != (size_t)p->size;
    if ((out && fclose(out) != 0) || bad)
        rc = vf_fail(c->err, VF_ETRANSIENT, "cannot write %s: %m", c->thumb_path);
out:
    sws_freeContext(sws);
    av_packet_free(&p);
    av_frame_free(&f);
    avcodec_free_context(&j);
    return rc;
}

static const struct palette *scene_palette(const struct render_ctx *c, size_t i)
{
    const struct palette *p = palette_find(c->narr.scenes[i].palette);
    if (!p)
        p = palette_find(c->rq->opt->palette);
    return p ? p : palette_find(PALETTE_DEFAULT);
}

static size_t scene_at(const struct render_ctx *c, double t)
{
    size_t s = 0;
    while (s + 1 < c->narr.nscenes && t >= c->narr.scenes[s + 1].start)
        s++;
    return s;
}

/* Paints scene s's own background at video time t into the planes of f. */
static enum vf_rc draw_scene(struct render_ctx *c, size_t s, double t, AVFrame *f)
{
    struct scene_background *b = &c->scene_bg[s];
    if (!b->media_path) {
        background_draw(c->bg, b->palette, b->palette, 1.0, t, f);
        return VF_OK;
    }
    if (!b->media) {
        enum vf_rc rc = media_open(b->media_path, c->width, c->height, (int)s, &b->media, c->err);
        if (rc != VF_OK)
            return rc;
    }
    const struct scene_span *sp = &c->narr.scenes[s];
    return media_draw(b->media, t - sp->start, sp->end - sp->start + RENDER_XFADE_S, f, c->err);
}

/* dst = dst * m + from * (1 - m), every plane. */
static void blend(AVFrame *dst, uint8_t *const from[4], const int from_stride[4], double m)
{
    int w = (int)lrint(m * 256);
    for (int p = 0; p < 3; p++) {
        int pw = p ? dst->width / 2 : dst->width, ph = p ? dst->height / 2 : dst->height;
        for (int y = 0; y < ph; y++) {
            uint8_t *d = dst->data[p] + (size_t)y * dst->linesize[p];
            const uint8_t *s = from[p] + (size_t)y * from_stride[p];
            for (int x = 0; x < pw; x++)
                d[x] = (uint8_t)((d[x] * w + s[x] * (256 - w) + 128) >> 8);
        }
    }
}

/* The frame's background: the scene's own, or during the first RENDER_XFADE_S
 * of a scene a fade from the previous one. Two gradients fade by their
 * colours (one drawing); anything with media draws both and blends. */
static enum vf_rc draw_background(struct render_ctx *c, double t, AVFrame *f)
{
    size_t s = scene_at(c, t);
    double mix = s > 0 ? (t - c->narr.scenes[s].start) / RENDER_XFADE_S : 1.0;
    /* a scene that has faded out has no more frames to give */
    for (size_t k = 0; k < s; k++)
        if (c->scene_bg[k].media && (k + 1 < s || mix >= 1.0)) {
            media_close(c->scene_bg[k].media);
            c->scene_bg[k].media = NULL;
        }
    if (mix >= 1.0)
        return draw_scene(c, s, t, f);
    struct scene_background *from = &c->scene_bg[s - 1], *to = &c->scene_bg[s];
    double m = mix * mix * (3 - 2 * mix);
    if (!from->media_path && !to->media_path) {
        background_draw(c->bg, from->palette, to->palette, mix, t, f);
        return VF_OK;
    }
    if (!c->fade[0]) {
        int r = av_image_alloc(c->fade, c->fade_stride, c->width, c->height, AV_PIX_FMT_YUV420P,
                               RENDER_FRAME_ALIGN);
        if (r < 0)
            return fail_av(c, "crossfade frame", r);
    }
    AVFrame out = { .width = c->width, .height = c->height, .format = AV_PIX_FMT_YUV420P };
    for (int p = 0; p < 3; p++) {
        out.data[p] = c->fade[p];
        out.linesize[p] = c->fade_stride[p];
    }
    enum vf_rc rc = draw_scene(c, s - 1, t, &out);
    if (rc == VF_OK)
        rc = draw_scene(c, s, t, f);
    if (rc == VF_OK)
        blend(f, c->fade, c->fade_stride, m);
    return rc;
}

/* Each scene's palette and media file. Every file is opened once here, so an
 * unreadable one fails the render before any encoding, naming the file. */
static enum vf_rc choose_backgrounds(struct render_ctx *c)
{
    const struct vf_config *cfg = c->rq->cfg;
    const char *media_dir = cfg && cfg->media_dir && cfg->media_dir[0] ? cfg->media_dir : NULL;
    json_t *scenes = json_object_get(c->rq->script, "scenes");
    c->scene_bg = calloc(c->narr.nscenes, sizeof(*c->scene_bg));
    if (!c->scene_bg)
        return vf_fail(c->err, VF_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->narr.nscenes; i++) {
        struct scene_background *b = &c->scene_bg[i];
        char path[RENDER_PATH_MAX];
        int found = 0;
        b->palette = scene_palette(c, i);
        json_t *visual = json_object_get(json_array_get(scenes, i), "visual");
        enum vf_rc rc = media_choose(media_dir, visual, (int)i, path, sizeof(path), &found, c->err);
        if (rc != VF_OK)
            return rc;
        if (!found)
            continue;
        struct media_source *probe;
        if ((rc = media_open(path, c->width, c->height, (int)i, &probe, c->err)) != VF_OK)
            return rc;
        media_close(probe);
        if (!(b->media_path = strdup(path)))
            return vf_fail(c->err, VF_ENOMEM, "out of memory");
    }
    return VF_OK;
}

static enum vf_rc render_frame(struct render_ctx *c, int64_t i, int64_t thumb_at)
{
    double t = (double)i / RENDER_FPS;
    AVFrame *f = c->frame;
    f->format = AV_PIX_FMT_YUV420P;
    f->width = c->width;
    f->height = c->height;
    f->buf[0] = av_buffer_pool_get(c->frame_pool);
    if (!f->buf[0])
        return vf_fail(c->err, VF_ENOMEM, "out of memory for a video frame");
    int r = av_image_fill_arrays(f->data, f->linesize, f->buf[0]->data, AV_PIX_FMT_YUV420P,
                                 c->width, c->height, RENDER_FRAME_ALIGN);
    if (r < 0)
        return fail_av(c, "video frame", r);
    enum vf_rc brc = draw_background(c, t, f);
    if (brc != VF_OK) {
        av_frame_unref(f);
        return brc;
    }
    f->pts = i;
    r = av_buffersrc_add_frame_flags(c->src, f, 0);
    if (r < 0)
        return fail_av(c, "drawing captions", r);
    while ((r = av_buffersink_get_frame(c->sink, c->filtered)) >= 0) {
        enum vf_rc rc = VF_OK;
        if (c->filtered->pts == thumb_at)
            rc = write_thumbnail(c, c->filtered);
        if (rc == VF_OK) {
            r = avcodec_send_frame(c->venc, c->filtered);
            rc = r < 0 ? fail_av(c, "h264 encoding", r) : write_video_packets(c);
        }
        av_frame_unref(c->filtered);
        if (rc != VF_OK)
            return rc;
    }
    return r == AVERROR(EAGAIN) || r == AVERROR_EOF ? VF_OK : fail_av(c, "drawing captions", r);
}

static enum vf_rc render_frames(struct render_ctx *c)
{
    int64_t thumb_at = FFMIN((int64_t)(RENDER_THUMB_AT_S * RENDER_FPS), c->nframes - 1);
    for (int64_t i = 0; i < c->nframes; i++) {
        enum vf_rc rc = render_frame(c, i, thumb_at);
        if (rc != VF_OK)
            return rc;
        int percent = (int)((i + 1) * 100 / c->nframes);
        if (percent >= c->last_percent + 2 && percent < 100 && report(c, percent, "rendering video"))
            return vf_fail(c->err, VF_ECANCELLED, "render cancelled");
    }
    int r = avcodec_send_frame(c->venc, NULL);
    enum vf_rc rc = r < 0 ? fail_av(c, "h264 encoding", r) : write_video_packets(c);
    if (rc == VF_OK)
        rc = write_audio_until(c, 0, 1);
    if (rc == VF_OK && (r = av_write_trailer(c->oc)) < 0)
        rc = fail_av(c, "finishing video.mp4", r);
    return rc;
}

/* ---- result ---- */

static enum vf_rc file_digest(struct render_ctx *c, struct render_result *res)
{
    FILE *f = fopen(c->mp4_path, "rb");
    if (!f)
        return vf_fail(c->err, VF_ETRANSIENT, "cannot read %s: %m", c->mp4_path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char chunk[65536], digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    long long total = 0;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    size_t n;
    while (ok && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        ok = EVP_DigestUpdate(md, chunk, n) == 1;
        total += (long long)n;
    }
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(md, digest, &dlen) == 1;
    fclose(f);
    EVP_MD_CTX_free(md);
    if (!ok)
        return vf_fail(c->err, VF_ETRANSIENT, "cannot hash %s", c->mp4_path);
    for (unsigned int i = 0; i < dlen && i < 32; i++)
        snprintf(res->sha256 + 2 * i, 3, "%02x", digest[i]);
    res->size_bytes = total;
    return VF_OK;
}

static void render_cleanup(struct render_ctx *c)
{
    if (c->oc && c->oc->pb)
        avio_closep(&c->oc->pb);
    avformat_free_context(c->oc);
    avcodec_free_context(&c->venc);
    avcodec_free_context(&c->aenc);
    for (size_t i = 0; i < c->napkts; i++)
        av_packet_free(&c->apkts[i]);
    free(c->apkts);
    av_packet_free(&c->pkt);
    avfilter_graph_free(&c->graph);
    background_free(c->bg);
    av_frame_free(&c->frame);
    av_buffer_pool_uninit(&c->frame_pool);
    av_frame_free(&c->filtered);
    for (size_t i = 0; c->scene_bg && i < c->narr.nscenes; i++) {
        media_close(c->scene_bg[i].media);
        free(c->scene_bg[i].media_path);
    }
    free(c->scene_bg);
    av_freep(&c->fade[0]);
    narration_free(&c->narr);
}

static enum vf_rc prepare(struct render_ctx *c)
{
    const struct render_request *rq = c->rq;
    if (vf_snprintf(c->mp4_path, sizeof(c->mp4_path), "%s/video.mp4", rq->out_dir) < 0
        || vf_snprintf(c->thumb_path, sizeof(c->thumb_path), "%s/thumb.jpg", rq->out_dir) < 0
        || vf_snprintf(c->ass_path, sizeof(c->ass_path), "%s/captions.ass", rq->out_dir) < 0)
        return vf_fail(c->err, VF_EINVAL, "output directory path too long");
    struct stat sb;
    if (stat(rq->out_dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(rq->out_dir, W_OK) != 0)
        return vf_fail(c->err, VF_EINVAL, "output directory %s is not writable", rq->out_dir);
    const char *fonts = rq->cfg ? rq->cfg->fonts_dir : NULL;
    if (fonts && fonts[0] && (stat(fonts, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        return vf_fail(c->err, VF_EINVAL, "fonts_dir %s is not a readable directory", fonts);
    job_options_frame_size(rq->opt, &c->width, &c->height);
    c->pkt = av_packet_alloc();
    c->frame = av_frame_alloc();
    c->filtered = av_frame_alloc();
    int frame_bytes = av_image_get_buffer_size(AV_PIX_FMT_YUV420P, c->width, c->height,
                                               RENDER_FRAME_ALIGN);
    c->frame_pool = frame_bytes > 0 ? av_buffer_pool_init((size_t)frame_bytes, NULL) : NULL;
    if (!c->pkt || !c->frame || !c->filtered || !c->frame_pool)
        return vf_fail(c->err, VF_ENOMEM, "out of memory");
    return VF_OK;
}

static enum vf_rc render_run(struct render_ctx *c, struct render_result *res)
{
    enum vf_rc rc = prepare(c);
    if (rc != VF_OK)
        return rc;
    if (report(c, 0, "speaking the narration"))
        return vf_fail(c->err, VF_ECANCELLED, "render cancelled");
    rc = narration_build(c->rq->script, c->rq->opt, c->rq->cfg, &c->narr, c->err);
    if (rc != VF_OK)
        return rc;
    c->nframes = (int64_t)(c->narr.duration_s * RENDER_FPS + 0.999);
    if ((rc = choose_backgrounds(c)) != VF_OK || (rc = write_captions(c)) != VF_OK || (rc = open_output(c)) != VF_OK
        || (rc = encode_audio(c)) != VF_OK || (rc = setup_filters(c)) != VF_OK
        || (rc = background_new(c->width, c->height, &c->bg, c->err)) != VF_OK)
        return rc;
    if (report(c, 1, "rendering video"))
        return vf_fail(c->err, VF_ECANCELLED, "render cancelled");
    if ((rc = render_frames(c)) != VF_OK)
        return rc;
    avio_closep(&c->oc->pb);
    if ((rc = file_digest(c, res)) != VF_OK)
        return rc;
    res->duration_s = (double)c->nframes / RENDER_FPS;
    res->width = c->width;
    res->height = c->height;
    report(c, 100, "video rendered");
    return VF_OK;
}

enum vf_rc render_video(const struct render_request *rq, struct render_result *res,
                        struct vf_err *err)
{
    struct render_ctx c = { .rq = rq, .err = err, .last_percent = -100 };
    memset(res, 0, sizeof(*res));
    if (!rq || !rq->script || !rq->opt || !rq->out_dir)
        return vf_fail(err, VF_EINVAL, "render request is incomplete");
    pthread_once(&ffmpeg_once, ffmpeg_quiet);
    enum vf_rc rc = render_run(&c, res);
    render_cleanup(&c);
    if (rc != VF_OK) {
        /* a half-written video must not be mistaken for a finished one */
        unlink(c.mp4_path);
        unlink(c.thumb_path);
    }
    return rc;
}
