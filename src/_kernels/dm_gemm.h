/* dm_gemm.h: general matrix product, the engine under dense layers, conv2d and attention.
 *
 * Row-major. C[m, n] = alpha * op(A)[m, k] · op(B)[k, n] + beta * C[m, n], where op(X) is X or
 * its transpose (trans != 0). lda/ldb/ldc are row strides in elements:
 *   A is (m, k) with row stride lda when transa == 0, else (k, m) with row stride lda;
 *   B is (k, n) with row stride ldb when transb == 0, else (n, k) with row stride ldb.
 * beta == 0 means C is only written (its old contents, even NaN, are ignored).
 * `bias` (length n, or NULL) is added to every row after the product, then the activation
 * `act` (DM_ACT_*) is applied: the fused epilogue of a dense layer.
 * The functions parallelise with OpenMP over blocks of C (dm_get_num_threads() threads) unless
 * called from inside a parallel region, where they run on the calling thread. Each element of
 * C is summed in an order that does not depend on the thread count: results are bitwise
 * reproducible for any number of threads.
 */
#ifndef DM_GEMM_H
#define DM_GEMM_H

#include <stdint.h>

enum { DM_ACT_NONE = 0, DM_ACT_RELU = 1, DM_ACT_SIGMOID = 2, DM_ACT_TANH = 3, DM_ACT_GELU = 4,
       DM_ACT_GELU_TANH = 5 };

void dm_sgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc, const float *bias, int act);

void dm_dgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, double alpha,
              const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
              double *C, int64_t ldc, const double *bias, int act);

#endif /* DM_GEMM_H */
