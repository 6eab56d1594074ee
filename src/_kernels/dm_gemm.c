/* dm_gemm.c: the reference GEMM (plain triple loop), correct for every shape and stride.
 * The fast BLIS-style version replaces the body of these functions, keeping dm_gemm.h. */
#include <math.h>

#include "dm_gemm.h"

#define DM_GEMM_REFERENCE(NAME, T, EXP, TANH, ERF)                                          \
static T NAME##_act(T x, int act)                                                          \
{                                                                                          \
    switch (act) {                                                                         \
    case DM_ACT_RELU: return x <= 0 ? 0 : x;                                               \
    case DM_ACT_SIGMOID: return x >= 0 ? 1 / (1 + EXP(-x)) : EXP(x) / (1 + EXP(x));        \
    case DM_ACT_TANH: return TANH(x);                                                      \
    case DM_ACT_GELU: return (T)0.5 * x * (1 + ERF(x * (T)0.70710678118654752440));        \
    case DM_ACT_GELU_TANH:                                                                 \
        return (T)0.5 * x * (1 + TANH((T)0.79788456080286535588 * (x + (T)0.044715 * x * x * x))); \
    default: return x;                                                                     \
    }                                                                                      \
}                                                                                          \
void NAME(int transa, int transb, int64_t m, int64_t n, int64_t k, T alpha,                \
          const T *A, int64_t lda, const T *B, int64_t ldb, T beta, T *C, int64_t ldc,     \
          const T *bias, int act)                                                          \
{                                                                                          \
    for (int64_t i = 0; i < m; i++)                                                        \
        for (int64_t j = 0; j < n; j++) {                                                  \
            T s = 0;                                                                       \
            for (int64_t p = 0; p < k; p++)                                                \
                s += (transa ? A[p * lda + i] : A[i * lda + p]) *                          \
                     (transb ? B[j * ldb + p] : B[p * ldb + j]);                           \
            T c = alpha * s + (beta == 0 ? 0 : beta * C[i * ldc + j]);                     \
            if (bias) c += bias[j];                                                        \
            C[i * ldc + j] = NAME##_act(c, act);                                           \
        }                                                                                  \
}

DM_GEMM_REFERENCE(dm_sgemm, float, expf, tanhf, erff)
DM_GEMM_REFERENCE(dm_dgemm, double, exp, tanh, erf)
