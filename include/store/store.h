#ifndef VF_STORE_STORE_H
#define VF_STORE_STORE_H
/* Where artifacts live: `local` (a folder nginx serves) or `s3`. Keys are
 * deterministic ("jobs/42/video.mp4"), so a step that runs again overwrites
 * its own object instead of adding a second one. */
#include <stddef.h>
#include "core/err.h"

struct vf_config;

/* Stores the file at path under key. Idempotent. */
enum vf_rc store_put_file(const struct vf_config *cfg, const char *key, const char *path,
                          const char *content_type, struct vf_err *err);
enum vf_rc store_put_bytes(const struct vf_config *cfg, const char *key, const void *data,
                           size_t len, const char *content_type, struct vf_err *err);
/* Where a client gets the object. local: an internal nginx path for
 * X-Accel-Redirect (*is_redirect = 0); s3: a URL for a 302 (*is_redirect = 1). */
enum vf_rc store_media_location(const struct vf_config *cfg, const char *key, char *out,
                                size_t outlen, int *is_redirect, struct vf_err *err);
/* Removes every object under the job's prefix ("jobs/42/"). */
enum vf_rc store_delete_job(const struct vf_config *cfg, long long job_id, struct vf_err *err);
/* Fills key with "jobs/<id>/<name>". */
void store_job_key(char *key, size_t keylen, long long job_id, const char *name);

#endif
