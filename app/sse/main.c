/* vf-sse: the FastCGI responder for the event streams.
 *
 * One process (spawn-fcgi -F 1, listening socket on fd 0) with
 * cfg.sse_threads request threads, each holding at most one open stream,
 * and one poller thread that reads new job_events rows and fans them out
 * (hub.h). Accept is serialised by a mutex as in libfcgi's threaded example.
 *
 * Stopping: SIGTERM/SIGINT only set a flag; the main thread, which alone
 * takes those signals, then wakes everyone (hub stop, shutdown of the
 * listening socket so a blocked accept returns), lets open streams end
 * cleanly and exits within about 2 s even if some thread is stuck. */
#include <errno.h>
#include <fcgiapp.h>
#include <malloc.h>
#include <mysql.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "sse/hub.h"
#include "sse/poller.h"
#include "sse/pool.h"
#include "sse/stream.h"

#define SSE_LISTEN_FD 0
#define SSE_STOP_DEADLINE_MS 1800

static volatile sig_atomic_t got_stop_signal;
static atomic_int stopping;
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_stop_signal(int sig)
{
    (void)sig;
    got_stop_signal = 1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void *request_thread(void *arg)
{
    struct sse_server *srv = arg;
    FCGX_Request req;
    if (FCGX_InitRequest(&req, SSE_LISTEN_FD, 0) != 0) {
        log_error("cannot set up a FastCGI request");
        return NULL;
    }
    int warned = 0;
    while (!atomic_load(&stopping)) {
        pthread_mutex_lock(&accept_lock);
        int rc = atomic_load(&stopping) ? -1 : FCGX_Accept_r(&req);
        pthread_mutex_unlock(&accept_lock);
        if (rc < 0) {
            if (atomic_load(&stopping))
                break;
            if (!warned++)
                log_warn("accept failed: %s", strerror(-rc > 0 ? -rc : EIO));
            sleep_ms(100);
            continue;
        }
        warned = 0;
        sse_serve(srv, &req);
        FCGX_Finish_r(&req);
    }
    FCGX_Free(&req, 1);
    return NULL;
}

/* Signals are blocked in every thread but the main one, which waits for them. */
static void install_signals(sigset_t *stop_set, sigset_t *wait_mask)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;    /* no SA_RESTART: the main thread's wait must return */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    sigemptyset(stop_set);
    sigaddset(stop_set, SIGTERM);
    sigaddset(stop_set, SIGINT);
    pthread_sigmask(SIG_BLOCK, stop_set, wait_mask);
    sigdelset(wait_mask, SIGTERM);
    sigdelset(wait_mask, SIGINT);
}

static int start_thread(pthread_t *t, size_t stack, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    int rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}

/* Joins up to the deadline. Returns 0 when the thread ended. */
static int join_until(pthread_t t, const struct timespec *deadline)
{
    return pthread_timedjoin_np(t, NULL, deadline);
}

static int setup(struct vf_config *cfg)
{
    char err[512];
    if (config_load(cfg, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "vf-sse: %s\n", err);
        return -1;
    }
    enum log_level level = LOG_INFO;
    log_level_parse(cfg->log_level, &level);
    if (log_open(cfg->log_file, level) != 0) {
        fprintf(stderr, "vf-sse: cannot open log file %s\n", cfg->log_file);
        return -1;
    }
    if (mysql_library_init(0, NULL, NULL) != 0) {
        log_error("cannot initialise the MySQL client library");
        return -1;
    }
    if (FCGX_Init() != 0 || FCGX_IsCGI()) {
        log_error("vf-sse must run under spawn-fcgi: fd 0 is not a FastCGI socket");
        return -1;
    }
    /* Many threads would otherwise each get a malloc arena and keep RSS up. */
    mallopt(M_ARENA_MAX, 2);
    return 0;
}

int main(void)
{
    struct vf_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    if (setup(&cfg) != 0)
        return 1;

    sigset_t stop_set, wait_mask;
    install_signals(&stop_set, &wait_mask);   /* after FCGX_Init, which installs its own */

    struct sse_hub *hub = sse_hub_new();
    struct sse_pool *pool = sse_pool_new(&cfg, SSE_POOL_MAX);
    if (!hub || !pool) {
        log_error("out of memory at start-up");
        return 1;
    }
    struct sse_server srv = {.cfg = &cfg, .hub = hub, .pool = pool};
    struct sse_poller_args pargs = {.cfg = &cfg, .hub = hub};
    size_t stack = (size_t)cfg.sse_stack_kb * 1024;

    int nthreads = cfg.sse_threads;
    pthread_t *threads = calloc((size_t)nthreads + 1, sizeof(*threads));
    if (!threads || start_thread(&threads[0], stack, sse_poller_main, &pargs) != 0) {
        log_error("cannot start the event poller");
        return 1;
    }
    int started = 1;
    for (int i = 0; i < nthreads; i++, started++)
        if (start_thread(&threads[started], stack, request_thread, &srv) != 0) {
            log_warn("started %d of %d stream threads", i, nthreads);
            break;
        }
    log_info("vf-sse ready: %d stream threads", started - 1);

    while (!got_stop_signal)
        sigsuspend(&wait_mask);

    log_info("stopping: %d open streams", sse_hub_count(hub));
    atomic_store(&stopping, 1);
    sse_hub_stop(hub);
    shutdown(SSE_LISTEN_FD, SHUT_RDWR);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += SSE_STOP_DEADLINE_MS / 1000;
    deadline.tv_nsec += (long)(SSE_STOP_DEADLINE_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int stuck = 0;
    for (int i = 0; i < started; i++)
        if (join_until(threads[i], &deadline) != 0)
            stuck++;
    if (stuck) {
        log_warn("stopped with %d threads still busy", stuck);
        _exit(0);
    }
    free(threads);
    sse_pool_free(pool);
    sse_hub_free(hub);
    mysql_library_end();
    log_info("stopped");
    log_close();
    config_free(&cfg);
    return 0;
}
