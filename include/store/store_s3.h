#ifndef VF_STORE_STORE_S3_H
#define VF_STORE_STORE_S3_H
/* The S3 store: any S3-compatible endpoint (AWS, Cloudflare R2, MinIO),
 * requests signed with SigV4 (store/sigv4.h) and sent through net/http.h.
 * Files at or above s3_multipart_bytes go up as a multipart upload, which is
 * aborted when a part fails. 5xx, 429 and timeouts are retried a few times
 * here and then reported as VF_ETRANSIENT; S3's XML errors become sentences
 * naming the config key to check. */
#include <stddef.h>
#include "core/err.h"

struct vf_config;

#define S3_PRESIGN_EXPIRES_S 300
#define S3_MIN_PART_BYTES (5LL << 20)
#define S3_MAX_PARTS 10000

enum vf_rc store_s3_put_file(const struct vf_config *cfg, const char *key, const char *path,
                             const char *content_type, struct vf_err *err);
enum vf_rc store_s3_put_bytes(const struct vf_config *cfg, const char *key, const void *data,
                              size_t len, const char *content_type, struct vf_err *err);
/* s3_public_base_url + key when set, else a GET URL presigned for
 * S3_PRESIGN_EXPIRES_S seconds. */
enum vf_rc store_s3_media_location(const struct vf_config *cfg, const char *key, char *out,
                                   size_t outlen, struct vf_err *err);
/* Deletes the job's objects (the fixed file names a job has). */
enum vf_rc store_s3_delete_job(const struct vf_config *cfg, long long job_id,
                               struct vf_err *err);

/* Where requests go: base is "scheme://host[:port]" (the bucket is in the
 * host for virtual-hosted style), bucket_path is "/<bucket>" for path style
 * and "" otherwise. */
struct s3_target {
    char base[512];
    char bucket_path[256];
};

enum vf_rc s3_target_of(const struct vf_config *cfg, struct s3_target *t, struct vf_err *err);
/* The decoded request path of key: bucket_path + "/" + s3_prefix + key. */
int s3_object_path(const struct vf_config *cfg, const struct s3_target *t, const char *key,
                   char *out, size_t outlen);
/* Turns a failed S3 answer (status and XML body) into err; returns
 * VF_ETRANSIENT for what a later try may fix, else VF_EPERMANENT. */
enum vf_rc s3_error_of(const struct vf_config *cfg, const char *op, const char *key, long status,
                       const char *body, struct vf_err *err);
/* Part size for a multipart upload of total bytes: at least 5 MiB and small
 * enough for 10,000 parts. */
long long s3_part_size(long long total);
/* Copies the text of the first <tag>…</tag> in xml (entities decoded).
 * Returns 1 found, 0 not. */
int s3_xml_value(const char *xml, const char *tag, char *out, size_t outlen);

#endif
