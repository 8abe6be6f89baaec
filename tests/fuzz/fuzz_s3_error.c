/* An S3 answer's XML body as the store reads it: the error sentence for any
 * status and body, and the single-value reader used for UploadId.
 * Input: two status bytes, then the body. */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "fuzz.h"
#include "store/store_s3.h"

static const long statuses[] = {301, 400, 403, 404, 408, 409, 429, 500, 503};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vf_config cfg;
    static int ready;
    if (!ready) {
        char err[128];
        config_load_string(&cfg, "store = s3\ns3_bucket = fuzz-bucket\n", "fuzz", err,
                           sizeof(err));
        ready = 1;
    }
    if (size < 2)
        return 0;
    long status = data[0] < 128 ? statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))]
                                : (long)((data[0] << 8 | data[1]) % 1000);
    char *body = malloc(size - 2 + 1);
    if (!body)
        return 0;
    memcpy(body, data + 2, size - 2);
    body[size - 2] = '\0';
    struct vf_err err = {0};
    (void)s3_error_of(&cfg, "PUT", "jobs/1/video.mp4", status, body, &err);
    static const char *const tags[] = {"UploadId", "ETag", "Code", "Message", ""};
    char small[8], value[256];
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        (void)s3_xml_value(body, tags[i], value, sizeof(value));
        (void)s3_xml_value(body, tags[i], small, sizeof(small));
    }
    free(body);
    return 0;
}
