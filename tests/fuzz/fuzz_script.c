/* A script from anywhere (a model, a person's PUT): the one validator, then
 * normalising what it accepted. */
#include "core/config.h"
#include "fuzz.h"
#include "script/script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vf_config cfg;
    static int ready;
    if (!ready) {
        char err[128];
        config_load_string(&cfg, "", "fuzz", err, sizeof(err));
        ready = 1;
    }
    json_t *script = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!script)
        return 0;
    struct job_options opt;
    job_options_defaults(&opt, &cfg);
    struct script_errors errs = {0};
    if (script_validate(script, &opt, &errs) == 0) {
        script_normalize(script, &opt);
    } else {
        char sentence[512];
        script_errors_format(&errs, sentence, sizeof(sentence));
    }
    json_decref(script);
    return 0;
}
