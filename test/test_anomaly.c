/* test_anomaly: anomaly mode (tg_config.anomaly, or TG_ANOMALY=1) stops at
 * the first non-finite op output or gradient with TG_ENUMERIC and a message
 * naming the op, forward or backward, the index, and the file:line of this
 * file where the op was made (tapegrad.h's call-site macros):
 *   - log of a negative number (forward), in f32 and f64;
 *   - x^0.5 at 0 (forward 0, backward inf);
 *   - a user op through tg_apply whose backward writes NaN (the site is the
 *     tg_apply call);
 *   - a NaN weight in tg_dense_forward: the addmm inside is reported at the
 *     user's tg_dense_forward line, not in the library;
 *   - nested calls spread over lines: the innermost call's line;
 *   - (tg_log)(x) bypasses the macro: "call site unknown";
 *   - TG_ANOMALY=1 turns it on through tg_config_default; off, NaN flows;
 *   - the gradient arriving at a backward step is checked too: a parameter
 *     gradient an earlier pass left at inf (not zeroed) is blamed on that
 *     earlier pass, not on the next op to add to it (issue 21); a NaN seed
 *     dy is named as the seed; after tg_zero_grad the same pass is clean.
 * Exit 0 pass, 1 fail. */
#include "tapegrad.h"
#include "testlib.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect(int cond, const char *what, const char *msg) { CHECK(cond, "%s\n  message: %s", what, msg); }

/* The message must contain every needle, and name this file at `line`. */
static void expect_msg(tg_ctx *ctx, const char *what, int line, const char *const *needles) {
    const char *m = tg_last_error(ctx);
    printf("%-34s %s\n", what, m);
    expect(tg_last_status(ctx) == TG_ENUMERIC, "status is TG_ENUMERIC", m);
    for (const char *const *n = needles; *n; n++) {
        char w[200];
        snprintf(w, sizeof w, "%s: message contains \"%s\"", what, *n);
        expect(strstr(m, *n) != NULL, w, m);
    }
    if (line > 0) {
        char site[64];
        snprintf(site, sizeof site, "test_anomaly.c:%d)", line);
        char w[200];
        snprintf(w, sizeof w, "%s: message names \"created at ...%s\"", what, site);
        expect(strstr(m, site) != NULL && strstr(m, " created at ") != NULL, w, m);
    }
    tg_clear_error(ctx);
}

static tg_tensor *vec(tg_ctx *ctx, tg_dtype dt, int n, const double *v, int grad) {
    int64_t s[1] = {n};
    tg_tensor *t = tg_tensor_temp(ctx, dt, 1, s);
    tg_tensor_set_f64(t, v);
    if (grad) tg_tensor_requires_grad(t, 1);
    return t;
}

/* ---- a user op: identity forward, NaN backward ---- */

static tg_status id_infer(tg_node *n, tg_out_spec *o) {
    o->dtype = n->in[0]->dtype;
    o->rank = n->in[0]->rank;
    memcpy(o->shape, n->in[0]->shape, sizeof o->shape);
    return TG_OK;
}
static tg_status id_forward(tg_node *n) {
    memcpy(n->out->data, n->in[0]->data, (size_t)n->out->numel * tg_dtype_size(n->out->dtype));
    return TG_OK;
}
static tg_status nan_backward(tg_node *n) {
    tg_tensor *x = n->in[0];
    if (!tg_needs_grad(x)) return TG_OK;
    void *g = tg_grad_buf(x);
    if (!g) return TG_ENOMEM;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = i == 2 ? NAN : 1.0;
        if (x->dtype == TG_F32) ((float *)g)[i] += (float)v;
        else ((double *)g)[i] += v;
    }
    return TG_OK;
}
static const tg_op_def bad_grad_op = {
    .name = "bad_grad", .n_inputs = 1, .infer = id_infer, .forward = id_forward, .backward = nan_backward};
static int g_apply_line;
static tg_tensor *bad_grad(tg_tensor *x) {
    g_apply_line = __LINE__ + 1;
    return tg_apply(&bad_grad_op, &x, 1, NULL);
}

static void run(tg_dtype dt) {
    tg_config cfg = tg_config_default();
    cfg.anomaly = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    const char *dn = tg_dtype_name(dt);
    printf("-- %s\n", dn);
    tg_tape *tape = tg_tape_begin(ctx);

    /* forward: log(-1) at index 1 */
    tg_tensor *x = vec(ctx, dt, 3, (double[]){2, -1, 3}, 1);
    int line = __LINE__ + 1;
    tg_tensor *y = tg_log(x);
    expect(y == NULL, "log(-1) returns NULL", tg_last_error(ctx));
    expect_msg(ctx, "log forward", line,
               (const char *[]){"anomaly: log forward", "output index 1 of [3]", "nan", NULL});

    /* backward: d/dx x^0.5 at 0 is inf (index 2); the forward is finite */
    tg_tensor *z = vec(ctx, dt, 4, (double[]){1, 4, 0, 9}, 1);
    line = __LINE__ + 1;
    tg_tensor *r = tg_pow(z, 0.5);
    tg_tensor *loss = tg_sum(r, 0, NULL, 0);
    expect(loss != NULL, "pow forward at 0 is finite", tg_last_error(ctx));
    tg_status st = tg_backward(loss);
    expect(st == TG_ENUMERIC, "backward stops with TG_ENUMERIC", tg_last_error(ctx));
    expect_msg(ctx, "pow backward", line,
               (const char *[]){"anomaly: pow backward", "gradient of input 0", "index 2 of [4]", "inf", NULL});

    /* a user op through tg_apply: the site is the tg_apply call */
    tg_tensor *u = vec(ctx, dt, 3, (double[]){1, 2, 3}, 1);
    tg_tensor *ul = tg_sum(bad_grad(u), 0, NULL, 0);
    st = tg_backward(ul);
    expect(st == TG_ENUMERIC, "user op backward stops with TG_ENUMERIC", tg_last_error(ctx));
    expect_msg(ctx, "user op backward", g_apply_line,
               (const char *[]){"anomaly: bad_grad backward", "gradient of input 0", "index 2", NULL});

    /* a library composite: the addmm inside tg_dense_forward is reported at
     * this file's call of tg_dense_forward */
    tg_dense d;
    char name[16];
    snprintf(name, sizeof name, "fc_%s", dn);
    if (tg_dense_init(&d, ctx, name, 2, 3, dt, TG_INIT_XAVIER) != TG_OK) {
        expect(0, "dense_init", tg_last_error(ctx));
    } else {
        tg_set(d.W, 4, NAN);
        int64_t s2[2] = {1, 2};
        tg_tensor *in = tg_tensor_temp(ctx, dt, 2, s2);
        tg_tensor_fill(in, 1);
        line = __LINE__ + 1;
        tg_tensor *h = tg_dense_forward(&d, in);
        expect(h == NULL, "dense with a NaN weight returns NULL", tg_last_error(ctx));
        expect_msg(ctx, "dense_forward (addmm inside)", line,
                   (const char *[]){"anomaly: addmm forward", "output index 1 of [1,3]", NULL});
    }

    /* nested calls over several lines: the innermost call's line */
    tg_tensor *c = vec(ctx, dt, 3, (double[]){1, 1, 1}, 0);
    tg_tensor *w = tg_add(c,
                          tg_mul(c,
                                 tg_log(x))); /* log line */
    line = __LINE__ - 1;
    expect(w == NULL, "nested: NULL", tg_last_error(ctx));
    expect_msg(ctx, "nested log", line, (const char *[]){"anomaly: log forward", NULL});

    /* the macro bypassed: no site */
    y = (tg_log)(x);
    expect(y == NULL, "bypassed log: NULL", tg_last_error(ctx));
    expect_msg(ctx, "(tg_log)(x)", 0, (const char *[]){"anomaly: log forward", "call site unknown", NULL});

    /* a site pushed by an earlier call must not stick to later ops */
    tg_tensor *ok = tg_exp(c);
    expect(ok != NULL, "exp(1) is fine", tg_last_error(ctx));
    y = (tg_log)(x);
    expect_msg(ctx, "(tg_log)(x) after tg_exp", 0, (const char *[]){"call site unknown", NULL});

    tg_tape_end(tape);
    tg_ctx_free(ctx);
}

/* An inf left in a parameter's gradient by one backward pass, not zeroed:
 * the next pass must say it arrived from an earlier pass, not blame the op
 * that adds to it next. */
static void earlier_pass(tg_dtype dt) {
    tg_config cfg = tg_config_default();
    cfg.anomaly = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    tg_tensor *w = tg_param_new(ctx, "w", dt, 1, (int64_t[]){3});
    tg_tensor_set_f64(w, (double[]){1, 0, 4});
    tg_tape *tape = tg_tape_begin(ctx);
    int line = __LINE__ + 1;
    tg_tensor *r = tg_pow(w, 0.5);
    tg_status st = tg_backward(tg_sum(r, 0, NULL, 0)); /* d√w/dw at 0 is inf */
    expect(st == TG_ENUMERIC, "pass 1: pow backward stops", tg_last_error(ctx));
    expect_msg(ctx, "pass 1: pow backward", line, (const char *[]){"anomaly: pow backward", "index 1", NULL});
    tg_tape_end(tape);

    /* pass 2, no tg_zero_grad: the mul is not where the inf came from */
    tape = tg_tape_begin(ctx);
    tg_tensor *c = vec(ctx, dt, 3, (double[]){1, 1, 1}, 0);
    line = __LINE__ + 1;
    tg_tensor *m = tg_mul(w, c);
    st = tg_backward(tg_sum(m, 0, NULL, 0));
    expect(st == TG_ENUMERIC, "pass 2: stops with TG_ENUMERIC", tg_last_error(ctx));
    const char *msg = tg_last_error(ctx);
    expect(strstr(msg, "mul backward produced") == NULL, "pass 2: the mul is not blamed", msg);
    expect_msg(ctx, "pass 2: inf from an earlier pass", line,
               (const char *[]){"parameter 'w'", "already held inf at index 1", "earlier backward pass",
                                "reached mul", "tg_zero_grad", NULL});
    tg_tape_end(tape);

    /* control: zeroed, the same pass is clean */
    tg_zero_grad(ctx);
    tape = tg_tape_begin(ctx);
    c = vec(ctx, dt, 3, (double[]){1, 1, 1}, 0);
    st = tg_backward(tg_sum(tg_mul(w, c), 0, NULL, 0));
    expect(st == TG_OK, "after tg_zero_grad: pass 2 is clean", tg_last_error(ctx));

    /* a NaN in the seed is named as the seed */
    tg_tensor *y = tg_mul(w, c);
    double dyd[3] = {1, NAN, 1};
    float dyf[3] = {1, NAN, 1};
    st = tg_backward_seeded(y, dt == TG_F32 ? (const void *)dyf : (const void *)dyd);
    expect(st == TG_ENUMERIC, "NaN seed: TG_ENUMERIC", tg_last_error(ctx));
    expect_msg(ctx, "NaN seed", 0, (const char *[]){"anomaly: the seed dy", "index 1", NULL});
    tg_tape_end(tape);
    tg_ctx_free(ctx);
}

int main(void) {
    run(TG_F32);
    run(TG_F64);
    earlier_pass(TG_F32);
    earlier_pass(TG_F64);

    /* TG_ANOMALY=1 through tg_config_default; off, NaN flows through */
    setenv("TG_ANOMALY", "1", 1);
    tg_config c1 = tg_config_default();
    expect(c1.anomaly == 1, "TG_ANOMALY=1 sets anomaly", "");
    setenv("TG_ANOMALY", "0", 1);
    tg_config c0 = tg_config_default();
    expect(c0.anomaly == 0, "TG_ANOMALY=0 leaves anomaly off", "");
    tg_ctx *ctx = tg_ctx_new(&c0);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *y = tg_log(vec(ctx, TG_F64, 3, (double[]){2, -1, 3}, 1));
    expect(y && isnan(tg_get(y, 1)) && tg_last_status(ctx) == TG_OK, "anomaly off: log(-1) is NaN, no error",
           tg_last_error(ctx));
    tg_tape_end(tape);
    tg_ctx_free(ctx);

    return tl_summary();
}
