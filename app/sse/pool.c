/* A small pool of database connections (see pool.h). */
#include "sse/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "db/db.h"

struct sse_pool {
    const struct vf_config *cfg;
    pthread_mutex_t lock;
    pthread_cond_t returned;
    int max, open, nidle;
    struct db **idle;
};

struct sse_pool *sse_pool_new(const struct vf_config *cfg, int max)
{
    struct sse_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->idle = calloc((size_t)max, sizeof(*p->idle));
    if (!p->idle) {
        free(p);
        return NULL;
    }
    p->cfg = cfg;
    p->max = max;
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->returned, &attr);
    pthread_condattr_destroy(&attr);
    return p;
}

void sse_pool_free(struct sse_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nidle; i++)
        db_close(p->idle[i]);
    pthread_cond_destroy(&p->returned);
    pthread_mutex_destroy(&p->lock);
    free(p->idle);
    free(p);
}

struct db *sse_pool_get(struct sse_pool *p, struct vf_err *err)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += SSE_POOL_WAIT_MS / 1000;

    pthread_mutex_lock(&p->lock);
    int rc = 0;
    while (p->nidle == 0 && p->open >= p->max && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&p->returned, &p->lock, &deadline);
    if (p->nidle == 0 && p->open >= p->max) {
        pthread_mutex_unlock(&p->lock);
        vf_fail(err, VF_EDB, "every database connection is busy");
        return NULL;
    }
    if (p->nidle > 0) {
        struct db *db = p->idle[--p->nidle];
        pthread_mutex_unlock(&p->lock);
        return db;
    }
    p->open++;      /* reserve the slot, connect without the lock */
    pthread_mutex_unlock(&p->lock);

    struct db *db = db_open(p->cfg, err);
    if (!db) {
        pthread_mutex_lock(&p->lock);
        p->open--;
        pthread_cond_signal(&p->returned);
        pthread_mutex_unlock(&p->lock);
    }
    return db;
}

void sse_pool_put(struct sse_pool *p, struct db *db)
{
    if (!db)
        return;
    pthread_mutex_lock(&p->lock);
    p->idle[p->nidle++] = db;
    pthread_cond_signal(&p->returned);
    pthread_mutex_unlock(&p->lock);
}
