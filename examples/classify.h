/*
 * classify.h: the training driver shared by the image classifiers lenet5 and
 * cnn. A program describes its network (a forward function, the input size
 * it wants, a line of text) and its own extra flags; the driver does the
 * rest the way mlp does it: one flag set, data loading and checks, shuffled
 * mini-batches, the progress reporter, a test-set evaluation per epoch,
 * --save/--load/--eval-only, --early-stop, --plot, --dot and the `result:` line.
 *
 * Images come in as (B, 1, H, W) f32 in [0, 1]: a dataset image of rows×cols
 * is placed at (pad_top, pad_left) inside an H×W frame of zeros (LeNet-5's
 * 28×28 digits inside a 32×32 input). Every gradient comes from the tape.
 */
#ifndef EX_CLASSIFY_H
#define EX_CLASSIFY_H

#include "common.h"

#define CLS_CLASSES 10
#define CLS_MAX_EXTRA 8

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
    int64_t H, W;                /* input frame */
    int64_t pad_top, pad_left;   /* where the image sits in the frame */
    char desc[256];              /* one line: "LeNet-5 1x32x32 -> ..." */
} cls_net;

/** One program: its name, --help summary, extra flags (besides the common
 *  ones), and how to build and free its network in ctx for images of
 *  rows×cols. build returns 0, or -1 with a message in ctx (tg_set_error),
 *  or EX_USAGE after printing a usage error itself. */
typedef struct cls_program {
    const char *prog, *summary;
    ex_flag *extra;
    int n_extra;
    int (*build)(tg_ctx *ctx, const cls_opts *o, int64_t rows, int64_t cols, cls_net *net);
    void (*free_net)(cls_net *net);
} cls_program;

/** The whole program: parse (o holds the defaults), check, load data, build,
 *  train or evaluate, report. Returns the exit code. */
int cls_main(int argc, char **argv, const cls_program *p, cls_opts *o);

#endif /* EX_CLASSIFY_H */
