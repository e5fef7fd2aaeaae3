/*
 * kernels_avx512.c - AVX-512 (F + BW + VL) kernels, and AVX-512 VNNI for the 8-bit activation path.
 *
 * Functions carry __attribute__((target(...))); no global -m flags. The VNNI kernels have their
 * own attribute set so that nothing else can pick up VNNI instructions on CPUs without it.
 * Types without an AVX-512 version return 0 and the dispatcher uses the AVX2 version instead.
 *
 * MIIK_SIMDE_CHECK (developer-only, never set by the package): the file is #included by a
 * harness that maps the intrinsics onto SIMDe so it can be checked on CPUs without AVX-512.
 */
#if defined(__x86_64__) || defined(__i386__)

#ifndef MIIK_SIMDE_CHECK
#include <immintrin.h>
#define A5 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define A5I static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define A5V __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define A5VI static inline __attribute__((always_inline, target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define H2F(p) _cvtsh_ss(miik_load_u16(p))
#else
#define A5
#define A5I static inline
#define A5V
#define A5VI static inline
#define H2F(p) miik_h2f(miik_load_u16(p))
#endif

#include "miik_internal.h"
#include <math.h>

/* ---- helpers --------------------------------------------------------------------------------- */

A5I int bytes32(int type) {
    switch (type) {
    case MIIK_Q4_0: return 18;
    case MIIK_Q4_1: return 20;
    case MIIK_Q5_0: return 22;
    case MIIK_Q5_1: return 24;
    default: return 34;
    }
}

A5I int affine(int type) { return type == MIIK_Q4_1 || type == MIIK_Q5_1; }

/* Offset of the packed nibbles / the 32-bit high-bit word inside a 32-element block. */
A5I int qs_off(int type) {
    switch (type) {
    case MIIK_Q4_0: return 2;
    case MIIK_Q4_1: return 4;
    case MIIK_Q5_0: return 6;
    case MIIK_Q5_1: return 8;
    default: return 2;
    }
}

A5I int qh_off(int type) { return type == MIIK_Q5_0 ? 2 : 4; }

/* Integer quant value -> float lookup tables (index = quant bits). */
A5I __m512 lut16(float base) {
    return _mm512_add_ps(_mm512_set1_ps(base),
                         _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

/* One 32-element block's quants as two vectors of 16 floats (unscaled, with the symmetric
 * offset applied: Q4_0 q-8, Q5_0 q-16; Q4_1/Q5_1 0..15/0..31; Q8_0 as stored). */
A5I void block_f32(int type, const uint8_t *blk, __m512 *f0, __m512 *f1) {
    if (type == MIIK_Q8_0) {
        *f0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2))));
        *f1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18))));
        return;
    }
    const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(blk + qs_off(type))));
    const __m512i hi = _mm512_srli_epi32(v, 4);
    if (type == MIIK_Q4_0 || type == MIIK_Q4_1) {
        /* vpermps only looks at the low 4 bits of each index: no masking needed */
        const __m512 lut = lut16(type == MIIK_Q4_0 ? -8.0f : 0.0f);
        *f0 = _mm512_permutexvar_ps(v, lut);
        *f1 = _mm512_permutexvar_ps(hi, lut);
        return;
    }
    /* Q5: 5-bit index = nibble | high bit << 4, looked up in a 32-entry table (two registers) */
    const uint32_t qh = miik_load_u32(blk + qh_off(type));
    const __m512i sixteen = _mm512_set1_epi32(16);
    const __m512i lo = _mm512_and_si512(v, _mm512_set1_epi32(0x0F));
    const __m512i i0 = _mm512_mask_or_epi32(lo, (__mmask16)(qh & 0xFFFFu), lo, sixteen);
    const __m512i i1 = _mm512_mask_or_epi32(hi, (__mmask16)(qh >> 16), hi, sixteen);
    const float base = type == MIIK_Q5_0 ? -16.0f : 0.0f;
    const __m512 t0 = lut16(base), t1 = lut16(base + 16.0f);
    *f0 = _mm512_permutex2var_ps(t0, i0, t1);
    *f1 = _mm512_permutex2var_ps(t0, i1, t1);
}

/* ---- dequantization ------------------------------------------------------------------------ */

A5 int miik_avx512_dequantize(int type, const void *src, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)src;
    int64_t i = 0;
    switch (type) {
    case MIIK_F16:
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 2 * i))));
        for (; i < n; i++) dst[i] = miik_h2f(miik_load_u16(p + 2 * i));
        return 1;
    case MIIK_BF16:
        for (; i + 16 <= n; i += 16) {
            const __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + 2 * i)));
            _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
        }
        for (; i < n; i++) dst[i] = miik_bf2f(miik_load_u16(p + 2 * i));
        return 1;
    case MIIK_Q4_0:
    case MIIK_Q4_1:
    case MIIK_Q5_0:
    case MIIK_Q5_1:
    case MIIK_Q8_0: {
        const int bs = bytes32(type);
        for (; i < n / 32; i++) {
            const uint8_t *blk = p + (size_t)i * (size_t)bs;
            __m512 f0, f1;
            block_f32(type, blk, &f0, &f1);
            const __m512 d = _mm512_set1_ps(H2F(blk));
            if (affine(type)) {
                /* d*q is exact, so the fused add rounds like the reference's separate add */
                const __m512 m = _mm512_set1_ps(H2F(blk + 2));
                _mm512_storeu_ps(dst + 32 * i, _mm512_fmadd_ps(d, f0, m));
                _mm512_storeu_ps(dst + 32 * i + 16, _mm512_fmadd_ps(d, f1, m));
            } else {
                _mm512_storeu_ps(dst + 32 * i, _mm512_mul_ps(d, f0));
                _mm512_storeu_ps(dst + 32 * i + 16, _mm512_mul_ps(d, f1));
            }
        }
        return 1;
    }
    default:
        return 0; /* F32 and the K types: the AVX2 versions are used */
    }
}

/* ---- float vector helpers ------------------------------------------------------------------ */

A5I __mmask16 tail_mask(int64_t k) { return (__mmask16)((1u << k) - 1u); }

A5I float dot_f32(const float *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

A5 float miik_avx512_dot_f32(const float *a, const float *b, int64_t n) { return dot_f32(a, b, n); }

A5 void miik_avx512_axpy_f32(float a, const float *x, float *y, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
        _mm512_storeu_ps(y + i + 16, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16)));
    }
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

/* ---- precise matvec ------------------------------------------------------------------------ */

A5I void mv32_rows(int type, const uint8_t *w, size_t rb, int64_t nb, const float *x, float *y, int nr) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    const int bs = bytes32(type);
    for (int64_t b = 0; b < nb; b++) {
        const __m512 x0 = _mm512_loadu_ps(x + 32 * b), x1 = _mm512_loadu_ps(x + 32 * b + 16);
        __m512 xs = _mm512_setzero_ps();
        if (affine(type)) xs = _mm512_add_ps(x0, x1);
        for (int r = 0; r < nr; r++) {
            const uint8_t *blk = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            __m512 f0, f1;
            block_f32(type, blk, &f0, &f1);
            const __m512 v = _mm512_fmadd_ps(f1, x1, _mm512_mul_ps(f0, x0));
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(H2F(blk)), v, acc[r]);
            if (affine(type)) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(H2F(blk + 2)), xs, acc[r]);
        }
    }
    for (int r = 0; r < nr; r++) y[r] = _mm512_reduce_add_ps(acc[r]);
}

#define MV32_INSTANCE(NAME, TYPE)                                                                     \
    A5 static void NAME(const uint8_t *w, size_t rb, int64_t cols, const float *x, float *y,         \
                        int64_t r0, int64_t r1) {                                                    \
        int64_t r = r0;                                                                              \
        for (; r + 4 <= r1; r += 4) mv32_rows(TYPE, w + (size_t)r * rb, rb, cols / 32, x, y + r, 4);  \
        for (; r < r1; r++) mv32_rows(TYPE, w + (size_t)r * rb, rb, cols / 32, x, y + r, 1);          \
    }

MV32_INSTANCE(mv_q4_0, MIIK_Q4_0)
MV32_INSTANCE(mv_q4_1, MIIK_Q4_1)
MV32_INSTANCE(mv_q5_0, MIIK_Q5_0)
MV32_INSTANCE(mv_q5_1, MIIK_Q5_1)
MV32_INSTANCE(mv_q8_0, MIIK_Q8_0)

A5I __m512 load16_h(int type, const uint8_t *p) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)p);
    if (type == MIIK_F16) return _mm512_cvtph_ps(v);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}

A5I float dot_h16(int type, const uint8_t *row, const float *x, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(load16_h(type, row + 2 * i), _mm512_loadu_ps(x + i), s0);
        s1 = _mm512_fmadd_ps(load16_h(type, row + 2 * i + 32), _mm512_loadu_ps(x + i + 16), s1);
        s2 = _mm512_fmadd_ps(load16_h(type, row + 2 * i + 64), _mm512_loadu_ps(x + i + 32), s2);
        s3 = _mm512_fmadd_ps(load16_h(type, row + 2 * i + 96), _mm512_loadu_ps(x + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(load16_h(type, row + 2 * i), _mm512_loadu_ps(x + i), s0);
    float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
    for (; i < n; i++) {
        const uint16_t h = miik_load_u16(row + 2 * i);
        s += (type == MIIK_F16 ? miik_h2f(h) : miik_bf2f(h)) * x[i];
    }
    return s;
}

#define CHUNK 2048

A5 static void mv_chunked(int type, const uint8_t *w, size_t rb, int64_t cols, const float *x, float *y,
                          int64_t r0, int64_t r1) {
    float buf[CHUNK] __attribute__((aligned(64)));
    const int64_t be = miik_block_elems(type), bb = miik_block_bytes(type);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w + (size_t)r * rb;
        float s = 0.0f;
        for (int64_t c = 0; c < cols; c += CHUNK) {
            const int64_t len = cols - c < CHUNK ? cols - c : CHUNK;
            const uint8_t *src = row + (c / be) * bb;
            if (!miik_avx2_dequantize(type, src, buf, len)) miik_dequantize_ref(type, src, buf, len);
            s += dot_f32(buf, x + c, len);
        }
        y[r] = s;
    }
}

A5 int miik_avx512_matvec(int type, const void *w, size_t row_bytes, int64_t cols,
                          const float *x, float *y, int64_t r0, int64_t r1) {
    const uint8_t *base = (const uint8_t *)w;
    switch (type) {
    case MIIK_F32:
        for (int64_t r = r0; r < r1; r++)
            y[r] = dot_f32((const float *)(const void *)(base + (size_t)r * row_bytes), x, cols);
        return 1;
    case MIIK_F16:
        for (int64_t r = r0; r < r1; r++) y[r] = dot_h16(MIIK_F16, base + (size_t)r * row_bytes, x, cols);
        return 1;
    case MIIK_BF16:
        for (int64_t r = r0; r < r1; r++) y[r] = dot_h16(MIIK_BF16, base + (size_t)r * row_bytes, x, cols);
        return 1;
    case MIIK_Q4_0: mv_q4_0(base, row_bytes, cols, x, y, r0, r1); return 1;
    case MIIK_Q4_1: mv_q4_1(base, row_bytes, cols, x, y, r0, r1); return 1;
    case MIIK_Q5_0: mv_q5_0(base, row_bytes, cols, x, y, r0, r1); return 1;
    case MIIK_Q5_1: mv_q5_1(base, row_bytes, cols, x, y, r0, r1); return 1;
    case MIIK_Q8_0: mv_q8_0(base, row_bytes, cols, x, y, r0, r1); return 1;
    case MIIK_Q4_K:
    case MIIK_Q6_K:
        return 0; /* use the fused AVX2 kernels (no store and reload of a dequantized row) */
    default:
        if (!miik_type_supported(type)) return 0;
        mv_chunked(type, base, row_bytes, cols, x, y, r0, r1);
        return 1;
    }
}

/* ---- precise matmul ------------------------------------------------------------------------ */

A5I void dot_1x4(const float *w, const float *x0, const float *x1, const float *x2, const float *x3,
                 int64_t n, float out[4]) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    __m512 b0 = _mm512_setzero_ps(), b1 = _mm512_setzero_ps();
    __m512 b2 = _mm512_setzero_ps(), b3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 w0 = _mm512_loadu_ps(w + i), w1 = _mm512_loadu_ps(w + i + 16);
        a0 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x0 + i), a0);
        a1 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x1 + i), a1);
        a2 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x2 + i), a2);
        a3 = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x3 + i), a3);
        b0 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x0 + i + 16), b0);
        b1 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x1 + i + 16), b1);
        b2 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x2 + i + 16), b2);
        b3 = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x3 + i + 16), b3);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xFFFF : tail_mask(n - i);
        const __m512 w0 = _mm512_maskz_loadu_ps(m, w + i);
        a0 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x0 + i), a0);
        a1 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x1 + i), a1);
        a2 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x2 + i), a2);
        a3 = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x3 + i), a3);
    }
    out[0] = _mm512_reduce_add_ps(_mm512_add_ps(a0, b0));
    out[1] = _mm512_reduce_add_ps(_mm512_add_ps(a1, b1));
    out[2] = _mm512_reduce_add_ps(_mm512_add_ps(a2, b2));
    out[3] = _mm512_reduce_add_ps(_mm512_add_ps(a3, b3));
}

A5 int miik_avx512_matmul(int type, const void *w, size_t row_bytes, int64_t cols,
                          const float *x, int64_t ldx, int64_t n_tok, float *y, int64_t ldy,
                          int64_t r0, int64_t r1, float *scratch) {
    if (!miik_type_supported(type)) return 0;
    const uint8_t *base = (const uint8_t *)w;
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = base + (size_t)r * row_bytes;
        const float *wr;
        if (type == MIIK_F32) {
            wr = (const float *)(const void *)row;
        } else {
            if (!miik_avx512_dequantize(type, row, scratch, cols) &&
                !miik_avx2_dequantize(type, row, scratch, cols)) {
                miik_dequantize_ref(type, row, scratch, cols);
            }
            wr = scratch;
        }
        int64_t t = 0;
        for (; t + 4 <= n_tok; t += 4) {
            float o[4];
            dot_1x4(wr, x + t * ldx, x + (t + 1) * ldx, x + (t + 2) * ldx, x + (t + 3) * ldx, cols, o);
            for (int k = 0; k < 4; k++) y[(t + k) * ldy + r] = o[k];
        }
        for (; t < n_tok; t++) y[t * ldy + r] = dot_f32(wr, x + t * ldx, cols);
    }
    return 1;
}

/* ---- fast mode: 8-bit activations ---------------------------------------------------------- */

A5 void miik_avx512_quantize_act(const float *x, miik_q8a *dst, int64_t n) {
    const __m512 lim = _mm512_set1_ps(127.0f), nlim = _mm512_set1_ps(-127.0f);
    for (int64_t i = 0; i < n / 32; i++) {
        const __m512 f0 = _mm512_loadu_ps(x + 32 * i), f1 = _mm512_loadu_ps(x + 32 * i + 16);
        const __m512 a0 = _mm512_abs_ps(f0), a1 = _mm512_abs_ps(f1), inf = _mm512_set1_ps(INFINITY);
        if (_mm512_cmp_ps_mask(a0, inf, _CMP_NLT_UQ) | _mm512_cmp_ps_mask(a1, inf, _CMP_NLT_UQ)) {
            /* an infinity or a NaN: d = NaN and zero quants (as quantize_block_ref) */
            memset(dst[i].q, 0, sizeof dst[i].q);
            dst[i].d = NAN;
            dst[i].s = NAN;
            continue;
        }
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        __m512 q0 = _mm512_roundscale_ps(_mm512_mul_ps(f0, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 q1 = _mm512_roundscale_ps(_mm512_mul_ps(f1, vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q0 = _mm512_min_ps(_mm512_max_ps(q0, nlim), lim);
        q1 = _mm512_min_ps(_mm512_max_ps(q1, nlim), lim);
        _mm_storeu_si128((__m128i *)dst[i].q, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q0)));
        _mm_storeu_si128((__m128i *)(dst[i].q + 16), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(q1)));
        dst[i].d = d;
        dst[i].s = d * _mm512_reduce_add_ps(_mm512_add_ps(q0, q1)); /* exact integer sum */
    }
}

/* VNNI integer dots. Unsigned weight bytes times signed activation bytes (vpdpbusd); the symmetric
 * types are made unsigned by an offset (Q4_0 +8, Q5_0 +16, Q8_0 +128 via xor 0x80) whose
 * contribution offset*sum(a) is computed once per activation block and subtracted.
 *
 * Two blocks per 512-bit register. Nibble types produce, for blocks A and B,
 * [lo(A) | lo(B) | hi(A) | hi(B)] (16 bytes each), so the activations are permuted to match:
 * [a_A[0:16] | a_B[0:16] | a_A[16:32] | a_B[16:32]]; int32 lanes 0-3 and 8-11 then belong to
 * block A, lanes 4-7 and 12-15 to block B. Q8_0 keeps the natural [A | B] order (lanes 0-7 A). */

A5VI __m512i pair_u8(int type, const uint8_t *ba, const uint8_t *bb) {
    if (type == MIIK_Q8_0) {
        const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(ba + 2))),
                                             _mm256_loadu_si256((const __m256i *)(bb + 2)), 1);
        return _mm512_xor_si512(w, _mm512_set1_epi8((char)0x80));
    }
    const int qo = qs_off(type);
    const __m256i raw = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(bb + qo)),
                                         _mm_loadu_si128((const __m128i *)(ba + qo)));
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(raw, m4)),
                                   _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4), 1);
    if (type == MIIK_Q5_0 || type == MIIK_Q5_1) {
        const uint64_t ha = miik_load_u32(ba + qh_off(type)), hb = miik_load_u32(bb + qh_off(type));
        const __mmask64 k = (ha & 0xFFFFu) | ((hb & 0xFFFFu) << 16) | ((ha >> 16) << 32) | ((hb >> 16) << 48);
        w = _mm512_mask_add_epi8(w, k, w, _mm512_set1_epi8(16));
    }
    return w;
}

A5VI int sym_offset(int type) {
    switch (type) {
    case MIIK_Q4_0: return 8;
    case MIIK_Q5_0: return 16;
    case MIIK_Q8_0: return 128;
    default: return 0;
    }
}

A5VI void mvq8_rows(int type, const uint8_t *w, size_t rb, int64_t nb, const miik_q8a *xq, float *y, int nr) {
    __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    float accm[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const int bs = bytes32(type);
    const int off = sym_offset(type);
    const __m512i voff = _mm512_set1_epi8((char)off);
    /* lanes of block B: 4-7 and 12-15 for the nibble layout, 8-15 for Q8_0 */
    const __mmask16 kb = type == MIIK_Q8_0 ? (__mmask16)0xFF00 : (__mmask16)0xF0F0;
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m512i a = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)xq[b].q)),
                                       _mm256_loadu_si256((const __m256i *)xq[b + 1].q), 1);
        if (type != MIIK_Q8_0) a = _mm512_shuffle_i64x2(a, a, _MM_SHUFFLE(3, 1, 2, 0));
        const __m512i corr = off ? _mm512_dpbusd_epi32(_mm512_setzero_si512(), voff, a) : _mm512_setzero_si512();
        const float da = xq[b].d, db = xq[b + 1].d;
        for (int r = 0; r < nr; r++) {
            const uint8_t *ba = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            const uint8_t *bb = ba + bs;
            __m512i is = _mm512_dpbusd_epi32(_mm512_setzero_si512(), pair_u8(type, ba, bb), a);
            if (off) is = _mm512_sub_epi32(is, corr);
            const __m512 sc = _mm512_mask_blend_ps(kb, _mm512_set1_ps(H2F(ba) * da), _mm512_set1_ps(H2F(bb) * db));
            acc[r] = _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(is), acc[r]);
            if (affine(type)) accm[r] += H2F(ba + 2) * xq[b].s + H2F(bb + 2) * xq[b + 1].s;
        }
    }
    for (; b < nb; b++) { /* odd last block: 256-bit, natural element order */
        const __m256i a = _mm256_loadu_si256((const __m256i *)xq[b].q);
        const __m256i voff8 = _mm256_set1_epi8((char)off);
        const __m256i corr = off ? _mm256_dpbusd_epi32(_mm256_setzero_si256(), voff8, a) : _mm256_setzero_si256();
        for (int r = 0; r < nr; r++) {
            const uint8_t *ba = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            __m256i wq;
            if (type == MIIK_Q8_0) {
                wq = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(ba + 2)), _mm256_set1_epi8((char)0x80));
            } else {
                const __m128i raw = _mm_loadu_si128((const __m128i *)(ba + qs_off(type)));
                wq = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
                if (type == MIIK_Q5_0 || type == MIIK_Q5_1) {
                    const __mmask32 k = miik_load_u32(ba + qh_off(type));
                    wq = _mm256_mask_add_epi8(wq, k, wq, _mm256_set1_epi8(16));
                }
            }
            __m256i is = _mm256_dpbusd_epi32(_mm256_setzero_si256(), wq, a);
            if (off) is = _mm256_sub_epi32(is, corr);
            const __m256 f = _mm256_mul_ps(_mm256_set1_ps(H2F(ba) * xq[b].d), _mm256_cvtepi32_ps(is));
            __m128 h = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
            h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            h = _mm_add_ss(h, _mm_movehdup_ps(h));
            accm[r] += _mm_cvtss_f32(h);
            if (affine(type)) accm[r] += H2F(ba + 2) * xq[b].s;
        }
    }
    for (int r = 0; r < nr; r++) y[r] = _mm512_reduce_add_ps(acc[r]) + accm[r];
}

#define MVQ8_INSTANCE(NAME, TYPE)                                                                     \
    A5V static void NAME(const uint8_t *w, size_t rb, int64_t nb, const miik_q8a *xq, float *y,      \
                         int64_t r0, int64_t r1) {                                                   \
        int64_t r = r0;                                                                              \
        for (; r + 4 <= r1; r += 4) mvq8_rows(TYPE, w + (size_t)r * rb, rb, nb, xq, y + r, 4);        \
        for (; r < r1; r++) mvq8_rows(TYPE, w + (size_t)r * rb, rb, nb, xq, y + r, 1);                \
    }

MVQ8_INSTANCE(mvq8_q4_0, MIIK_Q4_0)
MVQ8_INSTANCE(mvq8_q4_1, MIIK_Q4_1)
MVQ8_INSTANCE(mvq8_q5_0, MIIK_Q5_0)
MVQ8_INSTANCE(mvq8_q5_1, MIIK_Q5_1)
MVQ8_INSTANCE(mvq8_q8_0, MIIK_Q8_0)

A5V int miik_avx512_matvec_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                              const miik_q8a *xq, float *y, int64_t r0, int64_t r1, int vnni) {
    if (!vnni) return 0; /* AVX-512 without VNNI: the AVX2 maddubs kernels are used */
    const uint8_t *base = (const uint8_t *)w;
    const int64_t nb = cols / 32;
    switch (type) {
    case MIIK_Q4_0: mvq8_q4_0(base, row_bytes, nb, xq, y, r0, r1); return 1;
    case MIIK_Q4_1: mvq8_q4_1(base, row_bytes, nb, xq, y, r0, r1); return 1;
    case MIIK_Q5_0: mvq8_q5_0(base, row_bytes, nb, xq, y, r0, r1); return 1;
    case MIIK_Q5_1: mvq8_q5_1(base, row_bytes, nb, xq, y, r0, r1); return 1;
    case MIIK_Q8_0: mvq8_q8_0(base, row_bytes, nb, xq, y, r0, r1); return 1;
    default: return 0;
    }
}

A5V int miik_avx512_matmul_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                              const miik_q8a *xq, int64_t n_tok, float *y, int64_t ldy,
                              int64_t r0, int64_t r1, int vnni) {
    if (!vnni || !miik_type_has_q8_path(type)) return 0;
    const int64_t nb = cols / 32;
    for (int64_t rt = r0; rt < r1; rt += 16) {
        const int64_t re = rt + 16 < r1 ? rt + 16 : r1;
        for (int64_t t = 0; t < n_tok; t++) {
            miik_avx512_matvec_q8(type, w, row_bytes, cols, xq + t * nb, y + t * ldy, rt, re, 1);
        }
    }
    return 1;
}

#endif /* x86 */
