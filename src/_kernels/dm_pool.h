/* dm_pool.h: 2-D max and average pooling, channels-last (N, H, W, C), forward and backward.
 *
 * Geometry (Keras / TensorFlow conventions; computed and checked by the binding, pool.pxi):
 *   window (ph, pw), strides (sh, sw), padding 'valid' (pt = pl = 0, Ho = (H - ph) / sh + 1)
 *   or 'same' (Ho = ceil(H / sh), pt = max((Ho - 1) * sh + ph - H, 0) / 2, likewise for W).
 *   Output (oh, ow) covers input rows oh*sh - pt ... oh*sh - pt + ph - 1 (and columns likewise);
 *   cells outside the input (padding) are ignored: max pooling never picks them, average
 *   pooling divides by the number of cells of the window that lie inside the input.
 *
 * argmax: for max pooling, the forward records, for every output element (n, oh, ow, c), the
 *   int32 offset kh * pw + kw of the chosen cell inside its window (0 <= k < ph * pw; the cell
 *   is input row oh*sh - pt + kh, column ow*sw - pl + kw). Ties go to the first maximum in
 *   row-major window order, as numpy.argmax; NaN propagates (the first NaN of the window wins),
 *   as numpy.max and torch.max_pool2d.
 *
 * Threads: each output element of every kernel (forward: y; backward: dx) is computed by one
 *   thread in a fixed order, so results are bitwise identical for any thread count. The
 *   backward kernels GATHER (each input cell sums the outputs whose window covers it), rather
 *   than scatter: no two threads ever write the same cell, no atomics, no zeroing pass.
 */
#ifndef DM_POOL_H
#define DM_POOL_H

#include <stdint.h>

typedef struct {
    int64_t n, h, w, c;      /* input (N, H, W, C) */
    int64_t ho, wo;          /* output height, width (>= 1) */
    int64_t ph, pw;          /* window (>= 1, ph * pw < 2**31) */
    int64_t sh, sw;          /* strides (>= 1) */
    int64_t pt, pl;          /* padding before the first row / column (>= 0) */
} dm_pool2d_t;

/* x: (N, H, W, C)  y, argmax: (N, Ho, Wo, C) */
void dm_max_pool2d_forward_f32(const float *x, float *y, int32_t *argmax, const dm_pool2d_t *g);
void dm_max_pool2d_forward_f64(const double *x, double *y, int32_t *argmax,
                               const dm_pool2d_t *g);
/* dy, argmax: (N, Ho, Wo, C)  dx: (N, H, W, C) (every cell written) */
void dm_max_pool2d_backward_f32(const float *dy, const int32_t *argmax, float *dx,
                                const dm_pool2d_t *g);
void dm_max_pool2d_backward_f64(const double *dy, const int32_t *argmax, double *dx,
                                const dm_pool2d_t *g);
/* x: (N, H, W, C)  y: (N, Ho, Wo, C) */
void dm_avg_pool2d_forward_f32(const float *x, float *y, const dm_pool2d_t *g);
void dm_avg_pool2d_forward_f64(const double *x, double *y, const dm_pool2d_t *g);
/* dy: (N, Ho, Wo, C)  dx: (N, H, W, C) */
void dm_avg_pool2d_backward_f32(const float *dy, float *dx, const dm_pool2d_t *g);
void dm_avg_pool2d_backward_f64(const double *dy, double *dx, const dm_pool2d_t *g);

#endif /* DM_POOL_H */
