/* pool.c: the thread pool. One worker per physical core beyond the caller's,
 * each pinned to its core through hwloc. Work is handed out as a fixed list
 * of tasks (the caller chooses them, never from the thread count), so any
 * kernel that writes each task's output from that task alone gives bitwise
 * the same result at every thread count. With one thread there is no pool at
 * all: tg__parallel_for runs the tasks in a plain loop.
 *
 * Waiting: a worker waiting for the next job and the caller waiting for a
 * job's end first spin for up to SPIN_NS, reading the shared state without
 * the lock (_mm_pause between reads), and only then sleep on the condition
 * variable. The spin is only a hint: it never changes state, and every
 * decision (join a job, return from it) is still taken under the mutex with
 * the same tests as without it, so the guarantees below are those of the
 * plain condvar code. It saves the futex sleep and wake-up (tens of
 * microseconds on a KVM guest) between jobs that follow each other closely,
 * as the LSTM's small products do: there the serial elementwise ops between
 * two products often take longer than 50 µs, and with a 50 µs spin half the
 * workers' waits ended asleep. The spin is bounded: after SPIN_NS the thread
 * sleeps (an idle pool burns nothing), and a pool with more threads than the
 * CPUs it may run on never spins. There is no back-off beyond that bound:
 * one that stopped spinning on a 50 µs clock jump fired 30-50 times a second
 * on an idle 2-vCPU guest and cost the LSTM bench about 40% (the numbers:
 * docs/benchmarks.md, "What changed"). */
#include "internal.h"

#include <hwloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

/* How long a waiting thread spins before it sleeps. 500 µs covers the gaps
 * between the products of an LSTM step (serial elementwise ops, 20-300 µs
 * at B = 32, H = 128), so a worker is awake when the next product arrives; an
 * idle pool burns at most this much after its last job. */
#define SPIN_NS 500000

struct tg__pool {
    int n_workers;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    /* the current job */
    tg__task_fn fn;
    void *arg;
    int64_t n_tasks;
    _Atomic int64_t next;
    /* Written only under mu; atomic so that the spins may read them without
     * it (a read outside the lock is a hint, rechecked under the lock). */
    _Atomic int64_t finished;     /* tasks completed */
    _Atomic int busy;             /* workers inside run_tasks for the current job */
    _Atomic uint64_t generation;  /* bumped per job */
    _Atomic int stop;
    int started;          /* workers past their set-up, under mu */
    int64_t spin_ns;      /* SPIN_NS, or 0 when the pool has more threads than CPUs */
    hwloc_topology_t topo;
    int have_topo;
    struct worker_arg *args; /* one per worker, owned by the pool */
};

typedef struct worker_arg {
    tg__pool *pool;
    int index;
} worker_arg;

static int64_t run_tasks(tg__pool *p, tg__task_fn fn, void *arg, int64_t n) {
    int64_t did = 0;
    for (;;) {
        int64_t t = atomic_fetch_add(&p->next, 1);
        if (t >= n) break;
        fn(arg, t);
        did++;
    }
    return did;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spin (without the lock) until ready(p, x) or spin_ns have passed. Returns
 * whether ready was seen; the caller rechecks under the lock either way. */
static bool spin_until(tg__pool *p, bool (*ready)(const tg__pool *, uint64_t), uint64_t x) {
    if (ready(p, x)) return true;
    if (p->spin_ns <= 0) return false;
    int64_t t0 = now_ns();
    for (unsigned i = 1;; i++) {
        if (ready(p, x)) return true;
        CPU_RELAX();
        if ((i & 15) == 0 && now_ns() - t0 > p->spin_ns) return false; /* the clock every 16 pauses */
    }
}

/* pthread_mutex_lock, but try a while before sleeping: the lock is only ever
 * held for a few instructions, and a thread that has just seen the state
 * change in spin_until often finds the other side still inside its critical
 * section; sleeping on the mutex there would cost the futex round trip the
 * spin is meant to save. */
static void lock_spin(tg__pool *p) {
    for (int i = 0; i < 256; i++) {
        if (pthread_mutex_trylock(&p->mu) == 0) return;
        CPU_RELAX();
    }
    pthread_mutex_lock(&p->mu);
}

/* A new job was posted (generation moved past `seen`), or the pool stops. */
static bool job_posted(const tg__pool *p, uint64_t seen) {
    return atomic_load_explicit(&p->generation, memory_order_relaxed) != seen ||
           atomic_load_explicit(&p->stop, memory_order_relaxed);
}

/* The current job with n_tasks = n is over: every task done, every worker
 * that joined it out of run_tasks. */
static bool job_over(const tg__pool *p, uint64_t n) {
    return atomic_load_explicit(&p->finished, memory_order_relaxed) >= (int64_t)n &&
           atomic_load_explicit(&p->busy, memory_order_relaxed) == 0;
}

static void *worker_main(void *a) {
    /* The argument block belongs to the pool (freed in tg__pool_free), so a
     * worker never frees memory behind the caller's back and the allocation
     * counters are settled when tg__pool_new returns. */
    worker_arg wa = *(worker_arg *)a;
    tg__pool *p = wa.pool;
    if (p->have_topo) {
        hwloc_obj_t core = hwloc_get_obj_by_type(p->topo, HWLOC_OBJ_CORE, (unsigned)(wa.index + 1));
        if (core && core->cpuset) hwloc_set_cpubind(p->topo, core->cpuset, HWLOC_CPUBIND_THREAD);
    }
    /* Allocate this worker's GEMM scratch before tg__pool_new returns, so
     * that no allocation happens later at a moment that depends on which
     * thread picks up which task. */
    tg__gemm_reserve_scratch();
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    p->started++;
    pthread_cond_broadcast(&p->done);
    for (;;) {
        if (!p->stop && p->generation == seen) {
            pthread_mutex_unlock(&p->mu);
            spin_until(p, job_posted, seen);
            lock_spin(p);
            while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
        }
        if (p->stop) break;
        seen = p->generation;
        /* A worker that wakes after the caller has already finished this job
         * (all tasks done, maybe returned and about to post the next one)
         * must not join it: it would draw from the next job's counter. */
        if (p->finished >= p->n_tasks) continue;
        tg__task_fn fn = p->fn;
        void *arg = p->arg;
        int64_t n = p->n_tasks;
        p->busy++;
        pthread_mutex_unlock(&p->mu);
        int64_t did = run_tasks(p, fn, arg, n);
        lock_spin(p);
        p->finished += did;
        p->busy--;
        if (p->finished == p->n_tasks && p->busy == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    tg__gemm_free_scratch(); /* this thread's packing buffer dies with it */
    return NULL;
}

tg__pool *tg__pool_new(int threads) {
    if (threads <= 1) return NULL;
    tg__pool *p = tg__calloc(1, sizeof *p);
    if (!p) return NULL;
    p->threads = tg__calloc((size_t)(threads - 1), sizeof(pthread_t));
    p->args = tg__calloc((size_t)(threads - 1), sizeof(worker_arg));
    if (!p->threads || !p->args) {
        tg__free(p->threads);
        tg__free(p->args);
        tg__free(p);
        return NULL;
    }
    /* With more threads than CPUs to run them on, a spinning thread would
     * take the CPU from the one doing the work: no spin then. */
    cpu_set_t cpus;
    int n_cpus = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 0;
    p->spin_ns = n_cpus >= threads ? SPIN_NS : 0;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (hwloc_topology_init(&p->topo) == 0) {
        if (hwloc_topology_load(p->topo) == 0) p->have_topo = 1;
        else hwloc_topology_destroy(p->topo);
    }
    for (int i = 0; i < threads - 1; i++) {
        worker_arg *wa = &p->args[i];
        wa->pool = p;
        wa->index = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) break;
        p->n_workers++;
    }
    if (p->n_workers == 0) {
        tg__pool_free(p);
        return NULL;
    }
    tg__gemm_reserve_scratch(); /* the caller's, for the same reason */
    pthread_mutex_lock(&p->mu);
    while (p->started < p->n_workers) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return p;
}

void tg__pool_free(tg__pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_workers; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    if (p->have_topo) hwloc_topology_destroy(p->topo);
    tg__free(p->threads);
    tg__free(p->args);
    tg__free(p);
}

void tg__parallel_for(tg_ctx *ctx, int64_t n_tasks, tg__task_fn fn, void *arg) {
    tg__pool *p = ctx ? ctx->pool : NULL;
    if (n_tasks <= 0) return;
    if (!p || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; t++) fn(arg, t);
        return;
    }
    lock_spin(p);
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    p->finished = 0;
    atomic_store(&p->next, 0);
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    int64_t did = run_tasks(p, fn, arg, n_tasks);
    lock_spin(p);
    p->finished += did;
    /* Wait for every worker that joined this job to leave run_tasks too: a
     * worker still inside it after the last task was taken would otherwise
     * draw from the next job's counter with this job's fn, arg and n (running
     * the wrong function, or swallowing a task index >= n and deadlocking).
     * Spin first, without the lock (the workers need it to report); the test
     * that lets the caller return is the one under the lock. */
    if (p->finished < p->n_tasks || p->busy > 0) {
        pthread_mutex_unlock(&p->mu);
        spin_until(p, job_over, (uint64_t)n_tasks);
        lock_spin(p);
        while (p->finished < p->n_tasks || p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
}
