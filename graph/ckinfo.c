/* ckinfo.c: what a checkpoint holds, read from its safetensors header alone
 * (names, dtypes, shapes, the optimizer's kind and steps), for a user who
 * wants to know which model and optimizer a file fits before loading it.
 *
 * The header is checked as strictly as tg_checkpoint_load checks it (length,
 * strict JSON, each entry's keys, dtype, shape and offsets inside the file);
 * the data section and its checksums are not read: tg_checkpoint_load does
 * that when the values are wanted.
 */
#include "graph_internal.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INFO_MAX_HEADER ((uint64_t)100 << 20) /* as tg_checkpoint_load: 100 MiB */

void tg_checkpoint_info_free(tg_checkpoint_info *info) {
    if (!info) return;
    tg__free(info->entries);
    memset(info, 0, sizeof *info);
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const tg_checkpoint_entry *)a)->name, ((const tg_checkpoint_entry *)b)->name);
}

/* One tensor entry (node c, named nm) into *e; data_len bounds its offsets. */
static tg_status read_entry(tg_ctx *ctx, const char *path, tg__json *p, int32_t c, const char *nm,
                            uint64_t data_len, tg_checkpoint_entry *e) {
    if (p->nodes[c].type != TG__J_OBJ)
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': entry is not an object", path, nm);
    int32_t jd = tg__json_get(p, c, "dtype"), js = tg__json_get(p, c, "shape"),
            jo = tg__json_get(p, c, "data_offsets");
    if (jd < 0 || js < 0 || jo < 0 || p->nodes[c].count != 3)
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': want exactly dtype, shape, data_offsets",
                         path, nm);
    const char *ds = p->nodes[jd].type == TG__J_STR ? tg__json_str(p, jd) : "";
    if (strcmp(ds, "F32") && strcmp(ds, "F64"))
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': dtype '%.16s' (tapegrad reads F32 and F64)",
                         path, nm, ds);
    e->dtype = ds[2] == '4' ? TG_F64 : TG_F32;
    const tg__jnode *sj = &p->nodes[js];
    if (sj->type != TG__J_ARR || sj->count > TG_MAX_RANK)
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': shape is not an array of at most %d integers",
                         path, nm, TG_MAX_RANK);
    e->rank = sj->count;
    uint64_t numel = 1;
    int d = 0;
    for (int32_t q = sj->child; q >= 0; q = p->nodes[q].next, d++) {
        uint64_t v = p->nodes[q].u;
        if (p->nodes[q].type != TG__J_NUM || !p->nodes[q].is_uint || v > ((uint64_t)1 << 48) ||
            (v && numel > ((uint64_t)1 << 48) / v))
            return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: tensor '%s': shape[%d] is not a valid dimension", path,
                             nm, d);
        e->shape[d] = (int64_t)v;
        numel *= v;
    }
    const tg__jnode *oj = &p->nodes[jo];
    int ok2 = oj->type == TG__J_ARR && oj->count == 2;
    int32_t b = ok2 ? oj->child : -1, en = ok2 ? p->nodes[b].next : -1;
    if (!ok2 || p->nodes[b].type != TG__J_NUM || p->nodes[en].type != TG__J_NUM || !p->nodes[b].is_uint ||
        !p->nodes[en].is_uint ||
        p->nodes[b].u > p->nodes[en].u || p->nodes[en].u > data_len ||
        p->nodes[en].u - p->nodes[b].u != numel * (e->dtype == TG_F64 ? 8 : 4))
        return tg__error(ctx, TG_EFORMAT,
                         "checkpoint: %s: tensor '%s': data_offsets do not span its %llu values inside the %llu "
                         "data bytes",
                         path, nm, (unsigned long long)numel, (unsigned long long)data_len);
    snprintf(e->name, sizeof e->name, "%s", nm);
    return TG_OK;
}

static tg_status read_meta(tg_ctx *ctx, const char *path, tg__json *p, tg_checkpoint_info *out) {
    int32_t meta = tg__json_get(p, 0, "__metadata__");
    if (meta < 0) return TG_OK;
    if (p->nodes[meta].type != TG__J_OBJ)
        return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: __metadata__ is not an object", path);
    int32_t k = tg__json_get(p, meta, "optim.kind"), s = tg__json_get(p, meta, "optim.steps");
    if (k >= 0 && p->nodes[k].type == TG__J_STR) snprintf(out->optim, sizeof out->optim, "%s", tg__json_str(p, k));
    if (s >= 0 && p->nodes[s].type == TG__J_STR) {
        char *end;
        errno = 0;
        long long v = strtoll(tg__json_str(p, s), &end, 10);
        if (*end || errno || v < 0)
            return tg__error(ctx, TG_EFORMAT, "checkpoint: %s: optim.steps '%.32s' is not a step count", path,
                             tg__json_str(p, s));
        out->optim_steps = v;
    }
    return TG_OK;
}

tg_status tg_checkpoint_info_read(tg_ctx *ctx, const char *path, tg_checkpoint_info *out) {
    if (out) memset(out, 0, sizeof *out);
    if (!ctx) return TG_EINVAL;
    if (!out || !path || !path[0])
        return tg__error(ctx, TG_EINVAL, "checkpoint_info: %s", !out ? "out is NULL" : "no path given");
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC); /* a FIFO is refused below, never waited on */
    if (fd < 0) return tg__error(ctx, TG_EIO, "checkpoint: %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return tg__error(ctx, TG_EIO, "checkpoint: %s: not a regular file", path);
    }
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char len8[8];
    tg_status st = TG_OK;
    unsigned char *hdr = NULL;
    tg__json jp;
    memset(&jp, 0, sizeof jp);
    uint64_t hlen = 0;
    if (size < 8 || pread(fd, len8, 8, 0) != 8) {
        st = tg__error(ctx, TG_EFORMAT, "checkpoint: %s: %llu bytes, fewer than the 8 of the header length", path,
                       (unsigned long long)size);
        goto done;
    }
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)len8[i] << (8 * i);
    if (hlen < 2 || hlen > INFO_MAX_HEADER || hlen > size - 8) {
        st = tg__error(ctx, TG_EFORMAT, "checkpoint: %s: header length %llu is not in [2, %llu] inside the file", path,
                       (unsigned long long)hlen, (unsigned long long)(size - 8 < INFO_MAX_HEADER ? size - 8
                                                                                            : INFO_MAX_HEADER));
        goto done;
    }
    hdr = tg__malloc((size_t)hlen);
    if (!hdr) {
        st = tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
        goto done;
    }
    if (pread(fd, hdr, (size_t)hlen, 8) != (ssize_t)hlen) {
        st = tg__error(ctx, TG_EIO, "checkpoint: %s: read error: %s", path, strerror(errno));
        goto done;
    }
    if (tg__json_parse(&jp, hdr, (size_t)hlen) != 0) {
        st = jp.oom ? tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path)
                    : tg__error(ctx, TG_EFORMAT, "checkpoint: %s: header: %s", path, jp.err);
        goto done;
    }
    if (jp.nodes[0].type != TG__J_OBJ) {
        st = tg__error(ctx, TG_EFORMAT, "checkpoint: %s: header JSON is not an object", path);
        goto done;
    }
    int oom = 0;
    const char *dup = tg__json_dup_key(&jp, 0, &oom);
    if (oom || dup) {
        st = oom ? tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path)
                 : tg__error(ctx, TG_EFORMAT, "checkpoint: %s: header: '%s' appears twice", path, dup);
        goto done;
    }
    int n = 0;
    for (int32_t c = jp.nodes[0].child; c >= 0; c = jp.nodes[c].next) n += strcmp(tg__json_key(&jp, c), "__metadata__") != 0;
    out->entries = tg__calloc(n ? (size_t)n : 1, sizeof *out->entries);
    if (!out->entries) {
        st = tg__error(ctx, TG_ENOMEM, "checkpoint: %s: out of memory", path);
        goto done;
    }
    uint64_t data_len = size - 8 - hlen;
    for (int32_t c = jp.nodes[0].child; c >= 0 && st == TG_OK; c = jp.nodes[c].next) {
        const char *nm = tg__json_key(&jp, c);
        if (strcmp(nm, "__metadata__") == 0) continue;
        st = read_entry(ctx, path, &jp, c, nm, data_len, &out->entries[out->n]);
        if (st == TG_OK) out->n++;
    }
    if (st == TG_OK) st = read_meta(ctx, path, &jp, out);
    if (st == TG_OK) qsort(out->entries, (size_t)out->n, sizeof *out->entries, cmp_entry);
done:
    if (st != TG_OK) tg_checkpoint_info_free(out);
    tg__json_free(&jp);
    tg__free(hdr);
    close(fd);
    return st;
}
