/* char_rnn: a character-level language model (simple RNN, LSTM or GRU).
 *
 * The model reads one character at a time and predicts the next:
 *   e_t = E[x_t]                       embedding (V, H), V = vocabulary size
 *   h_t = cell(e_t, h_{t-1})           --layers stacked cells (tg_rnn)
 *   p(x_{t+1} | x_≤t) = softmax(h_t·Wy + by)
 * and is trained on softmax cross-entropy at every step. Characters are
 * Unicode code points decoded from UTF-8, so a Chinese character is one
 * token and never split.
 *
 * Training is truncated back-propagation through time: the training text is
 * cut into --batch parallel streams; each step unrolls --seq characters of
 * every stream on one tape (BPTT over those steps), and the final state is
 * carried to the next step as values only (tg_rnn_carry), so gradients stop
 * at the chunk boundary. Adam, gradient-norm clipping (--clip), f32.
 *
 * Data: Debian's `fortunes` (every English fortune file in
 * /usr/share/games/fortunes) or, with --corpus zh, `fortunes-zh` (tang300:
 * 300 Tang poems, and song100: 100 Song ci). The strfile "%" lines separate
 * records; ANSI colour codes and backspace overstrikes are removed. Every
 * tenth record goes to the validation split. --text FILE uses any UTF-8 text,
 * its last tenth for validation.
 *
 * Reported: validation cross-entropy in bits per character (val_bpc), and
 * for scale the unigram baseline (character frequencies of the training
 * split, add-one smoothed, scored on the validation split).
 *
 * Exit codes: 0 ok, 1 runtime error, 2 usage error (see common.h). */
#include "common.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PROG "char_rnn"
/* --help's first lines */
static const char SUMMARY[] = "Train a character-level language model (RNN, LSTM or GRU) with truncated BPTT.\n"
                             "Default: a 256-unit LSTM on Debian's fortunes, 1500 steps of 32x64 characters.";

#define FORTUNE_DIR "/usr/share/games/fortunes"

typedef struct opts {
    const char *cell, *corpus, *text, *save, *load, *plot;
    int hidden, layers, seq, batch, epochs, steps, sample, seed, threads, eval_every;
    int eval_only; /* --steps 0 given: no training */
    double lr, clip, temperature;
} opts;

/* ---- text: UTF-8 in and out ---- */

typedef struct ustr {
    uint32_t *v; /* code points */
    int64_t n, cap;
} ustr;

static int ustr_push(ustr *s, uint32_t c) {
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 4096;
        uint32_t *v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = c;
    return 0;
}

/* Decode one UTF-8 sequence at p (n bytes left); *len gets its length.
 * Malformed input gives U+FFFD and consumes one byte. */
static uint32_t utf8_decode(const unsigned char *p, size_t n, size_t *len) {
    unsigned c = p[0];
    int k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    *len = 1;
    if (k == 0) return c;
    if (k < 0 || (size_t)k >= n) return 0xFFFD;
    uint32_t v = c & (0x3Fu >> k);
    for (int i = 1; i <= k; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0xFFFD;
        v = (v << 6) | (p[i] & 0x3F);
    }
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    if (v < min[k] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0xFFFD;
    *len = (size_t)k + 1;
    return v;
}

static void utf8_put(FILE *f, uint32_t c) {
    if (c < 0x80) fputc((int)c, f);
    else if (c < 0x800) fprintf(f, "%c%c", 0xC0 | (c >> 6), 0x80 | (c & 0x3F));
    else if (c < 0x10000) fprintf(f, "%c%c%c", 0xE0 | (c >> 12), 0x80 | ((c >> 6) & 0x3F), 0x80 | (c & 0x3F));
    else
        fprintf(f, "%c%c%c%c", 0xF0 | (c >> 18), 0x80 | ((c >> 12) & 0x3F), 0x80 | ((c >> 6) & 0x3F),
                0x80 | (c & 0x3F));
}

/* The whole of a regular file (ex_open_input: a FIFO is refused, not
 * waited on); NULL when it cannot be read. */
static unsigned char *read_file(const char *path, size_t *len) {
    char msg[64];
    FILE *f = ex_open_input(path, msg, sizeof msg);
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        unsigned char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Append the cleaned text of buf to one of two strings. records: split at
 * strfile "%" lines, record i going to val when i % 10 == 9 (each record
 * ends with a blank line); otherwise the whole text goes to train. Control
 * characters other than newline are dropped, tabs become spaces, ANSI escape
 * sequences vanish and a backspace erases the character before it. */
static int add_text(const unsigned char *buf, size_t len, int records, int64_t *rec_no, ustr *train, ustr *val) {
    ustr *dst = records && *rec_no % 10 == 9 ? val : train;
    int64_t rec_start = dst->n;
    size_t i = 0;
    while (i < len) {
        if (records && (i == 0 || buf[i - 1] == '\n') && buf[i] == '%' && (i + 1 == len || buf[i + 1] == '\n')) {
            i += 2;
            if (dst->n > rec_start && ustr_push(dst, '\n')) return -1;
            ++*rec_no;
            dst = *rec_no % 10 == 9 ? val : train;
            rec_start = dst->n;
            continue;
        }
        if (buf[i] == 0x1B) { /* ESC [ params letter */
            i++;
            if (i < len && buf[i] == '[') {
                i++;
                while (i < len && !((buf[i] >= 'A' && buf[i] <= 'Z') || (buf[i] >= 'a' && buf[i] <= 'z'))) i++;
                i++;
            }
            continue;
        }
        size_t k;
        uint32_t c = utf8_decode(buf + i, len - i, &k);
        i += k;
        if (c == '\b') {
            if (dst->n > rec_start) dst->n--;
            continue;
        }
        if (c == '\t') c = ' ';
        if (c == '\r' || (c < 0x20 && c != '\n') || c == 0x7F) continue;
        if (ustr_push(dst, c)) return -1;
    }
    if (records) {
        if (dst->n > rec_start && ustr_push(dst, '\n')) return -1;
        ++*rec_no;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Load the fortunes corpus (en or zh) into train/val. msg gets the reason on failure. */
static int load_corpus(int zh, ustr *train, ustr *val, int *n_files, char *msg, size_t mlen) {
    static const char *const zh_files[] = {"tang300", "song100"};
    static const char *const zh_skip[] = {"tang300", "song100", "chinese"};
    char *names[512];
    int n = 0;
    if (zh) {
        for (int i = 0; i < 2; i++) names[n++] = strdup(zh_files[i]);
    } else {
        DIR *d = opendir(FORTUNE_DIR);
        if (!d) {
            snprintf(msg, mlen, "cannot open %s (install the Debian package 'fortunes', or use --text FILE)",
                     FORTUNE_DIR);
            return -1;
        }
        struct dirent *e;
        while ((e = readdir(d)) && n < 512) {
            const char *nm = e->d_name;
            size_t l = strlen(nm);
            if (nm[0] == '.' || (l > 4 && (!strcmp(nm + l - 4, ".dat") || !strcmp(nm + l - 3, ".u8")))) continue;
            int skip = 0;
            for (int i = 0; i < 3; i++) skip |= !strcmp(nm, zh_skip[i]);
            char path[1024], dat[1100];
            snprintf(path, sizeof path, "%s/%s", FORTUNE_DIR, nm);
            snprintf(dat, sizeof dat, "%s.dat", path);
            struct stat st;
            if (skip || lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || stat(dat, &st) != 0) continue;
            names[n++] = strdup(nm);
        }
        closedir(d);
        qsort(names, (size_t)n, sizeof *names, cmp_str); /* readdir order is not stable */
    }
    int64_t rec = 0;
    int rc = 0, loaded = 0;
    for (int i = 0; i < n; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", FORTUNE_DIR, names[i] ? names[i] : "");
        size_t len;
        unsigned char *buf = names[i] ? read_file(path, &len) : NULL;
        if (!buf) {
            snprintf(msg, mlen, "cannot read %s%s", path,
                     zh ? " (install the Debian package 'fortunes-zh', or use --text FILE)" : "");
            rc = -1;
            break;
        }
        if (add_text(buf, len, 1, &rec, train, val)) {
            snprintf(msg, mlen, "out of memory");
            rc = -1;
        }
        free(buf);
        if (rc) break;
        loaded++;
    }
    for (int i = 0; i < n; i++) free(names[i]);
    if (!rc && loaded == 0) {
        snprintf(msg, mlen, "no fortune files found in %s (install the Debian package 'fortunes')", FORTUNE_DIR);
        rc = -1;
    }
    *n_files = loaded;
    return rc;
}

/* ---- vocabulary ---- */

typedef struct vocab {
    uint32_t *cp; /* sorted code points */
    int n;
} vocab;

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int vocab_build(vocab *v, const ustr *a, const ustr *b) {
    int64_t n = a->n + b->n;
    uint32_t *all = malloc((size_t)(n ? n : 1) * sizeof *all);
    if (!all) return -1;
    memcpy(all, a->v, (size_t)a->n * sizeof *all);
    if (b->n) memcpy(all + a->n, b->v, (size_t)b->n * sizeof *all);
    qsort(all, (size_t)n, sizeof *all, cmp_u32);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (k == 0 || all[i] != all[k - 1]) all[k++] = all[i];
    v->cp = all;
    v->n = (int)k;
    return 0;
}

static int32_t vocab_id(const vocab *v, uint32_t c) {
    int lo = 0, hi = v->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (v->cp[mid] == c) return mid;
        if (v->cp[mid] < c) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int32_t *encode(const vocab *v, const ustr *s) {
    int32_t *ids = malloc((size_t)(s->n ? s->n : 1) * sizeof *ids);
    if (ids)
        for (int64_t i = 0; i < s->n; i++) ids[i] = vocab_id(v, s->v[i]);
    return ids;
}

/* Unigram baseline: -mean log2 p(c) over val with p from train counts, add-one. */
static double unigram_bpc(const int32_t *tr, int64_t ntr, const int32_t *va, int64_t nva, int V) {
    double *cnt = calloc((size_t)V, sizeof *cnt);
    if (!cnt || nva < 1) {
        free(cnt);
        return NAN;
    }
    for (int64_t i = 0; i < ntr; i++) cnt[tr[i]] += 1;
    double s = 0;
    for (int64_t i = 1; i < nva; i++) s -= log2((cnt[va[i]] + 1) / ((double)ntr + V));
    free(cnt);
    return s / (double)(nva - 1); /* the model predicts va[1..]; score the same characters */
}

/* ---- model ---- */

typedef struct model {
    tg_tensor *E;     /* (V, H) character embeddings */
    tg_rnn rnn;       /* layers × cell(H -> H) */
    tg_dense out;     /* (H, V) */
    int V;
} model;

static int build(model *m, tg_ctx *ctx, const opts *o, int V) {
    memset(m, 0, sizeof *m);
    m->V = V;
    int64_t es[2] = {V, o->hidden};
    m->E = tg_param_new(ctx, "embed", TG_F32, 2, es);
    if (!m->E) return -1;
    tg_init_normal(m->E, 0, 0.3);
    tg_cell_kind kind = (tg_cell_kind)tg_cell_kind_parse(o->cell);
    if (tg_rnn_init(&m->rnn, ctx, "rnn", kind, o->hidden, o->hidden, o->layers, 0, TG_F32) != TG_OK) return -1;
    if (kind == TG_CELL_LSTM) /* forget gates open at the start (bias +1), a common LSTM recipe */
        for (int l = 0; l < o->layers; l++)
            for (int j = 0; j < o->hidden; j++) tg_set(m->rnn.cell[l][0].b, o->hidden + j, 1.0);
    if (tg_dense_init(&m->out, ctx, "out", o->hidden, V, TG_F32, TG_INIT_XAVIER) != TG_OK) return -1;
    return 0;
}

/* One chunk: ids (T·B, t-major: ids[t·B + b]) -> logits (T·B, V), the
 * state carried in from cr and the final states out. */
static tg_tensor *forward(const model *m, const int32_t *ids, int T, int B, const tg_rnn_carry *cr,
                          tg_rnn_state *final) {
    tg_tensor *xs[1024], *ys[1024];
    for (int t = 0; t < T; t++) xs[t] = tg_embedding(m->E, ids + (int64_t)t * B, B);
    if (tg_rnn_forward(&m->rnn, xs, T, cr->s, final, ys) != TG_OK) return NULL;
    return tg_dense_forward(&m->out, tg_concat(ys, T, 0));
}

/* Validation cross-entropy in bits per character: the split is cut into B
 * streams read in chunks of T with the state carried, as in training, so
 * every character but the first of each stream is predicted. */
static int evaluate(tg_ctx *ctx, const model *m, const int32_t *ids, int64_t n, int T, int B, double *bpc) {
    int64_t len = n / B; /* characters per stream */
    if (len < 2) { /* too short for B streams: one stream */
        B = 1;
        len = n;
    }
    if (len < 2) {
        *bpc = NAN;
        return 0;
    }
    tg_rnn_carry cr;
    if (tg_rnn_carry_init(&cr, &m->rnn, ctx, B) != TG_OK) return -1;
    int32_t *in = malloc(sizeof(int32_t) * (size_t)T * B), *tgt = malloc(sizeof(int32_t) * (size_t)T * B);
    double total = 0;
    int64_t count = 0;
    int rc = in && tgt ? 0 : -1;
    tg_no_grad_begin(ctx);
    for (int64_t p = 0; p + 1 < len && rc == 0; p += T) {
        int Tc = (int)(len - 1 - p < T ? len - 1 - p : T);
        for (int t = 0; t < Tc; t++)
            for (int b = 0; b < B; b++) {
                in[t * B + b] = ids[b * len + p + t];
                tgt[t * B + b] = ids[b * len + p + t + 1];
            }
        tg_tape *tape = tg_tape_begin(ctx);
        tg_rnn_state fin[TG_RNN_MAX_LAYERS];
        tg_tensor *loss = tg_cross_entropy(forward(m, in, Tc, B, &cr, fin), tgt, TG_SUM);
        if (!loss || tg_rnn_carry_store(&cr, fin) != TG_OK) rc = -1;
        else total += tg_item(loss), count += (int64_t)Tc * B;
        tg_tape_end(tape);
    }
    tg_no_grad_end(ctx);
    free(in);
    free(tgt);
    tg_rnn_carry_free(&cr);
    *bpc = count ? total / (double)count / log(2.0) : NAN;
    return rc;
}

/* Print n characters sampled from the model, starting after a newline. */
static int sample(tg_ctx *ctx, const model *m, const vocab *v, int n, double temperature) {
    int32_t cur = vocab_id(v, '\n');
    if (cur < 0) cur = 0;
    tg_rnn_carry cr;
    if (tg_rnn_carry_init(&cr, &m->rnn, ctx, 1) != TG_OK) return -1;
    double *p = malloc(sizeof(double) * (size_t)m->V);
    int rc = p ? 0 : -1;
    tg_no_grad_begin(ctx);
    for (int i = 0; i < n && rc == 0; i++) {
        tg_tape *tape = tg_tape_begin(ctx);
        tg_rnn_state fin[TG_RNN_MAX_LAYERS];
        tg_tensor *logits = forward(m, &cur, 1, 1, &cr, fin);
        if (!logits || tg_rnn_carry_store(&cr, fin) != TG_OK) {
            rc = -1;
        } else {
            double mx = -INFINITY, s = 0;
            for (int k = 0; k < m->V; k++) mx = fmax(mx, tg_get(logits, k) / temperature);
            for (int k = 0; k < m->V; k++) s += p[k] = exp(tg_get(logits, k) / temperature - mx);
            double u = tg_rng_uniform(ctx) * s;
            int k = 0;
            while (k < m->V - 1 && (u -= p[k]) > 0) k++;
            cur = k;
            utf8_put(stdout, v->cp[k]);
        }
        tg_tape_end(tape);
    }
    tg_no_grad_end(ctx);
    printf("\n");
    free(p);
    tg_rnn_carry_free(&cr);
    return rc;
}

/* ---- command line ---- */

static const char *const cell_names[] = {"rnn", "lstm", "gru", "rnn_relu", "gru_torch", NULL};
static const char *const corpus_names[] = {"en", "zh", NULL};

static int parse_opts(int argc, char **argv, opts *o) {
    *o = (opts){.cell = "lstm", .corpus = "en", .hidden = 256, .layers = 1, .seq = 64, .batch = 32, .epochs = 1,
                .steps = 1500, .lr = 3e-3, .clip = 5, .temperature = 0.8, .sample = 400, .seed = 42};
    ex_flag flags[] = {
        {.name = "cell", .type = EX_STRING, .target = &o->cell, .choices = cell_names,
         .help = "recurrent cell: simple tanh RNN, LSTM, GRU (lectures' form), ReLU RNN, PyTorch's GRU"},
        ex_flag_int("hidden", &o->hidden, "hidden units (and embedding size)", 1, 8192),
        ex_flag_int("layers", &o->layers, "stacked recurrent layers", 1, TG_RNN_MAX_LAYERS),
        ex_flag_int("seq", &o->seq, "BPTT length: characters unrolled per step", 1, 1024),
        ex_flag_int("batch", &o->batch, "parallel streams per step", 1, 4096),
        ex_flag_int("epochs", &o->epochs, "train for N passes over the training text instead of --steps", 1, 100000),
        {.name = "steps", .type = EX_INT, .target = &o->steps,
         .help = "training steps of --batch x --seq characters; 200 for --corpus zh (0: no training, e.g. evaluate "
                 "and sample a --load)",
         .range = EX_LO, .lo = 0},
        ex_flag_min("eval-every", &o->eval_every,
                    "validate every N steps (0: once per epoch, or 5 times for a --steps run)", 0),
        ex_flag_lr(&o->lr, "Adam learning rate", 10),
        {.name = "clip", .type = EX_DOUBLE, .target = &o->clip,
         .help = "clip the global gradient norm to this (0: no clipping)", .range = EX_LO | EX_HI, .lo = 0,
         .hi = 1e6},
        {.name = "temperature", .type = EX_DOUBLE, .target = &o->temperature,
         .help = "sampling temperature: logits / T before the softmax", .range = EX_LO | EX_LO_OPEN | EX_HI,
         .lo = 0, .hi = 100},
        {.name = "sample", .type = EX_INT, .target = &o->sample, .metavar = "N",
         .help = "characters to sample after training (0: none)", .range = EX_LO | EX_HI, .lo = 0, .hi = 1000000},
        ex_flag_file("text", &o->text, "FILE",
                     "train on this UTF-8 text instead (its last tenth is the validation split)"),
        {.name = "corpus", .type = EX_STRING, .target = &o->corpus, .choices = corpus_names,
         .help = "en: Debian fortunes; zh: fortunes-zh (Tang poems, Song ci)"},
        ex_flag_file("save", &o->save, "FILE", "save the model and optimizer state (safetensors) after training"),
        ex_flag_file("load", &o->load, "FILE",
                     "start from a checkpoint written by --save (same --cell/--hidden/--layers and text)"),
        ex_flag_file("plot", &o->plot, "FILE.svg",
                     "write training and validation bits per character at each validation as an SVG plot"),
        ex_flag_min("seed", &o->seed, "seed of initialisation and sampling", 0),
        ex_flag_threads(&o->threads),
    };
    int n = EX_NFLAGS(flags), rc = ex_parse(argc, argv, PROG, SUMMARY, flags, n);
    if (rc >= 0) return rc;
    if (ex_flag_find(flags, n, "epochs")->set && ex_flag_find(flags, n, "steps")->set)
        return ex_usage_error(PROG, "--epochs and --steps exclude each other");
    if (ex_flag_find(flags, n, "epochs")->set) o->steps = 0;
    /* The poems are short (35k characters, 2842 distinct ones): past about
     * 200 steps (12 passes) the model only memorises them. */
    else if (!ex_flag_find(flags, n, "steps")->set && !strcmp(o->corpus, "zh") && !o->text) o->steps = 200;
    o->eval_only = ex_flag_find(flags, n, "steps")->set && o->steps == 0;
    if (o->text && ex_flag_find(flags, n, "corpus")->set)
        return ex_usage_error(PROG, "--text and --corpus exclude each other");
    char msg[600];
    if (o->save && ex_check_save(o->save, msg, sizeof msg) != 0) return ex_usage_error(PROG, "--save: %s", msg);
    if (o->plot && ex_check_writable(o->plot, msg, sizeof msg) != 0) return ex_usage_error(PROG, "--plot: %s", msg);
    const char *files[2] = {o->load, o->text};
    for (int i = 0; i < 2; i++) {
        if (!files[i]) continue;
        if (ex_check_input(files[i], msg, sizeof msg) != 0)
            return ex_usage_error(PROG, "%s: %s", i ? "--text" : "--load", msg);
    }
    return -1;
}

/* ---- training ---- */

typedef struct data {
    ustr train_txt, val_txt;
    vocab voc;
    int32_t *tr, *va;
} data;

static int run(const opts *o, tg_ctx *ctx, data *d) {
    model m;
    if (build(&m, ctx, o, d->voc.n) != 0) return ex_runtime_error(PROG, "building the model: %s", tg_last_error(ctx));
    tg_optim_config oc = tg_optim_defaults(TG_OPT_ADAM);
    oc.lr = o->lr;
    tg_optim *opt = tg_optim_new(ctx, &oc, NULL, 0);
    /* The vocabulary travels with --save as a non-trained tensor, so that
     * --load can refuse a checkpoint made from another text. */
    int64_t vs[1] = {d->voc.n};
    tg_tensor *vt = tg_param_new(ctx, "vocab", TG_F64, 1, vs);
    if (!opt || !vt) return ex_runtime_error(PROG, "creating the optimizer: %s", tg_last_error(ctx));
    for (int i = 0; i < d->voc.n; i++) tg_set(vt, i, d->voc.cp[i]);
    int rc = EX_OK;
    tg_rnn_carry cr = {0};
    int32_t *in = NULL, *tgt = NULL;
    double *curve_tr = NULL, *curve_va = NULL;
    if (o->load) {
        if (tg_checkpoint_load(ctx, o->load, opt) != TG_OK) {
            rc = ex_runtime_error(PROG, "--load: %s (a checkpoint fits only the --cell, --hidden, --layers and text "
                                  "it was trained with)",
                                  tg_last_error(ctx));
            goto done;
        }
        for (int i = 0; i < d->voc.n; i++)
            if (tg_get(vt, i) != d->voc.cp[i]) {
                rc = ex_runtime_error(PROG, "--load: '%s' was trained on a different text (vocabulary differs)",
                                      o->load);
                goto done;
            }
    }
    int B = o->batch, T = o->seq;
    int64_t ntr = d->train_txt.n, len = ntr / B; /* characters per stream */
    if (len < T + 1) {
        rc = ex_usage_error(PROG, "the training text (%lld characters) is too short for --batch %d --seq %d",
                            (long long)ntr, B, T);
        goto done;
    }
    int64_t per_epoch = (len - 1) / T;
    int64_t total = o->eval_only ? 0 : o->steps ? o->steps : per_epoch * o->epochs;
    int64_t every = o->eval_every ? o->eval_every : o->steps ? (total + 4) / 5 : per_epoch;
    if (every < 1) every = 1;
    int periods = total ? (int)((total + every - 1) / every) : 0;
    printf("text: %lld training + %lld validation characters, vocabulary %d\n", (long long)ntr,
           (long long)d->val_txt.n, d->voc.n);
    int64_t n_params = 0;
    for (int i = 0; i < tg_param_count(ctx); i++)
        if (tg_param_at(ctx, i) != vt) n_params += tg_param_at(ctx, i)->numel;
    printf("model: %s, %d layer(s) of %d, %lld parameters; %lld steps of %dx%d characters (%.2f epochs), Adam lr %g, "
           "clip %g, %d threads\n",
           o->cell, o->layers, o->hidden, (long long)n_params, (long long)total, B, T,
           (double)total / (double)per_epoch, o->lr, o->clip, tg_ctx_threads(ctx));
    double uni = unigram_bpc(d->tr, ntr, d->va, d->val_txt.n, d->voc.n);
    in = malloc(sizeof(int32_t) * (size_t)T * B);
    tgt = malloc(sizeof(int32_t) * (size_t)T * B);
    curve_tr = calloc((size_t)periods + 1, sizeof(double));
    curve_va = calloc((size_t)periods + 1, sizeof(double));
    if (!in || !tgt || !curve_tr || !curve_va || tg_rnn_carry_init(&cr, &m.rnn, ctx, B) != TG_OK) {
        rc = ex_runtime_error(PROG, "out of memory");
        goto done;
    }
    ex_progress pr;
    ex_progress_begin(&pr, periods, every);
    double t_train = 0, val_bpc = NAN, train_bpc = NAN, loss0 = NAN;
    int64_t step = 0, pos = 0;
    for (int per = 1; per <= periods; per++) {
        ex_progress_epoch_begin(&pr, per);
        double t0 = ex_now();
        int64_t end = step + every < total ? step + every : total;
        for (int64_t i = 0; step < end; step++, i++) {
            if (pos + T + 1 > len) { /* a new pass over the text: the streams restart */
                pos = 0;
                tg_rnn_carry_zero(&cr);
            }
            for (int t = 0; t < T; t++)
                for (int b = 0; b < B; b++) {
                    in[t * B + b] = d->tr[b * len + pos + t];
                    tgt[t * B + b] = d->tr[b * len + pos + t + 1];
                }
            pos += T;
            tg_tape *tape = tg_tape_begin(ctx);
            tg_rnn_state fin[TG_RNN_MAX_LAYERS];
            tg_tensor *loss = tape ? tg_cross_entropy(forward(&m, in, T, B, &cr, fin), tgt, TG_MEAN) : NULL;
            tg_status st = loss ? tg_backward(loss) : TG_EINVAL;
            if (st == TG_OK && o->clip > 0) st = tg_optim_clip_grad_norm(opt, o->clip, NULL);
            if (st == TG_OK) st = tg_optim_step(opt);
            if (st == TG_OK) st = tg_rnn_carry_store(&cr, fin);
            double lv = loss ? tg_item(loss) : NAN;
            tg_optim_zero_grad(opt);
            if (tape) tg_tape_end(tape);
            if (st != TG_OK) {
                rc = ex_runtime_error(PROG, "step %lld: %s", (long long)step + 1,
                                      tg_last_error(ctx)[0] ? tg_last_error(ctx) : tg_strerror(st));
                goto done;
            }
            if (ex_diverged(&loss0, lv)) {
                rc = ex_runtime_error(PROG, "training diverged at epoch %lld step %lld (loss %g, first loss %g); "
                                      "try a smaller --lr",
                                      (long long)(step / per_epoch) + 1, (long long)step + 1, lv, loss0);
                goto done;
            }
            ex_progress_batch(&pr, i, (int64_t)B * T, lv / log(2.0));
        }
        t_train += ex_now() - t0;
        train_bpc = ex_progress_loss(&pr);
        if (evaluate(ctx, &m, d->va, d->val_txt.n, T, B, &val_bpc) != 0) {
            rc = ex_runtime_error(PROG, "validation failed: %s", tg_last_error(ctx));
            goto done;
        }
        curve_tr[per - 1] = train_bpc;
        curve_va[per - 1] = val_bpc;
        ex_progress_epoch_end(&pr, "step %6lld  train_bpc %.3f  val_bpc %.3f  (unigram %.3f)  %.1f s", (long long)step,
                              train_bpc, val_bpc, uni, ex_now() - t0);
    }
    if (periods == 0) {
        if (evaluate(ctx, &m, d->va, d->val_txt.n, T, B, &val_bpc) != 0) {
            rc = ex_runtime_error(PROG, "validation failed: %s", tg_last_error(ctx));
            goto done;
        }
        printf("val_bpc %.3f  (unigram %.3f)\n", val_bpc, uni);
    }
    if (o->save) {
        if (tg_checkpoint_save(ctx, o->save, opt) != TG_OK) {
            rc = ex_runtime_error(PROG, "--save: %s", tg_last_error(ctx));
            goto done;
        }
        printf("saved %s\n", o->save);
    }
    if (o->plot && periods > 0) {
        ex_series sr[2] = {{"train bpc", curve_tr, periods, 0}, {"validation bpc", curve_va, periods, 0}};
        char title[200];
        snprintf(title, sizeof title, "char_rnn: %s, %d x %d, unigram %.2f bpc; x: validation every %lld steps",
                 o->cell, o->layers, o->hidden, uni, (long long)every);
        if (ex_plot_svg(o->plot, title, "validation", "bits per character", NULL, sr, 2) != 0) {
            rc = ex_runtime_error(PROG, "--plot: cannot write '%s'", o->plot);
            goto done;
        }
        printf("wrote %s\n", o->plot);
    }
    if (o->sample > 0) {
        printf("sample (temperature %g):\n", o->temperature);
        if (sample(ctx, &m, &d->voc, o->sample, o->temperature) != 0) {
            rc = ex_runtime_error(PROG, "sampling failed: %s", tg_last_error(ctx));
            goto done;
        }
    }
    ex_result res = {0};
    ex_result_add(&res, "val_bpc", "%.4f", val_bpc);
    ex_result_add(&res, "unigram_bpc", "%.4f", uni);
    if (total > 0) ex_result_add(&res, "train_bpc", "%.4f", train_bpc);
    ex_result_add(&res, "steps", "%lld", (long long)total);
    ex_result_add(&res, "tokens_per_s", "%.0f", t_train > 0 ? (double)total * B * T / t_train : 0);
    ex_result_print(&res);
done:
    free(in);
    free(tgt);
    free(curve_tr);
    free(curve_va);
    tg_rnn_carry_free(&cr);
    tg_optim_free(opt);
    return rc;
}

int main(int argc, char **argv) {
    opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0) return rc;
    data d;
    memset(&d, 0, sizeof d);
    char msg[1200] = "";
    if (o.text) {
        size_t len;
        unsigned char *buf = read_file(o.text, &len);
        if (!buf) return ex_usage_error(PROG, "--text: cannot read '%s'", o.text);
        int64_t rec = 0;
        ustr all = {0};
        rc = add_text(buf, len, 0, &rec, &all, &all);
        free(buf);
        if (rc) return ex_runtime_error(PROG, "out of memory");
        int64_t cut = all.n - all.n / 10;
        d.train_txt = all;
        d.train_txt.n = cut;
        for (int64_t i = cut; i < all.n; i++)
            if (ustr_push(&d.val_txt, all.v[i])) return ex_runtime_error(PROG, "out of memory");
        if (d.val_txt.n < 2) {
            free(all.v);
            free(d.val_txt.v);
            return ex_usage_error(PROG, "--text: '%s' is too short (%lld characters)", o.text, (long long)all.n);
        }
    } else {
        int nf;
        if (load_corpus(!strcmp(o.corpus, "zh"), &d.train_txt, &d.val_txt, &nf, msg, sizeof msg) != 0) {
            free(d.train_txt.v);
            free(d.val_txt.v);
            return ex_usage_error(PROG, "--corpus %s: %s", o.corpus, msg);
        }
        printf("corpus %s: %d files from %s\n", o.corpus, nf, FORTUNE_DIR);
    }
    tg_ctx *ctx = ex_ctx_new(o.seed, o.threads);
    if (!ctx || vocab_build(&d.voc, &d.train_txt, &d.val_txt) != 0 || !(d.tr = encode(&d.voc, &d.train_txt)) ||
        !(d.va = encode(&d.voc, &d.val_txt)))
        rc = ex_runtime_error(PROG, "out of memory");
    else
        rc = run(&o, ctx, &d);
    tg_ctx_free(ctx);
    free(d.train_txt.v);
    free(d.val_txt.v);
    free(d.voc.cp);
    free(d.tr);
    free(d.va);
    return rc;
}
