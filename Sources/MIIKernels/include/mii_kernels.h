/*
 * mii_kernels.h - the C kernel layer of libmii (internal; not part of the public mii.h).
 *
 * Every kernel has a plain scalar reference twin (suffix _ref, in reference.c) and a dispatched
 * entry point that picks the best implementation for the running CPU at run time
 * (__builtin_cpu_supports; AVX-512 / AVX2+FMA / VNNI / scalar). Optimized per-ISA code lives in
 * its own file compiled with __attribute__((target(...))), never with global -m flags.
 *
 * Tensor type ids are GGML's (GGUF's) type ids.
 * A "row" of a quantized matrix is `cols` elements = cols / block_elems blocks, stored contiguously;
 * `cols` must be a multiple of the type's block size (callers check this at load time).
 */
#ifndef MII_KERNELS_H
#define MII_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum miik_type {
    MIIK_F32 = 0,
    MIIK_F16 = 1,
    MIIK_Q4_0 = 2,
    MIIK_Q4_1 = 3,
    MIIK_Q5_0 = 6,
    MIIK_Q5_1 = 7,
    MIIK_Q8_0 = 8,
    MIIK_Q8_1 = 9,
    MIIK_Q2_K = 10,
    MIIK_Q3_K = 11,
    MIIK_Q4_K = 12,
    MIIK_Q5_K = 13,
    MIIK_Q6_K = 14,
    MIIK_Q8_K = 15,
    MIIK_BF16 = 30,
};

/* Elements per block (1 for F32/F16/BF16, 32 for Q4_0..Q8_1, 256 for K types); 0 if unsupported. */
int64_t miik_block_elems(int type);
/* Bytes per block; 0 if unsupported. */
int64_t miik_block_bytes(int type);
/* 1 if the engine can compute with this type (dequantize + matvec). */
int miik_type_supported(int type);

/* ---- CPU features and dispatch ---------------------------------------------------------- */
enum miik_isa { MIIK_ISA_SCALAR = 0, MIIK_ISA_AVX2 = 1, MIIK_ISA_AVX512 = 2 };
/* Bit set: 1 avx2, 2 fma, 4 f16c, 8 avx512f, 16 avx512bw, 32 avx512vl, 64 avx512vnni, 128 avx512bf16, 256 avxvnni */
uint32_t miik_cpu_features(void);
/* The ISA level the dispatcher chose (after MIIK_FORCE_ISA / miik_force_isa). */
int miik_active_isa(void);
/* Force a lower ISA level (for tests and benchmarks). Returns the level in effect (never above what
 * the CPU supports). Not thread-safe: call before computing. */
int miik_force_isa(int isa);
/* Human-readable name of the kernel set in use, e.g. "avx512+vnni". */
const char *miik_isa_name(void);
/* 1 when the 8-bit activation kernels use int8 dot-product instructions (AVX-512 VNNI), 0 when they
 * multiply-add bytes in two steps (AVX2 maddubs) or run the reference. */
int miik_int8_dot_instructions(void);

/* ---- Conversions ------------------------------------------------------------------------ */
float miik_fp16_to_fp32(uint16_t h);
uint16_t miik_fp32_to_fp16(float f);
float miik_bf16_to_fp32(uint16_t h);

/* ---- Quantization of weights (load time; quantize.c) ------------------------------------ */
/* Quantizes n floats (a multiple of 32) into blocks of `type` (MIIK_Q8_0, MIIK_Q4_0 or MIIK_Q4_1),
 * exactly as ggml's reference quantizers. Returns 0, or -1 for another type or a bad n. */
int miik_quantize(int type, const float *src, void *dst, int64_t n);

/* ---- Dequantization --------------------------------------------------------------------- */
/* dst[0..n) = dequantized values of `n` elements (a multiple of the block size) starting at src. */
void miik_dequantize_ref(int type, const void *src, float *dst, int64_t n);
void miik_dequantize(int type, const void *src, float *dst, int64_t n);

/* ---- Float vector helpers (dispatched) --------------------------------------------------- */
float miik_dot_f32(const float *a, const float *b, int64_t n);
/* y += a * x */
void miik_axpy_f32(float a, const float *x, float *y, int64_t n);
float miik_dot_f32_ref(const float *a, const float *b, int64_t n);

/* ---- Attention (dispatched, with a reference twin) --------------------------------------- */
/* s[j] = exp(s[j] - mx) for j < n; returns their sum (a softmax's denominator). The AVX2 version
 * computes exp with a polynomial (relative error ~1e-7; inputs below -87.3 give 0, above 88 give
 * exp(88)); NaN stays NaN. */
float miik_exp_shifted(float *s, int64_t n, float mx);
float miik_exp_shifted_ref(float *s, int64_t n, float mx);
/* g[i] = SiLU(g[i]) * u[i] = g[i] / (1 + exp(-g[i])) * u[i] (gated MLPs), exp as above. */
void miik_silu_mul(float *g, const float *u, int64_t n);
void miik_silu_mul_ref(float *g, const float *u, int64_t n);

/* n_q >= 1 queries (attention heads that share one key/value head: grouped-query attention) over
 * n_keys >= 1 consecutive cache rows. For query i (q + i * hd): s_j = scale * (q_i . k_j)
 * + slope * (pos0 + j), p = softmax(s), out[i * hd + c] = sum_j p_j v_j[c] for c < hd, where
 * k_j = k + j * stride and v_j = v + j * stride. slope is an ALiBi head's slope (0: none) and pos0
 * the position of the first key row. `scores` holds at least n_q * n_keys floats (overwritten). */
void miik_attend_f32(const float *q, int64_t n_q, const float *k, const float *v, int64_t stride,
                     int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out);
void miik_attend_f32_ref(const float *q, int64_t n_q, const float *k, const float *v, int64_t stride,
                         int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out);

/* miik_attend_f32 over fp16 key/value rows (fast mode's cache): each element converted to float
 * exactly, then the same computation. */
void miik_attend_f16(const float *q, int64_t n_q, const uint16_t *k, const uint16_t *v, int64_t stride,
                     int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out);
void miik_attend_f16_ref(const float *q, int64_t n_q, const uint16_t *k, const uint16_t *v, int64_t stride,
                         int64_t n_keys, int64_t hd, float scale, float slope, int64_t pos0, float *scores, float *out);
/* dst[i] = x[i] as fp16, round to nearest even; finite values beyond the fp16 range saturate to
 * +-65504 (a cache entry never becomes infinite by conversion); infinities and NaN keep their kind. */
void miik_f32_to_f16_sat(const float *x, uint16_t *dst, int64_t n);
void miik_f32_to_f16_sat_ref(const float *x, uint16_t *dst, int64_t n);

/* ---- Matrix x vector, precise mode (float32 activations) -------------------------------- */
/* For r in [r0, r1): y[r] = sum_c W[r][c] * x[c].
 * W: first row at `w`, rows `row_bytes` apart, each `cols` elements of `type`. */
void miik_matvec_ref(int type, const void *w, size_t row_bytes, int64_t cols,
                     const float *x, float *y, int64_t r0, int64_t r1);
void miik_matvec(int type, const void *w, size_t row_bytes, int64_t cols,
                 const float *x, float *y, int64_t r0, int64_t r1);

/* Matrix x several vectors: for t in [0, n_tok), r in [r0, r1):
 *   y[t * ldy + r] = sum_c W[r][c] * x[t * ldx + c]
 * `scratch` holds at least 4 * `cols` floats (per calling thread). */
void miik_matmul(int type, const void *w, size_t row_bytes, int64_t cols,
                 const float *x, int64_t ldx, int64_t n_tok, float *y, int64_t ldy,
                 int64_t r0, int64_t r1, float *scratch);
void miik_matmul_ref(int type, const void *w, size_t row_bytes, int64_t cols,
                     const float *x, int64_t ldx, int64_t n_tok, float *y, int64_t ldy,
                     int64_t r0, int64_t r1, float *scratch);

/* ---- Fast mode: 8-bit activations ------------------------------------------------------- */
/* Activations quantized per 32 elements: struct miik_q8a { float d; float s; int8_t q[32]; }
 * where x[i] ~= d * q[i] and s = d * sum(q). 40 bytes per block. n must be a multiple of 32.
 * A block holding an infinity or a NaN gets d = s = NaN and zero quants, so products with it are
 * NaN, as in float (the same for the 16-bit blocks below). */
typedef struct { float d; float s; int8_t q[32]; } miik_q8a;
void miik_quantize_act_ref(const float *x, miik_q8a *dst, int64_t n);
void miik_quantize_act(const float *x, miik_q8a *dst, int64_t n);
/* 1 if `type` has an 8-bit-activation dot product (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0). */
int miik_type_has_q8_path(int type);
/* Like miik_matvec, with x given as quantized activations (cols/32 blocks). */
void miik_matvec_q8_ref(int type, const void *w, size_t row_bytes, int64_t cols,
                        const miik_q8a *xq, float *y, int64_t r0, int64_t r1);
void miik_matvec_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                    const miik_q8a *xq, float *y, int64_t r0, int64_t r1);
/* Several activation rows: xq row t starts at xq + t * (cols/32). y[t*ldy + r]. */
void miik_matmul_q8(int type, const void *w, size_t row_bytes, int64_t cols,
                    const miik_q8a *xq, int64_t n_tok, float *y, int64_t ldy,
                    int64_t r0, int64_t r1);

/* ---- Fast mode: 16-bit activations ------------------------------------------------------ */
/* For the products fast mode keeps close to float (attention keys/values/output, ffn_down, the
 * output head): activations quantized per 32 elements to 16 bits, x[i] ~= d * q[i] with
 * |q| <= 32767 (relative error <= 2^-16 of the block's largest |x|), and s = d * sum(q).
 * q holds the block's quants in the order 0-7, 16-23, 8-15, 24-31: the order in which the AVX2
 * kernels widen a weight block's bytes into 16-bit lanes. 72 bytes per block; n a multiple of 32.
 * The weight types are those of miik_type_has_q8_path. On AVX2 (Zen 1) a 16-bit multiply-add of
 * pairs costs what the 8-bit path's two steps cost, and both avoid converting weights to floats. */
typedef struct { float d; float s; int16_t q[32]; } miik_q16a;
void miik_quantize_act16_ref(const float *x, miik_q16a *dst, int64_t n);
void miik_quantize_act16(const float *x, miik_q16a *dst, int64_t n);
/* Like miik_matvec, with x given as 16-bit activations (cols/32 blocks). */
void miik_matvec_q16_ref(int type, const void *w, size_t row_bytes, int64_t cols,
                         const miik_q16a *xq, float *y, int64_t r0, int64_t r1);
void miik_matvec_q16(int type, const void *w, size_t row_bytes, int64_t cols,
                     const miik_q16a *xq, float *y, int64_t r0, int64_t r1);
/* Several activation rows, as miik_matmul_q8: xq row t starts at xq + t * (cols/32); y[t*ldy + r]. */
void miik_matmul_q16(int type, const void *w, size_t row_bytes, int64_t cols,
                     const miik_q16a *xq, int64_t n_tok, float *y, int64_t ldy,
                     int64_t r0, int64_t r1);
/* The smallest token count from which miik_matmul_q8 / miik_matmul_q16 use multi-token integer
 * tiles with int8/int16 dot-product instructions (AVX-512 VNNI) on this CPU, or 0 when there are
 * none (miik_matmul_q16 then runs token by token). */
int miik_vnni_tile_min_tokens(void);

/* ---- Thread pool (threadpool.c) --------------------------------------------------------- */
/* A fixed pool of n_threads-1 workers; the calling thread is worker 0 and works too.
 * Workers spin briefly between jobs, then park on a futex. */
typedef struct miik_pool miik_pool;
typedef void (*miik_task_fn)(void *ctx, int ith, int nth);
/* Returns NULL on failure (errno set). n_threads >= 1. */
miik_pool *miik_pool_create(int n_threads);
/* CPUs this process may run on (sched_getaffinity: taskset, cgroup cpusets), at least 1. */
int miik_available_cpus(void);
void miik_pool_free(miik_pool *pool);
int miik_pool_threads(const miik_pool *pool);
/* Runs fn(ctx, ith, nth) for ith in [0, nth) on the pool (nth = pool threads), returns when all
 * are done. Only one thread may call run on a given pool at a time. */
void miik_pool_run(miik_pool *pool, miik_task_fn fn, void *ctx);


/* ---- Atomic flags (atomics.c) ----------------------------------------------------------- */
/* An int with acquire/release semantics, for cancellation flags and counters shared between threads. */
typedef struct miik_flag miik_flag;
miik_flag *miik_flag_create(void);   /* starts at 0; NULL when out of memory */
void miik_flag_free(miik_flag *f);
void miik_flag_set(miik_flag *f, int v);
int miik_flag_get(const miik_flag *f);
int miik_flag_exchange(miik_flag *f, int v);   /* returns the previous value */
int miik_flag_add(miik_flag *f, int delta);    /* returns the new value */
int miik_flag_cas(miik_flag *f, int expected, int desired); /* 1 if the value was `expected` and is now `desired` */

#ifdef __cplusplus
}
#endif
#endif
