// The one pass the output scanner makes over every byte a trainer prints (OutputScanner.swift):
// ASCII-lowercasing and the table of adjacent byte pairs. In C so that the compiler may vectorize the
// lowercasing and knows the buffers do not overlap (`restrict`): the same loop in Swift reloaded its
// pointers at every byte and ran at half the speed.
#include "cvigil.h"

static inline uint8_t fold(uint8_t byte) { return (uint8_t)(byte - 'A') < 26 ? (uint8_t)(byte | 0x20) : byte; }

void cvigil_fold_pairs(const uint8_t *restrict in, uint8_t *restrict out, size_t length, uint8_t *restrict seen) {
    uint8_t block[4096];
    int previous = -1;
    for (size_t done = 0; done < length;) {
        size_t count = length - done < sizeof block ? length - done : sizeof block;
        uint8_t *restrict folded = out ? out + done : block;
        for (size_t index = 0; index < count; index++) folded[index] = fold(in[done + index]);
        if (previous >= 0) seen[(unsigned)previous << 8 | folded[0]] = 1;
        for (size_t index = 1; index < count; index++) seen[(unsigned)folded[index - 1] << 8 | folded[index]] = 1;
        previous = folded[count - 1];
        done += count;
    }
}
