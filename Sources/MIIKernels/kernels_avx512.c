/*
 * kernels_avx512.c - AVX-512 (F + BW + VL) kernels, and AVX-512 VNNI for the 8-bit activation path.
 *
 * Functions carry __attribute__((target(...))); no global -m flags. The VNNI kernels have their
 * own attribute set so that nothing else can pick up VNNI instructions on CPUs without it.
 * Types without an AVX-512 version return 0 and the dispatcher uses the AVX2 version instead; so do
 * the kernels whose AVX2 version measured faster on Zen 4, whose 512-bit operations issue at half
 * the rate of 256-bit ones (the float tiles of miik_matmul; bench/RESULTS.md, session 9).
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
            /* decode streams every matrix from DRAM: see MIIK_PF_ROWS */
            _mm_prefetch((const char *)(blk + MIIK_PF_ROWS * rb), MIIK_PF_HINT);
            __m512 f0, f1;
            block_f32(type, blk, &f0, &f1);
            const __m512 v = _mm512_fmadd_ps(f1, x1, _mm512_mul_ps(f0, x0));
            /* one conversion gives [d, m] (m: the next two bytes, used by the affine types only) */
            const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)miik_load_u32(blk)));
            acc[r] = _mm512_fmadd_ps(_mm512_broadcastss_ps(dm), v, acc[r]);
            if (affine(type)) acc[r] = _mm512_fmadd_ps(_mm512_broadcastss_ps(_mm_movehdup_ps(dm)), xs, acc[r]);
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

A5VI int sym_offset(int type) {
    switch (type) {
    case MIIK_Q4_0: return 8;
    case MIIK_Q5_0: return 16;
    case MIIK_Q8_0: return 128;
    default: return 0;
    }
}

/* A block's 32 quants as unsigned bytes in element order (the symmetric types offset). */
A5VI __m256i block_u8(int type, const uint8_t *blk) {
    if (type == MIIK_Q8_0)
        return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), _mm256_set1_epi8((char)0x80));
    const __m128i raw = _mm_loadu_si128((const __m128i *)(blk + qs_off(type)));
    __m256i u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), _mm256_set1_epi8(0x0F));
    if (type == MIIK_Q5_0 || type == MIIK_Q5_1)
        u = _mm256_mask_add_epi8(u, (__mmask32)miik_load_u32(blk + qh_off(type)), u, _mm256_set1_epi8(16));
    return u;
}

/* The single-token integer kernels' per-block scaling: the block's integer dot `is` (8 lanes of
 * partial sums) times d_w * d_a into acc, and for the affine types m_w * s_a into lane 1 of accm.
 * das = [d_a, s_a] of the activation block. */
A5VI void mv_scale_block(int type, const uint8_t *blk, __m256i is, __m128 das, __m256 *acc, __m128 *accm) {
    const __m256 f = _mm256_cvtepi32_ps(is);
    if (affine(type)) {
        /* one fp16 conversion and one multiply give [d_w * d_a, m_w * s_a] */
        const __m128 pr = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)miik_load_u32(blk))), das);
        *acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(pr), f, *acc);
        *accm = _mm_add_ps(*accm, pr);
    } else {
        *acc = _mm256_fmadd_ps(_mm256_set1_ps(H2F(blk) * _mm_cvtss_f32(das)), f, *acc);
    }
}

/* A row's result from mv_scale_block's accumulators. */
A5VI float mv_row_total(int type, __m256 acc, __m128 accm) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h) + (affine(type) ? _mm_cvtss_f32(_mm_movehdup_ps(accm)) : 0.0f);
}

/* One token (decode): the AVX2 kernel's scheme, one 32-quant block per 256-bit register, with
 * vpdpbusd in place of maddubs + madd. Q8_0: |w| times a with w's sign; the 4/5-bit types: the
 * unsigned quants (block_u8) times a, the symmetric types' offset * sum(a) subtracted per block
 * (computed once for all rows). Weights are prefetched MIIK_PF_ROWS rows ahead, as decode streams
 * them from DRAM. */
A5VI void mvq8v_rows(int type, const uint8_t *w, size_t rb, int64_t nb, const miik_q8a *xq, float *y, int nr) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 accm[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    const int bs = bytes32(type);
    const int off = type == MIIK_Q8_0 ? 0 : sym_offset(type);
    for (int64_t b = 0; b < nb; b++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)xq[b].q);
        const __m256i corr = off ? _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)off), a)
                                 : _mm256_setzero_si256();
        /* [d_a, s_a]: the two floats at the start of the activation block */
        const __m128 das = _mm_castpd_ps(_mm_load_sd((const double *)(const void *)&xq[b].d));
        for (int r = 0; r < nr; r++) {
            const uint8_t *blk = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            _mm_prefetch((const char *)(blk + MIIK_PF_ROWS * rb), MIIK_PF_HINT);
            __m256i is;
            if (type == MIIK_Q8_0) {
                const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 2));
                is = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(q), _mm256_sign_epi8(a, q));
            } else {
                is = _mm256_dpbusd_epi32(_mm256_setzero_si256(), block_u8(type, blk), a);
                if (off) is = _mm256_sub_epi32(is, corr);
            }
            mv_scale_block(type, blk, is, das, &acc[r], &accm[r]);
        }
    }
    for (int r = 0; r < nr; r++) y[r] = mv_row_total(type, acc[r], accm[r]);
}

#define MVQ8_INSTANCE(NAME, TYPE)                                                                     \
    A5V static void NAME(const uint8_t *w, size_t rb, int64_t nb, const miik_q8a *xq, float *y,      \
                         int64_t r0, int64_t r1) {                                                   \
        int64_t r = r0;                                                                              \
        for (; r + 4 <= r1; r += 4) mvq8v_rows(TYPE, w + (size_t)r * rb, rb, nb, xq, y + r, 4);       \
        for (; r < r1; r++) mvq8v_rows(TYPE, w + (size_t)r * rb, rb, nb, xq, y + r, 1);               \
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

/* ---- fast mode, one token, 16-bit activations: VNNI on the activations' two bytes ----------- *
 *
 * A 16-bit activation quant x (|x| <= 32767) is 256 * a + b with a = x >> 8, a signed byte, and
 * b = x & 255, an unsigned one. With u the weight block's unsigned quants (block_u8) and q = u - off
 * its true ones (off = sym_offset),
 *     sum q x = 256 * (sum u a - off * sum a) + sum q b,
 * and every piece is one 256-bit vpdpbusd (unsigned x signed bytes): u times a; b times q where q
 * fits a signed byte (Q8_0's raw quants; the 4/5-bit types' u, their offset subtracted after as
 * off * sum b); off * sum a is the accumulator's start. The integer result is the exact dot product,
 * as in the AVX2 kernel (|256 sum u a| < 2^28), for 4 vector operations per block and row against
 * the AVX2 kernel's 5 (two widenings, two 16-bit multiply-adds, an add), and no lane crossing. */

/* Split 16-bit blocks, element order: a[i] = x >> 8, b[i] = x & 255. */
typedef struct { int8_t a[32]; uint8_t b[32]; } mv16_split;

/* Blocks per pass over the rows: the split activations live on the stack (16 KB); longer rows are
 * done in passes that add into y. */
#define MV16_SPLIT_BLOCKS 256

A5VI void mv16_split_blocks(const miik_q16a *xq, int64_t nb, mv16_split *out) {
    const __m256i lo8 = _mm256_set1_epi16(0xFF);
    for (int64_t b = 0; b < nb; b++) {
        /* storage order [e0-7 | e16-23], [e8-15 | e24-31]; byte packing works per 128-bit lane, so
         * packing the first with the second gives element order [e0-15 | e16-31] */
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)xq[b].q);
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)(xq[b].q + 16));
        const __m256i a = _mm256_packs_epi16(_mm256_srai_epi16(x0, 8), _mm256_srai_epi16(x1, 8));
        const __m256i lo = _mm256_packus_epi16(_mm256_and_si256(x0, lo8), _mm256_and_si256(x1, lo8));
        _mm256_storeu_si256((__m256i *)out[b].a, a);
        _mm256_storeu_si256((__m256i *)out[b].b, lo);
    }
}

/* NR rows against nb split blocks; adds into y when `add`. xq gives each block's [d, s]. */
A5VI void mv16v_rows(int type, const uint8_t *w, size_t rb, int64_t nb, const mv16_split *xs,
                     const miik_q16a *xq, float *y, int nr, int add) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 accm[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    const int bs = bytes32(type);
    const int off = sym_offset(type);
    const __m256i voff = _mm256_set1_epi8((char)off);
    for (int64_t b = 0; b < nb; b++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)xs[b].a);
        const __m256i lo = _mm256_loadu_si256((const __m256i *)xs[b].b);
        /* -off * sum a, and (4/5-bit symmetric types) off * sum b, per lane; shared by the rows */
        const __m256i start = off ? _mm256_sub_epi32(_mm256_setzero_si256(),
                                                     _mm256_dpbusd_epi32(_mm256_setzero_si256(), voff, a))
                                  : _mm256_setzero_si256();
        const __m256i corr_b = off && type != MIIK_Q8_0 ? _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, voff)
                                                        : _mm256_setzero_si256();
        const __m128 das = _mm_castpd_ps(_mm_load_sd((const double *)(const void *)&xq[b].d));
        for (int r = 0; r < nr; r++) {
            const uint8_t *blk = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            _mm_prefetch((const char *)(blk + MIIK_PF_ROWS * rb), MIIK_PF_HINT);
            const __m256i u = block_u8(type, blk);
            __m256i is = _mm256_slli_epi32(_mm256_dpbusd_epi32(start, u, a), 8);
            if (type == MIIK_Q8_0) {
                is = _mm256_dpbusd_epi32(is, lo, _mm256_loadu_si256((const __m256i *)(blk + 2)));
            } else {
                is = _mm256_dpbusd_epi32(is, lo, u);
                if (off) is = _mm256_sub_epi32(is, corr_b);
            }
            mv_scale_block(type, blk, is, das, &acc[r], &accm[r]);
        }
    }
    for (int r = 0; r < nr; r++) {
        const float v = mv_row_total(type, acc[r], accm[r]);
        y[r] = add ? y[r] + v : v;
    }
}

#define MV16_INSTANCE(NAME, TYPE)                                                                     \
    A5V static void NAME(const uint8_t *w, size_t rb, int64_t nb, const mv16_split *xs,              \
                         const miik_q16a *xq, float *y, int64_t r0, int64_t r1, int add) {           \
        int64_t r = r0;                                                                              \
        for (; r + 4 <= r1; r += 4) mv16v_rows(TYPE, w + (size_t)r * rb, rb, nb, xs, xq, y + r, 4, add); \
        for (; r < r1; r++) mv16v_rows(TYPE, w + (size_t)r * rb, rb, nb, xs, xq, y + r, 1, add);       \
    }

MV16_INSTANCE(mv16_q4_0, MIIK_Q4_0)
MV16_INSTANCE(mv16_q4_1, MIIK_Q4_1)
MV16_INSTANCE(mv16_q5_0, MIIK_Q5_0)
MV16_INSTANCE(mv16_q5_1, MIIK_Q5_1)
MV16_INSTANCE(mv16_q8_0, MIIK_Q8_0)

A5V int miik_avx512_matvec_q16(int type, const void *w, size_t row_bytes, int64_t cols,
                               const miik_q16a *xq, float *y, int64_t r0, int64_t r1, int vnni) {
    if (!vnni) return 0; /* the AVX2 kernel */
    switch (type) {
    case MIIK_Q4_0: case MIIK_Q4_1: case MIIK_Q5_0: case MIIK_Q5_1: case MIIK_Q8_0: break;
    default: return 0;
    }
    const int64_t nb = cols / 32;
    mv16_split xs[MV16_SPLIT_BLOCKS];
    for (int64_t b0 = 0; b0 < nb; b0 += MV16_SPLIT_BLOCKS) {
        const int64_t n = nb - b0 < MV16_SPLIT_BLOCKS ? nb - b0 : MV16_SPLIT_BLOCKS;
        mv16_split_blocks(xq + b0, n, xs);
        const uint8_t *base = (const uint8_t *)w + (size_t)b0 * (size_t)bytes32(type);
        const int add = b0 > 0;
        switch (type) {
        case MIIK_Q4_0: mv16_q4_0(base, row_bytes, n, xs, xq + b0, y, r0, r1, add); break;
        case MIIK_Q4_1: mv16_q4_1(base, row_bytes, n, xs, xq + b0, y, r0, r1, add); break;
        case MIIK_Q5_0: mv16_q5_0(base, row_bytes, n, xs, xq + b0, y, r0, r1, add); break;
        case MIIK_Q5_1: mv16_q5_1(base, row_bytes, n, xs, xq + b0, y, r0, r1, add); break;
        default: mv16_q8_0(base, row_bytes, n, xs, xq + b0, y, r0, r1, add); break;
        }
    }
    return 1;
}

/* ---- fast mode, several tokens: VNNI tiles with the tokens in lanes ------------------------- *
 *
 * The activations of up to 16 tokens are packed once per call so that, for each block and each
 * group j of the block's quants, one vector holds token t's group in int32 lane t: 4 quants (j < 8)
 * for 8-bit activations, 2 (j < 16) for 16-bit ones. A weight row's matching group is broadcast to
 * all lanes, and one vpdpbusd (8-bit: unsigned weight bytes times signed activation bytes) or
 * vpdpwssd (16-bit: signed words times signed words) adds its dot with every token's group at once.
 * A block's 8 or 16 instructions leave the tokens' integer block sums in the lanes; one conversion
 * and one FMA apply the scales d_w * d_a(t) (and one more FMA the affine types' m_w * s_a(t)).
 *
 * 8-bit: the symmetric types are made unsigned by an offset (Q4_0 +8, Q5_0 +16, Q8_0 +128 by xor
 * 0x80) whose contribution offset * sum(q_t) is packed per token and subtracted in integers.
 * 16-bit: the weights are widened to signed words (the offset subtracted, Q8_0 sign-extended), so
 * nothing is subtracted. Sums stay in int32: at most 16 pairs of 2 * 128 * 32767.
 *
 * 16 tokens use 512-bit registers; 8 or fewer 256-bit ones (the first half of each packed lane
 * group), whose dot instructions issue twice as often on Zen 4. Rows longer than MMV_MAXNB blocks
 * are done in chunks of blocks, each chunk's sums added to y. Padding lanes hold zero quants and
 * scales and are not stored. The packed tokens (mmv_pack, 38 KB) live on the calling thread's stack. */

#define MMV_TOK 16
#define MMV_MAXNB 32
#ifndef MIIK_AVX512_MM_MIN_TOK
#define MIIK_AVX512_MM_MIN_TOK 8 /* fewer tokens: the AVX2 4-token tiles / float tiles (bench/RESULTS.md) */
#endif

typedef struct {
    int32_t a[MMV_MAXNB][16][MMV_TOK]; /* [block][group j][token] */
    float d[MMV_MAXNB][MMV_TOK];       /* activation scales */
    float s[MMV_MAXNB][MMV_TOK];       /* d * sum(q) (the affine types' min term) */
    int32_t o[MMV_MAXNB][MMV_TOK];     /* 8-bit: offset * sum(q) (the symmetric types) */
} __attribute__((aligned(64))) mmv_pack;

/* Packs tokens [0, nt) (nt <= 16) of blocks [b0, b0 + nbc); xq is [token][nb blocks]. */
A5VI void mmv_pack8(int off, const miik_q8a *xq, int64_t nb, int nt, int64_t b0, int64_t nbc, mmv_pack *p) {
    for (int64_t b = 0; b < nbc; b++) {
        for (int t = 0; t < MMV_TOK; t++) {
            const miik_q8a *blk = t < nt ? xq + (int64_t)t * nb + b0 + b : NULL;
            int32_t sum = 0;
            if (blk) for (int k = 0; k < 32; k++) sum += blk->q[k];
            for (int j = 0; j < 8; j++) p->a[b][j][t] = blk ? (int32_t)miik_load_u32(blk->q + 4 * j) : 0;
            p->d[b][t] = blk ? blk->d : 0.0f;
            p->s[b][t] = blk ? blk->s : 0.0f;
            p->o[b][t] = off * sum;
        }
    }
}

A5VI void mmv_pack16(const miik_q16a *xq, int64_t nb, int nt, int64_t b0, int64_t nbc, mmv_pack *p) {
    for (int64_t b = 0; b < nbc; b++) {
        for (int t = 0; t < MMV_TOK; t++) {
            const miik_q16a *blk = t < nt ? xq + (int64_t)t * nb + b0 + b : NULL;
            for (int j = 0; j < 16; j++) {
                const uint32_t lo = blk ? (uint16_t)blk->q[miik_q16_element(2 * j)] : 0u;
                const uint32_t hi = blk ? (uint16_t)blk->q[miik_q16_element(2 * j + 1)] : 0u;
                p->a[b][j][t] = (int32_t)(lo | hi << 16);
            }
            p->d[b][t] = blk ? blk->d : 0.0f;
            p->s[b][t] = blk ? blk->s : 0.0f;
            p->o[b][t] = 0;
        }
    }
}


/* The weight groups of one block: 8 dwords of 4 unsigned bytes (8-bit tiles), or 16 dwords of 2
 * signed words (16-bit tiles). */
A5VI void block_groups8(int type, const uint8_t *blk, uint32_t *wq) {
    _mm256_store_si256((__m256i *)wq, block_u8(type, blk));
}

A5VI void block_groups16(int type, const uint8_t *blk, uint32_t *wq) {
    /* two 256-bit stores: the dword loads that follow are forwarded from them (measured ~1.5x
     * slower with one 512-bit store on Zen 4) */
    __m256i lo, hi;
    if (type == MIIK_Q8_0) {
        lo = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 2)));
        hi = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 18)));
    } else {
        const __m256i u = block_u8(type, blk);
        lo = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(u));
        hi = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(u, 1));
        const int off = sym_offset(type);
        if (off) {
            lo = _mm256_sub_epi16(lo, _mm256_set1_epi16((short)off));
            hi = _mm256_sub_epi16(hi, _mm256_set1_epi16((short)off));
        }
    }
    _mm256_store_si256((__m256i *)wq, lo);
    _mm256_store_si256((__m256i *)(wq + 8), hi);
}

A5VI int off8(int type) { return sym_offset(type); }
A5VI int off16(int type) { (void)type; return 0; }

/* NR rows (rb bytes apart) against the packed tokens of nbc blocks: acc[r] lane t = row r . token t.
 * One body for both activation widths (NG groups per block, GROUPS / DP / OFF) and both register
 * widths (VI / VF and their operations). */
#define MMV_ROWS_DEF(NAME, NG, GROUPS, OFF, DP, SET1, VI, VF, LDI, LDF, ADD, SUB, CVT, MUL, FMA, BCAST, ZERO, ZEROF) \
    A5VI void NAME(int type, const uint8_t *w, size_t rb, int64_t nbc, const mmv_pack *p, VF acc[4], int nr) { \
        const int bs = bytes32(type);                                                                \
        const int off = OFF(type);                                                                   \
        for (int r = 0; r < nr; r++) acc[r] = ZEROF();                                               \
        for (int64_t b = 0; b < nbc; b++) {                                                          \
            uint32_t wq[4][16] __attribute__((aligned(64)));                                         \
            VI is[4], is2[4]; /* even and odd groups: two dependency chains per row */               \
            for (int r = 0; r < nr; r++) {                                                           \
                /* the output head streams from DRAM: see MIIK_PF_ROWS */                          \
                _mm_prefetch((const char *)(w + (size_t)(r + MIIK_PF_ROWS) * rb + (size_t)b * (size_t)bs), MIIK_PF_HINT); \
                GROUPS(type, w + (size_t)r * rb + (size_t)b * (size_t)bs, wq[r]);                    \
                is[r] = ZERO();                                                                      \
                is2[r] = ZERO();                                                                     \
            }                                                                                        \
            /* the groups are broadcast from memory (a load each); left to itself the compiler      \
             * keeps them in registers and broadcasts them with two shuffles each, ~2x slower */     \
            __asm__ volatile("" : : "r"(wq) : "memory");                                             \
            for (int j = 0; j < NG; j += 2) {                                                        \
                const VI a = LDI((const void *)p->a[b][j]), a2 = LDI((const void *)p->a[b][j + 1]);  \
                for (int r = 0; r < nr; r++) {                                                       \
                    is[r] = DP(is[r], SET1((int)wq[r][j]), a);                                       \
                    is2[r] = DP(is2[r], SET1((int)wq[r][j + 1]), a2);                                \
                }                                                                                    \
            }                                                                                        \
            for (int r = 0; r < nr; r++) is[r] = ADD(is[r], is2[r]);                                 \
            const VF da = LDF(p->d[b]);                                                              \
            for (int r = 0; r < nr; r++) {                                                           \
                const uint8_t *blk = w + (size_t)r * rb + (size_t)b * (size_t)bs;                    \
                if (off) is[r] = SUB(is[r], LDI((const void *)p->o[b]));                             \
                const __m128 dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)miik_load_u32(blk))); /* [d, m] */ \
                acc[r] = FMA(CVT(is[r]), MUL(da, BCAST(dm)), acc[r]);                                \
                if (affine(type)) acc[r] = FMA(LDF(p->s[b]), BCAST(_mm_movehdup_ps(dm)), acc[r]);    \
            }                                                                                        \
        }                                                                                            \
    }

A5VI __m512i ld512i(const void *p) { return _mm512_load_si512(p); }
A5VI __m256i ld256i(const void *p) { return _mm256_load_si256((const __m256i *)p); }
#define MMV_OPS512 __m512i, __m512, ld512i, _mm512_load_ps, _mm512_add_epi32, _mm512_sub_epi32, _mm512_cvtepi32_ps, _mm512_mul_ps, \
                   _mm512_fmadd_ps, _mm512_broadcastss_ps, _mm512_setzero_si512, _mm512_setzero_ps
#define MMV_OPS256 __m256i, __m256, ld256i, _mm256_load_ps, _mm256_add_epi32, _mm256_sub_epi32, _mm256_cvtepi32_ps, _mm256_mul_ps, \
                   _mm256_fmadd_ps, _mm256_broadcastss_ps, _mm256_setzero_si256, _mm256_setzero_ps
/* one more expansion, so that the OPS list splits into MMV_ROWS_DEF's arguments */
#define MMV_ROWS(...) MMV_ROWS_DEF(__VA_ARGS__)
MMV_ROWS(mmv8_rows16, 8, block_groups8, off8, _mm512_dpbusd_epi32, _mm512_set1_epi32, MMV_OPS512)
MMV_ROWS(mmv8_rows8, 8, block_groups8, off8, _mm256_dpbusd_epi32, _mm256_set1_epi32, MMV_OPS256)
MMV_ROWS(mmv16_rows16, 16, block_groups16, off16, _mm512_dpwssd_epi32, _mm512_set1_epi32, MMV_OPS512)
MMV_ROWS(mmv16_rows8, 16, block_groups16, off16, _mm256_dpwssd_epi32, _mm256_set1_epi32, MMV_OPS256)

/* Stores lanes [0, nt) of one row's results to y (token t at yc[t * ldy]), or adds them for a later
 * chunk of blocks. */
A5VI void mmv_store(const float *o, int nt, float *yc, int64_t ldy, int add) {
    if (add) for (int t = 0; t < nt; t++) yc[t * ldy] += o[t];
    else for (int t = 0; t < nt; t++) yc[t * ldy] = o[t];
}

/* xq: [n_tok][nb] blocks of miik_q8a (wide = 0) or miik_q16a (wide = 1). */
A5VI void mmv_tiles(int type, int wide, const uint8_t *w, size_t rb, int64_t nb, const void *xq, int64_t n_tok,
                    float *y, int64_t ldy, int64_t r0, int64_t r1) {
    mmv_pack p;
    const int bs = bytes32(type);
    for (int64_t t0 = 0; t0 < n_tok; t0 += MMV_TOK) {
        const int nt = n_tok - t0 < MMV_TOK ? (int)(n_tok - t0) : MMV_TOK;
        for (int64_t b0 = 0; b0 < nb; b0 += MMV_MAXNB) {
            const int64_t nbc = nb - b0 < MMV_MAXNB ? nb - b0 : MMV_MAXNB;
            if (wide) mmv_pack16((const miik_q16a *)xq + t0 * nb, nb, nt, b0, nbc, &p);
            else mmv_pack8(sym_offset(type), (const miik_q8a *)xq + t0 * nb, nb, nt, b0, nbc, &p);
            for (int64_t r = r0; r < r1;) {
                const int nr = r1 - r >= 4 ? 4 : 1;
                const uint8_t *wr = w + (size_t)r * rb + (size_t)b0 * (size_t)bs;
                float o[4][MMV_TOK] __attribute__((aligned(64)));
/* a constant row count (4 or 1) in each call, so that the row loops unroll into registers */
#define MMV_CALL(FN) do { if (nr == 4) FN(type, wr, rb, nbc, &p, acc, 4); else FN(type, wr, rb, nbc, &p, acc, 1); } while (0)
                if (nt > 8) {
                    __m512 acc[4];
                    if (wide) MMV_CALL(mmv16_rows16);
                    else MMV_CALL(mmv8_rows16);
                    for (int k = 0; k < nr; k++) _mm512_store_ps(o[k], acc[k]);
                } else {
                    __m256 acc[4];
                    if (wide) MMV_CALL(mmv16_rows8);
                    else MMV_CALL(mmv8_rows8);
                    for (int k = 0; k < nr; k++) _mm256_store_ps(o[k], acc[k]);
                }
#undef MMV_CALL
                for (int k = 0; k < nr; k++) mmv_store(o[k], nt, y + t0 * ldy + r + k, ldy, b0 > 0);
                r += nr;
            }
        }
    }
}

#define MMV_INSTANCE(NAME, TYPE)                                                                      \
    A5V static void NAME(int wide, const uint8_t *w, size_t rb, int64_t nb, const void *xq, int64_t n_tok, \
                         float *y, int64_t ldy, int64_t r0, int64_t r1) {                            \
        mmv_tiles(TYPE, wide, w, rb, nb, xq, n_tok, y, ldy, r0, r1);                                 \
    }

MMV_INSTANCE(mmv_q4_0, MIIK_Q4_0)
MMV_INSTANCE(mmv_q4_1, MIIK_Q4_1)
MMV_INSTANCE(mmv_q5_0, MIIK_Q5_0)
MMV_INSTANCE(mmv_q5_1, MIIK_Q5_1)
MMV_INSTANCE(mmv_q8_0, MIIK_Q8_0)

A5V static int mmv_dispatch(int type, int wide, const void *w, size_t row_bytes, int64_t cols, const void *xq,
                            int64_t n_tok, float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const uint8_t *base = (const uint8_t *)w;
    const int64_t nb = cols / 32;
    switch (type) {
    case MIIK_Q4_0: mmv_q4_0(wide, base, row_bytes, nb, xq, n_tok, y, ldy, r0, r1); return 1;
    case MIIK_Q4_1: mmv_q4_1(wide, base, row_bytes, nb, xq, n_tok, y, ldy, r0, r1); return 1;
    case MIIK_Q5_0: mmv_q5_0(wide, base, row_bytes, nb, xq, n_tok, y, ldy, r0, r1); return 1;
    case MIIK_Q5_1: mmv_q5_1(wide, base, row_bytes, nb, xq, n_tok, y, ldy, r0, r1); return 1;
    case MIIK_Q8_0: mmv_q8_0(wide, base, row_bytes, nb, xq, n_tok, y, ldy, r0, r1); return 1;
    default: return 0;
    }
}

int miik_avx512_mm_min_tokens(void) { return MIIK_AVX512_MM_MIN_TOK; }

A5V int miik_avx512_matmul_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                              const miik_q8a *xq, int64_t n_tok, float *y, int64_t ldy,
                              int64_t r0, int64_t r1, int vnni) {
    if (!vnni || n_tok < MIIK_AVX512_MM_MIN_TOK) return 0; /* the AVX2 4-token tiles */
    return mmv_dispatch(type, 0, w, row_bytes, cols, xq, n_tok, y, ldy, r0, r1);
}

A5V int miik_avx512_matmul_q16(int type, const void *w, size_t row_bytes, int64_t cols,
                               const miik_q16a *xq, int64_t n_tok, float *y, int64_t ldy,
                               int64_t r0, int64_t r1, int vnni) {
    if (!vnni) return 0;
    return mmv_dispatch(type, 1, w, row_bytes, cols, xq, n_tok, y, ldy, r0, r1);
}

#endif /* x86 */
