/* dm_attention.c: scaled dot-product attention (see dm_attention.h for the contract).
 *
 * The tile loops live in dm_attention_tile.c, included below three times:
 *   f32 + AVX2/FMA  (x86-64 with gcc/clang, chosen at run time when the CPU has both)
 *   f32 portable    (every other CPU)
 *   f64 portable    (float64 is for gradient checks: correct, not tuned)
 * Each instantiation brings its own small GEMM (C (+)= op(A)·B on tiles) and row exponential.
 * Why a GEMM of our own rather than dm_sgemm: the tiles are tiny (64 × 64 × d), reused from
 * L1/L2, and already handed out one per thread; packing them as a general GEMM would cost
 * about as much as the product itself. Measured on the 2-core EPYC (one thread, 64 × 64 tiles
 * in L1, k = 32 / 64): this file's 4 × 16 kernel 80-90 GF/s, the packed BLIS dm_sgemm of the
 * GEMM work 39 / 53 GF/s (26 / 30 with the transposed B that Q·Kᵀ would need). A 6 × 16
 * kernel measured no faster here (load ports are not the limit once the tile sits in L1).
 *
 * Reproducibility: every sum runs in a fixed order (k ascending in the GEMMs, 8 lanes then a
 * fixed tree in the row sums), and each output element belongs to one task; the result does
 * not depend on the thread count (see the backward driver for the two equivalent schedules).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepmath_kernels.h"
#include "dm_attention.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DM_ATT_X86 1
#include <immintrin.h>
#endif

/* ---- portable inner loops ------------------------------------------------------------------ */

/* C[M,N] (+)= op(A)[M,K]·B[K,N]; op(A)[r,k] = A[r*lda+k], or A[k*lda+r] when ta. Each C element
 * sums its K products in ascending k. */
#define PORTABLE_GEMM(REAL, name)                                                              \
    static void name(int ta, int64_t M, int64_t N, int64_t K, const REAL *A, int64_t lda,    \
                     const REAL *B, int64_t ldb, REAL *C, int64_t ldc, int acc)              \
    {                                                                                        \
        for (int64_t r = 0; r < M; r++) {                                                    \
            REAL *c = C + r * ldc;                                                           \
            if (!acc)                                                                        \
                for (int64_t n = 0; n < N; n++)                                              \
                    c[n] = 0;                                                                \
            for (int64_t k = 0; k < K; k++) {                                                \
                const REAL a = ta ? A[k * lda + r] : A[r * lda + k];                         \
                const REAL *b = B + k * ldb;                                                 \
                for (int64_t n = 0; n < N; n++)                                              \
                    c[n] += a * b[n];                                                        \
            }                                                                                \
        }                                                                                    \
    }

PORTABLE_GEMM(float, gemm_f32)
PORTABLE_GEMM(double, gemm_f64)

static float exprow_f32(float *s, int n, float sub)
{
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < n; j += 8)
        for (int u = 0; u < 8; u++) {
            s[j + u] = expf(s[j + u] - sub);
            acc[u] += s[j + u];
        }
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* max of s[0..n), NaN if any s[j] is NaN (a NaN input must not turn into a masked row). */
#define PORTABLE_ROWMAX(REAL, name)                                                            \
    static REAL name(const REAL *s, int n)                                                   \
    {                                                                                        \
        REAL mx = -INFINITY;                                                                 \
        for (int j = 0; j < n; j++) {                                                        \
            if (s[j] > mx)                                                                   \
                mx = s[j];                                                                   \
            else if (s[j] != s[j])                                                           \
                return s[j];                                                                 \
        }                                                                                    \
        return mx;                                                                           \
    }

PORTABLE_ROWMAX(float, rowmax_f32)
PORTABLE_ROWMAX(double, rowmax_f64)

static double exprow_f64(double *s, int n, double sub)
{
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int j = 0; j < n; j += 8)
        for (int u = 0; u < 8; u++) {
            s[j + u] = exp(s[j + u] - sub);
            acc[u] += s[j + u];
        }
    return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

#define DM_ATT_TEMPLATE 1
#define TGT

#define REAL float
#define NAME(x) x##_f32
#define GEMM gemm_f32
#define EXPROW exprow_f32
#define ROWMAX rowmax_f32
#define EXP1 expf
#define LOG1 logf
#include "dm_attention_tile.c"
#undef REAL
#undef NAME
#undef GEMM
#undef EXPROW
#undef ROWMAX
#undef EXP1
#undef LOG1

#define REAL double
#define NAME(x) x##_f64
#define GEMM gemm_f64
#define EXPROW exprow_f64
#define ROWMAX rowmax_f64
#define EXP1 exp
#define LOG1 log
#include "dm_attention_tile.c"
#undef REAL
#undef NAME
#undef GEMM
#undef EXPROW
#undef ROWMAX
#undef EXP1
#undef LOG1
#undef TGT

/* ---- AVX2 + FMA inner loops (float32) ------------------------------------------------------ */
#ifdef DM_ATT_X86
#define TGT __attribute__((target("avx2,fma")))

/* Lanes < n (n clamped to 0..8) set. */
TGT static inline __m256i lanes_below(int64_t n)
{
    const int k = n < 0 ? 0 : (n > 8 ? 8 : (int)n);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The 4 × 16 micro-kernel: rows r..r+3 of C, columns n0..n0+15 (lanes beyond N masked when
 * !full). 8 accumulators; per k, 2 loads of B and 4 broadcasts of A. */
TGT static inline __attribute__((always_inline)) void
kern4x16(int full, int ta, int64_t r, int64_t n0, int64_t K, const float *A, int64_t lda,
         const float *B, int64_t ldb, float *C, int64_t ldc, int acc, __m256i m0, __m256i m1)
{
    __m256 c00, c01, c10, c11, c20, c21, c30, c31;
    float *C0 = C + r * ldc + n0, *C1 = C0 + ldc, *C2 = C1 + ldc, *C3 = C2 + ldc;
#define LD(p, m) (full ? _mm256_loadu_ps(p) : _mm256_maskload_ps((p), (m)))
#define ST(p, m, x) do { if (full) _mm256_storeu_ps((p), (x)); \
                         else _mm256_maskstore_ps((p), (m), (x)); } while (0)
    if (acc) {
        c00 = LD(C0, m0); c01 = LD(C0 + 8, m1); c10 = LD(C1, m0); c11 = LD(C1 + 8, m1);
        c20 = LD(C2, m0); c21 = LD(C2 + 8, m1); c30 = LD(C3, m0); c31 = LD(C3 + 8, m1);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = _mm256_setzero_ps();
    }
    const float *b = B + n0;
    if (ta) {
        const float *a = A + r;
        for (int64_t k = 0; k < K; k++, a += lda, b += ldb) {
            const __m256 b0 = LD(b, m0), b1 = LD(b + 8, m1);
            __m256 x = _mm256_broadcast_ss(a);
            c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
            x = _mm256_broadcast_ss(a + 1);
            c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
            x = _mm256_broadcast_ss(a + 2);
            c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
            x = _mm256_broadcast_ss(a + 3);
            c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        }
    } else {
        const float *a0 = A + r * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        for (int64_t k = 0; k < K; k++, b += ldb) {
            const __m256 b0 = LD(b, m0), b1 = LD(b + 8, m1);
            __m256 x = _mm256_broadcast_ss(a0 + k);
            c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
            x = _mm256_broadcast_ss(a1 + k);
            c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
            x = _mm256_broadcast_ss(a2 + k);
            c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
            x = _mm256_broadcast_ss(a3 + k);
            c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        }
    }
    ST(C0, m0, c00); ST(C0 + 8, m1, c01); ST(C1, m0, c10); ST(C1 + 8, m1, c11);
    ST(C2, m0, c20); ST(C2 + 8, m1, c21); ST(C3, m0, c30); ST(C3 + 8, m1, c31);
}

/* One row of C, columns n0..n0+15. */
TGT static inline __attribute__((always_inline)) void
kern1x16(int full, int ta, int64_t r, int64_t n0, int64_t K, const float *A, int64_t lda,
         const float *B, int64_t ldb, float *C, int64_t ldc, int acc, __m256i m0, __m256i m1)
{
    float *C0 = C + r * ldc + n0;
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    if (acc) {
        c00 = LD(C0, m0);
        c01 = LD(C0 + 8, m1);
    }
    const float *b = B + n0;
    for (int64_t k = 0; k < K; k++, b += ldb) {
        const __m256 x = _mm256_broadcast_ss(ta ? A + k * lda + r : A + r * lda + k);
        c00 = _mm256_fmadd_ps(x, LD(b, m0), c00);
        c01 = _mm256_fmadd_ps(x, LD(b + 8, m1), c01);
    }
    ST(C0, m0, c00);
    ST(C0 + 8, m1, c01);
#undef LD
#undef ST
}

TGT static void gemm_f32_avx2(int ta, int64_t M, int64_t N, int64_t K, const float *A,
                              int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                              int acc)
{
    const __m256i ones = _mm256_set1_epi32(-1);
    for (int64_t n0 = 0; n0 < N; n0 += 16) {
        int64_t r = 0;
        if (N - n0 >= 16) {
            for (; r + 4 <= M; r += 4)
                kern4x16(1, ta, r, n0, K, A, lda, B, ldb, C, ldc, acc, ones, ones);
            for (; r < M; r++)
                kern1x16(1, ta, r, n0, K, A, lda, B, ldb, C, ldc, acc, ones, ones);
        } else {
            const __m256i m0 = lanes_below(N - n0), m1 = lanes_below(N - n0 - 8);
            for (; r + 4 <= M; r += 4)
                kern4x16(0, ta, r, n0, K, A, lda, B, ldb, C, ldc, acc, m0, m1);
            for (; r < M; r++)
                kern1x16(0, ta, r, n0, K, A, lda, B, ldb, C, ldc, acc, m0, m1);
        }
    }
}

/* exp(x) for 8 floats: Cephes' expf (range reduction by ln 2 in two parts, degree-5
 * polynomial), relative error ~1e-7. Exactly 0 below ln(FLT_MIN); NaN stays NaN. */
TGT static inline __m256 exp8(__m256 x)
{
    const __m256 tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654475f), _CMP_LT_OQ);
    /* min/max return their second operand when either is NaN: NaN goes through as NaN */
    x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), x);
    x = _mm256_max_ps(_mm256_set1_ps(-88.3762626647949f), x);
    __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
    fx = _mm256_floor_ps(fx);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    const __m256 z = _mm256_mul_ps(x, x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, z, x);
    y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127));
    e = _mm256_slli_epi32(e, 23);
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(tiny, y);
}

TGT static float exprow_f32_avx2(float *s, int n, float sub)
{
    const __m256 vs = _mm256_set1_ps(sub);
    __m256 acc = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        const __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), vs));
        _mm256_storeu_ps(s + j, p);
        acc = _mm256_add_ps(acc, p);
    }
    float a[8];
    _mm256_storeu_ps(a, acc);
    return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));
}

/* max of s[0..n), n a multiple of 8 (padding holds -inf); NaN if any s[j] is NaN. */
TGT static float rowmax_f32_avx2(const float *s, int n)
{
    __m256 mx = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8) {
        const __m256 x = _mm256_loadu_ps(s + j);
        mx = _mm256_max_ps(x, mx);
        nan = _mm256_or_ps(nan, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
    }
    if (!_mm256_testz_ps(nan, nan))
        return NAN;
    float a[8];
    _mm256_storeu_ps(a, mx);
    float r = a[0];
    for (int u = 1; u < 8; u++)
        if (a[u] > r)
            r = a[u];
    return r;
}

TGT static float expf_avx2(float x)
{
    float a[8];
    _mm256_storeu_ps(a, exp8(_mm256_set1_ps(x)));
    return a[0];
}

#define REAL float
#define NAME(x) x##_f32_avx2
#define GEMM gemm_f32_avx2
#define EXPROW exprow_f32_avx2
#define ROWMAX rowmax_f32_avx2
#define EXP1 expf_avx2
#define LOG1 logf
#include "dm_attention_tile.c"
#undef REAL
#undef NAME
#undef GEMM
#undef EXPROW
#undef ROWMAX
#undef EXP1
#undef LOG1
#undef TGT

static int use_avx2(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#else
static int use_avx2(void) { return 0; }
#endif /* DM_ATT_X86 */

const char *dm_attention_path(void)
{
    return use_avx2() ? "avx2" : "portable";
}

/* ---- entry points -------------------------------------------------------------------------- */

int dm_attention_forward_f32(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                             const float *q, const float *k, const float *v,
                             const float *mask, const int64_t *mask_strides, int causal,
                             float scale, float *out, float *lse)
{
#ifdef DM_ATT_X86
    if (use_avx2())
        return forward_f32_avx2(B, H, Tq, Tk, d, q, k, v, mask, mask_strides, causal, scale,
                                out, lse);
#endif
    return forward_f32(B, H, Tq, Tk, d, q, k, v, mask, mask_strides, causal, scale, out, lse);
}

int dm_attention_forward_f64(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                             const double *q, const double *k, const double *v,
                             const double *mask, const int64_t *mask_strides, int causal,
                             double scale, double *out, double *lse)
{
    return forward_f64(B, H, Tq, Tk, d, q, k, v, mask, mask_strides, causal, scale, out, lse);
}

int dm_attention_backward_f32(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                              const float *q, const float *k, const float *v,
                              const float *mask, const int64_t *mask_strides, int causal,
                              float scale, const float *out, const float *lse,
                              const float *grad, float *dq, float *dk, float *dv)
{
#ifdef DM_ATT_X86
    if (use_avx2())
        return backward_f32_avx2(B, H, Tq, Tk, d, q, k, v, mask, mask_strides, causal, scale,
                                 out, lse, grad, dq, dk, dv);
#endif
    return backward_f32(B, H, Tq, Tk, d, q, k, v, mask, mask_strides, causal, scale, out, lse,
                        grad, dq, dk, dv);
}

int dm_attention_backward_f64(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                              const double *q, const double *k, const double *v,
                              const double *mask, const int64_t *mask_strides, int causal,
                              double scale, const double *out, const double *lse,
                              const double *grad, double *dq, double *dk, double *dv)
{
    return backward_f64(B, H, Tq, Tk, d, q, k, v, mask, mask_strides, causal, scale, out, lse,
                        grad, dq, dk, dv);
}
