/* What a model server sends back: the Gemini and OpenAI-compatible answer
 * readers (any status, any body, any Retry-After), the Gemini TTS reader,
 * then the answer text as script_write treats it (model_text_to_json, the
 * validator). Input: one selector byte, two status bytes, a Retry-After
 * line, then the body. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "fuzz.h"
#include "render/tts_gemini.h"
#include "script/script.h"
#include "script/writers.h"

/* The statuses the readers tell apart, so that the fuzzer reaches each. */
static const long statuses[] = {200, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504};

static void check_text(const char *text, const struct vf_config *cfg)
{
    char why[256];
    json_t *script = model_text_to_json(text, why, sizeof(why));
    if (!script)
        return;
    struct job_options opt;
    job_options_defaults(&opt, cfg);
    struct script_errors errs = {0};
    if (script_validate(script, &opt, &errs) == 0)
        script_normalize(script, &opt);
    json_decref(script);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vf_config cfg;
    static int ready;
    if (!ready) {
        char err[128];
        config_load_string(&cfg, "", "fuzz", err, sizeof(err));
        ready = 1;
    }
    if (size < 3)
        return 0;
    unsigned which = data[0] % 5;
    long status = data[1] < 128 ? statuses[data[1] % (sizeof(statuses) / sizeof(statuses[0]))]
                                : (long)((data[1] << 8 | data[2]) % 1000);
    char *text = malloc(size - 3 + 1);
    if (!text)
        return 0;
    memcpy(text, data + 3, size - 3);
    text[size - 3] = '\0';
    const char *retry_after = NULL;
    char *body = text;
    char *nl = strchr(text, '\n');
    if (nl) {
        *nl = '\0';
        retry_after = text[0] ? text : NULL;
        body = nl + 1;
    }

    struct model_usage usage = {0};
    struct vf_err err = {0};
    char *answer = NULL;
    int flag = 0;
    switch (which) {
    case 0:
        if (gemini_read_answer(status, body, retry_after, &answer, &flag, &usage, &err) == VF_OK &&
            answer)
            check_text(answer, &cfg);
        break;
    case 1:
        if (openai_read_answer(status, body, retry_after, &answer, &flag, &usage, &err) == VF_OK)
            check_text(answer, &cfg);
        break;
    case 2: {
        int16_t *pcm = NULL;
        size_t n = 0;
        int rate = 0;
        if (gemini_tts_read_answer(status, body, strlen(body), &pcm, &n, &rate, &err) == VF_OK &&
            n)
            (void)pcm[n - 1];
        free(pcm);
        break;
    }
    case 3:
        check_text(body, &cfg);
        break;
    default:
        (void)model_parse_seconds(body);
        if (retry_after)
            (void)model_parse_seconds(retry_after);
        break;
    }
    free(answer);
    free(text);
    return 0;
}
