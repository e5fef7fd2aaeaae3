/*
 * reference.c - plain scalar C reference implementation of every kernel.
 *
 * These are the ground truth for the optimized kernels: straightforward, sequential float
 * arithmetic, no FMA contraction (so results are reproducible on any compiler / CPU).
 */
#include <math.h>

#include "miik_internal.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- dequantization, one block at a time -------------------------------------------------- */

static void deq_q4_0(const miik_block_q4_0 *b, float *y) {
    const float d = miik_h2f(b->d);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((b->qs[j] & 0x0F) - 8);
        y[j + 16] = d * (float)((b->qs[j] >> 4) - 8);
    }
}

static void deq_q4_1(const miik_block_q4_1 *b, float *y) {
    const float d = miik_h2f(b->d);
    const float m = miik_h2f(b->m);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(b->qs[j] & 0x0F) + m;
        y[j + 16] = d * (float)(b->qs[j] >> 4) + m;
    }
}

static void deq_q5_0(const miik_block_q5_0 *b, float *y) {
    const float d = miik_h2f(b->d);
    const uint32_t qh = miik_load_u32(b->qh);
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) & 1u) << 4;
        int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
        y[j] = d * (float)(((b->qs[j] & 0x0F) | h0) - 16);
        y[j + 16] = d * (float)(((b->qs[j] >> 4) | h1) - 16);
    }
}

static void deq_q5_1(const miik_block_q5_1 *b, float *y) {
    const float d = miik_h2f(b->d);
    const float m = miik_h2f(b->m);
    const uint32_t qh = miik_load_u32(b->qh);
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) & 1u) << 4;
        int h1 = (int)((qh >> (j + 16)) & 1u) << 4;
        y[j] = d * (float)((b->qs[j] & 0x0F) | h0) + m;
        y[j + 16] = d * (float)((b->qs[j] >> 4) | h1) + m;
    }
}

static void deq_q8_0(const miik_block_q8_0 *b, float *y) {
    const float d = miik_h2f(b->d);
    for (int j = 0; j < 32; j++) y[j] = d * (float)b->qs[j];
}

static void deq_q8_1(const miik_block_q8_1 *b, float *y) {
    const float d = miik_h2f(b->d);
    for (int j = 0; j < 32; j++) y[j] = d * (float)b->qs[j];
}

static void deq_q2_K(const miik_block_q2_K *b, float *y) {
    const float d = miik_h2f(b->d);
    const float dmin = miik_h2f(b->dmin);
    /* element e = 128*h + 32*s + l  ->  2 bits at shift 2*s of qs[32*h + l]; scale index e/16 */
    for (int e = 0; e < 256; e++) {
        int h = e >> 7, s = (e >> 5) & 3, l = e & 31;
        int q = (b->qs[32 * h + l] >> (2 * s)) & 3;
        uint8_t sc = b->scales[e >> 4];
        float dl = d * (float)(sc & 0x0F);
        float ml = dmin * (float)(sc >> 4);
        y[e] = dl * (float)q - ml;
    }
}

static void deq_q3_K(const miik_block_q3_K *b, float *y) {
    const float d = miik_h2f(b->d);
    int8_t sc[16];
    miik_q3k_scales(b->scales, sc);
    /* low 2 bits as in Q2_K; high bit j = e/32 of hmask[e%32]; q = low - (bit ? 0 : 4) */
    for (int e = 0; e < 256; e++) {
        int h = e >> 7, s = (e >> 5) & 3, l = e & 31;
        int lo = (b->qs[32 * h + l] >> (2 * s)) & 3;
        int hb = (b->hmask[l] >> (e >> 5)) & 1;
        int q = lo - (hb ? 0 : 4);
        float dl = d * (float)sc[e >> 4];
        y[e] = dl * (float)q;
    }
}

static void deq_q4_K(const miik_block_q4_K *b, float *y) {
    const float d = miik_h2f(b->d);
    const float dmin = miik_h2f(b->dmin);
    /* sub-block j (32 elements): j even -> low nibbles of qs[32*(j/2) ..], j odd -> high nibbles */
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        miik_k4_scale_min(j, b->scales, &sc, &m);
        const float dl = d * (float)sc;
        const float ml = dmin * (float)m;
        const uint8_t *q = b->qs + 32 * (j >> 1);
        const int shift = (j & 1) * 4;
        for (int l = 0; l < 32; l++) {
            y[32 * j + l] = dl * (float)((q[l] >> shift) & 0x0F) - ml;
        }
    }
}

static void deq_q5_K(const miik_block_q5_K *b, float *y) {
    const float d = miik_h2f(b->d);
    const float dmin = miik_h2f(b->dmin);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        miik_k4_scale_min(j, b->scales, &sc, &m);
        const float dl = d * (float)sc;
        const float ml = dmin * (float)m;
        const uint8_t *q = b->qs + 32 * (j >> 1);
        const int shift = (j & 1) * 4;
        for (int l = 0; l < 32; l++) {
            int v = ((q[l] >> shift) & 0x0F) | (((b->qh[l] >> j) & 1) << 4);
            y[32 * j + l] = dl * (float)v - ml;
        }
    }
}

static void deq_q6_K(const miik_block_q6_K *b, float *y) {
    const float d = miik_h2f(b->d);
    /* element e = 128*h + r: low 4 bits from ql[64*h + r%64] >> 4*(r/64),
     * high 2 bits from qh[32*h + r%32] >> 2*(r/32); scale index e/16 */
    for (int e = 0; e < 256; e++) {
        int h = e >> 7, r = e & 127;
        int lo = (b->ql[64 * h + (r & 63)] >> (4 * (r >> 6))) & 0x0F;
        int hi = (b->qh[32 * h + (r & 31)] >> (2 * (r >> 5))) & 3;
        int q = (lo | (hi << 4)) - 32;
        float dl = d * (float)b->scales[e >> 4];
        y[e] = dl * (float)q;
    }
}

static void deq_q8_K(const miik_block_q8_K *b, float *y) {
    float d;
    memcpy(&d, &b->d, sizeof d);
    for (int j = 0; j < 256; j++) y[j] = d * (float)b->qs[j];
}

void miik_dequantize_ref(int type, const void *src, float *dst, int64_t n) {
    const uint8_t *p = (const uint8_t *)src;
    const int64_t be = miik_block_elems(type);
    const int64_t bb = miik_block_bytes(type);
    if (be == 0 || n <= 0) return;
    switch (type) {
    case MIIK_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    case MIIK_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = miik_h2f(miik_load_u16(p + 2 * i));
        return;
    case MIIK_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = miik_bf2f(miik_load_u16(p + 2 * i));
        return;
    default:
        break;
    }
    const int64_t nb = n / be;
    for (int64_t i = 0; i < nb; i++) {
        const void *blk = p + i * bb;
        float *y = dst + i * be;
        /* blocks may be unaligned: the structs only hold bytes/uint16, read via memcpy-safe
         * helpers where a wider load is needed (qh), so byte alignment is enough. */
        switch (type) {
        case MIIK_Q4_0: deq_q4_0((const miik_block_q4_0 *)blk, y); break;
        case MIIK_Q4_1: deq_q4_1((const miik_block_q4_1 *)blk, y); break;
        case MIIK_Q5_0: deq_q5_0((const miik_block_q5_0 *)blk, y); break;
        case MIIK_Q5_1: deq_q5_1((const miik_block_q5_1 *)blk, y); break;
        case MIIK_Q8_0: deq_q8_0((const miik_block_q8_0 *)blk, y); break;
        case MIIK_Q8_1: deq_q8_1((const miik_block_q8_1 *)blk, y); break;
        case MIIK_Q2_K: deq_q2_K((const miik_block_q2_K *)blk, y); break;
        case MIIK_Q3_K: deq_q3_K((const miik_block_q3_K *)blk, y); break;
        case MIIK_Q4_K: deq_q4_K((const miik_block_q4_K *)blk, y); break;
        case MIIK_Q5_K: deq_q5_K((const miik_block_q5_K *)blk, y); break;
        case MIIK_Q6_K: deq_q6_K((const miik_block_q6_K *)blk, y); break;
        case MIIK_Q8_K: deq_q8_K((const miik_block_q8_K *)blk, y); break;
        default: return;
        }
    }
}

/* ---- float helpers ------------------------------------------------------------------------- */

float miik_dot_f32_ref(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void miik_silu_mul_ref(float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

float miik_exp_shifted_ref(float *s, int64_t n, float mx) {
    float sum = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        s[j] = expf(s[j] - mx);
        sum += s[j];
    }
    return sum;
}

/* A key/value element: float32 rows, or fp16 ones (half != 0). */
static inline float kv_elem(const void *p, int64_t i, int half) {
    return half ? miik_h2f(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

/* One query. */
static void attend_one_ref(const float *q, const void *k, const void *v, int half, int64_t stride,
                           int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores,
                           float *out) {
    float mx = -INFINITY;
    for (int64_t j = 0; j < n_keys; j++) {
        float d = 0.0f; /* miik_dot_f32_ref's order */
        for (int64_t c = 0; c < hd; c++) d += q[c] * kv_elem(k, j * stride + c, half);
        const float s = d * scale + slope * (float)(pos0 + j);
        scores[j] = s;
        if (s > mx) mx = s;
    }
    const float inv = 1.0f / miik_exp_shifted_ref(scores, n_keys, mx);
    for (int64_t c = 0; c < hd; c++) out[c] = 0.0f;
    for (int64_t j = 0; j < n_keys; j++) {
        const float p = scores[j] * inv;
        for (int64_t c = 0; c < hd; c++) out[c] += p * kv_elem(v, j * stride + c, half);
    }
}

void miik_attend_f32_ref(const float *q, int64_t n_q, const float *k, const float *v, int64_t stride,
                         int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out) {
    for (int64_t i = 0; i < n_q; i++)
        attend_one_ref(q + i * hd, k, v, 0, stride, n_keys, hd, scale, slope, pos0, scores + i * n_keys, out + i * hd);
}

void miik_attend_f16_ref(const float *q, int64_t n_q, const uint16_t *k, const uint16_t *v, int64_t stride,
                         int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out) {
    for (int64_t i = 0; i < n_q; i++)
        attend_one_ref(q + i * hd, k, v, 1, stride, n_keys, hd, scale, slope, pos0, scores + i * n_keys, out + i * hd);
}

void miik_f32_to_f16_sat_ref(const float *x, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = miik_f32_to_f16_sat_one(x[i]);
}

/* ---- matvec / matmul (precise) --------------------------------------------------------------- */

#define REF_CHUNK 256 /* a multiple of every block size */

/* Sequential float dot of one row with x, dequantizing REF_CHUNK elements at a time
 * (same summation order as dequantizing the whole row first). */
static float ref_row_dot(int type, const uint8_t *row, int64_t cols, const float *x) {
    float buf[REF_CHUNK];
    const int64_t be = miik_block_elems(type);
    const int64_t bb = miik_block_bytes(type);
    float s = 0.0f;
    for (int64_t c = 0; c < cols; c += REF_CHUNK) {
        int64_t len = cols - c < REF_CHUNK ? cols - c : REF_CHUNK;
        miik_dequantize_ref(type, row + (c / be) * bb, buf, len);
        for (int64_t i = 0; i < len; i++) s += buf[i] * x[c + i];
    }
    return s;
}

void miik_matvec_ref(int type, const void *w, size_t row_bytes, int64_t cols,
                     const float *x, float *y, int64_t r0, int64_t r1) {
    if (!miik_type_supported(type)) return;
    const uint8_t *base = (const uint8_t *)w;
    for (int64_t r = r0; r < r1; r++) {
        y[r] = ref_row_dot(type, base + (size_t)r * row_bytes, cols, x);
    }
}

void miik_matmul_ref(int type, const void *w, size_t row_bytes, int64_t cols,
                     const float *x, int64_t ldx, int64_t n_tok, float *y, int64_t ldy,
                     int64_t r0, int64_t r1, float *scratch) {
    if (!miik_type_supported(type)) return;
    const uint8_t *base = (const uint8_t *)w;
    for (int64_t r = r0; r < r1; r++) {
        miik_dequantize_ref(type, base + (size_t)r * row_bytes, scratch, cols);
        for (int64_t t = 0; t < n_tok; t++) {
            y[t * ldy + r] = miik_dot_f32_ref(scratch, x + t * ldx, cols);
        }
    }
}

/* ---- fast mode: 8-bit activations ------------------------------------------------------------ */

/* One block of activation quants: q[j] = round-half-even(v[j] / d) clamped to +-qmax, with
 * d = amax / qmax; returns d and the sum of the quants. A block holding an infinity or a NaN
 * returns d = NaN with zero quants, so that every product with it is NaN, as in float. */
static float quantize_block_ref(const float *v, float qmax, int q[MIIK_QK], int *sum) {
    float amax = 0.0f;
    int nonfinite = 0;
    for (int j = 0; j < MIIK_QK; j++) {
        float a = fabsf(v[j]);
        if (!isfinite(a)) nonfinite = 1;
        amax = a > amax ? a : amax;
    }
    *sum = 0;
    if (nonfinite) {
        for (int j = 0; j < MIIK_QK; j++) q[j] = 0;
        return NAN;
    }
    const float d = amax / qmax;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < MIIK_QK; j++) {
        float r = nearbyintf(v[j] * id); /* round half to even (default rounding mode) */
        if (r > qmax) r = qmax;
        if (r < -qmax) r = -qmax;
        q[j] = (int)r;
        *sum += q[j];
    }
    return d;
}

void miik_quantize_act_ref(const float *x, miik_q8a *dst, int64_t n) {
    const int64_t nb = n / MIIK_QK;
    int q[MIIK_QK], sum;
    for (int64_t i = 0; i < nb; i++) {
        const float d = quantize_block_ref(x + i * MIIK_QK, 127.0f, q, &sum);
        for (int j = 0; j < MIIK_QK; j++) dst[i].q[j] = (int8_t)q[j];
        dst[i].d = d;
        dst[i].s = d * (float)sum;
    }
}

/* Unpacks the integer quants of one block; returns the block's d and m (m = 0 for the
 * symmetric types, whose offsets are already applied to the ints). */
static void q8ref_unpack(int type, const uint8_t *blk, int wq[32], float *d, float *m) {
    *m = 0.0f;
    switch (type) {
    case MIIK_Q4_0: {
        const miik_block_q4_0 *b = (const miik_block_q4_0 *)blk;
        *d = miik_h2f(b->d);
        for (int j = 0; j < 16; j++) {
            wq[j] = (b->qs[j] & 0x0F) - 8;
            wq[j + 16] = (b->qs[j] >> 4) - 8;
        }
        break;
    }
    case MIIK_Q4_1: {
        const miik_block_q4_1 *b = (const miik_block_q4_1 *)blk;
        *d = miik_h2f(b->d);
        *m = miik_h2f(b->m);
        for (int j = 0; j < 16; j++) {
            wq[j] = b->qs[j] & 0x0F;
            wq[j + 16] = b->qs[j] >> 4;
        }
        break;
    }
    case MIIK_Q5_0: {
        const miik_block_q5_0 *b = (const miik_block_q5_0 *)blk;
        const uint32_t qh = miik_load_u32(b->qh);
        *d = miik_h2f(b->d);
        for (int j = 0; j < 16; j++) {
            wq[j] = ((b->qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4)) - 16;
            wq[j + 16] = ((b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16;
        }
        break;
    }
    case MIIK_Q5_1: {
        const miik_block_q5_1 *b = (const miik_block_q5_1 *)blk;
        const uint32_t qh = miik_load_u32(b->qh);
        *d = miik_h2f(b->d);
        *m = miik_h2f(b->m);
        for (int j = 0; j < 16; j++) {
            wq[j] = (b->qs[j] & 0x0F) | (int)(((qh >> j) & 1u) << 4);
            wq[j + 16] = (b->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
        }
        break;
    }
    default: { /* MIIK_Q8_0 */
        const miik_block_q8_0 *b = (const miik_block_q8_0 *)blk;
        *d = miik_h2f(b->d);
        for (int j = 0; j < 32; j++) wq[j] = b->qs[j];
        break;
    }
    }
}

/* Block i of quantized activations as ints in element order, with its d and s. */
typedef void (*act_block_fn)(const void *xq, int64_t i, int q[MIIK_QK], float *d, float *s);

/* y[r] = sum over blocks of (d_w * d_a) * isum + m_w * s_a, accumulated in float in block order
 * (isum: the exact integer dot of the block's weight quants, offsets applied, with the
 * activation quants). */
static void matvec_int_ref(int type, const void *w, size_t row_bytes, int64_t cols, const void *xq,
                           act_block_fn act, float *y, int64_t r0, int64_t r1) {
    if (!miik_type_has_q8_path(type)) return;
    const uint8_t *base = (const uint8_t *)w;
    const int64_t bb = miik_block_bytes(type);
    const int64_t nb = cols / MIIK_QK;
    int wq[MIIK_QK], aq[MIIK_QK];
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = base + (size_t)r * row_bytes;
        float s = 0.0f;
        for (int64_t i = 0; i < nb; i++) {
            float d, m, ad, as;
            q8ref_unpack(type, row + i * bb, wq, &d, &m);
            act(xq, i, aq, &ad, &as);
            int32_t isum = 0;
            for (int j = 0; j < MIIK_QK; j++) isum += wq[j] * aq[j];
            s += (d * ad) * (float)isum;
            if (type == MIIK_Q4_1 || type == MIIK_Q5_1) s += m * as;
        }
        y[r] = s;
    }
}

static void act8_block(const void *xq, int64_t i, int q[MIIK_QK], float *d, float *s) {
    const miik_q8a *b = (const miik_q8a *)xq + i;
    for (int j = 0; j < MIIK_QK; j++) q[j] = b->q[j];
    *d = b->d;
    *s = b->s;
}

void miik_matvec_q8_ref(int type, const void *w, size_t row_bytes, int64_t cols,
                        const miik_q8a *xq, float *y, int64_t r0, int64_t r1) {
    matvec_int_ref(type, w, row_bytes, cols, xq, act8_block, y, r0, r1);
}

/* ---- 16-bit activations ---------------------------------------------------------------------- */

void miik_quantize_act16_ref(const float *x, miik_q16a *dst, int64_t n) {
    const int64_t nb = n / MIIK_QK;
    int q[MIIK_QK], sum;
    for (int64_t i = 0; i < nb; i++) {
        const float d = quantize_block_ref(x + i * MIIK_QK, 32767.0f, q, &sum);
        for (int k = 0; k < MIIK_QK; k++) dst[i].q[k] = (int16_t)q[miik_q16_element(k)];
        dst[i].d = d;
        dst[i].s = d * (float)sum;
    }
}

static void act16_block(const void *xq, int64_t i, int q[MIIK_QK], float *d, float *s) {
    const miik_q16a *b = (const miik_q16a *)xq + i;
    for (int k = 0; k < MIIK_QK; k++) q[miik_q16_element(k)] = b->q[k];
    *d = b->d;
    *s = b->s;
}

void miik_matvec_q16_ref(int type, const void *w, size_t row_bytes, int64_t cols,
                         const miik_q16a *xq, float *y, int64_t r0, int64_t r1) {
    matvec_int_ref(type, w, row_bytes, cols, xq, act16_block, y, r0, r1);
}
