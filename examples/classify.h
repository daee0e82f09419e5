/*
 * classify.h: the training driver shared by the classifiers mlp, lenet5 and
 * cnn. A program describes its network (a forward function, the input it
 * wants, an optional loss, a line of text) and its own flags; the driver does
 * the rest: one flag set, data loading and checks, shuffled mini-batches, the
 * progress reporter, a test-set evaluation per epoch, --save/--load/
 * --eval-only, --early-stop, --plot, --dot and the `result:` line.
 *
 * Images come in as (B, 1, H, W) f32 in [0, 1]: a dataset image of rows×cols
 * is placed at (pad_top, pad_left) inside an H×W frame of zeros (LeNet-5's
 * 28×28 digits inside a 32×32 input); or, for a program with flat set (mlp),
 * as (B, rows·cols), each image's pixels in one row. Every gradient comes
 * from the tape.
 */
#ifndef EX_CLASSIFY_H
#define EX_CLASSIFY_H

#include "common.h"

#define CLS_CLASSES 10
#define CLS_MAX_EXTRA 8
#define CLS_EVAL_B 250 /* evaluation batch: bounds the tape (cnn: ~60 MB of activations) */

/** The flags every classifier has. Programs set their defaults before
 *  cls_main parses the command line. */
typedef struct cls_opts {
    const char *data, *optim, *save, *load, *plot, *dot;
    int epochs, batch, seed, threads, eval_only, limit, early_stop;
    double lr, momentum, weight_decay;
} cls_opts;

/** A network, built by the program once the image size is known. */
typedef struct cls_net {
    /* x (B, 1, H, W) -> logits (B, CLS_CLASSES), on the active tape; train 1
     * while training (dropout on), 0 for evaluation. */
    tg_tensor *(*forward)(void *model, tg_tensor *x, int train);
    void *model;
    int64_t H, W;                /* input frame (unused when flat) */
    int64_t pad_top, pad_left;   /* where the image sits in the frame */
    /* The loss of a batch of B from its logits (B, CLS_CLASSES), on the
     * active tape; NULL: the mean softmax cross-entropy. */
    tg_tensor *(*loss)(void *model, tg_tensor *logits, const int32_t *labels, int64_t B);
    /* What the first line says before the optimizer: a line of its own
     * ending in '\n' ("LeNet-5 ...\n"), or the line's start ("model
     * 784-500-10 relu ce, "). */
    char desc[256];
    char plot_tag[64];           /* in the plot title between "PROG: " and the optimizer */
} cls_net;

/** One program: its name, --help summary, extra flags (besides the common
 *  ones), and how to build and free its network in ctx for images of
 *  rows×cols. build returns 0, or -1 with a message in ctx (tg_set_error),
 *  or EX_USAGE after printing a usage error itself.
 *
 *  The lr rule: without --lr, the program's default lr holds for its
 *  default optimizer and any other --optim gets that optimizer's torch
 *  default (tg_optim_defaults). */
typedef struct cls_program {
    const char *prog, *summary;
    /* Flags besides the common ones; an entry named like a common flag
     * replaces it (mlp's own --lr help text and --batch range). */
    ex_flag *extra;
    int n_extra;
    /* NULL: --help lists the common flags, then the extra ones. Otherwise
     * the flags' names in the order --help lists them (NULL-terminated);
     * flags not named follow in table order. */
    const char *const *order;
    int flat;            /* 1: x is (B, rows·cols); the sets' images need the same pixel count only */
    int eval_batch;      /* evaluation batch, at most EX_EVAL_MAX; 0: CLS_EVAL_B */
    int one_time;        /* 1: the epoch line has one time, training and test together (mlp's line) */
    int (*build)(tg_ctx *ctx, const cls_opts *o, int64_t rows, int64_t cols, cls_net *net);
    void (*free_net)(cls_net *net); /* frees what the layers own outside ctx (not net->model); NULL: nothing */
} cls_program;

/** For a program's build: a zeroed model of size bytes, set as net->model
 *  with its forward function. The driver frees it after free_net. NULL,
 *  with a message in ctx, when out of memory. */
void *cls_model_new(tg_ctx *ctx, cls_net *net, size_t size,
                    tg_tensor *(*forward)(void *model, tg_tensor *x, int train));

/** The whole program: parse (o holds the defaults), check, load data, build,
 *  train or evaluate, report. Returns the exit code. */
int cls_main(int argc, char **argv, const cls_program *p, cls_opts *o);

#endif /* EX_CLASSIFY_H */
