/* test_mlp_exact: ten SGD steps of the lecture's 784-500-10 ReLU MLP in f64,
 * compared with PyTorch (test/ref/mlp_ref.txt, made by
 * test/ref/make_mlp_ref.py; that script documents the initial-weight formula,
 * the data and the file format). Every loss, every parameter's sum, sum of
 * squares and sampled elements must agree to 1e-9 relative.
 *
 * Exit 0 pass, 1 fail, 77 skip (no Fashion-MNIST at TG_DATA or the default
 * directory). */
#include "tapegrad.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define STEPS 10
#define BATCH 200
#define RTOL 1e-9

static double worst = 0;

/* |got - want| <= RTOL·max(|got|, |want|) + atol */
static void check(const char *what, double got, double want, double atol) {
    double err = fabs(got - want), scale = fmax(fabs(got), fabs(want));
    double rel = scale > 0 ? err / scale : 0;
    CHECK(err <= RTOL * scale + atol, "%s: got %.17g want %.17g (rel err %.3g)", what, got, want, rel);
    if (rel > worst && err > atol) worst = rel;
}

/* The initial values of make_mlp_ref.py. */
static void init_params(tg_dense *l1, tg_dense *l2) {
    for (int i = 0; i < 784; i++)
        for (int j = 0; j < 500; j++) tg_set(l1->W, i * 500 + j, 0.05 * sin(0.37 * i + 1.13 * j + 0.5));
    for (int j = 0; j < 500; j++) tg_set(l1->b, j, 0.01 * cos(0.71 * j));
    for (int j = 0; j < 500; j++)
        for (int k = 0; k < 10; k++) tg_set(l2->W, j * 10 + k, 0.1 * sin(0.53 * j + 1.7 * k + 0.3));
    for (int k = 0; k < 10; k++) tg_set(l2->b, k, 0.01 * sin(1.3 * k + 0.2));
}

/* Compensated (Neumaier) sums, so that the order of summation hardly matters. */
static void sums(const tg_tensor *t, double *s, double *sq, double *sa) {
    double v[3] = {0, 0, 0}, c[3] = {0, 0, 0};
    for (int64_t i = 0; i < t->numel; i++) {
        double x = tg_get(t, i), add[3] = {x, x * x, fabs(x)};
        for (int k = 0; k < 3; k++) {
            double y = v[k] + add[k];
            c[k] += fabs(v[k]) >= fabs(add[k]) ? (v[k] - y) + add[k] : (add[k] - y) + v[k];
            v[k] = y;
        }
    }
    *s = v[0] + c[0], *sq = v[1] + c[1], *sa = v[2] + c[2];
}

int main(void) {
    const char *data = getenv("TG_DATA") ? getenv("TG_DATA") : tg_default_data_dir();
    struct stat st;
    if (stat(data, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("SKIP: Fashion-MNIST not found at %s (install dataset-fashion-mnist or set TG_DATA)\n", data);
        return 77;
    }
    char ref_path[4096];
    const char *src = getenv("TG_SRCDIR");
    snprintf(ref_path, sizeof ref_path, "%s/test/ref/mlp_ref.txt", src ? src : ".");
    FILE *ref = fopen(ref_path, "r");
    if (!ref) {
        fprintf(stderr, "FAIL: cannot open %s (set TG_SRCDIR to the source tree)\n", ref_path);
        return 1;
    }

    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_dataset train = {0};
    if (!ctx || tg_mnist_load(ctx, data, "train", &train) != TG_OK) {
        fprintf(stderr, "FAIL: loading %s: %s\n", data, ctx ? tg_last_error(ctx) : "no memory");
        return 1;
    }
    tg_dense l1, l2;
    tg_optim_config oc = tg_optim_defaults(TG_OPT_SGD);
    oc.lr = 0.1;
    tg_optim *opt = NULL;
    if (tg_dense_init(&l1, ctx, "fc1", 784, 500, TG_F64, TG_INIT_ZERO) != TG_OK ||
        tg_dense_init(&l2, ctx, "fc2", 500, 10, TG_F64, TG_INIT_ZERO) != TG_OK ||
        !(opt = tg_optim_new(ctx, &oc, NULL, 0))) {
        fprintf(stderr, "FAIL: setup: %s\n", tg_last_error(ctx));
        return 1;
    }
    init_params(&l1, &l2);

    double losses[STEPS];
    int64_t idx[BATCH];
    int32_t labels[BATCH];
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < BATCH; i++) idx[i] = (int64_t)s * BATCH + i;
        tg_tape *tape = tg_tape_begin(ctx);
        int64_t shape[2] = {BATCH, 784};
        tg_tensor *x = tg_tensor_temp(ctx, TG_F64, 2, shape);
        tg_tensor *loss = NULL;
        if (x && tg_dataset_batch(&train, idx, BATCH, x, labels) == TG_OK)
            loss = tg_cross_entropy(tg_dense_forward(&l2, tg_relu(tg_dense_forward(&l1, x))), labels, TG_MEAN);
        tg_status rc = loss ? tg_backward(loss) : TG_EINVAL;
        if (rc == TG_OK) rc = tg_optim_step(opt);
        losses[s] = loss ? tg_item(loss) : NAN;
        tg_optim_zero_grad(opt);
        tg_tape_end(tape);
        if (rc != TG_OK) {
            fprintf(stderr, "FAIL: step %d: %s\n", s, tg_last_error(ctx));
            return 1;
        }
    }

    char line[512], name[64], what[160];
    int n_loss = 0, n_param = 0, n_elem = 0;
    while (fgets(line, sizeof line, ref)) {
        int s;
        long long k;
        double v, sum, sumsq, sumabs;
        if (line[0] == '#' || line[0] == '\n') continue;
        if (sscanf(line, "loss %d %lf", &s, &v) == 2 && s >= 0 && s < STEPS) {
            snprintf(what, sizeof what, "loss of step %d", s);
            check(what, losses[s], v, 0);
            n_loss++;
        } else if (sscanf(line, "param %63s %lld %lf %lf %lf", name, &k, &sum, &sumsq, &sumabs) == 5) {
            tg_tensor *p = tg_param_find(ctx, name);
            if (!p || p->numel != k) {
                FAILF("parameter %s (%lld elements) missing or of another size", name, k);
                continue;
            }
            double gs, gq, ga;
            sums(p, &gs, &gq, &ga);
            /* a sum may cancel to near zero: allow 1e-12 of the sum of |p| */
            snprintf(what, sizeof what, "sum of %s", name);
            check(what, gs, sum, 1e-12 * sumabs);
            snprintf(what, sizeof what, "sum of squares of %s", name);
            check(what, gq, sumsq, 0);
            snprintf(what, sizeof what, "sum of |.| of %s", name);
            check(what, ga, sumabs, 0);
            n_param++;
        } else if (sscanf(line, "elem %63s %lld %lf", name, &k, &v) == 3) {
            tg_tensor *p = tg_param_find(ctx, name);
            if (!p || k < 0 || k >= p->numel) {
                FAILF("element %s[%lld] does not exist", name, k);
                continue;
            }
            snprintf(what, sizeof what, "%s[%lld]", name, k);
            check(what, tg_get(p, k), v, 1e-15);
            n_elem++;
        } else {
            FAILF("unreadable line in %s: %s", ref_path, line);
        }
    }
    fclose(ref);
    CHECK(n_loss == STEPS && n_param == 4 && n_elem >= 100, "%s holds %d losses, %d parameters, %d elements",
          ref_path, n_loss, n_param, n_elem);
    printf("mlp_exact: %d losses, %d parameter sums, %d elements vs PyTorch f64; worst rel err %.3g; %s\n",
           n_loss, n_param, n_elem, worst, tl_fail ? "FAIL" : "ok");
    tg_optim_free(opt);
    tg_dataset_free(&train);
    tg_ctx_free(ctx);
    return tl_summary();
}
