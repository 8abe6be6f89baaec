#ifndef VF_SCRIPT_MODEL_PROMPT_H
#define VF_SCRIPT_MODEL_PROMPT_H
/* What the model writers share about faults (PROTOCOLS §1.3): one POST to a
 * model server with its transport faults sorted, and the rules that turn a
 * non-200 answer into a transient or permanent error with a sentence a
 * person can act on. Each writer reads its own error body (Google's shape,
 * OpenAI's) into a model_fault; the sorting and the wording live here. The
 * prompts themselves are declared in script/writers.h. */
#include <stddef.h>
#include "core/err.h"

struct http_response;

/* Longest upstream message quoted in an error. */
#define MODEL_UPSTREAM_MESSAGE_MAX 200

/* Where a writer sends its requests. */
struct model_endpoint {
    const char *who;                /* for messages: "Gemini" */
    const char *url;
    const char *const *headers;     /* NULL-terminated "Name: value" lines */
    long timeout_ms;                /* the whole request */
};

/* POSTs a JSON payload. VF_OK when an answer came back, whatever its
 * status: resp holds it and retry_after its Retry-After header ("" when
 * there is none). VF_ETRANSIENT for timeouts and unreachable servers; an
 * answer over MODEL_RESPONSE_MAX is VF_EPERMANENT. resp is initialised
 * here; the caller frees it whatever the result. */
enum vf_rc model_post(const struct model_endpoint *ep, const char *payload,
                      struct http_response *resp, char *retry_after, size_t retry_after_len,
                      struct vf_err *err);

/* A non-200 answer, as the writer read it from the provider's error body. */
struct model_fault {
    const char *who;            /* "Gemini", "The OpenAI-compatible server" */
    const char *key_setting;    /* the config key to check for a bad key: "gemini_api_key" */
    long status;                /* HTTP status */
    const char *status_name;    /* the gRPC status ("UNAVAILABLE"), or "" */
    const char *message;        /* the server's own message, cut short, or "" */
    int key_rejected;           /* the body says the key is bad, whatever the status */
    const char *key_reason;     /* named after the status for a bad key, or "": never the
                                 * server's message, which may quote the key */
    const char *quota_used_up;  /* for a 429 that waiting will not fix: the sentence to
                                 * show; NULL otherwise */
    double retry_delay;         /* seconds the body asks to wait; -1 when it names none */
    const char *retry_after;    /* the Retry-After header, or NULL */
};

/* Sorts a non-200 answer and fills err (text and http_status):
 * - 401, 403 or key_rejected: VF_EPERMANENT, naming key_setting;
 * - 429 with quota_used_up: VF_EPERMANENT with that sentence;
 * - 429: VF_ETRANSIENT, err->retry_after from retry_delay, else from the
 *   Retry-After header, when either is positive;
 * - 408 and 5xx: VF_ETRANSIENT;
 * - any other: VF_EPERMANENT ("refused the request"). */
enum vf_rc model_fault_classify(const struct model_fault *f, struct vf_err *err);

/* An upstream message could quote what was sent: when err's text holds the
 * key, it is replaced by one that says only who refused and the status. */
void model_redact_key(struct vf_err *err, const char *who, const char *key);

#endif
