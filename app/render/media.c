/* Media-library backgrounds.
 *
 * An image is decoded once, cropped to the frame's aspect and scaled to
 * MEDIA_KEN_BURNS_ZOOM times the frame size; every frame then samples a
 * window of it that shrinks (or grows) and drifts, with bilinear filtering at
 * sub-pixel positions, so the move is smooth where whole-pixel crops would
 * judder. The scale factor between that image and the frame stays between 1
 * and the zoom, so bilinear sampling loses nothing visible.
 *
 * A clip is decoded one frame at a time as the scene's clock passes its
 * timestamps; only the frame on screen is converted (crop, scale, BT.601),
 * and at the end of the file it seeks back to the start and keeps counting
 * time, which loops it. Both are dimmed slightly so white captions stay
 * legible on bright pictures. */
#include "render/media.h"

#include <ctype.h>
#include <dirent.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/buf.h"

#define MEDIA_MAX_FILES 4096
#define MEDIA_NAME_MAX 256
#define MEDIA_KEYWORD_MAX 128
#define MEDIA_DIM 0.80          /* luma above black is scaled by this */

struct media_source {
    char path[4096];
    int width, height;          /* output */
    int variant;
    int is_clip;
    uint8_t luma_lut[256];

    /* image: the prepared picture, zoom times the frame size */
    uint8_t *pic[4];
    int pic_stride[4];
    int pw, ph;
    int32_t *xtab;              /* per output column: source index and fraction */

    /* clip */
    AVFormatContext *fc;
    AVCodecContext *dec;
    int si;
    AVPacket *pkt;
    AVFrame *cur, *next;        /* decoded: on screen, and the one after it */
    int have_cur, have_next, cur_converted, eof_pass_frames;
    double cur_t, next_t;       /* seconds on the scene's clock */
    double loop_base, pass_first, pass_last, frame_interval;
    int pass_started;
    uint8_t *conv[4];           /* cur, cropped and scaled to the frame */
    int conv_stride[4];
    struct SwsContext *sws;
    int sws_w, sws_h, sws_fmt;
};

static const char *const image_exts[] = { "jpg", "jpeg", "png", "webp", "bmp", NULL };
static const char *const clip_exts[] = { "mp4", "mov", "m4v", "webm", "mkv", "avi", "gif", NULL };

int media_plain_name(const char *name)
{
    return name && name[0] && name[0] != '.' && !strchr(name, '/') && !strchr(name, '\\')
           && strlen(name) < MEDIA_NAME_MAX;
}

static int has_ext(const char *name, const char *const *exts)
{
    const char *dot = strrchr(name, '.');
    if (!dot)
        return 0;
    for (; *exts; exts++)
        if (strcasecmp(dot + 1, *exts) == 0)
            return 1;
    return 0;
}

static int is_media_name(const char *name)
{
    return media_plain_name(name) && (has_ext(name, image_exts) || has_ext(name, clip_exts));
}

/* ---- choosing a file ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted media file names directly inside dir; *n = 0 when it cannot be read. */
static char **list_media(const char *dir, size_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **names = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) && *n < MEDIA_MAX_FILES) {
        if (!is_media_name(e->d_name))
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, 0) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **p = realloc(names, ncap * sizeof(*p));
            if (!p)
                break;
            names = p;
            cap = ncap;
        }
        if (!(names[*n] = strdup(e->d_name)))
            break;
        (*n)++;
    }
    closedir(d);
    if (*n > 1)
        qsort(names, *n, sizeof(*names), cmp_names);
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Next run of letters and digits (UTF-8 bytes count as letters) in s from
 * *at, lower-cased into w. Returns its length, 0 at the end. */
static size_t next_word(const char *s, size_t end, size_t *at, char *w, size_t wlen)
{
    size_t i = *at, n = 0;
    while (i < end && !(isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80))
        i++;
    while (i < end && (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80)) {
        if (n + 1 < wlen)
            w[n++] = (char)tolower((unsigned char)s[i]);
        i++;
    }
    w[n] = '\0';
    *at = i;
    return n;
}

/* Words equal, or equal but for a plural "s" on one side. */
static int same_word(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la == lb)
        return strcmp(a, b) == 0;
    if (la + 1 == lb && b[la] == 's')
        return strncmp(a, b, la) == 0;
    if (lb + 1 == la && a[lb] == 's')
        return strncmp(a, b, lb) == 0;
    return 0;
}

/* Every word of the keyword is a word of the file name (before its extension). */
static int keyword_matches(const char *keyword, const char *file)
{
    const char *dot = strrchr(file, '.');
    size_t fend = dot ? (size_t)(dot - file) : strlen(file);
    char kw[MEDIA_KEYWORD_MAX], fw[MEDIA_NAME_MAX];
    size_t kat = 0, kend = strlen(keyword), words = 0;
    while (next_word(keyword, kend, &kat, kw, sizeof(kw)) > 0) {
        int found = 0;
        size_t fat = 0;
        while (!found && next_word(file, fend, &fat, fw, sizeof(fw)) > 0)
            found = same_word(kw, fw);
        if (!found)
            return 0;
        words++;
    }
    return words > 0;
}

enum vf_rc media_choose(const char *media_dir, json_t *visual, int scene, char *path,
                        size_t pathlen, int *found, struct vf_err *err)
{
    *found = 0;
    json_t *media = json_object_get(visual, "media");
    if (json_is_string(media)) {
        const char *name = json_string_value(media);
        if (!media_plain_name(name))
            return vf_fail(err, VF_EINVAL, "scene %d: media \"%s\" is not a plain file name",
                           scene + 1, name);
        if (!media_dir || !media_dir[0])
            return vf_fail(err, VF_EINVAL, "scene %d asks for media file \"%s\" but media_dir is not set",
                           scene + 1, name);
        struct stat sb;
        if (vf_snprintf(path, pathlen, "%s/%s", media_dir, name) < 0)
            return vf_fail(err, VF_EINVAL, "media path too long");
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            return vf_fail(err, VF_EINVAL, "scene %d: media file \"%s\" is not in the media library",
                           scene + 1, name);
        *found = 1;
        return VF_OK;
    }
    json_t *keywords = json_object_get(visual, "keywords");
    if (!media_dir || !media_dir[0] || !json_is_array(keywords) || json_array_size(keywords) == 0)
        return VF_OK;
    size_t nfiles;
    char **files = list_media(media_dir, &nfiles);
    size_t i;
    json_t *kw;
    json_array_foreach(keywords, i, kw) {
        if (!json_is_string(kw))
            continue;
        size_t nmatch = 0;
        for (size_t f = 0; f < nfiles; f++)
            nmatch += (size_t)keyword_matches(json_string_value(kw), files[f]);
        if (nmatch == 0)
            continue;
        size_t pick = (size_t)scene % nmatch;
        for (size_t f = 0; f < nfiles; f++) {
            if (!keyword_matches(json_string_value(kw), files[f]))
                continue;
            if (pick-- == 0) {
                *found = vf_snprintf(path, pathlen, "%s/%s", media_dir, files[f]) == 0;
                break;
            }
        }
        break;
    }
    free_names(files, nfiles);
    return VF_OK;
}

/* ---- shared ---- */

static enum vf_rc media_fail(struct media_source *m, int code, struct vf_err *err)
{
    char e[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(code, e, sizeof(e));
    return vf_fail(err, code == AVERROR(ENOMEM) ? VF_ENOMEM : VF_EINVAL,
                   "media file %s is not a readable image or video: %s", m->path, e);
}

/* Decodes the next frame of the stream into f. Returns 0, AVERROR_EOF at the
 * end, or another error. Damaged packets are skipped. */
static int decode_next(struct media_source *m, AVFrame *f)
{
    for (;;) {
        int r = avcodec_receive_frame(m->dec, f);
        if (r != AVERROR(EAGAIN))
            return r;
        r = av_read_frame(m->fc, m->pkt);
        if (r == AVERROR_EOF) {
            r = avcodec_send_packet(m->dec, NULL);
            if (r < 0 && r != AVERROR_EOF)
                return r;
            continue;
        }
        if (r < 0)
            return r;
        if (m->pkt->stream_index == m->si) {
            r = avcodec_send_packet(m->dec, m->pkt);
            if (r < 0 && r != AVERROR_INVALIDDATA && r != AVERROR(EAGAIN)) {
                av_packet_unref(m->pkt);
                return r;
            }
        }
        av_packet_unref(m->pkt);
    }
}

/* The centred part of f with the output's aspect; f's pointers are moved. */
static int crop_to_aspect(const struct media_source *m, AVFrame *f)
{
    double sar = f->sample_aspect_ratio.num > 0 && f->sample_aspect_ratio.den > 0
                 ? av_q2d(f->sample_aspect_ratio) : 1.0;
    double src_aspect = f->width * sar / f->height, want = (double)m->width / m->height;
    size_t cw = (size_t)f->width, ch = (size_t)f->height;
    if (src_aspect > want)
        cw = (size_t)lround(f->height * want / sar);
    else
        ch = (size_t)lround(f->width * sar / want);
    cw = cw < 2 ? 2 : cw > (size_t)f->width ? (size_t)f->width : cw;
    ch = ch < 2 ? 2 : ch > (size_t)f->height ? (size_t)f->height : ch;
    f->crop_left = ((size_t)f->width - cw) / 2 & ~(size_t)1;
    f->crop_right = (size_t)f->width - cw - f->crop_left;
    f->crop_top = ((size_t)f->height - ch) / 2 & ~(size_t)1;
    f->crop_bottom = (size_t)f->height - ch - f->crop_top;
    return av_frame_apply_cropping(f, AV_FRAME_CROP_UNALIGNED);
}

static int full_range(const AVFrame *f)
{
    enum AVPixelFormat p = f->format;
    return f->color_range == AVCOL_RANGE_JPEG || p == AV_PIX_FMT_YUVJ420P
           || p == AV_PIX_FMT_YUVJ422P || p == AV_PIX_FMT_YUVJ444P || p == AV_PIX_FMT_YUVJ440P;
}

/* Scales the (cropped) frame into planes of w x h yuv420p, BT.601 limited
 * range, the matrix the encoder is told about. */
static int convert(struct media_source *m, const AVFrame *f, uint8_t *dst[4], int dst_stride[4],
                   int w, int h, int flags)
{
    if (!m->sws || m->sws_w != f->width || m->sws_h != f->height || m->sws_fmt != f->format) {
        sws_freeContext(m->sws);
        m->sws = sws_getContext(f->width, f->height, f->format, w, h, AV_PIX_FMT_YUV420P, flags,
                                NULL, NULL, NULL);
        if (!m->sws)
            return AVERROR(EINVAL);
        m->sws_w = f->width;
        m->sws_h = f->height;
        m->sws_fmt = f->format;
        const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f->format);
        int rgb = d && (d->flags & AV_PIX_FMT_FLAG_RGB);
        int cs = f->colorspace == AVCOL_SPC_BT709 ? SWS_CS_ITU709 : SWS_CS_ITU601;
        sws_setColorspaceDetails(m->sws, sws_getCoefficients(cs), rgb ? 1 : full_range(f),
                                 sws_getCoefficients(SWS_CS_ITU601), 0, 0, 1 << 16, 1 << 16);
    }
    int r = sws_scale(m->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
                      dst_stride);
    return r < 0 ? r : 0;
}

static enum vf_rc open_decoder(struct media_source *m, struct vf_err *err)
{
    const AVCodec *codec = NULL;
    if (!(m->pkt = av_packet_alloc()))
        return vf_fail(err, VF_ENOMEM, "out of memory for media");
    int r = avformat_open_input(&m->fc, m->path, NULL, NULL);
    if (r >= 0)
        r = avformat_find_stream_info(m->fc, NULL);
    if (r >= 0)
        r = m->si = av_find_best_stream(m->fc, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (r >= 0)
        r = (m->dec = avcodec_alloc_context3(codec)) ? 0 : AVERROR(ENOMEM);
    if (r >= 0)
        r = avcodec_parameters_to_context(m->dec, m->fc->streams[m->si]->codecpar);
    if (r >= 0) {
        /* the encoder has the cores; one decoding thread keeps memory small */
        m->dec->thread_count = 1;
        r = avcodec_open2(m->dec, codec, NULL);
    }
    if (r >= 0 && (int64_t)m->dec->width * m->dec->height > MEDIA_MAX_PIXELS)
        return vf_fail(err, VF_EINVAL, "media file %s is too large (%dx%d)", m->path,
                       m->dec->width, m->dec->height);
    if (r < 0)
        return media_fail(m, r, err);
    const char *fmt = m->fc->iformat->name;
    m->is_clip = !(strstr(fmt, "_pipe") || strcmp(fmt, "image2") == 0);
    return VF_OK;
}

/* ---- images ---- */

static enum vf_rc prepare_image(struct media_source *m, struct vf_err *err)
{
    AVFrame *f = av_frame_alloc();
    if (!f)
        return vf_fail(err, VF_ENOMEM, "out of memory for media");
    int r = decode_next(m, f);
    if (r >= 0 && (f->width < 2 || f->height < 2))
        r = AVERROR_INVALIDDATA;
    if (r >= 0)
        r = crop_to_aspect(m, f);
    m->pw = (int)lround(m->width * MEDIA_KEN_BURNS_ZOOM) & ~1;
    m->ph = (int)lround(m->height * MEDIA_KEN_BURNS_ZOOM) & ~1;
    if (r >= 0)
        r = av_image_alloc(m->pic, m->pic_stride, m->pw, m->ph, AV_PIX_FMT_YUV420P, 64);
    if (r >= 0)
        r = convert(m, f, m->pic, m->pic_stride, m->pw, m->ph, SWS_BICUBIC);
    av_frame_free(&f);
    /* the picture is all an image needs: let the decoder go */
    sws_freeContext(m->sws);
    m->sws = NULL;
    avcodec_free_context(&m->dec);
    avformat_close_input(&m->fc);
    m->xtab = malloc((size_t)m->width * 2 * sizeof(*m->xtab));
    if (r >= 0 && !m->xtab)
        r = AVERROR(ENOMEM);
    return r < 0 ? media_fail(m, r, err) : VF_OK;
}

/* Bilinear sampling of src (sw x sh) into dst (dw x dh): output pixel i
 * covers source x = x0 + (i + 0.5) * step - 0.5; weights in 1/256. */
static void sample_plane(const uint8_t *src, int sstride, int sw, int sh, double x0, double y0,
                         double step, uint8_t *dst, int dstride, int dw, int dh,
                         const uint8_t *lut, int32_t *xtab)
{
    for (int i = 0; i < dw; i++) {
        double sx = x0 + (i + 0.5) * step - 0.5;
        sx = sx < 0 ? 0 : sx > sw - 1 ? sw - 1 : sx;
        int xi = (int)sx;
        int fx = (int)((sx - xi) * 256.0 + 0.5);
        if (xi >= sw - 1) {
            xi = sw - 2;
            fx = 256;
        }
        xtab[2 * i] = xi;
        xtab[2 * i + 1] = fx;
    }
    for (int j = 0; j < dh; j++) {
        double sy = y0 + (j + 0.5) * step - 0.5;
        sy = sy < 0 ? 0 : sy > sh - 1 ? sh - 1 : sy;
        int yi = (int)sy;
        int fy = (int)((sy - yi) * 256.0 + 0.5);
        if (yi >= sh - 1) {
            yi = sh - 2;
            fy = 256;
        }
        const uint8_t *r0 = src + (size_t)yi * sstride, *r1 = r0 + sstride;
        uint8_t *o = dst + (size_t)j * dstride;
        for (int i = 0; i < dw; i++) {
            int xi = xtab[2 * i], fx = xtab[2 * i + 1];
            int top = r0[xi] * (256 - fx) + r0[xi + 1] * fx;
            int bot = r1[xi] * (256 - fx) + r1[xi + 1] * fx;
            int v = (top * (256 - fy) + bot * fy + 32768) >> 16;
            o[i] = lut ? lut[v] : (uint8_t)v;
        }
    }
}

static void draw_image(struct media_source *m, double t, double span, AVFrame *dst)
{
    double p = span > 0 ? t / span : 1;
    p = p < 0 ? 0 : p > 1 ? 1 : p;
    /* even scenes zoom in, odd ones out; the drift changes side too */
    double z = (m->variant & 1) ? MEDIA_KEN_BURNS_ZOOM - (MEDIA_KEN_BURNS_ZOOM - 1) * p
                                : 1 + (MEDIA_KEN_BURNS_ZOOM - 1) * p;
    double ax = (m->variant & 2) ? 0.65 - 0.3 * p : 0.35 + 0.3 * p;
    double ay = 0.45 + 0.1 * p;
    double ww = m->pw / z, wh = m->ph / z;
    double x0 = (m->pw - ww) * ax, y0 = (m->ph - wh) * ay;
    double step = ww / m->width;
    sample_plane(m->pic[0], m->pic_stride[0], m->pw, m->ph, x0, y0, step, dst->data[0],
                 dst->linesize[0], m->width, m->height, m->luma_lut, m->xtab);
    for (int c = 1; c < 3; c++)
        sample_plane(m->pic[c], m->pic_stride[c], m->pw / 2, m->ph / 2, x0 / 2, y0 / 2, step,
                     dst->data[c], dst->linesize[c], m->width / 2, m->height / 2, NULL, m->xtab);
}

/* ---- clips ---- */

static double frame_time(const struct media_source *m, const AVFrame *f)
{
    int64_t ts = f->best_effort_timestamp != AV_NOPTS_VALUE ? f->best_effort_timestamp : f->pts;
    return ts == AV_NOPTS_VALUE ? -1 : ts * av_q2d(m->fc->streams[m->si]->time_base);
}

/* Decodes the frame after `cur` into `next` with its time on the scene's
 * clock, seeking back to the start at the end of the file. */
static int advance(struct media_source *m)
{
    for (int tries = 0; tries < 2; tries++) {
        int r = decode_next(m, m->next);
        if (r >= 0) {
            double ts = frame_time(m, m->next);
            if (ts < 0)     /* no timestamps: count frames */
                ts = m->pass_started ? m->pass_last + m->frame_interval : 0;
            if (!m->pass_started) {
                m->pass_first = ts;
                m->pass_started = 1;
            } else if (ts > m->pass_last) {
                m->frame_interval = ts - m->pass_last;
            }
            m->pass_last = ts;
            m->eof_pass_frames++;
            m->next_t = m->loop_base + (ts - m->pass_first);
            m->have_next = 1;
            return 0;
        }
        if (r != AVERROR_EOF || m->eof_pass_frames == 0)
            return r == AVERROR_EOF ? AVERROR_INVALIDDATA : r;
        /* loop: the next pass starts one frame after this one's last */
        m->loop_base += m->pass_last - m->pass_first + m->frame_interval;
        m->pass_started = 0;
        m->eof_pass_frames = 0;
        AVStream *st = m->fc->streams[m->si];
        r = av_seek_frame(m->fc, m->si, st->start_time != AV_NOPTS_VALUE ? st->start_time : 0,
                          AVSEEK_FLAG_BACKWARD);
        if (r < 0)
            return r;
        avcodec_flush_buffers(m->dec);
    }
    return AVERROR_INVALIDDATA;
}

static enum vf_rc prepare_clip(struct media_source *m, struct vf_err *err)
{
    AVStream *st = m->fc->streams[m->si];
    double fps = st->avg_frame_rate.num > 0 ? av_q2d(st->avg_frame_rate) : 30;
    m->frame_interval = fps > 1 && fps < 500 ? 1.0 / fps : 1.0 / 30;
    m->cur = av_frame_alloc();
    m->next = av_frame_alloc();
    int r = m->cur && m->next ? 0 : AVERROR(ENOMEM);
    if (r >= 0)
        r = av_image_alloc(m->conv, m->conv_stride, m->width, m->height, AV_PIX_FMT_YUV420P, 64);
    if (r >= 0)
        r = advance(m);     /* proves the file decodes */
    return r < 0 ? media_fail(m, r, err) : VF_OK;
}

static enum vf_rc draw_clip(struct media_source *m, double t, AVFrame *dst, struct vf_err *err)
{
    /* take every decoded frame whose time has come; the last one is shown */
    while (m->have_next && (!m->have_cur || m->next_t <= t + 1e-6)) {
        av_frame_unref(m->cur);
        av_frame_move_ref(m->cur, m->next);
        m->cur_t = m->next_t;
        m->have_cur = 1;
        m->have_next = 0;
        m->cur_converted = 0;
        int r = advance(m);
        if (r < 0)
            return media_fail(m, r, err);
    }
    if (!m->cur_converted) {
        int r = crop_to_aspect(m, m->cur);
        if (r >= 0)
            r = convert(m, m->cur, m->conv, m->conv_stride, m->width, m->height, SWS_BILINEAR);
        if (r < 0)
            return media_fail(m, r, err);
        m->cur_converted = 1;
    }
    for (int y = 0; y < m->height; y++) {
        const uint8_t *s = m->conv[0] + (size_t)y * m->conv_stride[0];
        uint8_t *o = dst->data[0] + (size_t)y * dst->linesize[0];
        for (int x = 0; x < m->width; x++)
            o[x] = m->luma_lut[s[x]];
    }
    for (int c = 1; c < 3; c++)
        av_image_copy_plane(dst->data[c], dst->linesize[c], m->conv[c], m->conv_stride[c],
                            m->width / 2, m->height / 2);
    return VF_OK;
}

/* ---- the source ---- */

enum vf_rc media_open(const char *path, int width, int height, int variant,
                      struct media_source **out, struct vf_err *err)
{
    *out = NULL;
    struct media_source *m = calloc(1, sizeof(*m));
    if (!m)
        return vf_fail(err, VF_ENOMEM, "out of memory for media");
    if (vf_snprintf(m->path, sizeof(m->path), "%s", path) < 0) {
        free(m);
        return vf_fail(err, VF_EINVAL, "media path too long");
    }
    m->width = width & ~1;
    m->height = height & ~1;
    m->variant = variant;
    for (int v = 0; v < 256; v++) {
        int y = v < 16 ? v : 16 + (int)lround((v - 16) * MEDIA_DIM);
        m->luma_lut[v] = (uint8_t)y;
    }
    enum vf_rc rc = open_decoder(m, err);
    if (rc == VF_OK)
        rc = m->is_clip ? prepare_clip(m, err) : prepare_image(m, err);
    if (rc != VF_OK) {
        media_close(m);
        return rc;
    }
    *out = m;
    return VF_OK;
}

enum vf_rc media_draw(struct media_source *m, double t, double span, AVFrame *dst,
                      struct vf_err *err)
{
    if (m->is_clip)
        return draw_clip(m, t, dst, err);
    draw_image(m, t, span, dst);
    return VF_OK;
}

void media_close(struct media_source *m)
{
    if (!m)
        return;
    av_freep(&m->pic[0]);
    av_freep(&m->conv[0]);
    free(m->xtab);
    sws_freeContext(m->sws);
    av_frame_free(&m->cur);
    av_frame_free(&m->next);
    av_packet_free(&m->pkt);
    avcodec_free_context(&m->dec);
    avformat_close_input(&m->fc);
    free(m);
}
