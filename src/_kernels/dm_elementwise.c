/* dm_elementwise.c: elementwise kernels (ReLU).
 *
 * One loop per kernel, parallel with a static schedule above DM_PARALLEL_MIN elements: each
 * thread gets one contiguous chunk, and every element is computed the same way whatever the
 * thread count, so results are bitwise identical for any number of threads.
 */
#include "deepmath_kernels.h"

/* ReLU forward: y = max(x, 0), as np.maximum(x, 0).
 * x: (n,)  y: (n,)  (any shape, flattened in C order; y may alias x)
 * Written `x <= 0 ? 0 : x` so that NaN, for which every comparison is false, passes through
 * as in numpy, and -0.0 becomes +0.0. */
void dm_relu_forward_f32(const float *x, float *y, int64_t n)
{
    int64_t i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= DM_PARALLEL_MIN) num_threads(dm_get_num_threads())
#endif
    for (i = 0; i < n; i++) y[i] = x[i] <= 0.0f ? 0.0f : x[i];
}

void dm_relu_forward_f64(const double *x, double *y, int64_t n)
{
    int64_t i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= DM_PARALLEL_MIN) num_threads(dm_get_num_threads())
#endif
    for (i = 0; i < n; i++) y[i] = x[i] <= 0.0 ? 0.0 : x[i];
}

/* ReLU backward: dx = dy * (x > 0), as numpy computes `grad * (x > 0)`.
 * x: (n,)  dy: (n,)  dx: (n,)
 * A multiplication, not a select: a NaN or infinite upstream gradient stays NaN where x <= 0
 * (inf * 0 = NaN), so a diverging step is not silently masked. x = NaN gives the mask 0. */
void dm_relu_backward_f32(const float *x, const float *dy, float *dx, int64_t n)
{
    int64_t i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= DM_PARALLEL_MIN) num_threads(dm_get_num_threads())
#endif
    for (i = 0; i < n; i++) dx[i] = dy[i] * (x[i] > 0.0f ? 1.0f : 0.0f);
}

void dm_relu_backward_f64(const double *x, const double *dy, double *dx, int64_t n)
{
    int64_t i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= DM_PARALLEL_MIN) num_threads(dm_get_num_threads())
#endif
    for (i = 0; i < n; i++) dx[i] = dy[i] * (x[i] > 0.0 ? 1.0 : 0.0);
}
