/* test_ops.c: every registered op, driven by the registry (graph/opcheck.c):
 * f64 central-difference gradcheck on at least 3 shapes, f32 against f64,
 * zero upstream, backward twice, a tensor used twice, the same through
 * identity nodes (the assigning gradient path), and bad-input cases.
 *
 * The sweep must also prove that it ran: the number of lines it reports is
 * derived here from the registry (per case 1 f32/f64 line, and with a
 * backward 1 gradcheck + zero-dy + twice + used-2x + fresh + fresh-2x = 6
 * more; 1 per bad case; 1 spec line per op) and must match exactly, so a
 * sweep that skipped an op or a case fails. Exits non-zero on any failure. */
#include "graph_internal.h"
#include "testlib.h"

/* Lines tg__opcheck_run(only, full = 1) prints for op. */
static int lines_of(const tg_op_def *op) {
    int n = 1; /* spec */
    for (int c = 0; c < TG_MAX_CHECK_CASES && op->check.cases[c].shapes; c++) n += op->backward ? 7 : 1;
    for (int b = 0; b < TG_MAX_BAD_CASES && op->check.bad[b].shapes; b++) n++;
    return n;
}

int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : NULL;
    int pass = 0, fail = 0, expect = 0, ops = 0;
    for (int k = 0; k < tg_op_count(); k++)
        if (!only || strcmp(only, tg_op_at(k)->name) == 0) {
            expect += lines_of(tg_op_at(k));
            ops++;
        }
    tg_status st = tg__opcheck_run(only, 1, stdout, &pass, &fail);
    ASSERT_EQ(st, TG_OK);
    ASSERT_EQ(fail, 0);
    ASSERT(ops >= 1);
    /* every case of every op reported, and passed */
    ASSERT_EQ(pass, expect);
    printf("sweep: %d ops, %d lines expected from the registry, %d passed, %d failed\n", ops, expect, pass, fail);
    return tl_summary();
}
