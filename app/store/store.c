/* The store front: picks the backend from the config. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "store/store_local.h"

void store_job_key(char *key, size_t keylen, long long job_id, const char *name)
{
    snprintf(key, keylen, "jobs/%lld/%s", job_id, name);
}

static int is_local(const struct vf_config *cfg)
{
    return strcmp(cfg->store, "local") == 0;
}

enum vf_rc store_put_file(const struct vf_config *cfg, const char *key, const char *path,
                          const char *content_type, struct vf_err *err)
{
    (void)content_type;
    if (is_local(cfg))
        return store_local_put_file(cfg->local_store_dir, key, path, err);
    return vf_fail(err, VF_EPERMANENT, "store %s is not available", cfg->store);
}

enum vf_rc store_put_bytes(const struct vf_config *cfg, const char *key, const void *data,
                           size_t len, const char *content_type, struct vf_err *err)
{
    (void)content_type;
    if (is_local(cfg))
        return store_local_put_bytes(cfg->local_store_dir, key, data, len, err);
    return vf_fail(err, VF_EPERMANENT, "store %s is not available", cfg->store);
}

enum vf_rc store_media_location(const struct vf_config *cfg, const char *key, char *out,
                                size_t outlen, int *is_redirect, struct vf_err *err)
{
    if (is_local(cfg)) {
        *is_redirect = 0;
        if (snprintf(out, outlen, "/media/%s", key) >= (int)outlen)
            return vf_fail(err, VF_EINVAL, "media key too long");
        return VF_OK;
    }
    return vf_fail(err, VF_EPERMANENT, "store %s is not available", cfg->store);
}

enum vf_rc store_delete_job(const struct vf_config *cfg, long long job_id, struct vf_err *err)
{
    if (is_local(cfg))
        return store_local_delete_job(cfg->local_store_dir, job_id, err);
    return vf_fail(err, VF_EPERMANENT, "store %s is not available", cfg->store);
}
