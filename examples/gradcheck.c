/* gradcheck: check every registered op's backward against f64 central
 * differences, one line per op and case.
 *
 *   gradcheck [--op NAME] [--full]
 *
 * --op NAME checks one op; --full adds the f32-vs-f64, zero-upstream,
 * backward-twice, used-twice and bad-input checks that the test suite runs.
 * Prints "N passed, N failed" and a result line; exits 1 on any failure. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: gradcheck [--op NAME] [--full] [--list]\n"
            "  --op NAME  check only this op\n"
            "  --full     also run the f32/f64, zero-dy, twice, used-twice and bad-input checks\n"
            "  --list     print the registered ops and exit\n");
}

int main(int argc, char **argv) {
    const char *only = NULL;
    int full = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--op") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--full")) full = 1;
        else if (!strcmp(argv[i], "--list")) {
            for (int k = 0; k < tg_op_count(); k++) printf("%s\n", tg_op_at(k)->name);
            return 0;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "gradcheck: unknown or incomplete flag '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (only && !tg_op_find(only)) {
        fprintf(stderr, "gradcheck: no op named '%s' (try --list)\n", only);
        return 2;
    }
    int pass = 0, fail = 0;
    printf("%-14s %-8s %-14s\n", "op", "check", "shapes");
    tg__opcheck_run(only, full, stdout, &pass, &fail);
    printf("%d passed, %d failed\n", pass, fail);
    printf("result: passed=%d failed=%d\n", pass, fail);
    return fail ? 1 : 0;
}
