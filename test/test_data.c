/* test_data.c: IDX reading (raw and gzipped), the MNIST layout, batches and
 * one-hot labels. Small IDX files are written here, byte by byte, into a
 * temp directory; every corruption must be rejected with a message naming
 * the file and the field. If Fashion-MNIST is installed it is loaded too. */
#include "tapegrad.h"
#include "testlib.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static char g_dir[512];

static void path_of(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", g_dir, name); }

/* An IDX byte stream: magic 00 00 type rank, big-endian dims, payload. */
static size_t idx_bytes(unsigned char *buf, int type, int rank, const uint32_t *dims,
                        const unsigned char *payload, size_t n) {
    size_t o = 0;
    buf[o++] = 0;
    buf[o++] = 0;
    buf[o++] = (unsigned char)type;
    buf[o++] = (unsigned char)rank;
    for (int i = 0; i < rank; i++) {
        buf[o++] = (unsigned char)(dims[i] >> 24);
        buf[o++] = (unsigned char)(dims[i] >> 16);
        buf[o++] = (unsigned char)(dims[i] >> 8);
        buf[o++] = (unsigned char)dims[i];
    }
    memcpy(buf + o, payload, n);
    return o + n;
}

static void write_raw(const char *name, const unsigned char *b, size_t n) {
    char p[1024];
    path_of(p, sizeof p, name);
    FILE *f = fopen(p, "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(1);
    }
}

static void write_gz(const char *name, const unsigned char *b, size_t n) {
    char p[1024];
    path_of(p, sizeof p, name);
    gzFile g = gzopen(p, "wb9");
    if (!g || (n && gzwrite(g, b, (unsigned)n) != (int)n) || gzclose(g) != Z_OK) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(1);
    }
}

/* Expect tg_idx_read(name, rank) to fail with code st and a message holding
 * the file's path and `field`. */
static void expect_bad(tg_ctx *ctx, const char *name, int rank, tg_status st, const char *field) {
    char p[1024];
    path_of(p, sizeof p, name);
    tg_idx idx;
    memset(&idx, 0x5a, sizeof idx);
    tg_clear_error(ctx);
    tg_status s = tg_idx_read(ctx, p, rank, &idx);
    const char *m = tg_last_error(ctx);
    CHECK(s == st, "%s: status %d (%s), expected %d; message: %s", name, s, tg_strerror(s), st, m);
    CHECK(strstr(m, p) != NULL, "%s: message does not name the file: %s", name, m);
    CHECK(strstr(m, field) != NULL, "%s: message does not name the field '%s': %s", name, field, m);
    CHECK(idx.data == NULL && idx.count == 0, "%s: output not cleared on failure", name);
    printf("  rejected %-28s %s\n", name, m);
}

/* Writes n bytes of b as "<stem><sfx>" with wr (raw or gzip; the name goes
 * to name, 64 bytes) and expects the reader to refuse it (expect_bad). */
static void bad_file(tg_ctx *ctx, void (*wr)(const char *, const unsigned char *, size_t), char *name,
                     const char *stem, const char *sfx, const unsigned char *b, size_t n, int rank, tg_status code,
                     const char *needle) {
    snprintf(name, 64, "%s%s", stem, sfx);
    wr(name, b, n);
    expect_bad(ctx, name, rank, code, needle);
}

static void test_idx(tg_ctx *ctx) {
    /* 5 images of 3x2 whose bytes are 0, 7, 14, ... (mod 256); 5 labels. */
    unsigned char img[30], lbl[5] = {3, 0, 9, 1, 4};
    for (int i = 0; i < 30; i++) img[i] = (unsigned char)(i * 7 + 250);
    uint32_t idims[3] = {5, 3, 2}, ldims[1] = {5};
    unsigned char buf[256];
    size_t n;

    n = idx_bytes(buf, 8, 3, idims, img, 30);
    CHECK(n == 16 + 30, "image file size %zu", n);
    write_raw("img-raw", buf, n);
    write_gz("img.gz", buf, n);
    n = idx_bytes(buf, 8, 1, ldims, lbl, 5);
    write_raw("lbl-raw", buf, n);
    write_gz("lbl.gz", buf, n);

    const char *imgs[2] = {"img-raw", "img.gz"};
    for (int k = 0; k < 2; k++) {
        char p[1024];
        path_of(p, sizeof p, imgs[k]);
        for (int want = 0; want <= 3; want += 3) {
            tg_idx idx;
            tg_status s = tg_idx_read(ctx, p, want, &idx);
            CHECK(s == TG_OK, "%s: %s", imgs[k], tg_last_error(ctx));
            if (s) continue;
            CHECK(idx.rank == 3 && idx.dims[0] == 5 && idx.dims[1] == 3 && idx.dims[2] == 2,
                  "%s: rank %d dims %lld,%lld,%lld", imgs[k], idx.rank, (long long)idx.dims[0],
                  (long long)idx.dims[1], (long long)idx.dims[2]);
            CHECK(idx.count == 30 && memcmp(idx.data, img, 30) == 0, "%s: payload differs", imgs[k]);
            tg_idx_free(&idx);
            CHECK(idx.data == NULL, "idx_free leaves data");
        }
    }
    const char *lbls[2] = {"lbl-raw", "lbl.gz"};
    for (int k = 0; k < 2; k++) {
        char p[1024];
        path_of(p, sizeof p, lbls[k]);
        tg_idx idx;
        tg_status s = tg_idx_read(ctx, p, 1, &idx);
        CHECK(s == TG_OK, "%s: %s", lbls[k], tg_last_error(ctx));
        if (s) continue;
        CHECK(idx.rank == 1 && idx.dims[0] == 5 && idx.count == 5 && memcmp(idx.data, lbl, 5) == 0,
              "%s: read back differs", lbls[k]);
        tg_idx_free(&idx);
    }

    /* ---- corruptions, raw and gzipped ---- */
    unsigned char big[256];
    for (int gz = 0; gz < 2; gz++) {
        void (*wr)(const char *, const unsigned char *, size_t) = gz ? write_gz : write_raw;
        char name[64];
        const char *sfx = gz ? ".gz" : "";

        /* bad magic: first byte nonzero */
        n = idx_bytes(big, 8, 3, idims, img, 30);
        big[0] = 0x12;
        bad_file(ctx, wr, name, "badmagic", sfx, big, n, 3, TG_EFORMAT, "magic");

        /* a type code other than unsigned byte (0x0D = float) */
        n = idx_bytes(big, 0x0D, 3, idims, img, 30);
        bad_file(ctx, wr, name, "badtype", sfx, big, n, 3, TG_EFORMAT, "type code 0x0d");

        /* labels where images belong, and images where labels belong */
        n = idx_bytes(big, 8, 1, ldims, lbl, 5);
        bad_file(ctx, wr, name, "labels-as-images", sfx, big, n, 3, TG_EFORMAT,
                 "magic: expected 0x00000803, found 0x00000801");
        expect_bad(ctx, name, 3, TG_EFORMAT, "label file");
        n = idx_bytes(big, 8, 3, idims, img, 30);
        bad_file(ctx, wr, name, "images-as-labels", sfx, big, n, 1, TG_EFORMAT,
                 "magic: expected 0x00000801, found 0x00000803");

        /* truncated data (one byte short), truncated header */
        n = idx_bytes(big, 8, 3, idims, img, 30);
        bad_file(ctx, wr, name, "truncated", sfx, big, n - 1, 3, TG_EFORMAT, "data: truncated");
        bad_file(ctx, wr, name, "truncated-header", sfx, big, 10, 3, TG_EFORMAT, "dims");
        bad_file(ctx, wr, name, "truncated-magic", sfx, big, 2, 3, TG_EFORMAT, "magic");
        bad_file(ctx, wr, name, "empty", sfx, big, 0, 0, TG_EFORMAT, "magic");

        /* a dimension of 0, and an absurd one */
        uint32_t zd[3] = {5, 0, 2}, hd[3] = {5, 3, 0x7fffffff};
        n = idx_bytes(big, 8, 3, zd, img, 0);
        bad_file(ctx, wr, name, "zerodim", sfx, big, n, 3, TG_EFORMAT, "dims[1]");
        n = idx_bytes(big, 8, 3, hd, img, 30);
        bad_file(ctx, wr, name, "hugedim", sfx, big, n, 3, TG_EFORMAT, "dims[2]");
        /* dimensions that are each sane but multiply to more than 1 TiB */
        uint32_t pd[3] = {100000000, 100000000, 100};
        n = idx_bytes(big, 8, 3, pd, img, 30);
        bad_file(ctx, wr, name, "hugeproduct", sfx, big, n, 3, TG_EFORMAT, "dims");
        /* a large but sane header with a tiny body: must be "truncated", not
         * ENOMEM; gzipped, the header alone is refused (47 MB from a 64-byte
         * file is beyond deflate's 1032:1) */
        uint32_t ld[3] = {60000, 28, 28};
        n = idx_bytes(big, 8, 3, ld, img, 30);
        bad_file(ctx, wr, name, "liar", sfx, big, n, 3, TG_EFORMAT, gz ? "more than a gzip file" : "data: truncated");

        /* trailing bytes after the promised payload */
        n = idx_bytes(big, 8, 3, idims, img, 30);
        big[n] = 0xAB;
        big[n + 1] = 0xCD;
        bad_file(ctx, wr, name, "trailing", sfx, big, n + 2, 3, TG_EFORMAT, "trailing");

        /* rank 5 is outside what the reader accepts */
        uint32_t d5[5] = {1, 1, 1, 1, 1};
        n = idx_bytes(big, 8, 5, d5, img, 1);
        bad_file(ctx, wr, name, "rank5", sfx, big, n, 0, TG_EFORMAT, "magic: rank 5");
    }

    /* a gzip file whose compressed stream is damaged */
    {
        n = idx_bytes(big, 8, 3, idims, img, 30);
        write_gz("damaged.gz", big, n);
        char p[1024];
        path_of(p, sizeof p, "damaged.gz");
        FILE *f = fopen(p, "rb");
        unsigned char z[512];
        size_t zn = f ? fread(z, 1, sizeof z, f) : 0;
        if (f) fclose(f);
        CHECK(zn > 20, "gz file too short");
        z[zn - 6] ^= 0xFF; /* inside the CRC-32 trailer of the gzip member */
        write_raw("damaged.gz", z, zn);
        expect_bad(ctx, "damaged.gz", 3, TG_EFORMAT, "gzip");
    }

    /* missing file, a directory, bad arguments */
    expect_bad(ctx, "no-such-file", 3, TG_EIO, "No such file");
    {
        char p[1024];
        path_of(p, sizeof p, "subdir");
        mkdir(p, 0700);
        expect_bad(ctx, "subdir", 3, TG_EIO, "not a regular file");
        rmdir(p);
        tg_idx idx;
        path_of(p, sizeof p, "img-raw");
        CHECK(tg_idx_read(ctx, p, 7, &idx) == TG_EINVAL, "expect_rank 7 accepted");
        CHECK(tg_idx_read(ctx, NULL, 3, &idx) == TG_EINVAL, "NULL path accepted");
        CHECK(tg_idx_read(ctx, p, 3, NULL) == TG_EINVAL, "NULL out accepted");
    }
}

static void test_mnist_dir(tg_ctx *ctx) {
    /* A fake MNIST directory: train images gzipped, train labels raw. */
    unsigned char img[4 * 2 * 3], lbl[4] = {0, 9, 5, 9}, buf[128];
    for (int i = 0; i < 24; i++) img[i] = (unsigned char)(i == 0 ? 255 : i * 10);
    uint32_t idims[3] = {4, 2, 3}, ldims[1] = {4};
    size_t n = idx_bytes(buf, 8, 3, idims, img, 24);
    write_gz("train-images-idx3-ubyte.gz", buf, n);
    n = idx_bytes(buf, 8, 1, ldims, lbl, 4);
    write_raw("train-labels-idx1-ubyte", buf, n);

    tg_dataset ds;
    tg_status s = tg_mnist_load(ctx, g_dir, "train", &ds);
    CHECK(s == TG_OK, "mnist_load: %s", tg_last_error(ctx));
    if (s) return;
    CHECK(ds.n == 4 && ds.rows == 2 && ds.cols == 3, "dataset %lld x %lld x %lld", (long long)ds.n,
          (long long)ds.rows, (long long)ds.cols);
    CHECK(memcmp(ds.images, img, 24) == 0 && memcmp(ds.labels, lbl, 4) == 0, "dataset bytes differ");

    /* batches in f32 and f64, with an index list and with idx = NULL */
    for (int dt = 0; dt < 2; dt++) {
        int64_t shape[2] = {3, 6};
        tg_tensor *x = tg_tensor_new(ctx, (tg_dtype)dt, 2, shape);
        int64_t pick[3] = {2, 0, 3};
        int32_t labels[3] = {-1, -1, -1};
        s = tg_dataset_batch(&ds, pick, 3, x, labels);
        CHECK(s == TG_OK, "batch: %s", tg_last_error(ctx));
        for (int b = 0; b < 3; b++) {
            CHECK(labels[b] == lbl[pick[b]], "label %d", b);
            for (int j = 0; j < 6; j++) {
                double want = img[pick[b] * 6 + j] / 255.0, got = tg_get(x, b * 6 + j);
                double tol = dt == TG_F32 ? 1e-7 : 0;
                CHECK(got >= want - tol && got <= want + tol, "x[%d,%d] = %.17g, want %.17g", b, j, got,
                      want);
            }
        }
        CHECK(tg_get(x, 1 * 6 + 0) == 1.0, "255 must scale to exactly 1");
        s = tg_dataset_batch(&ds, NULL, 3, x, NULL);
        CHECK(s == TG_OK && fabs(tg_get(x, 6 + 2) - img[6 + 2] / 255.0) <= 1e-7, "batch idx=NULL");
        /* bad: index out of range, wrong shape; x must stay untouched */
        tg_tensor_fill(x, -3);
        int64_t badpick[3] = {0, 4, 1};
        s = tg_dataset_batch(&ds, badpick, 3, x, labels);
        CHECK(s == TG_EINVAL && strstr(tg_last_error(ctx), "idx[1]"), "bad index: %d %s", s,
              tg_last_error(ctx));
        CHECK(tg_get(x, 0) == -3, "x written before the index check");
        s = tg_dataset_batch(&ds, pick, 2, x, labels);
        CHECK(s == TG_ESHAPE && strstr(tg_last_error(ctx), "[3,6]"), "bad shape: %d %s", s,
              tg_last_error(ctx));
        tg_tensor_free(x);

        /* one-hot */
        int64_t yshape[2] = {4, 10};
        tg_tensor *y = tg_tensor_new(ctx, (tg_dtype)dt, 2, yshape);
        int32_t l4[4] = {0, 9, 5, 9};
        tg_tensor_fill(y, 7);
        s = tg_one_hot(l4, 4, 10, y);
        CHECK(s == TG_OK, "one_hot: %s", tg_last_error(ctx));
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < 10; c++)
                CHECK(tg_get(y, i * 10 + c) == (c == l4[i] ? 1.0 : 0.0), "one_hot[%d,%d]", i, c);
        int32_t lbad[4] = {0, 10, 5, 9};
        CHECK(tg_one_hot(lbad, 4, 10, y) == TG_EINVAL && strstr(tg_last_error(ctx), "labels[1]"),
              "one_hot label 10 accepted");
        CHECK(tg_one_hot(l4, 4, 9, y) == TG_ESHAPE, "one_hot wrong C accepted");
        tg_tensor_free(y);
    }
    tg_dataset_free(&ds);
    CHECK(ds.images == NULL && ds.labels == NULL, "dataset_free leaves pointers");

    /* the raw file wins over .gz when both exist: make the raw one bad */
    n = idx_bytes(buf, 8, 1, ldims, lbl, 4);
    buf[4] = 0x77; /* a corrupt raw file */
    write_raw("train-images-idx3-ubyte", buf, n);
    s = tg_mnist_load(ctx, g_dir, "train", &ds);
    CHECK(s == TG_EFORMAT && strstr(tg_last_error(ctx), "train-images-idx3-ubyte:"),
          "raw file not preferred: %d %s", s, tg_last_error(ctx));
    char p[1024];
    path_of(p, sizeof p, "train-images-idx3-ubyte");
    unlink(p);

    /* count mismatch: 3 labels for 4 images */
    uint32_t l3[1] = {3};
    n = idx_bytes(buf, 8, 1, l3, lbl, 3);
    write_raw("train-labels-idx1-ubyte", buf, n);
    s = tg_mnist_load(ctx, g_dir, "train", &ds);
    CHECK(s == TG_EFORMAT && strstr(tg_last_error(ctx), "4 images") && strstr(tg_last_error(ctx), "3 labels"),
          "count mismatch: %d %s", s, tg_last_error(ctx));
    printf("  rejected count mismatch: %s\n", tg_last_error(ctx));

    /* a label of 10 */
    unsigned char l10[4] = {0, 10, 5, 9};
    n = idx_bytes(buf, 8, 1, ldims, l10, 4);
    write_raw("train-labels-idx1-ubyte", buf, n);
    s = tg_mnist_load(ctx, g_dir, "train", &ds);
    CHECK(s == TG_EFORMAT && strstr(tg_last_error(ctx), "label 1 is 10"), "label 10: %d %s", s,
          tg_last_error(ctx));
    CHECK(ds.images == NULL && ds.labels == NULL, "dataset not cleared on failure");
    printf("  rejected label 10: %s\n", tg_last_error(ctx));

    /* missing split, missing directory, a file given as directory */
    s = tg_mnist_load(ctx, g_dir, "t10k", &ds);
    CHECK(s == TG_EIO && strstr(tg_last_error(ctx), "t10k-images-idx3-ubyte") &&
              strstr(tg_last_error(ctx), g_dir),
          "missing split: %d %s", s, tg_last_error(ctx));
    s = tg_mnist_load(ctx, "/nonexistent/tapegrad-data", "train", &ds);
    CHECK(s == TG_EIO && strstr(tg_last_error(ctx), "/nonexistent/tapegrad-data"), "missing dir: %d %s",
          s, tg_last_error(ctx));
    printf("  rejected missing dir: %s\n", tg_last_error(ctx));
    path_of(p, sizeof p, "train-labels-idx1-ubyte");
    s = tg_mnist_load(ctx, p, "train", &ds);
    CHECK(s == TG_EIO && strstr(tg_last_error(ctx), "not a directory"), "file as dir: %d %s", s,
          tg_last_error(ctx));
    CHECK(tg_mnist_load(ctx, g_dir, "../x", &ds) == TG_EINVAL, "split with '/' accepted");
}

static void test_fashion(tg_ctx *ctx) {
    const char *dir = tg_default_data_dir();
    CHECK(strcmp(dir, "/usr/share/datasets/fashion-mnist") == 0, "default dir %s", dir);
    struct stat st;
    if (stat(dir, &st) != 0) {
        SKIPF("fashion-mnist: %s not installed (Debian package dataset-fashion-mnist)", dir);
        return;
    }
    const char *splits[2] = {"train", "t10k"};
    const int64_t want_n[2] = {60000, 10000};
    for (int k = 0; k < 2; k++) {
        tg_dataset ds;
        tg_status s = tg_mnist_load(ctx, dir, splits[k], &ds);
        CHECK(s == TG_OK, "fashion %s: %s", splits[k], tg_last_error(ctx));
        if (s) continue;
        CHECK(ds.n == want_n[k] && ds.rows == 28 && ds.cols == 28, "fashion %s: %lld x %lld x %lld",
              splits[k], (long long)ds.n, (long long)ds.rows, (long long)ds.cols);
        int64_t per[10] = {0};
        for (int64_t i = 0; i < ds.n; i++) per[ds.labels[i]]++;
        for (int c = 0; c < 10; c++)
            CHECK(per[c] == want_n[k] / 10, "fashion %s: class %d has %lld images", splits[k], c,
                  (long long)per[c]);
        /* images are not all blank: some pixel is 255 and the mean is sane */
        double sum = 0;
        int maxv = 0;
        for (int64_t i = 0; i < ds.n * 784; i++) {
            sum += ds.images[i];
            if (ds.images[i] > maxv) maxv = ds.images[i];
        }
        double mean = sum / (double)(ds.n * 784) / 255.0;
        CHECK(maxv == 255 && mean > 0.2 && mean < 0.4, "fashion %s: max %d mean %.3f", splits[k], maxv,
              mean);
        printf("  fashion-mnist %s: %lld images 28x28, 10 classes of %lld, mean pixel %.4f\n",
               splits[k], (long long)ds.n, (long long)per[0], mean);
        tg_dataset_free(&ds);
    }
}

/* ---- gzip amplification: memory follows the data present, not the header ----
 * The allocator hook (tl_fail_alloc) wrapped to record the peak of the
 * library's live bytes, so a reader that sizes its buffer from the header's
 * promise shows up even where the pages are never touched. */
static size_t g_peak;
static void *peak_alloc(size_t size, void *user) {
    size_t live = (size_t)tg_alloc_stats_get().bytes_live + size;
    if (live > g_peak) g_peak = live;
    return tl_fail_alloc(size, user);
}

/* An IDX header (rank, dims) then `body` bytes, gzipped in
 * 1 MiB writes: zeros, or xorshift bytes (noisy). Returns the compressed size. */
static long write_gz_stream(const char *name, int rank, const uint32_t *dims, size_t body, int noisy) {
    char p[1024];
    path_of(p, sizeof p, name);
    gzFile g = gzopen(p, "wb6");
    unsigned char hdr[32], none[1] = {0};
    size_t hn = idx_bytes(hdr, 8, rank, dims, none, 0);
    enum { BLK = 1 << 20 };
    static unsigned char blk[BLK];
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int ok = g && gzwrite(g, hdr, (unsigned)hn) == (int)hn;
    for (size_t done = 0; ok && done < body; done += BLK) {
        size_t n = body - done < BLK ? body - done : BLK;
        for (size_t i = 0; i < n; i++) {
            if (noisy) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; }
            blk[i] = noisy ? (unsigned char)(x >> 56) : 0;
        }
        ok = gzwrite(g, blk, (unsigned)n) == (int)n;
    }
    if (!g || gzclose(g) != Z_OK || !ok) {
        fprintf(stderr, "cannot write %s\n", p);
        exit(1);
    }
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_gz_amplification(tg_ctx *ctx) {
    tg_allocator a = {peak_alloc, tl_fail_release, NULL};
    tg_set_allocator(&a);
    /* 1. A bomb: 64 MiB of zeros (about 64 KB gzipped) under a header that
     * promises 1e12 bytes. Deflate expands at most 1032:1, so the header is
     * refused before any data is read: no allocation, no resident growth
     * (the old reader grew its buffer to 64 MiB and more before it found the
     * stream short; the 4.7 MB file took 2.1 GB and 15 s). */
    uint32_t huge[2] = {1000000, 1000000};
    long zn = write_gz_stream("bomb.gz", 2, huge, (size_t)64 << 20, 0);
    CHECK(zn > 0 && zn < (2L << 20), "bomb.gz is %ld bytes; expected well under 2 MiB", zn);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    size_t live0 = (size_t)tg_alloc_stats_get().bytes_live;
    g_peak = live0;
    double t0 = now_s();
    expect_bad(ctx, "bomb.gz", 2, TG_EFORMAT, "dims: the header promises 1000000000000 bytes");
    double dt = now_s() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    CHECK(g_peak - live0 < ((size_t)1 << 20), "bomb: the library held %zu bytes at its peak (bound 1 MiB)",
          g_peak - live0);
    CHECK(ru1.ru_maxrss - ru0.ru_maxrss < 16 * 1024, "bomb: peak resident memory grew by %ld KiB (bound 16 MiB)",
          ru1.ru_maxrss - ru0.ru_maxrss);
    CHECK(dt < 1.0, "bomb: refused after %.2f s (bound 1 s)", dt);
    printf("  bomb.gz: %ld bytes gzipped, peak %zu bytes held, maxrss +%ld KiB, %.3f s\n", zn, g_peak - live0,
           ru1.ru_maxrss - ru0.ru_maxrss, dt);

    /* 2. A header within the ratio bound (60 MB promised by a 2 MiB file of
     * incompressible bytes) whose stream ends early: the bytes present plus
     * one 4 MiB piece are all that is ever held (the old reader allocated
     * min(promise, 16 MiB) up front). */
    uint32_t short_dims[2] = {60, 1000000};
    write_gz_stream("short.gz", 2, short_dims, (size_t)2 << 20, 1);
    live0 = (size_t)tg_alloc_stats_get().bytes_live;
    g_peak = live0;
    expect_bad(ctx, "short.gz", 2, TG_EFORMAT, "truncated");
    CHECK(g_peak - live0 > ((size_t)2 << 20), "short: peak %zu bytes: the 2 MiB present were not read",
          g_peak - live0);
    CHECK(g_peak - live0 < ((size_t)8 << 20), "short: the library held %zu bytes at its peak (bound 8 MiB)",
          g_peak - live0);

    /* 3. A complete file spanning three pieces (9 MiB + 123 bytes) reads back
     * byte for byte, so the pieces are assembled in order. */
    uint32_t n3 = (9u << 20) + 123;
    write_gz_stream("pieces.gz", 1, &n3, n3, 1);
    char p[1024];
    path_of(p, sizeof p, "pieces.gz");
    tg_idx idx;
    tg_status s = tg_idx_read(ctx, p, 1, &idx);
    CHECK(s == TG_OK && idx.count == (int64_t)n3, "pieces.gz: status %d, %lld bytes: %s", s, (long long)idx.count,
          tg_last_error(ctx));
    if (s == TG_OK) {
        uint64_t x = 0x9E3779B97F4A7C15ull; /* write_gz_stream's sequence */
        int64_t bad = -1;
        for (int64_t i = 0; i < idx.count && bad < 0; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            if (idx.data[i] != (unsigned char)(x >> 56)) bad = i;
        }
        CHECK(bad < 0, "pieces.gz: byte %lld differs from what was written", (long long)bad);
        tg_idx_free(&idx);
    }
    tg_set_allocator(&(tg_allocator){tl_fail_alloc, tl_fail_release, NULL});
}

/* ---- allocation-failure injection through the allocator hook (testlib.h) ---- */

static void test_alloc_failures(tg_ctx *ctx) {
    char p[1024];
    path_of(p, sizeof p, "img.gz");
    for (long k = 0; k < 50; k++) {
        tg_alloc_stats before = tg_alloc_stats_get();
        tl_alloc_countdown = k;
        tg_idx idx;
        tg_status s = tg_idx_read(ctx, p, 3, &idx);
        int injected = tl_alloc_countdown < 0;
        tl_alloc_countdown = -1;
        if (s == TG_OK) {
            tg_idx_free(&idx);
            CHECK(!injected, "allocation %ld failed but tg_idx_read succeeded", k);
        } else {
            CHECK(s == TG_ENOMEM && injected, "allocation %ld: status %d: %s", k, s, tg_last_error(ctx));
        }
        tg_alloc_stats after = tg_alloc_stats_get();
        CHECK(after.bytes_live == before.bytes_live, "allocation %ld: %lld bytes leaked", k,
              (long long)(after.bytes_live - before.bytes_live));
        if (!injected) break;
    }
}

int main(void) {
    tg_allocator a = {tl_fail_alloc, tl_fail_release, NULL};
    tg_set_allocator(&a);
    if (tl_mkdtemp(g_dir, sizeof g_dir, "tg_data")) return 1;
    /* One thread: pool workers free their start-up blocks asynchronously,
     * which would make the byte counts below racy. */
    tg_config cfg = tg_config_default();
    cfg.threads = 1;
    tg_ctx *ctx = tg_ctx_new(&cfg);
    if (!ctx) return 1;
    tg_alloc_stats base = tg_alloc_stats_get();

    printf("gzip amplification\n");
    test_gz_amplification(ctx);
    printf("idx files\n");
    test_idx(ctx);
    printf("mnist directory\n");
    test_mnist_dir(ctx);
    printf("allocation failures\n");
    test_alloc_failures(ctx);
    printf("fashion-mnist\n");
    test_fashion(ctx);

    tg_alloc_stats end = tg_alloc_stats_get();
    CHECK(end.bytes_live == base.bytes_live, "%lld bytes leaked",
          (long long)(end.bytes_live - base.bytes_live));
    tg_ctx_free(ctx);

    tl_rmtree(g_dir);
    return tl_summary();
}
