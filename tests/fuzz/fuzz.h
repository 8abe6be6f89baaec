#ifndef VF_TESTS_FUZZ_FUZZ_H
#define VF_TESTS_FUZZ_FUZZ_H
/* Every fuzz target defines this (libFuzzer's entry point). The same file
 * links either with libFuzzer (make fuzz) or with replay.c, which runs the
 * seed corpus and every kept crash as a regression test (make unit). */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
