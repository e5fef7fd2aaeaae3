/* peak.c - instruction throughput of the arithmetic the kernels are built on, one core:
 * float FMA and the VNNI dot products, 256- and 512-bit, each as a loop over 12 independent
 * accumulators (enough to hide their latency). The ceilings that bench/RESULTS.md compares the
 * kernels against.
 *
 *   cc -O2 -o /tmp/peak bench/peak.c && /tmp/peak
 */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define N 12
#define ITERS 50000000L

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void report(const char *name, double seconds, int macs_per_instr, double check) {
    const double instr = (double)ITERS * N / seconds;
    printf("%-22s %6.2f G instructions/s  %7.1f GMAC/s   (check %g)\n", name, instr / 1e9,
           instr * macs_per_instr / 1e9, check);
}

/* Accumulators start different so that the compiler cannot merge the chains. */
/* B: an operand made opaque in every iteration (no instruction), so that the compiler cannot hoist
 * the loop-invariant product out of an add (clang does that for vpdpwssd otherwise). */
#define LOOP(TYPE, INIT, OP, SUM, NAME, MACS, B)                                                        \
    do {                                                                                             \
        TYPE a[N];                                                                                   \
        for (int i = 0; i < N; i++) a[i] = INIT;                                                     \
        const double t0 = now();                                                                     \
        for (long k = 0; k < ITERS; k++) {                                                           \
            __asm__("" : "+v"(B));                                                                   \
            _Pragma("GCC unroll 12") for (int i = 0; i < N; i++) a[i] = OP;                          \
        }                                                                                            \
        const double t = now() - t0;                                                                 \
        double s = 0;                                                                                \
        for (int i = 0; i < N; i++) s += SUM;                                                        \
        report(NAME, t, MACS, s);                                                                    \
    } while (0)

__attribute__((target("avx2,fma"))) static void fma256(void) {
    __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    __asm__("" : "+v"(b), "+v"(c)); /* opaque: no folding of the constant operands */
    LOOP(__m256, _mm256_set1_ps(1.0f + (float)i * 1e-7f), _mm256_fmadd_ps(a[i], b, c), a[i][0],
         "vfmadd ps 256-bit", 8, b);
}

__attribute__((target("avx512f"))) static void fma512(void) {
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    __asm__("" : "+v"(b), "+v"(c));
    LOOP(__m512, _mm512_set1_ps(1.0f + (float)i * 1e-7f), _mm512_fmadd_ps(a[i], b, c), a[i][0],
         "vfmadd ps 512-bit", 16, b);
}

__attribute__((target("avx512f,avx512vl,avx512bw,avx512vnni"))) static void vnni(void) {
    __m256i b8 = _mm256_set1_epi32(0x01010101), c8 = _mm256_set1_epi32(0x02020202);
    __m512i b16 = _mm512_set1_epi32(0x01010101), c16 = _mm512_set1_epi32(0x02020202);
    __asm__("" : "+v"(b8), "+v"(c8), "+v"(b16), "+v"(c16));
    LOOP(__m256i, _mm256_set1_epi32(i), _mm256_dpbusd_epi32(a[i], b8, c8), (double)_mm256_extract_epi32(a[i], 0),
         "vpdpbusd 256-bit", 32, b8);
    LOOP(__m512i, _mm512_set1_epi32(i), _mm512_dpbusd_epi32(a[i], b16, c16), (double)_mm512_reduce_add_epi32(a[i]),
         "vpdpbusd 512-bit", 64, b16);
    LOOP(__m256i, _mm256_set1_epi32(i), _mm256_dpwssd_epi32(a[i], b8, c8), (double)_mm256_extract_epi32(a[i], 0),
         "vpdpwssd 256-bit", 16, b8);
    LOOP(__m512i, _mm512_set1_epi32(i), _mm512_dpwssd_epi32(a[i], b16, c16), (double)_mm512_reduce_add_epi32(a[i]),
         "vpdpwssd 512-bit", 32, b16);
}

int main(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) fma256();
    if (__builtin_cpu_supports("avx512f")) fma512();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw"))
        vnni();
    return 0;
}
