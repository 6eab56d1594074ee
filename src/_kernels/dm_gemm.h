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
 * reproducible for any number of threads. No BLAS is called (no second thread pool).
 * The micro-kernel (AVX-512F for float32, AVX2+FMA, or portable C) is chosen once per process
 * from the CPU; DEEPMATH_GEMM_KERNEL=avx2 forces the AVX2 one, =portable the portable one
 * (tests). All of them give the same bits except the portable one.
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

/* Batched: C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b] for every index b of a batch of shape
 * batch_shape[0..nbd-1] (C order). A[b] starts at A + sum_d idx_d * a_strides[d] (in elements;
 * 0 for a broadcast dimension), B[b] likewise, C[b] at C + b * c_stride. Small matrices share
 * the batch among the threads, large ones run one after the other on the whole team. */
void dm_sgemm_batched(int transa, int transb, int nbd, const int64_t *batch_shape,
                      const int64_t *a_strides, const int64_t *b_strides, int64_t m, int64_t n,
                      int64_t k, float alpha, const float *A, int64_t lda, const float *B,
                      int64_t ldb, float beta, float *C, int64_t ldc, int64_t c_stride,
                      const float *bias, int act);

void dm_dgemm_batched(int transa, int transb, int nbd, const int64_t *batch_shape,
                      const int64_t *a_strides, const int64_t *b_strides, int64_t m, int64_t n,
                      int64_t k, double alpha, const double *A, int64_t lda, const double *B,
                      int64_t ldb, double beta, double *C, int64_t ldc, int64_t c_stride,
                      const double *bias, int act);

/* "avx512", "avx2+fma" or "portable": the float32 micro-kernel chosen for this CPU. */
const char *dm_gemm_kernel_name(void);

/* Measured GFLOP/s of independent FMA chains (AVX2 when available) on dm_get_num_threads()
 * threads for about `seconds`: the machine's peak, to compare a GEMM against. */
double dm_fma_peak_gflops(double seconds);

#endif /* DM_GEMM_H */
