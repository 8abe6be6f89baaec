#ifndef VF_RENDER_RENDER_H
#define VF_RENDER_RENDER_H
/* The renderer: a validated script and the job's options in, a finished MP4
 * (H.264 High yuv420p + AAC 48 kHz, +faststart), a JPEG thumbnail and SRT/VTT
 * captions out, all in-process with the FFmpeg libraries and libespeak-ng.
 *
 * Files written into rq->out_dir:
 *   video.mp4  thumb.jpg  captions.srt  captions.vtt  captions.ass
 * The caller (the orchestrator) moves them to the store. */
#include <jansson.h>
#include "core/err.h"
#include "script/options.h"

struct vf_config;

/* Called at most every 2 % of frames (and at phase changes). Return nonzero
 * to cancel the render: render_video then returns VF_ECANCELLED promptly. */
typedef int (*render_progress_fn)(void *ud, int percent, const char *message);

struct render_request {
    json_t *script;                 /* borrowed; validated and normalised */
    const struct job_options *opt;  /* borrowed */
    const struct vf_config *cfg;    /* borrowed: fonts_dir, media_dir, render_threads, x264_preset, tts keys */
    const char *out_dir;            /* existing directory, written into */
    render_progress_fn progress;    /* may be NULL */
    void *progress_ud;
    int no_captions;                /* 1: frames without burnt-in captions (tests compare); 0 normally */
};

struct render_result {
    double duration_s;
    long long size_bytes;           /* of video.mp4 */
    int width, height;
    char sha256[65];                /* hex of video.mp4 */
};

/* Returns VF_OK, VF_ECANCELLED, VF_EINVAL (bad input: missing font,
 * unreadable media file, ...), VF_ETRANSIENT (Gemini TTS unavailable, ...)
 * or VF_EPERMANENT; err->text names what failed. */
enum vf_rc render_video(const struct render_request *rq, struct render_result *res,
                        struct vf_err *err);

#endif
