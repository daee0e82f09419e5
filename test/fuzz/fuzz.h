/* fuzz.h: what the two fuzz harnesses (fuzz_idx.c, fuzz_checkpoint.c) share.
 *
 * Each harness is a function tg_fuzz_<target>_one(data, size) returning 0
 * when every invariant held (test/test_fuzz_regress.c calls it directly).
 * Built with -DTG_FUZZ_ENTRY (test/fuzz/run.sh, libFuzzer), TG_FUZZ_MAIN
 * makes it the fuzzer's entry point, aborting on a broken invariant so
 * libFuzzer records the input. */
#ifndef TG_FUZZ_H
#define TG_FUZZ_H

#include <stdint.h>
#include <stdlib.h>

#ifdef TG_FUZZ_ENTRY
#define TG_FUZZ_MAIN(one)                                           \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);   \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {  \
        if (one(data, size) != 0) abort();                          \
        return 0;                                                   \
    }
#else
#define TG_FUZZ_MAIN(one)
#endif

#endif
