#!/bin/sh
# Build the libFuzzer targets with clang (ASan + UBSan, coverage on the whole
# library) and run each for a given time. Used by `make fuzz`.
#
#   test/fuzz/run.sh [SECONDS] [BUILD_DIR]     build, then run each target
#   test/fuzz/run.sh --build-only [BUILD_DIR]  build only
#   test/fuzz/run.sh --seeds [BUILD_DIR]       (re)write the seed corpora
#
# New inputs found go to BUILD_DIR/corpus-<target> (the committed seeds in
# test/fuzz/corpus/ are read, never written); a crash is saved as
# BUILD_DIR/crash-<target>-*, and the script exits 1 and says how to turn it
# into a regression input (test/fuzz/regress/<target>/, replayed by
# test/test_fuzz_regress.c). Each target's final libFuzzer line (exec count,
# coverage) is printed and appended to BUILD_DIR/fuzz.log.
set -eu
cd "$(dirname "$0")/../.."
mode=run
case "${1:-}" in
--build-only) mode=build; shift ;;
--seeds) mode=seeds; shift ;;
esac
SECONDS_PER_TARGET=60
if [ "$mode" = run ] && [ $# -gt 0 ]; then SECONDS_PER_TARGET=$1; shift; fi
OUT=${1:-build-fuzz}
CC=${FUZZ_CC:-clang}
mkdir -p "$OUT/obj"

# The library's sources, from meson.build (the one list of them: one per
# layer, core_sources, ops_sources and graph_sources).
SRCS=$(sed -n -E '/^(core|ops|graph)_sources = files\(/,/^\)/p' meson.build | grep -o "'[^']*\.c'" | tr -d "'")
[ -n "$SRCS" ] || { echo "run.sh: no library sources found in meson.build" >&2; exit 1; }
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -fno-math-errno -march=x86-64-v3 -fno-omit-frame-pointer
  -fsanitize=address,undefined -fno-sanitize-recover=all -Icore -Iops -Igraph
  $(pkg-config --cflags hwloc libpng zlib)"
LIBS="$(pkg-config --libs hwloc libpng zlib) -lsleef -lm -lpthread"

# Compile the library with coverage for libFuzzer (two jobs at a time).
objs=""
newest_h=$(ls -t core/*.h ops/*.h graph/*.h 2>/dev/null | head -1)
for s in $SRCS; do
    o="$OUT/obj/$(echo "$s" | tr / _).o"
    objs="$objs $o"
    if [ ! -f "$o" ] || [ "$s" -nt "$o" ] || [ "$newest_h" -nt "$o" ]; then
        echo "$CC -c $s"
        $CC $CFLAGS -fsanitize=fuzzer-no-link -c "$s" -o "$o" &
        [ "$(jobs -p | wc -l)" -lt 2 ] || wait
    fi
done
wait
for t in idx checkpoint; do
    $CC $CFLAGS -fsanitize=fuzzer -DTG_FUZZ_ENTRY test/fuzz/fuzz_$t.c $objs $LIBS -o "$OUT/fuzz_$t"
done
echo "built $OUT/fuzz_idx $OUT/fuzz_checkpoint"

if [ "$mode" = seeds ]; then
    python3 test/fuzz/make_seeds.py
    TG_FUZZ_WRITE_SEEDS=test/fuzz/corpus/checkpoint "$OUT/fuzz_checkpoint" -runs=1 test/fuzz/corpus/checkpoint/hand_len_only
    ls test/fuzz/corpus/idx test/fuzz/corpus/checkpoint
    exit 0
fi
[ "$mode" = build ] && exit 0

status=0
for t in idx checkpoint; do
    mkdir -p "$OUT/corpus-$t"
    log="$OUT/fuzz_$t.log"
    echo "== fuzz_$t: $SECONDS_PER_TARGET s"
    start=$(date +%s)
    if ASAN_OPTIONS=detect_leaks=1 "$OUT/fuzz_$t" "$OUT/corpus-$t" "test/fuzz/corpus/$t" \
        -dict="test/fuzz/$t.dict" -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/crash-$t-" >"$log" 2>&1; then
        rc=0
    else
        rc=$?
    fi
    end=$(date +%s)
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    line="fuzz_$t: $((end - start)) s, $execs executions, exit $rc; $last"
    echo "$line"
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $line" >>"$OUT/fuzz.log"
    if [ $rc -ne 0 ]; then
        status=1
        tail -40 "$log"
        echo "fuzz_$t found a crash: copy $OUT/crash-$t-* to test/fuzz/regress/$t/ (keep the name),"
        echo "fix the bug, and check that test/test_fuzz_regress.c replays it."
    fi
done
exit $status
