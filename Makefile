# Thin wrapper around meson for a fresh Debian 12 machine. Idempotent; needs
# no terminal and no input. Run as root or with sudo available.
#   make demo           install packages, build, train the MLP on Fashion-MNIST
#   make test           install packages, build, run the whole test suite
#   make test-sanitize  the same suite under ASan+UBSan (build-asan/)
#   make docs           docs/api/ from the header, docs/img/*.svg graph pictures (graphviz)
#   make fuzz           build the libFuzzer targets (clang) and run each FUZZ_SECONDS (60)
#   make bench          tapegrad against PyTorch, interleaved, BENCH_THREADS (2) threads;
#                       BENCH_ARGS=--quick for a short smoke run (docs/benchmarks.md)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
# Runtime and build packages; dataset-fashion-mnist is the main job's data,
# python3-numpy reads our checkpoints back in a test, valgrind runs the
# memcheck test.
PKGS = meson ninja-build pkg-config gcc libsleef-dev libhwloc-dev zlib1g-dev libpng-dev \
       dataset-fashion-mnist python3-numpy valgrind fortunes fortunes-zh
# Only for regenerating reference fixtures and for benchmarks.
REF_PKGS = python3-torch python3-numpy
# Benchmarks: OpenBLAS, so that numpy and torch (which link libblas.so.3) get a
# tuned sgemm rather than the reference BLAS.
BENCH_PKGS = $(REF_PKGS) libopenblas0-pthread
BENCH_THREADS ?= 2
BENCH_ARGS ?=
# Only for the documentation: graph pictures (docs/img/*.svg) and docs/api/.
DOC_PKGS = graphviz python3
# Only for the fuzzers: clang and its libFuzzer/ASan/UBSan runtimes.
FUZZ_PKGS = clang libclang-rt-14-dev
MESON_OPTS ?= --buildtype=release -Dwerror=true

.PHONY: all deps setup demo test test-sanitize fuzz refs bench pictures api docs clean

all: setup

deps:
	@PKGS="$(PKGS)" sh ./.ci/apt-install

setup: deps
	@if [ -f $(BUILD)/build.ninja ]; then meson configure $(BUILD) -Dwerror=true >/dev/null; \
	 else meson setup $(BUILD) $(MESON_OPTS); fi
	ninja -C $(BUILD)

demo: setup
	./$(BUILD)/examples/mlp

test: setup
	meson test -C $(BUILD) --print-errorlogs --num-processes 2

test-sanitize: deps
	@if [ ! -f $(ASAN_BUILD)/build.ninja ]; then \
	   meson setup $(ASAN_BUILD) --buildtype=debugoptimized -Dwerror=true \
	     -Db_sanitize=address,undefined -Db_lundef=false \
	     -Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all; fi
	ninja -C $(ASAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  TG_SANITIZE=1 meson test -C $(ASAN_BUILD) --print-errorlogs --num-processes 2 --timeout-multiplier 4

# libFuzzer targets for the IDX reader and the checkpoint loader (test/fuzz/,
# ASan+UBSan); new inputs go to $(FUZZ_BUILD)/corpus-*, crashes stop it.
fuzz: deps
	@PKGS="$(FUZZ_PKGS)" sh ./.ci/apt-install
	sh test/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BUILD)

refs:
	@PKGS="$(REF_PKGS)" sh ./.ci/apt-install
	/usr/bin/python3 test/ref/make_optim_ref.py
	/usr/bin/python3 test/ref/make_mlp_ref.py > test/ref/mlp_ref.txt
	/usr/bin/python3 test/ref/make_rnn_ref.py > test/ref/rnn_ref.txt
	/usr/bin/python3 test/ref/make_conv_ref.py > test/ref/conv_ref.txt

# One line per workload, "bench <name> tapegrad=<x> torch=<y> unit=<u> ratio=<r>",
# medians of 5 interleaved repeats; also saved to $(BUILD)/bench.txt. Never a test.
bench: setup
	@PKGS="$(BENCH_PKGS)" sh ./.ci/apt-install
	/usr/bin/python3 test/bench/compare.py --build $(BUILD) --threads $(BENCH_THREADS) \
	  --save $(BUILD)/bench.txt $(BENCH_ARGS)

# docs/img/*.svg from the examples' --dot output, rendered by Graphviz.
pictures: setup
	@PKGS="$(DOC_PKGS)" sh ./.ci/apt-install
	BUILD=$(BUILD) sh docs/make_pictures.sh

# docs/api/README.md from the comments in core/tapegrad.h.
api:
	@PKGS="$(DOC_PKGS)" sh ./.ci/apt-install
	python3 docs/make_api.py

docs: api pictures

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
