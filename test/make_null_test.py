#!/usr/bin/env python3
"""make_null_test.py HEADER OUT.c: generate the NULL-argument test (issue 21).

Parses every function prototype of core/tapegrad.h and writes a C program
that calls each function with NULL arguments: each pointer argument NULL in
turn with the others valid, then every pointer argument NULL at once (a
function without pointer arguments is called once with valid ones), and
each layer, state, IDX or dataset struct argument zeroed (its pointer fields
NULL: never initialized, or after its _free) with the others valid. Each
call runs in a forked child, so a crash, a sanitizer abort or a hang is
reported by the function's name and the arguments that were NULL, and the
test fails on any of them.

A function the generator cannot call (an argument type it has no valid value
for) must be listed in EXCLUDED with a reason; a function that is neither
callable nor excluded, a name in EXCLUDED that is not in the header, and a
header function the prototype parser missed (checked against a plain scan of
every `tg_x(` in the declarations) each become a failure of the generated
program, so a new function in the header cannot slip past the test.

With every pointer argument NULL, a function returning tg_status must return
an error and one returning a pointer (other than a string) NULL, unless
ALL_NULL_SUCCEEDS names it with the reason its comment gives.
"""
import re
import sys

# Functions the test does not call, each with the reason.
EXCLUDED = {
    # None at present: every header function is called. An entry looks like
    # "tg_name": "why it cannot be called with NULL arguments here",
}

# Valid values for each argument type (const and spacing normalized away).
# The setup in the generated program makes each of these.
VALID = {
    "tg_ctx *": "ctx",
    "tg_tensor *": "T",
    "tg_tensor **": "TA",
    "tg_tensor *const *": "TA",
    "tg_tape *": "tape",
    "tg_node *": "node",
    "tg_op_def *": "op_add",
    "void *": "BUF",
    "double *": "DBUF",
    "float *": "FBUF",
    "int64_t *": "I64BUF",
    "int *": "IBUF",
    "int32_t *": "I32BUF",
    "uint8_t *": "U8BUF",
    "char *": "CBUF",
    "FILE *": "devnull",
    "tg_allocator *": "&ALLOC",
    "tg_config *": "&cfg",
    "tg_dense *": "&dense",
    "tg_conv2d_layer *": "&conv",
    "tg_conv_opts *": "&copts",
    "tg_cell *": "&cell",
    "tg_rnn_state *": "&st",
    "tg_rnn *": "&rnn",
    "tg_rnn_carry *": "&carry",
    "tg_tree_layer *": "&tree",
    "tg_check_opts *": "&chk",
    "tg_check_report *": "&rep",
    "tg_optim *": "opt",
    "tg_optim_config *": "&ocfg",
    "tg_idx *": "&idx",
    "tg_dataset *": "&ds",
    "tg_table *": "&table",
    "tg_checkpoint_info *": "&ckinfo",
    "tg_dot_opts *": "&dopts",
    "tg_scalar_fn": "scalar_fn",
    # not pointers
    "int": "2",
    "int64_t": "2",
    "size_t": "16",
    "uint64_t": "1",
    "uint32_t": "1",
    "unsigned": "1",
    "double": "0.5",
    "tg_dtype": "TG_F64",
    "tg_status": "TG_EINVAL",
    "tg_reduction": "TG_MEAN",
    "tg_optim_kind": "TG_OPT_SGD",
    "tg_cell_kind": "TG_CELL_LSTM",
    "tg_init_kind": "TG_INIT_XAVIER",
}
POINTER_TYPEDEFS = {"tg_scalar_fn"}
# Structs whose pointer fields may be NULL: a layer never initialized, or
# after its _free. Each is also passed zeroed (every field 0, every pointer
# in it NULL), the others valid.
ZEROED = {
    "tg_dense *": "&Z.dense",
    "tg_conv2d_layer *": "&Z.conv",
    "tg_cell *": "&Z.cell",
    "tg_rnn_state *": "&Z.st",
    "tg_rnn *": "&Z.rnn",
    "tg_rnn_carry *": "&Z.carry",
    "tg_tree_layer *": "&Z.tree",
    "tg_idx *": "&Z.idx",
    "tg_dataset *": "&Z.ds",
    "tg_table *": "&Z.table",
    "tg_checkpoint_info *": "&Z.ckinfo",
}

# With every pointer argument NULL a function returning tg_status must
# return an error and one returning a pointer NULL (a child exits 3
# otherwise), except these, whose comments say why NULL is a success.
ALL_NULL_SUCCEEDS = {
    "tg_ctx_new": "NULL cfg means tg_config_default()",
    "tg_tape_end": "NULL is a no-op returning TG_OK (cleanup after a failed tg_tape_begin)",
}

# Strings by parameter name: a path that cannot be opened or created, a
# format without conversions, a shape list an op accepts.
STRINGS = {
    "path": '"/nonexistent-tg-null-test/f"',
    "dir": '"/nonexistent-tg-null-test"',
    "fmt": '"null test"',
    "shapes": '"2,2;2,2"',
    "split": '"train"',
    "file": '"null_test.c"',
}


def strip_header(text):
    """Comments removed, __cplusplus blocks and preprocessor lines dropped."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"\\\n", " ", text)
    out, skip = [], 0
    for line in text.split("\n"):
        s = line.strip()
        if s.startswith("#"):
            d = s[1:].strip()
            if skip:
                if d.startswith("if"):
                    skip += 1
                elif d.startswith("endif"):
                    skip -= 1
            elif d.startswith("ifdef __cplusplus"):
                skip = 1
            continue
        if not skip:
            out.append(line)
    text = "\n".join(out)
    return re.sub(r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)", " ", text)


def drop_braces(text):
    """Every {...} block (struct and enum bodies) replaced by {}."""
    out, depth = [], 0
    for ch in text:
        if ch == "{":
            if depth == 0:
                out.append("{")
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                out.append("}")
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def norm_type(t):
    t = re.sub(r"\bconst\b", " ", t)
    t = re.sub(r"\s+", " ", t).strip()
    t = re.sub(r"\s*\*\s*", " *", t).replace("* *", "**")
    # "tg_tensor *const *" lost its const: restore the distinction
    return t


def parse_param(p):
    p = p.strip()
    if p == "void":
        return None
    if p == "...":
        return ("...", "...")
    m = re.match(r"^(.*?)([A-Za-z_]\w*)$", p)
    if not m:
        raise ValueError("cannot parse parameter: " + p)
    typ, name = m.group(1), m.group(2)
    raw = re.sub(r"\s+", " ", typ).strip()
    if re.search(r"\*\s*const\s*\*", raw):
        return ("tg_tensor *const *" if raw.startswith("tg_tensor") else norm_type(raw), name)
    return (norm_type(raw), name)


def parse(text):
    body = drop_braces(strip_header(text))
    protos = []
    for decl in body.split(";"):
        d = re.sub(r"\s+", " ", decl).strip()
        d = re.sub(r'^extern "C" \{\}?', "", d).strip()
        if not d or d.startswith(("typedef", "struct", "enum", "}")):
            continue
        m = re.match(r"^(.*?)\b(tg_[a-z]\w*)\s*\((.*)\)$", d)
        if not m:
            continue
        try:
            params = [x for x in (parse_param(p) for p in m.group(3).split(",")) if x]
        except ValueError:
            continue  # reported below: in the scan, not among the parsed
        protos.append((m.group(2), m.group(1).strip(), params))
    # Every "tg_x(" in the declarations, found without parsing them.
    scan = set(re.findall(r"\b(tg_[a-z]\w*)\s*\(", body))
    return protos, scan


def is_pointer(typ):
    return "*" in typ or typ in POINTER_TYPEDEFS


def valid_value(typ, name):
    if typ == "char *" and name not in ("buf",):
        return STRINGS.get(name, '"nulltest"')
    return VALID.get(typ)


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    header, out_path = sys.argv[1], sys.argv[2]
    with open(header, encoding="utf-8") as f:
        protos, scan = parse(f.read())
    names = {p[0] for p in protos}
    problems = []
    for n in sorted(scan - names):
        problems.append("%s: in the header but its prototype was not parsed" % n)
    for n in sorted(set(EXCLUDED) - names):
        problems.append("%s: listed in EXCLUDED but not in the header" % n)
    for n in sorted(set(ALL_NULL_SUCCEEDS) - names):
        problems.append("%s: listed in ALL_NULL_SUCCEEDS but not in the header" % n)

    calls = []  # (function, description, C call)
    called = set()
    for name, ret, params in protos:
        if name in EXCLUDED:
            continue
        if any(t == "..." for t, _ in params):
            params = [p for p in params if p[0] != "..."]
        vals = [valid_value(t, n) for t, n in params]
        missing = [("%s %s" % (t, n)) for (t, n), v in zip(params, vals) if v is None]
        if missing:
            problems.append("%s: neither called nor excluded (no valid value for %s)"
                            % (name, ", ".join(missing)))
            continue
        ptrs = [i for i, (t, _) in enumerate(params) if is_pointer(t)]
        variants = [[i] for i in ptrs]
        if len(ptrs) > 1:
            variants.append(ptrs)
        if not ptrs:
            variants = [[]]
        for nulls in variants:
            args = ["NULL" if i in nulls else v for i, v in enumerate(vals)]
            shown = ", ".join("NULL" if i in nulls else n for i, (t, n) in enumerate(params))
            call = "(%s)(%s)" % (name, ", ".join(args))
            # All NULL: a status must be an error, a pointer NULL.
            if nulls and len(nulls) == len(ptrs) and name not in ALL_NULL_SUCCEEDS:
                if ret == "tg_status":
                    call = "_exit((%s) == TG_OK ? 3 : 0)" % call
                elif ret.endswith("*") and not ret.startswith("const char"):
                    call = "_exit((%s) != NULL ? 3 : 0)" % call
            calls.append((name, "%s(%s)" % (name, shown), call))
        for z, (t, _) in enumerate(params):
            if t in ZEROED:
                args = [ZEROED[t] if i == z else v for i, v in enumerate(vals)]
                shown = ", ".join("&zeroed" if i == z else n for i, (t, n) in enumerate(params))
                calls.append((name, "%s(%s)" % (name, shown), "(%s)(%s)" % (name, ", ".join(args))))
        called.add(name)

    o = []
    o.append("/* Generated by test/make_null_test.py from core/tapegrad.h: do not edit. */")
    o.append('#include "tapegrad.h"')
    o.append('#include "testlib.h"')
    o.append("#include <signal.h>")
    o.append("#include <stdalign.h>")
    o.append("")
    o.append("static tg_ctx *ctx;")
    o.append("static tg_tape *tape;")
    o.append("static tg_tensor *T, *TA[16];")
    o.append("static tg_node *node;")
    o.append("static const tg_op_def *op_add;")
    o.append("static alignas(64) unsigned char BUF[1 << 16];")
    o.append("static double DBUF[4096];")
    o.append("static float FBUF[4096];")
    o.append("static int64_t I64BUF[64];")
    o.append("static int IBUF[64];")
    o.append("static int32_t I32BUF[64];")
    o.append("static uint8_t U8BUF[4096];")
    o.append("static char CBUF[256];")
    o.append("static FILE *devnull;")
    o.append("static void *null_alloc(size_t size, void *user) { (void)user; return malloc(size); }")
    o.append("static void null_release(void *p, void *user) { (void)user; free(p); }")
    o.append("static tg_allocator ALLOC = {null_alloc, null_release, NULL};")
    o.append("static tg_config cfg;")
    o.append("static tg_dense dense;")
    o.append("static tg_conv2d_layer conv;")
    o.append("static tg_conv_opts copts;")
    o.append("static tg_cell cell;")
    o.append("static tg_rnn_state st;")
    o.append("static tg_rnn rnn;")
    o.append("static tg_rnn_carry carry;")
    o.append("static tg_tree_layer tree;")
    o.append("static tg_check_opts chk;")
    o.append("static tg_check_report rep;")
    o.append("static tg_optim *opt;")
    o.append("static tg_optim_config ocfg;")
    o.append("static tg_idx idx;")
    o.append("static tg_dataset ds;")
    o.append("static tg_table table;")
    o.append("static tg_checkpoint_info ckinfo;")
    o.append("static tg_dot_opts dopts;")
    o.append("static struct {")
    o.append("    tg_dense dense; tg_conv2d_layer conv; tg_cell cell; tg_rnn_state st; tg_rnn rnn;")
    o.append("    tg_rnn_carry carry; tg_tree_layer tree; tg_idx idx; tg_dataset ds;")
    o.append("    tg_table table; tg_checkpoint_info ckinfo;")
    o.append("} Z; /* zeroed structs */")
    o.append("static tg_tensor *scalar_fn(tg_ctx *c, tg_tensor **in, int n, void *user) {")
    o.append("    (void)c; (void)n; (void)user;")
    o.append("    return (tg_sum)(in[0], 0, NULL, 0);")
    o.append("}")
    o.append("")
    o.append("static const char *const problems[] = {")
    for p in problems:
        o.append("    %s," % c_str(p))
    o.append("    NULL};")
    o.append("static const char *const excluded[][2] = {")
    for n, why in sorted(EXCLUDED.items()):
        o.append("    {%s, %s}," % (c_str(n), c_str(why)))
    o.append("    {NULL, NULL}};")
    o.append("")
    for i, (_, _, call) in enumerate(calls):
        o.append("static void call_%d(void) { (void)%s; }" % (i, call))
    o.append("")
    o.append("static const struct { const char *fn, *what; void (*call)(void); } calls[] = {")
    for i, (fn, what, _) in enumerate(calls):
        o.append("    {%s, %s, call_%d}," % (c_str(fn), c_str(what), i))
    o.append("};")
    o.append("#define N_CALLS ((int)(sizeof calls / sizeof calls[0]))")
    o.append("#define N_FUNCTIONS %d" % len(called))
    o.append("#define N_HEADER %d" % len(names))
    o.append("")
    o.append(SETUP_AND_MAIN)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(o) + "\n")


SETUP_AND_MAIN = r"""
/* Valid arguments: one thread (no pool, so fork() copies a whole library
 * state), an active tape with a recorded node, and one of each layer. */
static int setup(void) {
    tg_config c = tg_config_default();
    c.threads = 1;
    c.anomaly = 0;
    cfg = c;
    (void)ALLOC; /* only ever passed as NULL (tg_set_allocator's one argument) */
    ctx = tg_ctx_new(&c);
    if (!ctx) return 0;
    for (int i = 0; i < 64; i++) I64BUF[i] = 2;
    int64_t sh[2] = {2, 2};
    T = tg_tensor_new(ctx, TG_F64, 2, sh);
    if (!T || tg_tensor_requires_grad(T, 1) != TG_OK) return 0;
    for (int i = 0; i < 16; i++) TA[i] = T;
    op_add = tg_op_find("add");
    if (tg_dense_init(&dense, ctx, "dense", 2, 2, TG_F64, TG_INIT_XAVIER) != TG_OK) return 0;
    if (tg_conv2d_layer_init(&conv, ctx, "conv", 1, 2, 1, 1, NULL, TG_F64, TG_INIT_XAVIER) != TG_OK) return 0;
    if (tg_cell_init(&cell, ctx, "cell", TG_CELL_LSTM, 2, 2, TG_F64) != TG_OK) return 0;
    if (tg_rnn_init(&rnn, ctx, "rnn", TG_CELL_LSTM, 2, 2, 1, 0, TG_F64) != TG_OK) return 0;
    if (tg_rnn_carry_init(&carry, &rnn, ctx, 2) != TG_OK) return 0;
    if (tg_tree_layer_init(&tree, ctx, "tree", 2, TG_F64) != TG_OK) return 0;
    ocfg = tg_optim_defaults(TG_OPT_SGD);
    opt = tg_optim_new(ctx, &ocfg, NULL, 0);
    if (!opt) return 0;
    devnull = fopen("/dev/null", "w");
    if (!devnull) return 0;
    tape = tg_tape_begin(ctx);
    if (!tape) return 0;
    tg_tensor *y = (tg_sum)((tg_mul)(T, T), 0, NULL, 0);
    if (!y || !y->node) return 0;
    node = y->node;
    if (tg_rnn_state_zeros(&cell, ctx, 2, &st) != TG_OK) return 0;
    return 1;
}

int main(void) {
    for (int i = 0; problems[i]; i++) FAILF("%s", problems[i]);
    for (int i = 0; excluded[i][0]; i++) printf("excluded: %s: %s\n", excluded[i][0], excluded[i][1]);
    if (!setup()) {
        FAILF("setup failed: %s", tg_ctx_last_error(ctx));
        return tl_summary();
    }
    fflush(stdout);
    int crashed = 0;
    for (int i = 0; i < N_CALLS; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            FAILF("fork: %s", strerror(errno));
            break;
        }
        if (pid == 0) {
            alarm(30);
            calls[i].call();
            _exit(0);
        }
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        if (WIFSIGNALED(status)) {
            int sig = WTERMSIG(status);
            crashed++;
            FAILF("%s: %s: killed by signal %d%s", calls[i].fn, calls[i].what, sig,
                  sig == SIGALRM ? " (a hang: 30 s)" : sig == SIGSEGV ? " (SIGSEGV)" : "");
        } else if (WEXITSTATUS(status) == 3) {
            FAILF("%s: %s: succeeded with every pointer argument NULL", calls[i].fn, calls[i].what);
        } else if (WEXITSTATUS(status) != 0) {
            crashed++;
            FAILF("%s: %s: exit status %d (a sanitizer report?)", calls[i].fn, calls[i].what,
                  WEXITSTATUS(status));
        } else {
            tl_pass++;
        }
    }
    /* Proof that the sweep saw the header: every function called or
     * excluded, and a floor on the count. */
    int n_excluded = 0;
    while (excluded[n_excluded][0]) n_excluded++;
    CHECK(N_FUNCTIONS + n_excluded == N_HEADER, "%d called + %d excluded != %d in the header",
          N_FUNCTIONS, n_excluded, N_HEADER);
    CHECK(N_HEADER >= 150, "only %d functions parsed from the header", N_HEADER);
    printf("null_args: %d functions of %d in the header called (%d excluded), %d calls, %d crashed\n",
           N_FUNCTIONS, N_HEADER, n_excluded, N_CALLS, crashed);
    tg_tape_end(tape);
    tg_rnn_carry_free(&carry);
    tg_optim_free(opt);
    tg_conv2d_layer_free(&conv);
    tg_tensor_free(T);
    fclose(devnull);
    tg_ctx_free(ctx);
    return tl_summary();
}
"""

if __name__ == "__main__":
    main()
