#ifndef VF_RENDER_TTS_GEMINI_H
#define VF_RENDER_TTS_GEMINI_H
/* Gemini text-to-speech over generateContent (PROTOCOLS §1.4): one request
 * per scene, raw 16-bit PCM back. Faults follow PROTOCOLS §1.3: 429 and 5xx
 * and timeouts are VF_ETRANSIENT (retry_after from RetryInfo), a refused key
 * is VF_EPERMANENT "Gemini rejected the API key". */
#include <stddef.h>
#include <stdint.h>
#include "core/buf.h"
#include "core/err.h"

struct vf_config;

#define GEMINI_TTS_DEFAULT_VOICE "Kore"
#define GEMINI_TTS_MAX_RESPONSE (64u << 20)
#define GEMINI_TTS_TIMEOUT_MS 180000

/* 1 when name is one of Gemini's prebuilt voices ("Kore", "Puck", ...). */
int gemini_tts_voice_known(const char *name);

/* The request body for text in voice. Appends to out; returns 0 or -1. */
int gemini_tts_request_body(const char *text, const char *voice, struct buf *out);

/* Reads an answer: status and body as they came back. On VF_OK *pcm
 * (malloc'ed, mono signed 16-bit) holds *n samples at *rate Hz. */
enum vf_rc gemini_tts_read_answer(long status, const char *body, size_t len, int16_t **pcm,
                                  size_t *n, int *rate, struct vf_err *err);

/* Speaks text with cfg's key, base URL and model. voice NULL or not a
 * Gemini voice: GEMINI_TTS_DEFAULT_VOICE. */
enum vf_rc gemini_tts_speak(const struct vf_config *cfg, const char *voice, const char *text,
                            int16_t **pcm, size_t *n, int *rate, struct vf_err *err);

#endif
