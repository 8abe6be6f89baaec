/* The config parser: any file text either loads or stops with file:line;
 * then what is derived from a loaded config's text (the S3 target and
 * object path, the Sheets id column). */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "fuzz.h"
#include "ledger/ledger_sheets.h"
#include "store/store_s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct vf_config cfg;
    char err[512];
    if (config_load_string(&cfg, text, "fuzz.conf", err, sizeof(err)) == 0) {
        char out[64];
        (void)ledger_sheets_id_range(cfg.sheets_range, out, sizeof(out));
        struct s3_target t;
        struct vf_err e = {0};
        char path[256];
        if (s3_target_of(&cfg, &t, &e) == VF_OK)
            (void)s3_object_path(&cfg, &t, "jobs/1/video.mp4", path, sizeof(path));
    }
    config_free(&cfg);
    free(text);
    return 0;
}
