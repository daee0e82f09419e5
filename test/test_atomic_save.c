/* test_atomic_save.c: a checkpoint survives SIGKILL at any moment of a save.
 *
 * 200 trials. In each, a child process saves checkpoints in a loop, each one
 * holding parameters that are all equal to one generation number g (g = 1, 2,
 * ...), to the same path; the parent kills it with SIGKILL after a random
 * delay of 0 to 30 ms. Then the parent loads the path: the load must succeed
 * (no torn file), every element must equal one generation number, and that
 * number must be the last or the one before it that the child reported as
 * finished (old or new parameters, nothing else). Leftover temporary files
 * from the killed saves must not break the next trial, and (issue 21) the
 * next load removes them: none is left at the end.
 *
 * Then the paths are the user's (issue 21):
 *   - a symbolic link, a FIFO or a directory at the target is refused with
 *     TG_EIO naming what it is, and stays as it was (the rename used to
 *     replace it by a regular file);
 *   - "<path>.tmp.<pid>" of a process that is gone is removed by the next
 *     save and by the next load; a live process's (a save in progress) and
 *     a symbolic link of that form are kept, as is a link's target;
 *   - loading a FIFO with no writer returns TG_EIO at once (an alarm turns
 *     a hang into a failure). */
#include "tapegrad.h"
#include "testlib.h"

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* The pid of a process that has exited and been reaped: gone. */
static long dead_pid(void) {
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    return (long)pid;
}

static int exists(const char *p) {
    struct stat sb;
    return lstat(p, &sb) == 0;
}

static void write_text(const char *p, const char *text) {
    FILE *f = fopen(p, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int has_text(const char *p, const char *text) {
    char buf[64] = "";
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strcmp(buf, text) == 0;
}

/* Non-regular targets are refused and kept. */
static void targets(tg_ctx *ctx, const char *dir) {
    char victim[300], link[300], fifo[300], sub[300];
    snprintf(victim, sizeof victim, "%s/victim.txt", dir);
    snprintf(link, sizeof link, "%s/link.safetensors", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo.safetensors", dir);
    snprintf(sub, sizeof sub, "%s/sub.safetensors", dir);
    write_text(victim, "victim\n");
    ASSERT(symlink(victim, link) == 0);
    ASSERT(mkfifo(fifo, 0600) == 0);
    ASSERT(mkdir(sub, 0700) == 0);
    struct {
        const char *path, *kind;
        mode_t mode;
    } t[] = {{link, "symbolic link", S_IFLNK}, {fifo, "FIFO", S_IFIFO}, {sub, "directory", S_IFDIR}};
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(tg_checkpoint_save(ctx, t[i].path, NULL), TG_EIO);
        CHECK(strstr(tg_last_error(ctx), t[i].kind) && strstr(tg_last_error(ctx), t[i].path),
              "save onto a %s: message '%s' does not say so", t[i].kind, tg_last_error(ctx));
        struct stat sb;
        CHECK(lstat(t[i].path, &sb) == 0 && (sb.st_mode & S_IFMT) == t[i].mode, "the %s at the target was replaced",
              t[i].kind);
    }
    ASSERT(has_text(victim, "victim\n"));
    /* A FIFO with no writer: the load returns at once (alarm: a hang fails). */
    alarm(20);
    ASSERT_EQ(tg_checkpoint_load(ctx, fifo, NULL), TG_EIO);
    alarm(0);
    CHECK(strstr(tg_last_error(ctx), "FIFO") != NULL, "load of a FIFO: '%s'", tg_last_error(ctx));
}

/* Temporaries of dead processes go; others stay. */
static void stale(tg_ctx *ctx, const char *dir) {
    char path[300], dead1[340], dead2[340], live[340], link[340], victim[300];
    snprintf(path, sizeof path, "%s/stale.safetensors", dir);
    snprintf(victim, sizeof victim, "%s/stale-victim.txt", dir);
    long d1 = dead_pid(), d2 = dead_pid();
    ASSERT(d1 > 0 && d2 > 0);
    snprintf(dead1, sizeof dead1, "%s.tmp.%ld", path, d1);
    snprintf(dead2, sizeof dead2, "%s.tmp.%ld", path, d2);
    snprintf(live, sizeof live, "%s.tmp.%ld", path, (long)getppid()); /* our parent is alive */
    snprintf(link, sizeof link, "%s.tmp.%ld", path, d2 + 1000000);   /* almost surely no process */
    write_text(victim, "victim\n");
    write_text(dead1, "half a save");
    write_text(live, "a save in progress");
    ASSERT(symlink(victim, link) == 0);
    /* the save removes the dead process's temporary */
    ASSERT_EQ(tg_checkpoint_save(ctx, path, NULL), TG_OK);
    CHECK(!exists(dead1), "save left the temporary of a dead process: %s", dead1);
    CHECK(exists(live), "save removed the temporary of a live process: %s", live);
    CHECK(exists(link) && has_text(victim, "victim\n"), "save removed or followed a link named like a temporary");
    /* and so does the load */
    write_text(dead2, "half a save");
    ASSERT_EQ(tg_checkpoint_load(ctx, path, NULL), TG_OK);
    CHECK(!exists(dead2), "load left the temporary of a dead process: %s", dead2);
    CHECK(exists(live), "load removed the temporary of a live process: %s", live);
    unlink(live);
    unlink(link);
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
    targets(ctx, dir);
    stale(ctx, dir);
    /* clean up, including temp files of killed saves (the loads after the
     * kills removed them: none may be left) */
    DIR *d = opendir(dir);
    int leftovers = 0;
    if (d) {
        struct dirent *e;
        char f[600];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                if (strstr(e->d_name, ".tmp.")) leftovers++;
                snprintf(f, sizeof f, "%s/%s", dir, e->d_name);
                if (unlink(f) != 0) rmdir(f);
            }
        closedir(d);
    }
    rmdir(dir);
    tg_ctx_free(ctx);
    printf("atomic save: %d trials of SIGKILL during save; %d temp files left by killed saves\n", trials, leftovers);
    ASSERT_EQ(trials, 200);
    ASSERT_EQ(leftovers, 0);
    return tl_summary();
}
