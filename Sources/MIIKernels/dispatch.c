/*
 * dispatch.c - routes the public kernel entry points to the best implementation for the active
 * ISA level (miik_active_isa), falling back level by level (AVX-512 -> AVX2 -> reference) for
 * types a level does not implement.
 */
#include "miik_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#define MIIK_HAVE_X86 1
#else
#define MIIK_HAVE_X86 0
#endif

static void axpy_ref(float a, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

void miik_dequantize(int type, const void *src, float *dst, int64_t n) {
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512:
        if (miik_avx512_dequantize(type, src, dst, n)) return;
        /* fall through */
    case MIIK_ISA_AVX2:
        if (miik_avx2_dequantize(type, src, dst, n)) return;
        break;
    default:
        break;
    }
#endif
    miik_dequantize_ref(type, src, dst, n);
}

float miik_dot_f32(const float *a, const float *b, int64_t n) {
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512: return miik_avx512_dot_f32(a, b, n);
    case MIIK_ISA_AVX2: return miik_avx2_dot_f32(a, b, n);
    default: break;
    }
#endif
    return miik_dot_f32_ref(a, b, n);
}

void miik_axpy_f32(float a, const float *x, float *y, int64_t n) {
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512: miik_avx512_axpy_f32(a, x, y, n); return;
    case MIIK_ISA_AVX2: miik_avx2_axpy_f32(a, x, y, n); return;
    default: break;
    }
#endif
    axpy_ref(a, x, y, n);
}

float miik_exp_shifted(float *s, int64_t n, float mx) {
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512: /* AVX-512 machines run the AVX2 version */
    case MIIK_ISA_AVX2:
        return miik_avx2_exp_shifted(s, n, mx);
    default:
        break;
    }
#endif
    return miik_exp_shifted_ref(s, n, mx);
}

void miik_silu_mul(float *g, const float *u, int64_t n) {
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512:
    case MIIK_ISA_AVX2:
        miik_avx2_silu_mul(g, u, n);
        return;
    default:
        break;
    }
#endif
    miik_silu_mul_ref(g, u, n);
}

void miik_attend_f32(const float *q, int64_t n_q, const float *k, const float *v, int64_t stride,
                     int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out) {
    if (n_keys < 1 || n_q < 1) return;
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512: /* AVX-512 machines run the AVX2 version */
    case MIIK_ISA_AVX2:
        if (miik_avx2_attend_f32(q, n_q, k, v, stride, n_keys, hd, scale, slope, pos0, scores, out)) return;
        break;
    default:
        break;
    }
#endif
    miik_attend_f32_ref(q, n_q, k, v, stride, n_keys, hd, scale, slope, pos0, scores, out);
}

void miik_attend_f16(const float *q, int64_t n_q, const uint16_t *k, const uint16_t *v, int64_t stride,
                     int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out) {
    if (n_keys < 1 || n_q < 1) return;
#if MIIK_HAVE_X86
    if (miik_isa_level_internal() >= MIIK_ISA_AVX2 &&
        miik_avx2_attend_f16(q, n_q, k, v, stride, n_keys, hd, scale, slope, pos0, scores, out))
        return;
#endif
    miik_attend_f16_ref(q, n_q, k, v, stride, n_keys, hd, scale, slope, pos0, scores, out);
}

void miik_f32_to_f16_sat(const float *x, uint16_t *dst, int64_t n) {
#if MIIK_HAVE_X86
    if (miik_isa_level_internal() >= MIIK_ISA_AVX2) {
        miik_avx2_f32_to_f16_sat(x, dst, n);
        return;
    }
#endif
    miik_f32_to_f16_sat_ref(x, dst, n);
}

void miik_matvec(int type, const void *w, size_t row_bytes, int64_t cols,
                 const float *x, float *y, int64_t r0, int64_t r1) {
    if (r1 <= r0) return;
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512:
        if (miik_avx512_matvec(type, w, row_bytes, cols, x, y, r0, r1)) return;
        /* fall through */
    case MIIK_ISA_AVX2:
        if (miik_avx2_matvec(type, w, row_bytes, cols, x, y, r0, r1)) return;
        break;
    default:
        break;
    }
#endif
    miik_matvec_ref(type, w, row_bytes, cols, x, y, r0, r1);
}

void miik_matmul(int type, const void *w, size_t row_bytes, int64_t cols,
                 const float *x, int64_t ldx, int64_t n_tok, float *y, int64_t ldy,
                 int64_t r0, int64_t r1, float *scratch) {
    if (r1 <= r0 || n_tok <= 0) return;
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512: /* the AVX2 tiles: faster than a 512-bit version measured on Zen 4 */
    case MIIK_ISA_AVX2:
        if (miik_avx2_matmul(type, w, row_bytes, cols, x, ldx, n_tok, y, ldy, r0, r1, scratch)) return;
        break;
    default:
        break;
    }
#endif
    miik_matmul_ref(type, w, row_bytes, cols, x, ldx, n_tok, y, ldy, r0, r1, scratch);
}

void miik_quantize_act(const float *x, miik_q8a *dst, int64_t n) {
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512: miik_avx512_quantize_act(x, dst, n); return;
    case MIIK_ISA_AVX2: miik_avx2_quantize_act(x, dst, n); return;
    default: break;
    }
#endif
    miik_quantize_act_ref(x, dst, n);
}

void miik_matvec_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                    const miik_q8a *xq, float *y, int64_t r0, int64_t r1) {
    if (r1 <= r0) return;
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512:
        if (miik_avx512_matvec_q8(type, w, row_bytes, cols, xq, y, r0, r1, miik_vnni_internal())) return;
        /* fall through */
    case MIIK_ISA_AVX2:
        if (miik_avx2_matvec_q8(type, w, row_bytes, cols, xq, y, r0, r1)) return;
        break;
    default:
        break;
    }
#endif
    miik_matvec_q8_ref(type, w, row_bytes, cols, xq, y, r0, r1);
}

void miik_matmul_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                    const miik_q8a *xq, int64_t n_tok, float *y, int64_t ldy,
                    int64_t r0, int64_t r1) {
    if (r1 <= r0 || n_tok <= 0) return;
#if MIIK_HAVE_X86
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512:
        if (miik_avx512_matmul_q8(type, w, row_bytes, cols, xq, n_tok, y, ldy, r0, r1, miik_vnni_internal()))
            return;
        /* fall through */
    case MIIK_ISA_AVX2:
        if (miik_avx2_matmul_q8(type, w, row_bytes, cols, xq, n_tok, y, ldy, r0, r1)) return;
        break;
    default:
        break;
    }
#endif
    const int64_t nb = cols / MIIK_QK;
    for (int64_t t = 0; t < n_tok; t++) {
        miik_matvec_q8_ref(type, w, row_bytes, cols, xq + t * nb, y + t * ldy, r0, r1);
    }
}

void miik_quantize_act16(const float *x, miik_q16a *dst, int64_t n) {
#if MIIK_HAVE_X86
    if (miik_isa_level_internal() >= MIIK_ISA_AVX2) {
        miik_avx2_quantize_act16(x, dst, n);
        return;
    }
#endif
    miik_quantize_act16_ref(x, dst, n);
}

/* AVX-512 machines with VNNI: 256-bit vpdpbusd on the activations' two bytes; the AVX2 kernel
 * otherwise. */
void miik_matvec_q16(int type, const void *w, size_t row_bytes, int64_t cols,
                     const miik_q16a *xq, float *y, int64_t r0, int64_t r1) {
    if (r1 <= r0) return;
#if MIIK_HAVE_X86
    if (miik_isa_level_internal() == MIIK_ISA_AVX512 &&
        miik_avx512_matvec_q16(type, w, row_bytes, cols, xq, y, r0, r1, miik_vnni_internal()))
        return;
    if (miik_isa_level_internal() >= MIIK_ISA_AVX2 && miik_avx2_matvec_q16(type, w, row_bytes, cols, xq, y, r0, r1))
        return;
#endif
    miik_matvec_q16_ref(type, w, row_bytes, cols, xq, y, r0, r1);
}

void miik_matmul_q16(int type, const void *w, size_t row_bytes, int64_t cols,
                     const miik_q16a *xq, int64_t n_tok, float *y, int64_t ldy,
                     int64_t r0, int64_t r1) {
    if (r1 <= r0 || n_tok <= 0) return;
#if MIIK_HAVE_X86
    if (miik_isa_level_internal() == MIIK_ISA_AVX512 &&
        miik_avx512_matmul_q16(type, w, row_bytes, cols, xq, n_tok, y, ldy, r0, r1, miik_vnni_internal()))
        return;
#endif
    const int64_t nb = cols / MIIK_QK;
    for (int64_t t = 0; t < n_tok; t++) miik_matvec_q16(type, w, row_bytes, cols, xq + t * nb, y + t * ldy, r0, r1);
}

int miik_vnni_tile_min_tokens(void) {
#if MIIK_HAVE_X86
    if (miik_int8_dot_instructions()) return miik_avx512_mm_min_tokens();
#endif
    return 0;
}
