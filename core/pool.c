/* pool.c: the thread pool. One worker per physical core beyond the caller's,
 * each pinned to its core through hwloc. Work is handed out as a fixed list
 * of tasks (the caller chooses them, never from the thread count), so any
 * kernel that writes each task's output from that task alone gives bitwise
 * the same result at every thread count. With one thread there is no pool at
 * all: tg__parallel_for runs the tasks in a plain loop. */
#include "internal.h"

#include <hwloc.h>
#include <pthread.h>
#include <stdatomic.h>

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
    int64_t finished;     /* tasks completed, under mu */
    int busy;             /* workers inside run_tasks for the current job, under mu */
    uint64_t generation;  /* bumped per job */
    int stop;
    int started;          /* workers past their set-up, under mu */
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
        while (!p->stop && p->generation == seen) pthread_cond_wait(&p->wake, &p->mu);
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
        pthread_mutex_lock(&p->mu);
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
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->arg = arg;
    p->n_tasks = n_tasks;
    p->finished = 0;
    atomic_store(&p->next, 0);
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    int64_t did = run_tasks(p, fn, arg, n_tasks);
    pthread_mutex_lock(&p->mu);
    p->finished += did;
    /* Wait for every worker that joined this job to leave run_tasks too: a
     * worker still inside it after the last task was taken would otherwise
     * draw from the next job's counter with this job's fn, arg and n (running
     * the wrong function, or swallowing a task index >= n and deadlocking). */
    while (p->finished < p->n_tasks || p->busy > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
