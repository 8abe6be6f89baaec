#ifndef VF_SCRIPT_SCRIPT_H
#define VF_SCRIPT_SCRIPT_H
/* The script: the contract between the writers, the person editing and the
 * renderer (DESIGN §5). It is kept as JSON (jansson) everywhere; this module
 * owns its one validator and the writers behind one interface.
 *
 * {"title":"…","language":"en",
 *  "scenes":[{"narration":"1–400 chars","caption":null,
 *             "visual":{"keywords":["…"],"palette":"sunset","media":null}}],
 *  "hashtags":["#…"],"description":"…"}
 */
#include <jansson.h>
#include <stddef.h>
#include "core/err.h"
#include "script/options.h"

#define SCRIPT_MAX_SCENES 20
#define SCRIPT_MAX_NARRATION 400
#define SCRIPT_MAX_ERRORS 16

struct script_errors {
    int count;
    struct field_error items[SCRIPT_MAX_ERRORS];    /* field like "scenes[2].narration" */
};

/* Validates a script against the job's options (duration and voice rate decide
 * the minimum narration length). Returns 0 when valid, else -1 with errs
 * filled. Never modifies the script. */
int script_validate(json_t *script, const struct job_options *opt, struct script_errors *errs);

/* The errors as one sentence ("scenes[2].narration: must be 1–400 characters; ...").
 * Writes into out (always terminated). */
void script_errors_format(const struct script_errors *errs, char *out, size_t outlen);

/* Normalises a valid script in place: fills missing optional keys with their
 * defaults (caption null, visual.keywords [], palette from options, media null,
 * language from options). */
void script_normalize(json_t *script, const struct job_options *opt);

/* Spoken words in a narration: whitespace-separated words that hold a letter
 * or digit; each Chinese, Japanese or Thai character counts as half a word,
 * since those scripts do not separate words. -1 for invalid UTF-8. */
int script_count_words(const char *text);

/* Words per second of narration the voice speaks (used for budgets). */
double script_words_per_second(const struct job_options *opt);
/* Word budget for the job's duration. */
int script_word_budget(const struct job_options *opt);

struct vf_config;

/* Writes a script for the topic with the provider in opt->script_provider.
 * On success returns VF_OK and *out holds a new, validated, normalised script.
 * Transient failures return VF_ETRANSIENT (retry later), permanent ones
 * VF_EPERMANENT or VF_EINVAL; err->text says what went wrong.
 * usage (may be NULL) receives token usage as a new JSON object when known. */
enum vf_rc script_write(const struct vf_config *cfg, const char *topic,
                        const struct job_options *opt, json_t **out, json_t **usage,
                        struct vf_err *err);

/* The offline writer: deterministic, no network. Always succeeds for a valid
 * topic; returns a new script (not yet validated). */
json_t *script_template_write(const char *topic, const struct job_options *opt);

#endif
