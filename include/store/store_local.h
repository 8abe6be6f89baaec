#ifndef VF_STORE_STORE_LOCAL_H
#define VF_STORE_STORE_LOCAL_H
/* The local store: files under a folder, written atomically (temp + rename). */
#include <stddef.h>
#include "core/err.h"

enum vf_rc store_local_put_file(const char *root, const char *key, const char *path,
                                struct vf_err *err);
enum vf_rc store_local_put_bytes(const char *root, const char *key, const void *data, size_t len,
                                 struct vf_err *err);
enum vf_rc store_local_delete_job(const char *root, long long job_id, struct vf_err *err);
/* Creates dir and its parents (mode 0755). Returns 0 or -1 (errno). */
int store_mkdirs(const char *dir);

#endif
