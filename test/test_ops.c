/* test_ops.c: every registered op, driven by the registry (graph/opcheck.c):
 * f64 central-difference gradcheck on at least 3 shapes, f32 against f64,
 * zero upstream, backward twice, a tensor used twice, and bad-input cases.
 * Exits non-zero on any failure. */
#include "graph_internal.h"

#include <stdio.h>

int main(int argc, char **argv) {
    int pass = 0, fail = 0;
    tg__opcheck_run(argc > 1 ? argv[1] : NULL, 1, stdout, &pass, &fail);
    printf("%d passed, %d failed\n", pass, fail);
    return fail ? 1 : 0;
}
