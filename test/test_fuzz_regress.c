/* test_fuzz_regress: replays the fuzzers' inputs in the normal test suite.
 *
 * Every file under test/fuzz/corpus/idx and test/fuzz/regress/idx goes
 * through the IDX harness (test/fuzz/fuzz_idx.c), every file under
 * test/fuzz/corpus/checkpoint and test/fuzz/regress/checkpoint through the
 * checkpoint harness (test/fuzz/fuzz_checkpoint.c): the same checks the
 * fuzzers make, without libFuzzer. regress/ holds every input that ever
 * crashed a fuzzer or broke an invariant (see test/fuzz/README.md); no crash
 * has been found yet, so each regress folder holds only its README, which
 * keeps the folder in git. A missing folder fails the test (a wrong
 * TG_SRCDIR or a lost folder must not pass as "nothing to replay"); a crash
 * here fails it too (under `make test-sanitize` with the sanitizer's
 * report). Files named README* are skipped. TG_SRCDIR points at the source
 * tree. Exit 0 pass, 1 fail. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int tg_fuzz_idx_one(const uint8_t *data, size_t size);
int tg_fuzz_checkpoint_one(const uint8_t *data, size_t size);

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs every file of dir through fn; returns the failures, *n gets the count. */
static int replay(const char *dir, int (*fn)(const uint8_t *, size_t), int *n) {
    DIR *d = opendir(dir);
    if (!d) { /* all four folders are in git (regress/ ones hold a README) */
        fprintf(stderr, "FAIL: cannot open %s\n", dir);
        return 1;
    }
    char *names[4096];
    int k = 0, fails = 0;
    struct dirent *e;
    while ((e = readdir(d)) && k < 4096)
        if (e->d_name[0] != '.' && strncmp(e->d_name, "README", 6) != 0) names[k++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)k, sizeof *names, cmp);
    for (int i = 0; i < k; i++) {
        char path[8192];
        int pl = snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        FILE *f = pl > 0 && pl < (int)sizeof path && stat(path, &st) == 0 && S_ISREG(st.st_mode)
                      ? fopen(path, "rb")
                      : NULL;
        if (!f) {
            free(names[i]);
            continue;
        }
        size_t len = (size_t)st.st_size;
        uint8_t *buf = malloc(len ? len : 1);
        size_t got = buf ? fread(buf, 1, len, f) : 0;
        fclose(f);
        int rc = buf && got == len ? fn(buf, len) : -1;
        if (rc != 0) {
            fprintf(stderr, "FAIL: %s (%s)\n", path, rc < 0 ? "harness could not run" : "invariant broken");
            fails++;
        }
        (*n)++;
        free(buf);
        free(names[i]);
    }
    return fails;
}

int main(void) {
    const char *src = getenv("TG_SRCDIR") ? getenv("TG_SRCDIR") : ".";
    static const char *const sub[] = {"corpus/idx", "regress/idx", "corpus/checkpoint", "regress/checkpoint"};
    int fails = 0, total = 0;
    for (int i = 0; i < 4; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/test/fuzz/%s", src, sub[i]);
        int n = 0;
        fails += replay(dir, i < 2 ? tg_fuzz_idx_one : tg_fuzz_checkpoint_one, &n);
        printf("%-20s %4d inputs\n", sub[i], n);
        total += n;
    }
    if (total < 10) {
        fprintf(stderr, "FAIL: only %d inputs found under %s/test/fuzz (set TG_SRCDIR)\n", total, src);
        fails++;
    }
    printf("%d inputs, %d failure(s)\n", total, fails);
    return fails ? 1 : 0;
}
