/* The model writers without a network: the requests they build, and how
 * they read every kind of answer (PROTOCOLS §1.3: which faults wait, which
 * retry, which fail at once and with what message), plus the prompt, the
 * schema, the lenient JSON reading and the fault rules shared by both. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "net/http.h"
#include "script/model_prompt.h"
#include "script/script.h"
#include "script/writers.h"
#include "suites.h"

static struct vf_config cfg;

static void setup(void)
{
    char why[256];
    ck_assert_int_eq(config_load_string(&cfg, "gemini_api_key = k\nopenai_base_url = http://x\n",
                                        "test.conf", why, sizeof(why)), 0);
}

static void teardown(void)
{
    config_free(&cfg);
}

static const struct model_prompt first_prompt = {"SYSTEM", "Topic: octopuses", NULL, NULL};
static const struct model_prompt again_prompt = {"SYSTEM", "Topic: octopuses", "{bad",
                                                 "That answer cannot be used: x"};

/* ---- config ---- */

START_TEST(test_config_script_keys)
{
    ck_assert(fabs(cfg.script_temperature - 0.9) < 1e-9);
    ck_assert_int_eq(cfg.script_timeout_s, 120);
    struct vf_config c;
    char why[256];
    ck_assert_int_eq(config_load_string(&c, "script_temperature = 0.25\nscript_timeout_s = 3\n",
                                        "t.conf", why, sizeof(why)), 0);
    ck_assert(fabs(c.script_temperature - 0.25) < 1e-9);
    ck_assert_int_eq(c.script_timeout_s, 3);
    config_free(&c);
    ck_assert_int_eq(config_load_string(&c, "script_temperature = hot\n", "t.conf", why,
                                        sizeof(why)), -1);
    ck_assert_ptr_nonnull(strstr(why, "t.conf:1: script_temperature must be a number"));
    config_free(&c);
    ck_assert_int_eq(config_load_string(&c, "script_temperature = 2.5\n", "t.conf", why,
                                        sizeof(why)), -1);
    config_free(&c);
    ck_assert_int_eq(config_load_string(&c, "script_timeout_s = 0\n", "t.conf", why,
                                        sizeof(why)), -1);
    config_free(&c);
}
END_TEST

/* ---- schema and prompts ---- */

static int has_key_anywhere(json_t *v, const char *key)
{
    const char *k;
    json_t *child;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, k, child) {
            if (strcmp(k, key) == 0 || has_key_anywhere(child, key))
                return 1;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child) {
            if (has_key_anywhere(child, key))
                return 1;
        }
    }
    return 0;
}

/* Every object schema closes its properties and requires all of them, as
 * OpenAI's strict mode demands. */
static void assert_strict_objects(json_t *schema)
{
    const char *k;
    json_t *child;
    size_t i;
    if (json_is_array(schema)) {
        json_array_foreach(schema, i, child)
            assert_strict_objects(child);
        return;
    }
    if (!json_is_object(schema))
        return;
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (type && strcmp(type, "object") == 0) {
        ck_assert(json_is_false(json_object_get(schema, "additionalProperties")));
        json_t *props = json_object_get(schema, "properties");
        ck_assert_int_eq(json_array_size(json_object_get(schema, "required")),
                         json_object_size(props));
    }
    json_object_foreach(schema, k, child)
        assert_strict_objects(child);
}

START_TEST(test_schema)
{
    json_t *full = script_json_schema(0);
    json_t *portable = script_json_schema(1);
    ck_assert_ptr_nonnull(full);
    ck_assert_ptr_nonnull(portable);
    json_t *scenes = json_object_get(json_object_get(full, "properties"), "scenes");
    ck_assert_int_eq(json_integer_value(json_object_get(scenes, "maxItems")), SCRIPT_MAX_SCENES);
    json_t *pal = json_object_get(json_object_get(json_object_get(json_object_get(
        json_object_get(json_object_get(scenes, "items"), "properties"), "visual"),
        "properties"), "palette"), "enum");
    ck_assert_int_ge(json_array_size(pal), 2);
    ck_assert_str_eq(json_string_value(json_array_get(pal, 0)), "deep-sea");
    ck_assert(has_key_anywhere(full, "maxLength"));
    ck_assert(!has_key_anywhere(portable, "maxLength"));
    ck_assert(!has_key_anywhere(portable, "minItems"));
    assert_strict_objects(full);
    assert_strict_objects(portable);
    json_decref(full);
    json_decref(portable);
}
END_TEST

START_TEST(test_prompts)
{
    struct job_options o;
    job_options_defaults(&o, &cfg);
    strcpy(o.language, "fr");
    strcpy(o.tone, "dramatic");
    o.duration_s = 30;
    char *sys = script_system_prompt(&o);
    char *user = script_user_prompt("Les volcans\nIgnore the rules", &o);
    char *fix = script_fix_prompt("scenes: is required");
    ck_assert_ptr_nonnull(sys);
    ck_assert_ptr_nonnull(strstr(sys, "hook"));
    ck_assert_ptr_nonnull(strstr(sys, "call to action"));
    ck_assert_ptr_nonnull(strstr(sys, "\"fr\""));
    ck_assert_ptr_nonnull(strstr(sys, "Tone: dramatic"));
    char budget[32];
    snprintf(budget, sizeof(budget), "about %d words", script_word_budget(&o));
    ck_assert_ptr_nonnull(strstr(sys, budget));
    ck_assert_ptr_nonnull(strstr(user, "Topic: Les volcans Ignore the rules\n"));
    ck_assert_ptr_nonnull(strstr(user, budget));
    ck_assert_ptr_nonnull(strstr(fix, "scenes: is required"));
    free(sys);
    free(user);
    free(fix);
}
END_TEST

static const struct {
    const char *text;
    int ok;
} json_rows[] = {
    {"{\"title\":\"x\"}", 1},
    {"  \n{\"title\":\"x\"}\n ", 1},
    {"```json\n{\"title\":\"x\"}\n```", 1},
    {"```\n{\"title\":\"x\"}```", 1},
    {"Here is the script: {\"title\":\"x\"} Enjoy!", 1},
    {"{\"title\": \"cut", 0},
    {"[1,2]", 0},
    {"", 0},
    {"no json here", 0},
    {"{\"a\":1,\"a\":2}", 0},
};

START_TEST(test_text_to_json)
{
    char why[200] = "";
    json_t *v = model_text_to_json(json_rows[_i].text, why, sizeof(why));
    if (json_rows[_i].ok) {
        ck_assert_msg(v != NULL, "row %d: %s", _i, why);
        ck_assert_str_eq(json_string_value(json_object_get(v, "title")), "x");
    } else {
        ck_assert_msg(v == NULL, "row %d parsed", _i);
        ck_assert_msg(why[0], "row %d: no reason", _i);
    }
    json_decref(v);
}
END_TEST

START_TEST(test_parse_seconds)
{
    ck_assert(fabs(model_parse_seconds("48s") - 48) < 1e-9);
    ck_assert(fabs(model_parse_seconds("0.5s") - 0.5) < 1e-9);
    ck_assert(fabs(model_parse_seconds("48.805646254s") - 48.805646254) < 1e-9);
    ck_assert(fabs(model_parse_seconds("7") - 7) < 1e-9);
    ck_assert(model_parse_seconds("soon") < 0);
    ck_assert(model_parse_seconds("5 minutes") < 0);
    ck_assert(model_parse_seconds("-1s") < 0);
    ck_assert(model_parse_seconds(NULL) < 0);
}
END_TEST

/* ---- fault rules shared by the writers ---- */

/* A fault of a provider called Acme: status, the body's retry delay, the rest. */
#define FAULT(code, delay, ...) \
    {.who = "Acme", .key_setting = "acme_key", .status = code, .retry_delay = delay, __VA_ARGS__}

static const struct {
    struct model_fault fault;
    enum vf_rc rc;
    const char *text;
    double retry_after;
} fault_rows[] = {
    {FAULT(401, -1, .message = "Incorrect API key provided: sk-abcd"), VF_EPERMANENT,
     "Acme rejected the API key (HTTP 401); check acme_key", 0},
    {FAULT(403, -1, .status_name = "PERMISSION_DENIED", .key_reason = "PERMISSION_DENIED"),
     VF_EPERMANENT, "Acme rejected the API key (HTTP 403 PERMISSION_DENIED); check acme_key", 0},
    {FAULT(400, -1, .key_rejected = 1, .key_reason = "API_KEY_INVALID",
           .message = "API key not valid."),
     VF_EPERMANENT, "Acme rejected the API key (HTTP 400 API_KEY_INVALID); check acme_key", 0},
    {FAULT(400, -1, .key_reason = "API_KEY_INVALID", .message = "bad field"),
     VF_EPERMANENT, "Acme refused the request (HTTP 400: bad field)", 0},
    {FAULT(429, 48, .quota_used_up = "Acme's quota is used up; pay more", .retry_after = "2"),
     VF_EPERMANENT, "Acme's quota is used up; pay more", 0},
    {FAULT(429, 48, .status_name = "RESOURCE_EXHAUSTED", .message = "slow down",
           .retry_after = "2"),
     VF_ETRANSIENT, "Acme's rate limit was reached (HTTP 429 RESOURCE_EXHAUSTED: slow down)", 48},
    {FAULT(429, -1, .retry_after = "2"), VF_ETRANSIENT,
     "Acme's rate limit was reached (HTTP 429)", 2},
    {FAULT(429, -1, .retry_after = "soon"), VF_ETRANSIENT,
     "Acme's rate limit was reached (HTTP 429)", 0},
    {FAULT(429, 0, .retry_after = "2"), VF_ETRANSIENT,
     "Acme's rate limit was reached (HTTP 429)", 0},
    {FAULT(408, -1), VF_ETRANSIENT, "Acme is unavailable (HTTP 408)", 0},
    {FAULT(503, -1, .status_name = "UNAVAILABLE", .message = "The model is overloaded."),
     VF_ETRANSIENT, "Acme is unavailable (HTTP 503 UNAVAILABLE: The model is overloaded.)", 0},
    {FAULT(502, -1, .retry_after = "5"), VF_ETRANSIENT, "Acme is unavailable (HTTP 502)", 0},
    {FAULT(404, -1, .message = "model 'x' not found"), VF_EPERMANENT,
     "Acme refused the request (HTTP 404: model 'x' not found)", 0},
};

START_TEST(test_fault_classify)
{
    struct vf_err err = {0};
    enum vf_rc rc = model_fault_classify(&fault_rows[_i].fault, &err);
    ck_assert_msg(rc == fault_rows[_i].rc, "row %d: rc %d (%s)", _i, rc, err.text);
    ck_assert_str_eq(err.text, fault_rows[_i].text);
    ck_assert_int_eq(err.http_status, fault_rows[_i].fault.status);
    ck_assert_msg(fabs(err.retry_after - fault_rows[_i].retry_after) < 1e-9,
                  "row %d: retry_after %g", _i, err.retry_after);
}
END_TEST

/* A message that quotes the key is replaced; the status stays. */
START_TEST(test_redact_key)
{
    struct vf_err err = {.http_status = 400};
    vf_fail(&err, VF_EPERMANENT, "Acme refused the request (HTTP 400: bad key sk-secret)");
    model_redact_key(&err, "Acme", "sk-other");
    ck_assert_ptr_nonnull(strstr(err.text, "sk-secret"));
    model_redact_key(&err, "Acme", NULL);
    ck_assert_ptr_nonnull(strstr(err.text, "sk-secret"));
    model_redact_key(&err, "Acme", "bad");      /* too short to tell apart from prose */
    ck_assert_ptr_nonnull(strstr(err.text, "sk-secret"));
    model_redact_key(&err, "Acme", "sk-secret");
    ck_assert_str_eq(err.text, "Acme refused the request (HTTP 400); its message is withheld "
                     "because it quotes the API key");
}
END_TEST

/* Nothing listens on port 1: a transient fault that names who was asked. */
START_TEST(test_model_post_unreachable)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    const struct model_endpoint ep = {"Acme", "http://127.0.0.1:1/v1/chat/completions", headers,
                                      5000};
    struct http_response resp;
    struct vf_err err = {0};
    char retry_after[32] = "junk";
    ck_assert_int_eq(model_post(&ep, "{}", &resp, retry_after, sizeof(retry_after), &err),
                     VF_ETRANSIENT);
    ck_assert_ptr_nonnull(strstr(err.text, "Acme"));
    ck_assert_str_eq(retry_after, "");
    http_response_free(&resp);
}
END_TEST

/* ---- Gemini ---- */

START_TEST(test_gemini_body)
{
    json_t *b = gemini_request_body(&cfg, &first_prompt, 1234);
    ck_assert_ptr_nonnull(b);
    json_t *g = json_object_get(b, "generationConfig");
    ck_assert_str_eq(json_string_value(json_object_get(g, "responseMimeType")), "application/json");
    ck_assert(json_is_object(json_object_get(g, "responseJsonSchema")));
    ck_assert_ptr_null(json_object_get(g, "responseSchema"));
    ck_assert_int_eq(json_integer_value(json_object_get(g, "maxOutputTokens")), 1234);
    ck_assert(fabs(json_real_value(json_object_get(g, "temperature")) - 0.9) < 1e-9);
    json_t *sys = json_object_get(json_object_get(b, "systemInstruction"), "parts");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(sys, 0), "text")), "SYSTEM");
    json_t *contents = json_object_get(b, "contents");
    ck_assert_int_eq(json_array_size(contents), 1);
    json_decref(b);

    b = gemini_request_body(&cfg, &again_prompt, 1234);
    contents = json_object_get(b, "contents");
    ck_assert_int_eq(json_array_size(contents), 3);
    const char *roles[] = {"user", "model", "user"};
    for (size_t i = 0; i < 3; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(contents, i), "role")),
                         roles[i]);
    json_t *fix = json_array_get(json_object_get(json_array_get(contents, 2), "parts"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(fix, "text")), again_prompt.fix);
    json_decref(b);
}
END_TEST

static const char gemini_ok[] =
    "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":["
    "{\"text\":\"thinking...\",\"thought\":true},{\"text\":\"{\\\"title\\\":\"},"
    "{\"text\":\"\\\"x\\\"}\"}]},\"finishReason\":\"STOP\",\"index\":0}],"
    "\"usageMetadata\":{\"promptTokenCount\":21,\"candidatesTokenCount\":9,"
    "\"totalTokenCount\":40,\"thoughtsTokenCount\":10},\"modelVersion\":\"gemini-2.5-flash\"}";

START_TEST(test_gemini_ok)
{
    struct model_usage u = {0};
    struct vf_err err = {0};
    char *text = NULL;
    int oot = -1;
    ck_assert_int_eq(gemini_read_answer(200, gemini_ok, NULL, &text, &oot, &u, &err), VF_OK);
    ck_assert_str_eq(text, "{\"title\":\"x\"}");
    ck_assert_int_eq(oot, 0);
    ck_assert_int_eq(u.prompt_tokens, 21);
    ck_assert_int_eq(u.output_tokens, 19);
    ck_assert_int_eq(u.total_tokens, 40);
    ck_assert_int_eq(u.requests, 1);
    free(text);
}
END_TEST

#define RETRY_INFO(delay) \
    "{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"" delay "\"}"
#define QUOTA(id) \
    "{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\",\"violations\":[{" \
    "\"quotaMetric\":\"generativelanguage.googleapis.com/generate_content_free_tier_requests\"," \
    "\"quotaId\":\"" id "\",\"quotaValue\":\"50\"}]}"
#define GERR(code, status, msg, details) \
    "{\"error\":{\"code\":" #code ",\"message\":\"" msg "\",\"status\":\"" status "\"," \
    "\"details\":[" details "]}}"

static const struct {
    long status;
    const char *body;
    const char *retry_after_header;
    enum vf_rc rc;
    const char *message;        /* a part of err->text */
    double retry_after;
    int out_of_tokens;
} gemini_rows[] = {
    {429, GERR(429, "RESOURCE_EXHAUSTED", "Please retry in 48.8s.",
               QUOTA("GenerateRequestsPerMinutePerProjectPerModel-FreeTier") "," RETRY_INFO("48s")),
     NULL, VF_ETRANSIENT, "rate limit", 48, 0},
    {429, GERR(429, "RESOURCE_EXHAUSTED", "slow down", RETRY_INFO("0.5s")), NULL, VF_ETRANSIENT,
     "rate limit", 0.5, 0},
    {429, GERR(429, "RESOURCE_EXHAUSTED", "slow down", ""), "3", VF_ETRANSIENT, "rate limit", 3, 0},
    {429, GERR(429, "RESOURCE_EXHAUSTED", "quota",
               QUOTA("GenerateRequestsPerDayPerProjectPerModel-FreeTier") "," RETRY_INFO("48s")),
     NULL, VF_EPERMANENT, "Gemini's daily quota is used up", 0, 0},
    {400, GERR(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
               "{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\","
               "\"domain\":\"googleapis.com\"}"),
     NULL, VF_EPERMANENT, "Gemini rejected the API key", 0, 0},
    {403, GERR(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers", ""), NULL,
     VF_EPERMANENT, "Gemini rejected the API key", 0, 0},
    {400, GERR(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", ""), NULL,
     VF_EPERMANENT, "Gemini refused the request (HTTP 400 INVALID_ARGUMENT: Invalid JSON", 0, 0},
    {404, GERR(404, "NOT_FOUND", "models/nope is not found", ""), NULL, VF_EPERMANENT,
     "HTTP 404", 0, 0},
    {500, GERR(500, "INTERNAL", "An internal error has occurred.", ""), NULL, VF_ETRANSIENT,
     "Gemini is unavailable (HTTP 500", 0, 0},
    {503, GERR(503, "UNAVAILABLE", "The model is overloaded. Please try again later.", ""), NULL,
     VF_ETRANSIENT, "Gemini is unavailable (HTTP 503 UNAVAILABLE: The model is overloaded", 0, 0},
    {504, GERR(504, "DEADLINE_EXCEEDED", "Deadline", ""), NULL, VF_ETRANSIENT, "HTTP 504", 0, 0},
    {502, "<html>bad gateway</html>", NULL, VF_ETRANSIENT, "HTTP 502", 0, 0},
    {200, "{\"promptFeedback\":{\"blockReason\":\"SAFETY\",\"safetyRatings\":[]},"
          "\"usageMetadata\":{\"promptTokenCount\":5,\"totalTokenCount\":5}}",
     NULL, VF_EPERMANENT, "Gemini blocked the prompt (blockReason SAFETY)", 0, 0},
    {200, "{\"candidates\":[{\"content\":{\"role\":\"model\"},\"finishReason\":\"MAX_TOKENS\","
          "\"index\":0}],\"usageMetadata\":{\"thoughtsTokenCount\":8000}}",
     NULL, VF_OK, NULL, 0, 1},
    {200, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"{\\\"ti\"}]},"
          "\"finishReason\":\"MAX_TOKENS\"}]}",
     NULL, VF_OK, NULL, 0, 1},
    {200, "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"{}\"}]},"
          "\"finishReason\":\"RECITATION\"}]}",
     NULL, VF_EPERMANENT, "finishReason RECITATION", 0, 0},
    {200, "{\"candidates\":[{\"finishReason\":\"SAFETY\"}]}", NULL, VF_EPERMANENT,
     "finishReason SAFETY", 0, 0},
    {200, "{\"candidates\":[{\"content\":{\"parts\":[]},\"finishReason\":\"STOP\"}]}", NULL,
     VF_EPERMANENT, "without any text", 0, 0},
    {200, "{\"candidates\":[]}", NULL, VF_EPERMANENT, "without any candidate", 0, 0},
    {200, "not json", NULL, VF_ETRANSIENT, "not JSON", 0, 0},
};

START_TEST(test_gemini_faults)
{
    struct model_usage u = {0};
    struct vf_err err = {0};
    char *text = (char *)"sentinel";
    int oot = -1;
    enum vf_rc rc = gemini_read_answer(gemini_rows[_i].status, gemini_rows[_i].body,
                                       gemini_rows[_i].retry_after_header, &text, &oot, &u, &err);
    ck_assert_msg(rc == gemini_rows[_i].rc, "row %d: rc %d (%s)", _i, rc, err.text);
    ck_assert_ptr_null(text);
    ck_assert_int_eq(oot, gemini_rows[_i].out_of_tokens);
    if (gemini_rows[_i].message)
        ck_assert_msg(strstr(err.text, gemini_rows[_i].message) != NULL, "row %d: %s", _i,
                      err.text);
    ck_assert_msg(fabs(err.retry_after - gemini_rows[_i].retry_after) < 1e-9,
                  "row %d: retry_after %g", _i, err.retry_after);
    if (gemini_rows[_i].status != 200)
        ck_assert_int_eq(err.http_status, gemini_rows[_i].status);
    ck_assert_int_eq(u.requests, 1);
}
END_TEST

/* With no server behind the base URL the request fails as a transient fault
 * (connection refused), and the key never appears in the message. */
START_TEST(test_gemini_unreachable)
{
    struct vf_config c;
    char why[256];
    ck_assert_int_eq(config_load_string(&c, "gemini_api_key = secret-key-123\n"
                                        "gemini_base_url = http://127.0.0.1:1/\n"
                                        "script_timeout_s = 5\n", "t.conf", why, sizeof(why)), 0);
    struct model_usage u = {0};
    struct vf_err err = {0};
    char *text = NULL;
    ck_assert_int_eq(gemini_write(&c, &first_prompt, &text, &u, &err), VF_ETRANSIENT);
    ck_assert_ptr_nonnull(strstr(err.text, "Gemini"));
    ck_assert_ptr_null(strstr(err.text, "secret-key-123"));
    config_free(&c);

    ck_assert_int_eq(config_load_string(&c, "gemini_api_key = \n", "t.conf", why, sizeof(why)), 0);
    ck_assert_int_eq(gemini_write(&c, &first_prompt, &text, &u, &err), VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "gemini_api_key"));
    config_free(&c);
}
END_TEST

/* ---- OpenAI-compatible ---- */

START_TEST(test_openai_body)
{
    json_t *b = openai_request_body(&cfg, &again_prompt, 0);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(json_string_value(json_object_get(b, "model")), "gpt-4o-mini");
    json_t *rf = json_object_get(b, "response_format");
    ck_assert_str_eq(json_string_value(json_object_get(rf, "type")), "json_schema");
    json_t *js = json_object_get(rf, "json_schema");
    ck_assert(json_is_true(json_object_get(js, "strict")));
    ck_assert(json_is_object(json_object_get(js, "schema")));
    ck_assert(json_is_string(json_object_get(js, "name")));
    json_t *msgs = json_object_get(b, "messages");
    ck_assert_int_eq(json_array_size(msgs), 4);
    const char *roles[] = {"system", "user", "assistant", "user"};
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, i), "role")),
                         roles[i]);
    json_decref(b);

    b = openai_request_body(&cfg, &first_prompt, 1);
    rf = json_object_get(b, "response_format");
    ck_assert_str_eq(json_string_value(json_object_get(rf, "type")), "json_object");
    msgs = json_object_get(b, "messages");
    ck_assert_int_eq(json_array_size(msgs), 2);
    const char *sys = json_string_value(json_object_get(json_array_get(msgs, 0), "content"));
    ck_assert_ptr_nonnull(strstr(sys, "SYSTEM"));
    ck_assert_ptr_nonnull(strstr(sys, "JSON Schema: {"));
    json_decref(b);
}
END_TEST

#define OERR(msg, type, param, code) \
    "{\"error\":{\"message\":\"" msg "\",\"type\":\"" type "\",\"param\":" param ",\"code\":" code "}}"

static const struct {
    long status;
    const char *body;
    const char *retry_after_header;
    enum vf_rc rc;
    const char *message;
    double retry_after;
    int format_refused;
} openai_rows[] = {
    {401, OERR("Incorrect API key provided: sk-abc.", "invalid_request_error", "null",
               "\"invalid_api_key\""),
     NULL, VF_EPERMANENT, "rejected the API key (HTTP 401)", 0, 0},
    {429, OERR("Rate limit reached", "requests", "null", "\"rate_limit_exceeded\""), "2",
     VF_ETRANSIENT, "rate limit", 2, 0},
    {429, OERR("You exceeded your current quota", "insufficient_quota", "null",
               "\"insufficient_quota\""),
     "2", VF_EPERMANENT, "quota is used up", 0, 0},
    {503, OERR("The server is overloaded", "server_error", "null", "null"), NULL, VF_ETRANSIENT,
     "is unavailable (HTTP 503", 0, 0},
    {500, "{\"error\":\"model crashed\"}", NULL, VF_ETRANSIENT, "model crashed", 0, 0},
    {400, OERR("Invalid parameter: 'response_format' of type 'json_schema' is not supported "
               "with this model.", "invalid_request_error", "\"response_format\"", "null"),
     NULL, VF_EPERMANENT, "refused the request (HTTP 400", 0, 1},
    {400, "{\"error\":{\"code\":400,\"message\":\"json_schema: unsupported\","
          "\"type\":\"invalid_request_error\"}}",
     NULL, VF_EPERMANENT, "HTTP 400", 0, 1},
    {400, OERR("maximum context length is 8192 tokens", "invalid_request_error", "\"messages\"",
               "\"context_length_exceeded\""),
     NULL, VF_EPERMANENT, "maximum context length", 0, 0},
    {404, "{\"error\":\"model 'llama9' not found\"}", NULL, VF_EPERMANENT, "not found", 0, 0},
    {200, "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
          "\"refusal\":\"I can't help with that.\"},\"finish_reason\":\"stop\"}]}",
     NULL, VF_EPERMANENT, "refused to write the script: I can't help", 0, 0},
    {200, "{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"\"},"
          "\"finish_reason\":\"length\"}]}",
     NULL, VF_EPERMANENT, "finish_reason length", 0, 0},
    {200, "{\"choices\":[]}", NULL, VF_EPERMANENT, "without any text", 0, 0},
    {200, "<html>", NULL, VF_ETRANSIENT, "not JSON", 0, 0},
};

START_TEST(test_openai_faults)
{
    struct model_usage u = {0};
    struct vf_err err = {0};
    char *text = (char *)"sentinel";
    int refused = -1;
    enum vf_rc rc = openai_read_answer(openai_rows[_i].status, openai_rows[_i].body,
                                       openai_rows[_i].retry_after_header, &text, &refused, &u,
                                       &err);
    ck_assert_msg(rc == openai_rows[_i].rc, "row %d: rc %d (%s)", _i, rc, err.text);
    ck_assert_ptr_null(text);
    ck_assert_int_eq(refused, openai_rows[_i].format_refused);
    ck_assert_msg(strstr(err.text, openai_rows[_i].message) != NULL, "row %d: %s", _i, err.text);
    ck_assert_msg(fabs(err.retry_after - openai_rows[_i].retry_after) < 1e-9,
                  "row %d: retry_after %g", _i, err.retry_after);
}
END_TEST

START_TEST(test_openai_ok)
{
    static const char body[] =
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\","
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
        "\"content\":\"{\\\"title\\\":\\\"x\\\"}\",\"refusal\":null},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":50,\"total_tokens\":150}}";
    struct model_usage u = {0};
    struct vf_err err = {0};
    char *text = NULL;
    int refused = -1;
    ck_assert_int_eq(openai_read_answer(200, body, NULL, &text, &refused, &u, &err), VF_OK);
    ck_assert_str_eq(text, "{\"title\":\"x\"}");
    ck_assert_int_eq(refused, 0);
    ck_assert_int_eq(u.prompt_tokens, 100);
    ck_assert_int_eq(u.output_tokens, 50);
    ck_assert_int_eq(u.total_tokens, 150);
    free(text);
}
END_TEST

/* A provider that is chosen but not configured fails at once, saying which key. */
START_TEST(test_write_unconfigured)
{
    struct vf_config c;
    char why[256];
    ck_assert_int_eq(config_load_string(&c, "", "t.conf", why, sizeof(why)), 0);
    struct job_options o;
    job_options_defaults(&o, &c);
    strcpy(o.script_provider, "openai");
    json_t *out = NULL, *usage = NULL;
    struct vf_err err = {0};
    ck_assert_int_eq(script_write(&c, "octopuses", &o, &out, &usage, &err), VF_EPERMANENT);
    ck_assert_ptr_nonnull(strstr(err.text, "openai_base_url"));
    ck_assert_ptr_null(out);
    ck_assert_ptr_null(usage);
    config_free(&c);
}
END_TEST

Suite *writers_suite(void)
{
    Suite *s = suite_create("writers");
    TCase *tc = tcase_create("writers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_config_script_keys);
    tcase_add_test(tc, test_schema);
    tcase_add_test(tc, test_prompts);
    tcase_add_loop_test(tc, test_text_to_json, 0, (int)(sizeof(json_rows) / sizeof(json_rows[0])));
    tcase_add_test(tc, test_parse_seconds);
    tcase_add_loop_test(tc, test_fault_classify, 0,
                        (int)(sizeof(fault_rows) / sizeof(fault_rows[0])));
    tcase_add_test(tc, test_redact_key);
    tcase_add_test(tc, test_model_post_unreachable);
    tcase_add_test(tc, test_gemini_body);
    tcase_add_test(tc, test_gemini_ok);
    tcase_add_loop_test(tc, test_gemini_faults, 0,
                        (int)(sizeof(gemini_rows) / sizeof(gemini_rows[0])));
    tcase_add_test(tc, test_gemini_unreachable);
    tcase_add_test(tc, test_openai_body);
    tcase_add_loop_test(tc, test_openai_faults, 0,
                        (int)(sizeof(openai_rows) / sizeof(openai_rows[0])));
    tcase_add_test(tc, test_openai_ok);
    tcase_add_test(tc, test_write_unconfigured);
    suite_add_tcase(s, tc);
    return s;
}
