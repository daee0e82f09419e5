/* test_checkpoint.c: safetensors checkpoints.
 *
 * Round trips (f32, f64, across dtypes, with optimizer state); every
 * truncation of a valid file and every single-bit flip in its data section is
 * rejected and leaves the parameters untouched; hand-built headers with one
 * corruption each get their own message; allocation failures are reported
 * without leaks; an independent Python reader (standard library only)
 * (test/read_safetensors.py) reads back the values we wrote. */
#include "graph_internal.h" /* tg__optim_slot, to compare optimizer state directly */
#include "testlib.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char g_dir[512];
static void path_of(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", g_dir, name); }

/* ---- files ---- */

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Writes b[0..n) as the whole content of path. Rewrites in place and then
 * truncates to n, instead of O_TRUNC: ext4 flushes a file truncated to zero
 * on close (auto_da_alloc), which made thousands of rewrites take minutes. */
static void spit(const char *path, const void *b, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || (n && pwrite(fd, b, n, 0) != (ssize_t)n) || ftruncate(fd, (off_t)n) != 0 ||
        close(fd) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

/* Number of leftover "*.tmp.*" files in the temp dir. */
static int temp_files(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

/* ---- contexts ---- */

static tg_ctx *new_ctx(void) {
    tg_config cfg = tg_config_default();
    cfg.threads = 1; /* no pool workers: keeps the allocation counters exact */
    return tg_ctx_new(&cfg);
}

/* A small model: W (3,4), b (4), a scalar, and an empty (2,0) tensor. */
static tg_ctx *model(tg_dtype dt) {
    tg_ctx *ctx = new_ctx();
    int64_t sw[2] = {3, 4}, sb[1] = {4}, se[2] = {2, 0};
    if (!ctx || !tg_param_new(ctx, "enc.W", dt, 2, sw) || !tg_param_new(ctx, "enc.b", dt, 1, sb) ||
        !tg_param_new(ctx, "scale", dt, 0, NULL) || !tg_param_new(ctx, "gate.empty", dt, 2, se)) {
        fprintf(stderr, "cannot build the model: %s\n", ctx ? tg_last_error(ctx) : "no ctx");
        exit(1);
    }
    return ctx;
}

/* Values that need every bit of the dtype: thirds, tiny and huge numbers. */
static void fill(tg_ctx *ctx, double seed) {
    for (int i = 0; i < tg_param_count(ctx); i++) {
        tg_tensor *p = tg_param_at(ctx, i);
        for (int64_t j = 0; j < p->numel; j++)
            tg_set(p, j, (seed + (double)(i * 10 + j)) / 3.0 * (j % 3 == 0 ? 1e-30 : j % 3 == 1 ? -1.0 : 1e30));
    }
}

/* All parameter bytes, concatenated (for "unchanged" checks). */
typedef struct snap {
    unsigned char *b;
    size_t n;
} snap;
static snap take(tg_ctx *ctx) {
    snap s = {NULL, 0};
    for (int i = 0; i < tg_param_count(ctx); i++) {
        tg_tensor *p = tg_param_at(ctx, i);
        s.n += (size_t)p->numel * tg_dtype_size(p->dtype);
    }
    s.b = malloc(s.n + 1);
    size_t o = 0;
    for (int i = 0; i < tg_param_count(ctx); i++) {
        tg_tensor *p = tg_param_at(ctx, i);
        size_t k = (size_t)p->numel * tg_dtype_size(p->dtype);
        memcpy(s.b + o, p->data, k);
        o += k;
    }
    return s;
}
static int same(tg_ctx *ctx, snap s) {
    snap t = take(ctx);
    int eq = t.n == s.n && memcmp(t.b, s.b, s.n) == 0;
    free(t.b);
    return eq;
}

/* ---- 1. round trips ---- */

static void test_roundtrip(void) {
    char p[1024];
    for (int dt = 0; dt < 2; dt++) {
        tg_ctx *a = model((tg_dtype)dt), *b = model((tg_dtype)dt);
        fill(a, 1.0);
        fill(b, 7.0);
        path_of(p, sizeof p, "rt.safetensors");
        tg_status s = tg_checkpoint_save(a, p, NULL);
        CHECK(s == TG_OK, "save %s: %s", tg_dtype_name((tg_dtype)dt), tg_last_error(a));
        s = tg_checkpoint_save(a, p, NULL); /* again, over the existing file */
        CHECK(s == TG_OK, "save over: %s", tg_last_error(a));
        CHECK(temp_files() == 0, "a temp file was left behind");
        s = tg_checkpoint_load(b, p, NULL);
        CHECK(s == TG_OK, "load %s: %s", tg_dtype_name((tg_dtype)dt), tg_last_error(b));
        snap sa = take(a);
        CHECK(same(b, sa), "%s round trip is not bit-exact", tg_dtype_name((tg_dtype)dt));
        free(sa.b);
        tg_ctx_free(a);
        tg_ctx_free(b);
    }
    /* across dtypes: f64 file into f32 params rounds, f32 file into f64 is exact */
    tg_ctx *d = model(TG_F64), *f = model(TG_F32), *d2 = model(TG_F64);
    fill(d, 2.0);
    path_of(p, sizeof p, "f64.safetensors");
    CHECK(tg_checkpoint_save(d, p, NULL) == TG_OK, "save f64: %s", tg_last_error(d));
    CHECK(tg_checkpoint_load(f, p, NULL) == TG_OK, "f64 -> f32: %s", tg_last_error(f));
    for (int i = 0; i < tg_param_count(d); i++)
        for (int64_t j = 0; j < tg_param_at(d, i)->numel; j++) {
            float want = (float)tg_get(tg_param_at(d, i), j);
            CHECK(tg_get(tg_param_at(f, i), j) == want, "f64 -> f32 element %d/%lld", i, (long long)j);
        }
    path_of(p, sizeof p, "f32.safetensors");
    CHECK(tg_checkpoint_save(f, p, NULL) == TG_OK, "save f32: %s", tg_last_error(f));
    CHECK(tg_checkpoint_load(d2, p, NULL) == TG_OK, "f32 -> f64: %s", tg_last_error(d2));
    for (int i = 0; i < tg_param_count(f); i++)
        for (int64_t j = 0; j < tg_param_at(f, i)->numel; j++)
            CHECK(tg_get(tg_param_at(d2, i), j) == tg_get(tg_param_at(f, i), j), "f32 -> f64 element");
    tg_ctx_free(d);
    tg_ctx_free(f);
    tg_ctx_free(d2);

    /* I/O errors name the path and the reason */
    tg_ctx *c = model(TG_F32);
    path_of(p, sizeof p, "no-such-dir/x.safetensors");
    CHECK(tg_checkpoint_save(c, p, NULL) == TG_EIO && strstr(tg_last_error(c), p) &&
              strstr(tg_last_error(c), "No such file"),
          "save into a missing dir: %s", tg_last_error(c));
    CHECK(tg_checkpoint_load(c, p, NULL) == TG_EIO && strstr(tg_last_error(c), p) &&
              strstr(tg_last_error(c), "No such file"),
          "load a missing file: %s", tg_last_error(c));
    /* a write that fails (file size limit: EFBIG) keeps the old file and
     * leaves no temp file */
    path_of(p, sizeof p, "kept.safetensors");
    CHECK(tg_checkpoint_save(c, p, NULL) == TG_OK, "save: %s", tg_last_error(c));
    size_t n0, n1;
    unsigned char *before = slurp(p, &n0);
    tg_set(tg_param_at(c, 0), 0, 123.0); /* the new save would differ */
    struct rlimit old_lim, lim;
    if (getrlimit(RLIMIT_FSIZE, &old_lim) == 0) {
        signal(SIGXFSZ, SIG_IGN);
        lim = old_lim;
        lim.rlim_cur = 64;
        if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
            tg_status s = tg_checkpoint_save(c, p, NULL);
            setrlimit(RLIMIT_FSIZE, &old_lim);
            CHECK(s == TG_EIO && strstr(tg_last_error(c), p) && strstr(tg_last_error(c), "too large"),
                  "save past the file size limit: %d %s", s, tg_last_error(c));
            printf("  rejected save: %s\n", tg_last_error(c));
            unsigned char *after = slurp(p, &n1);
            CHECK(before && after && n0 == n1 && memcmp(before, after, n0) == 0,
                  "a failed save changed the existing file");
            free(after);
            CHECK(temp_files() == 0, "a failed write left a temp file");
        }
    }
    free(before);
    /* rename over a non-empty directory fails: the temp file must go away */
    path_of(p, sizeof p, "adir");
    mkdir(p, 0700);
    char q[1100];
    snprintf(q, sizeof q, "%s/keep", p);
    spit(q, "x", 1);
    CHECK(tg_checkpoint_save(c, p, NULL) == TG_EIO && strstr(tg_last_error(c), "rename"),
          "save over a directory: %s", tg_last_error(c));
    CHECK(temp_files() == 0, "temp file left after a failed rename");
    printf("  rejected save: %s\n", tg_last_error(c));
    CHECK(tg_checkpoint_load(c, p, NULL) == TG_EIO && strstr(tg_last_error(c), "not a regular file"),
          "load a directory: %s", tg_last_error(c));
    unlink(q);
    rmdir(p);
    tg_ctx_free(c);
}

/* ---- 2. truncations, 3. bit flips ---- */

static tg_status load_bytes(tg_ctx *ctx, const char *name, const unsigned char *b, size_t n) {
    char p[1024];
    path_of(p, sizeof p, name);
    spit(p, b, n);
    tg_clear_error(ctx);
    return tg_checkpoint_load(ctx, p, NULL);
}

static void test_damage(void) {
    for (int dt = 0; dt < 2; dt++) {
        tg_ctx *a = model((tg_dtype)dt), *b = model((tg_dtype)dt);
        fill(a, 3.0);
        fill(b, 5.0);
        char p[1024];
        path_of(p, sizeof p, "good.safetensors");
        CHECK(tg_checkpoint_save(a, p, NULL) == TG_OK, "save: %s", tg_last_error(a));
        size_t n;
        unsigned char *good = slurp(p, &n);
        if (!good) {
            CHECK(0, "cannot read %s", p);
            return;
        }
        snap sb = take(b), sa = take(a);
        uint64_t hlen = 0;
        for (int k = 0; k < 8; k++) hlen |= (uint64_t)good[k] << (8 * k);
        CHECK(hlen % 8 == 0 && 8 + hlen < n, "header length %llu of a %zu-byte file",
              (unsigned long long)hlen, n);
        size_t data0 = 8 + (size_t)hlen;

        /* every truncation */
        int bad_trunc = 0;
        for (size_t len = 0; len < n; len++) {
            tg_status s = load_bytes(b, "cut.safetensors", good, len);
            if (s == TG_OK || !same(b, sb)) bad_trunc++;
            CHECK(s != TG_OK, "truncation to %zu of %zu bytes loaded", len, n);
            CHECK(same(b, sb), "truncation to %zu changed the parameters", len);
        }
        printf("  %s: all %zu truncations rejected%s\n", tg_dtype_name((tg_dtype)dt), n,
               bad_trunc ? " (NOT)" : "");

        /* every bit of the data section */
        unsigned char *m = malloc(n);
        int bad_flip = 0;
        for (size_t i = data0; i < n; i++)
            for (int bit = 0; bit < 8; bit++) {
                memcpy(m, good, n);
                m[i] ^= (unsigned char)(1u << bit);
                tg_status s = load_bytes(b, "flip.safetensors", m, n);
                const char *msg = tg_last_error(b);
                int ok = s == TG_ECHECKSUM && strstr(msg, "crc32") && same(b, sb);
                if (!ok && bad_flip++ < 5)
                    CHECK(0, "flip of bit %d of byte %zu: status %d: %s", bit, i, s, msg);
            }
        CHECK(bad_flip == 0, "%d data bit flips not caught", bad_flip);
        printf("  %s: all %zu data-section bit flips caught by crc32\n", tg_dtype_name((tg_dtype)dt),
               8 * (n - data0));

        /* every bit of the length and the header: rejected and untouched, or
         * (e.g. a hex digit changing case) loaded with exactly the saved values */
        int bad_hdr = 0, rejected = 0;
        for (size_t i = 0; i < data0; i++)
            for (int bit = 0; bit < 8; bit++) {
                memcpy(m, good, n);
                m[i] ^= (unsigned char)(1u << bit);
                tg_status s = load_bytes(b, "hflip.safetensors", m, n);
                int ok = s != TG_OK ? same(b, sb) : same(b, sa);
                if (s != TG_OK) rejected++;
                else fill(b, 5.0); /* restore */
                if (!ok && bad_hdr++ < 5)
                    CHECK(0, "header flip of bit %d of byte %zu: status %d: %s", bit, i, s,
                          tg_last_error(b));
            }
        CHECK(bad_hdr == 0, "%d header bit flips misbehaved", bad_hdr);
        CHECK(same(b, sb), "restore after header flips");
        printf("  %s: %d of %zu header bit flips rejected, the rest loaded the saved values\n",
               tg_dtype_name((tg_dtype)dt), rejected, 8 * data0);
        free(m);
        free(good);
        free(sa.b);
        free(sb.b);
        tg_ctx_free(a);
        tg_ctx_free(b);
    }
}

/* ---- 4. hand-built headers ---- */

/* The context for crafted files: w (2,2) f32 and b (2) f32. */
static const float g_w[4] = {1.5f, -2.25f, 3.0f, 0.125f}, g_b[2] = {-7.0f, 1e-3f};

static void put_file(const char *name, const char *json, const unsigned char *data, size_t dlen,
                     uint64_t hlen_override) {
    size_t j = strlen(json);
    unsigned char *b = malloc(8 + j + dlen + 1);
    uint64_t h = hlen_override ? hlen_override : j;
    for (int k = 0; k < 8; k++) b[k] = (unsigned char)(h >> (8 * k));
    memcpy(b + 8, json, j);
    if (dlen) memcpy(b + 8 + j, data, dlen);
    char p[1024];
    path_of(p, sizeof p, name);
    spit(p, b, 8 + j + dlen);
    free(b);
}

/* A header whose tensor entries are given as text; crcs for w and b. */
static void header(char *out, size_t len, const char *meta_extra, const char *entries, uint32_t cw,
                   uint32_t cb) {
    char crcs[80] = "";
    if (strstr(entries, "\"w\":") || strstr(entries, "\\u0077"))
        snprintf(crcs, sizeof crcs, ",\"crc32.w\":\"%08x\"", (unsigned)cw);
    if (strstr(entries, "\"b\""))
        snprintf(crcs + strlen(crcs), sizeof crcs - strlen(crcs), ",\"crc32.b\":\"%08x\"", (unsigned)cb);
    snprintf(out, len, "{\"__metadata__\":{\"format\":\"tapegrad\"%s%s},%s}", crcs, meta_extra, entries);
}

static void test_crafted(void) {
    tg_ctx *ctx = new_ctx();
    int64_t sw[2] = {2, 2}, sb1[1] = {2};
    tg_tensor *w = tg_param_new(ctx, "w", TG_F32, 2, sw), *bb = tg_param_new(ctx, "b", TG_F32, 1, sb1);
    if (!w || !bb) {
        CHECK(0, "params: %s", tg_last_error(ctx));
        return;
    }
    /* little-endian data: w then b, plus 8 spare bytes for the gap/trailing cases */
    unsigned char data[40];
    memset(data, 0xEE, sizeof data);
    for (int i = 0; i < 6; i++) {
        float v = i < 4 ? g_w[i] : g_b[i - 4];
        uint32_t u;
        memcpy(&u, &v, 4);
        for (int k = 0; k < 4; k++) data[4 * i + k] = (unsigned char)(u >> (8 * k));
    }
    uint32_t cw = (uint32_t)crc32(0, data, 16), cb = (uint32_t)crc32(0, data + 16, 8);
    const char *W = "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}";
    const char *B = "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}";
    char ents[512], json[2048];
    char p[1024];
    path_of(p, sizeof p, "crafted.safetensors");

    /* the baseline, made by hand, must load and give the values above */
    snprintf(ents, sizeof ents, "%s,%s", W, B);
    header(json, sizeof json, "", ents, cw, cb);
    put_file("crafted.safetensors", json, data, 24, 0);
    tg_status s = tg_checkpoint_load(ctx, p, NULL);
    CHECK(s == TG_OK, "hand-built baseline: %s", tg_last_error(ctx));
    for (int i = 0; i < 4; i++) CHECK(tg_get(w, i) == g_w[i], "w[%d] = %g", i, tg_get(w, i));
    for (int i = 0; i < 2; i++) CHECK(tg_get(bb, i) == g_b[i], "b[%d] = %g", i, tg_get(bb, i));
    /* with spaces and newlines, keys in another order, escapes in a key */
    header(json, sizeof json, ",\"note\":\"a \\\"quoted\\\" \\u00e9\\ud83d\\ude00 \\\\ /\"",
           "\n \"b\" : { \"data_offsets\" : [ 16 , 24 ], \"shape\" : [2], \"dtype\":\"F32\" } ,\r\n"
           "\t\"\\u0077\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}  ",
           cw, cb);
    put_file("crafted.safetensors", json, data, 24, 0);
    s = tg_checkpoint_load(ctx, p, NULL);
    CHECK(s == TG_OK, "hand-built baseline with whitespace and escapes: %s", tg_last_error(ctx));

    tg_tensor_fill(w, 99);
    tg_tensor_fill(bb, -99);
    snap keep = take(ctx);

    struct bad {
        const char *what, *meta, *ents, *expect; /* ents NULL: the raw json in meta */
        size_t dlen;
        uint64_t hlen;
        tg_status st;
    } cases[] = {
        {"bad JSON: missing brace", "RAW{\"w\":{\"dtype\":\"F32\"", NULL, "byte", 24, 0, TG_EFORMAT},
        {"bad JSON: trailing comma", "", "W,B,", "byte", 24, 0, TG_EFORMAT},
        {"bad JSON: single quotes", "RAW{'w':1}", NULL, "byte 1", 24, 0, TG_EFORMAT},
        {"bad JSON: bad escape", ",\"x\":\"\\q\"", "W,B", "invalid escape", 24, 0, TG_EFORMAT},
        {"bad JSON: lone surrogate", ",\"x\":\"\\udc00\"", "W,B", "surrogate", 24, 0, TG_EFORMAT},
        {"bad JSON: control char", ",\"x\":\"a\tb\"", "W,B", "control character", 24, 0, TG_EFORMAT},
        {"bad JSON: garbage after", "RAW{} x", NULL, "end of the JSON", 24, 0, TG_EFORMAT},
        {"bad JSON: leading zero", "", "\"w\":{\"dtype\":\"F32\",\"shape\":[02,2],\"data_offsets\":[0,16]},B",
         "byte", 24, 0, TG_EFORMAT},
        {"root not an object", "RAW[1,2]", NULL, "not an object", 24, 0, TG_EFORMAT},
        {"overlapping offsets", "",
         "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}",
         "overlap", 24, 0, TG_EFORMAT},
        {"out-of-range offsets", "",
         "W,\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}", "past the end", 24, 0,
         TG_EFORMAT},
        {"huge offsets", "",
         "W,\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[18446744073709551608,18446744073709551616]}",
         "data_offsets[1]", 24, 0, TG_EFORMAT},
        {"begin > end", "", "W,\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,16]}",
         "begin > end", 24, 0, TG_EFORMAT},
        {"offsets not a pair", "", "W,\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16]}",
         "array [begin, end]", 24, 0, TG_EFORMAT},
        {"shape/byte-count mismatch", "",
         "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]},B", "needs 24 bytes", 24, 0,
         TG_EFORMAT},
        {"dtype/byte-count mismatch", "",
         "\"w\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,16]},B", "needs 32 bytes", 24, 0,
         TG_EFORMAT},
        {"unknown dtype", "", "\"w\":{\"dtype\":\"F17\",\"shape\":[2,2],\"data_offsets\":[0,16]},B",
         "unknown dtype 'F17'", 24, 0, TG_EFORMAT},
        {"unsupported dtype", "", "\"w\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[0,16]},B",
         "F16 is not supported", 24, 0, TG_EFORMAT},
        {"negative dim", "", "\"w\":{\"dtype\":\"F32\",\"shape\":[-2,2],\"data_offsets\":[0,16]},B",
         "shape[0]", 24, 0, TG_EFORMAT},
        {"fractional dim", "", "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2.0],\"data_offsets\":[0,16]},B",
         "shape[1]", 24, 0, TG_EFORMAT},
        {"rank 9", "", "\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,4],\"data_offsets\":[0,16]},B",
         "at most 8", 24, 0, TG_EFORMAT},
        {"missing tensor", "", "W", "'b' (a parameter of the context) is missing", 16, 0, TG_EFORMAT},
        {"wrong shape for a param", "",
         "\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},B",
         "'w': shape [4] in the file, [2,2] in the context", 24, 0, TG_ESHAPE},
        {"transposed shape for a param", "",
         "\"w\":{\"dtype\":\"F32\",\"shape\":[1,4],\"data_offsets\":[0,16]},B",
         "'w': shape [1,4] in the file, [2,2] in the context", 24, 0, TG_ESHAPE},
        {"tensor not a parameter", ",\"crc32.z\":\"00000000\"",
         "W,B,\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[24,24]}", "'z' in the file is not a parameter",
         24, 0, TG_EFORMAT},
        {"gap between tensors", "",
         "W,\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[20,28]}", "belong to no tensor", 28, 0,
         TG_EFORMAT},
        {"trailing data", "", "W,B", "after the last tensor", 32, 0, TG_EFORMAT},
        {"no checksum", "", "W,B,\"extra\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[24,24]}",
         "no checksum", 24, 0, TG_EFORMAT},
        {"checksum not hex",
         "RAW{\"__metadata__\":{\"crc32.w\":\"12345g78\"},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
         NULL, "'crc32.w': '12345g78' is not 8 hex digits", 24, 0, TG_EFORMAT},
        {"checksum of nothing", ",\"crc32.nothing\":\"00000000\"", "W,B", "which is not in the file", 24,
         0, TG_EFORMAT},
        {"duplicate tensor", "", "W,B,W", "'w' appears twice", 24, 0, TG_EFORMAT},
        {"duplicate metadata key", ",\"crc32.w\":\"00000000\"", "W,B", "__metadata__: 'crc32.w' appears twice",
         24, 0, TG_EFORMAT},
        {"duplicate entry key", "",
         "\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},B",
         "a key appears twice", 24, 0, TG_EFORMAT},
        {"metadata value not a string", ",\"n\":3", "W,B", "'n' (header byte", 24, 0, TG_EFORMAT},
        {"metadata not an object", "RAW{\"__metadata__\":[],\"w\":1}", NULL, "__metadata__ is not an object",
         24, 0, TG_EFORMAT},
        {"entry not an object", "", "\"w\":[0,16],B", "entry is not an object", 24, 0, TG_EFORMAT},
        {"unexpected key", "",
         "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],\"x\":1},B", "unexpected key 'x'",
         24, 0, TG_EFORMAT},
        {"missing data_offsets", "", "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2]},B", "no \"data_offsets\"", 24,
         0, TG_EFORMAT},
        {"header length 1", "RAW{", NULL, "header length 1 is too small", 24, 1, TG_EFORMAT},
        {"header length past the end", "", "W,B", "runs past the end of the file", 24, 4096, TG_EFORMAT},
        {"header length over 100 MB", "", "W,B", "exceeds the limit", 24, (uint64_t)1 << 40, TG_EFORMAT},
        {"too deep", "RAW{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", NULL,
         "nesting", 24, 0, TG_EFORMAT},
        {"bad UTF-8", ",\"x\":\"\xC3\x28\"", "W,B", "UTF-8", 24, 0, TG_EFORMAT},
    };
    int nc = (int)(sizeof cases / sizeof cases[0]);
    char(*msgs)[600] = calloc((size_t)nc, sizeof *msgs);
    for (int c = 0; c < nc; c++) {
        const struct bad *k = &cases[c];
        if (!k->ents) {
            snprintf(json, sizeof json, "%s", k->meta + 3); /* after "RAW" */
        } else {
            /* expand W and B in the entry template */
            ents[0] = 0;
            for (const char *t = k->ents; *t; t++) {
                size_t o = strlen(ents);
                if (*t == 'W' && (t == k->ents || t[-1] == ',') && (t[1] == ',' || !t[1]))
                    snprintf(ents + o, sizeof ents - o, "%s", W);
                else if (*t == 'B' && (t == k->ents || t[-1] == ',') && (t[1] == ',' || !t[1]))
                    snprintf(ents + o, sizeof ents - o, "%s", B);
                else
                    snprintf(ents + o, sizeof ents - o, "%c", *t);
            }
            header(json, sizeof json, k->meta, ents, cw, cb);
        }
        put_file("crafted.safetensors", json, data, k->dlen, k->hlen);
        tg_clear_error(ctx);
        s = tg_checkpoint_load(ctx, p, NULL);
        const char *m = tg_last_error(ctx);
        snprintf(msgs[c], sizeof msgs[c], "%s", m);
        CHECK(s == k->st, "%s: status %d (%s), expected %d: %s", k->what, s, tg_strerror(s), k->st, m);
        CHECK(strstr(m, k->expect) != NULL, "%s: message lacks \"%s\": %s", k->what, k->expect, m);
        CHECK(strstr(m, p) != NULL, "%s: message does not name the file: %s", k->what, m);
        CHECK(same(ctx, keep), "%s: parameters changed", k->what);
        size_t skip = strlen("checkpoint: ") + strlen(p) + 2;
        printf("  %-30s %s\n", k->what, strlen(m) > skip ? m + skip : m);
    }
    for (int c = 0; c < nc; c++)
        for (int d = 0; d < c; d++)
            CHECK(strcmp(msgs[c], msgs[d]) != 0, "'%s' and '%s' give the same message: %s", cases[c].what,
                  cases[d].what, msgs[c]);

    /* a checksum mismatch names the tensor */
    snprintf(ents, sizeof ents, "%s,%s", W, B);
    header(json, sizeof json, "", ents, cw, cb ^ 1);
    put_file("crafted.safetensors", json, data, 24, 0);
    s = tg_checkpoint_load(ctx, p, NULL);
    CHECK(s == TG_ECHECKSUM && strstr(tg_last_error(ctx), "'b'"), "crc mismatch: %d %s", s,
          tg_last_error(ctx));
    CHECK(same(ctx, keep), "crc mismatch changed the parameters");
    printf("  %-30s %s\n", "checksum mismatch", tg_last_error(ctx));
    free(msgs);
    free(keep.b);
    tg_ctx_free(ctx);
}

/* ---- 5. the Python reader ---- */

static void test_python(void) {
    const char *src = getenv("TG_SRCDIR");
    if (access("/usr/bin/python3", X_OK) != 0) {
        SKIPF("python reader: /usr/bin/python3 is missing");
        return;
    }
    if (!src) {
        SKIPF("python reader: TG_SRCDIR is not set (run through meson test)");
        return;
    }
    enum { OUT = 1 << 22 }; /* the reader prints every value: ~70 KB for this model */
    char *out = malloc(OUT);
    if (!out) {
        FAILF("out of memory");
        return;
    }
    for (int dt = 0; dt < 2; dt++) {
        tg_ctx *a = model((tg_dtype)dt);
        fill(a, 4.0);
        char p[1024], script[1100];
        path_of(p, sizeof p, "py.safetensors");
        CHECK(tg_checkpoint_save(a, p, NULL) == TG_OK, "save: %s", tg_last_error(a));
        snprintf(script, sizeof script, "%s/test/read_safetensors.py", src);
        char *argv[] = {(char *)"/usr/bin/python3", script, p, NULL};
        int rc = tl_run(argv, out, OUT);
        CHECK(strlen(out) < OUT - 1, "python output longer than %d bytes", OUT - 1);
        char *save = NULL;
        int seen = 0;
        for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            if (line[0] != 'V') continue;
            char name[128], dts[8], shp[64];
            int off = 0;
            if (sscanf(line, "V %127s %7s %63s%n", name, dts, shp, &off) != 3) {
                CHECK(0, "python output: %s", line);
                continue;
            }
            tg_tensor *t = tg_param_find(a, name);
            CHECK(t != NULL, "python sees an unknown tensor %s", name);
            if (!t) continue;
            seen++;
            CHECK(strcmp(dts, dt ? "F64" : "F32") == 0, "%s: dtype %s", name, dts);
            char want_shape[64] = "-";
            if (t->rank) tg_shape_str(t, want_shape, sizeof want_shape);
            if (t->rank) { /* "[3,4]" -> "3,4" */
                memmove(want_shape, want_shape + 1, strlen(want_shape));
                want_shape[strlen(want_shape) - 1] = 0;
            }
            CHECK(strcmp(shp, want_shape) == 0, "%s: python shape %s, ours %s", name, shp, want_shape);
            char *q = line + off;
            int64_t j = 0;
            for (;; j++) {
                char *end;
                double v = strtod(q, &end);
                if (end == q) break;
                q = end;
                if (j < t->numel)
                    CHECK(v == tg_get(t, j), "%s[%lld]: python %.17g, ours %.17g", name, (long long)j, v,
                          tg_get(t, j));
            }
            CHECK(j == t->numel, "%s: python printed %lld values, want %lld", name, (long long)j,
                  (long long)t->numel);
        }
        CHECK(rc == 0, "python reader failed (status %d)", rc);
        CHECK(seen == tg_param_count(a), "python read %d of %d tensors", seen, tg_param_count(a));
        printf("  python read %d %s tensors with identical values and crc32s\n", seen, tg_dtype_name((tg_dtype)dt));
        tg_ctx_free(a);
    }
    free(out);
}

/* ---- 6. optimizer state ---- */

static void fake_grads(tg_ctx *ctx, int step) {
    for (int i = 0; i < tg_param_count(ctx); i++) {
        tg_tensor *p = tg_param_at(ctx, i);
        for (int64_t j = 0; j < p->numel; j++) {
            double g = sin(0.7 * (double)(j + 1) + 1.3 * step + i);
            if (p->dtype == TG_F32) ((float *)p->grad)[j] = (float)g;
            else ((double *)p->grad)[j] = g;
        }
    }
}

static int slots_equal(const tg_optim *a, const tg_optim *b) {
    if (tg__optim_nparams(a) != tg__optim_nparams(b) || tg__optim_nslots(a) != tg__optim_nslots(b))
        return 0;
    for (int i = 0; i < tg__optim_nparams(a); i++) {
        const tg_tensor *p = tg__optim_param(a, i);
        for (int s = 0; s < tg__optim_nslots(a); s++)
            if (memcmp(tg__optim_slot(a, i, s), tg__optim_slot(b, i, s),
                       (size_t)p->numel * tg_dtype_size(p->dtype)) != 0)
                return 0;
    }
    return 1;
}

static void test_optim(void) {
    const tg_optim_kind kinds[] = {TG_OPT_ADAM, TG_OPT_MOMENTUM, TG_OPT_RMSPROP, TG_OPT_ADADELTA,
                                   TG_OPT_SGD};
    char p[1024];
    path_of(p, sizeof p, "opt.safetensors");
    for (int dt = 0; dt < 2; dt++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            tg_optim_config cfg = tg_optim_defaults(kinds[k]);
            if (kinds[k] == TG_OPT_MOMENTUM) cfg.momentum = 0.9;
            if (kinds[k] == TG_OPT_RMSPROP) cfg.momentum = 0.5; /* two slots */
            tg_ctx *a = model((tg_dtype)dt), *b = model((tg_dtype)dt);
            /* keep values moderate so the optimizer arithmetic stays finite */
            for (int i = 0; i < tg_param_count(a); i++) tg_init_uniform(tg_param_at(a, i), -1, 1);
            tg_optim *oa = tg_optim_new(a, &cfg, NULL, 0), *ob = tg_optim_new(b, &cfg, NULL, 0);
            if (!oa || !ob) {
                CHECK(0, "optim_new: %s %s", tg_last_error(a), tg_last_error(b));
                return;
            }
            for (int s = 0; s < 3; s++) {
                fake_grads(a, s);
                CHECK(tg_optim_step(oa) == TG_OK, "step: %s", tg_last_error(a));
            }
            CHECK(tg_checkpoint_save(a, p, oa) == TG_OK, "save with %s: %s",
                  tg_optim_kind_name(kinds[k]), tg_last_error(a));
            CHECK(tg_checkpoint_load(b, p, ob) == TG_OK, "load with %s: %s",
                  tg_optim_kind_name(kinds[k]), tg_last_error(b));
            snap sa = take(a);
            CHECK(same(b, sa), "%s: params differ after load", tg_optim_kind_name(kinds[k]));
            CHECK(slots_equal(oa, ob), "%s: optimizer state differs after load",
                  tg_optim_kind_name(kinds[k]));
            CHECK(tg_optim_steps(ob) == 3, "%s: steps %lld", tg_optim_kind_name(kinds[k]),
                  (long long)tg_optim_steps(ob));
            /* training continues identically */
            fake_grads(a, 3);
            fake_grads(b, 3);
            CHECK(tg_optim_step(oa) == TG_OK && tg_optim_step(ob) == TG_OK, "step after load");
            snap sa2 = take(a);
            CHECK(same(b, sa2), "%s: the step after loading differs from the uninterrupted run",
                  tg_optim_kind_name(kinds[k]));
            free(sa.b);
            free(sa2.b);
            /* a weights-only load of a training checkpoint works */
            tg_ctx *c = model((tg_dtype)dt);
            CHECK(tg_checkpoint_load(c, p, NULL) == TG_OK, "weights-only load: %s", tg_last_error(c));
            tg_ctx_free(c);
            tg_optim_free(oa);
            tg_optim_free(ob);
            tg_ctx_free(a);
            tg_ctx_free(b);
        }

    /* mismatches: another kind, a file without optimizer state */
    tg_ctx *a = model(TG_F32), *b = model(TG_F32);
    tg_optim_config adam = tg_optim_defaults(TG_OPT_ADAM), mom = tg_optim_defaults(TG_OPT_MOMENTUM);
    mom.momentum = 0.9;
    tg_optim *oa = tg_optim_new(a, &adam, NULL, 0), *ob = tg_optim_new(b, &mom, NULL, 0);
    fake_grads(a, 0);
    tg_optim_step(oa);
    CHECK(tg_checkpoint_save(a, p, oa) == TG_OK, "save: %s", tg_last_error(a));
    tg_init_uniform(tg_param_at(b, 0), -1, 1);
    snap sb = take(b);
    tg_status s = tg_checkpoint_load(b, p, ob);
    CHECK(s == TG_EFORMAT && strstr(tg_last_error(b), "'adam'") && strstr(tg_last_error(b), "'momentum'"),
          "kind mismatch: %d %s", s, tg_last_error(b));
    CHECK(same(b, sb), "kind mismatch changed the parameters");
    printf("  rejected: %s\n", tg_last_error(b));
    /* a group of one parameter against a file saved with all four */
    tg_optim *og = tg_optim_new(b, &adam, (tg_tensor *[]){tg_param_at(b, 0)}, 1);
    s = tg_checkpoint_load(b, p, og);
    CHECK(s == TG_EFORMAT && strstr(tg_last_error(b), "does not belong"), "group mismatch: %d %s", s,
          tg_last_error(b));
    CHECK(same(b, sb), "group mismatch changed the parameters");
    printf("  rejected: %s\n", tg_last_error(b));
    tg_optim_free(og);
    CHECK(tg_checkpoint_save(a, p, NULL) == TG_OK, "save: %s", tg_last_error(a));
    tg_optim *ob2 = tg_optim_new(b, &adam, NULL, 0);
    CHECK(tg_checkpoint_load(b, p, ob2) == TG_OK && tg_optim_steps(ob2) == 0,
          "a file without optimizer state must leave the optimizer alone: %s", tg_last_error(b));
    free(sb.b);
    tg_optim_free(ob2);
    tg_optim_free(oa);
    tg_optim_free(ob);
    tg_ctx_free(a);
    tg_ctx_free(b);
}

/* ---- 7. allocation failures through the allocator hook ---- */

/* What a failed load or save must leave as it was (see inject). */
typedef struct unchanged {
    tg_ctx *ctx;
    snap params;                /* load: the parameters */
    const unsigned char *file;  /* save: the file's bytes */
    size_t n;
} unchanged;

static int load_fn(tg_ctx *ctx, const char *p, tg_optim *o) { return tg_checkpoint_load(ctx, p, o); }
static int save_fn(tg_ctx *ctx, const char *p, tg_optim *o) { return tg_checkpoint_save(ctx, p, o); }

/* Runs fn(ctx, path, opt) with its k-th allocation failing, k = 0, 1, ...
 * (at most 200), until a run makes no more requests than k; each failed run
 * must return TG_ENOMEM, leak nothing and leave u as it was. Returns the
 * number of failures injected. */
static int inject(const char *what, int (*fn)(tg_ctx *, const char *, tg_optim *), const char *path, tg_optim *opt,
                  const unchanged *u) {
    int failures = 0;
    for (long k = 0; k < 200; k++) {
        tg_alloc_stats before = tg_alloc_stats_get();
        tl_alloc_countdown = k;
        tg_status s = fn(u->ctx, path, opt);
        int injected = tl_alloc_countdown < 0;
        tl_alloc_countdown = -1;
        CHECK(tg_alloc_stats_get().bytes_live == before.bytes_live, "%s, failure %ld: leak", what, k);
        if (!injected) {
            CHECK(s == TG_OK, "%s: %s", what, tg_last_error(u->ctx));
            break;
        }
        failures++;
        CHECK(s == TG_ENOMEM, "%s, allocation %ld failed: status %d %s", what, k, s, tg_last_error(u->ctx));
        if (u->file) {
            size_t n1;
            unsigned char *now = slurp(path, &n1);
            CHECK(now && n1 == u->n && memcmp(now, u->file, u->n) == 0, "a failed save changed the file");
            free(now);
            CHECK(temp_files() == 0, "a failed save left a temp file");
        } else {
            CHECK(same(u->ctx, u->params), "%s, allocation %ld failed: parameters changed", what, k);
        }
    }
    return failures;
}

static void test_alloc_failures(void) {
    tg_ctx *a = model(TG_F64), *b = model(TG_F64);
    fill(a, 1.0);
    fill(b, 2.0);
    tg_optim_config cfg = tg_optim_defaults(TG_OPT_ADAM);
    tg_optim *oa = tg_optim_new(a, &cfg, NULL, 0), *ob = tg_optim_new(b, &cfg, NULL, 0);
    char p[1024];
    path_of(p, sizeof p, "oom.safetensors");
    CHECK(tg_checkpoint_save(a, p, oa) == TG_OK, "save: %s", tg_last_error(a));
    size_t n0;
    unsigned char *orig = slurp(p, &n0);
    snap sb = take(b);
    unchanged ul = {b, sb, NULL, 0}, us = {b, sb, orig, n0};
    int failures = inject("load", load_fn, p, ob, &ul);
    failures += inject("save", save_fn, p, ob, &us);
    printf("  %d injected allocation failures reported as TG_ENOMEM, no leaks\n", failures);
    free(orig);
    free(sb.b);
    tg_optim_free(oa);
    tg_optim_free(ob);
    tg_ctx_free(a);
    tg_ctx_free(b);
}

int main(void) {
    tg_allocator al = {tl_fail_alloc, tl_fail_release, NULL};
    tg_set_allocator(&al);
    if (tl_mkdtemp(g_dir, sizeof g_dir, "tg_ckpt")) return 1;
    tg_alloc_stats base = tg_alloc_stats_get();
    printf("round trips\n");
    test_roundtrip();
    printf("truncations and bit flips\n");
    test_damage();
    printf("hand-built headers\n");
    test_crafted();
    printf("python reader\n");
    test_python();
    printf("optimizer state\n");
    test_optim();
    printf("allocation failures\n");
    test_alloc_failures();
    CHECK(tg_alloc_stats_get().bytes_live == base.bytes_live, "%lld bytes leaked",
          (long long)(tg_alloc_stats_get().bytes_live - base.bytes_live));

    tl_rmtree(g_dir);
    return tl_summary();
}
