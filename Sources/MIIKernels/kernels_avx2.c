/*
 * kernels_avx2.c - AVX2 + FMA + F16C kernels.
 *
 * Every function carries __attribute__((target(...))); the file is compiled without global -m
 * flags and only called after the dispatcher checked the CPU (types.c / dispatch.c).
 *
 * Dequantizers are exact (bit-identical to reference.c): every product of an fp16 scale with a
 * small integer quant is exact in float32, so a fused multiply-add rounds exactly like the
 * reference's multiply-then-add.
 */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "miik_internal.h"
#include <math.h>

#define A2 __attribute__((target("avx2,fma,f16c")))
#define A2I static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/* ---- small helpers ------------------------------------------------------------------------- */

A2I float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

A2I float h2f(const void *p) { return _cvtsh_ss(miik_load_u16(p)); }

/* 32 signed bytes -> 4 x 8 floats (element order preserved). */
A2I void i8x32_to_f32(__m256i q, __m256 f[4]) {
    const __m128i lo = _mm256_castsi256_si128(q);
    const __m128i hi = _mm256_extracti128_si256(q, 1);
    f[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    f[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    f[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    f[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

/* 16 packed bytes of nibbles -> 32 bytes: [low nibbles of bytes 0..15 | high nibbles]. */
A2I __m256i nib32(const uint8_t *qs) {
    const __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(raw, 4), raw);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* 32 bytes with 0x10 in byte i where bit i of qh is set (the 5th bit of Q5 quants). */
A2I __m256i q5_hbits(uint32_t qh) {
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                           0x0101010101010101LL, 0x0000000000000000LL);
    const __m256i bm = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bm), bm);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* 16 packed nibble bytes -> 32 floats 0..15 in element order: bytes go straight to 32-bit lanes
 * (vpmovzxbd from memory); low nibbles are elements 0..15, high nibbles elements 16..31. */
A2I void nib_f32(const uint8_t *qs, __m256 f[4]) {
    const __m256i m = _mm256_set1_epi32(0x0F);
    const __m256i v0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)qs));
    const __m256i v1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qs + 8)));
    f[0] = _mm256_cvtepi32_ps(_mm256_and_si256(v0, m));
    f[1] = _mm256_cvtepi32_ps(_mm256_and_si256(v1, m));
    f[2] = _mm256_cvtepi32_ps(_mm256_srli_epi32(v0, 4));
    f[3] = _mm256_cvtepi32_ps(_mm256_srli_epi32(v1, 4));
}

/* 16 bytes of nibbles -> 32 floats q * 2^-24, exactly: each nibble becomes the fp16 bit pattern
 * q, the subnormal half q * 2^-24, which vcvtph2ps converts exactly (F16C ignores MXCSR.DAZ). On
 * Zen 1 the 128-bit widening and vcvtph2ps are cheaper than vpmovzxbd + vcvtdq2ps (nib_f32).
 * Same element order as nib_f32. */
A2I void nib_half_sub(const uint8_t *qs, __m256 f[4]) {
    const __m128i lo = _mm_set1_epi16(0x0F);
    const __m128i w0 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)qs));
    const __m128i w1 = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(qs + 8)));
    f[0] = _mm256_cvtph_ps(_mm_and_si128(w0, lo));
    f[1] = _mm256_cvtph_ps(_mm_and_si128(w1, lo));
    f[2] = _mm256_cvtph_ps(_mm_srli_epi16(w0, 4));
    f[3] = _mm256_cvtph_ps(_mm_srli_epi16(w1, 4));
}

/* Loads 32 floats and returns the largest |x| among them. */
A2I float load32_amax(const float *v, __m256 f[4]) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int k = 0; k < 4; k++) f[k] = _mm256_loadu_ps(v + 8 * k);
    __m256 mx = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, f[0]), _mm256_andnot_ps(sign, f[1])),
                              _mm256_max_ps(_mm256_andnot_ps(sign, f[2]), _mm256_andnot_ps(sign, f[3])));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    return _mm_cvtss_f32(m4);
}

/* 32 signed bytes in memory -> 32 floats. */
A2I void i8mem_f32(const int8_t *q, __m256 f[4]) {
    for (int k = 0; k < 4; k++)
        f[k] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + 8 * k))));
}

/* The unscaled quants of one 32-element block as floats. Q4_0 comes back WITHOUT its -8 offset
 * (0..15; callers fold the offset in), the other types as block_q_i8 describes. */
A2I void block_f32(int type, const uint8_t *blk, __m256 f[4]);

/* Quant bytes of one 32-element block as signed bytes, with the symmetric offset applied
 * (Q4_0: q-8, Q5_0: q-16) or not (Q4_1 / Q5_1: unsigned 0..15 / 0..31; Q8_0: as stored). */
A2I __m256i block_q_i8(int type, const uint8_t *blk) {
    switch (type) {
    case MIIK_Q4_0:
        return _mm256_sub_epi8(nib32(blk + 2), _mm256_set1_epi8(8));
    case MIIK_Q4_1:
        return nib32(blk + 4);
    case MIIK_Q5_0:
        return _mm256_sub_epi8(_mm256_or_si256(nib32(blk + 6), q5_hbits(miik_load_u32(blk + 2))),
                               _mm256_set1_epi8(16));
    case MIIK_Q5_1:
        return _mm256_or_si256(nib32(blk + 8), q5_hbits(miik_load_u32(blk + 4)));
    default: /* Q8_0 */
        return _mm256_loadu_si256((const __m256i *)(blk + 2));
    }
}

A2I int type_bytes32(int type) {
    switch (type) {
    case MIIK_Q4_0: return 18;
    case MIIK_Q4_1: return 20;
    case MIIK_Q5_0: return 22;
    case MIIK_Q5_1: return 24;
    default: return 34;
    }
}

A2I int type_affine(int type) { return type == MIIK_Q4_1 || type == MIIK_Q5_1; }

A2I void block_f32(int type, const uint8_t *blk, __m256 f[4]) {
    switch (type) {
    case MIIK_Q4_0: nib_f32(blk + 2, f); break;
    case MIIK_Q4_1: nib_f32(blk + 4, f); break;
    case MIIK_Q8_0: i8mem_f32((const int8_t *)(blk + 2), f); break;
    default: i8x32_to_f32(block_q_i8(type, blk), f); break;
    }
}

/* d (lane 0) and m (lane 1) of a block starting with two fp16 values, as floats. */
A2I __m128 load_dm(const uint8_t *blk) { return _mm_cvtph_ps(_mm_cvtsi32_si128((int)miik_load_u32(blk))); }

/* ---- dequantization --------------------------------------------------------------------------- */

A2I void deq32(int type, const uint8_t *blk, float *y) {
    __m256 f[4];
    if (type == MIIK_Q4_1) {
        /* q * 2^-24 (nib_half_sub) against d * 2^24 (a power of two: exact): the product is d * q
         * exactly, so the fused add rounds like the reference's add */
        nib_half_sub(blk + 4, f);
        const __m128 dm = load_dm(blk);
        const __m256 d = _mm256_set1_ps(_mm_cvtss_f32(dm) * 0x1p24f), m = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_fmadd_ps(d, f[k], m));
        return;
    }
    if (type_affine(type)) {
        /* d*q is exact in float, so the fused add rounds exactly like the reference's add */
        block_f32(type, blk, f);
        const __m128 dm = load_dm(blk);
        const __m256 d = _mm256_broadcastss_ps(dm), m = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_fmadd_ps(d, f[k], m));
        return;
    }
    /* Q4_0 via signed q-8 so that q == 8 gives d * 0 with d's sign, like the reference */
    if (type == MIIK_Q4_0) i8x32_to_f32(block_q_i8(type, blk), f);
    else block_f32(type, blk, f);
    const __m256 d = _mm256_set1_ps(h2f(blk));
    for (int k = 0; k < 4; k++) _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(d, f[k]));
}

/* 32 quants with one scale for the first 16 and another for the last 16: y = q*s (- m). */
A2I void store32_s2(__m256i q, __m256 s0, __m256 s1, float *y) {
    __m256 f[4];
    i8x32_to_f32(q, f);
    _mm256_storeu_ps(y + 0, _mm256_mul_ps(f[0], s0));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(f[1], s0));
    _mm256_storeu_ps(y + 16, _mm256_mul_ps(f[2], s1));
    _mm256_storeu_ps(y + 24, _mm256_mul_ps(f[3], s1));
}

A2I void store32_s2m(__m256i q, __m256 s0, __m256 m0, __m256 s1, __m256 m1, float *y) {
    __m256 f[4];
    i8x32_to_f32(q, f);
    _mm256_storeu_ps(y + 0, _mm256_fmsub_ps(f[0], s0, m0));
    _mm256_storeu_ps(y + 8, _mm256_fmsub_ps(f[1], s0, m0));
    _mm256_storeu_ps(y + 16, _mm256_fmsub_ps(f[2], s1, m1));
    _mm256_storeu_ps(y + 24, _mm256_fmsub_ps(f[3], s1, m1));
}

A2I void deq_q2_K(const miik_block_q2_K *b, float *y) {
    const float d = h2f(&b->d), dmin = h2f(&b->dmin);
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * h));
        for (int s = 0; s < 4; s++) {
            const __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * s), m3);
            const uint8_t sc0 = b->scales[8 * h + 2 * s], sc1 = b->scales[8 * h + 2 * s + 1];
            store32_s2m(q, _mm256_set1_ps(d * (float)(sc0 & 0x0F)), _mm256_set1_ps(dmin * (float)(sc0 >> 4)),
                        _mm256_set1_ps(d * (float)(sc1 & 0x0F)), _mm256_set1_ps(dmin * (float)(sc1 >> 4)),
                        y + 128 * h + 32 * s);
        }
    }
}

A2I void deq_q3_K(const miik_block_q3_K *b, float *y) {
    const float d = h2f(&b->d);
    int8_t sc[16];
    miik_q3k_scales(b->scales, sc);
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
    const __m256i hm = _mm256_loadu_si256((const __m256i *)b->hmask);
    for (int h = 0; h < 2; h++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * h));
        for (int s = 0; s < 4; s++) {
            const int j = 4 * h + s; /* hmask bit index */
            const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * s), m3);
            const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, j), one);
            /* q = lo - 4 * (1 - hb) = (lo | hb << 2) - 4 */
            const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hb, 2)), four);
            store32_s2(q, _mm256_set1_ps(d * (float)sc[8 * h + 2 * s]),
                       _mm256_set1_ps(d * (float)sc[8 * h + 2 * s + 1]), y + 128 * h + 32 * s);
        }
    }
}

A2I void deq_q4_K(const miik_block_q4_K *b, float *y, int with_high, const uint8_t *qh) {
    const float d = h2f(&b->d), dmin = h2f(&b->dmin);
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256i hbits = _mm256_setzero_si256();
    if (with_high) hbits = _mm256_loadu_si256((const __m256i *)qh);
    const uint8_t *qs = with_high ? ((const miik_block_q5_K *)(const void *)b)->qs : b->qs;
    for (int c = 0; c < 4; c++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        for (int half = 0; half < 2; half++) {
            const int j = 2 * c + half;
            __m256i q = _mm256_and_si256(half ? _mm256_srli_epi16(raw, 4) : raw, m4);
            if (with_high) {
                const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hbits, j), one);
                q = _mm256_or_si256(q, _mm256_slli_epi16(hb, 4));
            }
            uint8_t sc, m;
            miik_k4_scale_min(j, b->scales, &sc, &m);
            const __m256 s = _mm256_set1_ps(d * (float)sc), mm = _mm256_set1_ps(dmin * (float)m);
            store32_s2m(q, s, mm, s, mm, y + 32 * j);
        }
    }
}

A2I void deq_q6_K(const miik_block_q6_K *b, float *y) {
    const float d = h2f(&b->d);
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
        const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        for (int k = 0; k < 4; k++) {
            const __m256i src = (k & 1) ? ql1 : ql0;
            const __m256i lo = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(src, 4) : src, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3);
            const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), off);
            const int si = 8 * h + 2 * k;
            store32_s2(q, _mm256_set1_ps(d * (float)b->scales[si]),
                       _mm256_set1_ps(d * (float)b->scales[si + 1]), y + 128 * h + 32 * k);
        }
    }
}

A2 int miik_avx2_dequantize(int type, const void *src, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)src;
    int64_t i = 0;
    switch (type) {
    case MIIK_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return 1;
    case MIIK_F16:
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 2 * i))));
        for (; i < n; i++) dst[i] = h2f(p + 2 * i);
        return 1;
    case MIIK_BF16:
        for (; i + 8 <= n; i += 8) {
            const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 2 * i)));
            _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
        }
        for (; i < n; i++) dst[i] = miik_bf2f(miik_load_u16(p + 2 * i));
        return 1;
    case MIIK_Q4_0:
        for (; i < n / 32; i++) deq32(MIIK_Q4_0, p + 18 * i, dst + 32 * i);
        return 1;
    case MIIK_Q4_1:
        for (; i < n / 32; i++) deq32(MIIK_Q4_1, p + 20 * i, dst + 32 * i);
        return 1;
    case MIIK_Q5_0:
        for (; i < n / 32; i++) deq32(MIIK_Q5_0, p + 22 * i, dst + 32 * i);
        return 1;
    case MIIK_Q5_1:
        for (; i < n / 32; i++) deq32(MIIK_Q5_1, p + 24 * i, dst + 32 * i);
        return 1;
    case MIIK_Q8_0:
        for (; i < n / 32; i++) deq32(MIIK_Q8_0, p + 34 * i, dst + 32 * i);
        return 1;
    case MIIK_Q2_K:
        for (; i < n / 256; i++) deq_q2_K((const miik_block_q2_K *)(const void *)(p + 84 * i), dst + 256 * i);
        return 1;
    case MIIK_Q3_K:
        for (; i < n / 256; i++) deq_q3_K((const miik_block_q3_K *)(const void *)(p + 110 * i), dst + 256 * i);
        return 1;
    case MIIK_Q4_K:
        for (; i < n / 256; i++)
            deq_q4_K((const miik_block_q4_K *)(const void *)(p + 144 * i), dst + 256 * i, 0, NULL);
        return 1;
    case MIIK_Q5_K:
        for (; i < n / 256; i++) {
            const miik_block_q5_K *b = (const miik_block_q5_K *)(const void *)(p + 176 * i);
            deq_q4_K((const miik_block_q4_K *)(const void *)b, dst + 256 * i, 1, b->qh);
        }
        return 1;
    case MIIK_Q6_K:
        for (; i < n / 256; i++) deq_q6_K((const miik_block_q6_K *)(const void *)(p + 210 * i), dst + 256 * i);
        return 1;
    default:
        return 0;
    }
}

/* ---- float vector helpers ----------------------------------------------------------------- */

A2I float dot_f32(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

A2 float miik_avx2_dot_f32(const float *a, const float *b, int64_t n) { return dot_f32(a, b, n); }

A2 void miik_avx2_axpy_f32(float a, const float *x, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

/* exp(x) per lane: x = n ln2 + r with |r| <= ln2/2 (ln2 in two parts, so that r is exact), exp(r) by
 * a degree-7 polynomial (the Cephes coefficients, relative error ~1e-7), times 2^n through the exponent
 * bits. Inputs are limited to [-87.34, 88] so that 2^n stays a normal float; below -87.34 the result
 * is 0. NaN passes through (min/max return their second operand when it is NaN). */
A2I __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
    const __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654f), _CMP_LT_OQ);
    x = _mm256_max_ps(_mm256_set1_ps(-87.33654f), x);
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}

A2 float miik_avx2_exp_shifted(float *s, int64_t n, float mx) {
    const __m256 m = _mm256_set1_ps(mx);
    __m256 acc = _mm256_setzero_ps();
    int64_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), m));
        _mm256_storeu_ps(s + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (j < n) { /* the tail through a padded copy: -inf gives 0 */
        float t[8];
        for (int i = 0; i < 8; i++) t[i] = j + i < n ? s[j + i] : -INFINITY;
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(t), m));
        _mm256_storeu_ps(t, e);
        acc = _mm256_add_ps(acc, e);
        for (int64_t i = 0; j + i < n; i++) s[j + i] = t[i];
    }
    return hsum8(acc);
}

A2I __m256 silu_mul8(__m256 g, __m256 u) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

A2 void miik_avx2_silu_mul(float *g, const float *u, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(g + i, silu_mul8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {
        float tg[8] = {0}, tu[8] = {0};
        for (int k = 0; i + k < n; k++) { tg[k] = g[i + k]; tu[k] = u[i + k]; }
        _mm256_storeu_ps(tg, silu_mul8(_mm256_loadu_ps(tg), _mm256_loadu_ps(tu)));
        for (int k = 0; i + k < n; k++) g[i + k] = tg[k];
    }
}

/* Sums of four vectors' lanes: [sum a, sum b, sum c, sum d]. */
A2I __m128 hsum8x4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

#ifndef MIIK_ATT_PF
#define MIIK_ATT_PF 8 /* key/value rows ahead */
#endif
/* Key/value rows are float32, or fp16 (half != 0: fast mode's cache), converted as they are loaded;
 * `half` is a constant in every caller, so each format gets its own loop. */
A2I __m256 kv_load8(const void *p, int64_t i, int half) {
    return half ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)))
                : _mm256_loadu_ps((const float *)p + i);
}

A2I const char *kv_at(const void *p, int64_t i, int half) {
    return (const char *)p + i * (half ? 2 : 4);
}

/* Scores of G <= 3 queries (hd apart) against 4 keys at a time: 12 independent accumulators, each key
 * chunk loaded once for the G queries. */
A2I void attend_scores(const float *q, int G, const void *k, int half, int64_t stride, int64_t n_keys, int64_t hd,
                       float scale, float slope, int64_t pos0, float *scores, float *mx) {
    const __m128 vs = _mm_set1_ps(scale), vslope = _mm_set1_ps(slope), step = _mm_setr_ps(0.0f, 1.0f, 2.0f, 3.0f);
    __m128 vmx[3] = {_mm_set1_ps(-INFINITY), _mm_set1_ps(-INFINITY), _mm_set1_ps(-INFINITY)};
    int64_t j = 0;
    for (; j + 4 <= n_keys; j += 4) {
        const int64_t k0 = j * stride;
        __m256 acc[3][4];
        for (int i = 0; i < 3; i++)
            for (int t = 0; t < 4; t++) acc[i][t] = _mm256_setzero_ps();
        for (int64_t c = 0; c < hd; c += 8) {
            if (c % (half ? 32 : 16) == 0) /* the keys to come: a long context's cache streams from DRAM */
                for (int u = 0; u < 4; u++) _mm_prefetch(kv_at(k, k0 + (MIIK_ATT_PF + u) * stride + c, half), MIIK_PF_HINT);
            const __m256 x0 = kv_load8(k, k0 + c, half), x1 = kv_load8(k, k0 + stride + c, half);
            const __m256 x2 = kv_load8(k, k0 + 2 * stride + c, half), x3 = kv_load8(k, k0 + 3 * stride + c, half);
            for (int i = 0; i < G; i++) {
                const __m256 qv = _mm256_loadu_ps(q + i * hd + c);
                acc[i][0] = _mm256_fmadd_ps(qv, x0, acc[i][0]);
                acc[i][1] = _mm256_fmadd_ps(qv, x1, acc[i][1]);
                acc[i][2] = _mm256_fmadd_ps(qv, x2, acc[i][2]);
                acc[i][3] = _mm256_fmadd_ps(qv, x3, acc[i][3]);
            }
        }
        /* ALiBi: + slope * position (positions below 2^24 are exact in float) */
        const __m128 bias = _mm_mul_ps(vslope, _mm_add_ps(_mm_set1_ps((float)(pos0 + j)), step));
        for (int i = 0; i < G; i++) {
            const __m128 s4 = _mm_add_ps(_mm_mul_ps(hsum8x4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]), vs), bias);
            _mm_storeu_ps(scores + i * n_keys + j, s4);
            vmx[i] = _mm_max_ps(vmx[i], s4);
        }
    }
    for (int i = 0; i < G; i++) {
        __m128 m = _mm_max_ps(vmx[i], _mm_movehl_ps(vmx[i], vmx[i]));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        mx[i] = _mm_cvtss_f32(m);
        for (int64_t jj = j; jj < n_keys; jj++) {
            float sc;
            if (half) {
                __m256 a = _mm256_setzero_ps();
                for (int64_t c = 0; c < hd; c += 8)
                    a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i * hd + c), kv_load8(k, jj * stride + c, 1), a);
                sc = hsum8(a) * scale;
            } else {
                sc = dot_f32(q + i * hd, (const float *)k + jj * stride, hd) * scale;
            }
            sc += slope * (float)(pos0 + jj);
            scores[i * n_keys + jj] = sc;
            if (sc > mx[i]) mx[i] = sc;
        }
    }
}

/* out_i = (sum_j p_ij v_j) * inv_i for G <= 3 queries, 16 columns at a time (6 accumulators: each
 * value chunk loaded once for the G queries), then 8. */
A2I void attend_values(const float *p, int G, const void *v, int half, int64_t stride, int64_t n_keys, int64_t hd,
                       const float *inv, float *out) {
    int64_t c = 0;
    for (; c + 16 <= hd; c += 16) {
        __m256 a[3][2];
        for (int i = 0; i < 3; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
        for (int64_t j = 0; j < n_keys; j++) {
            const int64_t vr = j * stride + c;
            _mm_prefetch(kv_at(v, vr + MIIK_ATT_PF * stride, half), MIIK_PF_HINT);
            const __m256 v0 = kv_load8(v, vr, half), v1 = kv_load8(v, vr + 8, half);
            for (int i = 0; i < G; i++) {
                const __m256 pj = _mm256_broadcast_ss(p + i * n_keys + j);
                a[i][0] = _mm256_fmadd_ps(pj, v0, a[i][0]);
                a[i][1] = _mm256_fmadd_ps(pj, v1, a[i][1]);
            }
        }
        for (int i = 0; i < G; i++) {
            const __m256 s = _mm256_set1_ps(inv[i]);
            _mm256_storeu_ps(out + i * hd + c, _mm256_mul_ps(a[i][0], s));
            _mm256_storeu_ps(out + i * hd + c + 8, _mm256_mul_ps(a[i][1], s));
        }
    }
    for (; c < hd; c += 8) {
        __m256 a[3] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t j = 0; j < n_keys; j++) {
            const __m256 v0 = kv_load8(v, j * stride + c, half);
            for (int i = 0; i < G; i++) a[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + i * n_keys + j), v0, a[i]);
        }
        for (int i = 0; i < G; i++) _mm256_storeu_ps(out + i * hd + c, _mm256_mul_ps(a[i], _mm256_set1_ps(inv[i])));
    }
}

/* Grouped-query attention (miik_attend_f32 / miik_attend_f16): the queries of one key/value head in
 * groups of up to 3, so that every key and value row is read once per group instead of once per query. */
A2I void attend(const float *q, int64_t n_q, const void *k, const void *v, int half, int64_t stride,
                int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out) {
    for (int64_t h0 = 0; h0 < n_q; h0 += 3) {
        const int G = n_q - h0 < 3 ? (int)(n_q - h0) : 3;
        float *sc = scores + h0 * n_keys;
        float mx[3], inv[3];
        /* Constant group sizes, so that the loops over queries unroll into registers. */
        if (G == 3) attend_scores(q + h0 * hd, 3, k, half, stride, n_keys, hd, scale, slope, pos0, sc, mx);
        else if (G == 2) attend_scores(q + h0 * hd, 2, k, half, stride, n_keys, hd, scale, slope, pos0, sc, mx);
        else attend_scores(q + h0 * hd, 1, k, half, stride, n_keys, hd, scale, slope, pos0, sc, mx);
        for (int i = 0; i < G; i++) inv[i] = 1.0f / miik_avx2_exp_shifted(sc + i * n_keys, n_keys, mx[i]);
        if (G == 3) attend_values(sc, 3, v, half, stride, n_keys, hd, inv, out + h0 * hd);
        else if (G == 2) attend_values(sc, 2, v, half, stride, n_keys, hd, inv, out + h0 * hd);
        else attend_values(sc, 1, v, half, stride, n_keys, hd, inv, out + h0 * hd);
    }
}

A2 int miik_avx2_attend_f32(const float *q, int64_t n_q, const float *k, const float *v, int64_t stride,
                            int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores,
                            float *out) {
    if (hd % 8 != 0 || n_keys < 1) return 0;
    attend(q, n_q, k, v, 0, stride, n_keys, hd, scale, slope, pos0, scores, out);
    return 1;
}

A2 int miik_avx2_attend_f16(const float *q, int64_t n_q, const uint16_t *k, const uint16_t *v, int64_t stride,
                            int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores,
                            float *out) {
    if (hd % 8 != 0 || n_keys < 1) return 0;
    attend(q, n_q, k, v, 1, stride, n_keys, hd, scale, slope, pos0, scores, out);
    return 1;
}

/* miik_f32_to_f16_sat: finite values clamped to +-65504 first (inf and NaN pass through), then
 * vcvtps2ph with round-to-nearest-even, as miik_fp32_to_fp16. */
A2 void miik_avx2_f32_to_f16_sat(const float *x, uint16_t *dst, int64_t n) {
    const __m256 hi = _mm256_set1_ps(65504.0f), lo = _mm256_set1_ps(-65504.0f);
    const __m256 inf = _mm256_set1_ps(INFINITY);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        /* min/max return their second operand when either is NaN: NaN stays NaN */
        const __m256 c = _mm256_max_ps(lo, _mm256_min_ps(hi, v));
        /* infinities keep their value */
        const __m256 isinf = _mm256_cmp_ps(_mm256_and_ps(v, absmask), inf, _CMP_EQ_OQ);
        const __m256 r = _mm256_blendv_ps(c, v, isinf);
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
    for (; i < n; i++) dst[i] = miik_f32_to_f16_sat_one(x[i]);
}

/* ---- precise matvec ------------------------------------------------------------------------ */

/* NR rows of a 32-element-block type against x; rows `rb` bytes apart. The quants are turned
 * into floats in registers and dotted with x, then scaled by the block's d. Offsets are folded in
 * through the block's sum of x (shared by the NR rows): Q4_1/Q5_1 add m * sum(x), Q4_0 adds
 * -8 * sum(x) before scaling. */
A2I void mv32_rows(int type, const uint8_t *w, size_t rb, int64_t nb, const float *x, float *y, int nr) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    const int bs = type_bytes32(type);
    const int need_xs = type_affine(type) || type == MIIK_Q4_0;
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + 32 * b;
        const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
        const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
        __m256 xs = _mm256_setzero_ps();
        if (need_xs) xs = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
        if (type == MIIK_Q4_0) xs = _mm256_mul_ps(xs, _mm256_set1_ps(-8.0f));
        for (int r = 0; r < nr; r++) {
            const uint8_t *blk = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            /* decode streams every matrix from DRAM: see MIIK_PF_ROWS */
            _mm_prefetch((const char *)(blk + MIIK_PF_ROWS * rb), MIIK_PF_HINT);
            __m256 f[4];
            block_f32(type, blk, f);
            __m256 v0 = _mm256_fmadd_ps(f[1], x1, _mm256_mul_ps(f[0], x0));
            __m256 v1 = _mm256_fmadd_ps(f[3], x3, _mm256_mul_ps(f[2], x2));
            __m256 v = _mm256_add_ps(v0, v1);
            if (type_affine(type)) {
                const __m128 dm = load_dm(blk);
                acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), v, acc[r]);
                acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dm)), xs, acc[r]);
            } else {
                if (type == MIIK_Q4_0) v = _mm256_add_ps(v, xs);
                acc[r] = _mm256_fmadd_ps(_mm256_set1_ps(h2f(blk)), v, acc[r]);
            }
        }
    }
    for (int r = 0; r < nr; r++) y[r] = hsum8(acc[r]);
}

/* NR rows at a time (4, or 2 for the Q5 types whose extra constants would not fit in 16 registers). */
#define MV32_INSTANCE(NAME, TYPE, NR)                                                                 \
    A2 static void NAME(const uint8_t *w, size_t rb, int64_t cols, const float *x, float *y,         \
                        int64_t r0, int64_t r1) {                                                    \
        int64_t r = r0;                                                                              \
        for (; r + NR <= r1; r += NR) mv32_rows(TYPE, w + (size_t)r * rb, rb, cols / 32, x, y + r, NR); \
        for (; r < r1; r++) mv32_rows(TYPE, w + (size_t)r * rb, rb, cols / 32, x, y + r, 1);          \
    }

MV32_INSTANCE(mv_q4_0, MIIK_Q4_0, 4)
MV32_INSTANCE(mv_q4_1_cvt, MIIK_Q4_1, 4)

/* Q4_1 precise matvec with a cheaper nibble -> float conversion: each nibble q becomes the
 * fp16 bit pattern q, i.e. the subnormal half q * 2^-24, which vcvtph2ps turns into an exact float
 * (F16C conversions ignore MXCSR.DAZ). That skips the 32-bit widening and vcvtdq2ps of mv32_rows
 * (vcvtdq2ps has a single port on Zen 1). The 2^24 is put back once per row at the end (a power of
 * two: exact). The Q4_1 min term m * sum(x_block) is accumulated in a scalar, with the per-block
 * sums of x computed once per call and shared by all rows. The same scheme for Q4_0 (offset
 * -8 folded through the block sum of x) measured no faster than mv32_rows on Zen 1, so Q4_0
 * keeps mv32_rows. Falls back to mv32_rows for rows longer than 8192 or extreme |x|. */
#define MVQ4H_MAXNB 256

A2I void mvq4h_rows(const uint8_t *w, size_t rb, int64_t nb, const float *x, const float *sx, float *y,
                    int nr) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float accm[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const int bs = 20, qo = 4;
    for (int64_t b = 0; b < nb; b++) {
        const float *xb = x + 32 * b;
        const __m256 x0 = _mm256_loadu_ps(xb), x1 = _mm256_loadu_ps(xb + 8);
        const __m256 x2 = _mm256_loadu_ps(xb + 16), x3 = _mm256_loadu_ps(xb + 24);
        for (int r = 0; r < nr; r++) {
            const uint8_t *blk = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            /* as in mv32_rows (MIIK_PF_ROWS; on Zen 1 with 4 rows into L1: 49152 x 576 3.9 -> 4.8
             * GMAC/s, ~5% slower when the matrix sits in cache) */
            _mm_prefetch((const char *)(blk + MIIK_PF_ROWS * rb), MIIK_PF_HINT);
            __m256 f[4];
            nib_half_sub(blk + qo, f);
            __m256 v0 = _mm256_fmadd_ps(f[1], x1, _mm256_mul_ps(f[0], x0));
            __m256 v1 = _mm256_fmadd_ps(f[3], x3, _mm256_mul_ps(f[2], x2));
            const __m256 v = _mm256_add_ps(v0, v1);
            const __m128 dm = load_dm(blk);
            acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(dm), v, acc[r]);
            accm[r] += _mm_cvtss_f32(_mm_movehdup_ps(dm)) * sx[b];
        }
    }
    for (int r = 0; r < nr; r++) y[r] = hsum8(acc[r]) * 0x1p24f + accm[r];
}

/* max |x| and per-block sums of x; returns 0 when x is too small for the 2^-24-scaled products
 * to stay normal floats (the caller then uses mv32_rows). */
A2I int mvq4h_prep(const float *x, int64_t nb, float *sx) {
    float amax = 0.0f;
    for (int64_t b = 0; b < nb; b++) {
        __m256 f[4];
        const float m = load32_amax(x + 32 * b, f);
        amax = m > amax ? m : amax;
        sx[b] = hsum8(_mm256_add_ps(_mm256_add_ps(f[0], f[1]), _mm256_add_ps(f[2], f[3])));
    }
    /* inf in x -> plain path; a NaN in x gives NaN on either path */
    return amax >= 0x1p-60f && amax <= 0x1p100f;
}

A2 static void mv_q4_1(const uint8_t *w, size_t rb, int64_t cols, const float *x, float *y, int64_t r0,
                       int64_t r1) {
    const int64_t nb = cols / 32;
    float sx[MVQ4H_MAXNB];
    if (nb > MVQ4H_MAXNB || !mvq4h_prep(x, nb, sx)) {
        mv_q4_1_cvt(w, rb, cols, x, y, r0, r1);
        return;
    }
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) mvq4h_rows(w + (size_t)r * rb, rb, nb, x, sx, y + r, 4);
    for (; r < r1; r++) mvq4h_rows(w + (size_t)r * rb, rb, nb, x, sx, y + r, 1);
}
MV32_INSTANCE(mv_q5_0, MIIK_Q5_0, 2)
MV32_INSTANCE(mv_q5_1, MIIK_Q5_1, 2)
MV32_INSTANCE(mv_q8_0, MIIK_Q8_0, 4)

/* Rows of 16-bit floats (F16 or BF16). */
A2I __m256 load8_h(int type, const uint8_t *p) {
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    if (type == MIIK_F16) return _mm256_cvtph_ps(v);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
}

A2I float dot_h16(int type, const uint8_t *row, const float *x, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load8_h(type, row + 2 * i), _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(load8_h(type, row + 2 * i + 16), _mm256_loadu_ps(x + i + 8), s1);
        s2 = _mm256_fmadd_ps(load8_h(type, row + 2 * i + 32), _mm256_loadu_ps(x + i + 16), s2);
        s3 = _mm256_fmadd_ps(load8_h(type, row + 2 * i + 48), _mm256_loadu_ps(x + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load8_h(type, row + 2 * i), _mm256_loadu_ps(x + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) {
        const uint16_t h = miik_load_u16(row + 2 * i);
        s += (type == MIIK_F16 ? _cvtsh_ss(h) : miik_bf2f(h)) * x[i];
    }
    return s;
}

/* Q4_K row dot, fused: per 32-element sub-block j, d*sc_j * (q . x) - dmin*m_j * sum(x). */
A2I float dot_q4_K(const uint8_t *row, int64_t nsb, const float *x) {
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi32(0x0F);
    for (int64_t i = 0; i < nsb; i++) {
        const miik_block_q4_K *b = (const miik_block_q4_K *)(const void *)(row + 144 * i);
        const float d = h2f(&b->d), dmin = h2f(&b->dmin);
        const float *xb = x + 256 * i;
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, mn0, sc1, mn1;
            miik_k4_scale_min(2 * c, b->scales, &sc0, &mn0);
            miik_k4_scale_min(2 * c + 1, b->scales, &sc1, &mn1);
            const uint8_t *qs = b->qs + 32 * c;
            const float *x0 = xb + 64 * c, *x1 = x0 + 32;
            __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
            __m256 xs0 = _mm256_setzero_ps(), xs1 = _mm256_setzero_ps();
            for (int k = 0; k < 4; k++) {
                const __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(qs + 8 * k)));
                const __m256 xa = _mm256_loadu_ps(x0 + 8 * k), xb1 = _mm256_loadu_ps(x1 + 8 * k);
                s0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, m4)), xa, s0);
                s1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4)), xb1, s1);
                xs0 = _mm256_add_ps(xs0, xa);
                xs1 = _mm256_add_ps(xs1, xb1);
            }
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc0), s0, acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc1), s1, acc);
            accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin * (float)mn0), xs0, accm);
            accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin * (float)mn1), xs1, accm);
        }
    }
    return hsum8(_mm256_sub_ps(acc, accm));
}

/* Q6_K row dot, fused: the 6-bit quants of 32 elements are assembled as bytes (as in deq_q6_K),
 * converted, dotted with x, and scaled per 16 elements. */
A2I float dot_q6_K(const uint8_t *row, int64_t nsb, const float *x) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m3 = _mm256_set1_epi8(3), off = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < nsb; i++) {
        const miik_block_q6_K *b = (const miik_block_q6_K *)(const void *)(row + 210 * i);
        const float d = h2f(&b->d);
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
            const __m256i ql1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
            for (int k = 0; k < 4; k++) {
                const __m256i src = (k & 1) ? ql1 : ql0;
                const __m256i lo = _mm256_and_si256(k >= 2 ? _mm256_srli_epi16(src, 4) : src, m4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3);
                const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), off);
                __m256 f[4];
                i8x32_to_f32(q, f);
                const float *xk = x + 256 * i + 128 * h + 32 * k;
                const __m256 s0 = _mm256_fmadd_ps(f[1], _mm256_loadu_ps(xk + 8), _mm256_mul_ps(f[0], _mm256_loadu_ps(xk)));
                const __m256 s1 = _mm256_fmadd_ps(f[3], _mm256_loadu_ps(xk + 24), _mm256_mul_ps(f[2], _mm256_loadu_ps(xk + 16)));
                const int si = 8 * h + 2 * k;
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)b->scales[si]), s0, acc0);
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)b->scales[si + 1]), s1, acc1);
            }
        }
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

#define CHUNK 2048 /* floats; a multiple of every block size */

/* Any type: dequantize CHUNK elements at a time into a stack buffer, then dot. */
A2 static void mv_chunked(int type, const uint8_t *w, size_t rb, int64_t cols, const float *x, float *y,
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

/* 4 rows of F32 against x: each load of x feeds 4 FMAs (the 1-row dot is load-bound). */
#define LDF32(row, i) _mm256_loadu_ps((const float *)(const void *)(row) + (i))

A2 static void mv_f32_rows4(const uint8_t *w, size_t rb, int64_t n, const float *x, float *y) {
    const uint8_t *w0 = w, *w1 = w + rb, *w2 = w + 2 * rb, *w3 = w + 3 * rb;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps(), b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 xa = _mm256_loadu_ps(x + i), xb = _mm256_loadu_ps(x + i + 8);
        a0 = _mm256_fmadd_ps(LDF32(w0, i), xa, a0);
        a1 = _mm256_fmadd_ps(LDF32(w1, i), xa, a1);
        a2 = _mm256_fmadd_ps(LDF32(w2, i), xa, a2);
        a3 = _mm256_fmadd_ps(LDF32(w3, i), xa, a3);
        b0 = _mm256_fmadd_ps(LDF32(w0, i + 8), xb, b0);
        b1 = _mm256_fmadd_ps(LDF32(w1, i + 8), xb, b1);
        b2 = _mm256_fmadd_ps(LDF32(w2, i + 8), xb, b2);
        b3 = _mm256_fmadd_ps(LDF32(w3, i + 8), xb, b3);
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 xa = _mm256_loadu_ps(x + i);
        a0 = _mm256_fmadd_ps(LDF32(w0, i), xa, a0);
        a1 = _mm256_fmadd_ps(LDF32(w1, i), xa, a1);
        a2 = _mm256_fmadd_ps(LDF32(w2, i), xa, a2);
        a3 = _mm256_fmadd_ps(LDF32(w3, i), xa, a3);
    }
    float s[4] = {hsum8(_mm256_add_ps(a0, b0)), hsum8(_mm256_add_ps(a1, b1)), hsum8(_mm256_add_ps(a2, b2)),
                  hsum8(_mm256_add_ps(a3, b3))};
    for (; i < n; i++) {
        for (int k = 0; k < 4; k++) {
            const uint8_t *row = w + (size_t)k * rb;
            s[k] += ((const float *)(const void *)row)[i] * x[i];
        }
    }
    for (int k = 0; k < 4; k++) y[k] = s[k];
}

A2 int miik_avx2_matvec(int type, const void *w, size_t row_bytes, int64_t cols,
                        const float *x, float *y, int64_t r0, int64_t r1) {
    const uint8_t *base = (const uint8_t *)w;
    switch (type) {
    case MIIK_F32: {
        int64_t r = r0;
        for (; r + 4 <= r1; r += 4) mv_f32_rows4(base + (size_t)r * row_bytes, row_bytes, cols, x, y + r);
        for (; r < r1; r++) y[r] = dot_f32((const float *)(const void *)(base + (size_t)r * row_bytes), x, cols);
        return 1;
    }
    case MIIK_F16:
        /* a 4-row version like F32's measured no faster here (bound by vcvtph2ps) */
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
        for (int64_t r = r0; r < r1; r++) y[r] = dot_q4_K(base + (size_t)r * row_bytes, cols / 256, x);
        return 1;
    case MIIK_Q6_K:
        for (int64_t r = r0; r < r1; r++) y[r] = dot_q6_K(base + (size_t)r * row_bytes, cols / 256, x);
        return 1;
    default:
        if (!miik_type_supported(type)) return 0;
        mv_chunked(type, base, row_bytes, cols, x, y, r0, r1);
        return 1;
    }
}

/* ---- precise matmul (several tokens) ------------------------------------------------------ */

/* 4 dots of one row against 4 token vectors. */
A2I void dot_1x4(const float *w, const float *x0, const float *x1, const float *x2, const float *x3,
                 int64_t n, float out[4]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    __m256 b0 = _mm256_setzero_ps(), b1 = _mm256_setzero_ps();
    __m256 b2 = _mm256_setzero_ps(), b3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 w0 = _mm256_loadu_ps(w + i), w1 = _mm256_loadu_ps(w + i + 8);
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x0 + i), a0);
        a1 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x1 + i), a1);
        a2 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x2 + i), a2);
        a3 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x3 + i), a3);
        b0 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x0 + i + 8), b0);
        b1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x1 + i + 8), b1);
        b2 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x2 + i + 8), b2);
        b3 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x3 + i + 8), b3);
    }
    for (; i + 8 <= n; i += 8) {
        const __m256 w0 = _mm256_loadu_ps(w + i);
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x0 + i), a0);
        a1 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x1 + i), a1);
        a2 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x2 + i), a2);
        a3 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x3 + i), a3);
    }
    out[0] = hsum8(_mm256_add_ps(a0, b0));
    out[1] = hsum8(_mm256_add_ps(a1, b1));
    out[2] = hsum8(_mm256_add_ps(a2, b2));
    out[3] = hsum8(_mm256_add_ps(a3, b3));
    for (; i < n; i++) {
        out[0] += w[i] * x0[i];
        out[1] += w[i] * x1[i];
        out[2] += w[i] * x2[i];
        out[3] += w[i] * x3[i];
    }
}

/* Dots of 4 rows (ldw floats apart) with nt <= 3 tokens (ldx floats apart), into
 * y[t * ldy + r]. With 3 tokens each 8 columns take 7 loads and 12 FMAs, so the FMAs set the
 * pace; dot_1x4 needs 5 loads per 4 FMAs, and 256-bit loads are the scarcer resource on cores
 * that split them in two. */
A2I void dot_4xn(const float *w, int64_t ldw, const float *x, int64_t ldx, int64_t n, int nt, float *y,
                 int64_t ldy, const float *pf) {
    __m256 acc[4][3];
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 3; t++) acc[r][t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        /* pf: the rows to come, when w streams from DRAM (F32 weights read in place; see MIIK_PF_ROWS) */
        if (pf && i % 16 == 0)
            for (int r = 0; r < 4; r++) _mm_prefetch((const char *)(pf + r * ldw + i), MIIK_PF_HINT);
        __m256 xv[3];
        for (int t = 0; t < nt; t++) xv[t] = _mm256_loadu_ps(x + t * ldx + i);
        for (int r = 0; r < 4; r++) {
            const __m256 wv = _mm256_loadu_ps(w + r * ldw + i);
            for (int t = 0; t < nt; t++) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
        }
    }
    for (int r = 0; r < 4; r++) {
        for (int t = 0; t < nt; t++) {
            float v = hsum8(acc[r][t]);
            for (int64_t k = i; k < n; k++) v += w[r * ldw + k] * x[t * ldx + k];
            y[t * ldy + r] = v;
        }
    }
}

A2 int miik_avx2_matmul(int type, const void *w, size_t row_bytes, int64_t cols,
                        const float *x, int64_t ldx, int64_t n_tok, float *y, int64_t ldy,
                        int64_t r0, int64_t r1, float *scratch) {
    if (!miik_type_supported(type)) return 0;
    const uint8_t *base = (const uint8_t *)w;
    int64_t r = r0;
    /* groups of 4 rows (dequantized into scratch unless F32) x 3 tokens */
    for (; r + 4 <= r1; r += 4) {
        const uint8_t *row = base + (size_t)r * row_bytes;
        const float *wr;
        int64_t ldw;
        if (type == MIIK_F32) {
            wr = (const float *)(const void *)row;
            ldw = (int64_t)(row_bytes / sizeof(float));
        } else {
            for (int k = 0; k < 4; k++) {
                float *dst = scratch + k * cols;
                if (!miik_avx2_dequantize(type, row + (size_t)k * row_bytes, dst, cols))
                    miik_dequantize_ref(type, row + (size_t)k * row_bytes, dst, cols);
            }
            wr = scratch;
            ldw = cols;
        }
        /* F32 rows are read in place: the first pass over them prefetches the rows MIIK_PF_ROWS on */
        const float *pf = type == MIIK_F32 ? wr + MIIK_PF_ROWS * ldw : NULL;
        int64_t t = 0;
        for (; t + 3 <= n_tok; t += 3, pf = NULL) dot_4xn(wr, ldw, x + t * ldx, ldx, cols, 3, y + t * ldy + r, ldy, pf);
        if (n_tok - t == 2) dot_4xn(wr, ldw, x + t * ldx, ldx, cols, 2, y + t * ldy + r, ldy, pf);
        else if (n_tok - t == 1) dot_4xn(wr, ldw, x + t * ldx, ldx, cols, 1, y + t * ldy + r, ldy, pf);
    }
    for (; r < r1; r++) {
        const uint8_t *row = base + (size_t)r * row_bytes;
        const float *wr;
        if (type == MIIK_F32) {
            wr = (const float *)(const void *)row;
        } else {
            if (!miik_avx2_dequantize(type, row, scratch, cols)) miik_dequantize_ref(type, row, scratch, cols);
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

/* One block of activation quants: q[k] = round-half-even(f[k] / d) clamped to +-qmax, with
 * d = amax / qmax (as the reference computes it); returns d and the sum of the quants. */
A2I float quantize32(const float *v, float qmax, __m256i qi[4], float *qsum) {
    __m256 f[4];
    const float d = load32_amax(v, f) / qmax;
    /* an infinity or a NaN: d = NaN and zero quants (as quantize_block_ref) */
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    __m256 bad = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_andnot_ps(sign, f[k]), inf, _CMP_NLT_UQ));
    if (_mm256_movemask_ps(bad)) {
        for (int k = 0; k < 4; k++) qi[k] = _mm256_setzero_si256();
        *qsum = 0.0f;
        return NAN;
    }
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id), lim = _mm256_set1_ps(qmax), nlim = _mm256_set1_ps(-qmax);
    __m256 sum = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        __m256 q = _mm256_round_ps(_mm256_mul_ps(f[k], vid), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm256_min_ps(_mm256_max_ps(q, nlim), lim);
        sum = _mm256_add_ps(sum, q);
        qi[k] = _mm256_cvtps_epi32(q);
    }
    *qsum = hsum8(sum); /* exact: integers below 2^24 */
    return d;
}

A2 void miik_avx2_quantize_act(const float *x, miik_q8a *dst, int64_t n) {
    for (int64_t i = 0; i < n / 32; i++) {
        __m256i qi[4];
        float qsum;
        const float d = quantize32(x + 32 * i, 127.0f, qi, &qsum);
        /* pack 4 x 8 int32 -> 32 int8, then undo the per-lane interleave of the packs */
        const __m256i p01 = _mm256_packs_epi32(qi[0], qi[1]);
        const __m256i p23 = _mm256_packs_epi32(qi[2], qi[3]);
        __m256i p = _mm256_packs_epi16(p01, p23);
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)dst[i].q, p);
        dst[i].d = d;
        dst[i].s = d * qsum;
    }
}

/* Integer dot of one weight block (type) with 32 activation quants `a`, as 8 int32 lanes.
 * a_off = maddubs(offset, a) for the symmetric 4/5-bit types (offset 8 / 16), hoisted. */
A2I __m256i idot_block(int type, const uint8_t *blk, __m256i a, __m256i a_off) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p;
    switch (type) {
    case MIIK_Q4_0:
        p = _mm256_sub_epi16(_mm256_maddubs_epi16(nib32(blk + 2), a), a_off);
        break;
    case MIIK_Q4_1:
        p = _mm256_maddubs_epi16(nib32(blk + 4), a);
        break;
    case MIIK_Q5_0:
        p = _mm256_maddubs_epi16(_mm256_or_si256(nib32(blk + 6), q5_hbits(miik_load_u32(blk + 2))), a);
        p = _mm256_sub_epi16(p, a_off);
        break;
    case MIIK_Q5_1:
        p = _mm256_maddubs_epi16(_mm256_or_si256(nib32(blk + 8), q5_hbits(miik_load_u32(blk + 4))), a);
        break;
    default: { /* Q8_0: |w| * (a with w's sign) */
        const __m256i wq = _mm256_loadu_si256((const __m256i *)(blk + 2));
        p = _mm256_maddubs_epi16(_mm256_abs_epi8(wq), _mm256_sign_epi8(a, wq));
        break;
    }
    }
    return _mm256_madd_epi16(p, ones);
}

A2I __m256i act_offset(int type, __m256i a) {
    if (type == MIIK_Q4_0) return _mm256_maddubs_epi16(_mm256_set1_epi8(8), a);
    if (type == MIIK_Q5_0) return _mm256_maddubs_epi16(_mm256_set1_epi8(16), a);
    return _mm256_setzero_si256();
}

A2I void mvq8_rows(int type, const uint8_t *w, size_t rb, int64_t nb, const miik_q8a *xq, float *y, int nr) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float accm[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const int bs = type_bytes32(type);
    __m128 accm4[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    for (int64_t b = 0; b < nb; b++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)xq[b].q);
        const __m256i a_off = act_offset(type, a);
        /* [d_a, s_a]: the two floats at the start of the activation block */
        const __m128 das = _mm_castpd_ps(_mm_load_sd((const double *)(const void *)&xq[b].d));
        for (int r = 0; r < nr; r++) {
            const uint8_t *blk = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            /* decode streams every matrix from DRAM: see MIIK_PF_ROWS */
            _mm_prefetch((const char *)(blk + MIIK_PF_ROWS * rb), MIIK_PF_HINT);
            const __m256 f = _mm256_cvtepi32_ps(idot_block(type, blk, a, a_off));
            if (type_affine(type)) {
                /* one fp16 conversion and one multiply give [d_w * d_a, m_w * s_a] */
                const __m128 p = _mm_mul_ps(load_dm(blk), das);
                acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(p), f, acc[r]);
                accm4[r] = _mm_add_ps(accm4[r], p);
            } else {
                acc[r] = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_mul_ss(load_dm(blk), das)), f, acc[r]);
            }
        }
    }
    if (type_affine(type))
        for (int r = 0; r < nr; r++) accm[r] = _mm_cvtss_f32(_mm_movehdup_ps(accm4[r]));
    for (int r = 0; r < nr; r++) y[r] = hsum8(acc[r]) + accm[r];
}

/* A matvec over rows [r0, r1) from a row kernel ROWS(type, w, rb, nb, xq, y, nr): groups of 4 rows,
 * then single rows. */
#define MV_ROWS_INSTANCE(NAME, ROWS, TYPE, XT)                                                        \
    A2 static void NAME(const uint8_t *w, size_t rb, int64_t nb, const XT *xq, float *y, int64_t r0,  \
                        int64_t r1) {                                                                \
        int64_t r = r0;                                                                              \
        for (; r + 4 <= r1; r += 4) ROWS(TYPE, w + (size_t)r * rb, rb, nb, xq, y + r, 4);             \
        for (; r < r1; r++) ROWS(TYPE, w + (size_t)r * rb, rb, nb, xq, y + r, 1);                     \
    }

/* The five 32-element block types with integer paths: calls PREFIX_<type>(ARGS) and returns 1, or
 * returns 0 for other types. */
#define SWITCH_Q32_TYPES(type, PREFIX, ...)                                                           \
    switch (type) {                                                                                  \
    case MIIK_Q4_0: PREFIX##_q4_0(__VA_ARGS__); return 1;                                            \
    case MIIK_Q4_1: PREFIX##_q4_1(__VA_ARGS__); return 1;                                            \
    case MIIK_Q5_0: PREFIX##_q5_0(__VA_ARGS__); return 1;                                            \
    case MIIK_Q5_1: PREFIX##_q5_1(__VA_ARGS__); return 1;                                            \
    case MIIK_Q8_0: PREFIX##_q8_0(__VA_ARGS__); return 1;                                            \
    default: return 0;                                                                               \
    }

MV_ROWS_INSTANCE(mvq8_q4_0, mvq8_rows, MIIK_Q4_0, miik_q8a)
MV_ROWS_INSTANCE(mvq8_q4_1, mvq8_rows, MIIK_Q4_1, miik_q8a)
MV_ROWS_INSTANCE(mvq8_q5_0, mvq8_rows, MIIK_Q5_0, miik_q8a)
MV_ROWS_INSTANCE(mvq8_q5_1, mvq8_rows, MIIK_Q5_1, miik_q8a)
MV_ROWS_INSTANCE(mvq8_q8_0, mvq8_rows, MIIK_Q8_0, miik_q8a)

A2 int miik_avx2_matvec_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                           const miik_q8a *xq, float *y, int64_t r0, int64_t r1) {
    SWITCH_Q32_TYPES(type, mvq8, (const uint8_t *)w, row_bytes, cols / 32, xq, y, r0, r1)
}

/* ---- fast mode: 16-bit activations ------------------------------------------------------- */

A2 void miik_avx2_quantize_act16(const float *x, miik_q16a *dst, int64_t n) {
    for (int64_t i = 0; i < n / 32; i++) {
        __m256i qi[4];
        float qsum;
        const float d = quantize32(x + 32 * i, 32767.0f, qi, &qsum);
        /* packs works per 128-bit lane: packs(e0-7, e16-23) = [0-3 16-19 | 4-7 20-23]; the
         * permute makes it [0-7 | 16-23], the storage order of miik_q16a */
        const __m256i perm = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7);
        const __m256i a = _mm256_permutevar8x32_epi32(_mm256_packs_epi32(qi[0], qi[2]), perm);
        const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi32(qi[1], qi[3]), perm);
        _mm256_storeu_si256((__m256i *)dst[i].q, a);
        _mm256_storeu_si256((__m256i *)(dst[i].q + 16), b);
        dst[i].d = d;
        dst[i].s = d * qsum;
    }
}

/* A weight block's 32 quants as two vectors of 16-bit lanes in miik_q16a order: [0-7 | 16-23] and
 * [8-15 | 24-31] (unpacking the element-ordered bytes [0-15 | 16-31] per 128-bit lane gives exactly
 * that). The 4/5-bit quants are unsigned bytes, widened against zero, offsets applied in 16 bits;
 * Q8_0's signed bytes are widened by unpacking each byte with itself and shifting it down. */
A2I void block_q16(int type, const uint8_t *blk, __m256i *lo, __m256i *hi) {
    const __m256i z = _mm256_setzero_si256();
    __m256i v;
    switch (type) {
    case MIIK_Q4_0: v = nib32(blk + 2); break;
    case MIIK_Q4_1: v = nib32(blk + 4); break;
    case MIIK_Q5_0: v = _mm256_or_si256(nib32(blk + 6), q5_hbits(miik_load_u32(blk + 2))); break;
    case MIIK_Q5_1: v = _mm256_or_si256(nib32(blk + 8), q5_hbits(miik_load_u32(blk + 4))); break;
    default: /* Q8_0 */
        v = _mm256_loadu_si256((const __m256i *)(blk + 2));
        *lo = _mm256_srai_epi16(_mm256_unpacklo_epi8(v, v), 8);
        *hi = _mm256_srai_epi16(_mm256_unpackhi_epi8(v, v), 8);
        return;
    }
    *lo = _mm256_unpacklo_epi8(v, z);
    *hi = _mm256_unpackhi_epi8(v, z);
    if (type == MIIK_Q4_0 || type == MIIK_Q5_0) {
        const __m256i off = _mm256_set1_epi16(type == MIIK_Q4_0 ? 8 : 16);
        *lo = _mm256_sub_epi16(*lo, off);
        *hi = _mm256_sub_epi16(*hi, off);
    }
}

/* NR rows against 16-bit activations: per block and row, two 16-bit pair multiply-adds give the
 * exact integer dot (|sum| < 2^31: 32 * 128 * 32767), converted once and scaled by d_w * d_x. */
A2I void mv16_rows(int type, const uint8_t *w, size_t rb, int64_t nb, const miik_q16a *xq, float *y, int nr) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    __m128 accm[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    const int bs = type_bytes32(type);
    for (int64_t b = 0; b < nb; b++) {
        const __m256i a0 = _mm256_loadu_si256((const __m256i *)xq[b].q);
        const __m256i a1 = _mm256_loadu_si256((const __m256i *)(xq[b].q + 16));
        /* [d_x, s_x] against a block's [d_w, m_w]: lane 0 scales the integer dot, lane 1 is the
         * affine types' min term */
        const __m128 ds = _mm_castpd_ps(_mm_load_sd((const double *)&xq[b].d));
        for (int r = 0; r < nr; r++) {
            const uint8_t *blk = w + (size_t)r * rb + (size_t)b * (size_t)bs;
            /* decode streams every matrix from DRAM: see MIIK_PF_ROWS (on Zen 1 with 4 rows into
             * L1, a 49152 x 576 Q4_1 matrix: 5.2 -> 6.8 GMAC/s) */
            _mm_prefetch((const char *)(blk + MIIK_PF_ROWS * rb), MIIK_PF_HINT);
            __m256i lo, hi;
            block_q16(type, blk, &lo, &hi);
            const __m256i p = _mm256_add_epi32(_mm256_madd_epi16(lo, a0), _mm256_madd_epi16(hi, a1));
            const __m128 sc = _mm_mul_ps(type_affine(type) ? load_dm(blk) : _mm_set_ss(h2f(blk)), ds);
            acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcastss_ps(sc), acc[r]);
            if (type_affine(type)) accm[r] = _mm_add_ps(accm[r], sc);
        }
    }
    for (int r = 0; r < nr; r++) y[r] = hsum8(acc[r]) + _mm_cvtss_f32(_mm_movehdup_ps(accm[r]));
}

MV_ROWS_INSTANCE(mv16_q4_0, mv16_rows, MIIK_Q4_0, miik_q16a)
MV_ROWS_INSTANCE(mv16_q4_1, mv16_rows, MIIK_Q4_1, miik_q16a)
MV_ROWS_INSTANCE(mv16_q5_0, mv16_rows, MIIK_Q5_0, miik_q16a)
MV_ROWS_INSTANCE(mv16_q5_1, mv16_rows, MIIK_Q5_1, miik_q16a)
MV_ROWS_INSTANCE(mv16_q8_0, mv16_rows, MIIK_Q8_0, miik_q16a)

A2 int miik_avx2_matvec_q16(int type, const void *w, size_t row_bytes, int64_t cols,
                            const miik_q16a *xq, float *y, int64_t r0, int64_t r1) {
    SWITCH_Q32_TYPES(type, mv16, (const uint8_t *)w, row_bytes, cols / 32, xq, y, r0, r1)
}

/* One row against 4 token vectors: the weight block is decoded once and reused. Unsigned types
 * use maddubs(q, a); the symmetric ones maddubs(|q|, a * sign(q)). */
A2I void mmq8_row_tok4(int type, const uint8_t *row, int64_t nb, const miik_q8a *const xt[4], float out[4]) {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    float accm[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const __m256i ones = _mm256_set1_epi16(1);
    const int bs = type_bytes32(type);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * (size_t)bs;
        const __m256i q = block_q_i8(type, blk);
        const __m256i qa = type_affine(type) ? q : _mm256_abs_epi8(q);
        const float dw = h2f(blk);
        const float mw = type_affine(type) ? h2f(blk + 2) : 0.0f;
        for (int t = 0; t < 4; t++) {
            __m256i a = _mm256_loadu_si256((const __m256i *)xt[t][b].q);
            if (!type_affine(type)) a = _mm256_sign_epi8(a, q);
            const __m256i i32 = _mm256_madd_epi16(_mm256_maddubs_epi16(qa, a), ones);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xt[t][b].d), _mm256_cvtepi32_ps(i32), acc[t]);
            if (type_affine(type)) accm[t] += mw * xt[t][b].s;
        }
    }
    for (int t = 0; t < 4; t++) out[t] = hsum8(acc[t]) + accm[t];
}

/* Exact sum of 32 signed 8-bit activation quants. */
A2I int32_t qsum32(const int8_t *q) {
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)q)),
                                        _mm256_set1_epi16(1));
    __m128i v = _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4E));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xB1));
    return _mm_cvtsi128_si32(v);
}

/* Unsigned quants (0..15 or 0..31) of a 4/5-bit block; the symmetric types' offset (8 or 16) is
 * subtracted after the products (see mmq8_small_row_tok4). */
A2I __m256i block_q_u8(int type, const uint8_t *blk) {
    switch (type) {
    case MIIK_Q4_0: return nib32(blk + 2);
    case MIIK_Q4_1: return nib32(blk + 4);
    case MIIK_Q5_0: return _mm256_or_si256(nib32(blk + 6), q5_hbits(miik_load_u32(blk + 2)));
    default: return _mm256_or_si256(nib32(blk + 8), q5_hbits(miik_load_u32(blk + 4))); /* Q5_1 */
    }
}

/* One row of a 4/5-bit type against 4 tokens. Per block: the four maddubs products (int16 pairs,
 * at most 2*31*127 = 7874) are reduced across tokens with two rounds of hadd (at most 31496, no
 * overflow) and one madd, giving [t0 t1 t2 t3 | t0 t1 t2 t3] int32 partial sums: one conversion
 * and one FMA per block for all four tokens. d4[b] = the 4 tokens' activation scales, s4[b] their
 * d * sum(q) (times the block's min for Q4_1/Q5_1). The symmetric types' offset stays in integers,
 * as in the reference: o8[b] = [off * sum(q) of t0..t3, 0, 0, 0, 0] is subtracted from the sums. */
A2I void mmq8_small_row_tok4(int type, const uint8_t *row, int64_t nb, const miik_q8a *const xt[4],
                             const float *d4, const float *s4, const int32_t *o8, float out[4]) {
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    const int bs = type_bytes32(type);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * (size_t)bs;
        const __m256i q = block_q_u8(type, blk);
        const __m256i p0 = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)xt[0][b].q));
        const __m256i p1 = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)xt[1][b].q));
        const __m256i p2 = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)xt[2][b].q));
        const __m256i p3 = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)xt[3][b].q));
        const __m256i h = _mm256_hadd_epi16(_mm256_hadd_epi16(p0, p1), _mm256_hadd_epi16(p2, p3));
        __m256i i32 = _mm256_madd_epi16(h, ones);
        if (!type_affine(type)) i32 = _mm256_sub_epi32(i32, _mm256_loadu_si256((const __m256i *)(o8 + 8 * b)));
        const __m256 f = _mm256_cvtepi32_ps(i32);
        const __m128 dm = load_dm(blk); /* [d, m] (m: the next bytes for the symmetric types, unused) */
        const __m128 sc = _mm_mul_ps(_mm_broadcastss_ps(dm), _mm_loadu_ps(d4 + 4 * b));
        acc = _mm256_fmadd_ps(_mm256_set_m128(sc, sc), f, acc);
        if (type_affine(type)) {
            const __m128 mw = _mm_movehdup_ps(dm);
            accm = _mm_fmadd_ps(_mm_shuffle_ps(mw, mw, 0), _mm_loadu_ps(s4 + 4 * b), accm);
        }
    }
    const __m128 sum = _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)), accm);
    _mm_storeu_ps(out, sum);
}

/* One Q8_0 row against 4 tokens: maddubs(|q|, a * sign(q)) and madd give each token's int32
 * partial sums (at most 2*128*127 per pair, so no int16 overflow, unlike the 4/5-bit tiles' hadd of
 * int16 pairs), two rounds of hadd_epi32 leave [t0 t1 t2 t3 | t0 t1 t2 t3]: one conversion and one
 * FMA per block for all four tokens instead of one per token. d4[b] = the 4 tokens' scales. */
A2I void mmq8_q80_row_tok4(const uint8_t *row, int64_t nb, const miik_q8a *const xt[4], const float *d4,
                           float out[4]) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * 34;
        const __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 2));
        const __m256i qa = _mm256_abs_epi8(q);
        __m256i p[4];
        for (int t = 0; t < 4; t++) {
            const __m256i a = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)xt[t][b].q), q);
            p[t] = _mm256_madd_epi16(_mm256_maddubs_epi16(qa, a), ones);
        }
        const __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
        const __m128 sc = _mm_mul_ps(_mm_set1_ps(h2f(blk)), _mm_loadu_ps(d4 + 4 * b));
        acc = _mm256_fmadd_ps(_mm256_set_m128(sc, sc), _mm256_cvtepi32_ps(h), acc);
    }
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)));
}

/* Tiles of 16 rows x 4 tokens, leftover tokens one by one. Rows up to MMQ8_PACK_MAXNB blocks use
 * the tiles that reduce across the 4 tokens (the tokens' scales, sums and offsets packed once per
 * tile, on the stack); longer rows use mmq8_row_tok4. */
#define MMQ8_PACK_MAXNB 256
A2I void mmq8_tiles(int type, const uint8_t *w, size_t rb, int64_t nb, const miik_q8a *xq, int64_t n_tok,
                    float *y, int64_t ldy, int64_t r0, int64_t r1) {
    const int64_t t4 = n_tok & ~(int64_t)3;
    const int packed = nb <= MMQ8_PACK_MAXNB;
    float d4[4 * MMQ8_PACK_MAXNB], s4[4 * MMQ8_PACK_MAXNB];
    int32_t o8[8 * MMQ8_PACK_MAXNB];
    const int off = type == MIIK_Q4_0 ? 8 : type == MIIK_Q5_0 ? 16 : 0;
    for (int64_t rt = r0; rt < r1; rt += 16) {
        const int64_t re = rt + 16 < r1 ? rt + 16 : r1;
        for (int64_t t = 0; t < t4; t += 4) {
            const miik_q8a *const xt[4] = {xq + t * nb, xq + (t + 1) * nb, xq + (t + 2) * nb, xq + (t + 3) * nb};
            if (packed) {
                for (int64_t b = 0; b < nb; b++) {
                    for (int k = 0; k < 4; k++) {
                        d4[4 * b + k] = xt[k][b].d;
                        if (type == MIIK_Q8_0) continue;
                        s4[4 * b + k] = xt[k][b].s;
                        o8[8 * b + k] = off ? off * qsum32(xt[k][b].q) : 0;
                        o8[8 * b + 4 + k] = 0;
                    }
                }
            }
            for (int64_t r = rt; r < re; r++) {
                float o[4];
                if (!packed) mmq8_row_tok4(type, w + (size_t)r * rb, nb, xt, o);
                else if (type == MIIK_Q8_0) mmq8_q80_row_tok4(w + (size_t)r * rb, nb, xt, d4, o);
                else mmq8_small_row_tok4(type, w + (size_t)r * rb, nb, xt, d4, s4, o8, o);
                for (int k = 0; k < 4; k++) y[(t + k) * ldy + r] = o[k];
            }
        }
        for (int64_t t = t4; t < n_tok; t++) {
            for (int64_t r = rt; r < re; r++) mvq8_rows(type, w + (size_t)r * rb, rb, nb, xq + t * nb, y + t * ldy + r, 1);
        }
    }
}

#define MMQ8_INSTANCE(NAME, TYPE)                                                                     \
    A2 static void NAME(const uint8_t *w, size_t rb, int64_t nb, const miik_q8a *xq, int64_t n_tok,  \
                        float *y, int64_t ldy, int64_t r0, int64_t r1) {                             \
        mmq8_tiles(TYPE, w, rb, nb, xq, n_tok, y, ldy, r0, r1);                                      \
    }

MMQ8_INSTANCE(mmq8_q4_0, MIIK_Q4_0)
MMQ8_INSTANCE(mmq8_q4_1, MIIK_Q4_1)
MMQ8_INSTANCE(mmq8_q5_0, MIIK_Q5_0)
MMQ8_INSTANCE(mmq8_q5_1, MIIK_Q5_1)
MMQ8_INSTANCE(mmq8_q8_0, MIIK_Q8_0)

A2 int miik_avx2_matmul_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                           const miik_q8a *xq, int64_t n_tok, float *y, int64_t ldy,
                           int64_t r0, int64_t r1) {
    const uint8_t *base = (const uint8_t *)w;
    const int64_t nb = cols / 32;
    switch (type) {
    case MIIK_Q4_0: mmq8_q4_0(base, row_bytes, nb, xq, n_tok, y, ldy, r0, r1); return 1;
    case MIIK_Q4_1: mmq8_q4_1(base, row_bytes, nb, xq, n_tok, y, ldy, r0, r1); return 1;
    case MIIK_Q5_0: mmq8_q5_0(base, row_bytes, nb, xq, n_tok, y, ldy, r0, r1); return 1;
    case MIIK_Q5_1: mmq8_q5_1(base, row_bytes, nb, xq, n_tok, y, ldy, r0, r1); return 1;
    case MIIK_Q8_0: mmq8_q8_0(base, row_bytes, nb, xq, n_tok, y, ldy, r0, r1); return 1;
    default: return 0;
    }
}

#endif /* x86 */
