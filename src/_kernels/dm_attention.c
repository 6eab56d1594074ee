/* dm_attention.c: scaled dot-product attention (see dm_attention.h for the contract).
 *
 * The tile loops live in dm_attention_tile.c, included below four times:
 *   f32 + AVX-512F  (x86-64 with gcc/clang, chosen at run time when dm_cpu_features() reports
 *                    AVX-512F, i.e. the CPU has it and the OS saves the zmm/opmask state)
 *   f32 + AVX2/FMA  (x86-64 with gcc/clang, CPUs with AVX2 and FMA but no AVX-512F)
 *   f32 portable    (every other CPU, and every other compiler: MSVC, arm64)
 *   f64 portable    (float64 is for gradient checks: correct, not tuned)
 * DEEPMATH_ATTENTION_KERNEL=avx2|portable forces a slower float32 path (tests, A/B timings);
 * dm_attention_path() names the one in use.
 * Each instantiation brings its own small GEMM (C (+)= op(A)·B on tiles) and row exponential.
 * Why a GEMM of our own rather than dm_sgemm: the tiles are tiny (64 × 64 × d), reused from
 * L1/L2, and already handed out one per thread; packing them as a general GEMM would cost
 * about as much as the product itself. Measured on the 2-core EPYC (one thread, 64 × 64 tiles
 * in L1, k = 32 / 64): this file's 4 × 16 kernel 80-90 GF/s, the packed BLIS dm_sgemm of the
 * GEMM work 39 / 53 GF/s (26 / 30 with the transposed B that Q·Kᵀ would need). A 6 × 16
 * kernel measured no faster here (load ports are not the limit once the tile sits in L1).
 * On the Intel Xeon (AVX-512, 2 cores), the AVX-512 path's 8 × 32 kernel (16 zmm accumulators,
 * per k 2 loads of B and 8 broadcasts of A) is the fastest of 4 × 32, 6 × 32 and 8 × 32:
 * causal forward + backward, one thread, thread CPU time (min of forward + min of backward),
 * before the 8 × 8 register transposes were added:
 *   (B,H,T,d)       AVX2 4×16   AVX-512 4×32   6×32     8×32
 *   (12,4,64,32)    1.40 ms     1.22 ms        1.13     1.04
 *   (64,6,256,64)   231 ms      183            176      172
 *   (8,12,1024,64)  662 ms      523            494      465
 * With the 8 × 8 register transposes, the scale applied in the Q·Kᵀ kernel and the all -inf
 * exp blocks skipped (same measure, medians of fwd + bwd over 300 / 9 / 3 runs, 3 rounds):
 *   (B,H,T,d)       AVX2 before this path   AVX2 now   AVX-512 now
 *   (12,4,64,32)    1.57 ms                 1.48       0.99  (1.59× the AVX2 before)
 *   (64,6,256,64)   236 ms                  228        164   (1.43×)
 *   (8,12,1024,64)  672 ms                  672        467   (1.44×)
 * The 1024 forward does 13.7 GFLOP of tile products (causal tiles in full) in 150 ms: 91 GF/s
 * overall, GEMMs about two thirds of the profile.
 * The same exp polynomial and the same k-ascending FMA chains as AVX2: scores and GEMM outputs
 * are the same bits on both paths; only the row sums of exp (16 lanes, not 8) round differently.
 *
 * Reproducibility: every sum runs in a fixed order (k ascending in the GEMMs, 8 or 16 lanes then a
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
#undef TRANSPOSE8
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

/* dst[x*ldd + u] = src[u*lds + x] for u, x < 8: an 8 × 8 block transposed in registers
 * (pairs of rows interleaved, then pairs of pairs, then 128-bit halves swapped). */
TGT static inline void transpose8_avx2(const float *src, int64_t lds, float *dst, int64_t ldd)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds);
    __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
    __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
    __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    r0 = _mm256_shuffle_ps(t0, t2, 0x44); r1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    r2 = _mm256_shuffle_ps(t1, t3, 0x44); r3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    r4 = _mm256_shuffle_ps(t4, t6, 0x44); r5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    r6 = _mm256_shuffle_ps(t5, t7, 0x44); r7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(r0, r4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(r1, r5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(r2, r6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(r3, r7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(r0, r4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(r1, r5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(r2, r6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(r3, r7, 0x31));
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
#define TRANSPOSE8 transpose8_avx2
#include "dm_attention_tile.c"
#undef REAL
#undef NAME
#undef GEMM
#undef EXPROW
#undef ROWMAX
#undef EXP1
#undef LOG1
#undef TRANSPOSE8
#undef TGT

/* ---- AVX-512F inner loops (float32) -------------------------------------------------------- */
#define TGT __attribute__((target("avx512f,avx2,fma")))

/* Rows per micro-tile of the AVX-512 GEMM (columns: 32, two zmm). Measured on the Intel Xeon
 * (AVX-512, 2 cores): see gemm_f32_avx512. */
#ifndef DM_ATT512_MR
#define DM_ATT512_MR 8
#endif

/* Lanes < n (n clamped to 0..16) set. */
static inline __mmask16 mask_below(int64_t n)
{
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* The MR × 16·NV micro-kernel: rows r..r+MR-1 of C, columns n0.. (lanes outside m0 / m1
 * masked: masked loads never touch the memory they skip). MR·NV accumulators; per k, NV loads
 * of B and MR broadcasts of A. MR and NV are constants at every call: the loops unroll and the
 * accumulators stay in registers. */
TGT static inline __attribute__((always_inline)) void
kern512(const int MR, const int NV, int ta, int64_t r, int64_t n0, int64_t K, const float *A,
        int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc, int acc, __mmask16 m0,
        __mmask16 m1, int scaled, __m512 alpha)
{
    __m512 c0[DM_ATT512_MR], c1[DM_ATT512_MR];
    float *Cr = C + r * ldc + n0;
    for (int i = 0; i < MR; i++) {
        c0[i] = acc ? _mm512_maskz_loadu_ps(m0, Cr + i * ldc) : _mm512_setzero_ps();
        if (NV > 1)
            c1[i] = acc ? _mm512_maskz_loadu_ps(m1, Cr + i * ldc + 16) : _mm512_setzero_ps();
    }
    const float *b = B + n0;
    if (ta) {
        const float *a = A + r;
        for (int64_t k = 0; k < K; k++, a += lda, b += ldb) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
            const __m512 b1 = NV > 1 ? _mm512_maskz_loadu_ps(m1, b + 16) : b0;
            for (int i = 0; i < MR; i++) {
                const __m512 x = _mm512_set1_ps(a[i]);
                c0[i] = _mm512_fmadd_ps(x, b0, c0[i]);
                if (NV > 1)
                    c1[i] = _mm512_fmadd_ps(x, b1, c1[i]);
            }
        }
    } else {
        const float *a = A + r * lda;
        for (int64_t k = 0; k < K; k++, b += ldb) {
            const __m512 b0 = _mm512_maskz_loadu_ps(m0, b);
            const __m512 b1 = NV > 1 ? _mm512_maskz_loadu_ps(m1, b + 16) : b0;
            for (int i = 0; i < MR; i++) {
                const __m512 x = _mm512_set1_ps(a[i * lda + k]);
                c0[i] = _mm512_fmadd_ps(x, b0, c0[i]);
                if (NV > 1)
                    c1[i] = _mm512_fmadd_ps(x, b1, c1[i]);
            }
        }
    }
    if (scaled)
        for (int i = 0; i < MR; i++) {
            c0[i] = _mm512_mul_ps(c0[i], alpha);
            if (NV > 1)
                c1[i] = _mm512_mul_ps(c1[i], alpha);
        }
    for (int i = 0; i < MR; i++) {
        _mm512_mask_storeu_ps(Cr + i * ldc, m0, c0[i]);
        if (NV > 1)
            _mm512_mask_storeu_ps(Cr + i * ldc + 16, m1, c1[i]);
    }
}

/* Columns in blocks of 32 (a last block of <= 16 uses one zmm per row), rows in blocks of MR,
 * then 4, then 1. Every C element sums its K products in ascending k, one FMA each: the same
 * bits as the AVX2 kernel. scaled: C = alpha·(the sum), acc must be 0. */
TGT static inline __attribute__((always_inline)) void
gemm512(int ta, int64_t M, int64_t N, int64_t K, const float *A, int64_t lda,
                        const float *B, int64_t ldb, float *C, int64_t ldc, int acc, int scaled,
                        float alpha)
{
    const __m512 va = _mm512_set1_ps(alpha);
    for (int64_t n0 = 0; n0 < N; n0 += 32) {
        const __mmask16 m0 = mask_below(N - n0), m1 = mask_below(N - n0 - 16);
        int64_t r = 0;
#define K512(MR, NV) kern512(MR, NV, ta, r, n0, K, A, lda, B, ldb, C, ldc, acc, m0, m1, scaled, va)
        if (N - n0 > 16) {
            for (; r + DM_ATT512_MR <= M; r += DM_ATT512_MR)
                K512(DM_ATT512_MR, 2);
            for (; r + 4 <= M; r += 4)
                K512(4, 2);
            for (; r < M; r++)
                K512(1, 2);
        } else {
            for (; r + DM_ATT512_MR <= M; r += DM_ATT512_MR)
                K512(DM_ATT512_MR, 1);
            for (; r + 4 <= M; r += 4)
                K512(4, 1);
            for (; r < M; r++)
                K512(1, 1);
        }
#undef K512
    }
}

TGT static void gemm_f32_avx512(int ta, int64_t M, int64_t N, int64_t K, const float *A,
                                int64_t lda, const float *B, int64_t ldb, float *C, int64_t ldc,
                                int acc)
{
    gemm512(ta, M, N, K, A, lda, B, ldb, C, ldc, acc, 0, 1.0f);
}

TGT static void gemm_scaled_f32_avx512(int64_t M, int64_t N, int64_t K, const float *A,
                                       int64_t lda, const float *B, int64_t ldb, float *C,
                                       int64_t ldc, float alpha)
{
    gemm512(0, M, N, K, A, lda, B, ldb, C, ldc, 0, 1, alpha);
}

/* exp(x) for 16 floats: exp8's algorithm and constants, so the same value per lane. */
TGT static inline __m512 exp16(__m512 x)
{
    const __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.33654475f), _CMP_LT_OQ);
    /* vminps / vmaxps return their second operand when either is NaN: NaN stays NaN */
    x = _mm512_min_ps(_mm512_set1_ps(88.3762626647949f), x);
    x = _mm512_max_ps(_mm512_set1_ps(-88.3762626647949f), x);
    __m512 fx = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f));
    fx = _mm512_roundscale_ps(fx, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
    const __m512 z = _mm512_mul_ps(x, x);
    __m512 y = _mm512_set1_ps(1.9875691500E-4f);
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073E-3f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894E-2f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459E-1f));
    y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201E-1f));
    y = _mm512_fmadd_ps(y, z, x);
    y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
    __m512i e = _mm512_add_epi32(_mm512_cvttps_epi32(fx), _mm512_set1_epi32(127));
    e = _mm512_slli_epi32(e, 23);
    y = _mm512_mul_ps(y, _mm512_castsi512_ps(e));
    return _mm512_maskz_mov_ps((__mmask16)~tiny, y);
}

/* n a multiple of 8: 16 lanes at a time, a last half vector masked. Lane sums then a fixed tree.
 * A block of 16 scores that are all -inf (causally masked keys: half of a diagonal tile) is
 * stored as zeros without computing exp(-inf - sub) = 0: the same bits, when sub is finite. */
TGT static float exprow_f32_avx512(float *s, int n, float sub)
{
    const __m512 vs = _mm512_set1_ps(sub), ninf = _mm512_set1_ps(-INFINITY);
    const int finite = sub - sub == 0;  /* false for ±inf and NaN */
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < n; j += 16) {
        const __mmask16 m = mask_below(n - j);
        const __m512 x = _mm512_maskz_loadu_ps(m, s + j);
        if (finite && _mm512_mask_cmp_ps_mask(m, x, ninf, _CMP_EQ_OQ) == m) {
            _mm512_mask_storeu_ps(s + j, m, _mm512_setzero_ps());
            continue;
        }
        const __m512 p = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(x, vs)));
        _mm512_mask_storeu_ps(s + j, m, p);
        acc = _mm512_add_ps(acc, p);
    }
    /* fixed tree: halves, then quarters... (the same order on every call) */
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(acc),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    q = _mm_add_ss(q, _mm_movehdup_ps(q));
    return _mm_cvtss_f32(q);
}

/* max of s[0..n), n a multiple of 8 (padding holds -inf); NaN if any s[j] is NaN. */
TGT static float rowmax_f32_avx512(const float *s, int n)
{
    __m512 mx = _mm512_set1_ps(-INFINITY);
    __mmask16 nan = 0;
    for (int j = 0; j < n; j += 16) {
        const __mmask16 m = mask_below(n - j);
        const __m512 x = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), m, s + j);
        mx = _mm512_max_ps(x, mx);
        nan |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    }
    if (nan)
        return NAN;
    return _mm512_reduce_max_ps(mx);
}

TGT static float expf_avx512(float x)
{
    return _mm512_cvtss_f32(exp16(_mm512_set1_ps(x)));
}

#define REAL float
#define NAME(x) x##_f32_avx512
#define GEMM gemm_f32_avx512
#define GEMM_SCALED gemm_scaled_f32_avx512
#define EXPROW exprow_f32_avx512
#define ROWMAX rowmax_f32_avx512
#define EXP1 expf_avx512
#define LOG1 logf
#define TRANSPOSE8 transpose8_avx2
#include "dm_attention_tile.c"
#undef REAL
#undef NAME
#undef GEMM
#undef EXPROW
#undef ROWMAX
#undef EXP1
#undef LOG1
#undef TRANSPOSE8
#undef GEMM_SCALED
#undef TGT
#endif /* DM_ATT_X86 */

/* ---- path choice --------------------------------------------------------------------------- */

enum { PATH_PORTABLE, PATH_AVX2, PATH_AVX512 };

/* Decided once from dm_cpu_features() (which checks that the OS saves the zmm state too);
 * DEEPMATH_ATTENTION_KERNEL=avx2|portable forces a slower path (tests, A/B timings). */
static int att_path(void)
{
    static int cached = -1;
    if (cached < 0) {
        int p = PATH_PORTABLE;
#ifdef DM_ATT_X86
        const unsigned f = dm_cpu_features();
        const unsigned avx2 = DM_CPU_AVX2 | DM_CPU_FMA;
        const char *force = getenv("DEEPMATH_ATTENTION_KERNEL");
        if ((f & avx2) == avx2)
            p = (f & DM_CPU_AVX512F) ? PATH_AVX512 : PATH_AVX2;
        if (force && strcmp(force, "portable") == 0)
            p = PATH_PORTABLE;
        else if (force && strcmp(force, "avx2") == 0 && p == PATH_AVX512)
            p = PATH_AVX2;
#endif
        cached = p;
    }
    return cached;
}

const char *dm_attention_path(void)
{
    static const char *names[] = {"portable", "avx2", "avx512"};
    return names[att_path()];
}

/* ---- entry points -------------------------------------------------------------------------- */

int dm_attention_forward_f32(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                             const float *q, const float *k, const float *v,
                             const float *mask, const int64_t *mask_strides, int causal,
                             float scale, float *out, float *lse)
{
#ifdef DM_ATT_X86
    if (att_path() == PATH_AVX512)
        return forward_f32_avx512(B, H, Tq, Tk, d, q, k, v, mask, mask_strides, causal, scale,
                                  out, lse);
    if (att_path() == PATH_AVX2)
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
    if (att_path() == PATH_AVX512)
        return backward_f32_avx512(B, H, Tq, Tk, d, q, k, v, mask, mask_strides, causal, scale,
                                   out, lse, grad, dq, dk, dv);
    if (att_path() == PATH_AVX2)
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
