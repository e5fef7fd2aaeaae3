/* Small atomic helpers for the Swift side (cancellation flags, reference counts). */
#include <stdatomic.h>
#include <stdlib.h>
#include "mii_kernels.h"

struct miik_flag { atomic_int value; };

miik_flag *miik_flag_create(void) {
    miik_flag *f = malloc(sizeof *f);
    if (f) atomic_init(&f->value, 0);
    return f;
}

void miik_flag_free(miik_flag *f) { free(f); }

void miik_flag_set(miik_flag *f, int v) { atomic_store_explicit(&f->value, v, memory_order_release); }

int miik_flag_get(const miik_flag *f) {
    return atomic_load_explicit(&((miik_flag *)f)->value, memory_order_acquire);
}

int miik_flag_exchange(miik_flag *f, int v) {
    return atomic_exchange_explicit(&f->value, v, memory_order_acq_rel);
}

int miik_flag_add(miik_flag *f, int delta) {
    return atomic_fetch_add_explicit(&f->value, delta, memory_order_acq_rel) + delta;
}

int miik_flag_cas(miik_flag *f, int expected, int desired) {
    return atomic_compare_exchange_strong_explicit(&f->value, &expected, desired, memory_order_acq_rel,
                                                   memory_order_acquire);
}
