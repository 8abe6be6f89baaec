/* The config parser: any file text either loads or stops with file:line. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct vf_config cfg;
    char err[512];
    (void)config_load_string(&cfg, text, "fuzz.conf", err, sizeof(err));
    config_free(&cfg);
    free(text);
    return 0;
}
