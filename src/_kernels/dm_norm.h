/* dm_norm.h: layer normalization over the last axis, forward and backward (dm_norm.c).
 *
 * x, y, dy, dx: (rows, cols) C-contiguous; gamma, beta, dgamma, dbeta: (cols,) or NULL;
 * mean, rstd: (rows,). The forward writes y, mean and rstd = 1/sqrt(var + eps); the backward
 * recomputes x̂ from x, mean and rstd and writes whichever of dx, dgamma, dbeta is not NULL.
 * Return 0, or -1 when the backward's workspace could not be allocated.
 */
#ifndef DM_NORM_H
#define DM_NORM_H

#include <stdint.h>

void dm_layer_norm_forward_f32(const float *x, const float *gamma, const float *beta,
                               int64_t rows, int64_t cols, double eps, float *y, float *mean,
                               float *rstd);
void dm_layer_norm_forward_f64(const double *x, const double *gamma, const double *beta,
                               int64_t rows, int64_t cols, double eps, double *y, double *mean,
                               double *rstd);
int dm_layer_norm_backward_f32(const float *x, const float *gamma, const float *mean,
                               const float *rstd, const float *dy, int64_t rows, int64_t cols,
                               float *dx, float *dgamma, float *dbeta);
int dm_layer_norm_backward_f64(const double *x, const double *gamma, const double *mean,
                               const double *rstd, const double *dy, int64_t rows, int64_t cols,
                               double *dx, double *dgamma, double *dbeta);

#endif /* DM_NORM_H */
