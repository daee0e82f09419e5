/* test_dot: tg_tape_dot writes the recorded graph as DOT.
 *
 * A small graph L = Σ tanh(x·W + b)² with a parameter W (2,3), a
 * parameter b (3), an input x (4,2) and a leaf v used twice: checks node and
 * edge counts, labels (op names, shapes, parameter names), the gradient-norm
 * labels against norms computed here, max_nodes, and the error cases. Exit 0
 * pass, 1 fail. */
#include "tapegrad.h"
#include "testlib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The DOT text of tape under opts, in a malloc'ed string. */
static char *dot_of(tg_tape *tape, const tg_dot_opts *o, tg_status *st) {
    FILE *f = tmpfile();
    if (!f) return NULL;
    *st = tg_tape_dot(tape, f, o);
    long n = ftell(f);
    char *s = malloc((size_t)n + 1);
    rewind(f);
    size_t got = s ? fread(s, 1, (size_t)n, f) : 0;
    if (s) s[got] = 0;
    fclose(f);
    return s;
}

static int count(const char *s, const char *sub) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, sub)); p += strlen(sub)) n++;
    return n;
}

static double norm(const tg_tensor *t) {
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++) s += tg_grad_get(t, i) * tg_grad_get(t, i);
    return sqrt(s);
}

int main(void) {
    tg_config cfg = tg_config_default();
    cfg.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    int64_t ws[2] = {2, 3}, bs[1] = {3}, xs[2] = {4, 2};
    tg_tensor *W = tg_param_new(ctx, "layer.W", TG_F64, 2, ws);
    tg_tensor *b = tg_param_new(ctx, "layer.b", TG_F64, 1, bs);
    tg_init_uniform(W, -1, 1);
    tg_init_uniform(b, -1, 1);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *x = tg_tensor_temp(ctx, TG_F64, 2, xs);
    for (int i = 0; i < 8; i++) tg_set(x, i, 0.1 * i - 0.3);
    tg_tensor *h = tg_tanh(tg_add(tg_matmul(x, W), b)); /* (4,3) */
    tg_tensor *L = tg_sum(tg_mul(h, h), 0, NULL, 0);   /* h used twice */
    CHECK(L && tg_tape_nodes(tape) == 5, "graph: %s", tg_last_error(ctx));

    /* before backward: structure only */
    tg_status st;
    char *s = dot_of(tape, NULL, &st);
    CHECK(st == TG_OK && s, "tape_dot: %d %s", st, tg_last_error(ctx));
    if (s) {
        CHECK(!strncmp(s, "digraph tape {", 14) && s[strlen(s) - 2] == '}', "not a digraph:\n%s", s);
        CHECK(count(s, " -> ") == 8, "8 edges (matmul 2, add 2, tanh 1, mul 2, sum 1), got %d:\n%s",
              count(s, " -> "), s);
        CHECK(strstr(s, "\"layer.W\\n[2,3] f64\"") && strstr(s, "\"layer.b\\n[3] f64\""), "param labels:\n%s",
              s);
        CHECK(strstr(s, "\"input\\n[4,2] f64\""), "input label:\n%s", s);
        CHECK(strstr(s, "\"matmul\\n[4,3] f64\"") && strstr(s, "\"tanh\\n[4,3] f64\"") &&
                  strstr(s, "\"sum\\n[] f64\", peripheries=2"),
              "op labels:\n%s", s);
        CHECK(count(s, "peripheries=2") == 1, "one unread output:\n%s", s);
        CHECK(count(s, "[shape=box") == 3, "three leaves (x, W, b):\n%s", s);
        CHECK(count(s, "n2 -> n3") == 2 && count(s, "n3 -> n4") == 1, "h used twice by mul:\n%s", s);
        free(s);
    }

    /* after backward: edge labels are ‖grad‖₂ of the source tensor */
    CHECK(tg_backward(L) == TG_OK, "backward: %s", tg_last_error(ctx));
    tg_dot_opts o = {.grad_norms = 1, .title = "a \"quoted\" title"};
    s = dot_of(tape, &o, &st);
    CHECK(st == TG_OK && s, "tape_dot grad_norms: %d", st);
    if (s) {
        char want[64];
        snprintf(want, sizeof want, "[label=\" %.3g\"]", norm(W));
        CHECK(strstr(s, want), "W's edge wants %s:\n%s", want, s);
        snprintf(want, sizeof want, "[label=\" %.3g\"]", norm(b));
        CHECK(strstr(s, want), "b's edge wants %s:\n%s", want, s);
        snprintf(want, sizeof want, "n2 -> n3 [label=\" %.3g\"]", norm(h));
        CHECK(count(s, want) == 2, "h's edges want %s:\n%s", want, s);
        CHECK(strstr(s, "label=\"a \\\"quoted\\\" title\""), "escaped title:\n%s", s);
        CHECK(count(s, "[label=\" ") == 7, "7 labelled edges (x has no grad):\n%s", s);
        free(s);
    }

    /* max_nodes: the last two nodes; h becomes a dashed box */
    o = (tg_dot_opts){.max_nodes = 2};
    s = dot_of(tape, &o, &st);
    CHECK(st == TG_OK && s, "tape_dot max_nodes: %d", st);
    if (s) {
        CHECK(count(s, " -> ") == 3 && strstr(s, "style=\"dashed\", label=\"(tanh)"), "max_nodes 2:\n%s", s);
        free(s);
    }

    /* errors */
    CHECK(tg_tape_dot(NULL, stdout, NULL) == TG_EINVAL, "NULL tape");
    CHECK(tg_tape_dot(tape, NULL, NULL) == TG_EINVAL && strstr(tg_last_error(ctx), "tape_dot"), "NULL f");
    o = (tg_dot_opts){.max_nodes = -1};
    CHECK(tg_tape_dot(tape, stdout, &o) == TG_EINVAL, "max_nodes -1");
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        CHECK(tg_tape_dot(tape, full, NULL) == TG_EIO && strstr(tg_last_error(ctx), "write failed"),
              "/dev/full: %s", tg_last_error(ctx));
        fclose(full);
    }
    tg_tape_end(tape);

    /* an empty tape is an empty digraph */
    tape = tg_tape_begin(ctx);
    s = dot_of(tape, NULL, &st);
    CHECK(st == TG_OK && s && count(s, " -> ") == 0 && count(s, "[label=") == 0, "empty tape:\n%s", s ? s : "");
    free(s);
    tg_tape_end(tape);
    tg_ctx_free(ctx);
    return tl_summary();
}
