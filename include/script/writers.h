#ifndef VF_SCRIPT_WRITERS_H
#define VF_SCRIPT_WRITERS_H
/* The model writers behind script_write. Each one sends a conversation to
 * its provider and hands back the model's answer as text; script_write owns
 * what they share: the prompt, parsing the answer as JSON, validating it and
 * asking again once with the validation errors.
 *
 * The request builders and answer readers are split from the transport so
 * that the fault rules (PROTOCOLS §1.3) can be tested without a network. */
#include <jansson.h>
#include "core/err.h"
#include "script/options.h"

struct vf_config;

/* One request to a model: a system instruction, the user's request, and,
 * when asking again, the model's last answer and what was wrong with it. */
struct model_prompt {
    const char *system;
    const char *user;
    const char *previous;   /* NULL on the first request */
    const char *fix;        /* the follow-up that lists the problems */
};

/* Token counts summed over the requests of one script_write. */
struct model_usage {
    long prompt_tokens;
    long output_tokens;
    long total_tokens;
    int requests;           /* answers read, whatever their status */
};

/* Longest answer text a writer accepts (the script JSON cap). */
#define MODEL_TEXT_MAX (256u << 10)
/* Largest HTTP answer read from a model server. */
#define MODEL_RESPONSE_MAX (2u << 20)
/* maxOutputTokens of a first Gemini request; a MAX_TOKENS answer without a
 * script is asked once more with four times as many. */
#define GEMINI_MAX_OUTPUT_TOKENS 8192

/* ---- prompts (model_prompt.c) ---- */

/* The script's JSON schema, for the model's structured output. portable
 * leaves out the length keywords that OpenAI's strict mode refuses. New
 * reference. */
json_t *script_json_schema(int portable);
/* The system instruction for a high-retention short in the job's language
 * and tone, with the word budget. Caller frees. */
char *script_system_prompt(const struct job_options *opt);
/* The request itself ("Topic: …"). Caller frees. */
char *script_user_prompt(const char *topic, const struct job_options *opt);
/* The follow-up after an unusable answer, naming the problems. Caller frees. */
char *script_fix_prompt(const char *problems);
/* Parses a model's answer as a JSON object, forgiving a Markdown code fence
 * or prose around it. NULL with the reason in why when it is not JSON. */
json_t *model_text_to_json(const char *text, char *why, size_t whylen);
/* Seconds in a protobuf Duration ("48s", "0.5s") or a plain number; -1 when
 * it is neither. */
double model_parse_seconds(const char *s);

/* ---- Gemini (writer_gemini.c) ---- */

/* POSTs {gemini_base_url}/v1beta/models/{gemini_model}:generateContent.
 * On VF_OK *text holds the answer (caller frees). Faults per PROTOCOLS §1.3:
 * VF_ETRANSIENT for 429 (err->retry_after from RetryInfo), 5xx and
 * timeouts; VF_EPERMANENT for a bad key, a daily quota, a blocked prompt,
 * MAX_TOKENS twice, and other refusals. */
enum vf_rc gemini_write(const struct vf_config *cfg, const struct model_prompt *p, char **text,
                        struct model_usage *usage, struct vf_err *err);
/* The generateContent body. New reference. */
json_t *gemini_request_body(const struct vf_config *cfg, const struct model_prompt *p,
                            int max_output_tokens);
/* Reads one answer. VF_OK with *text (caller frees), or with *out_of_tokens
 * set when the model stopped at MAX_TOKENS (then *text is NULL). retry_after
 * is the Retry-After header or NULL. Adds usageMetadata to usage. */
enum vf_rc gemini_read_answer(long status, const char *body, const char *retry_after,
                              char **text, int *out_of_tokens, struct model_usage *usage,
                              struct vf_err *err);

/* ---- OpenAI-compatible (writer_openai.c) ---- */

/* POSTs {openai_base_url}/v1/chat/completions with a strict json_schema
 * response format, and once more with json_object when the server refuses
 * that. Same fault classes as gemini_write. */
enum vf_rc openai_write(const struct vf_config *cfg, const struct model_prompt *p, char **text,
                        struct model_usage *usage, struct vf_err *err);
/* The chat completions body; json_object_only asks for {"type":"json_object"}
 * and puts the schema in the system message. New reference. */
json_t *openai_request_body(const struct vf_config *cfg, const struct model_prompt *p,
                            int json_object_only);
/* Reads one answer. *format_refused is set for a 400 about response_format
 * (the caller may fall back to json_object). */
enum vf_rc openai_read_answer(long status, const char *body, const char *retry_after,
                              char **text, int *format_refused, struct model_usage *usage,
                              struct vf_err *err);

#endif
