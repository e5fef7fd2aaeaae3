/*
 * membw.c - read bandwidth of this machine, for the rooflines in bench/RESULTS.md: AVX2 loads
 * summing a 512 MiB float array (far larger than any cache), 1 and 2 threads each reading their
 * own half, best of 5 passes.
 *
 *   gcc -O2 -mavx2 bench/membw.c -o /tmp/membw -lpthread && /tmp/membw
 */
#define _POSIX_C_SOURCE 200809L
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define FLOATS (512UL * 1024 * 1024 / sizeof(float))

static float *data;
static long n_threads;

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *reader(void *arg) {
    const size_t per = FLOATS / (size_t)n_threads, first = (size_t)(long)arg * per;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = first; i < first + per; i += 32) {
        s0 = _mm256_add_ps(s0, _mm256_load_ps(data + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(data + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(data + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(data + i + 24));
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    return (void *)(long)(out[0] < 0.0f); /* keeps the sums alive */
}

int main(void) {
    data = aligned_alloc(64, FLOATS * sizeof(float));
    if (!data) return 1;
    for (size_t i = 0; i < FLOATS; i++) data[i] = 1.0f;
    for (n_threads = 1; n_threads <= 2; n_threads++) {
        double best = 1e9;
        for (int pass = 0; pass < 5; pass++) {
            pthread_t th[2];
            const double t0 = seconds();
            for (long i = 0; i < n_threads; i++) pthread_create(&th[i], NULL, reader, (void *)i);
            for (long i = 0; i < n_threads; i++) pthread_join(th[i], NULL);
            const double t = seconds() - t0;
            if (t < best) best = t;
        }
        printf("%ld thread(s): %.1f GB/s\n", n_threads, (double)(FLOATS * sizeof(float)) / best / 1e9);
    }
    free(data);
    return 0;
}
