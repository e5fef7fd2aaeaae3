#include <cblas.h>

/* Stops OpenBLAS's worker threads (the pthreads build exports it; other builds may not, hence weak).
 * They restart on their own if a later call wants several threads. */
__attribute__((weak)) int blas_thread_shutdown_(void);

/* libmii runs its own thread pool and calls OpenBLAS from inside it, one thread per call: OpenBLAS's
 * threads on top would oversubscribe the cores. Its pthreads build starts them when the library loads
 * and they spin (sched_yield) for ~0.1 s before sleeping, which on a 2-core machine halves the speed
 * of whatever runs next, such as loading a model. */
static inline void mii_openblas_single_thread(void) {
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_) blas_thread_shutdown_();
}
