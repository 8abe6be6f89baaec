#ifndef VF_SSE_POLLER_H
#define VF_SSE_POLLER_H
/* The one thread that reads new job_events rows and publishes them to the
 * hub. Its database load is one small query per poll interval, however many
 * streams are open.
 *
 * Ids come from AUTO_INCREMENT, which hands them out at insert time, not at
 * commit time: a row with a lower id can become visible after a higher one.
 * Publishing past such a hole would lose the late row for every stream (they
 * resume by id), so the poller publishes only the contiguous run after its
 * high-water mark and holds back what follows a hole for up to
 * SSE_GAP_GRACE_MS; a hole still open by then (a rolled-back insert) is
 * given up. */
#include "db/jobs.h"

struct vf_config;
struct sse_hub;

#define SSE_POLL_BATCH 500
#define SSE_GAP_GRACE_MS 1000

struct sse_gap {
    long long first_missing;    /* 0 when no hole is being waited for */
    long long since_ms;
};

/* Of n rows with ascending ids all above high_water, how many may be
 * published now (a prefix). Updates the hole being waited for. */
int sse_publishable_prefix(struct sse_gap *gap, long long high_water,
                           const struct job_event *rows, int n, long long now_ms,
                           long long grace_ms);

/* After many streams close, their buffers sit free in malloc's arenas but
 * stay resident; the poller hands them back to the kernel (malloc_trim)
 * once the number of open streams has fallen SSE_TRIM_DROP below its peak
 * since the last trim, or to zero. It waits SSE_TRIM_DELAY_MS first: the
 * threads of ended streams return their malloc caches when they exit,
 * just after they leave the hub. */
#define SSE_TRIM_DROP 32
#define SSE_TRIM_DELAY_MS 500

struct sse_trim {
    int peak;           /* most streams open since the last trim */
    long long due_ms;   /* when the pending trim may run; 0: none pending */
};

/* Records the number of open streams; returns 1 when it is time to trim. */
int sse_trim_due(struct sse_trim *t, int streams, long long now_ms);

/* Every SSE_AUTH_CHECK_MS, while streams are open, the poller asks whether
 * their credentials still let their holders in and ends the streams of a
 * logged-out session, an expired one or a revoked token: one query per
 * AUTH_LIVE_BATCH distinct credentials, not per stream. */
#define SSE_AUTH_CHECK_MS 2000

struct sse_poller_args {
    const struct vf_config *cfg;
    struct sse_hub *hub;
};

/* Thread body: runs until the hub stops. arg is a struct sse_poller_args. */
void *sse_poller_main(void *arg);

/* Monotonic milliseconds. */
long long sse_now_ms(void);

#endif
