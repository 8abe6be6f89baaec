#ifndef VF_RENDER_MUSIC_H
#define VF_RENDER_MUSIC_H
/* Background music under the narration: any audio file FFmpeg can read,
 * decoded to mono 48 kHz, looped to the video's length and ducked while the
 * voice speaks. */
#include <stddef.h>
#include "core/err.h"

#define MUSIC_DUCK_GAIN 0.25f           /* about -12 dB under speech */
#define MUSIC_MAX_DECODE_S 600

/* Mixes the file at path into track (mono 48 kHz float, n samples, holding
 * the narration) at volume 0..1. Returns VF_OK, VF_EINVAL (unreadable or not
 * audio, named in err) or VF_ENOMEM. */
enum vf_rc music_mix(const char *path, double volume, float *track, size_t n,
                     struct vf_err *err);

#endif
