/* fuzz_idx: libFuzzer target for the IDX reader (tg_idx_read, core/data.c).
 *
 * Each input is written to an in-memory file (memfd) and read back with
 * expect_rank 0, 1 and 3 (the first byte of the input picks the order, so
 * every rank check is reached). On success the result must be consistent:
 * rank 1..4, dims >= 1, count = Π dims, every byte readable (ASan checks);
 * the rank must match expect_rank when one was asked for. On failure *out
 * must be zeroed and the context must hold a message. The input may be raw
 * or gzipped; the reader decides (zlib). A violated invariant aborts, which
 * libFuzzer reports as a crash.
 *
 * Built by `make fuzz` (test/fuzz/run.sh) with clang -fsanitize=fuzzer,
 * address,undefined and -DTG_FUZZ_ENTRY; test/test_fuzz_regress.c replays
 * the corpus and test/fuzz/regress/ through tg_fuzz_idx_one() in the normal
 * test suite. */
#include "tapegrad.h"
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int tg_fuzz_idx_one(const uint8_t *data, size_t size);

static tg_ctx *g_ctx;
static int g_fd = -1;
static char g_path[64];
static volatile unsigned g_sink; /* keeps the read-back loop */

static int fail(const char *what, int expect_rank) {
    fprintf(stderr, "fuzz_idx: invariant broken (expect_rank %d): %s; last error: %s\n", expect_rank, what,
            g_ctx ? tg_last_error(g_ctx) : "");
    return 1;
}

/* 0 when every invariant held, 1 otherwise (message on stderr); -1 when
 * the harness itself could not run. */
int tg_fuzz_idx_one(const uint8_t *data, size_t size) {
    if (!g_ctx) {
        tg_config cfg = tg_config_default();
        cfg.threads = 1;
        g_ctx = tg_ctx_new(&cfg);
        g_fd = memfd_create("tg_fuzz_idx", MFD_CLOEXEC);
        if (!g_ctx || g_fd < 0) return -1;
        snprintf(g_path, sizeof g_path, "/proc/self/fd/%d", g_fd);
    }
    if (ftruncate(g_fd, 0) != 0 || (size && pwrite(g_fd, data, size, 0) != (ssize_t)size)) return -1;
    static const int orders[3][3] = {{0, 1, 3}, {1, 3, 0}, {3, 0, 1}};
    const int *order = orders[size ? data[0] % 3 : 0];
    for (int k = 0; k < 3; k++) {
        int er = order[k];
        tg_idx out;
        memset(&out, 0xAB, sizeof out);
        tg_clear_error(g_ctx);
        tg_status st = tg_idx_read(g_ctx, g_path, er, &out);
        if (st == TG_OK) {
            if (out.rank < 1 || out.rank > 4) return fail("rank outside 1..4", er);
            if (er && out.rank != er) return fail("rank differs from expect_rank", er);
            int64_t count = 1;
            for (int i = 0; i < out.rank; i++) {
                if (out.dims[i] < 1) return fail("a dimension < 1", er);
                count *= out.dims[i];
            }
            if (count != out.count) return fail("count != product of dims", er);
            if (!out.data && out.count) return fail("no data", er);
            unsigned sum = 0;
            for (int64_t i = 0; i < out.count; i++) sum += out.data[i]; /* ASan: every byte is ours */
            if (tg_last_status(g_ctx) != TG_OK) return fail("success with an error set", er);
            g_sink = sum;
            tg_idx_free(&out);
        } else {
            static const tg_idx zero;
            if (memcmp(&out, &zero, sizeof out) != 0) return fail("*out not zeroed on error", er);
            if (!tg_last_error(g_ctx)[0]) return fail("an error without a message", er);
            if (st != TG_EFORMAT && st != TG_EIO && st != TG_ENOMEM) return fail("unexpected status", er);
        }
    }
    return 0;
}

TG_FUZZ_MAIN(tg_fuzz_idx_one)
