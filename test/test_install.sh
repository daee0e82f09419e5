#!/bin/sh
# test_install.sh: install the build into a temporary prefix and use it the
# way someone outside this tree would.
#
#   1. meson install --destdir TMP: the shared and static library, tapegrad.h,
#      tapegrad.pc and the example programs must all land under the prefix,
#      the programs in libexec/tapegrad/ with tapegrad-<name> symlinks in
#      bin/ (and no generic name such as bin/mlp), one of them run through
#      its symlink; libtapegrad.so must export every function tapegrad.h
#      names and no tg__ internal (nm -D);
#   2. a small program written here, in TMP, is compiled with
#      cc prog.c $(pkg-config --cflags --libs tapegrad) and run against the
#      installed shared library (LD_LIBRARY_PATH): it trains nothing, but
#      records tanh on a tape, runs backward and checks the gradient, and
#      prints the compile-time (TG_VERSION_*) and run-time (tg_version())
#      versions, which must equal the installed pkg-config version;
#   3. the same program linked statically against libtapegrad.a with
#      pkg-config --static, and run without LD_LIBRARY_PATH;
#   4. the "small example" from README.md, cut out of the README as it
#      stands, compiled the same way and run: it must build warning-free and
#      exit 0, so the README cannot drift from the API.
#
# Needs TG_BUILDDIR (set by meson test), meson, pkg-config and cc on PATH.
# Exit 0 pass, 1 fail.
set -eu

BUILD=${TG_BUILDDIR:?TG_BUILDDIR is not set (run through meson test)}
CC=${CC:-cc}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tg-install.XXXXXX")
trap 'rm -rf "$TMP"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

for tool in meson pkg-config "$CC"; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found on PATH"
done

# Sanitizer builds: the installed library needs the same runtime in the program.
SAN=$(meson introspect --buildoptions "$BUILD" | python3 -c '
import json, sys
print(next((o["value"] for o in json.load(sys.stdin) if o["name"] == "b_sanitize"), "none"))')
EXTRA=""
[ "$SAN" != "none" ] && EXTRA="-fsanitize=$SAN"

# 1. install
meson install -C "$BUILD" --no-rebuild --destdir "$TMP/root" >"$TMP/install.log" 2>&1 ||
    { cat "$TMP/install.log" >&2; fail "meson install failed"; }
PC=$(find "$TMP/root" -name tapegrad.pc | head -n 1)
[ -n "$PC" ] || fail "tapegrad.pc was not installed"
PCDIR=$(dirname "$PC")
PREFIX=$(PKG_CONFIG_PATH="$PCDIR" pkg-config --variable=prefix tapegrad)
ROOT="$TMP/root$PREFIX"
LIBDIR=$(PKG_CONFIG_PATH="$PCDIR" pkg-config --define-variable=prefix="$ROOT" --variable=libdir tapegrad)
[ -f "$ROOT/include/tapegrad.h" ] || fail "tapegrad.h not installed under $ROOT/include"
[ -f "$LIBDIR/libtapegrad.a" ] || fail "libtapegrad.a not installed in $LIBDIR"
ls "$LIBDIR"/libtapegrad.so.* >/dev/null 2>&1 || fail "libtapegrad.so.* not installed in $LIBDIR"
[ -L "$LIBDIR/libtapegrad.so" ] || fail "libtapegrad.so (the link-time symlink) not installed"
for ex in gradcheck mlp perceptron linear_unit custom_op char_rnn treenn autoencoder vae gan lenet5 cnn tabular; do
    [ -x "$ROOT/libexec/tapegrad/$ex" ] || fail "example $ex not installed in $ROOT/libexec/tapegrad"
    [ -L "$ROOT/bin/tapegrad-$ex" ] || fail "no symlink $ROOT/bin/tapegrad-$ex"
    [ -x "$ROOT/bin/tapegrad-$ex" ] || fail "$ROOT/bin/tapegrad-$ex does not lead to an executable"
    [ -e "$ROOT/bin/$ex" ] && fail "a generic name landed on PATH: $ROOT/bin/$ex"
done
# the symlinks work where the tree is unpacked (relative links): run one
"$ROOT/bin/tapegrad-perceptron" --help >/dev/null 2>&1 || fail "tapegrad-perceptron --help failed"
echo "installed under $ROOT: $(cd "$ROOT" && find . -type f -o -type l | sort | tr '\n' ' ')"

# the shared library exports the public API and nothing of the internals:
# every tg_ function the installed header names, and no tg__ symbol
SO=$(ls "$LIBDIR"/libtapegrad.so.*.*.* | head -n 1)
nm -D --defined-only "$SO" | awk '{print $3}' | sort -u >"$TMP/exported.txt"
[ -s "$TMP/exported.txt" ] || fail "nm -D found no symbols in $SO"
if grep -q '^tg__' "$TMP/exported.txt"; then
    fail "internal symbols exported from $SO: $(grep '^tg__' "$TMP/exported.txt" | head -n 5 | tr '\n' ' ')"
fi
grep -o 'tg_[a-z][a-z0-9_]*(' "$ROOT/include/tapegrad.h" | tr -d '(' | sort -u >"$TMP/declared.txt"
MISSING=$(comm -23 "$TMP/declared.txt" "$TMP/exported.txt")
[ -z "$MISSING" ] || fail "functions of tapegrad.h not exported from $SO: $(echo $MISSING | head -c 300)"
echo "exports: $(wc -l <"$TMP/exported.txt") symbols, all $(wc -l <"$TMP/declared.txt") functions of tapegrad.h, no tg__"

pc() { PKG_CONFIG_PATH="$PCDIR" pkg-config --define-variable=prefix="$ROOT" "$@" tapegrad; }
VERSION=$(pc --modversion)

# 2. an outside program, dynamic
mkdir "$TMP/user"
cat >"$TMP/user/prog.c" <<'EOF'
#include <tapegrad.h>

#include <math.h>
#include <stdio.h>

#define STR_(x) #x
#define STR(x) STR_(x)

int main(void) {
    tg_ctx *ctx = tg_ctx_new(NULL);
    if (!ctx) return 1;
    int64_t shape[1] = {3};
    tg_tensor *w = tg_param_new(ctx, "w", TG_F64, 1, shape);
    for (int i = 0; i < 3; i++) tg_set(w, i, 0.5 * i - 0.5);
    tg_tape *tape = tg_tape_begin(ctx);
    tg_tensor *loss = tg_sum(tg_tanh(w), 0, NULL, 0); /* dL/dw = 1 - tanh² w */
    int ok = loss && tg_backward(loss) == TG_OK;
    for (int i = 0; ok && i < 3; i++) {
        double t = tanh(tg_get(w, i));
        ok = fabs(tg_grad_get(w, i) - (1 - t * t)) < 1e-12;
    }
    tg_tape_end(tape);
    if (!ok) fprintf(stderr, "prog: wrong gradient: %s\n", tg_last_error(ctx));
    printf("%s %s\n", STR(TG_VERSION_MAJOR) "." STR(TG_VERSION_MINOR) "." STR(TG_VERSION_PATCH), tg_version());
    tg_ctx_free(ctx);
    return ok ? 0 : 1;
}
EOF
cd "$TMP/user"
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Wextra -Werror $EXTRA -o prog prog.c $(pc --cflags --libs) -lm ||
    fail "cc prog.c \$(pkg-config --cflags --libs tapegrad) failed"
OUT=$(LD_LIBRARY_PATH="$LIBDIR" ./prog) || fail "the dynamically linked program failed"
[ "$OUT" = "$VERSION $VERSION" ] ||
    fail "versions: TG_VERSION_* and tg_version() print '$OUT', pkg-config (meson) says $VERSION"
if command -v ldd >/dev/null 2>&1; then
    LD_LIBRARY_PATH="$LIBDIR" ldd ./prog | grep -q "$LIBDIR/libtapegrad.so" ||
        fail "prog does not load the installed libtapegrad.so"
fi
echo "dynamic: cc prog.c \$(pkg-config --cflags --libs tapegrad) -> versions '$OUT'"

# 3. static: libtapegrad.a plus its private dependencies from pkg-config --static
STATIC=$(pc --static --libs | sed 's/-ltapegrad/-Wl,-Bstatic -ltapegrad -Wl,-Bdynamic/')
# shellcheck disable=SC2046,SC2086
$CC -std=c11 -Wall -Wextra -Werror $EXTRA -o prog_static prog.c $(pc --cflags) $STATIC -lm ||
    fail "static link with pkg-config --static failed"
OUT=$(env -u LD_LIBRARY_PATH ./prog_static) || fail "the statically linked program failed"
[ "$OUT" = "$VERSION $VERSION" ] || fail "static: versions '$OUT', want '$VERSION $VERSION'"
if command -v ldd >/dev/null 2>&1 && ldd ./prog_static | grep -q libtapegrad; then
    fail "prog_static still needs libtapegrad.so"
fi
echo "static: pkg-config --static --libs -> versions '$OUT'"

# 4. the README's small example
SRC=${TG_SRCDIR:?TG_SRCDIR is not set (run through meson test)}
sed -n '/^## A small example/,/^## /p' "$SRC/README.md" | sed -n '/^```c$/,/^```$/p' | sed '1d;$d' >readme.c
[ -s readme.c ] || fail "no C block found under '## A small example' in README.md"
# shellcheck disable=SC2046
$CC -std=c11 -Wall -Wextra -Werror $EXTRA -o readme readme.c $(pc --cflags --libs) -lm ||
    fail "the README's small example does not compile against the installed library"
LD_LIBRARY_PATH="$LIBDIR" ./readme || fail "the README's small example exited $?"
echo "README example: $(wc -l <readme.c) lines, compiled and ran"
echo "test_install: all passed"
