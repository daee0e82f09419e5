#!/bin/sh
# Every example's `result:` line from short fixed runs, timing fields removed,
# so a refactor can be shown to change no behaviour (issue 14):
#   sh test/result_lines.sh build > before.txt; ...; sh test/result_lines.sh build > after.txt
#   diff before.txt after.txt
# Needs Fashion-MNIST (dataset-fashion-mnist) and fortunes. Not a test: a
# behaviour change that is intended shows up here too.
B=$(cd "${1:-build}/examples" && pwd)
# Examples write pictures into the current directory by default.
cd "$(mktemp -d)" || exit 1
F=/usr/share/games/fortunes/fortunes
run() { printf '%s: ' "$*"; "$B/$@" 2>/dev/null | grep '^result' | sed -E 's/ (seconds|samples_per_s|tokens_per_s|trees_per_s|ms_per_step)=[^ ]*//g'; }
run perceptron
run perceptron --steps 300
run linear_unit
run gradcheck
run custom_op
run mlp --epochs 1 --limit 5000 --threads 1
run mlp --epochs 1 --limit 5000 --act sigmoid --loss mse --threads 1
run mlp --epochs 2 --limit 3000 --optim adam --hidden 64,32 --threads 2
run lenet5 --epochs 1 --limit 2000 --threads 1
run cnn --epochs 1 --limit 2000 --threads 1
run char_rnn --text $F --cell lstm --hidden 32 --seq 16 --batch 8 --steps 60 --sample 40 --threads 1
run char_rnn --text $F --cell gru --hidden 32 --seq 16 --batch 8 --steps 60 --sample 40 --threads 1
run treenn --train 800 --test 300 --epochs 4 --dim 24 --threads 1
run autoencoder --epochs 1 --limit 2000 --threads 1
run vae --epochs 1 --limit 2000 --threads 1
run gan --data ring --epochs 2 --threads 1
run gan --epochs 1 --limit 2000 --threads 1
run autoencoder --epochs 1 --limit 2000 --threads 1 --stacked
