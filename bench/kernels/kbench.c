/*
 * kbench.c - single-thread micro-benchmark of the dispatched matvec kernels on the shapes of
 * SmolLM2-135M (Q4_1 layers, Q8_0 output head). Prints, per kernel, the median and best time in
 * microseconds over many repetitions and the corresponding GMAC/s (rows * cols / time).
 * Also checks each result against the scalar reference (max relative error vs sum|w x|).
 *
 * Usage: kbench [reps-scale] [filter-substring]
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mii_kernels.h"

static uint64_t rng_state = 0x1234567ULL;
static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static float rndf(float lo, float hi) { return lo + (hi - lo) * (float)((rnd() >> 40) * (1.0 / 16777216.0)); }

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Random weights of `type` with sane fp16 scales (d, m in [-0.05, 0.05]). */
static void *make_weights(int type, int64_t rows, int64_t cols, size_t *row_bytes) {
    const int64_t be = miik_block_elems(type), bb = miik_block_bytes(type);
    const int64_t nb = rows * cols / be;
    *row_bytes = (size_t)(cols / be * bb);
    uint8_t *w = malloc((size_t)(nb * bb) + 64);
    if (type == MIIK_F32) {
        float *f = (float *)w;
        for (int64_t i = 0; i < rows * cols; i++) f[i] = rndf(-1, 1);
        return w;
    }
    if (type == MIIK_F16) {
        uint16_t *h = (uint16_t *)w;
        for (int64_t i = 0; i < rows * cols; i++) h[i] = miik_fp32_to_fp16(rndf(-1, 1));
        return w;
    }
    for (int64_t i = 0; i < nb * bb; i++) w[i] = (uint8_t)rnd();
    const int nhalf = (type == MIIK_Q4_1 || type == MIIK_Q5_1) ? 2 : 1;
    for (int64_t b = 0; b < nb; b++) {
        for (int k = 0; k < nhalf; k++) {
            uint16_t h = miik_fp32_to_fp16(rndf(-0.05f, 0.05f));
            memcpy(w + b * bb + 2 * k, &h, 2);
        }
    }
    return w;
}

static const char *tname(int t) {
    switch (t) {
    case MIIK_F32: return "F32";
    case MIIK_F16: return "F16";
    case MIIK_Q4_0: return "Q4_0";
    case MIIK_Q4_1: return "Q4_1";
    case MIIK_Q8_0: return "Q8_0";
    default: return "?";
    }
}

/* The arguments of one timed kernel call. */
typedef struct {
    int type, q8;
    const void *w;
    size_t rb;
    int64_t rows, cols, ntok;
    const float *x;
    const miik_q8a *xq;
    float *y;
    const miik_q16a *xq16; /* q8 == 2: 16-bit activations */
} call_args;

static void call_matvec(const call_args *a) {
    if (a->q8 == 2) miik_matvec_q16(a->type, a->w, a->rb, a->cols, a->xq16, a->y, 0, a->rows);
    else if (a->q8) miik_matvec_q8(a->type, a->w, a->rb, a->cols, a->xq, a->y, 0, a->rows);
    else miik_matvec(a->type, a->w, a->rb, a->cols, a->x, a->y, 0, a->rows);
}

static void call_matmul_q8(const call_args *a) {
    miik_matmul_q8(a->type, a->w, a->rb, a->cols, a->xq, a->ntok, a->y, a->rows, 0, a->rows);
}

/* Times `call` over repetitions scaled to ~scale * 3e8 MACs (at least min_reps) and prints the
 * median and best time, GMAC/s and the relative error measured by the caller. */
static void time_and_report(const char *name, double macs, double scale, int min_reps,
                            void (*call)(const call_args *), const call_args *args, double maxerr, double maxabs) {
    int reps = (int)(scale * 3e8 / macs);
    if (reps < min_reps) reps = min_reps;
    if (reps > 2001) reps = 2001;
    double *t = malloc(sizeof(double) * reps);
    for (int i = 0; i < reps; i++) {
        double t0 = now_us();
        call(args);
        t[i] = now_us() - t0;
    }
    qsort(t, reps, sizeof(double), cmpd);
    const double med = t[reps / 2], best = t[0];
    printf("%-30s median %9.1f us  best %9.1f us  %6.2f GMAC/s (median)  maxerr/max|y| %.1e\n", name, med, best,
           macs / med * 1e-3, maxabs > 0 ? maxerr / maxabs : maxerr);
    fflush(stdout);
    free(t);
}

static void bench(int type, int64_t rows, int64_t cols, int q8, double scale, const char *filter) {
    char name[64];
    snprintf(name, sizeof name, "%s %s %lldx%lld", q8 == 2 ? "q16    " : q8 ? "q8     " : "precise", tname(type), (long long)rows,
             (long long)cols);
    if (filter && !strstr(name, filter)) return;
    size_t rb;
    void *w = make_weights(type, rows, cols, &rb);
    float *x = malloc(sizeof(float) * cols);
    for (int64_t i = 0; i < cols; i++) x[i] = rndf(-1, 1);
    miik_q8a *xq = malloc(sizeof(miik_q8a) * (cols / 32 + 1));
    miik_q16a *xq16 = malloc(sizeof(miik_q16a) * (cols / 32 + 1));
    if (q8 == 1) miik_quantize_act(x, xq, cols);
    if (q8 == 2) miik_quantize_act16(x, xq16, cols);
    float *y = malloc(sizeof(float) * rows), *yr = malloc(sizeof(float) * rows);

    /* correctness vs reference */
    if (q8 == 2) {
        miik_matvec_q16_ref(type, w, rb, cols, xq16, yr, 0, rows);
        miik_matvec_q16(type, w, rb, cols, xq16, y, 0, rows);
    } else if (q8) {
        miik_matvec_q8_ref(type, w, rb, cols, xq, yr, 0, rows);
        miik_matvec_q8(type, w, rb, cols, xq, y, 0, rows);
    } else {
        miik_matvec_ref(type, w, rb, cols, x, yr, 0, rows);
        miik_matvec(type, w, rb, cols, x, y, 0, rows);
    }
    double maxerr = 0, maxabs = 0;
    for (int64_t r = 0; r < rows; r++) {
        double e = fabs((double)y[r] - yr[r]);
        if (e > maxerr) maxerr = e;
        if (fabs(yr[r]) > maxabs) maxabs = fabs(yr[r]);
    }

    const call_args args = {type, q8, w, rb, rows, cols, 1, x, xq, y, xq16};
    time_and_report(name, (double)rows * cols, scale, 15, call_matvec, &args, maxerr, maxabs);
    free(w); free(x); free(xq); free(xq16); free(y); free(yr);
}

static void call_matmul_q16(const call_args *a) {
    miik_matmul_q16(a->type, a->w, a->rb, a->cols, a->xq16, a->ntok, a->y, a->rows, 0, a->rows);
}

static void call_matmul_f(const call_args *a) {
    miik_matmul(a->type, a->w, a->rb, a->cols, a->x, a->cols, a->ntok, a->y, a->rows, 0, a->rows, (float *)a->xq16);
}

/* Products of several tokens. q8 == 1: fast mode's miik_matmul_q8 (batched decode: 8; prompt: 64),
 * against miik_matvec_q8_ref per token; q8 == 2: its near-float products' miik_matmul_q16, against
 * miik_matvec_q16_ref per token; q8 == 0: precise mode's miik_matmul with float activations (short
 * prompts, batched decode), against miik_matmul_ref. */
static void bench_mm(int type, int64_t rows, int64_t cols, int64_t ntok, int q8, double scale, const char *filter) {
    char name[64];
    snprintf(name, sizeof name, "mm %s x%-3lld %s %lldx%lld", q8 == 2 ? "q16" : q8 ? "q8 " : "f32", (long long)ntok,
             tname(type), (long long)rows, (long long)cols);
    if (filter && !strstr(name, filter)) return;
    size_t rb;
    void *w = make_weights(type, rows, cols, &rb);
    const int64_t nb = cols / 32;
    float *x = malloc(sizeof(float) * cols * ntok);
    for (int64_t i = 0; i < cols * ntok; i++) x[i] = rndf(-1, 1);
    miik_q8a *xq = q8 == 1 ? malloc(sizeof(miik_q8a) * nb * ntok) : NULL;
    miik_q16a *xq16 = q8 == 2 ? malloc(sizeof(miik_q16a) * nb * ntok) : NULL;
    float *scratch = q8 ? NULL : malloc(sizeof(float) * 4 * cols);
    float *y = malloc(sizeof(float) * rows * ntok), *yr = malloc(sizeof(float) * rows * ntok);
    if (q8 == 2) {
        for (int64_t t = 0; t < ntok; t++) miik_quantize_act16(x + t * cols, xq16 + t * nb, cols);
        miik_matmul_q16(type, w, rb, cols, xq16, ntok, y, rows, 0, rows);
        for (int64_t t = 0; t < ntok; t++) miik_matvec_q16_ref(type, w, rb, cols, xq16 + t * nb, yr + t * rows, 0, rows);
    } else if (q8) {
        for (int64_t t = 0; t < ntok; t++) miik_quantize_act(x + t * cols, xq + t * nb, cols);
        miik_matmul_q8(type, w, rb, cols, xq, ntok, y, rows, 0, rows);
        for (int64_t t = 0; t < ntok; t++) miik_matvec_q8_ref(type, w, rb, cols, xq + t * nb, yr + t * rows, 0, rows);
    } else {
        miik_matmul(type, w, rb, cols, x, cols, ntok, y, rows, 0, rows, scratch);
        miik_matmul_ref(type, w, rb, cols, x, cols, ntok, yr, rows, 0, rows, scratch);
    }
    double maxerr = 0, maxabs = 0;
    for (int64_t i = 0; i < rows * ntok; i++) {
        double e = fabs((double)y[i] - yr[i]);
        if (e > maxerr) maxerr = e;
        if (fabs(yr[i]) > maxabs) maxabs = fabs(yr[i]);
    }
    call_args args = {type, q8, w, rb, rows, cols, ntok, x, xq, y};
    /* miik_matmul's scratch rides in the field the float product does not use */
    args.xq16 = q8 == 2 ? xq16 : (const miik_q16a *)(void *)scratch;
    time_and_report(name, (double)rows * cols * ntok, scale, 5,
                    q8 == 2 ? call_matmul_q16 : q8 ? call_matmul_q8 : call_matmul_f, &args, maxerr, maxabs);
    free(w); free(x); free(xq); free(xq16); free(scratch); free(y); free(yr);
}

int main(int argc, char **argv) {
    const double scale = argc > 1 ? atof(argv[1]) : 1.0;
    const char *filter = argc > 2 ? argv[2] : NULL;
    printf("isa: %s\n", miik_isa_name());
    static const int64_t shapes[][2] = {{576, 576}, {192, 576}, {1536, 576}, {576, 1536}};
    for (int q8 = 0; q8 <= 2; q8++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            bench(MIIK_Q4_1, shapes[s][0], shapes[s][1], q8, scale, filter);
        bench(MIIK_Q4_1, 49152, 576, q8, scale, filter); /* > L3: weights streamed from DRAM, as in decode */
        bench(MIIK_Q8_0, 576, 576, q8, scale, filter);
        bench(MIIK_Q8_0, 49152, 576, q8, scale, filter);
    }
    for (int64_t nt = 8; nt <= 64; nt *= 8) {
        bench_mm(MIIK_Q4_1, 1536, 576, nt, 1, scale, filter);
        bench_mm(MIIK_Q4_1, 576, 1536, nt, 1, scale, filter);
        bench_mm(MIIK_Q4_0, 1536, 576, nt, 1, scale, filter);
        bench_mm(MIIK_Q8_0, 1536, 576, nt, 1, scale, filter);
        bench_mm(MIIK_Q4_1, 576, 1536, nt, 2, scale, filter);
        bench_mm(MIIK_Q4_1, 576, 576, nt, 2, scale, filter);
        bench_mm(MIIK_Q8_0, 576, 576, nt, 2, scale, filter);
        if (nt > 16) bench_mm(MIIK_Q4_1, 576, 1536, nt, 0, scale, filter); /* x8: in the loop below */
        bench_mm(MIIK_Q4_1, 576, 576, nt, 0, scale, filter);
        bench_mm(MIIK_Q8_0, 49152, 576, nt, 2, scale, filter); /* the output head: streamed from DRAM */
        bench_mm(MIIK_Q8_0, 49152, 576, nt, 0, scale, filter);
    }
    for (int64_t nt = 2; nt <= 16; nt *= 2) {
        bench_mm(MIIK_Q4_1, 1536, 576, nt == 16 ? 6 : nt, 0, scale, filter);
        bench_mm(MIIK_Q4_1, 576, 1536, nt, 0, scale, filter);
        bench_mm(MIIK_Q8_0, 1536, 576, nt, 0, scale, filter);
    }
    bench(MIIK_Q4_0, 1536, 576, 0, scale, filter);
    bench(MIIK_F32, 576, 576, 0, scale, filter);
    bench(MIIK_F16, 576, 576, 0, scale, filter);
    return 0;
}
