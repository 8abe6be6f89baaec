/* Gemini TTS client. The answer's audio is base64 inside JSON; its
 * mimeType says the format: "audio/L16;codec=pcm;rate=24000" is headerless
 * little-endian PCM (despite L16's big-endian RFC), and newer models may send
 * "audio/wav", whose RIFF header is read instead. */
#include "render/tts_gemini.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/config.h"
#include "net/http.h"

static const char *const gemini_voices[] = {
    "Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede", "Callirrhoe",
    "Autonoe", "Enceladus", "Iapetus", "Umbriel", "Algieba", "Despina", "Erinome", "Algenib",
    "Rasalgethi", "Laomedeia", "Achernar", "Alnilam", "Schedar", "Gacrux", "Pulcherrima",
    "Achird", "Zubenelgenubi", "Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat", NULL,
};

int gemini_tts_voice_known(const char *name)
{
    for (size_t i = 0; name && gemini_voices[i]; i++)
        if (strcmp(gemini_voices[i], name) == 0)
            return 1;
    return 0;
}

int gemini_tts_request_body(const char *text, const char *voice, struct buf *out)
{
    json_t *body = json_pack(
        "{s:[{s:[{s:s}]}], s:{s:[s], s:{s:{s:{s:s}}}}}",
        "contents", "parts", "text", text,
        "generationConfig", "responseModalities", "AUDIO",
        "speechConfig", "voiceConfig", "prebuiltVoiceConfig", "voiceName", voice);
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc = s ? buf_puts(out, s) : -1;
    free(s);
    json_decref(body);
    return rc;
}

/* ---- audio ---- */

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Standard or URL-safe base64, padding optional, white space ignored.
 * Returns the malloc'ed bytes, or NULL (bad input or no memory). */
static unsigned char *b64_decode(const char *s, size_t len, size_t *out_len)
{
    unsigned char *out = malloc(len / 4 * 3 + 3);
    if (!out)
        return NULL;
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '=')
            break;
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
            continue;
        int v = b64_value(ch);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    *out_len = n;
    return out;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Finds the PCM inside a RIFF/WAVE file: 16-bit, mono or stereo (mixed down
 * in place). Returns 0 with the sample range, or -1. */
static int wav_pcm(unsigned char *d, size_t len, size_t *off, size_t *bytes, int *rate)
{
    if (len < 12 || memcmp(d, "RIFF", 4) != 0 || memcmp(d + 8, "WAVE", 4) != 0)
        return -1;
    int channels = 0, bits = 0;
    for (size_t at = 12; at + 8 <= len;) {
        uint32_t size = le32(d + at + 4);
        size_t body = at + 8;
        if (memcmp(d + at, "fmt ", 4) == 0 && size >= 16 && body + 16 <= len) {
            channels = d[body + 2] | d[body + 3] << 8;
            *rate = (int)le32(d + body + 4);
            bits = d[body + 14] | d[body + 15] << 8;
            if ((d[body] | d[body + 1] << 8) != 1)
                return -1;      /* not plain PCM */
        } else if (memcmp(d + at, "data", 4) == 0) {
            if (bits != 16 || channels < 1 || channels > 2 || *rate <= 0)
                return -1;
            size_t avail = len - body < size ? len - body : size;
            if (channels == 2) {
                size_t frames = avail / 4;
                for (size_t i = 0; i < frames; i++) {
                    unsigned char *p = d + body + 4 * i;
                    int l = (int16_t)(p[0] | p[1] << 8), r = (int16_t)(p[2] | p[3] << 8);
                    int m = (l + r) / 2;
                    d[body + 2 * i] = (unsigned char)(m & 0xff);
                    d[body + 2 * i + 1] = (unsigned char)((m >> 8) & 0xff);
                }
                avail = frames * 2;
            }
            *off = body;
            *bytes = avail;
            return 0;
        }
        if (size > len - body)
            return -1;
        at = body + size + (size & 1);
    }
    return -1;
}

/* The rate= parameter of an L16 mimeType; 24000 when absent. */
static int l16_rate(const char *mime)
{
    const char *p = strcasestr(mime, "rate=");
    if (!p)
        return 24000;
    char *end;
    long r = strtol(p + 5, &end, 10);
    return r >= 8000 && r <= 192000 ? (int)r : -1;
}

static enum vf_rc audio_from_part(json_t *inline_data, int16_t **pcm, size_t *n, int *rate,
                                  struct vf_err *err)
{
    const char *mime = json_string_value(json_object_get(inline_data, "mimeType"));
    json_t *data = json_object_get(inline_data, "data");
    if (!mime)
        mime = json_string_value(json_object_get(inline_data, "mime_type"));
    if (!mime || !json_is_string(data))
        return vf_fail(err, VF_EPERMANENT, "Gemini TTS answered without audio data");
    int is_l16 = strncasecmp(mime, "audio/L16", 9) == 0 || strncasecmp(mime, "audio/pcm", 9) == 0;
    int is_wav = strncasecmp(mime, "audio/wav", 9) == 0 || strncasecmp(mime, "audio/x-wav", 11) == 0;
    if (!is_l16 && !is_wav)
        return vf_fail(err, VF_EPERMANENT, "Gemini TTS sent audio as %s, which is not supported", mime);
    size_t len;
    unsigned char *bytes = b64_decode(json_string_value(data), json_string_length(data), &len);
    if (!bytes)
        return vf_fail(err, VF_EPERMANENT, "Gemini TTS sent audio that is not base64");
    size_t off = 0, nbytes = len;
    int r = is_l16 ? l16_rate(mime) : -1;
    if (is_wav && wav_pcm(bytes, len, &off, &nbytes, &r) < 0)
        r = -1;
    if (r <= 0) {
        free(bytes);
        return vf_fail(err, VF_EPERMANENT, "Gemini TTS sent unreadable audio (%s)", mime);
    }
    size_t count = nbytes / 2;
    int16_t *s = malloc((count ? count : 1) * sizeof(*s));
    if (!s) {
        free(bytes);
        return vf_fail(err, VF_ENOMEM, "out of memory for speech");
    }
    for (size_t i = 0; i < count; i++)
        s[i] = (int16_t)(bytes[off + 2 * i] | bytes[off + 2 * i + 1] << 8);
    free(bytes);
    *pcm = s;
    *n = count;
    *rate = r;
    return VF_OK;
}

/* ---- faults ---- */

/* The RetryInfo delay ("48s", "0.5s") of an error body, or 0. */
static double retry_delay(json_t *error)
{
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(error, "details"), i, d) {
        const char *type = json_string_value(json_object_get(d, "@type"));
        const char *delay = json_string_value(json_object_get(d, "retryDelay"));
        if (type && delay && strstr(type, "RetryInfo")) {
            char *end;
            double s = strtod(delay, &end);
            if (end != delay && s >= 0 && s < 86400)
                return s;
        }
    }
    return 0;
}

static int key_refused(long status, json_t *error)
{
    if (status == 401 || status == 403)
        return 1;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(error, "details"), i, d) {
        const char *reason = json_string_value(json_object_get(d, "reason"));
        if (reason && strncmp(reason, "API_KEY_", 8) == 0)
            return 1;
    }
    const char *msg = json_string_value(json_object_get(error, "message"));
    return status == 400 && msg && strstr(msg, "API key");
}

static enum vf_rc answer_fault(long status, json_t *root, struct vf_err *err)
{
    json_t *error = json_object_get(root, "error");
    const char *msg = json_string_value(json_object_get(error, "message"));
    char detail[200];
    vf_utf8_copy(detail, msg ? msg : "no details", sizeof(detail));
    err->http_status = (int)status;
    if (status == 429) {
        enum vf_rc rc = vf_fail(err, VF_ETRANSIENT, "Gemini TTS quota or rate limit reached: %s", detail);
        err->retry_after = retry_delay(error);
        return rc;
    }
    if (status == 408 || status >= 500)
        return vf_fail(err, VF_ETRANSIENT, "Gemini TTS is unavailable (HTTP %ld): %s", status, detail);
    if (key_refused(status, error))
        return vf_fail(err, VF_EPERMANENT, "Gemini rejected the API key (HTTP %ld): %s", status, detail);
    return vf_fail(err, VF_EPERMANENT, "Gemini TTS refused the request (HTTP %ld): %s", status, detail);
}

enum vf_rc gemini_tts_read_answer(long status, const char *body, size_t len, int16_t **pcm,
                                  size_t *n, int *rate, struct vf_err *err)
{
    *pcm = NULL;
    *n = 0;
    json_t *root = json_loadb(body ? body : "", len, 0, NULL);
    enum vf_rc rc;
    if (status != 200) {
        rc = answer_fault(status, root, err);
    } else if (!json_is_object(root)) {
        rc = vf_fail(err, VF_ETRANSIENT, "Gemini TTS answered with something that is not JSON");
    } else {
        json_t *cand = json_array_get(json_object_get(root, "candidates"), 0);
        json_t *parts = json_object_get(json_object_get(cand, "content"), "parts");
        json_t *part, *audio = NULL;
        size_t i;
        json_array_foreach(parts, i, part) {
            audio = json_object_get(part, "inlineData");
            if (!audio)
                audio = json_object_get(part, "inline_data");
            if (audio)
                break;
        }
        const char *block = json_string_value(
            json_object_get(json_object_get(root, "promptFeedback"), "blockReason"));
        const char *finish = json_string_value(json_object_get(cand, "finishReason"));
        if (audio)
            rc = audio_from_part(audio, pcm, n, rate, err);
        else if (!cand)
            rc = vf_fail(err, VF_EPERMANENT, "Gemini TTS refused the text (%s)",
                         block ? block : "no candidates");
        else
            rc = vf_fail(err, VF_ETRANSIENT, "Gemini TTS returned no audio (finishReason %s)",
                         finish ? finish : "none");
    }
    json_decref(root);
    return rc;
}

/* ---- transport ---- */

static int header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

enum vf_rc gemini_tts_speak(const struct vf_config *cfg, const char *voice, const char *text,
                            int16_t **pcm, size_t *n, int *rate, struct vf_err *err)
{
    *pcm = NULL;
    *n = 0;
    if (!cfg || !cfg->gemini_api_key || !cfg->gemini_api_key[0])
        return vf_fail(err, VF_EPERMANENT, "gemini TTS needs gemini_api_key in the configuration");
    if (!header_safe(cfg->gemini_api_key))
        return vf_fail(err, VF_EPERMANENT, "Gemini rejected the API key: it has control characters");
    const char *base = cfg->gemini_base_url && cfg->gemini_base_url[0]
                       ? cfg->gemini_base_url : "https://generativelanguage.googleapis.com";
    const char *model_name = cfg->gemini_tts_model && cfg->gemini_tts_model[0]
                             ? cfg->gemini_tts_model : "gemini-2.5-flash-preview-tts";
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    char model[256], url[2048], key_header[512];
    if (http_uri_encode(model_name, 0, model, sizeof(model)) < 0
        || blen > 1500
        || vf_snprintf(url, sizeof(url), "%.*s/v1beta/models/%s:generateContent", (int)blen, base,
                       model) < 0
        || vf_snprintf(key_header, sizeof(key_header), "x-goog-api-key: %s", cfg->gemini_api_key) < 0)
        return vf_fail(err, VF_EPERMANENT, "gemini_base_url, gemini_tts_model or the key is too long");

    struct buf body;
    buf_init(&body, BUF_MAX_SCRIPT_JSON);
    if (gemini_tts_request_body(text, gemini_tts_voice_known(voice) ? voice : GEMINI_TTS_DEFAULT_VOICE,
                                &body) < 0) {
        buf_free(&body);
        return vf_fail(err, VF_ENOMEM, "out of memory for the TTS request");
    }
    const char *headers[] = { key_header, "Content-Type: application/json", NULL };
    struct http_request rq = {
        .method = "POST", .url = url, .headers = headers, .body = body.data, .body_len = body.len,
        .timeout_ms = GEMINI_TTS_TIMEOUT_MS, .max_response = GEMINI_TTS_MAX_RESPONSE,
        .what = "Gemini TTS",
    };
    struct http_response resp;
    http_response_init(&resp);
    enum vf_rc rc = http_perform(&rq, &resp, err);
    if (rc == VF_ETOOBIG)
        rc = vf_fail(err, VF_EPERMANENT, "Gemini TTS answered with more than %u MB",
                     GEMINI_TTS_MAX_RESPONSE >> 20);
    else if (rc == VF_OK)
        rc = gemini_tts_read_answer(resp.status, resp.body.data, resp.body.len, pcm, n, rate, err);
    http_response_free(&resp);
    buf_free(&body);
    return rc;
}
