#ifndef VF_SSE_STREAM_H
#define VF_SSE_STREAM_H
/* One event-stream request, from its parameters to its last byte: route and
 * method, who is asking, whose job, then replay from the table and live
 * events from the hub until the client leaves or the server stops. */
#include <fcgiapp.h>

struct vf_config;
struct sse_hub;
struct sse_pool;

struct sse_server {
    const struct vf_config *cfg;
    struct sse_hub *hub;
    struct sse_pool *pool;
};

/* How often a waiting stream looks whether nginx closed its connection. */
#define SSE_CLIENT_CHECK_MS 1000
/* Rows read from the table per replay query. */
#define SSE_REPLAY_BATCH 200
/* Events written between two flushes while streaming live. */
#define SSE_LIVE_BATCH 64

/* Serves an accepted request to its end; the caller then finishes it. */
void sse_serve(struct sse_server *srv, FCGX_Request *req);

/* Seconds a refused client is told to wait (Retry-After). */
#define SSE_BUSY_RETRY_AFTER_S "5"

/* Answers 503 too_many_streams: the thread that accepted this request is
 * the last free one, and it must stay free to answer, not hold a stream. */
void sse_refuse_busy(FCGX_Request *req);

#endif
