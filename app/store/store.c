/* The store front: picks the backend from the config. */
#include "store/store.h"

#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "store/store_local.h"
#include "store/store_s3.h"

void store_job_key(char *key, size_t keylen, long long job_id, const char *name)
{
    snprintf(key, keylen, "jobs/%lld/%s", job_id, name);
}

static int is_local(const struct vf_config *cfg)
{
    return strcmp(cfg->store, "local") == 0;
}

static int is_s3(const struct vf_config *cfg)
{
    return strcmp(cfg->store, "s3") == 0;
}

enum vf_rc store_put_file(const struct vf_config *cfg, const char *key, const char *path,
                          const char *content_type, struct vf_err *err)
{
    if (is_local(cfg))
        return store_local_put_file(cfg->local_store_dir, key, path, err);
    if (is_s3(cfg))
        return store_s3_put_file(cfg, key, path, content_type, err);
    return vf_fail(err, VF_EPERMANENT, "store %s is not available", cfg->store);
}

enum vf_rc store_put_bytes(const struct vf_config *cfg, const char *key, const void *data,
                           size_t len, const char *content_type, struct vf_err *err)
{
    if (is_local(cfg))
        return store_local_put_bytes(cfg->local_store_dir, key, data, len, err);
    if (is_s3(cfg))
        return store_s3_put_bytes(cfg, key, data, len, content_type, err);
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
    if (is_s3(cfg)) {
        *is_redirect = 1;
        return store_s3_media_location(cfg, key, out, outlen, err);
    }
    return vf_fail(err, VF_EPERMANENT, "store %s is not available", cfg->store);
}

enum vf_rc store_delete_job(const struct vf_config *cfg, long long job_id, struct vf_err *err)
{
    if (is_local(cfg))
        return store_local_delete_job(cfg->local_store_dir, job_id, err);
    if (is_s3(cfg))
        return store_s3_delete_job(cfg, job_id, err);
    return vf_fail(err, VF_EPERMANENT, "store %s is not available", cfg->store);
}
