/*
 * isa_throughput.c - reciprocal throughput of the AVX2 instructions that block-quantized matvec
 * kernels are made of, on the machine at hand (bench/RESULTS.md quotes it for the Zen 1 VM, where
 * 256-bit operations are split in two and conversions compete with FMAs for the same pipes).
 *
 * Each test repeats a group of independent instructions (no dependency between groups except
 * through the FMA accumulators, see "fma x4"), and reports cycles per group. Cycles are calibrated
 * with a chain of dependent integer adds (1 cycle each on every x86 core of the last decade).
 *
 *   gcc -O1 bench/kernels/isa_throughput.c -o /tmp/isa_throughput && /tmp/isa_throughput
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

#define N 50000000L
#define CLOBBER "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9"

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double hz;

#define GROUP(name, body)                                                                           \
    do {                                                                                            \
        const double t0 = seconds();                                                                \
        for (long i = 0; i < N; i++) __asm__ volatile(body ::: CLOBBER);                            \
        printf("%-32s %5.2f cycles\n", name, (seconds() - t0) * hz / (double)N);                    \
    } while (0)

#define FMA(r) "vfmadd231ps %%ymm8, %%ymm9, %%ymm" #r "\n\t"
#define CVTPH(r) "vcvtph2ps %%xmm8, %%ymm" #r "\n\t"
#define CVTDQ(r) "vcvtdq2ps %%ymm8, %%ymm" #r "\n\t"
#define UNPCK(r) "vpunpcklbw %%ymm8, %%ymm9, %%ymm" #r "\n\t"
#define ZX(r) "vpmovzxbd %%xmm8, %%ymm" #r "\n\t"
#define SHL(r) "vpslld $3, %%ymm8, %%ymm" #r "\n\t"
#define AND(r) "vpand %%ymm8, %%ymm9, %%ymm" #r "\n\t"
#define MADDUBS(r) "vpmaddubsw %%ymm8, %%ymm9, %%ymm" #r "\n\t"
#define MADDWD(r) "vpmaddwd %%ymm8, %%ymm9, %%ymm" #r "\n\t"

int main(void) {
    unsigned long x = 0;
    const double t0 = seconds();
    for (long i = 0; i < N; i++) __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(x));
    hz = 4.0 * (double)N / (seconds() - t0);
    printf("clock ~%.2f GHz (dependent adds); each line: one group of 4 instructions\n", hz / 1e9);
    GROUP("fma x4 (4 accumulators)", FMA(0) FMA(1) FMA(2) FMA(3));
    GROUP("vcvtph2ps ymm x4", CVTPH(4) CVTPH(5) CVTPH(6) CVTPH(7));
    GROUP("vcvtdq2ps ymm x4", CVTDQ(4) CVTDQ(5) CVTDQ(6) CVTDQ(7));
    GROUP("vpunpcklbw ymm x4", UNPCK(4) UNPCK(5) UNPCK(6) UNPCK(7));
    GROUP("vpmovzxbd ymm x4", ZX(4) ZX(5) ZX(6) ZX(7));
    GROUP("vpslld ymm x4", SHL(4) SHL(5) SHL(6) SHL(7));
    GROUP("vpand ymm x4", AND(4) AND(5) AND(6) AND(7));
    GROUP("vpmaddubsw ymm x4", MADDUBS(4) MADDUBS(5) MADDUBS(6) MADDUBS(7));
    GROUP("vpmaddwd ymm x4", MADDWD(4) MADDWD(5) MADDWD(6) MADDWD(7));
    GROUP("fma x4 + vcvtph2ps x4", FMA(0) FMA(1) FMA(2) FMA(3) CVTPH(4) CVTPH(5) CVTPH(6) CVTPH(7));
    GROUP("fma x4 + vpunpcklbw x4", FMA(0) FMA(1) FMA(2) FMA(3) UNPCK(4) UNPCK(5) UNPCK(6) UNPCK(7));
    GROUP("fma x4 + vpand x4", FMA(0) FMA(1) FMA(2) FMA(3) AND(4) AND(5) AND(6) AND(7));
    return 0;
}
