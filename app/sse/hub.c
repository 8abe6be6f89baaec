/* Fan-out of published events to bounded per-stream queues (see hub.h).
 *
 * One mutex guards the subscriber list, every queue and the high-water mark;
 * each subscriber waits on its own condition variable so that an event for
 * one job wakes only the streams that may see it. Everything done under the
 * lock is a few pointer moves, so one lock is enough for thousands of
 * streams. */
#include "sse/hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SSE_SUB_QUEUE_START 16

struct sse_sub {
    struct sse_filter filter;
    struct auth_credential cred;    /* kind 0: none */
    int revoked;
    pthread_cond_t wake;
    struct sse_event **ring;
    int cap, head, count;
    int lagged;
    struct sse_sub *prev, *next;
};

struct sse_hub {
    pthread_mutex_t lock;
    pthread_cond_t poller_wake;
    struct sse_sub *subs;
    int nsubs;
    long long high_water;
    int ready;
    int stopping;
};

struct sse_event *sse_event_new(long long id, long long job_id, long long owner_id,
                                const char *text, size_t len)
{
    struct sse_event *ev = malloc(sizeof(*ev) + len + 1);
    if (!ev)
        return NULL;
    ev->id = id;
    ev->job_id = job_id;
    ev->owner_id = owner_id;
    atomic_init(&ev->refs, 1);
    ev->len = len;
    memcpy(ev->text, text, len);
    ev->text[len] = '\0';
    return ev;
}

void sse_event_release(struct sse_event *ev)
{
    if (ev && atomic_fetch_sub(&ev->refs, 1) == 1)
        free(ev);
}

int sse_filter_matches(const struct sse_filter *f, long long owner_id, long long job_id)
{
    return (f->owner_id < 0 || f->owner_id == owner_id) && (f->job_id == 0 || f->job_id == job_id);
}

static void cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
}

/* Waits on c until signalled or ms have passed (monotonic clock). */
static void cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    int rc;
    do
        rc = pthread_cond_timedwait(c, m, &ts);
    while (rc == EINTR);
}

struct sse_hub *sse_hub_new(void)
{
    struct sse_hub *hub = calloc(1, sizeof(*hub));
    if (!hub)
        return NULL;
    pthread_mutex_init(&hub->lock, NULL);
    cond_init_monotonic(&hub->poller_wake);
    return hub;
}

void sse_hub_free(struct sse_hub *hub)
{
    if (!hub)
        return;
    while (hub->subs)
        sse_hub_unsubscribe(hub, hub->subs);
    pthread_cond_destroy(&hub->poller_wake);
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

void sse_hub_start(struct sse_hub *hub, long long high_water)
{
    pthread_mutex_lock(&hub->lock);
    hub->high_water = high_water;
    hub->ready = 1;
    pthread_mutex_unlock(&hub->lock);
}

/* Drops everything queued (lock held). */
static void sub_drop_queue(struct sse_sub *sub)
{
    for (int i = 0; i < sub->count; i++)
        sse_event_release(sub->ring[(sub->head + i) % sub->cap]);
    sub->head = sub->count = 0;
}

/* Queues one more reference of ev, growing the ring up to its cap; a full
 * queue turns into a lag (lock held). */
static void sub_push(struct sse_sub *sub, struct sse_event *ev)
{
    if (sub->lagged)
        return;
    if (sub->count == sub->cap) {
        int cap = sub->cap * 2;
        struct sse_event **ring = cap <= SSE_SUB_QUEUE_MAX ? malloc(sizeof(*ring) * (size_t)cap) : NULL;
        if (!ring) {
            sub_drop_queue(sub);
            sub->lagged = 1;
            pthread_cond_signal(&sub->wake);
            return;
        }
        for (int i = 0; i < sub->count; i++)
            ring[i] = sub->ring[(sub->head + i) % sub->cap];
        free(sub->ring);
        sub->ring = ring;
        sub->cap = cap;
        sub->head = 0;
    }
    atomic_fetch_add(&ev->refs, 1);
    sub->ring[(sub->head + sub->count) % sub->cap] = ev;
    if (sub->count++ == 0)
        pthread_cond_signal(&sub->wake);
}

void sse_hub_publish(struct sse_hub *hub, struct sse_event **events, int n, long long high_water)
{
    pthread_mutex_lock(&hub->lock);
    for (struct sse_sub *sub = hub->subs; sub; sub = sub->next)
        for (int i = 0; i < n; i++)
            if (sse_filter_matches(&sub->filter, events[i]->owner_id, events[i]->job_id))
                sub_push(sub, events[i]);
    if (high_water > hub->high_water)
        hub->high_water = high_water;
    pthread_mutex_unlock(&hub->lock);
    for (int i = 0; i < n; i++)
        sse_event_release(events[i]);
}

int sse_hub_sleep(struct sse_hub *hub, int ms)
{
    pthread_mutex_lock(&hub->lock);
    if (!hub->stopping)
        cond_wait_ms(&hub->poller_wake, &hub->lock, ms);
    int stopping = hub->stopping;
    pthread_mutex_unlock(&hub->lock);
    return stopping ? -1 : 0;
}

void sse_hub_stop(struct sse_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    hub->stopping = 1;
    pthread_cond_broadcast(&hub->poller_wake);
    for (struct sse_sub *sub = hub->subs; sub; sub = sub->next)
        pthread_cond_broadcast(&sub->wake);
    pthread_mutex_unlock(&hub->lock);
}

int sse_hub_stopping(struct sse_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    int stopping = hub->stopping;
    pthread_mutex_unlock(&hub->lock);
    return stopping;
}

struct sse_sub *sse_hub_subscribe(struct sse_hub *hub, const struct sse_filter *filter,
                                  const struct auth_credential *cred, long long *high_water,
                                  enum sse_sub_status *status)
{
    struct sse_sub *sub = calloc(1, sizeof(*sub));
    struct sse_event **ring = malloc(sizeof(*ring) * SSE_SUB_QUEUE_START);
    if (!sub || !ring) {
        free(sub);
        free(ring);
        *status = SSE_SUB_NOMEM;
        return NULL;
    }
    sub->filter = *filter;
    if (cred)
        sub->cred = *cred;
    sub->ring = ring;
    sub->cap = SSE_SUB_QUEUE_START;
    cond_init_monotonic(&sub->wake);

    pthread_mutex_lock(&hub->lock);
    *status = hub->stopping ? SSE_SUB_STOPPING : !hub->ready ? SSE_SUB_NOT_READY : SSE_SUB_OK;
    if (*status == SSE_SUB_OK) {
        sub->next = hub->subs;
        if (hub->subs)
            hub->subs->prev = sub;
        hub->subs = sub;
        hub->nsubs++;
        *high_water = hub->high_water;
    }
    pthread_mutex_unlock(&hub->lock);
    if (*status != SSE_SUB_OK) {
        pthread_cond_destroy(&sub->wake);
        free(sub->ring);
        free(sub);
        return NULL;
    }
    return sub;
}

void sse_hub_unsubscribe(struct sse_hub *hub, struct sse_sub *sub)
{
    if (!sub)
        return;
    pthread_mutex_lock(&hub->lock);
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        hub->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    hub->nsubs--;
    sub_drop_queue(sub);
    pthread_mutex_unlock(&hub->lock);
    pthread_cond_destroy(&sub->wake);
    free(sub->ring);
    free(sub);
}

struct sse_take sse_sub_take(struct sse_hub *hub, struct sse_sub *sub, int timeout_ms,
                             struct sse_event **out, int max)
{
    struct sse_take t = {0, 0, 0, 0};
    pthread_mutex_lock(&hub->lock);
    if (sub->count == 0 && !sub->lagged && !sub->revoked && !hub->stopping && timeout_ms > 0)
        cond_wait_ms(&sub->wake, &hub->lock, timeout_ms);
    while (t.n < max && sub->count > 0) {
        out[t.n++] = sub->ring[sub->head];
        sub->head = (sub->head + 1) % sub->cap;
        sub->count--;
    }
    if (sub->count == 0)
        sub->head = 0;
    t.lagged = sub->lagged;
    t.stopping = hub->stopping;
    t.revoked = sub->revoked;
    pthread_mutex_unlock(&hub->lock);
    return t;
}

long long sse_hub_resync(struct sse_hub *hub, struct sse_sub *sub)
{
    pthread_mutex_lock(&hub->lock);
    sub_drop_queue(sub);
    sub->lagged = 0;
    long long hw = hub->high_water;
    pthread_mutex_unlock(&hub->lock);
    return hw;
}

static int cred_cmp(const void *a, const void *b)
{
    const struct auth_credential *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->hash, y->hash);
}

struct auth_credential *sse_hub_credentials(struct sse_hub *hub, int *n)
{
    *n = 0;
    pthread_mutex_lock(&hub->lock);
    struct auth_credential *all = hub->nsubs ? malloc(sizeof(*all) * (size_t)hub->nsubs) : NULL;
    int count = 0;
    for (struct sse_sub *sub = hub->subs; all && sub; sub = sub->next)
        if (sub->cred.kind && !sub->revoked)
            all[count++] = sub->cred;
    pthread_mutex_unlock(&hub->lock);
    if (!all || count == 0) {
        free(all);
        return NULL;
    }
    /* Many streams share a few credentials (a user with several tabs, a
     * program with one token): ask about each once. */
    qsort(all, (size_t)count, sizeof(*all), cred_cmp);
    int distinct = 1;
    for (int i = 1; i < count; i++)
        if (cred_cmp(&all[i], &all[distinct - 1]) != 0)
            all[distinct++] = all[i];
    *n = distinct;
    return all;
}

int sse_hub_revoke(struct sse_hub *hub, const struct auth_credential *cred)
{
    int ended = 0;
    pthread_mutex_lock(&hub->lock);
    for (struct sse_sub *sub = hub->subs; sub; sub = sub->next)
        if (!sub->revoked && cred_cmp(&sub->cred, cred) == 0) {
            sub->revoked = 1;
            pthread_cond_signal(&sub->wake);
            ended++;
        }
    pthread_mutex_unlock(&hub->lock);
    return ended;
}

int sse_hub_count(struct sse_hub *hub)
{
    pthread_mutex_lock(&hub->lock);
    int n = hub->nsubs;
    pthread_mutex_unlock(&hub->lock);
    return n;
}
