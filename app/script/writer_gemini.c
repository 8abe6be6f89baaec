/* The Gemini writer: one generateContent request with the script's JSON
 * schema as the response schema (PROTOCOLS §1). Faults are sorted by the
 * rules of §1.3: rate limits wait for RetryInfo, overload and timeouts are
 * retried by the worker, a bad key, a daily quota and a blocked prompt fail
 * at once. The key is sent in a header and never appears in a message. */
#include "script/writers.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "net/http.h"
#include "script/model_prompt.h"

json_t *gemini_request_body(const struct vf_config *cfg, const struct model_prompt *p,
                            int max_output_tokens)
{
    json_t *contents = json_array();
    json_array_append_new(contents, json_pack("{s:s, s:[{s:s}]}", "role", "user", "parts",
                                              "text", p->user));
    if (p->previous && p->fix) {
        json_array_append_new(contents, json_pack("{s:s, s:[{s:s}]}", "role", "model",
                                                  "parts", "text", p->previous));
        json_array_append_new(contents, json_pack("{s:s, s:[{s:s}]}", "role", "user",
                                                  "parts", "text", p->fix));
    }
    return json_pack("{s:{s:[{s:s}]}, s:o, s:{s:f, s:i, s:s, s:o}}",
                     "systemInstruction", "parts", "text", p->system,
                     "contents", contents,
                     "generationConfig",
                     "temperature", cfg->script_temperature,
                     "maxOutputTokens", max_output_tokens,
                     "responseMimeType", "application/json",
                     "responseJsonSchema", script_json_schema(0));
}

static void add_usage(json_t *meta, struct model_usage *usage)
{
    if (!json_is_object(meta))
        return;
    long prompt = (long)json_integer_value(json_object_get(meta, "promptTokenCount"));
    long output = (long)json_integer_value(json_object_get(meta, "candidatesTokenCount"));
    /* Thinking is billed as output. */
    output += (long)json_integer_value(json_object_get(meta, "thoughtsTokenCount"));
    long total = (long)json_integer_value(json_object_get(meta, "totalTokenCount"));
    usage->prompt_tokens += prompt;
    usage->output_tokens += output;
    usage->total_tokens += total ? total : prompt + output;
}

/* What the standard Google error body says. */
struct google_error {
    char status[48];                        /* "RESOURCE_EXHAUSTED" */
    char message[MODEL_UPSTREAM_MESSAGE_MAX];
    char reason[64];                        /* ErrorInfo.reason: "API_KEY_INVALID" */
    int per_day;                            /* a QuotaFailure quotaId names a daily quota */
    char quota_id[96];
    double retry_delay;                     /* RetryInfo, -1 when absent */
};

static void read_google_error(const char *body, struct google_error *ge)
{
    memset(ge, 0, sizeof(*ge));
    ge->retry_delay = -1;
    json_t *root = body ? json_loads(body, 0, NULL) : NULL;
    json_t *e = json_object_get(root, "error");
    const char *s;
    if ((s = json_string_value(json_object_get(e, "status"))))
        vf_strlcpy(ge->status, s, sizeof(ge->status));
    if ((s = json_string_value(json_object_get(e, "message"))))
        vf_utf8_copy(ge->message, s, sizeof(ge->message));
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(e, "details"), i, d) {
        const char *type = json_string_value(json_object_get(d, "@type"));
        if (!type)
            continue;
        if (strstr(type, "google.rpc.ErrorInfo")) {
            if ((s = json_string_value(json_object_get(d, "reason"))))
                vf_strlcpy(ge->reason, s, sizeof(ge->reason));
        } else if (strstr(type, "google.rpc.RetryInfo")) {
            ge->retry_delay = model_parse_seconds(
                json_string_value(json_object_get(d, "retryDelay")));
        } else if (strstr(type, "google.rpc.QuotaFailure")) {
            size_t k;
            json_t *v;
            json_array_foreach(json_object_get(d, "violations"), k, v) {
                const char *id = json_string_value(json_object_get(v, "quotaId"));
                if (!id)
                    continue;
                if (!ge->quota_id[0] || strstr(id, "PerDay"))
                    vf_strlcpy(ge->quota_id, id, sizeof(ge->quota_id));
                if (strstr(id, "PerDay"))
                    ge->per_day = 1;
            }
        }
    }
    json_decref(root);
}

static enum vf_rc gemini_error(long status, const char *body, const char *retry_after,
                               struct vf_err *err)
{
    struct google_error ge;
    read_google_error(body, &ge);
    char quota[sizeof(ge.quota_id) + 96];
    if (ge.per_day)
        vf_snprintf(quota, sizeof(quota), "Gemini's daily quota is used up (%s); try again "
                    "tomorrow, or raise the quota of the key", ge.quota_id);
    const struct model_fault f = {
        .who = "Gemini", .key_setting = "gemini_api_key",
        .status = status, .status_name = ge.status, .message = ge.message,
        /* A bad key comes back as a 400: its ErrorInfo reason says so. */
        .key_rejected = status == 400 && (strcmp(ge.reason, "API_KEY_INVALID") == 0 ||
                                          strstr(ge.message, "API key not valid")),
        .key_reason = ge.reason[0] ? ge.reason : ge.status,
        .quota_used_up = ge.per_day ? quota : NULL,
        .retry_delay = ge.retry_delay, .retry_after = retry_after,
    };
    return model_fault_classify(&f, err);
}

enum vf_rc gemini_read_answer(long status, const char *body, const char *retry_after,
                              char **text, int *out_of_tokens, struct model_usage *usage,
                              struct vf_err *err)
{
    *text = NULL;
    *out_of_tokens = 0;
    usage->requests++;
    if (status != 200)
        return gemini_error(status, body, retry_after, err);

    json_t *root = body ? json_loads(body, 0, NULL) : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        return vf_fail(err, VF_ETRANSIENT, "Gemini answered HTTP 200 with a body that is not JSON");
    }
    add_usage(json_object_get(root, "usageMetadata"), usage);
    enum vf_rc rc = VF_OK;
    json_t *candidates = json_object_get(root, "candidates");
    json_t *cand = json_array_get(candidates, 0);
    if (!json_is_object(cand)) {
        const char *block = json_string_value(
            json_object_get(json_object_get(root, "promptFeedback"), "blockReason"));
        if (block)
            rc = vf_fail(err, VF_EPERMANENT,
                         "Gemini blocked the prompt (blockReason %.64s); try another topic or "
                         "wording", block);
        else
            rc = vf_fail(err, VF_EPERMANENT, "Gemini answered without any candidate");
        json_decref(root);
        return rc;
    }

    const char *finish = json_string_value(json_object_get(cand, "finishReason"));
    if (finish && strcmp(finish, "MAX_TOKENS") == 0) {
        /* No script, or a cut-off one: either way not worth parsing. */
        *out_of_tokens = 1;
        json_decref(root);
        return VF_OK;
    }

    struct buf b;
    buf_init(&b, MODEL_TEXT_MAX);
    size_t i;
    json_t *part;
    json_array_foreach(json_object_get(json_object_get(cand, "content"), "parts"), i, part) {
        if (json_is_true(json_object_get(part, "thought")))
            continue;
        const char *t = json_string_value(json_object_get(part, "text"));
        if (t && buf_puts(&b, t) != 0)
            break;
    }
    if (b.toobig) {
        rc = vf_fail(err, VF_EPERMANENT, "Gemini's script is longer than %u bytes",
                     MODEL_TEXT_MAX);
    } else if (finish && strcmp(finish, "STOP") != 0 &&
               strcmp(finish, "FINISH_REASON_UNSPECIFIED") != 0) {
        rc = vf_fail(err, VF_EPERMANENT, "Gemini stopped writing the script (finishReason %.64s)",
                     finish);
    } else if (!b.data || !b.len) {
        rc = vf_fail(err, VF_EPERMANENT, "Gemini answered without any text");
    } else {
        *text = buf_take(&b);
    }
    buf_free(&b);
    json_decref(root);
    return rc;
}

/* A header value from the config must stay on its one line. */
static int header_safe(const char *s)
{
    return !strpbrk(s, "\r\n");
}

static enum vf_rc build_url(const struct vf_config *cfg, char *url, size_t len,
                            struct vf_err *err)
{
    const char *model = cfg->gemini_model;
    if (strncmp(model, "models/", 7) == 0)
        model += 7;
    char enc[256];
    if (!*model || http_uri_encode(model, 0, enc, sizeof(enc)) != 0)
        return vf_fail(err, VF_EPERMANENT, "gemini_model \"%.64s\" is not a model name", model);
    size_t blen = strlen(cfg->gemini_base_url);
    while (blen > 0 && cfg->gemini_base_url[blen - 1] == '/')
        blen--;
    if (vf_snprintf(url, len, "%.*s/v1beta/models/%s:generateContent", (int)blen,
                    cfg->gemini_base_url, enc) != 0)
        return vf_fail(err, VF_EPERMANENT, "gemini_base_url is too long");
    return VF_OK;
}

enum vf_rc gemini_write(const struct vf_config *cfg, const struct model_prompt *p, char **text,
                        struct model_usage *usage, struct vf_err *err)
{
    *text = NULL;
    const char *key = cfg->gemini_api_key ? cfg->gemini_api_key : "";
    if (!*key)
        return vf_fail(err, VF_EPERMANENT, "the gemini script writer is not configured "
                       "(gemini_api_key is empty)");
    if (!header_safe(key))
        return vf_fail(err, VF_EPERMANENT, "gemini_api_key holds a line break");
    char url[1024];
    enum vf_rc rc = build_url(cfg, url, sizeof(url), err);
    if (rc != VF_OK)
        return rc;

    struct buf key_header;
    buf_init(&key_header, 4096);
    if (buf_printf(&key_header, "x-goog-api-key: %s", key) != 0) {
        buf_free(&key_header);
        return vf_fail(err, VF_EPERMANENT, "gemini_api_key is too long");
    }
    const char *headers[] = {key_header.data, "Content-Type: application/json", NULL};
    const struct model_endpoint ep = {"Gemini", url, headers, cfg->script_timeout_s * 1000L};

    int max_tokens = GEMINI_MAX_OUTPUT_TOKENS;
    for (int round = 0;; round++) {
        json_t *body = gemini_request_body(cfg, p, max_tokens);
        char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!payload) {
            rc = vf_fail(err, VF_ENOMEM, "out of memory building the Gemini request");
            break;
        }
        struct http_response resp;
        char retry_after[32];
        rc = model_post(&ep, payload, &resp, retry_after, sizeof(retry_after), err);
        free(payload);
        int out_of_tokens = 0;
        if (rc == VF_OK) {
            rc = gemini_read_answer(resp.status, resp.body.data,
                                    retry_after[0] ? retry_after : NULL, text, &out_of_tokens,
                                    usage, err);
            if (rc != VF_OK)
                model_redact_key(err, "Gemini", key);
        }
        http_response_free(&resp);
        if (rc != VF_OK || !out_of_tokens)
            break;
        if (round > 0) {
            rc = vf_fail(err, VF_EPERMANENT,
                         "Gemini ran out of output tokens twice (finishReason MAX_TOKENS, the "
                         "second time with maxOutputTokens %d) before writing the script",
                         max_tokens);
            break;
        }
        /* Thinking can use up the budget before any text: once more, larger. */
        max_tokens *= 4;
    }
    buf_free(&key_header);
    return rc;
}
