/* checkpoint.c: checkpoints in the safetensors format.
 *
 * File layout (https://github.com/huggingface/safetensors):
 *   8 bytes   N, the header length, little-endian uint64
 *   N bytes   JSON: {"__metadata__": {string: string, ...},
 *                    "<tensor>": {"dtype": "F32"|"F64", "shape": [d, ...],
 *                                 "data_offsets": [begin, end]}, ...}
 *             padded with spaces to a multiple of 8 bytes
 *   the rest  the data section; offsets count from its first byte. Tensors
 *             are row-major, little-endian, and tile the section exactly.
 *
 * What tapegrad stores: every parameter of the context under its own name;
 * with an optimizer, its state as "optim.<param>.<slot>" (slot names as in
 * torch.optim's state_dict), and in __metadata__ "optim.kind" and
 * "optim.steps". Every tensor has "crc32.<tensor>" in __metadata__: the zlib
 * CRC-32 of its bytes in the file, as 8 hex digits. "format" is "tapegrad".
 *
 * Loading trusts nothing: the header length is bounded, the JSON is parsed
 * by a strict parser (graph/json.c; positions in messages are header bytes),
 * and every entry's dtype, shape, byte count, offsets (in range, no overlap,
 * no gap), name, checksum and the match with the context's parameters are
 * checked before any parameter or optimizer buffer is written. A failed load
 * therefore leaves the context and the optimizer exactly as they were.
 *
 * Dtypes: a tensor stored as F32 may be loaded into an f64 parameter and vice
 * versa; values are converted (F64 -> f32 rounds to nearest).
 */
#include "graph_internal.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CK_MAX_HEADER ((uint64_t)100 << 20) /* 100 MiB */

/* ------------------------------------------------------------------------ */
/* Little-endian encoding                                                    */
/* ------------------------------------------------------------------------ */

static int host_is_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_u64le(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_u64le(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Copies n elements of size esz into dst in little-endian byte order. */
static void to_le(unsigned char *dst, const void *src, size_t n, size_t esz) {
    memcpy(dst, src, n * esz);
    if (host_is_le()) return;
    for (size_t i = 0; i < n; i++)
        for (size_t a = 0, b = esz - 1; a < b; a++, b--) {
            unsigned char t = dst[i * esz + a];
            dst[i * esz + a] = dst[i * esz + b];
            dst[i * esz + b] = t;
        }
}

/* ------------------------------------------------------------------------ */
/* The tensors of a checkpoint                                               */
/* ------------------------------------------------------------------------ */

typedef struct ck_entry {
    const char *name;      /* save: owned when owns_name; load: points into the JSON strings */
    int owns_name;
    tg_dtype dtype;        /* dtype in the file */
    int rank;
    int64_t shape[TG_MAX_RANK];
    int64_t numel;
    uint64_t begin, end;   /* byte range in the data section */
    uint32_t crc;          /* save: computed; load: from __metadata__ */
    int has_crc;
    /* where the values live in memory (save: source; load: destination) */
    void *mem;
    tg_dtype mem_dtype;
    int is_optim;          /* load: an "optim." tensor that is not a parameter */
    int used;              /* load: matched by a parameter or an optimizer slot */
} ck_entry;

static const char *st_dtype(tg_dtype dt) { return dt == TG_F64 ? "F64" : "F32"; }

static void entries_free(ck_entry *e, size_t n) {
    if (!e) return;
    for (size_t i = 0; i < n; i++)
        if (e[i].owns_name) tg__free((void *)e[i].name);
    tg__free(e);
}

/* ------------------------------------------------------------------------ */
/* Save                                                                      */
/* ------------------------------------------------------------------------ */

/* CRC-32 of a tensor's little-endian bytes. */
static uint32_t tensor_crc(const void *mem, int64_t numel, size_t esz) {
    uLong crc = crc32(0L, Z_NULL, 0);
    if (host_is_le()) {
        const unsigned char *p = mem;
        uint64_t left = (uint64_t)numel * esz;
        while (left) {
            uInt k = left > (1u << 30) ? (1u << 30) : (uInt)left;
            crc = crc32(crc, p, k);
            p += k;
            left -= k;
        }
        return (uint32_t)crc;
    }
    unsigned char buf[1 << 14];
    size_t per = sizeof buf / esz;
    for (int64_t i = 0; i < numel; i += (int64_t)per) {
        size_t k = (size_t)(numel - i) < per ? (size_t)(numel - i) : per;
        to_le(buf, (const unsigned char *)mem + (size_t)i * esz, k, esz);
        crc = crc32(crc, buf, (uInt)(k * esz));
    }
    return (uint32_t)crc;
}

static int write_tensor(FILE *f, const void *mem, int64_t numel, size_t esz) {
    if (numel == 0) return 0;
    if (host_is_le()) return fwrite(mem, esz, (size_t)numel, f) == (size_t)numel ? 0 : -1;
    unsigned char buf[1 << 14];
    size_t per = sizeof buf / esz;
    for (int64_t i = 0; i < numel; i += (int64_t)per) {
        size_t k = (size_t)(numel - i) < per ? (size_t)(numel - i) : per;
        to_le(buf, (const unsigned char *)mem + (size_t)i * esz, k, esz);
        if (fwrite(buf, esz, k, f) != k) return -1;
    }
    return 0;
}

static void set_entry(ck_entry *e, const tg_tensor *p, void *mem) {
    e->dtype = e->mem_dtype = p->dtype;
    e->rank = p->rank;
    memcpy(e->shape, p->shape, sizeof e->shape);
    e->numel = p->numel;
    e->mem = mem;
}

/* The JSON header for entries e[0..n), padded with spaces to a multiple of 8. */
static void build_header(tg__sbuf *h, const ck_entry *e, size_t n, const tg_optim *opt) {
    char t[64];
    tg__sb_puts(h, "{\"__metadata__\":{\"format\":\"tapegrad\"");
    if (opt) {
        tg__sb_puts(h, ",\"optim.kind\":");
        tg__sb_json_str(h, tg_optim_kind_name(tg__optim_kind(opt)));
        snprintf(t, sizeof t, ",\"optim.steps\":\"%lld\"", (long long)tg_optim_steps(opt));
        tg__sb_puts(h, t);
    }
    for (size_t i = 0; i < n; i++) {
        char crcname[160];
        snprintf(crcname, sizeof crcname, "crc32.%s", e[i].name);
        tg__sb_puts(h, ",");
        tg__sb_json_str(h, crcname);
        snprintf(t, sizeof t, ":\"%08x\"", (unsigned)e[i].crc);
        tg__sb_puts(h, t);
    }
    tg__sb_puts(h, "}");
    for (size_t i = 0; i < n; i++) {
        tg__sb_puts(h, ",");
        tg__sb_json_str(h, e[i].name);
        tg__sb_puts(h, ":{\"dtype\":\"");
        tg__sb_puts(h, st_dtype(e[i].dtype));
        tg__sb_puts(h, "\",\"shape\":[");
        for (int d = 0; d < e[i].rank; d++) {
            if (d) tg__sb_puts(h, ",");
            tg__sb_u64(h, (uint64_t)e[i].shape[d]);
        }
        tg__sb_puts(h, "],\"data_offsets\":[");
        tg__sb_u64(h, e[i].begin);
        tg__sb_puts(h, ",");
        tg__sb_u64(h, e[i].end);
        tg__sb_puts(h, "]}");
    }
    tg__sb_puts(h, "}");
    while (!h->oom && h->len % 8) tg__sb_puts(h, " ");
}

/* fsync the directory that holds path, so that the rename is durable. */
static int sync_dir(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    /* Some file systems cannot sync a directory; that is not a failed save. */
    if (r != 0 && (e == EINVAL || e == ENOTSUP)) r = 0;
    errno = e;
    return r;
}

/* What a st_mode is, for messages. */
static const char *file_kind(mode_t m) {
    return S_ISDIR(m)    ? "a directory"
           : S_ISLNK(m)  ? "a symbolic link"
           : S_ISFIFO(m) ? "a FIFO"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

/* Removes "<base>.tmp.<pid>" files next to path whose process is gone
 * (kill(pid, 0) fails with ESRCH): what saves killed mid-write left. Only
 * regular files of exactly that form are touched; our own pid's and a live
 * process's (a save in progress) are kept. Best effort: errors are ignored. */
static void remove_stale_tmps(const char *path) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    size_t blen = strlen(base);
    if (!blen) return;
    DIR *d = opendir(dir);
    if (!d) return;
    int dfd = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (strncmp(nm, base, blen) != 0 || strncmp(nm + blen, ".tmp.", 5) != 0) continue;
        const char *digits = nm + blen + 5;
        long pid = 0;
        size_t k = 0;
        for (; digits[k] >= '0' && digits[k] <= '9' && k < 10; k++) pid = pid * 10 + (digits[k] - '0');
        if (k == 0 || digits[k] || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to know */
        struct stat sb;
        if (fstatat(dfd, nm, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode)) unlinkat(dfd, nm, 0);
    }
    closedir(d);
}

/* The tensors to save: every parameter of ctx, then with opt each of its
 * parameters' slots as "optim.<param>.<slot>". *out (freed with
 * entries_free(*out, *n) even on error) points at the tensors' memory. */
static tg_status collect_entries(tg_ctx *ctx, const char *path, const tg_optim *opt, ck_entry **out, size_t *out_n) {
    int np = tg_param_count(ctx);
    int on = opt ? tg__optim_nparams(opt) : 0, ns = opt ? tg__optim_nslots(opt) : 0;
    size_t n = (size_t)np + (size_t)on * (size_t)ns;
    ck_entry *e = tg__calloc(n ? n : 1, sizeof *e);
    *out = e;
    *out_n = e ? n : 0;
    if (!e) return tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
    size_t k = 0;
    for (int i = 0; i < np; i++, k++) {
        tg_tensor *p = tg_param_at(ctx, i);
        e[k].name = p->name;
        set_entry(&e[k], p, p->data);
    }
    for (int i = 0; i < on; i++) {
        tg_tensor *p = tg__optim_param(opt, i);
        for (int s = 0; s < ns; s++, k++) {
            const char *pn = p->name ? p->name : "", *sn = tg__optim_slot_name(opt, s);
            size_t len = strlen("optim.") + strlen(pn) + 1 + strlen(sn) + 1;
            char *nm = tg__malloc(len);
            if (!nm) return tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
            snprintf(nm, len, "optim.%s.%s", pn, sn);
            e[k].name = nm;
            e[k].owns_name = 1;
            set_entry(&e[k], p, tg__optim_slot(opt, i, s));
            if (!p->name || !p->name[0])
                return tg__error(ctx, TG_EINVAL, "checkpoint: %s: optimizer parameter %d has no name", path, i);
        }
    }
    TG_ASSERT(k == n);
    return TG_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Names are valid UTF-8, not "__metadata__", and unique. */
static tg_status check_names(tg_ctx *ctx, const char *path, const ck_entry *e, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (!tg__utf8_valid(e[i].name))
            return tg__error(ctx, TG_EINVAL, "checkpoint: %s: tensor name '%s' is not valid UTF-8", path, e[i].name);
        if (strcmp(e[i].name, "__metadata__") == 0)
            return tg__error(ctx, TG_EINVAL, "checkpoint: %s: '__metadata__' is a reserved name", path);
    }
    const char **sorted = tg__malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) return tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
    for (size_t i = 0; i < n; i++) sorted[i] = e[i].name;
    qsort(sorted, n, sizeof *sorted, cmp_str);
    tg_status st = TG_OK;
    for (size_t i = 1; i < n && !st; i++)
        if (strcmp(sorted[i], sorted[i - 1]) == 0)
            st = tg__error(ctx, TG_EINVAL,
                           "checkpoint: %s: two tensors are named '%s' (a parameter name "
                           "clashes with optimizer state)",
                           path, sorted[i]);
    tg__free(sorted);
    return st;
}

/* Each tensor's byte range in the data section, in list order, and its CRC. */
static void lay_out(ck_entry *e, size_t n) {
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t esz = tg_dtype_size(e[i].dtype);
        e[i].begin = off;
        off += (uint64_t)e[i].numel * esz;
        e[i].end = off;
        e[i].crc = tensor_crc(e[i].mem, e[i].numel, esz);
    }
}

/* Writes the length, the header and the tensors to tmp, flushed and
 * fsync'ed. On failure tmp may exist (*created says so); the caller
 * removes it. */
static tg_status write_tmp(tg_ctx *ctx, const char *path, const char *tmp, const tg__sbuf *h, const ck_entry *e,
                           size_t n, int *created) {
    /* O_EXCL | O_NOFOLLOW: never write through a link or into a file that
     * is not ours. A regular file under our pid's name is a dead process's
     * (pids are reused): it is replaced. */
    int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(tmp, flags, 0644);
    struct stat sb;
    if (fd < 0 && errno == EEXIST && lstat(tmp, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(tmp) == 0)
        fd = open(tmp, flags, 0644);
    if (fd < 0)
        return tg__error(ctx, TG_EIO, "checkpoint: %s: cannot create %s: %s", path, tmp, strerror(errno));
    *created = 1;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        int er = errno;
        close(fd);
        return tg__error(ctx, TG_EIO, "checkpoint: %s: %s: %s", path, tmp, strerror(er));
    }
    unsigned char len8[8];
    put_u64le(len8, (uint64_t)h->len);
    int bad = fwrite(len8, 1, 8, f) != 8 || fwrite(h->buf, 1, h->len, f) != h->len;
    for (size_t i = 0; i < n && !bad; i++) bad = write_tensor(f, e[i].mem, e[i].numel, tg_dtype_size(e[i].dtype)) != 0;
    if (bad || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        tg_status st = tg__error(ctx, TG_EIO, "checkpoint: %s: writing %s failed: %s", path, tmp, strerror(errno));
        fclose(f);
        return st;
    }
    if (fclose(f) != 0)
        return tg__error(ctx, TG_EIO, "checkpoint: %s: closing %s failed: %s", path, tmp, strerror(errno));
    return TG_OK;
}

/* Renames tmp over path and syncs the directory, so the new file is durable.
 * *created is cleared once tmp is gone (renamed). */
static tg_status replace_target(tg_ctx *ctx, const char *path, const char *tmp, int *created) {
    if (rename(tmp, path) != 0)
        return tg__error(ctx, TG_EIO, "checkpoint: %s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    *created = 0;
    if (sync_dir(path) != 0)
        return tg__error(ctx, TG_EIO, "checkpoint: %s: written, but syncing its directory failed: %s", path,
                         strerror(errno));
    return TG_OK;
}

tg_status tg_checkpoint_save(tg_ctx *ctx, const char *path, const tg_optim *opt) {
    if (!ctx) return TG_EINVAL;
    if (!path || !path[0]) return tg__error(ctx, TG_EINVAL, "checkpoint: no path given");
    if (strlen(path) > 4000) return tg__error(ctx, TG_EINVAL, "checkpoint: path is too long");
    ck_entry *e = NULL;
    size_t n = 0;
    tg__sbuf h = {0};
    char tmp[4096 + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int created = 0;
    tg_status st = TG_OK;
    /* The rename would replace whatever is at path: a link, a FIFO or a
     * device node would become a regular file. Only a regular file (or
     * nothing) is replaced. (rename itself refuses a directory, EISDIR.) */
    struct stat sb;
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode))
        return tg__error(ctx, TG_EIO, "checkpoint: %s: is %s, not a regular file; not replaced", path,
                         file_kind(sb.st_mode));
    remove_stale_tmps(path);
    st = collect_entries(ctx, path, opt, &e, &n);
    if (!st) st = check_names(ctx, path, e, n);
    if (!st) {
        lay_out(e, n);
        build_header(&h, e, n, opt);
        if (h.oom) st = tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
    }
    if (!st) st = write_tmp(ctx, path, tmp, &h, e, n, &created);
    if (!st) st = replace_target(ctx, path, tmp, &created);
    if (created) unlink(tmp); /* a failed save leaves no temp file behind */
    tg__free(h.buf);
    entries_free(e, n);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Load                                                                      */
/* ------------------------------------------------------------------------ */

static int cmp_entry_range(const void *a, const void *b) {
    const ck_entry *x = *(const ck_entry *const *)a, *y = *(const ck_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int parse_hex32(const char *s, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        int h = hexval((unsigned char)s[i]);
        if (h < 0) return -1;
        v = v << 4 | (uint32_t)h;
    }
    if (s[8]) return -1;
    *out = v;
    return 0;
}

static int parse_u63(const char *s, int64_t *out) {
    if (!*s || strlen(s) > 18) return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

static ck_entry *find_entry(ck_entry *e, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0) return &e[i];
    return NULL;
}

/* Known safetensors dtypes that tapegrad does not read. */
static int st_dtype_known(const char *s) {
    static const char *const known[] = {"BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32",
                                        "U32", "I64", "U64", "F8_E5M2", "F8_E4M3"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(s, known[i]) == 0) return 1;
    return 0;
}

/* Stores n elements from little-endian bytes src of dtype sdt into dst of dtype ddt. */
static void load_values(void *dst, tg_dtype ddt, const unsigned char *src, tg_dtype sdt, int64_t n) {
    if (ddt == sdt && host_is_le()) {
        memcpy(dst, src, (size_t)n * tg_dtype_size(ddt));
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        double v;
        if (sdt == TG_F32) {
            uint32_t b = 0;
            for (int k = 0; k < 4; k++) b |= (uint32_t)src[4 * i + k] << (8 * k);
            float f;
            memcpy(&f, &b, 4);
            v = f;
        } else {
            uint64_t b = get_u64le(src + 8 * i);
            memcpy(&v, &b, 8);
        }
        if (ddt == TG_F32) ((float *)dst)[i] = (float)v;
        else ((double *)dst)[i] = v;
    }
}

/* The header is an object without a repeated key; its __metadata__ (index
 * in *meta, -1 when absent) is an object of strings without a repeated key. */
static tg_status check_metadata(tg_ctx *ctx, const char *path, tg__json *p, int32_t *meta_out) {
    if (p->nodes[0].type != TG__J_OBJ)
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: header JSON is not an object", path);
    int oom = 0;
    const char *dup = tg__json_dup_key(p, 0, &oom);
    if (oom) return tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
    if (dup) return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: header: '%s' appears twice", path, dup);
    int32_t meta = tg__json_get(p, 0, "__metadata__");
    if (meta >= 0) {
        if (p->nodes[meta].type != TG__J_OBJ)
            return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: __metadata__ is not an object", path);
        dup = tg__json_dup_key(p, meta, &oom);
        if (oom) return tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
        if (dup)
            return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: __metadata__: '%s' appears twice", path,
                             dup);
        for (int32_t c = p->nodes[meta].child; c >= 0; c = p->nodes[c].next)
            if (p->nodes[c].type != TG__J_STR)
                return tg__error(ctx, TG_EFORMAT,
                                 "checkpoint: %s: __metadata__ '%s' (header byte %u) is not a string",
                                 path, tg__json_key(p, c), (unsigned)p->nodes[c].pos);
    }
    *meta_out = meta;
    return TG_OK;
}

/* A tensor entry (node c, named nm) is an object with exactly the keys
 * dtype, shape and data_offsets, each once; *jd, *js, *jo get their nodes. */
static tg_status entry_keys(tg_ctx *ctx, const char *path, tg__json *p, int32_t c, const char *nm, int32_t *jd,
                            int32_t *js, int32_t *jo) {
    if (p->nodes[c].type != TG__J_OBJ)
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': entry is not an object", path, nm);
    for (int32_t m = p->nodes[c].child; m >= 0; m = p->nodes[m].next) {
        const char *mk = tg__json_key(p, m);
        if (strcmp(mk, "dtype") && strcmp(mk, "shape") && strcmp(mk, "data_offsets"))
            return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': unexpected key '%s'", path, nm, mk);
    }
    int oom = 0;
    if (tg__json_dup_key(p, c, &oom) || oom)
        return tg__error(ctx, oom ? TG_ENOMEM : TG_EFORMAT, "checkpoint: %s: tensor '%s': %s", path, nm,
                         oom ? "out of memory" : "a key appears twice");
    *jd = tg__json_get(p, c, "dtype");
    *js = tg__json_get(p, c, "shape");
    *jo = tg__json_get(p, c, "data_offsets");
    if (*jd < 0 || *js < 0 || *jo < 0)
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': no \"%s\"", path, nm,
                         *jd < 0 ? "dtype" : *js < 0 ? "shape" : "data_offsets");
    return TG_OK;
}

/* "F32" or "F64"; other safetensors dtypes are named as unsupported. */
static tg_status entry_dtype(tg_ctx *ctx, const char *path, tg__json *p, int32_t jd, ck_entry *t) {
    if (p->nodes[jd].type != TG__J_STR)
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': dtype is not a string", path, t->name);
    const char *ds = tg__json_str(p, jd);
    if (strcmp(ds, "F32") == 0) t->dtype = TG_F32;
    else if (strcmp(ds, "F64") == 0) t->dtype = TG_F64;
    else if (st_dtype_known(ds))
        return tg__error(ctx, TG_EFORMAT,
                         "checkpoint: %s: tensor '%s': dtype %s is not supported (tapegrad reads "
                         "F32 and F64)",
                         path, t->name, ds);
    else
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': unknown dtype '%.32s'", path, t->name,
                         ds);
    return TG_OK;
}

/* An array of at most TG_MAX_RANK non-negative integers whose product stays
 * within 2^48 elements (each dimension too). */
static tg_status entry_shape(tg_ctx *ctx, const char *path, tg__json *p, int32_t js, ck_entry *t) {
    const tg__jnode *sj = &p->nodes[js];
    if (sj->type != TG__J_ARR || sj->count > TG_MAX_RANK)
        return tg__error(ctx, TG_EFORMAT,
                         "checkpoint: %s: tensor '%s': shape must be an array of at most %d "
                         "integers",
                         path, t->name, TG_MAX_RANK);
    t->rank = sj->count;
    uint64_t numel = 1;
    int too_big = 0;
    int d = 0;
    for (int32_t q = sj->child; q >= 0; q = p->nodes[q].next, d++) {
        if (p->nodes[q].type != TG__J_NUM || !p->nodes[q].is_uint)
            return tg__error(ctx, TG_EFORMAT,
                             "checkpoint: %s: tensor '%s': shape[%d] (header byte %u) is not a "
                             "non-negative integer",
                             path, t->name, d, (unsigned)p->nodes[q].pos);
        uint64_t v = p->nodes[q].u;
        if (v > ((uint64_t)1 << 48)) too_big = 1;
        else t->shape[d] = (int64_t)v;
        if (!too_big && v && numel > (((uint64_t)1 << 48) / v)) too_big = 1;
        if (!too_big) numel *= v;
    }
    if (too_big) return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': shape is too large", path, t->name);
    t->numel = (int64_t)numel;
    return TG_OK;
}

/* [begin, end] with begin <= end, spanning exactly the bytes the dtype and
 * shape need, inside the data section of data_len bytes. */
static tg_status entry_offsets(tg_ctx *ctx, const char *path, tg__json *p, int32_t jo, uint64_t data_len,
                               ck_entry *t) {
    const char *nm = t->name;
    const tg__jnode *oj = &p->nodes[jo];
    if (oj->type != TG__J_ARR || oj->count != 2)
        return tg__error(ctx, TG_EFORMAT,
                         "checkpoint: %s: tensor '%s': data_offsets (header byte %u) must be an "
                         "array [begin, end]",
                         path, nm, (unsigned)oj->pos);
    int32_t b0 = oj->child, b1 = p->nodes[b0].next;
    for (int q = 0; q < 2; q++) {
        const tg__jnode *bq = &p->nodes[q ? b1 : b0];
        if (bq->type != TG__J_NUM || !bq->is_uint)
            return tg__error(ctx, TG_EFORMAT,
                             "checkpoint: %s: tensor '%s': data_offsets[%d] (header byte %u) is not "
                             "an integer in [0, 2^64)",
                             path, nm, q, (unsigned)bq->pos);
    }
    if (p->nodes[b0].u > p->nodes[b1].u)
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': data_offsets [%llu,%llu] have begin > end",
                         path, nm, (unsigned long long)p->nodes[b0].u, (unsigned long long)p->nodes[b1].u);
    t->begin = p->nodes[b0].u;
    t->end = p->nodes[b1].u;
    uint64_t need = (uint64_t)t->numel * tg_dtype_size(t->dtype);
    char shs[96];
    if (t->end - t->begin != need)
        return tg__error(ctx, TG_EFORMAT,
                         "checkpoint: %s: tensor '%s': shape %s of %s needs %llu bytes, but "
                         "data_offsets [%llu,%llu] span %llu",
                         path, nm, tg__shape_fmt(t->rank, t->shape, shs, sizeof shs), st_dtype(t->dtype),
                         (unsigned long long)need, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)(t->end - t->begin));
    if (t->end > data_len)
        return tg__error(ctx, TG_EFORMAT,
                         "checkpoint: %s: tensor '%s': data_offsets [%llu,%llu] run past the end "
                         "of the data section (%llu bytes)",
                         path, nm, (unsigned long long)t->begin, (unsigned long long)t->end,
                         (unsigned long long)data_len);
    return TG_OK;
}

/* Sorted by range, the tensors tile the data section: no overlap, no gap,
 * nothing after the last. */
static tg_status check_tiling(tg_ctx *ctx, const char *path, ck_entry *e, size_t n, uint64_t data_len) {
    ck_entry **ord = tg__malloc((n ? n : 1) * sizeof *ord);
    if (!ord) return tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
    for (size_t i = 0; i < n; i++) ord[i] = &e[i];
    qsort(ord, n, sizeof *ord, cmp_entry_range);
    uint64_t pos = 0;
    const ck_entry *prev = NULL;
    tg_status st = TG_OK;
    for (size_t i = 0; i < n && !st; i++) {
        const ck_entry *t = ord[i];
        if (t->begin < pos)
            st = tg__error(ctx, TG_EFORMAT,
                           "checkpoint: %s: tensors '%s' [%llu,%llu) and '%s' [%llu,%llu) overlap", path,
                           prev->name, (unsigned long long)prev->begin, (unsigned long long)prev->end,
                           t->name, (unsigned long long)t->begin, (unsigned long long)t->end);
        else if (t->begin > pos)
            st = tg__error(ctx, TG_EFORMAT,
                           "checkpoint: %s: bytes [%llu,%llu) of the data section belong to no tensor",
                           path, (unsigned long long)pos, (unsigned long long)t->begin);
        if (t->end > t->begin) {
            pos = t->end;
            prev = t;
        }
    }
    tg__free(ord);
    if (st) return st;
    if (pos != data_len)
        return tg__error(ctx, TG_EFORMAT,
                         "checkpoint: %s: %llu bytes after the last tensor (the data section holds "
                         "%llu, the tensors %llu)",
                         path, (unsigned long long)(data_len - pos), (unsigned long long)data_len,
                         (unsigned long long)pos);
    return TG_OK;
}

/* Every "crc32.<name>" of __metadata__ names a tensor of the file and holds
 * 8 hex digits, and every tensor has one. */
static tg_status read_checksums(tg_ctx *ctx, const char *path, tg__json *p, int32_t meta, ck_entry *e, size_t n) {
    for (int32_t c = meta >= 0 ? p->nodes[meta].child : -1; c >= 0; c = p->nodes[c].next) {
        const char *mk = tg__json_key(p, c);
        if (strncmp(mk, "crc32.", 6) != 0) continue;
        ck_entry *t = find_entry(e, n, mk + 6);
        if (!t)
            return tg__error(ctx, TG_EFORMAT,
                             "checkpoint: %s: __metadata__ has a checksum for '%s', which is not in "
                             "the file",
                             path, mk + 6);
        if (parse_hex32(tg__json_str(p, c), &t->crc))
            return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: __metadata__ '%s': '%.32s' is not 8 hex digits",
                             path, mk, tg__json_str(p, c));
        t->has_crc = 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!e[i].has_crc)
            return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s' has no checksum (crc32.%s) in __metadata__",
                             path, e[i].name, e[i].name);
    return TG_OK;
}

/* Validates the parsed header against itself and the data length; fills
 * e[0..*n) (owned by the caller even on error). Returns TG_OK or an error
 * (message set). */
static tg_status check_entries(tg_ctx *ctx, const char *path, tg__json *p, uint64_t data_len,
                               ck_entry **out, size_t *out_n, int32_t *meta_out) {
    *out = NULL;
    *out_n = 0;
    *meta_out = -1;
    int32_t meta = -1;
    tg_status st = check_metadata(ctx, path, p, &meta);
    if (st) return st;
    *meta_out = meta;
    size_t n = (size_t)p->nodes[0].count - (meta >= 0 ? 1 : 0);
    ck_entry *e = tg__calloc(n ? n : 1, sizeof *e);
    if (!e) return tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
    *out = e;
    *out_n = n;
    size_t k = 0;
    for (int32_t c = p->nodes[0].child; c >= 0; c = p->nodes[c].next) {
        if (c == meta) continue;
        ck_entry *t = &e[k++];
        t->name = tg__json_key(p, c);
        int32_t jd = -1, js = -1, jo = -1;
        if ((st = entry_keys(ctx, path, p, c, t->name, &jd, &js, &jo)) || (st = entry_dtype(ctx, path, p, jd, t)) ||
            (st = entry_shape(ctx, path, p, js, t)) || (st = entry_offsets(ctx, path, p, jo, data_len, t)))
            return st;
    }
    TG_ASSERT(k == n);
    if ((st = check_tiling(ctx, path, e, n, data_len))) return st;
    return read_checksums(ctx, path, p, meta, e, n);
}

/* Matches the file's tensors with the parameters and the optimizer's state;
 * sets mem/mem_dtype of each matched entry. *steps gets optim.steps, or -1
 * when the file holds no optimizer state (or opt is NULL). */
static tg_status match_targets(tg_ctx *ctx, const char *path, tg__json *p, int32_t meta, ck_entry *e,
                               size_t n, tg_optim *opt, int64_t *steps) {
    char sa[96], sb[96];
    *steps = -1;
    for (int i = 0; i < tg_param_count(ctx); i++) {
        tg_tensor *prm = tg_param_at(ctx, i);
        ck_entry *t = find_entry(e, n, prm->name);
        if (!t)
            return tg__error(ctx, TG_EFORMAT,
                             "checkpoint: %s: tensor '%s' (a parameter of the context) is missing "
                             "from the file",
                             path, prm->name);
        if (t->rank != prm->rank || memcmp(t->shape, prm->shape, sizeof(int64_t) * (size_t)t->rank))
            return tg__error(ctx, TG_ESHAPE,
                             "checkpoint: %s: tensor '%s': shape %s in the file, %s in the context",
                             path, prm->name, tg__shape_fmt(t->rank, t->shape, sa, sizeof sa),
                             tg__shape_fmt(prm->rank, prm->shape, sb, sizeof sb));
        t->mem = prm->data;
        t->mem_dtype = prm->dtype;
        t->used = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (e[i].used) continue;
        if (strncmp(e[i].name, "optim.", 6) != 0)
            return tg__error(ctx, TG_EFORMAT,
                             "checkpoint: %s: tensor '%s' in the file is not a parameter of the context",
                             path, e[i].name);
        e[i].is_optim = 1;
    }
    int32_t jk = meta >= 0 ? tg__json_get(p, meta, "optim.kind") : -1;
    int32_t js = meta >= 0 ? tg__json_get(p, meta, "optim.steps") : -1;
    if (!opt) return TG_OK; /* optimizer state, if any, is checked but not loaded */
    if (jk < 0) {
        for (size_t i = 0; i < n; i++)
            if (e[i].is_optim)
                return tg__error(ctx, TG_EFORMAT,
                                 "checkpoint: %s: tensor '%s' looks like optimizer state, but "
                                 "__metadata__ has no optim.kind",
                                 path, e[i].name);
        return TG_OK; /* no optimizer state saved: the optimizer keeps its own */
    }
    const char *kind = tg_optim_kind_name(tg__optim_kind(opt));
    if (strcmp(tg__json_str(p, jk), kind) != 0)
        return tg__error(ctx, TG_EFORMAT,
                         "checkpoint: %s: the file holds '%.32s' optimizer state, this optimizer is '%s'",
                         path, tg__json_str(p, jk), kind);
    if (js < 0 || parse_u63(tg__json_str(p, js), steps))
        return tg__error(ctx, TG_EFORMAT,
                         "checkpoint: %s: __metadata__ optim.steps is missing or not a non-negative "
                         "integer",
                         path);
    int on = tg__optim_nparams(opt), ns = tg__optim_nslots(opt);
    for (int i = 0; i < on; i++) {
        tg_tensor *prm = tg__optim_param(opt, i);
        for (int s = 0; s < ns; s++) {
            char nm[300];
            snprintf(nm, sizeof nm, "optim.%s.%s", prm->name ? prm->name : "",
                     tg__optim_slot_name(opt, s));
            ck_entry *t = find_entry(e, n, nm);
            if (!t || !t->is_optim)
                return tg__error(ctx, TG_EFORMAT,
                                 "checkpoint: %s: optimizer tensor '%s' is missing from the file", path,
                                 nm);
            if (t->rank != prm->rank || memcmp(t->shape, prm->shape, sizeof(int64_t) * (size_t)t->rank))
                return tg__error(ctx, TG_ESHAPE,
                                 "checkpoint: %s: tensor '%s': shape %s in the file, %s in the "
                                 "optimizer",
                                 path, nm, tg__shape_fmt(t->rank, t->shape, sa, sizeof sa),
                                 tg__shape_fmt(prm->rank, prm->shape, sb, sizeof sb));
            t->mem = tg__optim_slot(opt, i, s);
            t->mem_dtype = prm->dtype;
            t->used = 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!e[i].used)
            return tg__error(ctx, TG_EFORMAT,
                             "checkpoint: %s: optimizer tensor '%s' does not belong to this optimizer",
                             path, e[i].name);
    return TG_OK;
}

/* Reads exactly len bytes; -1 on error or early end of file. */
static int read_exact(FILE *f, void *buf, size_t len) {
    return len == 0 || fread(buf, 1, len, f) == len ? 0 : -1;
}

tg_status tg_checkpoint_load(tg_ctx *ctx, const char *path, tg_optim *opt) {
    if (!ctx) return TG_EINVAL;
    if (!path || !path[0]) return tg__error(ctx, TG_EINVAL, "checkpoint: no path given");
    remove_stale_tmps(path);
    /* O_NONBLOCK: a FIFO with no writer would block open forever; cleared
     * once fstat has shown a regular file. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return tg__error(ctx, TG_EIO, "checkpoint: %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int bad = fstat(fd, &sb) == 0;
        close(fd);
        if (bad) return tg__error(ctx, TG_EIO, "checkpoint: %s: is %s, not a regular file", path, file_kind(sb.st_mode));
        return tg__error(ctx, TG_EIO, "checkpoint: %s: cannot stat: %s", path, strerror(errno));
    }
    int fl = fcntl(fd, F_GETFL);
    FILE *f = fl >= 0 && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        int e = errno;
        close(fd);
        return tg__error(ctx, TG_EIO, "checkpoint: %s: cannot open: %s", path, strerror(e));
    }
    tg_status st = TG_OK;
    unsigned char *hdr = NULL, *data = NULL;
    tg__json jp;
    memset(&jp, 0, sizeof jp);
    ck_entry *e = NULL;
    size_t n = 0;
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char len8[8];
    if (size < 8) {
        st = tg__error(ctx, TG_EFORMAT,
                       "checkpoint: %s: the file has %llu bytes, fewer than the 8 of the header length",
                       path, (unsigned long long)size);
        goto done;
    }
    if (read_exact(f, len8, 8)) goto io_error;
    uint64_t hlen = get_u64le(len8);
    if (hlen < 2) {
        st = tg__error(ctx, TG_EFORMAT, "checkpoint: %s: header length %llu is too small", path,
                       (unsigned long long)hlen);
        goto done;
    }
    if (hlen > CK_MAX_HEADER) {
        st = tg__error(ctx, TG_EFORMAT,
                       "checkpoint: %s: header length %llu exceeds the limit of %llu bytes", path,
                       (unsigned long long)hlen, (unsigned long long)CK_MAX_HEADER);
        goto done;
    }
    if (hlen > size - 8) {
        st = tg__error(ctx, TG_EFORMAT,
                       "checkpoint: %s: header length %llu runs past the end of the file (%llu bytes): "
                       "truncated?",
                       path, (unsigned long long)hlen, (unsigned long long)size);
        goto done;
    }
    hdr = tg__malloc((size_t)hlen);
    if (!hdr) goto oom;
    if (read_exact(f, hdr, (size_t)hlen)) goto io_error;
    if (tg__json_parse(&jp, hdr, (size_t)hlen) != 0) {
        if (jp.oom) goto oom;
        st = tg__error(ctx, TG_EFORMAT, "checkpoint: %s: header JSON, %s", path, jp.err);
        goto done;
    }
    uint64_t data_len = size - 8 - hlen;
    int32_t meta = -1;
    st = check_entries(ctx, path, &jp, data_len, &e, &n, &meta);
    if (st) goto done;
    int64_t steps;
    st = match_targets(ctx, path, &jp, meta, e, n, opt, &steps);
    if (st) goto done;

    /* ---- the data, then the checksums, then (only then) the copy ---- */
    if (data_len > SIZE_MAX) goto oom;
    data = tg__malloc(data_len ? (size_t)data_len : 1);
    if (!data) goto oom;
    if (read_exact(f, data, (size_t)data_len)) goto io_error;
    for (size_t i = 0; i < n; i++) {
        uLong crc = crc32(0L, Z_NULL, 0);
        const unsigned char *q = data + e[i].begin;
        uint64_t left = e[i].end - e[i].begin;
        while (left) {
            uInt k = left > (1u << 30) ? (1u << 30) : (uInt)left;
            crc = crc32(crc, q, k);
            q += k;
            left -= k;
        }
        if ((uint32_t)crc != e[i].crc) {
            st = tg__error(ctx, TG_ECHECKSUM,
                           "checkpoint: %s: tensor '%s': the data's crc32 is %08x, __metadata__ says "
                           "%08x",
                           path, e[i].name, (unsigned)crc, (unsigned)e[i].crc);
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (e[i].mem) load_values(e[i].mem, e[i].mem_dtype, data + e[i].begin, e[i].dtype, e[i].numel);
    if (opt && steps >= 0) tg__optim_set_steps(opt, steps);
    goto done;

io_error:
    st = tg__error(ctx, TG_EIO, "checkpoint: %s: read failed: %s", path,
                   ferror(f) ? strerror(errno) : "the file ended early (changed while reading?)");
    goto done;
oom:
    st = tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
done:
    fclose(f);
    tg__free(hdr);
    tg__free(data);
    tg__json_free(&jp);
    tg__free(e); /* names point into the parser's strings: not owned */
    return st;
}
