/* dm_conv.h: 2-D convolution (Keras Conv2D: a correlation, the kernel is not flipped),
 * channels-last.
 *
 *   x  (n, h, w, cin)          input
 *   k  (kh, kw, cin, cout)     kernel, read as a (kh*kw*cin, cout) row-major matrix
 *   b  (cout) or NULL          bias
 *   y  (n, ho, wo, cout)       output, act(conv(x, k) + b)
 *
 *   ho = (h + pad_top + pad_bottom - ((kh - 1) * dil_h + 1)) / stride_h + 1   (floor; the
 *   caller checks that the dilated kernel fits in the padded input, so ho >= 1), same for wo.
 *
 * Padding is explicit (top, bottom, left, right, zeros); the Python side maps 'valid'/'same'.
 * `act` is a DM_ACT_* code of dm_gemm.h, applied in the GEMM epilogue.
 *
 * Backward: `yz` is the forward output y for DM_ACT_RELU/SIGMOID/TANH (their derivatives are
 * functions of the output), the pre-activation z = conv + b for DM_ACT_GELU/GELU_TANH, and is
 * ignored (may be NULL) for DM_ACT_NONE. dy is the gradient w.r.t. y. Any of dx, dk, db may be
 * NULL: that gradient is not computed. All of dx, dk, db are overwritten (not accumulated).
 *
 * Return value: 0 on success, -1 if a work buffer could not be allocated (outputs undefined).
 * Results are bitwise identical for every thread count (see dm_conv.c for the decomposition).
 */
#ifndef DM_CONV_H
#define DM_CONV_H

#include <stdint.h>

typedef struct {
    int64_t n, h, w, cin;      /* input */
    int64_t kh, kw, cout;      /* kernel */
    int64_t sh, sw;            /* strides >= 1 */
    int64_t pt, pb, pl, pr;    /* zero padding >= 0 */
    int64_t dh, dw;            /* dilation >= 1 */
    int64_t ho, wo;            /* output size, filled by dm_conv2d_output_size */
} dm_conv2d_shape;

/* Fills s->ho, s->wo; returns 0, or -1 if the dilated kernel is larger than the padded input. */
int dm_conv2d_output_size(dm_conv2d_shape *s);

int dm_conv2d_forward_f32(const dm_conv2d_shape *s, const float *x, const float *k,
                          const float *b, int act, float *y);
int dm_conv2d_forward_f64(const dm_conv2d_shape *s, const double *x, const double *k,
                          const double *b, int act, double *y);

int dm_conv2d_backward_f32(const dm_conv2d_shape *s, const float *x, const float *k,
                           const float *yz, const float *dy, int act,
                           float *dx, float *dk, float *db);
int dm_conv2d_backward_f64(const dm_conv2d_shape *s, const double *x, const double *k,
                           const double *yz, const double *dy, int act,
                           double *dx, double *dk, double *db);

#endif /* DM_CONV_H */
