/*
 * quantize.c - float rows to ggml block formats (Q8_0, Q4_0, Q4_1), for quantizing float weights
 * at load. Scalar and exact: the results equal ggml's reference quantizers (checked bit for bit against
 * the `gguf` package's numpy implementation in the tests). Load-time only, so no ISA variants.
 */
#include <math.h>
#include <string.h>

#include "miik_internal.h"
#include "mii_kernels.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define f2h miik_fp32_to_fp16

static void q8_0_block(const float *x, miik_block_q8_0 *b) {
    float amax = 0;
    for (int j = 0; j < 32; j++) { float a = fabsf(x[j]); if (a > amax) amax = a; }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) b->qs[j] = (int8_t)roundf(x[j] * id);
    b->d = f2h(d);
}

static void q4_0_block(const float *x, miik_block_q4_0 *b) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 16; j++) {
        float v0 = truncf(x[j] * id + 8.5f), v1 = truncf(x[j + 16] * id + 8.5f);
        uint8_t q0 = v0 < 0 ? 0 : v0 > 15 ? 15 : (uint8_t)v0;
        uint8_t q1 = v1 < 0 ? 0 : v1 > 15 ? 15 : (uint8_t)v1;
        b->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
    b->d = f2h(d);
}

static void q4_1_block(const float *x, miik_block_q4_1 *b) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < 32; j++) { if (x[j] < mn) mn = x[j]; if (x[j] > mx) mx = x[j]; }
    const float d = (mx - mn) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 16; j++) {
        float v0 = truncf((x[j] - mn) * id + 0.5f), v1 = truncf((x[j + 16] - mn) * id + 0.5f);
        uint8_t q0 = v0 < 0 ? 0 : v0 > 15 ? 15 : (uint8_t)v0;
        uint8_t q1 = v1 < 0 ? 0 : v1 > 15 ? 15 : (uint8_t)v1;
        b->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
    b->d = f2h(d);
    b->m = f2h(mn);
}

int miik_quantize(int type, const float *src, void *dst, int64_t n) {
    if (n < 0 || n % 32 != 0) return -1;
    const int64_t nb = n / 32;
    switch (type) {
    case MIIK_Q8_0:
        for (int64_t i = 0; i < nb; i++) q8_0_block(src + i * 32, (miik_block_q8_0 *)dst + i);
        return 0;
    case MIIK_Q4_0:
        for (int64_t i = 0; i < nb; i++) q4_0_block(src + i * 32, (miik_block_q4_0 *)dst + i);
        return 0;
    case MIIK_Q4_1:
        for (int64_t i = 0; i < nb; i++) q4_1_block(src + i * 32, (miik_block_q4_1 *)dst + i);
        return 0;
    default:
        return -1;
    }
}
