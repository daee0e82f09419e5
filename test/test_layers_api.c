/* test_layers_api: the layer API's contracts (issue 14, sections 3 and 5).
 *
 *   - every layer's init is all or nothing: with the n-th allocation of an
 *     init refused (for every n the clean init makes), the init fails, the
 *     context holds the parameters it held before, the struct is zeroed and
 *     no byte is left allocated;
 *   - one name limit, TG_LAYER_NAME_MAX = 116, for every layer; with the
 *     longest suffix, ".l7r.bhn" (8 bytes), a name stays within
 *     tg_param_new's 127;
 *   - tg_layer_param finds a layer's tensors by role; known weights set
 *     through it give x·W + b worked out by hand;
 *   - a zero field of tg_conv_opts is its default: {.stride = {2, 2}} and
 *     {.dilation = {2, 2}} against sums worked out by hand;
 *   - every layer has a free that zeroes it (a conv layer's mask released);
 *   - tg_dataset_load takes the class count from the caller or the labels;
 *   - tg__error is tg_set_error (one function).
 * Every check counts (test/testlib.h); the test fails when any fails or when
 * fewer than the expected number ran. Exit 0 pass, 1 fail. */
#include "graph_internal.h"
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a counting allocator that refuses the n-th request ---- */

static long g_calls, g_fail_at;

static void *count_alloc(size_t size, void *user) {
    (void)user;
    if (++g_calls == g_fail_at) return NULL;
    return malloc(size);
}
static void count_release(void *p, void *user) {
    (void)user;
    free(p);
}

/* ---- the layers, one init each, behind one signature ---- */

enum { L_DENSE, L_CONV, L_TREE, L_CELL, L_RNN, L_COUNT };
static const char *const kind_name[L_COUNT] = {"dense", "conv2d_layer", "tree_layer", "cell", "rnn"};

typedef union any_layer {
    tg_dense dense;
    tg_conv2d_layer conv;
    tg_tree_layer tree;
    tg_cell cell;
    tg_rnn rnn;
} any_layer;

static tg_status init_layer(int kind, any_layer *l, tg_ctx *ctx, const char *name) {
    switch (kind) {
    case L_DENSE: return tg_dense_init(&l->dense, ctx, name, 3, 2, TG_F32, TG_INIT_XAVIER);
    case L_CONV: return tg_conv2d_layer_init(&l->conv, ctx, name, 2, 4, 3, 3, NULL, TG_F64, TG_INIT_HE);
    case L_TREE: return tg_tree_layer_init(&l->tree, ctx, name, 4, TG_F32);
    case L_CELL: return tg_cell_init(&l->cell, ctx, name, TG_CELL_GRU, 3, 4, TG_F32);
    default: return tg_rnn_init(&l->rnn, ctx, name, TG_CELL_GRU_TORCH, 3, 4, 2, 1, TG_F32);
    }
}

/* Parameters each init makes: dense, conv, tree W and b; a GRU cell Wx, Wh,
 * b, Uc; a 2-layer bidirectional gru_torch rnn 4 cells of Wx, Wh, b, bhn. */
static const int n_params_of[L_COUNT] = {2, 2, 2, 4, 16};

/* l may be NULL: every free must accept it. */
static void free_layer(int kind, any_layer *l) {
    switch (kind) {
    case L_DENSE: tg_dense_free(l ? &l->dense : NULL); break;
    case L_CONV: tg_conv2d_layer_free(l ? &l->conv : NULL); break;
    case L_TREE: tg_tree_layer_free(l ? &l->tree : NULL); break;
    case L_CELL: tg_cell_free(l ? &l->cell : NULL); break;
    default: tg_rnn_free(l ? &l->rnn : NULL); break;
    }
}

static size_t layer_size(int kind) {
    any_layer *l = NULL;
    switch (kind) {
    case L_DENSE: return sizeof l->dense;
    case L_CONV: return sizeof l->conv;
    case L_TREE: return sizeof l->tree;
    case L_CELL: return sizeof l->cell;
    default: return sizeof l->rnn;
    }
}

static int is_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

/* A one-thread context holding one dense layer "pre", so that each init
 * below runs in the same state and makes the same allocations. */
static tg_ctx *fresh_ctx(void) {
    tg_config cfg = tg_config_default();
    cfg.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    tg_dense pre;
    if (ctx && tg_dense_init(&pre, ctx, "pre", 2, 2, TG_F32, TG_INIT_ZERO) != TG_OK) {
        tg_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

/* All or nothing under every single allocation failure of each init. */
static void test_all_or_nothing(void) {
    for (int kind = 0; kind < L_COUNT; kind++) {
        any_layer l;
        /* Count the allocations of one clean init. */
        tg_ctx *ctx = fresh_ctx();
        int np0 = tg_param_count(ctx);
        long c0 = g_calls;
        CHECK(init_layer(kind, &l, ctx, "victim") == TG_OK, "%s: clean init: %s", kind_name[kind], tg_last_error(ctx));
        long n_allocs = g_calls - c0;
        CHECK(tg_param_count(ctx) == np0 + n_params_of[kind], "%s: clean init made %d parameters, expected %d",
              kind_name[kind], tg_param_count(ctx) - np0, n_params_of[kind]);
        /* Each parameter is at least its struct, data, grad and name. */
        CHECK(n_allocs >= 4 * n_params_of[kind], "%s: %ld allocations for %d parameters", kind_name[kind], n_allocs,
              n_params_of[kind]);
        free_layer(kind, &l);
        tg_ctx_free(ctx);
        int refused = 0;
        for (long k = 1; k <= n_allocs; k++) {
            tg_alloc_stats s0 = tg_alloc_stats_get();
            ctx = fresh_ctx();
            memset(&l, 0xA5, sizeof l);
            g_fail_at = g_calls + k;
            tg_status st = init_layer(kind, &l, ctx, "victim");
            g_fail_at = 0;
            if (st == TG_OK) {
                /* None of these inits has a fallback, so this is a finding. */
                CHECK(0, "%s: init succeeded with allocation %ld of %ld refused", kind_name[kind], k, n_allocs);
            } else {
                refused++;
                CHECK(st == TG_ENOMEM && strstr(tg_last_error(ctx), "out of memory"),
                      "%s, allocation %ld refused: status %d '%s'", kind_name[kind], k, (int)st, tg_last_error(ctx));
                CHECK(tg_param_count(ctx) == np0, "%s, allocation %ld refused: %d parameters left registered",
                      kind_name[kind], k, tg_param_count(ctx) - np0);
                CHECK(is_zero(&l, layer_size(kind)), "%s, allocation %ld refused: the struct is not zeroed",
                      kind_name[kind], k);
                /* The name is free again: a clean init under it works. */
                any_layer again;
                CHECK(init_layer(kind, &again, ctx, "victim") == TG_OK, "%s, allocation %ld refused, then: %s",
                      kind_name[kind], k, tg_last_error(ctx));
                free_layer(kind, &again);
            }
            free_layer(kind, &l);
            tg_ctx_free(ctx);
            tg_alloc_stats s1 = tg_alloc_stats_get();
            CHECK(s1.bytes_live == s0.bytes_live, "%s, allocation %ld refused: %lld bytes leaked", kind_name[kind], k,
                  (long long)(s1.bytes_live - s0.bytes_live));
        }
        CHECK(refused == n_allocs, "%s: %d of %ld refusals failed the init", kind_name[kind], refused, n_allocs);
    }
}

/* One name limit: TG_LAYER_NAME_MAX bytes pass, one more fails, for every
 * layer; the longest parameter name any layer makes fits tg_param_new's 127. */
static void test_name_limit(void) {
    CHECK(TG_LAYER_NAME_MAX == 116 && TG_LAYER_NAME_MAX + (int)strlen(".l7r.bhn") <= 127,
          "TG_LAYER_NAME_MAX is %d: the documented limit is 116, and 116 + 8 <= 127", TG_LAYER_NAME_MAX);
    tg_ctx *ctx = tg_ctx_new(NULL);
    char name[TG_LAYER_NAME_MAX + 2];
    for (int kind = 0; kind < L_COUNT; kind++) {
        any_layer l;
        memset(name, 'a' + kind, sizeof name - 1);
        name[sizeof name - 1] = 0; /* TG_LAYER_NAME_MAX + 1 bytes */
        int np = tg_param_count(ctx);
        tg_status st = init_layer(kind, &l, ctx, name);
        CHECK(st == TG_EINVAL && strstr(tg_last_error(ctx), "1 to 116 bytes") && tg_param_count(ctx) == np,
              "%s: a %zu-byte name gave %d '%s' and %d parameters", kind_name[kind], strlen(name), (int)st,
              tg_last_error(ctx), tg_param_count(ctx) - np);
        name[TG_LAYER_NAME_MAX] = 0;
        st = init_layer(kind, &l, ctx, name);
        CHECK(st == TG_OK, "%s: a %zu-byte name: %s", kind_name[kind], strlen(name), tg_last_error(ctx));
        free_layer(kind, &l);
        CHECK(init_layer(kind, &l, ctx, "") == TG_EINVAL, "%s: an empty name is accepted", kind_name[kind]);
    }
    /* The longest suffix: the reverse cell of layer 7, a gru_torch's bhn. */
    tg_rnn r;
    memset(name, 'z', TG_LAYER_NAME_MAX);
    name[TG_LAYER_NAME_MAX] = 0;
    CHECK(tg_rnn_init(&r, ctx, name, TG_CELL_GRU_TORCH, 2, 2, 8, 1, TG_F32) == TG_OK, "8-layer rnn: %s",
          tg_last_error(ctx));
    char longest[200];
    snprintf(longest, sizeof longest, "%s.l7r.bhn", name);
    tg_tensor *p = tg_param_find(ctx, longest);
    CHECK(p && p == r.cell[7][1].bhn && strlen(longest) == 124, "'<116>.l7r.bhn' (%zu bytes) not found",
          strlen(longest));
    tg_ctx_free(ctx);
}

/* A clash with any of a layer's names creates nothing. */
static void test_clash(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    int64_t sh[1] = {3};
    CHECK(tg_param_new(ctx, "taken.b", TG_F32, 1, sh) != NULL, "param");
    int np = tg_param_count(ctx);
    tg_dense d;
    CHECK(tg_dense_init(&d, ctx, "taken", 2, 3, TG_F32, TG_INIT_HE) == TG_EINVAL &&
              strstr(tg_last_error(ctx), "already exist") && tg_param_count(ctx) == np && !tg_param_find(ctx, "taken.W"),
          "a clash on .b: '%s', %d new parameters", tg_last_error(ctx), tg_param_count(ctx) - np);
    tg_rnn r;
    CHECK(tg_param_new(ctx, "stack.l1r.Wh", TG_F32, 1, sh) != NULL, "param");
    np = tg_param_count(ctx);
    CHECK(tg_rnn_init(&r, ctx, "stack", TG_CELL_LSTM, 3, 4, 2, 1, TG_F32) == TG_EINVAL && tg_param_count(ctx) == np &&
              !tg_param_find(ctx, "stack.l0.Wx"),
          "a clash in the last cell of an rnn left %d parameters: '%s'", tg_param_count(ctx) - np, tg_last_error(ctx));
    tg_ctx_free(ctx);
}

/* Known weights through tg_layer_param; y = x·W + b by hand. */
static void test_layer_param(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_dense fc;
    CHECK(tg_dense_init(&fc, ctx, "fc", 2, 3, TG_F64, TG_INIT_XAVIER) == TG_OK, "dense");
    tg_tensor *W = tg_layer_param(ctx, "fc", "W"), *b = tg_layer_param(ctx, "fc", "b");
    CHECK(W == fc.W && b == fc.b, "roles W and b are not the layer's tensors");
    const double w[6] = {1, 2, 3, 4, 5, 6}, bias[3] = {0.5, -1, 2}, xv[2] = {1, 2};
    if (W && b) {
        tg_tensor_set_f64(W, w);
        tg_tensor_set_f64(b, bias);
    }
    tg_tape *t = tg_tape_begin(ctx);
    int64_t xs[2] = {1, 2};
    tg_tensor *x = tg_tensor_temp(ctx, TG_F64, 2, xs);
    tg_tensor_set_f64(x, xv);
    tg_tensor *y = tg_dense_forward(&fc, x);
    /* [1 2]·[[1 2 3],[4 5 6]] + [0.5 -1 2] = [1+8+0.5, 2+10-1, 3+12+2] */
    const double want[3] = {9.5, 11, 17};
    double got[3] = {0};
    if (y && y->numel == 3) tg_tensor_get_f64(y, got);
    for (int i = 0; i < 3; i++) CHECK(got[i] == want[i], "y[%d] = %g, expected %g", i, got[i], want[i]);
    tg_tape_end(t);

    tg_clear_error(ctx);
    CHECK(tg_layer_param(ctx, "fc", "X") == NULL && tg_last_status(ctx) == TG_EINVAL &&
              strstr(tg_last_error(ctx), "'fc.X'"),
          "an unknown role: '%s'", tg_last_error(ctx));
    CHECK(tg_layer_param(ctx, NULL, "W") == NULL && tg_layer_param(NULL, "fc", "W") == NULL, "NULL arguments");

    tg_rnn r;
    tg_cell c;
    tg_conv2d_layer cv;
    tg_tree_layer tr;
    CHECK(tg_rnn_init(&r, ctx, "enc", TG_CELL_LSTM, 3, 4, 2, 1, TG_F32) == TG_OK, "rnn");
    CHECK(tg_layer_param(ctx, "enc", "l1r.Wh") == r.cell[1][1].Wh && tg_layer_param(ctx, "enc", "l0.b") == r.cell[0][0].b,
          "rnn roles l1r.Wh, l0.b");
    CHECK(tg_cell_init(&c, ctx, "g", TG_CELL_GRU, 3, 4, TG_F32) == TG_OK, "cell");
    CHECK(tg_layer_param(ctx, "g", "Uc") == c.Uc && tg_layer_param(ctx, "g", "Wx") == c.Wx, "cell roles Uc, Wx");
    CHECK(tg_conv2d_layer_init(&cv, ctx, "c1", 1, 2, 3, 3, NULL, TG_F32, TG_INIT_HE) == TG_OK, "conv");
    CHECK(tg_layer_param(ctx, "c1", "W") == cv.W && tg_layer_param(ctx, "c1", "b") == cv.b, "conv roles");
    CHECK(tg_tree_layer_init(&tr, ctx, "tree", 3, TG_F32) == TG_OK, "tree");
    CHECK(tg_layer_param(ctx, "tree", "W") == tr.W && tg_layer_param(ctx, "tree", "b") == tr.b, "tree roles");
    tg_conv2d_layer_free(&cv);
    tg_ctx_free(ctx);
}

static tg_tensor *iota(tg_ctx *ctx, int rank, const int64_t *shape) {
    tg_tensor *t = tg_tensor_temp(ctx, TG_F64, rank, shape);
    for (int64_t i = 0; i < t->numel; i++) ((double *)t->data)[i] = (double)(i + 1);
    return t;
}
static tg_tensor *ones(tg_ctx *ctx, int rank, const int64_t *shape) {
    tg_tensor *t = tg_tensor_temp(ctx, TG_F64, rank, shape);
    tg_tensor_fill(t, 1.0);
    return t;
}

static void expect_values(const char *what, tg_tensor *y, int rank, const int64_t *shape, const double *want) {
    int ok = y && y->rank == rank;
    for (int d = 0; ok && d < rank; d++) ok = y->shape[d] == shape[d];
    CHECK(ok, "%s: shape %s", what, y ? tg__sh(y) : "NULL");
    if (!ok) return;
    for (int64_t i = 0; i < y->numel; i++)
        CHECK(((double *)y->data)[i] == want[i], "%s: y[%lld] = %g, expected %g", what, (long long)i,
              ((double *)y->data)[i], want[i]);
}

/* x (1,1,5,5) = 1..25 row-major, w = ones (1,1,3,3): each output is the sum
 * of a 3x3 window, summed here by hand. */
static void test_conv_opts_defaults(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_tape *t = tg_tape_begin(ctx);
    int64_t xs[4] = {1, 1, 5, 5}, ws[4] = {1, 1, 3, 3};
    tg_tensor *x = iota(ctx, 4, xs), *w = ones(ctx, 4, ws);
    /* windows at (0,0) (0,2) (2,0) (2,2): 1+2+3+6+7+8+11+12+13 = 63,
     * 3+4+5+8+9+10+13+14+15 = 81, 11+...+23 = 153, 13+...+25 = 171 */
    int64_t s2[4] = {1, 1, 2, 2};
    const double want_s2[4] = {63, 81, 153, 171};
    tg_conv_opts o = {.stride = {2, 2}};
    expect_values("conv2d {.stride = {2, 2}}", tg_conv2d(x, w, NULL, &o), 4, s2, want_s2);
    /* dilation 2: taps at rows/cols 0, 2, 4: 1+3+5+11+13+15+21+23+25 = 117 */
    int64_t s1[4] = {1, 1, 1, 1};
    const double want_d2[1] = {117};
    tg_conv_opts od = {.dilation = {2, 2}};
    expect_values("conv2d {.dilation = {2, 2}}", tg_conv2d(x, w, NULL, &od), 4, s1, want_d2);
    /* all zero = NULL = stride 1: (0,0) window 63, (0,1) 72, ... (2,2) 171 */
    int64_t s3[4] = {1, 1, 3, 3};
    const double want_s1[9] = {63, 72, 81, 108, 117, 126, 153, 162, 171};
    tg_conv_opts oz = {0};
    expect_values("conv2d zero opts", tg_conv2d(x, w, NULL, &oz), 4, s3, want_s1);
    expect_values("conv2d NULL opts", tg_conv2d(x, w, NULL, NULL), 4, s3, want_s1);
    /* conv1d: x 1..5, w ones(3), stride 2: 1+2+3 = 6, 3+4+5 = 12 */
    int64_t x1[3] = {1, 1, 5}, w1[3] = {1, 1, 3}, y1[3] = {1, 1, 2};
    const double want1[2] = {6, 12};
    tg_conv_opts o1 = {.stride = {2}};
    expect_values("conv1d {.stride = {2}}", tg_conv1d(iota(ctx, 3, x1), ones(ctx, 3, w1), NULL, &o1), 3, y1, want1);
    /* a negative field is still an error naming the op */
    tg_conv_opts neg = {.dilation = {-1, 1}};
    CHECK(tg_conv2d(x, w, NULL, &neg) == NULL && strstr(tg_last_error(ctx), "conv2d"), "dilation -1: '%s'",
          tg_last_error(ctx));
    tg_tape_end(t);

    /* The layer reads the same defaults and keeps the filled-in options. */
    tg_conv2d_layer L;
    CHECK(tg_conv2d_layer_init(&L, ctx, "c", 2, 4, 3, 3, &(tg_conv_opts){.stride = {2, 2}, .pad = {1, 1}}, TG_F32,
                               TG_INIT_HE) == TG_OK,
          "conv layer with {.stride, .pad}: %s", tg_last_error(ctx));
    CHECK(L.opts.stride[0] == 2 && L.opts.stride[1] == 2 && L.opts.pad[0] == 1 && L.opts.dilation[0] == 1 &&
              L.opts.dilation[1] == 1 && L.opts.groups == 1,
          "layer opts stride (%d,%d) pad %d dilation (%d,%d) groups %d", L.opts.stride[0], L.opts.stride[1],
          L.opts.pad[0], L.opts.dilation[0], L.opts.dilation[1], L.opts.groups);
    tg_conv2d_layer_free(&L);
    tg_ctx_free(ctx);
}

/* free zeroes every layer and releases a conv layer's mask (LeakSanitizer
 * and the live-byte count catch a mask left behind). */
static void test_free(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    tg_conv2d_layer L;
    CHECK(tg_conv2d_layer_init(&L, ctx, "c", 2, 2, 1, 1, NULL, TG_F32, TG_INIT_HE) == TG_OK, "conv");
    const uint8_t table[4] = {1, 0, 1, 1};
    tg_alloc_stats s0 = tg_alloc_stats_get();
    CHECK(tg_conv2d_layer_set_table(&L, table) == TG_OK && L.mask, "set_table: %s", tg_last_error(ctx));
    tg_conv2d_layer_free(&L);
    tg_alloc_stats s1 = tg_alloc_stats_get();
    CHECK(is_zero(&L, sizeof L) && s1.bytes_live == s0.bytes_live, "conv free: %lld bytes left, struct %s",
          (long long)(s1.bytes_live - s0.bytes_live), is_zero(&L, sizeof L) ? "zeroed" : "not zeroed");
    for (int kind = 0; kind < L_COUNT; kind++) {
        any_layer l;
        char nm[16];
        snprintf(nm, sizeof nm, "f%d", kind);
        CHECK(init_layer(kind, &l, ctx, nm) == TG_OK, "%s", kind_name[kind]);
        int np = tg_param_count(ctx);
        free_layer(kind, &l);
        CHECK(is_zero(&l, layer_size(kind)),
              "%s_free leaves the struct set", kind_name[kind]);
        CHECK(tg_param_count(ctx) == np, "%s_free removed parameters (the context owns them)", kind_name[kind]);
        free_layer(kind, NULL);
    }
    tg_ctx_free(ctx);
}

/* ---- datasets: the class count ---- */

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static int write_set(const char *dir, const unsigned char *labels, int n) {
    char path[512];
    unsigned char img[16 + 16 * 4], lbl[8 + 16];
    put_be32(img, 0x803), put_be32(img + 4, (uint32_t)n), put_be32(img + 8, 2), put_be32(img + 12, 2);
    for (int i = 0; i < 4 * n; i++) img[16 + i] = (unsigned char)i;
    put_be32(lbl, 0x801), put_be32(lbl + 4, (uint32_t)n);
    memcpy(lbl + 8, labels, (size_t)n);
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(img, 1, 16 + 4 * (size_t)n, f) != 16 + 4 * (size_t)n) return -1;
    fclose(f);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    f = fopen(path, "wb");
    if (!f || fwrite(lbl, 1, 8 + (size_t)n, f) != 8 + (size_t)n) return -1;
    fclose(f);
    return 0;
}

static void test_dataset_classes(void) {
    char dir[] = "/tmp/tg_layers_api_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    tg_ctx *ctx = tg_ctx_new(NULL);
    const unsigned char five[3] = {0, 4, 2}; /* largest label 4: five classes */
    CHECK(write_set(dir, five, 3) == 0, "fixture");
    tg_dataset ds;
    CHECK(tg_dataset_load(ctx, dir, "train", 0, &ds) == TG_OK && ds.classes == 5 && ds.n == 3,
          "classes from the labels: %d (expected 4 + 1 = 5): %s", ds.classes, tg_last_error(ctx));
    tg_dataset_free(&ds);
    CHECK(tg_dataset_load(ctx, dir, "train", 7, &ds) == TG_OK && ds.classes == 7, "the caller's 7: %d", ds.classes);
    tg_dataset_free(&ds);
    CHECK(tg_mnist_load(ctx, dir, "train", &ds) == TG_OK && ds.classes == 10, "mnist_load: %d classes", ds.classes);
    tg_dataset_free(&ds);
    CHECK(tg_dataset_load(ctx, dir, "train", 4, &ds) == TG_EFORMAT &&
              strstr(tg_last_error(ctx), "label 1 is 4, expected 0..3") && ds.labels == NULL && ds.classes == 0,
          "label 4 with 4 classes: '%s'", tg_last_error(ctx));
    CHECK(tg_dataset_load(ctx, dir, "train", 257, &ds) == TG_EINVAL && tg_dataset_load(ctx, dir, "train", -1, &ds) ==
                                                                            TG_EINVAL,
          "classes 257 / -1 accepted");
    /* 12 classes: a label 11 is fine for the caller's 12, not for MNIST's 10 */
    const unsigned char twelve[4] = {11, 0, 3, 5};
    CHECK(write_set(dir, twelve, 4) == 0, "fixture");
    CHECK(tg_dataset_load(ctx, dir, "train", 0, &ds) == TG_OK && ds.classes == 12, "12 from the labels: %d",
          ds.classes);
    tg_dataset_free(&ds);
    CHECK(tg_mnist_load(ctx, dir, "train", &ds) == TG_EFORMAT && strstr(tg_last_error(ctx), "label 0 is 11, expected 0..9"),
          "mnist_load with a label 11: '%s'", tg_last_error(ctx));
    char path[512];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte", dir);
    unlink(path);
    rmdir(dir);
    tg_ctx_free(ctx);
}

/* tg__error (the library's) and tg_set_error (the user's) are one function. */
static void test_one_error_function(void) {
    CHECK((void (*)(void))tg__error == (void (*)(void))tg_set_error, "tg__error and tg_set_error are two functions");
    tg_ctx *ctx = tg_ctx_new(NULL);
    CHECK(tg__error(ctx, TG_ESHAPE, "a %d", 1) == TG_ESHAPE && tg_last_status(ctx) == TG_ESHAPE &&
              !strcmp(tg_last_error(ctx), "a 1"),
          "tg__error: %d '%s'", (int)tg_last_status(ctx), tg_last_error(ctx));
    CHECK(tg_set_error(ctx, TG_EIO, "b %s", "x") == TG_EIO && tg_last_status(ctx) == TG_EIO &&
              !strcmp(tg_last_error(ctx), "b x"),
          "tg_set_error: %d '%s'", (int)tg_last_status(ctx), tg_last_error(ctx));
    tg_ctx_free(ctx);
}

int main(void) {
    tg_allocator a = {count_alloc, count_release, NULL};
    tg_set_allocator(&a);
    test_all_or_nothing();
    test_name_limit();
    test_clash();
    test_layer_param();
    test_conv_opts_defaults();
    test_free();
    test_dataset_classes();
    test_one_error_function();
    /* At least the checks that run whatever happens: for 5 layers, 3 plus 5
     * per refused allocation (>= 8 allocations each) alone exceed 150. */
    CHECK(tl_pass + tl_fail >= 150, "only %d checks ran, expected at least 150", tl_pass + tl_fail);
    return tl_summary();
}
