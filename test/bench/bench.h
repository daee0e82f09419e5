/*
 * bench.h: the tapegrad side of the benchmark (issue 7), shared by bench.c
 * (command line, serve protocol, machine info), bench_models.c (training
 * workloads written as a user would, through tapegrad.h only) and
 * bench_kernels.c (GEMM and elementwise kernels, through the internals).
 *
 * A workload keeps its model and buffers between repeats (built on the first
 * call, untimed); each call runs one timed repeat and writes one line per
 * measurement, "val <key> <value> <unit>", to out. test/bench/compare.py
 * pairs these with bench_torch.py's lines of the same keys.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdio.h>
#include <time.h>

#include "tapegrad.h"

/* Options and lazily loaded shared data. */
typedef struct bench_env {
    int threads;          /* tapegrad worker threads (tg_config.threads) */
    int quick;            /* 1: short smoke run (fewer batches / iterations) */
    const char *data_dir; /* MNIST-layout directory */
    tg_dataset ds;        /* the training split, or synthetic data of its shape */
    int ds_state;         /* 0 not loaded, 1 loaded from data_dir, 2 synthetic (malloc'ed) */
} bench_env;

/* Monotonic wall clock in seconds. */
static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The training split of data_dir, or (when it cannot be read) 60000 random
 * 28x28 images with random labels, the same shape. NULL only on no memory. */
const tg_dataset *bench_data(bench_env *e);
/* A context with e->threads threads and seed 42; NULL (message on stderr)
 * when memory runs out. */
tg_ctx *bench_ctx(const bench_env *e);
/* Report a failed workload: "error <who>: <ctx message>" to out; returns -1. */
int bench_fail(FILE *out, const char *who, tg_ctx *ctx);

/* One timed repeat of each workload; 0 or -1 (an "error" line was written).
 * Names and units as in compare.py's table. */
int bench_mlp(bench_env *e, FILE *out);      /* val mlp <samples/s> */
int bench_cnn(bench_env *e, FILE *out);      /* val cnn <samples/s> */
int bench_lenet5(bench_env *e, FILE *out);   /* val lenet5 <samples/s> */
int bench_lstm(bench_env *e, FILE *out);     /* val lstm <tokens/s> */
int bench_treenn(bench_env *e, FILE *out);   /* val treenn <trees/s> */
int bench_overhead(bench_env *e, FILE *out); /* val overhead <ns/op> */
int bench_gemm(bench_env *e, FILE *out);     /* val gemm_* <GFLOP/s> */
int bench_eltwise(bench_env *e, FILE *out);  /* val exp|tanh|exp_libm|tanh_libm|copy|copy_dram <GB/s> */

/* Machine description lines ("info <key> <value...>"): ISA of this build,
 * cores, frequency, FMA lanes and the derived peak FP32 FLOP/s. */
void bench_info(const bench_env *e, FILE *out);

#endif /* BENCH_H */
