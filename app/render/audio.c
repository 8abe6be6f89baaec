/* BS.1770-4 loudness and normalisation. The limiter needs no look-ahead
 * buffer: the whole track is in memory, so a backward pass ramps the gain
 * down ahead of each peak and a forward pass lets it recover slowly. */
#include "render/audio.h"

#include <math.h>
#include <stdlib.h>

struct biquad {
    double b0, b1, b2, a1, a2;
};

/* BS.1770-4 K-weighting at 48 kHz: a high-shelf "head" filter, then RLB high-pass. */
static const struct biquad k_shelf = { 1.53512485958697, -2.69169618940638, 1.19839281085285,
                                       -1.69065929318241, 0.73248077421585 };
static const struct biquad k_highpass = { 1.0, -2.0, 1.0, -1.99004745483398, 0.99007225036621 };

/* Squared K-weighted samples of one channel, summed into acc. */
static void k_weighted_power(const float *x, size_t n, double *acc)
{
    double s1 = 0, s2 = 0, h1 = 0, h2 = 0;      /* direct form II transposed states */
    for (size_t i = 0; i < n; i++) {
        double in = x[i];
        double y = k_shelf.b0 * in + s1;
        s1 = k_shelf.b1 * in - k_shelf.a1 * y + s2;
        s2 = k_shelf.b2 * in - k_shelf.a2 * y;
        double z = k_highpass.b0 * y + h1;
        h1 = k_highpass.b1 * y - k_highpass.a1 * z + h2;
        h2 = k_highpass.b2 * y - k_highpass.a2 * z;
        acc[i] += z * z;
    }
}

static double lufs_of(double mean_square)
{
    return -0.691 + 10.0 * log10(mean_square);
}

double audio_loudness(const float *const *ch, int nch, size_t n)
{
    const size_t block = AUDIO_RATE * 4 / 10, step = AUDIO_RATE / 10;
    if (n < block)
        return -HUGE_VAL;
    double *power = calloc(n, sizeof(*power));
    size_t nblocks = (n - block) / step + 1;
    double *blocks = malloc(nblocks * sizeof(*blocks));
    if (!power || !blocks) {
        free(power);
        free(blocks);
        return -HUGE_VAL;
    }
    for (int c = 0; c < nch; c++)
        k_weighted_power(ch[c], n, power);
    /* block powers from a running sum over the 400 ms window */
    double run = 0;
    for (size_t i = 0; i < block; i++)
        run += power[i];
    for (size_t b = 0; b < nblocks; b++) {
        blocks[b] = run / (double)block;
        for (size_t i = 0; i < step && b + 1 < nblocks; i++)
            run += power[b * step + block + i] - power[b * step + i];
    }
    double sum = 0, relative_gate;
    size_t count = 0;
    for (size_t b = 0; b < nblocks; b++)
        if (lufs_of(blocks[b]) > -70.0) {
            sum += blocks[b];
            count++;
        }
    double result = -HUGE_VAL;
    if (count > 0) {
        relative_gate = lufs_of(sum / (double)count) - 10.0;
        sum = 0;
        count = 0;
        for (size_t b = 0; b < nblocks; b++)
            if (lufs_of(blocks[b]) > -70.0 && lufs_of(blocks[b]) > relative_gate) {
                sum += blocks[b];
                count++;
            }
        if (count > 0)
            result = lufs_of(sum / (double)count);
    }
    free(power);
    free(blocks);
    return result;
}

/* Gain that keeps every sample under the ceiling: 2 ms ramps into a peak,
 * 80 ms recovery after it. */
static void limit(float *const *ch, int nch, size_t n)
{
    float *g = malloc(n * sizeof(*g));
    if (!g)
        return;     /* without memory the track stays unlimited, not broken */
    const float attack = 1.0f / (AUDIO_RATE * 0.002f), release = 1.0f / (AUDIO_RATE * 0.08f);
    for (size_t i = 0; i < n; i++) {
        float peak = 0;
        for (int c = 0; c < nch; c++)
            peak = fmaxf(peak, fabsf(ch[c][i]));
        g[i] = peak > AUDIO_CEILING ? AUDIO_CEILING / peak : 1.0f;
    }
    for (size_t i = n - 1; i-- > 0;)
        g[i] = fminf(g[i], g[i + 1] + attack);
    for (size_t i = 1; i < n; i++)
        g[i] = fminf(g[i], g[i - 1] + release);
    for (int c = 0; c < nch; c++)
        for (size_t i = 0; i < n; i++)
            ch[c][i] *= g[i];
    free(g);
}

static void scale(float *const *ch, int nch, size_t n, double db)
{
    float k = (float)pow(10.0, db / 20.0);
    for (int c = 0; c < nch; c++)
        for (size_t i = 0; i < n; i++)
            ch[c][i] *= k;
}

double audio_normalize(float *const *ch, int nch, size_t n, double target)
{
    double now = audio_loudness((const float *const *)ch, nch, n);
    /* limiting takes a little loudness away; a second round makes it up */
    for (int round = 0; round < 3 && isfinite(now) && fabs(now - target) > 0.2; round++) {
        scale(ch, nch, n, target - now);
        limit(ch, nch, n);
        now = audio_loudness((const float *const *)ch, nch, n);
    }
    return now;
}
