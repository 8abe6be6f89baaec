/* Music bed: decode, loop, duck, mix. The voice is already in the track, so
 * its envelope decides the ducking; the gain falls in 60 ms when speech
 * starts and recovers over 400 ms after it ends, so the music does not pump
 * between words. */
#include "render/music.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libswresample/swresample.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "render/audio.h"

struct decoded {
    float *s;
    size_t n, cap, max;
};

static int append_converted(SwrContext *swr, const AVFrame *f, struct decoded *d)
{
    int room = swr_get_out_samples(swr, f ? f->nb_samples : 0);
    if (room < 0)
        return room;
    if (d->n + (size_t)room > d->cap) {
        size_t ncap = d->cap ? d->cap : (size_t)AUDIO_RATE * 30;
        while (ncap < d->n + (size_t)room)
            ncap *= 2;
        float *p = realloc(d->s, ncap * sizeof(float));
        if (!p)
            return AVERROR(ENOMEM);
        d->s = p;
        d->cap = ncap;
    }
    uint8_t *out[1] = { (uint8_t *)(d->s + d->n) };
    int got = swr_convert(swr, out, room, f ? (const uint8_t **)f->extended_data : NULL,
                          f ? f->nb_samples : 0);
    if (got > 0)
        d->n += (size_t)got;
    return got;
}

/* Decodes until the end of the file or d->max samples. */
static int decode_all(AVFormatContext *fc, int si, AVCodecContext *dec, SwrContext *swr,
                      struct decoded *d)
{
    AVPacket *p = av_packet_alloc();
    AVFrame *f = av_frame_alloc();
    int r = p && f ? 0 : AVERROR(ENOMEM);
    while (r >= 0 && d->n < d->max && (r = av_read_frame(fc, p)) >= 0) {
        if (p->stream_index == si && (r = avcodec_send_packet(dec, p)) >= 0)
            while (r >= 0 && (r = avcodec_receive_frame(dec, f)) >= 0) {
                r = append_converted(swr, f, d);
                av_frame_unref(f);
            }
        av_packet_unref(p);
        if (r == AVERROR(EAGAIN) || r == AVERROR_INVALIDDATA)
            r = 0;      /* a damaged packet costs a few ms of music, not the video */
    }
    if (r == AVERROR_EOF)
        r = append_converted(swr, NULL, d);
    av_frame_free(&f);
    av_packet_free(&p);
    return r < 0 && r != AVERROR_EOF ? r : 0;
}

static enum vf_rc decode_music(const char *path, size_t max, struct decoded *d, struct vf_err *err)
{
    AVFormatContext *fc = NULL;
    AVCodecContext *dec = NULL;
    SwrContext *swr = NULL;
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    const AVCodec *codec = NULL;
    int si = -1;
    int r = avformat_open_input(&fc, path, NULL, NULL);
    if (r >= 0)
        r = avformat_find_stream_info(fc, NULL);
    if (r >= 0)
        r = si = av_find_best_stream(fc, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    if (r >= 0)
        r = (dec = avcodec_alloc_context3(codec)) ? 0 : AVERROR(ENOMEM);
    if (r >= 0)
        r = avcodec_parameters_to_context(dec, fc->streams[si]->codecpar);
    if (r >= 0)
        r = avcodec_open2(dec, codec, NULL);
    if (r >= 0)
        r = swr_alloc_set_opts2(&swr, &mono, AV_SAMPLE_FMT_FLT, AUDIO_RATE, &dec->ch_layout,
                                dec->sample_fmt, dec->sample_rate, 0, NULL);
    if (r >= 0)
        r = swr_init(swr);
    d->max = max;
    if (r >= 0)
        r = decode_all(fc, si, dec, swr, d);
    swr_free(&swr);
    avcodec_free_context(&dec);
    avformat_close_input(&fc);
    if (r < 0) {
        char e[AV_ERROR_MAX_STRING_SIZE];
        av_strerror(r, e, sizeof(e));
        return vf_fail(err, r == AVERROR(ENOMEM) ? VF_ENOMEM : VF_EINVAL,
                       "music track %s is not readable audio: %s", path, e);
    }
    if (d->n == 0)
        return vf_fail(err, VF_EINVAL, "music track %s has no audio", path);
    return VF_OK;
}

enum vf_rc music_mix(const char *path, double volume, float *track, size_t n,
                     struct vf_err *err)
{
    struct decoded d = { 0 };
    size_t max = n < (size_t)AUDIO_RATE * MUSIC_MAX_DECODE_S ? n : (size_t)AUDIO_RATE * MUSIC_MAX_DECODE_S;
    enum vf_rc rc = decode_music(path, max, &d, err);
    if (rc != VF_OK) {
        free(d.s);
        return rc;
    }
    const size_t window = AUDIO_RATE / 100;                 /* 10 ms envelope */
    const float attack = 1.0f - expf(-1.0f / (AUDIO_RATE * 0.06f));
    const float release = 1.0f - expf(-1.0f / (AUDIO_RATE * 0.4f));
    float gain = 1.0f, target = 1.0f;
    for (size_t i = 0; i < n; i++) {
        if (i % window == 0) {
            double sum = 0;
            size_t end = i + window < n ? i + window : n;
            for (size_t k = i; k < end; k++)
                sum += (double)track[k] * track[k];
            target = sqrt(sum / (double)(end - i)) > 0.01 ? MUSIC_DUCK_GAIN : 1.0f;
        }
        gain += (target - gain) * (target < gain ? attack : release);
        track[i] += d.s[i % d.n] * (float)volume * gain;
    }
    free(d.s);
    return VF_OK;
}
