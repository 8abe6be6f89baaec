/* A request body as vf-api sees it: JSON parsing, then the create-job checks
 * (topic cleaning, options parsing) and the login fields. */
#include <stdlib.h>
#include <string.h>

#include "api/request.h"
#include "core/config.h"
#include "fuzz.h"
#include "script/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vf_config cfg;
    static int ready;
    if (!ready) {
        char err[128];
        config_load_string(&cfg, "", "fuzz", err, sizeof(err));
        ready = 1;
    }
    struct api_request rq = {0};
    struct api_response rs;
    api_response_init(&rs);
    rq.content_type = "application/json";
    rq.body = (const char *)data;
    rq.body_len = size;
    json_t *body = api_parse_json_body(&rq, &rs);
    if (body) {
        json_t *topic = json_object_get(body, "topic");
        if (json_is_string(topic)) {
            char why[160];
            free(api_clean_topic(json_string_value(topic), why, sizeof(why)));
        }
        struct job_options opt;
        struct field_error fe;
        job_options_defaults(&opt, &cfg);
        json_t *options = json_object_get(body, "options");
        if (job_options_parse(options, &opt, &fe) == 0)
            json_decref(job_options_to_json(&opt));
        json_decref(body);
    }
    api_response_free(&rs);
    return 0;
}
