/*
 * types.c - block sizes, fp16/bf16 conversions, CPU feature detection and ISA selection.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "miik_internal.h"

/* ---- block sizes -------------------------------------------------------------------------- */

int64_t miik_block_elems(int type) {
    switch (type) {
    case MIIK_F32:
    case MIIK_F16:
    case MIIK_BF16:
        return 1;
    case MIIK_Q4_0:
    case MIIK_Q4_1:
    case MIIK_Q5_0:
    case MIIK_Q5_1:
    case MIIK_Q8_0:
    case MIIK_Q8_1:
        return MIIK_QK;
    case MIIK_Q2_K:
    case MIIK_Q3_K:
    case MIIK_Q4_K:
    case MIIK_Q5_K:
    case MIIK_Q6_K:
    case MIIK_Q8_K:
        return MIIK_QKK;
    default:
        return 0;
    }
}

int64_t miik_block_bytes(int type) {
    switch (type) {
    case MIIK_F32: return 4;
    case MIIK_F16: return 2;
    case MIIK_BF16: return 2;
    case MIIK_Q4_0: return (int64_t)sizeof(miik_block_q4_0);
    case MIIK_Q4_1: return (int64_t)sizeof(miik_block_q4_1);
    case MIIK_Q5_0: return (int64_t)sizeof(miik_block_q5_0);
    case MIIK_Q5_1: return (int64_t)sizeof(miik_block_q5_1);
    case MIIK_Q8_0: return (int64_t)sizeof(miik_block_q8_0);
    case MIIK_Q8_1: return (int64_t)sizeof(miik_block_q8_1);
    case MIIK_Q2_K: return (int64_t)sizeof(miik_block_q2_K);
    case MIIK_Q3_K: return (int64_t)sizeof(miik_block_q3_K);
    case MIIK_Q4_K: return (int64_t)sizeof(miik_block_q4_K);
    case MIIK_Q5_K: return (int64_t)sizeof(miik_block_q5_K);
    case MIIK_Q6_K: return (int64_t)sizeof(miik_block_q6_K);
    case MIIK_Q8_K: return (int64_t)sizeof(miik_block_q8_K);
    default: return 0;
    }
}

int miik_type_supported(int type) { return miik_block_elems(type) != 0; }

int miik_type_has_q8_path(int type) {
    return type == MIIK_Q4_0 || type == MIIK_Q4_1 || type == MIIK_Q5_0 || type == MIIK_Q5_1 ||
           type == MIIK_Q8_0;
}

/* ---- conversions -------------------------------------------------------------------------- */

float miik_fp16_to_fp32(uint16_t h) { return miik_h2f(h); }

float miik_bf16_to_fp32(uint16_t h) { return miik_bf2f(h); }

/* Round to nearest even; overflow -> inf; NaN stays NaN (quiet). */
uint16_t miik_fp32_to_fp16(float f) {
    uint32_t x = miik_f32_to_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) { /* NaN */
        return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu));
    }
    if (ax >= 0x477FF000u) { /* rounds to >= 65520 -> inf (includes inf) */
        return (uint16_t)(sign | 0x7C00u);
    }
    if (ax < 0x38800000u) { /* below the smallest normal half (2^-14): subnormal or zero */
        if (ax < 0x33000000u) { /* < 2^-25: rounds to zero (2^-25 itself is a tie to even 0) */
            return sign;
        }
        uint32_t e = ax >> 23;            /* 102..112 */
        uint32_t m = (ax & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126u - e;        /* value = m * 2^(e-150); half ulp unit 2^-24 */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (q & 1u))) {
            q++;
        }
        return (uint16_t)(sign | q);
    }
    /* normal: rebias exponent, round mantissa from 23 to 10 bits */
    uint32_t r = ax - 0x38000000u; /* exponent - 112 */
    uint32_t q = r >> 13;
    uint32_t rem = r & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1u))) {
        q++; /* carry into the exponent is correct */
    }
    return (uint16_t)(sign | q);
}

/* ---- CPU features and ISA selection ------------------------------------------------------- */

static _Atomic int g_isa = -1;      /* active level, -1 = not initialised */
static _Atomic int g_max_isa = -1;  /* highest level the CPU supports */
static _Atomic uint32_t g_features = 0;

static uint32_t detect_features(void) {
    uint32_t f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) f |= 1u;
    if (__builtin_cpu_supports("fma")) f |= 2u;
    if (__builtin_cpu_supports("f16c")) f |= 4u;
    if (__builtin_cpu_supports("avx512f")) f |= 8u;
    if (__builtin_cpu_supports("avx512bw")) f |= 16u;
    if (__builtin_cpu_supports("avx512vl")) f |= 32u;
    if (__builtin_cpu_supports("avx512vnni")) f |= 64u;
    if (__builtin_cpu_supports("avx512bf16")) f |= 128u;
    if (__builtin_cpu_supports("avxvnni")) f |= 256u;
#endif
    return f;
}

static int max_isa_for(uint32_t f) {
    if ((f & 7u) != 7u) return MIIK_ISA_SCALAR;
    if ((f & (8u | 16u | 32u)) == (8u | 16u | 32u)) return MIIK_ISA_AVX512;
    return MIIK_ISA_AVX2;
}

static int parse_isa_env(void) {
    const char *s = getenv("MIIK_FORCE_ISA");
    if (s == NULL || s[0] == '\0') return -1;
    if (strcmp(s, "scalar") == 0 || strcmp(s, "ref") == 0 || strcmp(s, "none") == 0) return MIIK_ISA_SCALAR;
    if (strcmp(s, "avx2") == 0) return MIIK_ISA_AVX2;
    if (strcmp(s, "avx512") == 0) return MIIK_ISA_AVX512;
    return -1;
}

static void isa_init(void) {
    uint32_t f = detect_features();
    int maxl = max_isa_for(f);
    int want = parse_isa_env();
    int lvl = (want >= 0 && want < maxl) ? want : maxl;
    atomic_store_explicit(&g_features, f, memory_order_relaxed);
    atomic_store_explicit(&g_max_isa, maxl, memory_order_relaxed);
    atomic_store_explicit(&g_isa, lvl, memory_order_release);
}

int miik_isa_level_internal(void) {
    int v = atomic_load_explicit(&g_isa, memory_order_acquire);
    if (__builtin_expect(v < 0, 0)) {
        isa_init(); /* idempotent: concurrent first calls store the same values */
        v = atomic_load_explicit(&g_isa, memory_order_acquire);
    }
    return v;
}

uint32_t miik_cpu_features(void) {
    (void)miik_isa_level_internal();
    return atomic_load_explicit(&g_features, memory_order_relaxed);
}

int miik_vnni_internal(void) { return (miik_cpu_features() & 64u) != 0; }

int miik_active_isa(void) { return miik_isa_level_internal(); }

int miik_force_isa(int isa) {
    (void)miik_isa_level_internal();
    int maxl = atomic_load_explicit(&g_max_isa, memory_order_relaxed);
    int lvl = isa < MIIK_ISA_SCALAR ? MIIK_ISA_SCALAR : isa;
    if (lvl > maxl) lvl = maxl;
    atomic_store_explicit(&g_isa, lvl, memory_order_release);
    return lvl;
}

int miik_int8_dot_instructions(void) {
    return miik_isa_level_internal() == MIIK_ISA_AVX512 && miik_vnni_internal();
}

const char *miik_isa_name(void) {
    switch (miik_isa_level_internal()) {
    case MIIK_ISA_AVX512:
        return miik_vnni_internal() ? "avx512+vnni" : "avx512";
    case MIIK_ISA_AVX2:
        return "avx2";
    default:
        return "scalar";
    }
}
