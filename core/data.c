/* data.c: IDX files (the MNIST layout), raw or gzipped; datasets and batches.
 *
 * An IDX file is a 4-byte magic (0x00 0x00, a type code, the rank), rank
 * big-endian uint32 dimensions, then the elements in row-major order. Only
 * type code 0x08 (unsigned byte) is read. Nothing in the file is trusted: the
 * header is checked before anything is allocated. A gzipped file's
 * uncompressed length is not known in advance, and a small file can claim a
 * huge one (a 4.7 MB .gz whose header promised 1e12 bytes grew the process to
 * 2.1 GB over 15 s before it failed), so two limits apply: the promised byte
 * count must fit in what the file could decompress to at all (deflate
 * expands at most GZ_MAX_RATIO : 1), which rejects such a header at once; and
 * the data is read in pieces of IDX_GZ_CHUNK, assembled into one buffer only
 * when all of it has arrived, so memory follows the bytes actually present
 * (one piece more), never the header's promise.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_TYPE_U8 0x08
#define IDX_MAX_RANK 4
#define IDX_MAX_DIM 100000000LL        /* 1e8: larger is surely a corrupt header */
#define IDX_MAX_BYTES ((int64_t)1 << 40) /* 1 TiB of payload */
#define IDX_GZ_CHUNK ((int64_t)1 << 22) /* gz: read in pieces of 4 MiB */
/* Deflate's largest expansion: a 258-byte match coded in 2 bits (zlib's FAQ
 * gives the same 1032:1), so a gzip file of n bytes decompresses to at most
 * 1032·n bytes, over all its members. */
#define GZ_MAX_RATIO 1032

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads up to len bytes; returns bytes read (< len only at end of file), or
 * -1 on a read or decompression error. */
static int64_t gz_read_all(gzFile gz, unsigned char *buf, int64_t len) {
    int64_t got = 0;
    while (got < len) {
        int64_t want = len - got;
        if (want > (1 << 30)) want = 1 << 30;
        int r = gzread(gz, buf + got, (unsigned)want);
        if (r < 0) return -1;
        if (r == 0) break;
        got += r;
    }
    return got;
}

/* The zlib error text for gz, or errno's when zlib says Z_ERRNO. */
static const char *gz_errtext(gzFile gz) {
    int zerr = Z_OK;
    const char *m = gzerror(gz, &zerr);
    if (zerr == Z_ERRNO) return strerror(errno);
    if (!m || !m[0]) return "unknown error";
    /* zlib prefixes "<fd:N>: " for a stream from gzdopen; the path is in our message already. */
    if (strncmp(m, "<fd:", 4) == 0) {
        const char *c = strstr(m, ": ");
        if (c) m = c + 2;
    }
    return m;
}

static const char *rank_hint(int rank) {
    switch (rank) {
    case 1: return " (a label file?)";
    case 3: return " (an image file?)";
    default: return "";
    }
}

/* Opens path as a zlib stream (raw or gzipped alike) of a regular file;
 * *size is the file's size on disk. */
static tg_status idx_open(tg_ctx *ctx, const char *path, gzFile *gz, int64_t *size) {
    /* O_NONBLOCK: a FIFO with no writer would block open forever; it is
     * cleared once fstat has shown a regular file. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return tg__error(ctx, TG_EIO, "idx: %s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return tg__error(ctx, TG_EIO, "idx: %s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return tg__error(ctx, TG_EIO, "idx: %s: not a regular file (%s)", path,
                         S_ISFIFO(st.st_mode)  ? "a FIFO"
                         : S_ISCHR(st.st_mode) ? "a character device"
                         : S_ISBLK(st.st_mode) ? "a block device"
                         : S_ISDIR(st.st_mode) ? "a directory"
                                               : "a socket or other special file");
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return tg__error(ctx, TG_EIO, "idx: %s: cannot open: %s", path, strerror(e));
    }
    *gz = gzdopen(fd, "rb");
    if (!*gz) {
        close(fd);
        return tg__error(ctx, TG_ENOMEM, "idx: %s: cannot open a zlib stream (out of memory)", path);
    }
    gzbuffer(*gz, 1 << 17);
    *size = (int64_t)st.st_size;
    return TG_OK;
}

/* The 4-byte magic: 00 00, type code 0x08, the rank (expect_rank, or any of
 * 1..IDX_MAX_RANK when it is 0). */
static tg_status read_magic(tg_ctx *ctx, const char *path, gzFile gz, int expect_rank, int *rank_out) {
    unsigned char hdr[4];
    int64_t got = gz_read_all(gz, hdr, 4);
    if (got < 0) return tg__error(ctx, TG_EFORMAT, "idx: %s: gzip stream: %s", path, gz_errtext(gz));
    if (got < 4)
        return tg__error(ctx, TG_EFORMAT, "idx: %s: magic: file ends after %lld bytes, the magic needs 4", path,
                         (long long)got);
    uint32_t magic = be32(hdr);
    int type = hdr[2], rank = hdr[3];
    if (hdr[0] != 0 || hdr[1] != 0)
        return tg__error(ctx, TG_EFORMAT, "idx: %s: magic: expected 0x000008%02x, found 0x%08x (not an IDX file)",
                         path, expect_rank ? expect_rank : 3, (unsigned)magic);
    if (type != IDX_TYPE_U8)
        return tg__error(ctx, TG_EFORMAT,
                         "idx: %s: magic: type code 0x%02x (found 0x%08x), only 0x08 (unsigned byte) "
                         "is supported",
                         path, (unsigned)type, (unsigned)magic);
    if (expect_rank && rank != expect_rank)
        return tg__error(ctx, TG_EFORMAT, "idx: %s: magic: expected 0x000008%02x, found 0x%08x%s", path,
                         expect_rank, (unsigned)magic, rank_hint(rank));
    if (!expect_rank && (rank < 1 || rank > IDX_MAX_RANK))
        return tg__error(ctx, TG_EFORMAT, "idx: %s: magic: rank %d (0x%08x) is outside 1..%d", path, rank,
                         (unsigned)magic, IDX_MAX_RANK);
    *rank_out = rank;
    return TG_OK;
}

/* rank big-endian dimensions, each 1..IDX_MAX_DIM, their product (the byte
 * count) at most IDX_MAX_BYTES and addressable. */
static tg_status read_dims(tg_ctx *ctx, const char *path, gzFile gz, int rank, int64_t *dims, int64_t *count_out) {
    unsigned char hdr[4 * IDX_MAX_RANK];
    int64_t got = gz_read_all(gz, hdr, 4 * (int64_t)rank);
    if (got < 0) return tg__error(ctx, TG_EFORMAT, "idx: %s: gzip stream: %s", path, gz_errtext(gz));
    if (got < 4 * rank)
        return tg__error(ctx, TG_EFORMAT, "idx: %s: dims: file ends inside the header (%lld of %d dimension bytes)",
                         path, (long long)got, 4 * rank);
    int64_t count = 1;
    for (int i = 0; i < rank; i++) {
        int64_t d = be32(hdr + 4 * i);
        if (d < 1 || d > IDX_MAX_DIM)
            return tg__error(ctx, TG_EFORMAT, "idx: %s: dims[%d]: %lld is outside 1..%lld", path, i, (long long)d,
                             (long long)IDX_MAX_DIM);
        if (count > IDX_MAX_BYTES / d)
            return tg__error(ctx, TG_EFORMAT, "idx: %s: dims: the product of the dimensions exceeds %lld bytes",
                             path, (long long)IDX_MAX_BYTES);
        count *= d;
        dims[i] = d;
    }
    if ((uint64_t)count > SIZE_MAX)
        return tg__error(ctx, TG_EFORMAT, "idx: %s: dims: %lld bytes do not fit in memory", path, (long long)count);
    *count_out = count;
    return TG_OK;
}

static unsigned char *alloc_data(tg_ctx *ctx, const char *path, int64_t bytes) {
    unsigned char *p = tg__malloc((size_t)bytes);
    if (!p) tg__error(ctx, TG_ENOMEM, "idx: %s: out of memory for %lld bytes", path, (long long)bytes);
    return p;
}

static tg_status trailing_error(tg_ctx *ctx, const char *path, int64_t extra, int64_t count) {
    return tg__error(ctx, TG_EFORMAT, "idx: %s: data: %lld trailing bytes after the %lld the header promises", path,
                     (long long)extra, (long long)count);
}

/* Raw file: the size on disk (have bytes after the header) settles the byte
 * count before anything is allocated. */
static tg_status read_raw(tg_ctx *ctx, const char *path, gzFile gz, int64_t have, int64_t count,
                          unsigned char **out) {
    if (have < count)
        return tg__error(ctx, TG_EFORMAT,
                         "idx: %s: data: truncated: the header promises %lld bytes, the file holds %lld", path,
                         (long long)count, (long long)have);
    if (have > count) return trailing_error(ctx, path, have - count, count);
    unsigned char *data = alloc_data(ctx, path, count);
    if (!data) return TG_ENOMEM;
    int64_t got = gz_read_all(gz, data, count);
    if (got != count) {
        tg__free(data);
        return tg__error(ctx, TG_EIO, "idx: %s: data: read %lld of %lld bytes: %s", path,
                         (long long)(got < 0 ? 0 : got), (long long)count,
                         got < 0 ? gz_errtext(gz) : "the file shrank while reading");
    }
    *out = data;
    return TG_OK;
}

/* Gzipped: the uncompressed length is unknown, so the data is read in pieces
 * of at most IDX_GZ_CHUNK bytes, kept in a list, and copied into one buffer
 * of count bytes only once all count bytes have arrived (each piece freed as
 * it is copied). A stream that ends early has cost the bytes it held plus
 * one piece. *have gets the bytes read; *data the buffer (NULL unless all
 * count bytes came; freed by the caller). */
typedef struct gz_piece {
    struct gz_piece *next;
    int64_t len;
    unsigned char bytes[];
} gz_piece;

static tg_status read_gz_body(tg_ctx *ctx, const char *path, gzFile gz, int64_t count, unsigned char **data,
                              int64_t *have) {
    gz_piece *head = NULL, **tail = &head;
    tg_status st = TG_OK;
    while (*have < count) {
        int64_t want = count - *have < IDX_GZ_CHUNK ? count - *have : IDX_GZ_CHUNK;
        gz_piece *pc = tg__malloc(sizeof *pc + (size_t)want);
        if (!pc) {
            st = tg__error(ctx, TG_ENOMEM, "idx: %s: out of memory for %lld bytes", path, (long long)want);
            break;
        }
        pc->next = NULL;
        pc->len = 0;
        *tail = pc;
        tail = &pc->next;
        int64_t got = gz_read_all(gz, pc->bytes, want);
        if (got < 0) {
            st = tg__error(ctx, TG_EFORMAT, "idx: %s: data: gzip stream: %s", path, gz_errtext(gz));
            break;
        }
        pc->len = got;
        *have += got;
        if (got < want) break; /* the stream ended */
    }
    if (!st && *have == count && !(*data = alloc_data(ctx, path, count))) st = TG_ENOMEM;
    int64_t off = 0;
    while (head) {
        gz_piece *next = head->next;
        if (*data) memcpy(*data + off, head->bytes, (size_t)head->len);
        off += head->len;
        tg__free(head);
        head = next;
    }
    return st;
}

/* After count bytes the stream must end. */
static tg_status gz_check_end(tg_ctx *ctx, const char *path, gzFile gz, int64_t count) {
    unsigned char extra[256];
    int64_t more = 0, got;
    while ((got = gz_read_all(gz, extra, sizeof extra)) > 0) more += got;
    if (got < 0)
        return tg__error(ctx, TG_EFORMAT, "idx: %s: data: gzip stream after the data: %s", path, gz_errtext(gz));
    return more > 0 ? trailing_error(ctx, path, more, count) : TG_OK;
}

static tg_status read_gz(tg_ctx *ctx, const char *path, gzFile gz, int64_t size, int64_t count,
                         unsigned char **out) {
    if (count / GZ_MAX_RATIO >= size)
        return tg__error(ctx, TG_EFORMAT,
                         "idx: %s: dims: the header promises %lld bytes, more than a gzip file of %lld bytes can "
                         "hold (deflate expands at most %d:1)",
                         path, (long long)count, (long long)size, GZ_MAX_RATIO);
    unsigned char *data = NULL;
    int64_t have = 0;
    tg_status st = read_gz_body(ctx, path, gz, count, &data, &have);
    if (!st && have < count)
        st = tg__error(ctx, TG_EFORMAT,
                       "idx: %s: data: truncated: the header promises %lld bytes, the decompressed file holds %lld",
                       path, (long long)count, (long long)have);
    if (!st) st = gz_check_end(ctx, path, gz, count);
    if (st) {
        tg__free(data);
        return st;
    }
    *out = data;
    return TG_OK;
}

tg_status tg_idx_read(tg_ctx *ctx, const char *path, int expect_rank, tg_idx *out) {
    if (!out) return tg__error(ctx, TG_EINVAL, "idx: output struct is NULL");
    memset(out, 0, sizeof *out);
    if (!path || !path[0]) return tg__error(ctx, TG_EINVAL, "idx: no path given");
    if (expect_rank < 0 || expect_rank > IDX_MAX_RANK)
        return tg__error(ctx, TG_EINVAL, "idx: %s: expect_rank %d is outside 0..%d", path, expect_rank,
                         IDX_MAX_RANK);
    gzFile gz = NULL;
    int64_t size = 0;
    tg_status st = idx_open(ctx, path, &gz, &size);
    if (st) return st;
    int rank = 0;
    int64_t count = 0;
    unsigned char *data = NULL;
    if (!(st = read_magic(ctx, path, gz, expect_rank, &rank)) &&
        !(st = read_dims(ctx, path, gz, rank, out->dims, &count)))
        st = gzdirect(gz) ? read_raw(ctx, path, gz, size - (4 + 4 * (int64_t)rank), count, &data)
                          : read_gz(ctx, path, gz, size, count, &data);
    gzclose(gz); /* closes the file */
    if (st) {
        memset(out, 0, sizeof *out);
        return st;
    }
    out->rank = rank;
    out->count = count;
    out->data = data;
    return TG_OK;
}

void tg_idx_free(tg_idx *idx) {
    if (!idx) return;
    tg__free(idx->data);
    memset(idx, 0, sizeof *idx);
}

/* ---- MNIST layout ---- */

/* Finds <dir>/<split>-<kind>, raw first, then .gz; writes the path into buf.
 * Returns 1 when found. */
static int find_idx(const char *dir, const char *split, const char *kind, char *buf, size_t len) {
    struct stat st;
    snprintf(buf, len, "%s/%s-%s", dir, split, kind);
    if (stat(buf, &st) == 0) return 1;
    snprintf(buf, len, "%s/%s-%s.gz", dir, split, kind);
    return stat(buf, &st) == 0;
}

/* Every label < classes (classes > 0), or classes = the largest label + 1
 * (classes 0); *found gets the count. */
static tg_status check_labels(tg_ctx *ctx, const char *path, const tg_idx *lbl, int classes, int *found) {
    int top = 0;
    for (int64_t i = 0; i < lbl->count; i++) {
        if (classes && lbl->data[i] >= classes)
            return tg__error(ctx, TG_EFORMAT, "mnist: %s: label %lld is %u, expected 0..%d", path, (long long)i,
                             (unsigned)lbl->data[i], classes - 1);
        if (lbl->data[i] > top) top = lbl->data[i];
    }
    *found = classes ? classes : top + 1;
    return TG_OK;
}

tg_status tg_dataset_load(tg_ctx *ctx, const char *dir, const char *split, int classes, tg_dataset *out) {
    if (!out) return tg__error(ctx, TG_EINVAL, "mnist: output struct is NULL");
    memset(out, 0, sizeof *out);
    if (!dir || !dir[0]) return tg__error(ctx, TG_EINVAL, "mnist: no data directory given");
    if (!split || !split[0] || strchr(split, '/'))
        return tg__error(ctx, TG_EINVAL, "mnist: split must be a name such as \"train\" or \"t10k\"");
    if (classes < 0 || classes > 256)
        return tg__error(ctx, TG_EINVAL, "mnist: classes %d is outside 0..256 (labels are bytes; 0: from the labels)",
                         classes);
    struct stat st;
    if (stat(dir, &st) != 0)
        return tg__error(ctx, TG_EIO, "mnist: data directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return tg__error(ctx, TG_EIO, "mnist: data directory %s: not a directory", dir);
    size_t len = strlen(dir) + strlen(split) + 32;
    if (len > 4096) return tg__error(ctx, TG_EINVAL, "mnist: data directory path is too long");
    char img_path[4096], lbl_path[4096];
    if (!find_idx(dir, split, "images-idx3-ubyte", img_path, sizeof img_path))
        return tg__error(ctx, TG_EIO, "mnist: %s/%s-images-idx3-ubyte: no such file (nor .gz)", dir,
                         split);
    if (!find_idx(dir, split, "labels-idx1-ubyte", lbl_path, sizeof lbl_path))
        return tg__error(ctx, TG_EIO, "mnist: %s/%s-labels-idx1-ubyte: no such file (nor .gz)", dir,
                         split);
    tg_idx img, lbl;
    tg_status s = tg_idx_read(ctx, img_path, 3, &img);
    if (s) return s;
    s = tg_idx_read(ctx, lbl_path, 1, &lbl);
    if (s) {
        tg_idx_free(&img);
        return s;
    }
    int found = 0;
    if (img.dims[0] != lbl.dims[0])
        s = tg__error(ctx, TG_EFORMAT, "mnist: %s holds %lld images but %s holds %lld labels", img_path,
                      (long long)img.dims[0], lbl_path, (long long)lbl.dims[0]);
    else
        s = check_labels(ctx, lbl_path, &lbl, classes, &found);
    if (s) {
        tg_idx_free(&img);
        tg_idx_free(&lbl);
        return s;
    }
    out->n = img.dims[0];
    out->rows = img.dims[1];
    out->cols = img.dims[2];
    out->images = img.data;
    out->labels = lbl.data;
    out->classes = found;
    return TG_OK;
}

/* MNIST and Fashion-MNIST both have ten classes. */
tg_status tg_mnist_load(tg_ctx *ctx, const char *dir, const char *split, tg_dataset *out) {
    return tg_dataset_load(ctx, dir, split, 10, out);
}

void tg_dataset_free(tg_dataset *ds) {
    if (!ds) return;
    tg__free(ds->images);
    tg__free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

const char *tg_default_data_dir(void) { return "/usr/share/datasets/fashion-mnist"; }

/* ---- batches ---- */

tg_status tg_dataset_batch(const tg_dataset *ds, const int64_t *idx, int64_t n, tg_tensor *x,
                           int32_t *labels) {
    if (!x) return TG_EINVAL;
    tg_ctx *ctx = x->ctx;
    if (!ds || !ds->images || !ds->labels)
        return tg__error(ctx, TG_EINVAL, "dataset_batch: the dataset is NULL or empty");
    int64_t d = ds->rows * ds->cols;
    if (n < 0 || x->rank != 2 || x->shape[0] != n || x->shape[1] != d)
        return tg__error(ctx, TG_ESHAPE, "dataset_batch: x is %s, expected [%lld,%lld]", tg__sh(x),
                         (long long)n, (long long)d);
    if (x->dtype != TG_F32 && x->dtype != TG_F64)
        return tg__error(ctx, TG_EDTYPE, "dataset_batch: x has unknown dtype %d", (int)x->dtype);
    for (int64_t b = 0; b < n; b++) {
        int64_t k = idx ? idx[b] : b;
        if (k < 0 || k >= ds->n)
            return tg__error(ctx, TG_EINVAL, "dataset_batch: idx[%lld] = %lld is outside [0,%lld)",
                             (long long)b, (long long)k, (long long)ds->n);
    }
    for (int64_t b = 0; b < n; b++) {
        int64_t k = idx ? idx[b] : b;
        const uint8_t *src = ds->images + k * d;
        if (x->dtype == TG_F32) {
            float *dst = (float *)x->data + b * d;
            for (int64_t j = 0; j < d; j++) dst[j] = (float)src[j] / 255.0f;
        } else {
            double *dst = (double *)x->data + b * d;
            for (int64_t j = 0; j < d; j++) dst[j] = (double)src[j] / 255.0;
        }
        if (labels) labels[b] = ds->labels[k];
    }
    return TG_OK;
}

tg_status tg_one_hot(const int32_t *labels, int64_t n, int C, tg_tensor *y) {
    if (!y) return TG_EINVAL;
    tg_ctx *ctx = y->ctx;
    if (n < 0 || C < 1 || y->rank != 2 || y->shape[0] != n || y->shape[1] != C)
        return tg__error(ctx, TG_ESHAPE, "one_hot: y is %s, expected [%lld,%d]", tg__sh(y),
                         (long long)n, C);
    if (n > 0 && !labels) return tg__error(ctx, TG_EINVAL, "one_hot: labels is NULL");
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= C)
            return tg__error(ctx, TG_EINVAL, "one_hot: labels[%lld] = %d is outside [0,%d)",
                             (long long)i, (int)labels[i], C);
    memset(y->data, 0, (size_t)y->numel * tg_dtype_size(y->dtype));
    for (int64_t i = 0; i < n; i++) tg__st(y, i * C + labels[i], 1.0);
    return TG_OK;
}
