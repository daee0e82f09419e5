/*
 * common.h: what every example program shares, so that they all behave as
 * one family of command-line tools. One header; one .c per job:
 *
 *   flags.c       one flag parser driven by a table of flag specs (ex_flag),
 *                 with one --help layout, and the error printers behind one
 *                 set of exit codes;
 *   checks.c      small checks run before training (directory exists, path
 *                 writable, input a regular file), which create, remove and
 *                 follow nothing and never block on a FIFO;
 *   progress.c    the clock and a progress reporter: a bar redrawn with \r
 *                 when stderr is a terminal, one plain line per epoch;
 *   result.c      the last stdout line, "result: key=value ...", which
 *                 scripts and tests parse;
 *   plot.c        an SVG line-plot writer for per-epoch curves;
 *   early_stop.c  --early-stop's copy of the best parameters;
 *   train.c       pieces of a training run: the context, a failed step's
 *                 message, --dot, the accuracy loop of every classifier.
 *
 * Exit codes of every example: 0 success, 1 runtime error (a file that will
 * not load, data the model cannot take, training that diverges: a loss that
 * is not finite or grew past EX_DIVERGE_FACTOR times the first), 2 usage
 * error (unknown flag, malformed or out-of-range value, bad combination of
 * flags, missing data directory, a path that cannot be read or written: a
 * FIFO, a device, a symbolic link at --save). Messages start with the name
 * the program was run as (argv[0]'s basename: "tapegrad-mlp" installed).
 */
#ifndef EX_COMMON_H
#define EX_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include "tapegrad.h"

#include <math.h>

enum { EX_OK = 0, EX_RUNTIME = 1, EX_USAGE = 2 };

/* ---- flag parser (flags.c) ---- */

typedef enum ex_flag_type {
    EX_INT,      /* target int *;       "--epochs 20" */
    EX_DOUBLE,   /* target double *;    "--lr 0.1" (finite decimal or exponent form) */
    EX_STRING,   /* target const char **; "--data DIR" (points into argv) */
    EX_INTLIST,  /* target ex_intlist *; "--hidden 300,100" */
    EX_BOOL,     /* target int *;       "--eval-only" sets 1 ("--x=0|1|true|false" also work) */
} ex_flag_type;

#define EX_LIST_MAX 16
/** A comma-separated list of ints, at most EX_LIST_MAX entries. */
typedef struct ex_intlist {
    int n;
    int v[EX_LIST_MAX];
} ex_intlist;

/* Range bits for ex_flag.range: which of lo/hi apply, and whether lo is
 * exclusive. For EX_INTLIST the range applies to every element. */
enum { EX_LO = 1, EX_HI = 2, EX_LO_OPEN = 4 };

/** One flag. Fill with designated initializers; a zeroed entry ends nothing
 *  (the table length is passed explicitly). */
typedef struct ex_flag {
    const char *name;           /* without the leading "--" */
    ex_flag_type type;
    void *target;               /* holds the default before parsing */
    const char *metavar;        /* "N", "DIR", ... in --help; NULL: derived from type */
    const char *help;           /* one line */
    unsigned range;             /* EX_LO | EX_HI | EX_LO_OPEN */
    double lo, hi;
    const char *const *choices; /* EX_STRING: NULL-terminated allowed values, or NULL */
    int set;                    /* out: 1 when the flag was given on the command line */
} ex_flag;

/** Parse argv against flags[0..n). Accepts "--name value" and "--name=value";
 *  "--help"/"-h" prints help to stdout. Returns -1 when the program should go
 *  on, otherwise the exit code to return at once: 0 after --help, EX_USAGE
 *  after a bad command line (message on stderr). Defaults shown in --help are
 *  the targets' values before parsing. */
int ex_parse(int argc, char **argv, const char *prog, const char *summary, ex_flag *flags, int n);

/** The name to show for prog: the basename of argv[0] once ex_parse has
 *  seen it (an installed program runs as "tapegrad-mlp"), else prog. The
 *  error printers and --help use it, so "Try 'tapegrad-mlp --help'" names
 *  the command as the user typed it. */
const char *ex_prog_name(const char *prog);
/** Print "PROG: message" and the --help hint to stderr; returns EX_USAGE. */
int ex_usage_error(const char *prog, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/** Print "PROG: message" to stderr; returns EX_RUNTIME. */
int ex_runtime_error(const char *prog, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/** The flag named name in flags[0..n), or NULL. */
ex_flag *ex_flag_find(ex_flag *flags, int n, const char *name);

/* The flags many programs have, so that each is spelled and ranged once.
 * They return the entry by value for a flag table's initializer. */

/** Every optimizer of tapegrad, NULL-terminated, in --help's order. */
extern const char *const ex_optim_names[];
/** An int flag in [lo, hi]. */
ex_flag ex_flag_int(const char *name, int *target, const char *help, double lo, double hi);
/** An int flag >= lo. */
ex_flag ex_flag_min(const char *name, int *target, const char *help, double lo);
/** --lr in (0, hi]. */
ex_flag ex_flag_lr(double *target, const char *help, double hi);
/** --optim, one of ex_optim_names. */
ex_flag ex_flag_optim(const char **target, const char *help);
/** A string flag shown as "--name METAVAR": a file or directory. */
ex_flag ex_flag_file(const char *name, const char **target, const char *metavar, const char *help);
/** --data DIR, an MNIST-layout directory. */
ex_flag ex_flag_data(const char **target);
/** --threads in [0, 256]; 0 = TG_THREADS or one per core. */
ex_flag ex_flag_threads(int *target);
/** The training flags of the image models autoencoder and vae, as six
 *  table entries: --batch, --lr, --optim, --seed (its help text names what
 *  the seed draws), --threads, --limit (of both sets). o points at a struct
 *  with those fields. */
#define EX_IMAGE_TRAIN_FLAGS(o, seed_help)                                                                  \
    ex_flag_int("batch", &(o)->batch, "mini-batch size", 1, 1000000), ex_flag_lr(&(o)->lr, "learning rate", 1000), \
        ex_flag_optim(&(o)->optim, "optimizer (torch defaults apart from --lr)"),                                \
        ex_flag_min("seed", &(o)->seed, seed_help, 0), ex_flag_threads(&(o)->threads),                            \
        ex_flag_min("limit", &(o)->limit, "use the first N training and N test images only (0 = all)", 0)
/** The number of entries of a flag table (an array, not a pointer). */
#define EX_NFLAGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- checks before training (checks.c) ---- */

/** 0 when dir is an existing directory; otherwise -1 and why in msg. */
int ex_check_dir(const char *dir, char *msg, size_t len);
/** 0 when path can be written: it is absent or a regular file we may
 *  write, and its directory exists and is writable (access(2)). Otherwise -1
 *  and why in msg (a FIFO, a device or a directory at path is named as
 *  such). Creates, removes and opens nothing. */
int ex_check_writable(const char *path, char *msg, size_t len);
/** ex_check_writable for --save, whose atomic save replaces the file by a
 *  rename: a symbolic link at path is refused as well (the save would
 *  replace the link, not its target). */
int ex_check_save(const char *path, char *msg, size_t len);
/** An input file opened for reading without blocking on a FIFO (open with
 *  O_NONBLOCK, which is cleared again): NULL with why in msg when it cannot
 *  be opened or is not a regular file (named: "a FIFO (named pipe)", "a
 *  character device", ...). The caller fcloses it. */
FILE *ex_open_input(const char *path, char *msg, size_t len);
/** 0 when ex_open_input opens path; -1 with why in msg. */
int ex_check_input(const char *path, char *msg, size_t len);
/** What a st_mode is, for messages: "a FIFO (named pipe)", "a directory"... */
const char *ex_file_kind(unsigned mode);

/* ---- time (progress.c) ---- */

/** Monotonic seconds. */
double ex_now(void);

/* ---- progress reporter (progress.c) ---- */

typedef struct ex_progress {
    int tty;                 /* stderr is a terminal: draw the bar */
    int epochs, epoch;       /* total, current (1-based) */
    int64_t batches;         /* batches per epoch */
    double t_start, t_epoch, t_draw;
    double loss_sum;         /* running loss of this epoch */
    int64_t loss_n, samples; /* batches and samples done this epoch */
    int drawn;               /* a bar is on the screen */
} ex_progress;

/** Start reporting a run of `epochs` epochs of `batches` batches. The bar is
 *  drawn only when stderr is a terminal and TG_PROGRESS is not "0". */
void ex_progress_begin(ex_progress *p, int epochs, int64_t batches);
void ex_progress_epoch_begin(ex_progress *p, int epoch);
/** Batch i (0-based) of n_samples samples finished with this loss. Redraws
 *  the bar (epoch, batch i/n, running loss, samples/s, ETA) at most ten times
 *  a second. */
void ex_progress_batch(ex_progress *p, int64_t i, int64_t n_samples, double loss);
/** Running mean loss of the current epoch. */
double ex_progress_loss(const ex_progress *p);
/** Erase the bar (if any) and print the epoch's line (printf-style, newline
 *  added) to stdout. */
void ex_progress_epoch_end(ex_progress *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- result line (result.c) ---- */

typedef struct ex_result {
    char buf[1024];
    size_t len;
} ex_result;
/** Append " key=value" (value printf-formatted). */
void ex_result_add(ex_result *r, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/** Print "result: key=value ..." and a newline to stdout, and flush. */
void ex_result_print(const ex_result *r);

/* ---- SVG line plot (plot.c) ---- */

/** One curve: y[0..n) plotted at x = 1..n (epochs). right_axis: 1 to scale
 *  it against the right-hand axis. Non-finite values are skipped and the
 *  line joins the points on either side (a value measured every N epochs). */
typedef struct ex_series {
    const char *name;
    const double *y;
    int n;
    int right_axis;
} ex_series;

/** Write a line plot with axes, ticks, axis labels, a legend and a title to
 *  path. ylabel_right may be NULL when no series uses the right axis.
 *  Returns 0, or -1 with errno set when the file cannot be written. */
int ex_plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel_left,
                const char *ylabel_right, const ex_series *s, int ns);

/* ---- early stopping, the lecture's rule (early_stop.c) ---- */

/** The state of --early-stop: a copy of every parameter at the best
 *  validation check so far. Zero-initialise with EX_EARLY_STOP_INIT. */
typedef struct ex_early_stop {
    int n;
    void **data;        /* the parameters' bytes at the best check */
    double best_err, last_err;
    int best_epoch;     /* 0 until the first check */
} ex_early_stop;
#define EX_EARLY_STOP_INIT {0, NULL, INFINITY, INFINITY, 0}

/** Record a validation check after epoch ep: when its error (1 - val_acc) is
 *  the lowest so far, copy every parameter of ctx. *stop becomes 1 when the
 *  error rose above the previous check's. Returns 0, or -1 on no memory. */
int ex_early_stop_check(ex_early_stop *e, tg_ctx *ctx, int ep, double val_acc, int *stop);
/** After training for epochs_run epochs: if the best check was an earlier
 *  epoch, copy its parameters back into ctx and return 1; else return 0. */
int ex_early_stop_restore(const ex_early_stop *e, tg_ctx *ctx, int epochs_run);
/** Free the copies. */
void ex_early_stop_free(ex_early_stop *e);

/* ---- a training run's shared pieces (train.c) ---- */

/** A context seeded with seed, running threads workers (0: TG_THREADS or
 *  one per core); NULL when out of memory. */
tg_ctx *ex_ctx_new(int seed, int threads);
/** Begin epoch `epoch` of a shuffled run: tell the progress reporter, and
 *  shuffle perm[0..n) with the context's RNG (a seed replays the order).
 *  Returns the epoch's start time (ex_now). */
double ex_epoch_begin(ex_progress *pr, tg_ctx *ctx, int epoch, int64_t *perm, int64_t n);
/** The end of a training step whose loss was recorded on tape, st being
 *  how its backward pass went: when st is TG_OK, one optimizer step; then
 *  *lv = the loss's value (NaN without a loss), zero the grads and end the
 *  tape (NULL: none began). Returns st or the step's failure. */
tg_status ex_step_end(tg_optim *opt, tg_tape *tape, tg_tensor *loss, tg_status st, double *lv);
/** Print "PROG: epoch E batch B+1: why" (the last error in ctx, else st's
 *  text) for a training step that failed; returns EX_RUNTIME. batch is
 *  0-based. */
int ex_step_error(const char *prog, tg_ctx *ctx, tg_status st, int epoch, int64_t batch);
/** Divergence: a training loss that is not finite, or whose magnitude
 *  exceeds EX_DIVERGE_FACTOR times the run's first loss (at least 1 in
 *  magnitude). Normal runs of every example stay within a factor of 10 of
 *  their start (the start is the untrained model's loss, the largest a sane
 *  run sees); a run whose losses grow to 1e4 times it (GAN d_loss 3.6e22,
 *  lenet5 at --lr 1000) is no longer learning, and the program ends with
 *  exit 1 and a message naming the epoch instead of reporting a result. */
#define EX_DIVERGE_FACTOR 1e4
/** 1 when loss has diverged (see EX_DIVERGE_FACTOR); *start holds the
 *  first loss: NAN before the first call, which records it. */
int ex_diverged(double *start, double loss);
/** Print that the training and test images differ in size; returns
 *  EX_RUNTIME. */
int ex_size_error(const char *prog, const tg_dataset *train, const tg_dataset *test);
/** Load the MNIST-layout sets "train" and "t10k" of dir and keep the first
 *  limit images of each (0: all). Returns EX_OK, or EX_RUNTIME after
 *  printing why (a set that does not load, images of two sizes). The caller
 *  frees both sets either way. */
int ex_mnist_open(tg_ctx *ctx, const char *prog, const char *dir, int limit, tg_dataset *train, tg_dataset *test);
/** What an image program does once its flags are parsed: a context
 *  (ex_ctx_new), the two sets (ex_mnist_open), then run, whose result line
 *  is printed when it returns EX_OK. Returns the exit code. */
typedef int (*ex_image_run)(const void *opts, tg_ctx *ctx, const tg_dataset *train, const tg_dataset *test,
                            ex_result *res);
int ex_image_main(const char *prog, const char *dir, int limit, int seed, int threads, ex_image_run run,
                  const void *opts);
/** --dot: write tape (after backward: edges carry gradient norms) as
 *  Graphviz DOT to path, titled "PROG: the first training step". */
tg_status ex_write_dot(tg_ctx *ctx, tg_tape *tape, const char *prog, const char *path);

/** Largest evaluation batch of ex_accuracy (its index arrays are on the
 *  stack: 12 kB at 1000). */
#define EX_EVAL_MAX 1000
/** One evaluation batch: samples idx[0..B) (absolute indices), done
 *  samples before it. Returns 0, or nonzero to stop. */
typedef int (*ex_batch_fn)(void *user, int64_t done, const int64_t *idx, int64_t B);
/** Run fn over samples [first, first + n) in batches of at most batch
 *  (≤ EX_EVAL_MAX; 0 means EX_EVAL_MAX), under no-grad, each call on a tape
 *  of its own that ends after it (so memory is bounded by one batch).
 *  Returns 0, -1 when a tape cannot begin, or fn's first nonzero return. */
int ex_eval_batches(tg_ctx *ctx, int64_t first, int64_t n, int batch, ex_batch_fn fn, void *user);
/** The logits (B, C) of samples idx[0..B) of ds on the active tape, with
 *  labels[0..B) filled; NULL on failure (message in the context). */
typedef tg_tensor *(*ex_logits_fn)(void *user, const tg_dataset *ds, const int64_t *idx, int64_t B,
                                   int32_t *labels);
/** Accuracy on samples [first, first + n) of ds, through ex_eval_batches:
 *  a sample is right when its first largest logit is its label. Returns 0,
 *  or -1 when logits failed. */
int ex_accuracy(tg_ctx *ctx, ex_logits_fn logits, void *user, const tg_dataset *ds, int64_t first, int64_t n,
                int batch, double *acc);

#endif /* EX_COMMON_H */
