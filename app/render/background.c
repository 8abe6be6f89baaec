/* The gradient: four colour points drift slowly on Lissajous paths and every
 * pixel is their inverse-square-distance blend, which reads as a soft mesh
 * gradient. It is drawn at 1/8 size straight into yuv420p (BT.601 limited
 * range, the matrix the encoder is told about) and upscaled by swscale
 * without a colour conversion. */
#include "render/background.h"

#include <libswscale/swscale.h>
#include <libavutil/imgutils.h>
#include <math.h>
#include <stdlib.h>

struct background {
    int width, height;          /* output */
    int sw, sh;                 /* small image, even */
    uint8_t *plane[3];
    int stride[3];
    float *rgb;                 /* sw*sh*3, the small image before conversion */
    struct SwsContext *sws;
};

static int even_at_least_2(int v)
{
    v &= ~1;
    return v < 2 ? 2 : v;
}

enum vf_rc background_new(int width, int height, struct background **out, struct vf_err *err)
{
    struct background *bg = calloc(1, sizeof(*bg));
    if (!bg)
        return vf_fail(err, VF_ENOMEM, "out of memory for the background");
    bg->width = width;
    bg->height = height;
    bg->sw = even_at_least_2((width + BACKGROUND_DOWNSCALE - 1) / BACKGROUND_DOWNSCALE);
    bg->sh = even_at_least_2((height + BACKGROUND_DOWNSCALE - 1) / BACKGROUND_DOWNSCALE);
    bg->stride[0] = bg->sw;
    bg->stride[1] = bg->stride[2] = bg->sw / 2;
    bg->plane[0] = malloc((size_t)bg->sw * bg->sh);
    bg->plane[1] = malloc((size_t)bg->sw * bg->sh / 4);
    bg->plane[2] = malloc((size_t)bg->sw * bg->sh / 4);
    bg->rgb = malloc((size_t)bg->sw * bg->sh * 3 * sizeof(float));
    bg->sws = sws_getContext(bg->sw, bg->sh, AV_PIX_FMT_YUV420P, width, height, AV_PIX_FMT_YUV420P,
                             SWS_BILINEAR, NULL, NULL, NULL);
    if (!bg->plane[0] || !bg->plane[1] || !bg->plane[2] || !bg->rgb || !bg->sws) {
        background_free(bg);
        return vf_fail(err, VF_ENOMEM, "cannot set up the background scaler");
    }
    *out = bg;
    return VF_OK;
}

static uint8_t clamp_u8(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Gradient in RGB (0..255 floats) at 1/8 size. */
static void draw_small_rgb(struct background *bg, const float stops[4][3], double t)
{
    float px[4], py[4];
    float aspect = (float)bg->width / (float)bg->height;
    for (int i = 0; i < 4; i++) {
        /* different, incommensurate speeds so the pattern never visibly repeats */
        double sp = 0.055 + 0.018 * i;
        px[i] = (float)((0.5 + 0.45 * sin(t * sp + i * 1.7)) * aspect);
        py[i] = (float)(0.5 + 0.45 * cos(t * sp * 0.83 + i * 2.3));
    }
    float *o = bg->rgb;
    float inv_h = 1.0f / (float)bg->sh;
    for (int y = 0; y < bg->sh; y++) {
        float fy = ((float)y + 0.5f) * inv_h;
        for (int x = 0; x < bg->sw; x++) {
            float fx = ((float)x + 0.5f) * inv_h;
            float r = 0, g = 0, b = 0, wsum = 0;
            for (int i = 0; i < 4; i++) {
                float dx = fx - px[i], dy = fy - py[i];
                float w = 1.0f / (dx * dx + dy * dy + 0.02f);
                w *= w;
                r += w * stops[i][0];
                g += w * stops[i][1];
                b += w * stops[i][2];
                wsum += w;
            }
            float inv = 1.0f / wsum;
            o[0] = r * inv;
            o[1] = g * inv;
            o[2] = b * inv;
            o += 3;
        }
    }
}

/* BT.601 limited range, chroma from each 2x2 block's average. */
static void small_rgb_to_yuv(struct background *bg)
{
    int sw = bg->sw;
    for (int y = 0; y < bg->sh; y++) {
        const float *p = bg->rgb + (size_t)y * sw * 3;
        uint8_t *Y = bg->plane[0] + (size_t)y * bg->stride[0];
        for (int x = 0; x < sw; x++, p += 3)
            Y[x] = clamp_u8((int)lrintf(16.0f + 0.2568f * p[0] + 0.5041f * p[1] + 0.0979f * p[2]));
    }
    for (int y = 0; y < bg->sh / 2; y++) {
        uint8_t *U = bg->plane[1] + (size_t)y * bg->stride[1];
        uint8_t *V = bg->plane[2] + (size_t)y * bg->stride[2];
        for (int x = 0; x < sw / 2; x++) {
            const float *a = bg->rgb + ((size_t)(2 * y) * sw + 2 * x) * 3;
            const float *c = a + (size_t)sw * 3;
            float r = (a[0] + a[3] + c[0] + c[3]) * 0.25f;
            float g = (a[1] + a[4] + c[1] + c[4]) * 0.25f;
            float b = (a[2] + a[5] + c[2] + c[5]) * 0.25f;
            U[x] = clamp_u8((int)lrintf(128.0f - 0.1482f * r - 0.2910f * g + 0.4392f * b));
            V[x] = clamp_u8((int)lrintf(128.0f + 0.4392f * r - 0.3678f * g - 0.0714f * b));
        }
    }
}

void background_draw(struct background *bg, const struct palette *from, const struct palette *to,
                     double mix, double t, AVFrame *dst)
{
    float stops[4][3];
    if (mix < 0)
        mix = 0;
    if (mix > 1)
        mix = 1;
    /* smoothstep: the fade starts and ends gently */
    float m = (float)(mix * mix * (3 - 2 * mix));
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++)
            stops[i][c] = (float)from->stops[i][c] * (1 - m) + (float)to->stops[i][c] * m;
    draw_small_rgb(bg, stops, t);
    small_rgb_to_yuv(bg);
    const uint8_t *const src[3] = { bg->plane[0], bg->plane[1], bg->plane[2] };
    sws_scale(bg->sws, src, bg->stride, 0, bg->sh, dst->data, dst->linesize);
}

void background_free(struct background *bg)
{
    if (!bg)
        return;
    sws_freeContext(bg->sws);
    free(bg->plane[0]);
    free(bg->plane[1]);
    free(bg->plane[2]);
    free(bg->rgb);
    free(bg);
}
