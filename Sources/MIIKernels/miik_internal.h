/*
 * miik_internal.h - private declarations shared by the MIIKernels C files (not exported).
 *
 * Block layouts follow GGML/GGUF exactly (little-endian, packed, no padding).
 */
#ifndef MIIK_INTERNAL_H
#define MIIK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#include "mii_kernels.h"

#define MIIK_QK 32   /* elements per block of the 32-element formats */
#define MIIK_QKK 256 /* elements per K-quant super-block */

typedef uint16_t miik_half;

typedef struct { miik_half d; uint8_t qs[16]; } miik_block_q4_0;                    /* 18 B */
typedef struct { miik_half d; miik_half m; uint8_t qs[16]; } miik_block_q4_1;       /* 20 B */
typedef struct { miik_half d; uint8_t qh[4]; uint8_t qs[16]; } miik_block_q5_0;     /* 22 B */
typedef struct { miik_half d; miik_half m; uint8_t qh[4]; uint8_t qs[16]; } miik_block_q5_1; /* 24 B */
typedef struct { miik_half d; int8_t qs[32]; } miik_block_q8_0;                     /* 34 B */
typedef struct { miik_half d; miik_half s; int8_t qs[32]; } miik_block_q8_1;        /* 36 B */

typedef struct { uint8_t scales[16]; uint8_t qs[64]; miik_half d; miik_half dmin; } miik_block_q2_K; /* 84 B */
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; miik_half d; } miik_block_q3_K; /* 110 B */
typedef struct { miik_half d; miik_half dmin; uint8_t scales[12]; uint8_t qs[128]; } miik_block_q4_K; /* 144 B */
typedef struct { miik_half d; miik_half dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } miik_block_q5_K; /* 176 B */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; miik_half d; } miik_block_q6_K; /* 210 B */
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } miik_block_q8_K;     /* 292 B */

_Static_assert(sizeof(miik_block_q4_0) == 18, "q4_0 size");
_Static_assert(sizeof(miik_block_q4_1) == 20, "q4_1 size");
_Static_assert(sizeof(miik_block_q5_0) == 22, "q5_0 size");
_Static_assert(sizeof(miik_block_q5_1) == 24, "q5_1 size");
_Static_assert(sizeof(miik_block_q8_0) == 34, "q8_0 size");
_Static_assert(sizeof(miik_block_q8_1) == 36, "q8_1 size");
_Static_assert(sizeof(miik_block_q2_K) == 84, "q2_K size");
_Static_assert(sizeof(miik_block_q3_K) == 110, "q3_K size");
_Static_assert(sizeof(miik_block_q4_K) == 144, "q4_K size");
_Static_assert(sizeof(miik_block_q5_K) == 176, "q5_K size");
_Static_assert(sizeof(miik_block_q6_K) == 210, "q6_K size");
_Static_assert(sizeof(miik_block_q8_K) == 292, "q8_K size");
_Static_assert(sizeof(miik_q8a) == 40, "q8a size");
_Static_assert(sizeof(miik_q16a) == 72, "q16a size");

/* ---- scalar conversions (exact; also usable from ISA-specific files) ---- */

static inline float miik_bits_to_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t miik_f32_to_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* IEEE binary16 -> binary32, exact for every input (subnormals, inf, NaN keep their meaning). */
static inline float miik_h2f(miik_half h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    uint32_t bits;
    if (exp == 0x1Fu) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        /* subnormal: value = man * 2^-24, normalise it */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while ((man & 0x400u) == 0);
        man &= 0x3FFu;
        bits = sign | ((uint32_t)(112 - e) << 23) | (man << 13);
    }
    return miik_bits_to_f32(bits);
}

static inline float miik_bf2f(uint16_t h) { return miik_bits_to_f32((uint32_t)h << 16); }

static inline uint16_t miik_load_u16(const void *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Element held at storage position k of miik_q16a.q (0-7, 16-23, 8-15, 24-31; an involution, so it
 * is also the position of element k). */
static inline int miik_q16_element(int k) { return k < 8 || k >= 24 ? k : (k < 16 ? k + 8 : k - 8); }

/* fp16 of f for fast mode's key/value cache: finite values beyond the fp16 range saturate to
 * +-65504 instead of becoming infinities; infinities and NaN keep their kind; otherwise round to
 * nearest even (miik_fp32_to_fp16). */
static inline uint16_t miik_f32_to_f16_sat_one(float f) {
    if (f > 65504.0f && f < INFINITY) f = 65504.0f;
    if (f < -65504.0f && f > -INFINITY) f = -65504.0f;
    return miik_fp32_to_fp16(f);
}

static inline uint32_t miik_load_u32(const void *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Unpacks the 6-bit scale (sc) and min (m) of sub-block j (0..7) of a Q4_K / Q5_K scales array. */
static inline void miik_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Unpacks the 16 signed 6-bit scales of a Q3_K block (values -32..31). */
static inline void miik_q3k_scales(const uint8_t *s, int8_t out[16]) {
    for (int i = 0; i < 16; i++) {
        int lo = (i < 8) ? (s[i] & 0x0F) : (s[i - 8] >> 4);
        int hi = (s[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
        out[i] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* Decode streams every weight matrix from DRAM once per token. The matvec kernels prefetch, at each
 * block, the same block MIIK_PF_ROWS rows further on into L2 (x86 only; a hint, which never faults
 * past the end of a matrix). On Zen 4, 16 rows into L2 streamed a 30 MB Q8_0 matrix ~2.2-2.7x faster
 * than the 4 rows into L1 of sessions 5-6 (measured on Zen 1 then; bench/RESULTS.md, session 9). */
#define MIIK_PF_ROWS 16
#define MIIK_PF_HINT _MM_HINT_T1

/* ---- per-ISA entry points (kernels_avx2.c / kernels_avx512.c) ----
 * Functions returning int return 1 when they handled the request, 0 when the type has no
 * implementation at that level (the dispatcher then falls back to a lower level). */

int miik_avx2_dequantize(int type, const void *src, float *dst, int64_t n);
float miik_avx2_dot_f32(const float *a, const float *b, int64_t n);
void miik_avx2_axpy_f32(float a, const float *x, float *y, int64_t n);
float miik_avx2_exp_shifted(float *s, int64_t n, float mx);
void miik_avx2_silu_mul(float *g, const float *u, int64_t n);
int miik_avx2_attend_f32(const float *q, int64_t n_q, const float *k, const float *v, int64_t stride,
                         int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out);
int miik_avx2_attend_f16(const float *q, int64_t n_q, const uint16_t *k, const uint16_t *v, int64_t stride,
                         int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out);
void miik_avx2_f32_to_f16_sat(const float *x, uint16_t *dst, int64_t n);
int miik_avx2_matvec(int type, const void *w, size_t row_bytes, int64_t cols,
                     const float *x, float *y, int64_t r0, int64_t r1);
int miik_avx2_matmul(int type, const void *w, size_t row_bytes, int64_t cols,
                     const float *x, int64_t ldx, int64_t n_tok, float *y, int64_t ldy,
                     int64_t r0, int64_t r1, float *scratch);
void miik_avx2_quantize_act(const float *x, miik_q8a *dst, int64_t n);
void miik_avx2_quantize_act16(const float *x, miik_q16a *dst, int64_t n);
int miik_avx2_matvec_q16(int type, const void *w, size_t row_bytes, int64_t cols,
                         const miik_q16a *xq, float *y, int64_t r0, int64_t r1);
int miik_avx2_matvec_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                        const miik_q8a *xq, float *y, int64_t r0, int64_t r1);
int miik_avx2_matmul_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                        const miik_q8a *xq, int64_t n_tok, float *y, int64_t ldy,
                        int64_t r0, int64_t r1);

int miik_avx512_dequantize(int type, const void *src, float *dst, int64_t n);
float miik_avx512_dot_f32(const float *a, const float *b, int64_t n);
void miik_avx512_axpy_f32(float a, const float *x, float *y, int64_t n);
int miik_avx512_matvec(int type, const void *w, size_t row_bytes, int64_t cols,
                       const float *x, float *y, int64_t r0, int64_t r1);
void miik_avx512_quantize_act(const float *x, miik_q8a *dst, int64_t n);
/* vnni: 1 to use vpdpbusd (requires avx512vnni), 0 for the maddubs formulation. */
int miik_avx512_matvec_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                          const miik_q8a *xq, float *y, int64_t r0, int64_t r1, int vnni);
int miik_avx512_matmul_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                          const miik_q8a *xq, int64_t n_tok, float *y, int64_t ldy,
                          int64_t r0, int64_t r1, int vnni);
int miik_avx512_matvec_q16(int type, const void *w, size_t row_bytes, int64_t cols,
                           const miik_q16a *xq, float *y, int64_t r0, int64_t r1, int vnni);
int miik_avx512_matmul_q16(int type, const void *w, size_t row_bytes, int64_t cols,
                           const miik_q16a *xq, int64_t n_tok, float *y, int64_t ldy,
                           int64_t r0, int64_t r1, int vnni);
int miik_avx512_mm_min_tokens(void);

/* types.c: the ISA level to use (after forcing), and whether VNNI may be used. */
int miik_isa_level_internal(void);
int miik_vnni_internal(void);

#endif
