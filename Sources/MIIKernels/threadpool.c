/*
 * threadpool.c - the fixed-size worker pool behind miik_pool_run.
 *
 * Design (tuned for ~200 short dispatches per decode step):
 *   - n_threads-1 pthread workers; the calling thread is worker 0 and runs its share inline.
 *   - A job is published by writing fn/ctx and then bumping a generation counter (release).
 *     Workers that finished the previous job spin on the counter for a bounded time, then park
 *     on a futex keyed on the counter, so an idle pool uses no CPU.
 *   - Spinning is "pause" first, then sched_yield(). A waiter switches to yielding early when
 *     the pool has more threads than usable CPUs, or when another pool thread last reported the
 *     same CPU as the waiter (sched_getcpu): a pause-spinning waiter would otherwise keep the
 *     thread it waits for off that CPU for its whole pure-spin budget.
 *   - The caller only issues FUTEX_WAKE when some worker is parked (n_parked > 0); the parked
 *     count and the generation use a store->load (Dekker) handshake with seq_cst atomics, and
 *     FUTEX_WAIT re-checks the generation atomically in the kernel, so no wake-up is lost.
 *   - Completion: an atomic countdown of outstanding workers. The caller spins on it, then
 *     parks on a futex keyed on the countdown; the worker that brings it to zero wakes the
 *     caller only if the caller announced that it is parked (same handshake).
 * Nothing here prints or aborts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "mii_kernels.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define MIIK_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define MIIK_CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define MIIK_CPU_RELAX() ((void)0)
#endif

/* Spin budgets (nanoseconds). A waiter first spins with pause for the "pure" time, then spins
 * with sched_yield() (cheap when the core is otherwise idle, and it lets a runnable pool thread
 * have the core when threads outnumber cores) until the total time, then parks on a futex.
 * When the pool has more threads than usable CPUs the pure phase is skipped. */
#ifndef MIIK_POOL_WORKER_PURE_NS
#define MIIK_POOL_WORKER_PURE_NS 50000LL
#endif
#ifndef MIIK_POOL_WORKER_TOTAL_NS
#define MIIK_POOL_WORKER_TOTAL_NS 150000LL
#endif
#ifndef MIIK_POOL_CALLER_PURE_NS
#define MIIK_POOL_CALLER_PURE_NS 50000LL
#endif
#ifndef MIIK_POOL_CALLER_TOTAL_NS
#define MIIK_POOL_CALLER_TOTAL_NS 250000LL
#endif
/* Pauses between clock reads in the pure phase (keeps the fast path free of clock calls). */
#define MIIK_SPIN_CHECK_MASK 63u

#define MIIK_CACHELINE 64

typedef struct {
    struct miik_pool *pool;
    int ith;
} miik_worker_arg;

struct miik_pool {
    /* Line 1: job publication. Written by the caller, read by the workers. */
    _Alignas(MIIK_CACHELINE) _Atomic uint32_t gen; /* futex word for parked workers */
    _Atomic int32_t n_parked;                      /* workers parked (or about to park) on gen */
    _Atomic int stop;                              /* set by miik_pool_free before the last bump */
    miik_task_fn fn;                               /* plain: published by the release on gen */
    void *ctx;

    /* Line 2: completion. Decremented by the workers, waited on by the caller. */
    _Alignas(MIIK_CACHELINE) _Atomic uint32_t remaining; /* futex word for the parked caller */
    _Atomic int32_t caller_parked;

    /* Line 3: immutable after create. */
    _Alignas(MIIK_CACHELINE) int n_threads;
    int n_started;
    _Atomic int *cpu_of; /* [n_threads]: CPU each pool thread last reported (-1 unknown); 0 = caller */
    int64_t worker_pure_ns, worker_total_ns; /* spin budgets (pure = 0 when oversubscribed) */
    int64_t caller_pure_ns, caller_total_ns;
    pthread_t *threads;
    miik_worker_arg *args;
};

/* ---- futex and clock helpers ---------------------------------------------------------------- */

static inline void miik_futex_wait(_Atomic uint32_t *addr, uint32_t expected) {
    /* Returns on wake, EAGAIN (value changed), EINTR or spuriously: callers re-check in a loop. */
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static inline void miik_futex_wake_all(_Atomic uint32_t *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline int64_t miik_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Records the CPU the pool thread `me` runs on; returns 1 if another pool thread last reported
 * the same CPU (it is then most likely waiting for this CPU, i.e. for us to get off it). */
static int miik_colocated(struct miik_pool *pool, int me) {
    int cpu = sched_getcpu();
    if (cpu < 0) return 0;
    if (atomic_load_explicit(&pool->cpu_of[me], memory_order_relaxed) != cpu)
        atomic_store_explicit(&pool->cpu_of[me], cpu, memory_order_relaxed);
    for (int j = 0; j < pool->n_threads; j++)
        if (j != me && atomic_load_explicit(&pool->cpu_of[j], memory_order_relaxed) == cpu) return 1;
    return 0;
}

/* Bounded spin: call miik_backoff_step between checks of the awaited condition; it returns 1
 * once the budget is spent (time to park). */
typedef struct {
    struct miik_pool *pool;
    int me;        /* ith of the waiting thread */
    int yielding;
    uint32_t i;
    int64_t start; /* 0 until the first clock read */
    int64_t pure_ns, total_ns;
} miik_backoff;

static inline int miik_backoff_step(miik_backoff *b) {
    if (!b->yielding) {
        MIIK_CPU_RELAX();
        if ((++b->i & MIIK_SPIN_CHECK_MASK) != 0) return 0;
        int64_t now = miik_now_ns();
        if (b->start == 0) b->start = now;
        if (now - b->start < b->pure_ns && !miik_colocated(b->pool, b->me)) return 0;
        b->yielding = 1;
    }
    sched_yield();
    return miik_now_ns() - b->start >= b->total_ns;
}

/* ---- workers -------------------------------------------------------------------------------- */

/* Waits until pool->gen != seen; returns the new generation (observed with acquire). */
static uint32_t miik_worker_wait(struct miik_pool *pool, int ith, uint32_t seen) {
    uint32_t g;
    /* Phase 1: bounded spin (pause, then sched_yield). */
    miik_backoff b = {pool, ith, 0, 0, 0, pool->worker_pure_ns, pool->worker_total_ns};
    for (;;) {
        g = atomic_load_explicit(&pool->gen, memory_order_acquire);
        if (g != seen) return g;
        if (miik_backoff_step(&b)) break;
    }
    /* Phase 2: park. Announce first (seq_cst), then re-check gen (seq_cst): either the caller's
     * seq_cst bump of gen is visible here, or our increment is visible to the caller's seq_cst
     * load of n_parked and it will FUTEX_WAKE. FUTEX_WAIT itself fails with EAGAIN if gen moved. */
    atomic_fetch_add_explicit(&pool->n_parked, 1, memory_order_seq_cst);
    while ((g = atomic_load_explicit(&pool->gen, memory_order_seq_cst)) == seen)
        miik_futex_wait(&pool->gen, seen);
    atomic_fetch_sub_explicit(&pool->n_parked, 1, memory_order_relaxed);
    return g;
}

static void *miik_worker_main(void *p) {
    miik_worker_arg *arg = (miik_worker_arg *)p;
    struct miik_pool *pool = arg->pool;
    const int ith = arg->ith;
    const int nth = pool->n_threads;
    char name[16];
    snprintf(name, sizeof name, "mii-pool-%d", ith);
    pthread_setname_np(pthread_self(), name); /* best effort, for debuggers and top -H */
    /* Every generation bump happens after all workers finished the previous job, so a worker
     * sees each generation exactly once; start from the value at creation time (0). */
    uint32_t seen = 0;
    for (;;) {
        seen = miik_worker_wait(pool, ith, seen);
        if (atomic_load_explicit(&pool->stop, memory_order_relaxed)) break;
        pool->fn(pool->ctx, ith, nth);
        /* Release our writes (the task's results) to the caller. seq_cst for the handshake with
         * caller_parked below. */
        if (atomic_fetch_sub_explicit(&pool->remaining, 1, memory_order_seq_cst) == 1) {
            if (atomic_load_explicit(&pool->caller_parked, memory_order_seq_cst))
                miik_futex_wake_all(&pool->remaining);
        }
    }
    return NULL;
}

/* ---- caller side ---------------------------------------------------------------------------- */

static void miik_caller_wait(struct miik_pool *pool) {
    if (atomic_load_explicit(&pool->remaining, memory_order_acquire) == 0) return;
    /* Phase 1: bounded spin (pause, then sched_yield). */
    miik_backoff b = {pool, 0, 0, 0, 0, pool->caller_pure_ns, pool->caller_total_ns};
    for (;;) {
        if (atomic_load_explicit(&pool->remaining, memory_order_acquire) == 0) return;
        if (miik_backoff_step(&b)) break;
    }
    /* Phase 2: park (Dekker handshake with the last worker's decrement). */
    atomic_store_explicit(&pool->caller_parked, 1, memory_order_seq_cst);
    uint32_t r;
    while ((r = atomic_load_explicit(&pool->remaining, memory_order_seq_cst)) != 0)
        miik_futex_wait(&pool->remaining, r);
    atomic_store_explicit(&pool->caller_parked, 0, memory_order_relaxed);
}

/* Publishes the current fn/ctx (or stop) to the workers and wakes parked ones. */
static void miik_publish(struct miik_pool *pool, int force_wake) {
    /* seq_cst RMW: releases fn/ctx/remaining/stop, and orders before the n_parked load. */
    atomic_fetch_add_explicit(&pool->gen, 1, memory_order_seq_cst);
    if (force_wake || atomic_load_explicit(&pool->n_parked, memory_order_seq_cst) > 0)
        miik_futex_wake_all(&pool->gen);
}

static void miik_pool_stop_join(struct miik_pool *pool) {
    if (pool->n_started > 0) {
        atomic_store_explicit(&pool->stop, 1, memory_order_relaxed);
        miik_publish(pool, 1);
        for (int i = 0; i < pool->n_started; i++) pthread_join(pool->threads[i], NULL);
    }
    free(pool->threads);
    free(pool->args);
    free((void *)pool->cpu_of);
    free(pool);
}

/* CPUs this process may run on (affinity mask), at least 1. */
static int miik_usable_cpus(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* ---- public API ----------------------------------------------------------------------------- */

int miik_available_cpus(void) { return miik_usable_cpus(); }

miik_pool *miik_pool_create(int n_threads) {
    if (n_threads < 1) {
        errno = EINVAL;
        return NULL;
    }
    struct miik_pool *pool = NULL;
    if (posix_memalign((void **)&pool, MIIK_CACHELINE, sizeof *pool) != 0) {
        errno = ENOMEM;
        return NULL;
    }
    memset(pool, 0, sizeof *pool);
    atomic_init(&pool->gen, 0);
    atomic_init(&pool->n_parked, 0);
    atomic_init(&pool->stop, 0);
    atomic_init(&pool->remaining, 0);
    atomic_init(&pool->caller_parked, 0);
    pool->n_threads = n_threads;
    pool->n_started = 0;
    const int oversubscribed = n_threads > miik_usable_cpus();
    pool->worker_pure_ns = oversubscribed ? 0 : MIIK_POOL_WORKER_PURE_NS;
    pool->worker_total_ns = MIIK_POOL_WORKER_TOTAL_NS;
    pool->caller_pure_ns = oversubscribed ? 0 : MIIK_POOL_CALLER_PURE_NS;
    pool->caller_total_ns = MIIK_POOL_CALLER_TOTAL_NS;
    if (n_threads == 1) return pool;

    const int nw = n_threads - 1;
    pool->threads = (pthread_t *)calloc((size_t)nw, sizeof(pthread_t));
    pool->args = (miik_worker_arg *)calloc((size_t)nw, sizeof(miik_worker_arg));
    pool->cpu_of = (_Atomic int *)calloc((size_t)n_threads, sizeof(_Atomic int));
    if (!pool->threads || !pool->args || !pool->cpu_of) {
        miik_pool_stop_join(pool);
        errno = ENOMEM;
        return NULL;
    }

    for (int i = 0; i < n_threads; i++) atomic_init(&pool->cpu_of[i], -1);

    /* Workers block all asynchronous signals, so the host's handlers run on its own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = 0;
    for (int i = 0; i < nw; i++) {
        pool->args[i].pool = pool;
        pool->args[i].ith = i + 1;
        err = pthread_create(&pool->threads[i], NULL, miik_worker_main, &pool->args[i]);
        if (err != 0) break;
        pool->n_started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        miik_pool_stop_join(pool);
        errno = err;
        return NULL;
    }
    return pool;
}

void miik_pool_free(miik_pool *pool) {
    if (!pool) return;
    int saved = errno;
    miik_pool_stop_join(pool);
    errno = saved;
}

int miik_pool_threads(const miik_pool *pool) {
    return pool ? pool->n_threads : 0;
}

void miik_pool_run(miik_pool *pool, miik_task_fn fn, void *ctx) {
    if (!pool || !fn) return;
    const int nth = pool->n_threads;
    if (nth == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->ctx = ctx;
    atomic_store_explicit(&pool->remaining, (uint32_t)(nth - 1), memory_order_relaxed);
    miik_publish(pool, 0);
    fn(ctx, 0, nth);
    miik_caller_wait(pool);
}
