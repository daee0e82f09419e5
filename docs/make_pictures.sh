#!/bin/sh
# make_pictures.sh: render the graph pictures in docs/img/ with Graphviz.
#
#   sh docs/make_pictures.sh          (or: make pictures, which installs graphviz)
#
# Each picture is the tape of one training step, written by an example's
# --dot flag after backward (edges labelled with gradient norms) and
# rendered with `dot -Tsvg`. Tiny configurations keep the graphs readable:
# the structure does not depend on the layer sizes. Needs a build in $BUILD
# (default: build) and the data set for mlp. Deterministic: the seed is fixed
# and one thread is used.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
DATA=${TG_DATA:-/usr/share/datasets/fashion-mnist}

command -v dot >/dev/null 2>&1 ||
    { echo "make_pictures.sh: Graphviz's dot is not installed (apt-get install graphviz, or make pictures)" >&2; exit 1; }
for ex in mlp treenn; do
    [ -x "$BUILD/examples/$ex" ] ||
        { echo "make_pictures.sh: $BUILD/examples/$ex is not built (ninja -C $BUILD)" >&2; exit 1; }
done

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM
mkdir -p docs/img
export TG_PROGRESS=0

# render NAME: $TMP/NAME.dot -> docs/img/NAME.svg
render() {
    dot -Tsvg "$TMP/$1.dot" -o "docs/img/$1.svg"
    echo "wrote docs/img/$1.svg"
}

# The MLP of chapter 2: 784-16-10, ReLU, softmax cross-entropy.
"$BUILD/examples/mlp" --data "$DATA" --hidden 16 --limit 200 --epochs 1 --threads 1 \
    --dot "$TMP/mlp_tape.dot" >/dev/null
render mlp_tape

# The same net with two hidden layers, sigmoid units and the lecture's
# squared error on sigmoid outputs: the one-hot target and the 1/B scale
# appear as inputs.
"$BUILD/examples/mlp" --data "$DATA" --hidden 16,8 --act sigmoid --loss mse --limit 200 --epochs 1 \
    --threads 1 --dot "$TMP/mlp_mse_tape.dot" >/dev/null
render mlp_mse_tape

# The recursive net of chapter 5: one small tree of the test set on its own
# tape; the shared parameters tree.W and tree.b feed every internal node.
"$BUILD/examples/treenn" --dim 4 --epochs 1 --train 50 --test 5 --threads 1 \
    --dot "$TMP/treenn_tape.dot" >/dev/null
render treenn_tape
