#ifndef VF_SSE_POOL_H
#define VF_SSE_POOL_H
/* A few database connections shared by the stream threads, which need one
 * only briefly (who is asking, whose job, replaying missed events): one
 * connection per stream thread would cost the server a connection per
 * viewer. Connections open lazily and are reused; a handle whose connection
 * dropped reconnects by itself (db.h). */
#include "core/err.h"

struct vf_config;
struct db;
struct sse_pool;

#define SSE_POOL_MAX 8
#define SSE_POOL_WAIT_MS 3000

struct sse_pool *sse_pool_new(const struct vf_config *cfg, int max);
/* Closes every idle connection; all must have been put back. */
void sse_pool_free(struct sse_pool *pool);

/* An exclusive connection, waiting up to SSE_POOL_WAIT_MS for one to come
 * back when all are out. NULL with err set (VF_EDB) when none can be had. */
struct db *sse_pool_get(struct sse_pool *pool, struct vf_err *err);
void sse_pool_put(struct sse_pool *pool, struct db *db);

#endif
