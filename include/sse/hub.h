#ifndef VF_SSE_HUB_H
#define VF_SSE_HUB_H
/* The fan-out point between the one poller thread and the stream threads.
 *
 * The poller formats each new job_events row once into a shared, reference
 * counted struct sse_event and publishes a batch together with the hub's new
 * high-water mark: every event with an id <= high water has been published
 * (or given up as a gap that never filled). Each subscribed stream has a
 * bounded queue; the poller puts into it only what the stream may see.
 * A stream that falls too far behind is marked lagged instead of growing
 * its queue: it drops what was queued and reads the missed rows from the
 * table again (sse_hub_resync), so memory stays bounded and nothing is lost.
 *
 * Subscribing and resyncing return the high-water mark taken under the same
 * lock that empties the queue, so the table holds everything up to it and
 * the queue everything after it: no gap and no duplicate. */
#include <stdatomic.h>
#include <stddef.h>

#include "auth/auth.h"

/* Queues start small and double up to this many events. */
#define SSE_SUB_QUEUE_MAX 1024

struct sse_event {
    long long id, job_id, owner_id;
    atomic_int refs;
    size_t len;
    char text[];    /* the wire text, NUL-terminated */
};

/* Which events a stream may see. */
struct sse_filter {
    long long owner_id;     /* -1: any owner (an admin, or a job already checked) */
    long long job_id;       /* 0: any job */
};

struct sse_hub;
struct sse_sub;

/* A new event with one reference, or NULL when out of memory. */
struct sse_event *sse_event_new(long long id, long long job_id, long long owner_id,
                                const char *text, size_t len);
void sse_event_release(struct sse_event *ev);
int sse_filter_matches(const struct sse_filter *f, long long owner_id, long long job_id);

struct sse_hub *sse_hub_new(void);
/* Only after every subscriber is gone and the poller has stopped. */
void sse_hub_free(struct sse_hub *hub);

/* ---- the poller ---- */

/* The poller knows where the table ends: streams may subscribe from now on. */
void sse_hub_start(struct sse_hub *hub, long long high_water);
/* Queues the events (ascending ids, all <= high_water) for the streams that
 * may see them and raises the high-water mark. Steals the caller's
 * reference of each event. */
void sse_hub_publish(struct sse_hub *hub, struct sse_event **events, int n, long long high_water);
/* Sleeps up to ms; returns -1 at once when the hub is stopping, else 0. */
int sse_hub_sleep(struct sse_hub *hub, int ms);

/* Wakes everyone: the poller and every waiting stream return, and new
 * subscriptions are refused. */
void sse_hub_stop(struct sse_hub *hub);
int sse_hub_stopping(struct sse_hub *hub);

/* ---- the streams ---- */

enum sse_sub_status { SSE_SUB_OK, SSE_SUB_NOT_READY, SSE_SUB_STOPPING, SSE_SUB_NOMEM };

/* Registers a stream opened with credential cred (NULL: none to watch);
 * *high_water receives the mark that goes with its (empty) queue. Returns
 * NULL with *status when it cannot. */
struct sse_sub *sse_hub_subscribe(struct sse_hub *hub, const struct sse_filter *filter,
                                  const struct auth_credential *cred, long long *high_water,
                                  enum sse_sub_status *status);
/* Unregisters and frees the subscription with whatever it still queued. */
void sse_hub_unsubscribe(struct sse_hub *hub, struct sse_sub *sub);

struct sse_take {
    int n;              /* events moved into the caller's array (release each) */
    int lagged;         /* the queue overflowed: resync, then read the table */
    int stopping;       /* the hub is stopping: end the stream */
    int revoked;        /* its credential no longer lets its holder in: end it */
};
/* Waits up to timeout_ms for queued events, a lag or a stop, then moves at
 * most max queued events into out. */
struct sse_take sse_sub_take(struct sse_hub *hub, struct sse_sub *sub, int timeout_ms,
                             struct sse_event **out, int max);
/* Empties a lagged queue and returns the current high-water mark. */
long long sse_hub_resync(struct sse_hub *hub, struct sse_sub *sub);

/* ---- credentials (the poller re-checks them: a logout or a revoked token
 * ends the streams it opened) ---- */

/* The distinct credentials of the open streams, in a new array (free it)
 * of *n. Returns NULL with *n 0 when there are none or memory ran out. */
struct auth_credential *sse_hub_credentials(struct sse_hub *hub, int *n);
/* Ends every stream opened with this credential; returns how many. */
int sse_hub_revoke(struct sse_hub *hub, const struct auth_credential *cred);

/* Subscribers right now (for logs and tests). */
int sse_hub_count(struct sse_hub *hub);

#endif
