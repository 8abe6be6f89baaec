#ifndef VF_RENDER_BACKGROUND_H
#define VF_RENDER_BACKGROUND_H
/* Animated gradient backgrounds. The gradient is computed on a small image
 * (1/8 of the frame each way) and scaled up with swscale: a gradient has no
 * detail to lose, and the per-pixel work shrinks 64 times. */
#include <libavutil/frame.h>
#include "core/err.h"
#include "render/palette.h"

#define BACKGROUND_DOWNSCALE 8

struct background;

/* A background painter for frames of width x height (yuv420p). */
enum vf_rc background_new(int width, int height, struct background **out, struct vf_err *err);
/* Paints the gradient at time t (seconds) into dst (yuv420p, width x height,
 * writable). The colours are mix (0..1) of the way from `from` to `to`, so a
 * scene change fades from one palette to the next. */
void background_draw(struct background *bg, const struct palette *from, const struct palette *to,
                     double mix, double t, AVFrame *dst);
void background_free(struct background *bg);

#endif
