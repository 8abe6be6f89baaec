#ifndef VF_RENDER_VOICE_H
#define VF_RENDER_VOICE_H
/* The narration track: every scene spoken in turn with a pause between, as
 * mono 16-bit PCM, plus when each word is spoken. espeak-ng runs in-process
 * and is global state, so all synthesis is serialised behind one lock. */
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "core/err.h"
#include "render/captions.h"
#include "script/options.h"

#define VOICE_SCENE_GAP_S 0.35     /* silence between scenes */
#define VOICE_TAIL_S 0.6           /* silence after the last scene */

struct scene_span {
    double start, end;          /* seconds; a scene's span includes the gap after it */
    const char *palette;        /* borrowed from the script, may be NULL */
    const char *title;          /* the scene's caption, may be NULL */
};

struct narration {
    int16_t *pcm;               /* mono; silence when tts is "none" */
    size_t nsamples;
    int sample_rate;
    double duration_s;
    struct caption_word *words; /* text borrowed from the script */
    size_t nwords;
    struct scene_span *scenes;
    size_t nscenes;
};

struct vf_config;

/* Speaks the script's scenes with opt->tts ("espeak", "gemini" or "none";
 * gemini reads its key, base URL and model from cfg). Words and scene
 * strings borrow from script, which must outlive the narration. Returns
 * VF_OK, VF_EINVAL (unknown voice), VF_ETRANSIENT (Gemini busy or out of
 * quota), VF_EPERMANENT or VF_ENOMEM. */
enum vf_rc narration_build(json_t *script, const struct job_options *opt,
                           const struct vf_config *cfg, struct narration *out,
                           struct vf_err *err);
void narration_free(struct narration *n);

#endif
