/* testlib.h: the one assert header of the C tests (libuv's test/task.h is
 * the model). Every check counts into one pair of counters, prints file:line
 * and, for the comparisons, both values when it fails, and stays on in
 * release builds (no assert(), no NDEBUG). A test ends with
 *     return tl_summary();
 * which prints "N passed, N failed" and returns 0 only when nothing failed
 * and at least one check ran (a test that checked nothing fails), and 77
 * (meson's skip) when part of the work was skipped (SKIPF): a test that
 * skipped a part never reports a plain pass.
 *
 *   CHECK(cond, fmt, ...)    counts; on failure prints the message
 *   FAILF(fmt, ...)          one failure with a message
 *   SKIPF(fmt, ...)          a part skipped, with the reason
 *   ASSERT(cond)             CHECK with the expression as the message
 *   ASSERT_EQ(a, b)          integers (as long long), both values printed
 *   ASSERT_NEAR(a, b, tol)   |a - b| <= tol, doubles, both values printed
 *   ASSERT_STR_EQ(a, b)      strcmp == 0, both strings printed
 *   TL_CONTEXT(fmt, ...)     what a loop is on (fail_at 7, persistent),
 *                            printed in every failure until tl_context_clear()
 *   tl_run(argv, out, size)  fork/exec a program, its stdout into out;
 *                            returns its exit status, or -1 (no shell)
 *   tl_ctx_seeded(seed, threads)  a context with this seed and thread count
 *                            (tapegrad tests: the 1- vs 2-thread checks)
 *   tl_fail_alloc/tl_fail_release  a tg_allocator whose request fails when
 *                            tl_alloc_countdown reaches 0 (-1: never)
 *   tl_mkdtemp(dir, len, stem), tl_rmtree(dir)
 *                            a fresh $TMPDIR/<stem>_XXXXXX, removed at the end
 *
 * Header-only: each test is one program, so the static counters are its
 * own. */
#ifndef TG_TESTLIB_H
#define TG_TESTLIB_H

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int tl_pass, tl_fail, tl_skip;
static char tl_context[160];

#define TL_CONTEXT(...) snprintf(tl_context, sizeof tl_context, __VA_ARGS__)
static inline void tl_context_clear(void) { tl_context[0] = 0; }

/* Prints where a check failed, and the context if any; the caller prints
 * what. */
static inline void tl_failed_at(const char *file, int line) {
    tl_fail++;
    printf("FAIL %s:%d: ", file, line);
    if (tl_context[0]) printf("(%s) ", tl_context);
}

#define CHECK(cond, ...)                        \
    do {                                        \
        if (cond) tl_pass++;                    \
        else {                                  \
            tl_failed_at(__FILE__, __LINE__);   \
            printf(__VA_ARGS__);                \
            printf("\n");                       \
            fflush(stdout);                     \
        }                                       \
    } while (0)

#define FAILF(...) CHECK(0, __VA_ARGS__)

#define SKIPF(...)                              \
    do {                                        \
        tl_skip++;                              \
        printf("SKIP: ");                       \
        printf(__VA_ARGS__);                    \
        printf("\n");                           \
    } while (0)

#define ASSERT(cond) CHECK(cond, "%s", #cond)

#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long tl_a_ = (long long)(a), tl_b_ = (long long)(b);                                  \
        CHECK(tl_a_ == tl_b_, "%s == %s: %lld != %lld", #a, #b, tl_a_, tl_b_);                     \
    } while (0)

#define ASSERT_NEAR(a, b, tol)                                                                     \
    do {                                                                                           \
        double tl_a_ = (double)(a), tl_b_ = (double)(b), tl_t_ = (double)(tol);                    \
        CHECK(fabs(tl_a_ - tl_b_) <= tl_t_, "%s ~ %s: %.17g vs %.17g (|diff| %.3g > %.3g)", #a, #b, \
              tl_a_, tl_b_, fabs(tl_a_ - tl_b_), tl_t_);                                           \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *tl_a_ = (a), *tl_b_ = (b);                                                     \
        CHECK(tl_a_ && tl_b_ && strcmp(tl_a_, tl_b_) == 0, "%s == %s: \"%s\" != \"%s\"", #a, #b,    \
              tl_a_ ? tl_a_ : "(null)", tl_b_ ? tl_b_ : "(null)");                                 \
    } while (0)

/* The closing line and the exit status: 1 on any failure or on no check,
 * 77 when a part was skipped, else 0. */
static inline int tl_summary(void) {
    printf("%d passed, %d failed", tl_pass, tl_fail);
    if (tl_skip) printf(", %d part(s) skipped", tl_skip);
    printf("\n");
    if (!tl_pass && !tl_fail) printf("FAIL: no check ran\n");
    if (tl_fail || !tl_pass) return 1;
    return tl_skip ? 77 : 0;
}

/* Runs argv[0] (a path, no shell) with argv, its stdout read into out (up to
 * size - 1 bytes, NUL-terminated; the rest is read and dropped so the child
 * never blocks). Returns the exit status, 128 + the signal, or -1. */
static inline int tl_run(char *const argv[], char *out, size_t size) {
    int fd[2];
    if (size) out[0] = 0;
    if (pipe(fd)) return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0;
    char buf[4096];
    ssize_t got;
    while ((got = read(fd[0], buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < got; i++)
            if (len + 1 < size) out[len++] = buf[i];
    if (size) out[len] = 0;
    close(fd[0]);
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

#ifdef TAPEGRAD_H
/* A context with the default config but this seed and thread count; NULL as
 * tg_ctx_new. */
static inline tg_ctx *tl_ctx_seeded(uint64_t seed, int threads) {
    tg_config c = tg_config_default();
    c.seed = seed;
    c.threads = threads;
    return tg_ctx_new(&c);
}

/* Allocation failures through tg_set_allocator: the request that finds
 * tl_alloc_countdown at 0 fails, each request counts it down; -1 never. */
static long tl_alloc_countdown = -1;
static inline void *tl_fail_alloc(size_t size, void *user) {
    (void)user;
    if (tl_alloc_countdown >= 0 && tl_alloc_countdown-- == 0) return NULL;
    return malloc(size);
}
static inline void tl_fail_release(void *p, void *user) {
    (void)user;
    free(p);
}
#endif

/* A fresh directory $TMPDIR/<stem>_XXXXXX (/tmp without TMPDIR) into dir.
 * Returns 0, or -1 after saying why. */
static inline int tl_mkdtemp(char *dir, size_t len, const char *stem) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, len, "%s/%s_XXXXXX", tmp && tmp[0] ? tmp : "/tmp", stem);
    if (mkdtemp(dir)) return 0;
    printf("FAIL: mkdtemp %s: %s\n", dir, strerror(errno));
    return -1;
}

/* rm -rf dir through tl_run (no shell); a failure only warns. */
static inline void tl_rmtree(const char *dir) {
    char out[1];
    char *argv[] = {(char *)"/bin/rm", (char *)"-rf", (char *)dir, NULL};
    if (tl_run(argv, out, sizeof out) != 0) printf("warning: could not remove %s\n", dir);
}

#endif
