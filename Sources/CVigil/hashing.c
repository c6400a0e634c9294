// SHA-256 with the x86 SHA extensions, CRC-32 (gzip's), copy_file_range, early writeback: the speed `vigil checkpoints
// export` and `verify` need to keep up with the disk (docs/design.md, "Export"). Everything here has a
// portable fallback: the Swift SHA-256 in VigilCore, a table CRC (slicing-by-8), read/write.
#define _GNU_SOURCE
#include "cvigil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
#include <cpuid.h>
#include <immintrin.h>
#define CVIGIL_SHA_NI 1
#endif

#if defined(CVIGIL_SHA_NI)
static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

__attribute__((target("sha,sse4.1,ssse3")))
static void sha256_blocks_ni(uint32_t state[8], const uint8_t *data, size_t blocks) {
    const __m128i byte_swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    // The instructions keep the state as ABEF and CDGH.
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1);   // CDAB
    __m128i state1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B); // EFGH
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);                                       // ABEF
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);                                            // CDGH
    // Written out group by group, not as a loop over g: clang -O2 keeps a loop over the 16 groups (and
    // the w[g & 3] indexing), which measured 1.2 GB/s here; unrolled it runs at OpenSSL's speed (1.4 GB/s).
    for (size_t block = 0; block < blocks; block++, data += 64) {
        const __m128i abef = state0, cdgh = state1;
        __m128i w0, w1, w2, w3, message;  // W[4g..4g+3] of the last four groups, by g mod 4
#define CVIGIL_LOAD(w, g) w = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * (g))), byte_swap)
// W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], four at a time, from the groups g-4 (into
// which it goes), g-3, g-2 and g-1.
#define CVIGIL_SCHEDULE(w4, w3, w2, w1) \
    w4 = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(w4, w3), _mm_alignr_epi8(w1, w2, 4)), w1)
#define CVIGIL_ROUNDS(w, g)                                                                 \
    message = _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)&sha256_k[4 * (g)]));       \
    state1 = _mm_sha256rnds2_epu32(state1, state0, message);                                \
    state0 = _mm_sha256rnds2_epu32(state0, state1, _mm_shuffle_epi32(message, 0x0E))
        CVIGIL_LOAD(w0, 0);
        CVIGIL_ROUNDS(w0, 0);
        CVIGIL_LOAD(w1, 1);
        CVIGIL_ROUNDS(w1, 1);
        CVIGIL_LOAD(w2, 2);
        CVIGIL_ROUNDS(w2, 2);
        CVIGIL_LOAD(w3, 3);
        CVIGIL_ROUNDS(w3, 3);
        for (int g = 4; g < 16; g += 4) {
            // Kept as a loop of three: the compiler unrolls a constant trip count this short.
            CVIGIL_SCHEDULE(w0, w1, w2, w3);
            CVIGIL_ROUNDS(w0, g);
            CVIGIL_SCHEDULE(w1, w2, w3, w0);
            CVIGIL_ROUNDS(w1, g + 1);
            CVIGIL_SCHEDULE(w2, w3, w0, w1);
            CVIGIL_ROUNDS(w2, g + 2);
            CVIGIL_SCHEDULE(w3, w0, w1, w2);
            CVIGIL_ROUNDS(w3, g + 3);
        }
#undef CVIGIL_LOAD
#undef CVIGIL_SCHEDULE
#undef CVIGIL_ROUNDS
        state0 = _mm_add_epi32(state0, abef);
        state1 = _mm_add_epi32(state1, cdgh);
    }
    tmp = _mm_shuffle_epi32(state0, 0x1B);    // FEBA
    state1 = _mm_shuffle_epi32(state1, 0xB1); // DCHG
    state0 = _mm_blend_epi16(tmp, state1, 0xF0); // DCBA
    state1 = _mm_alignr_epi8(state1, tmp, 8);    // HGFE
    _mm_storeu_si128((__m128i *)&state[0], state0);
    _mm_storeu_si128((__m128i *)&state[4], state1);
}

static int sha_ni_available(void) {
    static int known = -1;
    if (known >= 0) return known;
    unsigned a, b, c, d;
    int ok = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3) &&
        __get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        ok = (b & (1u << 29)) != 0;  // CPUID.(EAX=7,ECX=0):EBX.SHA[bit 29]
    }
    known = ok;
    return ok;
}
#endif

int cvigil_sha256_blocks(uint32_t state[8], const void *data, size_t blocks) {
#if defined(CVIGIL_SHA_NI)
    if (sha_ni_available()) {
        sha256_blocks_ni(state, (const uint8_t *)data, blocks);
        return 1;
    }
#endif
    (void)state; (void)data; (void)blocks;
    return 0;
}

// CRC-32 (ISO 3309, reflected 0xEDB88320: gzip's and zip's), eight bytes at a time ("slicing-by-8").
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = crc_table[0][n];
        for (int k = 1; k < 8; k++) {
            c = crc_table[0][c & 0xFF] ^ (c >> 8);
            crc_table[k][n] = c;
        }
    }
}

#if defined(CVIGIL_SHA_NI)
// CRC-32 by carry-less multiplication (Intel, "Fast CRC Computation for Generic Polynomials Using
// PCLMULQDQ", 2009; the constants and steps of Linux's crc32-pclmul for the reflected 0xEDB88320):
// four 128-bit lanes folded 64 bytes at a time, folded into one, reduced to 64 and 32 bits, then a
// Barrett reduction. `c` is the raw register (not inverted); `length` a multiple of 16, at least 64.
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc32_pclmul(uint32_t c, const uint8_t *p, size_t length) {
    const __m128i r2r1 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
    const __m128i r4r3 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
    const __m128i r5 = _mm_set_epi64x(0, 0x163cd6124LL);
    const __m128i poly = _mm_set_epi64x(0x1f7011641LL, 0x1db710641LL);
    const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 0));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(p + 48));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)c));
    p += 64;
    length -= 64;
#define CVIGIL_FOLD(x, k, next) \
    _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next)
    while (length >= 64) {
        x1 = CVIGIL_FOLD(x1, r2r1, _mm_loadu_si128((const __m128i *)(p + 0)));
        x2 = CVIGIL_FOLD(x2, r2r1, _mm_loadu_si128((const __m128i *)(p + 16)));
        x3 = CVIGIL_FOLD(x3, r2r1, _mm_loadu_si128((const __m128i *)(p + 32)));
        x4 = CVIGIL_FOLD(x4, r2r1, _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        length -= 64;
    }
    x1 = CVIGIL_FOLD(x1, r4r3, x2);
    x1 = CVIGIL_FOLD(x1, r4r3, x3);
    x1 = CVIGIL_FOLD(x1, r4r3, x4);
    while (length >= 16) {
        x1 = CVIGIL_FOLD(x1, r4r3, _mm_loadu_si128((const __m128i *)p));
        p += 16;
        length -= 16;
    }
#undef CVIGIL_FOLD
    // 128 → 64 bits (appending 32 zero bits), 64 → 32, then Barrett.
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), _mm_clmulepi64_si128(r4r3, x1, 0x01));
    __m128i x2b = _mm_srli_si128(x1, 4);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), r5, 0x00), x2b);
    x2b = x1;
    x1 = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10), mask32);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, poly, 0x00), x2b);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

static int pclmul_available(void) {
    static int known = -1;
    if (known >= 0) return known;
    unsigned a, b, c, d;
    known = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_PCLMUL) && (c & bit_SSE4_1);
    return known;
}
#endif

uint32_t cvigil_crc32(uint32_t crc, const void *data, size_t length) {
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = (const uint8_t *)data;
    uint32_t c = ~crc;
#if defined(CVIGIL_SHA_NI)
    if (length >= 64 && pclmul_available()) {
        size_t folded = length & ~(size_t)15;
        c = crc32_pclmul(c, p, folded);
        p += folded;
        length -= folded;
    }
#endif
    while (length && ((uintptr_t)p & 7)) {
        c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
        length--;
    }
    while (length >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        lo = __builtin_bswap32(lo);
        hi = __builtin_bswap32(hi);
#endif
        lo ^= c;
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
            crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xFF] ^ crc_table[2][(hi >> 8) & 0xFF] ^
            crc_table[1][(hi >> 16) & 0xFF] ^ crc_table[0][hi >> 24];
        p += 8;
        length -= 8;
    }
    while (length--) c = crc_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return ~c;
}

long cvigil_copy_file_range(int in_fd, int out_fd, size_t length) {
#if defined(__linux__)
    ssize_t copied = copy_file_range(in_fd, NULL, out_fd, NULL, length, 0);
    return copied < 0 ? -errno : (long)copied;
#else
    (void)in_fd; (void)out_fd; (void)length;
    return -ENOSYS;
#endif
}

int cvigil_start_writeback(int fd, long long offset, long long length) {
#if defined(__linux__)
    return sync_file_range(fd, (off_t)offset, (off_t)length, SYNC_FILE_RANGE_WRITE) == 0 ? 0 : errno;
#else
    (void)fd; (void)offset; (void)length;
    return ENOSYS;
#endif
}

int cvigil_drop_written(int fd, long long offset, long long length) {
#if defined(__linux__)
    unsigned flags = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    if (sync_file_range(fd, (off_t)offset, (off_t)length, flags) != 0) return errno;
    return posix_fadvise(fd, (off_t)offset, (off_t)length, POSIX_FADV_DONTNEED);
#else
    (void)fd; (void)offset; (void)length;
    return ENOSYS;
#endif
}
