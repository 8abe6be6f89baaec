#ifndef VF_RENDER_AUDIO_H
#define VF_RENDER_AUDIO_H
/* Loudness: ITU-R BS.1770-4 integrated loudness (K-weighting, 400 ms blocks,
 * absolute and relative gates) and a normaliser with a look-ahead peak
 * limiter, so every video plays at the platforms' -14 LUFS. Works on planar
 * float channels at 48 kHz (the K-weighting coefficients are for 48 kHz). */
#include <stddef.h>

#define AUDIO_RATE 48000
#define AUDIO_TARGET_LUFS -14.0
#define AUDIO_CEILING 0.891f           /* -1 dBFS sample peak */

/* Integrated loudness of nch channels of n samples in LUFS, or -HUGE_VAL when
 * nothing passes the absolute gate (silence). Returns -HUGE_VAL on ENOMEM. */
double audio_loudness(const float *const *ch, int nch, size_t n);

/* Scales the channels to target LUFS and keeps peaks under AUDIO_CEILING.
 * Silence is left alone. Returns the loudness reached (or -HUGE_VAL). */
double audio_normalize(float *const *ch, int nch, size_t n, double target);

#endif
