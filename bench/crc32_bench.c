/* crc32_bench.c - zlib's crc32 against libdeflate's on record-sized buffers, the choice behind
 * csrc/src/record.c's CRC32 (docs/design.md, Dependencies; numbers in bench/RESULTS.md).
 *
 *   gcc -O2 -o /tmp/crc32_bench bench/crc32_bench.c -lz -ldeflate && /tmp/crc32_bench
 */
#include <libdeflate.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <zlib.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(void) {
    static unsigned char buf[4096 + 64];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 7);
    const size_t lens[] = {128, 300, 1024, 4096};
    const int rounds = 2000000;
    for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
        size_t n = lens[k];
        volatile uint32_t sink = 0;
        double t = now();
        for (int i = 0; i < rounds; i++) sink += (uint32_t)crc32(0, buf + (i & 63), (uInt)n);
        double z = (now() - t) / rounds;
        t = now();
        for (int i = 0; i < rounds; i++) sink += libdeflate_crc32(0, buf + (i & 63), n);
        double d = (now() - t) / rounds;
        int same = crc32(0, buf, (uInt)n) == libdeflate_crc32(0, buf, n);
        printf("%5zu B: zlib %5.0f ns  libdeflate %5.0f ns  (%.1fx)%s\n", n, z * 1e9, d * 1e9,
               z / d, same ? "" : "  VALUES DIFFER");
    }
    return 0;
}
