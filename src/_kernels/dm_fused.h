/* dm_fused.h: elementwise activations, row-wise softmax / cross-entropy and in-place optimizer
 * updates (dm_fused.c): the memory-bound work that dominates a training step once GEMM and
 * conv are fast.
 *
 * Every function exists for float (_f32) and double (_f64). Arrays are flat and C-contiguous;
 * "row" kernels see an (rows, cols) matrix, the last axis being the class / softmax axis.
 * The Cython binding (fused.pxi) checks shapes, dtypes, labels and contiguity before calling.
 *
 * Reproducibility: elementwise kernels compute each element alone; row kernels give each row
 * to one thread, which reduces it in a fixed order. Results are therefore bitwise identical for
 * any thread count.
 */
#ifndef DM_FUSED_H
#define DM_FUSED_H

#include <stdint.h>

/* Kernels calling exp/tanh/erf cost ~1-20 ns an element: a parallel region pays from about ten
 * thousand elements. Cheap kernels (backward passes, optimizer updates) use DM_PARALLEL_MIN
 * from deepmath_kernels.h. */
#define DM_FUSED_PARALLEL_MIN ((int64_t)1 << 14)

#define DM_FUSED_DECLARE(T, S)                                                                   \
    /* activations: y = f(x); backward dx = grad * f'(.) */                                     \
    void dm_sigmoid_forward_##S(const T *x, T *y, int64_t n);                                    \
    void dm_sigmoid_backward_##S(const T *y, const T *g, T *dx, int64_t n);  /* from output */   \
    void dm_tanh_forward_##S(const T *x, T *y, int64_t n);                                       \
    void dm_tanh_backward_##S(const T *y, const T *g, T *dx, int64_t n);     /* from output */   \
    void dm_gelu_forward_##S(const T *x, T *y, int64_t n, int approximate);                      \
    void dm_gelu_backward_##S(const T *x, const T *g, T *dx, int64_t n, int approximate);        \
    void dm_leaky_relu_forward_##S(const T *x, T *y, int64_t n, T slope);                        \
    void dm_leaky_relu_backward_##S(const T *x, const T *g, T *dx, int64_t n, T slope);          \
    void dm_softplus_forward_##S(const T *x, T *y, int64_t n);                                   \
    void dm_softplus_backward_##S(const T *x, const T *g, T *dx, int64_t n);                     \
    /* row-wise over (rows, cols) */                                                             \
    void dm_softmax_forward_##S(const T *x, T *y, int64_t rows, int64_t cols);                   \
    void dm_softmax_backward_##S(const T *y, const T *g, T *dx, int64_t rows, int64_t cols);     \
    void dm_log_softmax_forward_##S(const T *x, T *y, int64_t rows, int64_t cols);               \
    void dm_log_softmax_backward_##S(const T *y, const T *g, T *dx, int64_t rows, int64_t cols); \
    /* cross-entropy from logits z (rows, cols); labels in [0, cols) (checked by the caller) */  \
    void dm_sparse_xent_forward_##S(const T *z, const int64_t *labels, T *loss, T *lse,          \
                                    int64_t rows, int64_t cols);                                 \
    void dm_sparse_xent_backward_##S(const T *z, const int64_t *labels, const T *lse,            \
                                     const T *g, T *dz, int64_t rows, int64_t cols);             \
    void dm_xent_forward_##S(const T *z, const T *t, T *loss, T *lse, int64_t rows,              \
                             int64_t cols);                                                      \
    void dm_xent_backward_##S(const T *z, const T *t, const T *lse, const T *g, T *dz,           \
                              int64_t rows, int64_t cols);                                       \
    /* optimizer updates, in place on p (and m, v / velocity) */                                 \
    void dm_adam_update_##S(T *p, const T *g, T *m, T *v, int64_t n, T alpha, T one_minus_b1,    \
                            T one_minus_b2, T eps, T wd, T lr);                                  \
    void dm_sgd_update_##S(T *p, const T *g, T *vel, int64_t n, T lr, T momentum,                \
                           int nesterov);

/* exp over a float buffer as the float32 kernels take it (AVX2+FMA polynomial or libm expf,
 * see dm_fused.c); y may alias x. dm_fused_simd_exp() is 1 when the AVX2 path is in use. */
void dm_exp_f32(const float *x, float *y, int64_t n);
int dm_fused_simd_exp(void);
/* The float32 path in use: "portable", "avx2" or "avx512" (DEEPMATH_FUSED_KERNEL=portable|avx2
 * forces a slower one). */
const char *dm_fused_path_name(void);
void dm_tanh_fast_forward_f32(const float *x, float *y, int64_t n);  /* via the vector exp */

DM_FUSED_DECLARE(float, f32)
DM_FUSED_DECLARE(double, f64)

#endif /* DM_FUSED_H */
