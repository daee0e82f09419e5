/* test_atomic_save.c: a checkpoint survives SIGKILL at any moment of a save.
 *
 * 200 trials. In each, a child process saves checkpoints in a loop, each one
 * holding parameters that are all equal to one generation number g (g = 1, 2,
 * ...), to the same path; the parent kills it with SIGKILL after a random
 * delay of 0 to 30 ms. Then the parent loads the path: the load must succeed
 * (no torn file), every element must equal one generation number, and that
 * number must be the last or the one before it that the child reported as
 * finished (old or new parameters, nothing else). Leftover temporary files
 * from the killed saves must not break the next trial. */
#include "tapegrad.h"
#include "testlib.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static tg_ctx *make_ctx(tg_tensor **p) {
    tg_config c = tg_config_default();
    c.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&c);
    if (!ctx) return NULL;
    p[0] = tg_param_new(ctx, "w", TG_F32, 2, (int64_t[]){256, 128});
    p[1] = tg_param_new(ctx, "b", TG_F64, 1, (int64_t[]){777});
    return p[0] && p[1] ? ctx : NULL;
}

static void child(const char *path, int fd) {
    tg_tensor *p[2];
    tg_ctx *ctx = make_ctx(p);
    if (!ctx) _exit(3);
    for (int g = 1;; g++) {
        tg_tensor_fill(p[0], g);
        tg_tensor_fill(p[1], g);
        if (tg_checkpoint_save(ctx, path, NULL) != TG_OK) _exit(4);
        if (write(fd, &g, sizeof g) != sizeof g) _exit(5); /* g is now on disk */
    }
}

int main(void) {
    char dir[256];
    if (tl_mkdtemp(dir, sizeof dir, "tg-atomic")) return 1;
    char path[300];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tg_tensor *p[2];
    tg_ctx *ctx = make_ctx(p);
    if (!ctx) return 1;
    /* generation 0 on disk before the first trial */
    if (tg_checkpoint_save(ctx, path, NULL) != TG_OK) return 1;
    srand(12345);
    int trials = 0, last_done = 0;
    for (int trial = 0; trial < 200; trial++) {
        int pipefd[2];
        if (pipe(pipefd)) return 1;
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            close(pipefd[0]);
            child(path, pipefd[1]);
        }
        close(pipefd[1]);
        struct timespec ts = {0, (long)(rand() % 30000) * 1000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        /* the child restarts at generation 1 each trial: what it reported
         * finished tells which values may be on disk */
        int g, done = 0;
        while (read(pipefd[0], &g, sizeof g) == sizeof g) done = g;
        close(pipefd[0]);
        tg_tensor_fill(p[0], -1);
        tg_tensor_fill(p[1], -1);
        tg_status s = tg_checkpoint_load(ctx, path, NULL);
        double v = tg_get(p[0], 0);
        int uniform = 1;
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < p[k]->numel; i++)
                if (tg_get(p[k], i) != v) uniform = 0;
        /* allowed: the last finished save (done), the one in flight (done+1),
         * or, when nothing finished this trial, what the previous trial left */
        CHECK(s == TG_OK && uniform && (v == done || v == done + 1 || (done == 0 && v == last_done)),
              "trial %d: load %d (%s), value %g, uniform %d, child finished %d", trial, s, tg_last_error(ctx), v,
              uniform, done);
        trials++;
        last_done = (int)v;
    }
    /* clean up, including temp files of killed saves */
    DIR *d = opendir(dir);
    int leftovers = 0;
    if (d) {
        struct dirent *e;
        char f[600];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                if (strstr(e->d_name, ".tmp.")) leftovers++;
                snprintf(f, sizeof f, "%s/%s", dir, e->d_name);
                unlink(f);
            }
        closedir(d);
    }
    rmdir(dir);
    tg_ctx_free(ctx);
    printf("atomic save: %d trials of SIGKILL during save; %d temp files left by killed saves\n", trials, leftovers);
    return tl_summary();
}
