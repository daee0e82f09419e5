/* gradcheck: check every registered op's backward against f64 central
 * differences, one line per op and case.
 *
 *   gradcheck                  every op, f64 gradcheck on every case of its spec
 *   gradcheck --op tanh        one op
 *   gradcheck --full           also f32 vs f64, zero upstream, backward twice,
 *                              used twice and the bad-input cases (what
 *                              test/test_ops.c runs)
 *   gradcheck --list           the registered ops
 *
 * Prints "N passed, N failed" and a result line; exits 1 on any failure,
 * 2 on a usage error (unknown flag or op). */
#include "common.h"
#include "graph_internal.h"

#include <stdio.h>

#define PROG "gradcheck"

int main(int argc, char **argv) {
    const char *only = NULL;
    int full = 0, list = 0;
    ex_flag flags[] = {
        ex_flag_file("op", &only, "NAME", "check only this op"),
        {.name = "full", .type = EX_BOOL, .target = &full,
         .help = "also run the f32/f64, zero-dy, twice, used-twice and bad-input checks"},
        {.name = "list", .type = EX_BOOL, .target = &list, .help = "print the registered ops and exit"},
    };
    int rc = ex_parse(argc, argv, PROG, "Check every registered op's gradient against f64 central differences.",
                      flags, (int)(sizeof flags / sizeof flags[0]));
    if (rc >= 0) return rc;
    if (list) {
        for (int k = 0; k < tg_op_count(); k++) printf("%s\n", tg_op_at(k)->name);
        return EX_OK;
    }
    if (only && !tg_op_find(only)) return ex_usage_error(PROG, "no op named '%s' (try --list)", only);
    int pass = 0, fail = 0;
    printf("%-14s %-8s %-14s\n", "op", "check", "shapes");
    if (tg__opcheck_run(only, full, stdout, &pass, &fail) != TG_OK)
        return ex_runtime_error(PROG, "out of memory");
    printf("%d passed, %d failed\n", pass, fail);
    ex_result r = {0};
    ex_result_add(&r, "passed", "%d", pass);
    ex_result_add(&r, "failed", "%d", fail);
    ex_result_print(&r);
    return fail ? EX_RUNTIME : EX_OK;
}
