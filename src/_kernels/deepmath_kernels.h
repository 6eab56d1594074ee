/* deepmath_kernels.h: the C side of deepmath._kernels.
 *
 * Plain C99 over flat arrays. Every kernel takes raw pointers and an element count
 * (int64_t, so arrays above 2**31 elements are fine); the Cython binding (_kernels.pyx)
 * validates dtype, shape and contiguity before calling in, with the GIL released.
 */
#ifndef DEEPMATH_KERNELS_H
#define DEEPMATH_KERNELS_H

#include <stdint.h>

/* ---- threads (dm_threads.c) ------------------------------------------------------------ */

/* Largest thread count accepted by dm_set_num_threads: far above any real machine, low
 * enough that a typo cannot make the OpenMP runtime abort while creating threads. */
#define DM_THREADS_LIMIT 1024

int dm_openmp_enabled(void);     /* 1 if compiled with OpenMP */
long dm_openmp_macro(void);      /* value of _OPENMP (yyyymm of the spec), 0 without OpenMP */
int dm_max_threads(void);        /* OpenMP's default team size (OMP_NUM_THREADS or cores) */
void dm_set_num_threads(int n);  /* n >= 1, checked by the caller */
int dm_get_num_threads(void);    /* threads the kernels' parallel loops will use */

/* ---- CPU and compiler (dm_cpu.c) ------------------------------------------------------- */

/* Bits of dm_cpu_features(): instruction sets this CPU (and its OS) can execute. */
#define DM_CPU_SSE2    (1u << 0)
#define DM_CPU_AVX     (1u << 1)
#define DM_CPU_AVX2    (1u << 2)
#define DM_CPU_FMA     (1u << 3)
#define DM_CPU_AVX512F (1u << 4)
#define DM_CPU_NEON    (1u << 5)

unsigned dm_cpu_features(void);
const char *dm_compiler_id(void);  /* e.g. "gcc 12.2.0", from the compiler's own macros */

/* Kernel code paths compiled into this module and runnable on this CPU, best last.
 * Writes up to `max` names into `names`, returns how many. */
int dm_simd_paths(const char **names, int max);

/* ---- memory (dm_malloc.c) ------------------------------------------------------------------ */

/* glibc: serve blocks below mmap_threshold bytes from the heap and keep up to trim_threshold
 * bytes free at its top (mallopt). Returns 1 if applied, 0 elsewhere. */
int dm_malloc_keep(int mmap_threshold, int trim_threshold);

/* ---- elementwise kernels (dm_elementwise.c) -------------------------------------------- */

/* Below this many elements a loop runs on one thread: waking an OpenMP team costs a few
 * microseconds, more than the whole loop on a small array. */
#define DM_PARALLEL_MIN ((int64_t)1 << 15)

void dm_relu_forward_f32(const float *x, float *y, int64_t n);
void dm_relu_forward_f64(const double *x, double *y, int64_t n);
void dm_relu_backward_f32(const float *x, const float *dy, float *dx, int64_t n);
void dm_relu_backward_f64(const double *x, const double *dy, double *dx, int64_t n);

#endif /* DEEPMATH_KERNELS_H */
