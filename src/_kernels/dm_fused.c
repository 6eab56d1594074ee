/* dm_fused.c: activations, softmax, fused softmax cross-entropy and optimizer updates.
 *
 * Each kernel is one plain loop written once, in the DM_FUSED_DEFINE macro below, and
 * instantiated for float (f32) and double (f64) with that type's libm functions (expf/exp,
 * tanhf/tanh, erff/erf, log1pf/log1p...). No polynomial approximations: the results are those
 * of the C library, within an ulp or two of numpy's, and IEEE semantics are kept (never
 * -ffast-math). The speed comes from doing in one pass what numpy does in five to ten
 * (each numpy expression allocates and traverses a temporary) and from OpenMP threads.
 *
 * Threads: elementwise loops are `parallel for schedule(static)` above a size threshold;
 * row kernels give whole rows to threads (static schedule), and a row is reduced by its thread
 * in index order (max, then Σ exp in a double accumulator). Nothing depends on the number of
 * threads, so results are bitwise identical for any thread count.
 *
 * Formulas follow the NumPy references in deepmath/backend/fused.py term for term (same
 * evaluation order) so that the two agree to rounding.
 */
#include <math.h>

#include "deepmath_kernels.h"
#include "dm_fused.h"

#ifdef _OPENMP
/* `dm_par_` is a local int each function sets: run in parallel or not. */
#define DM_PARFOR _Pragma("omp parallel for schedule(static) if (dm_par_) num_threads(dm_get_num_threads())")
#else
#define DM_PARFOR
#endif

/* sqrt(2/pi), 1/sqrt(2), 1/sqrt(2*pi), GELU's tanh-form cubic coefficient */
#define DM_SQRT_2_OVER_PI 0.7978845608028654
#define DM_SQRT1_2 0.7071067811865476
#define DM_INV_SQRT_2PI 0.3989422804014327
#define DM_GELU_C 0.044715

#define DM_FUSED_DEFINE(T, S, EXP, LOG, LOG1P, TANH, ERFC, SQRT, FABS)                                \
                                                                                                 \
/* sigmoid: e = exp(-|x|) never overflows; x >= 0: 1/(1+e), x < 0: e/(1+e). Exact 0 and 1 at   \
 * -/+1000, NaN propagates. */                                                                   \
void dm_sigmoid_forward_##S(const T *x, T *y, int64_t n)                                         \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_FUSED_PARALLEL_MIN;                                                    \
    DM_PARFOR                                                                                    \
    for (i = 0; i < n; i++) {                                                                    \
        T xi = x[i];                                                                             \
        T e = EXP(-FABS(xi));                                                                    \
        y[i] = xi >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);                                     \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* dx = g * y * (1 - y), from the saved output y = sigmoid(x) */                                 \
void dm_sigmoid_backward_##S(const T *y, const T *g, T *dx, int64_t n)                           \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_PARALLEL_MIN;                                                          \
    DM_PARFOR                                                                                    \
    for (i = 0; i < n; i++) dx[i] = g[i] * y[i] * ((T)1 - y[i]);                                \
}                                                                                                \
                                                                                                 \
void dm_tanh_forward_##S(const T *x, T *y, int64_t n)                                            \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_FUSED_PARALLEL_MIN;                                                    \
    DM_PARFOR                                                                                    \
    for (i = 0; i < n; i++) y[i] = TANH(x[i]);                                                   \
}                                                                                                \
                                                                                                 \
/* dx = g * (1 - y*y), from the saved output y = tanh(x) */                                      \
void dm_tanh_backward_##S(const T *y, const T *g, T *dx, int64_t n)                              \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_PARALLEL_MIN;                                                          \
    DM_PARFOR                                                                                    \
    for (i = 0; i < n; i++) dx[i] = g[i] * ((T)1 - y[i] * y[i]);                                 \
}                                                                                                \
                                                                                                 \
/* GELU. erf form: y = x Φ(x), Φ(x) = 0.5 erfc(-x / sqrt 2) (erfc, not 1 + erf, which cancels   \
 * for x << 0). tanh form (approximate): 0.5 x (1 + tanh u) with u = c (x + 0.044715 x^3),       \
 * written x σ(2u) (1 + tanh u = 2 σ(2u)), σ from e = exp(-2|u|): no cancellation either. */      \
void dm_gelu_forward_##S(const T *x, T *y, int64_t n, int approximate)                           \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_FUSED_PARALLEL_MIN;                                                    \
    const T c = (T)DM_SQRT_2_OVER_PI, k = (T)DM_GELU_C, r2 = (T)DM_SQRT1_2;                      \
    if (approximate) {                                                                           \
        DM_PARFOR                                                                                \
        for (i = 0; i < n; i++) {                                                                \
            T xi = x[i];                                                                         \
            T u = c * (xi + k * (xi * xi * xi));                                                 \
            T e = EXP((T)-2 * FABS(u));                                                          \
            y[i] = xi * (u >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e));                           \
        }                                                                                        \
    } else {                                                                                     \
        DM_PARFOR                                                                                \
        for (i = 0; i < n; i++) {                                                                \
            T xi = x[i];                                                                         \
            y[i] = xi * ((T)0.5 * ERFC(-xi * r2));                                               \
        }                                                                                        \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* GELU backward from the input x. erf form: Φ(x) + x φ(x).                                      \
 * tanh form: with s = σ(2u), s1 = 1 - s (both from e = exp(-2|u|), exact complements):          \
 * 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) u' = s + 2 x s s1 c (1 + 3 * 0.044715 x^2). */        \
void dm_gelu_backward_##S(const T *x, const T *g, T *dx, int64_t n, int approximate)             \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_FUSED_PARALLEL_MIN;                                                    \
    const T c = (T)DM_SQRT_2_OVER_PI, k = (T)DM_GELU_C, r2 = (T)DM_SQRT1_2;                      \
    const T k3 = (T)(3 * DM_GELU_C), ip = (T)DM_INV_SQRT_2PI;                                    \
    if (approximate) {                                                                           \
        DM_PARFOR                                                                                \
        for (i = 0; i < n; i++) {                                                                \
            T xi = x[i];                                                                         \
            T u = c * (xi + k * (xi * xi * xi));                                                 \
            T e = EXP((T)-2 * FABS(u));                                                          \
            T a = (T)1 / ((T)1 + e), b = e / ((T)1 + e);                                         \
            T s = u >= 0 ? a : b, s1 = u >= 0 ? b : a;                                           \
            dx[i] = g[i] * (s + (T)2 * xi * s * s1 * c * ((T)1 + k3 * xi * xi));                 \
        }                                                                                        \
    } else {                                                                                     \
        DM_PARFOR                                                                                \
        for (i = 0; i < n; i++) {                                                                \
            T xi = x[i];                                                                         \
            T cdf = (T)0.5 * ERFC(-xi * r2);                                                     \
            dx[i] = g[i] * (cdf + xi * EXP((T)-0.5 * xi * xi) * ip);                             \
        }                                                                                        \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* leaky ReLU: x > 0 ? x : slope * x (NaN goes to the second branch and stays NaN) */            \
void dm_leaky_relu_forward_##S(const T *x, T *y, int64_t n, T slope)                             \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_PARALLEL_MIN;                                                          \
    DM_PARFOR                                                                                    \
    for (i = 0; i < n; i++) y[i] = x[i] * (x[i] > 0 ? (T)1 : slope);                             \
}                                                                                                \
                                                                                                 \
void dm_leaky_relu_backward_##S(const T *x, const T *g, T *dx, int64_t n, T slope)               \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_PARALLEL_MIN;                                                          \
    DM_PARFOR                                                                                    \
    for (i = 0; i < n; i++) dx[i] = g[i] * (x[i] > 0 ? (T)1 : slope);                            \
}                                                                                                \
                                                                                                 \
/* softplus = max(x, 0) + log1p(exp(-|x|)): finite for any finite x; derivative sigmoid(x) */    \
void dm_softplus_forward_##S(const T *x, T *y, int64_t n)                                        \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_FUSED_PARALLEL_MIN;                                                    \
    DM_PARFOR                                                                                    \
    for (i = 0; i < n; i++) {                                                                    \
        T xi = x[i];                                                                             \
        T pos = xi != xi ? xi : (xi > 0 ? xi : (T)0); /* np.maximum propagates NaN */            \
        y[i] = pos + LOG1P(EXP(-FABS(xi)));                                                      \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
void dm_softplus_backward_##S(const T *x, const T *g, T *dx, int64_t n)                          \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_FUSED_PARALLEL_MIN;                                                    \
    DM_PARFOR                                                                                    \
    for (i = 0; i < n; i++) {                                                                    \
        T xi = x[i];                                                                             \
        T e = EXP(-FABS(xi));                                                                    \
        dx[i] = g[i] * (xi >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e));                           \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* Row maximum, as np.max: NaN if the row holds a NaN (then every output of the row is NaN). */  \
static T dm_row_max_##S(const T *x, int64_t cols)                                                \
{                                                                                                \
    T mx = x[0];                                                                                 \
    int64_t j;                                                                                   \
    for (j = 1; j < cols; j++)                                                                   \
        if (x[j] > mx || x[j] != x[j]) mx = x[j];                                                \
    return mx;                                                                                   \
}                                                                                                \
                                                                                                 \
/* log Σ_j exp(x_j) = max + log Σ exp(x_j - max); the sum in double, in index order.            \
 * A row of -inf gives -inf (as numpy: max = -inf, x - max = NaN... numpy gives NaN there;      \
 * we follow the same arithmetic, so the same NaN). */                                           \
static T dm_row_lse_##S(const T *x, int64_t cols)                                                \
{                                                                                                \
    T mx = dm_row_max_##S(x, cols);                                                              \
    double s = 0.0;                                                                              \
    int64_t j;                                                                                   \
    for (j = 0; j < cols; j++) s += (double)EXP(x[j] - mx);                                      \
    return mx + LOG((T)s);                                                                       \
}                                                                                                \
                                                                                                 \
/* softmax over the last axis: y = exp(x - max) / Σ exp(x - max) */                              \
void dm_softmax_forward_##S(const T *x, T *y, int64_t rows, int64_t cols)                        \
{                                                                                                \
    int64_t r;                                                                                   \
    int dm_par_ = rows > 1 && rows * cols >= DM_FUSED_PARALLEL_MIN;                              \
    DM_PARFOR                                                                                    \
    for (r = 0; r < rows; r++) {                                                                 \
        const T *xr = x + r * cols;                                                              \
        T *yr = y + r * cols;                                                                    \
        T mx = dm_row_max_##S(xr, cols), sum;                                                    \
        double s = 0.0;                                                                          \
        int64_t j;                                                                               \
        for (j = 0; j < cols; j++) {                                                             \
            yr[j] = EXP(xr[j] - mx);                                                             \
            s += (double)yr[j];                                                                  \
        }                                                                                        \
        sum = (T)s;                                                                              \
        for (j = 0; j < cols; j++) yr[j] = yr[j] / sum;                                          \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* dx = y * (g - Σ_j g_j y_j) */                                                                 \
void dm_softmax_backward_##S(const T *y, const T *g, T *dx, int64_t rows, int64_t cols)          \
{                                                                                                \
    int64_t r;                                                                                   \
    int dm_par_ = rows > 1 && rows * cols >= DM_PARALLEL_MIN;                                    \
    DM_PARFOR                                                                                    \
    for (r = 0; r < rows; r++) {                                                                 \
        const T *yr = y + r * cols, *gr = g + r * cols;                                          \
        T *dr = dx + r * cols, dot;                                                              \
        double s = 0.0;                                                                          \
        int64_t j;                                                                               \
        for (j = 0; j < cols; j++) s += (double)(gr[j] * yr[j]);                                 \
        dot = (T)s;                                                                              \
        for (j = 0; j < cols; j++) dr[j] = yr[j] * (gr[j] - dot);                                \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* log_softmax: y = (x - max) - log Σ exp(x - max) */                                            \
void dm_log_softmax_forward_##S(const T *x, T *y, int64_t rows, int64_t cols)                    \
{                                                                                                \
    int64_t r;                                                                                   \
    int dm_par_ = rows > 1 && rows * cols >= DM_FUSED_PARALLEL_MIN;                              \
    DM_PARFOR                                                                                    \
    for (r = 0; r < rows; r++) {                                                                 \
        const T *xr = x + r * cols;                                                              \
        T *yr = y + r * cols;                                                                    \
        T mx = dm_row_max_##S(xr, cols), ls;                                                     \
        double s = 0.0;                                                                          \
        int64_t j;                                                                               \
        for (j = 0; j < cols; j++) s += (double)EXP(xr[j] - mx);                                 \
        ls = LOG((T)s);                                                                          \
        for (j = 0; j < cols; j++) yr[j] = (xr[j] - mx) - ls;                                    \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* dx = g - exp(y) * Σ_j g_j */                                                                  \
void dm_log_softmax_backward_##S(const T *y, const T *g, T *dx, int64_t rows, int64_t cols)      \
{                                                                                                \
    int64_t r;                                                                                   \
    int dm_par_ = rows > 1 && rows * cols >= DM_FUSED_PARALLEL_MIN;                              \
    DM_PARFOR                                                                                    \
    for (r = 0; r < rows; r++) {                                                                 \
        const T *yr = y + r * cols, *gr = g + r * cols;                                          \
        T *dr = dx + r * cols, sg;                                                               \
        double s = 0.0;                                                                          \
        int64_t j;                                                                               \
        for (j = 0; j < cols; j++) s += (double)gr[j];                                           \
        sg = (T)s;                                                                               \
        for (j = 0; j < cols; j++) dr[j] = gr[j] - EXP(yr[j]) * sg;                              \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* sparse cross-entropy: lse = log Σ exp(z), loss = lse - z[label] */                            \
void dm_sparse_xent_forward_##S(const T *z, const int64_t *labels, T *loss, T *lse,              \
                                int64_t rows, int64_t cols)                                      \
{                                                                                                \
    int64_t r;                                                                                   \
    int dm_par_ = rows > 1 && rows * cols >= DM_FUSED_PARALLEL_MIN;                              \
    DM_PARFOR                                                                                    \
    for (r = 0; r < rows; r++) {                                                                 \
        const T *zr = z + r * cols;                                                              \
        T l = dm_row_lse_##S(zr, cols);                                                          \
        lse[r] = l;                                                                              \
        loss[r] = l - zr[labels[r]];                                                             \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* dz = (exp(z - lse) - onehot(label)) * g[row] */                                               \
void dm_sparse_xent_backward_##S(const T *z, const int64_t *labels, const T *lse, const T *g,    \
                                 T *dz, int64_t rows, int64_t cols)                              \
{                                                                                                \
    int64_t r;                                                                                   \
    int dm_par_ = rows > 1 && rows * cols >= DM_FUSED_PARALLEL_MIN;                              \
    DM_PARFOR                                                                                    \
    for (r = 0; r < rows; r++) {                                                                 \
        const T *zr = z + r * cols;                                                              \
        T *dr = dz + r * cols, l = lse[r], gr = g[r];                                            \
        int64_t j, k = labels[r];                                                                \
        for (j = 0; j < cols; j++) {                                                             \
            T p = EXP(zr[j] - l);                                                                \
            dr[j] = (j == k ? p - (T)1 : p) * gr;                                                \
        }                                                                                        \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* cross-entropy with target distributions t (one-hot or soft):                                 \
 * loss = -Σ_j t_j (z_j - lse) */                                                                \
void dm_xent_forward_##S(const T *z, const T *t, T *loss, T *lse, int64_t rows, int64_t cols)    \
{                                                                                                \
    int64_t r;                                                                                   \
    int dm_par_ = rows > 1 && rows * cols >= DM_FUSED_PARALLEL_MIN;                              \
    DM_PARFOR                                                                                    \
    for (r = 0; r < rows; r++) {                                                                 \
        const T *zr = z + r * cols, *tr = t + r * cols;                                          \
        T l = dm_row_lse_##S(zr, cols);                                                          \
        double s = 0.0;                                                                          \
        int64_t j;                                                                               \
        for (j = 0; j < cols; j++) s += (double)(tr[j] * (zr[j] - l));                           \
        lse[r] = l;                                                                              \
        loss[r] = -(T)s;                                                                         \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* dz = (exp(z - lse) * Σ_j t_j - t) * g[row]  (Σ t = 1 for one-hot targets) */                  \
void dm_xent_backward_##S(const T *z, const T *t, const T *lse, const T *g, T *dz,               \
                          int64_t rows, int64_t cols)                                            \
{                                                                                                \
    int64_t r;                                                                                   \
    int dm_par_ = rows > 1 && rows * cols >= DM_FUSED_PARALLEL_MIN;                              \
    DM_PARFOR                                                                                    \
    for (r = 0; r < rows; r++) {                                                                 \
        const T *zr = z + r * cols, *tr = t + r * cols;                                          \
        T *dr = dz + r * cols, l = lse[r], gr = g[r], st;                                        \
        double s = 0.0;                                                                          \
        int64_t j;                                                                               \
        for (j = 0; j < cols; j++) s += (double)tr[j];                                           \
        st = (T)s;                                                                               \
        for (j = 0; j < cols; j++) dr[j] = (EXP(zr[j] - l) * st - tr[j]) * gr;                   \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* Adam (Keras): optional decoupled weight decay p -= p*wd*lr first, then                       \
 * m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); p -= alpha m / (sqrt(v) + eps)                  \
 * with alpha = lr sqrt(1 - b2^t) / (1 - b1^t) computed by the caller. */                        \
void dm_adam_update_##S(T *p, const T *g, T *m, T *v, int64_t n, T alpha, T one_minus_b1,        \
                        T one_minus_b2, T eps, T wd, T lr)                                       \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_PARALLEL_MIN;                                                          \
    int decay = wd != 0;                                                                         \
    DM_PARFOR                                                                                    \
    for (i = 0; i < n; i++) {                                                                    \
        T gi = g[i], pi = p[i], mi, vi;                                                          \
        if (decay) pi = pi - pi * wd * lr;                                                       \
        mi = m[i] + (gi - m[i]) * one_minus_b1;                                                  \
        vi = v[i] + (gi * gi - v[i]) * one_minus_b2;                                             \
        m[i] = mi;                                                                               \
        v[i] = vi;                                                                               \
        p[i] = pi - alpha * mi / (SQRT(vi) + eps);                                               \
    }                                                                                            \
}                                                                                                \
                                                                                                 \
/* SGD (Keras): vel = vel*momentum - g*lr; p += nesterov ? vel*momentum - g*lr : vel.            \
 * vel == NULL (momentum 0): p -= g*lr. */                                                       \
void dm_sgd_update_##S(T *p, const T *g, T *vel, int64_t n, T lr, T momentum, int nesterov)      \
{                                                                                                \
    int64_t i;                                                                                   \
    int dm_par_ = n >= DM_PARALLEL_MIN;                                                          \
    if (vel == 0) {                                                                              \
        DM_PARFOR                                                                                \
        for (i = 0; i < n; i++) p[i] = p[i] - g[i] * lr;                                         \
    } else if (nesterov) {                                                                       \
        DM_PARFOR                                                                                \
        for (i = 0; i < n; i++) {                                                                \
            T vi = vel[i] * momentum - g[i] * lr;                                                \
            vel[i] = vi;                                                                         \
            p[i] = p[i] + (vi * momentum - g[i] * lr);                                           \
        }                                                                                        \
    } else {                                                                                     \
        DM_PARFOR                                                                                \
        for (i = 0; i < n; i++) {                                                                \
            T vi = vel[i] * momentum - g[i] * lr;                                                \
            vel[i] = vi;                                                                         \
            p[i] = p[i] + vi;                                                                    \
        }                                                                                        \
    }                                                                                            \
}

DM_FUSED_DEFINE(float, f32, expf, logf, log1pf, tanhf, erfcf, sqrtf, fabsf)
DM_FUSED_DEFINE(double, f64, exp, log, log1p, tanh, erfc, sqrt, fabs)
