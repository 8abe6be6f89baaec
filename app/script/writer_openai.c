/* The OpenAI-compatible writer: POST {base}/v1/chat/completions, which
 * OpenAI, Ollama, llama.cpp's server and vLLM all answer. It asks for the
 * script's schema as a strict json_schema response format; a server that
 * refuses that with a 400 about response_format is asked once more for a
 * plain json_object, with the schema spelled out in the system message. */
#include "script/writers.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "net/http.h"
#include "script/model_prompt.h"

#define WHO "The OpenAI-compatible server"

json_t *openai_request_body(const struct vf_config *cfg, const struct model_prompt *p,
                            int json_object_only)
{
    json_t *format;
    struct buf system;
    buf_init(&system, MODEL_TEXT_MAX);
    buf_puts(&system, p->system);
    if (json_object_only) {
        /* json_object mode needs the word JSON in the messages and gives the
         * model no schema, so the schema goes into the instruction. */
        json_t *s = script_json_schema(1);
        char *schema = s ? json_dumps(s, JSON_COMPACT) : NULL;
        json_decref(s);
        if (schema)
            buf_printf(&system, "\nThe JSON object follows this JSON Schema: %s", schema);
        free(schema);
        format = json_pack("{s:s}", "type", "json_object");
    } else {
        format = json_pack("{s:s, s:{s:s, s:b, s:o}}", "type", "json_schema", "json_schema",
                           "name", "short_video_script", "strict", 1,
                           "schema", script_json_schema(1));
    }
    json_t *messages = json_array();
    json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "system", "content",
                                              system.data ? system.data : p->system));
    json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", p->user));
    if (p->previous && p->fix) {
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "assistant",
                                                  "content", p->previous));
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content",
                                                  p->fix));
    }
    buf_free(&system);
    return json_pack("{s:s, s:o, s:f, s:o}", "model", cfg->openai_model, "messages", messages,
                     "temperature", cfg->script_temperature, "response_format", format);
}

static void add_usage(json_t *u, struct model_usage *usage)
{
    if (!json_is_object(u))
        return;
    long prompt = (long)json_integer_value(json_object_get(u, "prompt_tokens"));
    long output = (long)json_integer_value(json_object_get(u, "completion_tokens"));
    long total = (long)json_integer_value(json_object_get(u, "total_tokens"));
    usage->prompt_tokens += prompt;
    usage->output_tokens += output;
    usage->total_tokens += total ? total : prompt + output;
}

/* The error object of OpenAI ({"error":{"message","type","param","code"}}),
 * llama.cpp (code is the status) or Ollama ({"error":"text"}). */
struct openai_error {
    char message[MODEL_UPSTREAM_MESSAGE_MAX];
    char param[64];
    char code[64];
};

static void read_openai_error(const char *body, struct openai_error *oe)
{
    memset(oe, 0, sizeof(*oe));
    json_t *root = body ? json_loads(body, 0, NULL) : NULL;
    json_t *e = json_object_get(root, "error");
    const char *s;
    if (json_is_string(e)) {
        vf_utf8_copy(oe->message, json_string_value(e), sizeof(oe->message));
    } else {
        if ((s = json_string_value(json_object_get(e, "message"))))
            vf_utf8_copy(oe->message, s, sizeof(oe->message));
        if ((s = json_string_value(json_object_get(e, "param"))))
            vf_strlcpy(oe->param, s, sizeof(oe->param));
        if ((s = json_string_value(json_object_get(e, "code"))))
            vf_strlcpy(oe->code, s, sizeof(oe->code));
    }
    if (!oe->message[0] && !e && (s = json_string_value(json_object_get(root, "detail"))))
        vf_utf8_copy(oe->message, s, sizeof(oe->message));    /* vLLM's FastAPI errors */
    json_decref(root);
}

static int about_response_format(const struct openai_error *oe, const char *body)
{
    if (strstr(oe->param, "response_format"))
        return 1;
    /* The message is cut short; look at the whole body for the field. */
    return body && (strstr(body, "response_format") || strstr(body, "json_schema"));
}

static enum vf_rc openai_error(long status, const char *body, const char *retry_after,
                               int *format_refused, struct vf_err *err)
{
    struct openai_error oe;
    read_openai_error(body, &oe);
    const struct model_fault f = {
        .who = WHO, .key_setting = "openai_api_key",
        .status = status, .status_name = "", .message = oe.message,
        .key_rejected = 0, .key_reason = "",
        .quota_used_up = strcmp(oe.code, "insufficient_quota") == 0
                             ? WHO "'s quota is used up (insufficient_quota); check the "
                               "account's plan and billing"
                             : NULL,
        .retry_delay = -1, .retry_after = retry_after,
    };
    /* A 400 is a plain refusal, never a key or quota fault: it may be the
     * strict schema the server does not take. */
    if (status == 400 && about_response_format(&oe, body))
        *format_refused = 1;
    return model_fault_classify(&f, err);
}

enum vf_rc openai_read_answer(long status, const char *body, const char *retry_after,
                              char **text, int *format_refused, struct model_usage *usage,
                              struct vf_err *err)
{
    *text = NULL;
    *format_refused = 0;
    usage->requests++;
    if (status != 200)
        return openai_error(status, body, retry_after, format_refused, err);

    json_t *root = body ? json_loads(body, 0, NULL) : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        return vf_fail(err, VF_ETRANSIENT, WHO " answered HTTP 200 with a body that is not JSON");
    }
    add_usage(json_object_get(root, "usage"), usage);
    enum vf_rc rc = VF_OK;
    json_t *choice = json_array_get(json_object_get(root, "choices"), 0);
    json_t *message = json_object_get(choice, "message");
    const char *content = json_string_value(json_object_get(message, "content"));
    const char *refusal = json_string_value(json_object_get(message, "refusal"));
    const char *finish = json_string_value(json_object_get(choice, "finish_reason"));
    if (refusal && *refusal) {
        char why[MODEL_UPSTREAM_MESSAGE_MAX];
        vf_utf8_copy(why, refusal, sizeof(why));
        rc = vf_fail(err, VF_EPERMANENT, "The model refused to write the script: %s", why);
    } else if (finish && strcmp(finish, "content_filter") == 0) {
        rc = vf_fail(err, VF_EPERMANENT, "The model's content filter stopped the script");
    } else if (!content || !*content) {
        rc = vf_fail(err, VF_EPERMANENT, WHO " answered without any text (finish_reason %.32s)",
                     finish ? finish : "none");
    } else if (strlen(content) > MODEL_TEXT_MAX) {
        rc = vf_fail(err, VF_EPERMANENT, "The model's script is longer than %u bytes",
                     MODEL_TEXT_MAX);
    } else if (!(*text = strdup(content))) {
        rc = vf_fail(err, VF_ENOMEM, "out of memory reading the model's answer");
    }
    json_decref(root);
    return rc;
}

static enum vf_rc build_url(const struct vf_config *cfg, char *url, size_t len,
                            struct vf_err *err)
{
    const char *base = cfg->openai_base_url ? cfg->openai_base_url : "";
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    if (!blen)
        return vf_fail(err, VF_EPERMANENT, "the openai script writer is not configured "
                       "(openai_base_url is empty)");
    /* "https://api.openai.com" and "https://api.openai.com/v1" both work. */
    int has_v1 = blen >= 3 && strncmp(base + blen - 3, "/v1", 3) == 0;
    if (vf_snprintf(url, len, "%.*s%s/chat/completions", (int)blen, base,
                    has_v1 ? "" : "/v1") != 0)
        return vf_fail(err, VF_EPERMANENT, "openai_base_url is too long");
    return VF_OK;
}

enum vf_rc openai_write(const struct vf_config *cfg, const struct model_prompt *p, char **text,
                        struct model_usage *usage, struct vf_err *err)
{
    *text = NULL;
    char url[1024];
    enum vf_rc rc = build_url(cfg, url, sizeof(url), err);
    if (rc != VF_OK)
        return rc;
    const char *key = cfg->openai_api_key ? cfg->openai_api_key : "";
    if (strpbrk(key, "\r\n"))
        return vf_fail(err, VF_EPERMANENT, "openai_api_key holds a line break");

    struct buf auth;
    buf_init(&auth, 4096);
    if (*key && buf_printf(&auth, "Authorization: Bearer %s", key) != 0) {
        buf_free(&auth);
        return vf_fail(err, VF_EPERMANENT, "openai_api_key is too long");
    }
    /* Local servers (Ollama, llama.cpp) need no key: no header then. */
    const char *headers[] = {"Content-Type: application/json", auth.data, NULL};
    const struct model_endpoint ep = {WHO, url, headers, cfg->script_timeout_s * 1000L};

    for (int json_object_only = 0;; json_object_only = 1) {
        json_t *body = openai_request_body(cfg, p, json_object_only);
        char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!payload) {
            rc = vf_fail(err, VF_ENOMEM, "out of memory building the model request");
            break;
        }
        struct http_response resp;
        char retry_after[32];
        rc = model_post(&ep, payload, &resp, retry_after, sizeof(retry_after), err);
        free(payload);
        int format_refused = 0;
        if (rc == VF_OK) {
            rc = openai_read_answer(resp.status, resp.body.data,
                                    retry_after[0] ? retry_after : NULL, text, &format_refused,
                                    usage, err);
            if (rc != VF_OK)
                model_redact_key(err, WHO, key);
        }
        http_response_free(&resp);
        if (rc == VF_OK || !format_refused || json_object_only)
            break;
    }
    buf_free(&auth);
    return rc;
}
