/* vf-sse: the FastCGI responder for the event streams.
 *
 * One process (spawn-fcgi -F 1, listening socket on fd 0) with
 * cfg.sse_threads request threads, each holding at most one open stream,
 * and one poller thread that reads new job_events rows and fans them out
 * (hub.h). Accept is serialised by a mutex as in libfcgi's threaded example.
 *
 * Sizing: a stream holds its thread for as long as the viewer stays, so
 * sse_threads is the number of viewers one process serves at once (less
 * one: the last free thread answers 503 too_many_streams instead of taking
 * a stream, so a viewer past the limit is told so at once rather than
 * waiting in the listen backlog). An idle stream thread costs about 12 KB
 * of resident stack (the stack is sse_stack_kb of address space, touched
 * only as deep as it is used) plus the kernel's own per-thread memory, and
 * an open stream about 17 KB more (mostly libfcgi's buffers). A live event
 * wakes one thread per stream that may see it. Up to a few thousand streams
 * this is cheap and keeps each stream a straight-line loop with blocking
 * writes; far beyond that the wake-ups and per-thread kernel memory
 * dominate, and the better shape is more than one vf-sse process (each
 * with its own poller: database load grows with processes, not viewers).
 *
 * A thread that finished a request hands its place to a fresh thread and
 * exits. Exiting returns the small blocks its malloc cache (tcache) kept
 * from the request to the shared arenas, where the poller's malloc_trim can
 * give them back: without it every thread keeps a little of each stream it
 * held, and memory creeps up with every crowd of viewers. A new thread costs
 * tens of microseconds and reuses a cached stack; a stream lasts seconds to
 * hours. A thread also hands back the stack pages below its outermost frame
 * when it starts and before it exits: glibc gives a new thread a cached
 * stack with what an earlier stream touched still resident (it keeps 16 KB
 * under the exit frame), so every one of the sse_threads stacks would in
 * time hold a stream's depth.
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
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
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
/* Descriptors besides one per stream: database pool, poller, log, stdio. */
#define SSE_SPARE_FDS 64

static volatile sig_atomic_t got_stop_signal;
static atomic_int stopping;
static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int request_threads;
static atomic_int busy_threads;

/* The request threads are detached (each replaces itself); main waits for
 * them through this count. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t gone;
    int live;
    size_t stack;
    struct sse_server *srv;
} crew = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};

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

static void *request_thread(void *arg);

/* Bytes kept below this function's frame pointer: its own locals and the
 * madvise call run there. */
#define SSE_STACK_KEEP_BYTES 2048

/* Returns to the kernel the pages of this thread's stack below the caller's
 * frame (they are zero-filled again if touched). Called where nothing
 * deeper is in use: as a thread starts, since glibc hands it a cached stack
 * with whatever the stream of an earlier thread left resident in it, and
 * just before it exits, so that a cached stack holds little. */
__attribute__((noinline)) static void release_stack_below(void)
{
    pthread_attr_t attr;
    void *low = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    int known = pthread_attr_getstack(&attr, &low, &size) == 0;
    pthread_attr_destroy(&attr);
    uintptr_t frame = (uintptr_t)__builtin_frame_address(0);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t from = ((uintptr_t)low + page - 1) & ~(page - 1);
    uintptr_t to = (frame - SSE_STACK_KEEP_BYTES) & ~(page - 1);
    if (known && frame > (uintptr_t)low && frame <= (uintptr_t)low + size && to > from)
        madvise((void *)from, to - from, MADV_DONTNEED);
}

static int start_thread(pthread_t *t, size_t stack, int detached, void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    if (detached)
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return rc;
}

/* Starts one more request thread. Returns 0, or -1 when it cannot. */
static int crew_add(void)
{
    pthread_t t;
    pthread_mutex_lock(&crew.lock);
    crew.live++;
    pthread_mutex_unlock(&crew.lock);
    if (start_thread(&t, crew.stack, 1, request_thread, crew.srv) == 0)
        return 0;
    pthread_mutex_lock(&crew.lock);
    crew.live--;
    pthread_cond_broadcast(&crew.gone);
    pthread_mutex_unlock(&crew.lock);
    return -1;
}

static void crew_leave(void)
{
    pthread_mutex_lock(&crew.lock);
    if (--crew.live == 0)
        pthread_cond_broadcast(&crew.gone);
    pthread_mutex_unlock(&crew.lock);
}

/* Waits until every request thread has left or the deadline (CLOCK_REALTIME)
 * passed. Returns how many are still there. */
static int crew_wait(const struct timespec *deadline)
{
    pthread_mutex_lock(&crew.lock);
    int rc = 0;
    while (crew.live > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&crew.gone, &crew.lock, deadline);
    int left = crew.live;
    pthread_mutex_unlock(&crew.lock);
    return left;
}

static void *request_thread(void *arg)
{
    static atomic_int replace_warned;
    struct sse_server *srv = arg;
    release_stack_below();
    FCGX_Request req;
    if (FCGX_InitRequest(&req, SSE_LISTEN_FD, 0) != 0) {
        log_error("cannot set up a FastCGI request");
        crew_leave();
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
        int busy = atomic_fetch_add(&busy_threads, 1) + 1;
        int threads = atomic_load(&request_threads);
        if (busy >= threads && threads > 1)
            sse_refuse_busy(&req);
        else
            sse_serve(srv, &req);
        FCGX_Finish_r(&req);
        atomic_fetch_sub(&busy_threads, 1);
        if (atomic_load(&stopping))
            break;
        if (crew_add() == 0) {
            release_stack_below();
            break;      /* replaced: leave, and take this thread's caches along */
        }
        if (!atomic_exchange(&replace_warned, 1))
            log_warn("cannot start a thread; this one keeps serving");
    }
    FCGX_Free(&req, 1);
    crew_leave();
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

/* Every stream holds a descriptor towards nginx: a soft limit of 1024 (the
 * usual default outside systemd) would refuse streams long before the
 * threads run out, so raise it as far as the hard limit allows. */
static void raise_fd_limit(int streams)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)streams + SSE_SPARE_FDS;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        log_warn("open files limited to %llu: fewer than %d streams fit (raise LimitNOFILE / ulimit -n)",
                 (unsigned long long)rl.rlim_cur, streams);
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
    raise_fd_limit(cfg->sse_threads);
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
    pthread_t poller;
    if (start_thread(&poller, stack, 0, sse_poller_main, &pargs) != 0) {
        log_error("cannot start the event poller");
        return 1;
    }
    crew.stack = stack;
    crew.srv = &srv;
    atomic_store(&request_threads, nthreads);
    int started = 0;
    while (started < nthreads && crew_add() == 0)
        started++;
    if (started < nthreads)
        log_warn("started %d of %d stream threads", started, nthreads);
    atomic_store(&request_threads, started);
    log_info("vf-sse ready: %d stream threads", started);

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
    int stuck = crew_wait(&deadline);
    if (pthread_timedjoin_np(poller, NULL, &deadline) != 0)
        stuck++;
    if (stuck) {
        log_warn("stopped with %d threads still busy", stuck);
        _exit(0);
    }
    sse_pool_free(pool);
    sse_hub_free(hub);
    mysql_library_end();
    log_info("stopped");
    log_close();
    config_free(&cfg);
    return 0;
}
