/* tabular: train a classifier on your own data, a CSV file, and list what a
 * checkpoint holds.
 *
 *   tabular --csv data.csv --label 4            # the label in column 4 (0-based)
 *   tabular --csv data.csv --label 4 --save m.safetensors
 *   tabular --list m.safetensors                # names, dtypes, shapes, optimizer
 *
 * The CSV is read by tg_table_read_csv (one sample per line, a header line
 * allowed; docs/training.md, "Your own data"); the features are standardized
 * with the training rows' mean and deviation, and a D-H-C MLP (ReLU, softmax
 * cross-entropy, Adam, full batches of --batch rows) is trained on the first
 * 80% of the rows (in the file's order after a seeded shuffle) and tested on
 * the rest. --list prints tg_checkpoint_info_read's view of a file and
 * trains nothing.
 *
 * Last line: "result: train_acc=... test_acc=... rows=... features=...
 * classes=..." or, with --list, "result: tensors=... optim=... steps=...".
 * Exit codes: 0 ok, 1 runtime error (a data error included), 2 usage error. */
#include "common.h"

#include <math.h>
#include <stdlib.h>

#define PROG "tabular"

static const char *const dtype_names[] = {"f32", "f64"};

static int list(tg_ctx *ctx, const char *path) {
    tg_checkpoint_info info;
    if (tg_checkpoint_info_read(ctx, path, &info) != TG_OK) return ex_runtime_error(PROG, "--list: %s", tg_last_error(ctx));
    for (int i = 0; i < info.n; i++) {
        const tg_checkpoint_entry *e = &info.entries[i];
        printf("%-32s %s [", e->name, dtype_names[e->dtype == TG_F64]);
        for (int d = 0; d < e->rank; d++) printf("%s%lld", d ? "," : "", (long long)e->shape[d]);
        printf("]\n");
    }
    printf("optimizer: %s", info.optim[0] ? info.optim : "none");
    if (info.optim[0]) printf(", %lld steps", (long long)info.optim_steps);
    printf("\n");
    ex_result res = {0};
    ex_result_add(&res, "tensors", "%d", info.n);
    ex_result_add(&res, "optim", "%s", info.optim[0] ? info.optim : "none");
    ex_result_add(&res, "steps", "%lld", (long long)info.optim_steps);
    ex_result_print(&res);
    tg_checkpoint_info_free(&info);
    return EX_OK;
}

typedef struct model {
    tg_dense l1, l2;
} model;

static tg_tensor *logits(model *m, tg_tensor *x) { return tg_dense_forward(&m->l2, tg_relu(tg_dense_forward(&m->l1, x))); }

/* Accuracy on rows idx[0..n). */
static double accuracy(tg_ctx *ctx, model *m, const tg_table *t, const int64_t *idx, int64_t n) {
    if (n == 0) return NAN;
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, (int64_t[]){n, t->d});
    int32_t *y = malloc((size_t)n * sizeof *y);
    int64_t right = -1;
    tg_tensor *z = NULL;
    if (x && y && tg_table_batch(t, idx, n, x, y) == TG_OK) {
        tg_no_grad_begin(ctx);
        z = logits(m, x);
        tg_no_grad_end(ctx);
    }
    if (z) {
        right = 0;
        for (int64_t i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < t->classes; c++)
                if (tg_get(z, i * t->classes + c) > tg_get(z, i * t->classes + best)) best = c;
            right += best == y[i];
        }
    }
    free(y);
    tg_tape_end(tape);
    return right < 0 ? NAN : (double)right / (double)n;
}

/* Standardize each feature with the training rows' mean and deviation. */
static void standardize(tg_table *t, const int64_t *idx, int64_t n_train) {
    float *x = t->x;
    for (int64_t j = 0; j < t->d; j++) {
        double s = 0, s2 = 0;
        for (int64_t i = 0; i < n_train; i++) s += x[idx[i] * t->d + j];
        double mean = s / (double)n_train;
        for (int64_t i = 0; i < n_train; i++) s2 += pow(x[idx[i] * t->d + j] - mean, 2);
        double sd = sqrt(s2 / (double)n_train);
        if (sd < 1e-12) sd = 1;
        for (int64_t i = 0; i < t->n; i++) x[i * t->d + j] = (float)((x[i * t->d + j] - mean) / sd);
    }
}

static int train(tg_ctx *ctx, tg_table *t, int hidden, int epochs, int batch, double lr, const char *save) {
    if (t->labels == NULL || t->classes < 2)
        return ex_runtime_error(PROG, "--csv: the labels hold %d class(es); a classifier needs two or more",
                                t->classes);
    int64_t *perm = malloc((size_t)t->n * sizeof *perm);
    int32_t *y = malloc((size_t)(batch < t->n ? batch : t->n) * sizeof *y);
    if (!perm || !y) {
        free(perm), free(y);
        return ex_runtime_error(PROG, "out of memory");
    }
    for (int64_t i = 0; i < t->n; i++) perm[i] = i;
    tg_shuffle(ctx, perm, t->n);
    int64_t n_train = t->n - t->n / 5, n_test = t->n - n_train;
    standardize(t, perm, n_train);
    model m;
    int rc = EX_OK;
    tg_optim *opt = NULL;
    if (tg_dense_init(&m.l1, ctx, "fc1", t->d, hidden, TG_F32, TG_INIT_HE) != TG_OK ||
        tg_dense_init(&m.l2, ctx, "fc2", hidden, t->classes, TG_F32, TG_INIT_XAVIER) != TG_OK) {
        rc = ex_runtime_error(PROG, "building the model: %s", tg_last_error(ctx));
        goto out;
    }
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    oc.lr = lr;
    opt = tg_optim_new(ctx, &oc, NULL, 0);
    if (!opt) {
        rc = ex_runtime_error(PROG, "creating the optimizer: %s", tg_last_error(ctx));
        goto out;
    }
    double lv = NAN;
    for (int e = 1; e <= epochs && rc == EX_OK; e++) {
        tg_shuffle(ctx, perm, n_train);
        for (int64_t b0 = 0; b0 < n_train && rc == EX_OK; b0 += batch) {
            int64_t nb = n_train - b0 < batch ? n_train - b0 : batch;
            tg_tape *tape = tg_tape_begin(ctx);
            tg_tensor *x = tg_tensor_temp(ctx, TG_F32, 2, (int64_t[]){nb, t->d});
            tg_status st = x ? tg_table_batch(t, perm + b0, nb, x, y) : TG_ENOMEM;
            tg_tensor *loss = st == TG_OK ? tg_cross_entropy(logits(&m, x), y, TG_MEAN) : NULL;
            st = ex_step_end(opt, tape, loss, loss ? tg_backward(loss) : TG_EINVAL, &lv);
            if (st != TG_OK) rc = ex_step_error(PROG, ctx, st, e, b0 / batch);
        }
        if (rc == EX_OK) printf("epoch %3d  train_loss %.4f\n", e, lv);
    }
    if (rc != EX_OK) goto out;
    /* the test rows are the last fifth of the first shuffle: perm[n_train..n) was never reshuffled */
    double tr = accuracy(ctx, &m, t, perm, n_train), te = accuracy(ctx, &m, t, perm + n_train, n_test);
    if (save && tg_checkpoint_save(ctx, save, opt) != TG_OK) {
        rc = ex_runtime_error(PROG, "--save: %s", tg_last_error(ctx));
        goto out;
    }
    if (save) printf("saved %s\n", save);
    ex_result res = {0};
    ex_result_add(&res, "train_acc", "%.4f", tr);
    ex_result_add(&res, "test_acc", "%.4f", te);
    ex_result_add(&res, "rows", "%lld", (long long)t->n);
    ex_result_add(&res, "features", "%lld", (long long)t->d);
    ex_result_add(&res, "classes", "%d", t->classes);
    ex_result_print(&res);
out:
    tg_optim_free(opt);
    free(perm);
    free(y);
    return rc;
}

int main(int argc, char **argv) {
    const char *csv = NULL, *listf = NULL, *save = NULL;
    int label = -1, hidden = 32, epochs = 50, batch = 64, seed = 42;
    double lr = 1e-2;
    ex_flag flags[] = {
        ex_flag_file("csv", &csv, "FILE", "the data: one sample per line, numbers separated by commas"),
        ex_flag_int("label", &label, "0-based column of the class label (0, 1, 2, ...)", 0, 99999),
        ex_flag_int("hidden", &hidden, "hidden units", 1, 100000),
        ex_flag_int("epochs", &epochs, "passes over the training rows", 1, 1000000),
        ex_flag_int("batch", &batch, "rows per step", 1, 1000000),
        ex_flag_lr(&lr, "Adam learning rate", 10),
        ex_flag_min("seed", &seed, "seed of the shuffle and the initial weights", 0),
        ex_flag_file("save", &save, "FILE", "save parameters and optimizer state (safetensors) after training"),
        ex_flag_file("list", &listf, "FILE", "list what a checkpoint holds (names, dtypes, shapes, optimizer) and exit"),
    };
    int rc = ex_parse(argc, argv, PROG,
                      "Train an MLP classifier on a CSV file of your own, or list what a checkpoint holds.",
                      flags, (int)(sizeof flags / sizeof flags[0]));
    if (rc >= 0) return rc;
    if (save) { /* each flag's own value first, then how they combine */
        char msg[512];
        if (ex_check_writable(save, msg, sizeof msg) != 0) return ex_usage_error(PROG, "--save: %s", msg);
    }
    if (!csv == !listf) return ex_usage_error(PROG, "give one of --csv FILE (to train) and --list FILE");
    if (listf && (save || ex_flag_find(flags, 9, "label")->set))
        return ex_usage_error(PROG, "--list trains nothing: drop --save and --label");
    if (csv && label < 0) return ex_usage_error(PROG, "--csv needs --label N, the column of the class label");
    tg_ctx *ctx = ex_ctx_new(seed, 1);
    if (!ctx) return ex_runtime_error(PROG, "out of memory");
    if (listf) {
        rc = list(ctx, listf);
    } else {
        tg_table t;
        if (tg_table_read_csv(ctx, csv, TG_F32, label, &t) != TG_OK) {
            rc = ex_runtime_error(PROG, "--csv: %s", tg_last_error(ctx));
        } else {
            printf("%s: %lld rows, %lld features, %d classes\n", csv, (long long)t.n, (long long)t.d, t.classes);
            rc = train(ctx, &t, hidden, epochs, batch, lr, save);
            tg_table_free(&t);
        }
    }
    tg_ctx_free(ctx);
    return rc;
}
