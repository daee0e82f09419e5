/* progress.c: the clock and the progress reporter: a bar redrawn on stderr
 * when it is a terminal, one line per epoch on stdout (see common.h). */
#include "common.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double ex_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ex_progress_begin(ex_progress *p, int epochs, int64_t batches) {
    memset(p, 0, sizeof *p);
    const char *e = getenv("TG_PROGRESS");
    p->tty = isatty(fileno(stderr)) && !(e && e[0] == '0');
    p->epochs = epochs;
    p->batches = batches > 0 ? batches : 1;
    p->t_start = ex_now();
}

void ex_progress_epoch_begin(ex_progress *p, int epoch) {
    p->epoch = epoch;
    p->t_epoch = ex_now();
    p->loss_sum = 0;
    p->loss_n = p->samples = 0;
}

static void fmt_duration(double s, char *buf, size_t len) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, len, "--");
    else if (s < 60) snprintf(buf, len, "%.0fs", s);
    else if (s < 3600) snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else snprintf(buf, len, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

void ex_progress_batch(ex_progress *p, int64_t i, int64_t n_samples, double loss) {
    p->loss_sum += loss;
    p->loss_n++;
    p->samples += n_samples;
    if (!p->tty) return;
    double now = ex_now();
    if (now - p->t_draw < 0.1 && i + 1 < p->batches) return;
    p->t_draw = now;
    double frac = (double)(i + 1) / (double)p->batches;
    int width = 20, fill = (int)(frac * width + 0.5);
    char bar[32];
    for (int k = 0; k < width; k++) bar[k] = k < fill ? '#' : '.';
    bar[width] = 0;
    double el = now - p->t_epoch;
    double rate = el > 0 ? (double)p->samples / el : 0;
    /* ETA over the whole run, from the pace so far */
    double done = (double)(p->epoch - 1) * (double)p->batches + (double)(i + 1);
    double total = (double)p->epochs * (double)p->batches;
    double eta = done > 0 ? (now - p->t_start) * (total - done) / done : -1;
    char etas[32];
    fmt_duration(eta, etas, sizeof etas);
    fprintf(stderr, "\repoch %d/%d [%s] %lld/%lld loss %.4f %.0f samples/s ETA %s\033[K", p->epoch,
            p->epochs, bar, (long long)(i + 1), (long long)p->batches, ex_progress_loss(p), rate, etas);
    fflush(stderr);
    p->drawn = 1;
}

double ex_progress_loss(const ex_progress *p) {
    return p->loss_n ? p->loss_sum / (double)p->loss_n : NAN;
}

void ex_progress_epoch_end(ex_progress *p, const char *fmt, ...) {
    if (p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
        p->drawn = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}
