/* dm_gemm.c: general matrix product C = alpha·op(A)·op(B) + beta·C, BLIS style.
 *
 * Five loops around a register-blocked micro-kernel (BLIS, "Anatomy of high-performance
 * matrix multiplication", Goto & van de Geijn):
 *
 *   for jc in steps of NC            (columns of C and B)        B block kc×nc  -> L3
 *     for pc in steps of KC          (the summation index)       pack B into NR-column panels
 *       for ic in steps of MC        (rows of C and A)           A block mc×kc  -> L2
 *         pack A into MR-row panels (only when A is transposed, see gemm_blocked)
 *         for jr in steps of NR      (one B micro-panel kc×NR    -> L1)
 *           for ir in steps of MR    (one A micro-panel kc×MR, streamed from L2)
 *             micro-kernel: an MR×NR tile of C held in registers, summed over kc
 *
 * Each element of C is summed over k in one fixed order (p = 0..k-1, in KC blocks, each block
 * added to C in turn), by one thread: the threads share C (gemm_threads), never the k sum.
 * So results are bitwise identical for any thread count.
 *
 * Transposes are absorbed by the packing routines (strided reads, no transposed copy); an A
 * with contiguous rows is read in place by the micro-kernel (six row streams).
 * The epilogue (alpha, beta, bias per column, activation) is applied as the micro-tile is
 * written, on the last KC block, while the tile is still in L1: a dense layer's act(X·W + b)
 * costs one pass over C.
 *
 * Small or narrow products (see DM_GEMM_SMALL) skip the packing of A: the micro-kernel reads A
 * in place through its strides, B is read in place or packed one panel at a time into a buffer
 * on the stack. Small ones also skip the thread team (DM_GEMM_PARALLEL_MIN).
 *
 * Threads: OpenMP only (dm_get_num_threads()). This file never calls a BLAS, so there is no
 * oversubscription with numpy's OpenBLAS from here; a caller mixing both should still keep
 * the two pools from spinning against each other (bench/README.md).
 *
 * Code paths: an AVX2+FMA micro-kernel (6×16 float32, 6×8 float64) chosen at run time with
 * __builtin_cpu_supports, and a portable C micro-kernel (4×8 float32, 4×4 float64) written so
 * that the compiler vectorises it for the baseline ISA (SSE2 on x86-64, NEON on arm64).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "deepmath_kernels.h"
#include "dm_gemm.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DM_GEMM_AVX2 1
#include <immintrin.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DM_TLS __thread
#define DM_ALIGN(n) __attribute__((aligned(n)))
#elif defined(_MSC_VER)
#define DM_TLS __declspec(thread)
#define DM_ALIGN(n) __declspec(align(n))
#else
#define DM_ALIGN(n)
#endif

/* ---- block sizes ----------------------------------------------------------------------------
 * Chosen for the development machine (AMD EPYC Zen 3: 32 KiB L1d and 512 KiB L2 per core,
 * 32 MiB shared L3) and sensible on most x86-64 and arm64 cores:
 *   KC: depth of a block. A B micro-panel KC×NR (16 KiB) plus an A micro-panel KC×MR (6 KiB)
 *       stay in the 32 KiB L1d during one micro-kernel call.
 *   MC: rows of the packed A block MC×KC (144 KiB float32): lives in the L2 (512 KiB), with
 *       room left for the B micro-panels streaming through it.
 *   NC: columns of the packed B block KC×NC (4 MiB float32): lives in the shared L3.
 * MC is a multiple of MR and NC of NR.
 */
#define DM_S_MR 6
#define DM_S_NR 16
#ifndef DM_S_KC
#define DM_S_KC 256
#endif
#ifndef DM_S_MC
#define DM_S_MC 144
#endif
#define DM_S_NC 4096

#define DM_D_MR 6
#define DM_D_NR 8
#define DM_D_KC 256
#define DM_D_MC 72
#define DM_D_NC 2048

/* Portable micro-kernels: small tiles that fit 16 SSE2 / 32 NEON registers. */
#define DM_SP_MR 4
#define DM_SP_NR 8
#define DM_DP_MR 4
#define DM_DP_NR 4

#define DM_MAX_MR 6
#define DM_MAX_NR 16
#define DM_MAX_KC (DM_S_KC > DM_D_KC ? DM_S_KC : DM_D_KC)

/* m·n·k at or below which a thread's product runs without packing A; so does a product at
 * most 2·NR columns wide, where each A panel would be used once or twice (skinny heads). */
#define DM_GEMM_SMALL ((int64_t)96 * 96 * 96)
/* The small path also serves any product whose A block m×KC is at most this big: read in place
 * it stays in the L2 (half of Zen 3's 512 KiB) while the B panels go by, so packing it would
 * only cost time. */
#ifndef DM_GEMM_SMALL_A_BYTES
#define DM_GEMM_SMALL_A_BYTES ((double)(256 << 10))
#endif
/* m·n·k below which a product runs on one thread. Under deepmath's default passive OpenMP wait
 * policy (src/deepmath/config.py) waking the sleeping second thread costs ~50-80 µs a call, so
 * two threads only pay once one thread needs ~150 µs or more. Measured on the 2-core Zen
 * machine, 1 vs 2 threads alternated: 192³ (7.1 M) 0.17 vs 0.21 ms, 32×3136·3136×10 0.055 vs
 * 0.14 ms (one thread wins); 256³ (16.8 M) 0.56 vs 0.44 ms (two win). 2^23 ≈ 8.4 M. */
#define DM_GEMM_PARALLEL_MIN ((int64_t)1 << 23)

/* ---- the epilogue ------------------------------------------------------------------------- */

typedef struct {
    double alpha, beta;   /* beta is used on the first KC block only */
    int first, last;      /* first block: C = alpha*acc + beta*C; later: C += alpha*acc */
    int act;              /* DM_ACT_*, applied with the bias on the last block */
    const void *bias;     /* bias + j0 for this tile (NULL: none) */
} dm_epi;

static float act_s(float x, int act)
{
    switch (act) {
    case DM_ACT_RELU: return x <= 0 ? 0.0f : x;
    case DM_ACT_SIGMOID: return x >= 0 ? 1 / (1 + expf(-x)) : expf(x) / (1 + expf(x));
    case DM_ACT_TANH: return tanhf(x);
    case DM_ACT_GELU: return 0.5f * x * (1 + erff(x * 0.70710678118654752440f));
    case DM_ACT_GELU_TANH:
        return 0.5f * x * (1 + tanhf(0.79788456080286535588f * (x + 0.044715f * x * x * x)));
    default: return x;
    }
}

static double act_d(double x, int act)
{
    switch (act) {
    case DM_ACT_RELU: return x <= 0 ? 0.0 : x;
    case DM_ACT_SIGMOID: return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
    case DM_ACT_TANH: return tanh(x);
    case DM_ACT_GELU: return 0.5 * x * (1 + erf(x * 0.70710678118654752440));
    case DM_ACT_GELU_TANH:
        return 0.5 * x * (1 + tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
    default: return x;
    }
}

/* Write the mr×nr accumulator tile t (row stride ldt) into C through the epilogue. */
static void epi_store_s(const float *t, int ldt, float *c, int64_t ldc, int mr, int nr,
                        const dm_epi *e)
{
    const float alpha = (float)e->alpha, beta = (float)e->beta;
    const float *bias = (const float *)e->bias;
    int i, j;
    for (i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        const float *ti = t + i * ldt;
        if (!e->first) for (j = 0; j < nr; j++) ci[j] = ci[j] + alpha * ti[j];
        else if (beta == 0) for (j = 0; j < nr; j++) ci[j] = alpha * ti[j];
        else for (j = 0; j < nr; j++) ci[j] = alpha * ti[j] + beta * ci[j];
        if (e->last) {
            if (bias) for (j = 0; j < nr; j++) ci[j] += bias[j];
            if (e->act == DM_ACT_RELU) for (j = 0; j < nr; j++) ci[j] = ci[j] <= 0 ? 0.0f : ci[j];
            else if (e->act != DM_ACT_NONE) for (j = 0; j < nr; j++) ci[j] = act_s(ci[j], e->act);
        }
    }
}

static void epi_store_d(const double *t, int ldt, double *c, int64_t ldc, int mr, int nr,
                        const dm_epi *e)
{
    const double alpha = e->alpha, beta = e->beta;
    const double *bias = (const double *)e->bias;
    int i, j;
    for (i = 0; i < mr; i++) {
        double *ci = c + i * ldc;
        const double *ti = t + i * ldt;
        if (!e->first) for (j = 0; j < nr; j++) ci[j] = ci[j] + alpha * ti[j];
        else if (beta == 0) for (j = 0; j < nr; j++) ci[j] = alpha * ti[j];
        else for (j = 0; j < nr; j++) ci[j] = alpha * ti[j] + beta * ci[j];
        if (e->last) {
            if (bias) for (j = 0; j < nr; j++) ci[j] += bias[j];
            if (e->act == DM_ACT_RELU) for (j = 0; j < nr; j++) ci[j] = ci[j] <= 0 ? 0.0 : ci[j];
            else if (e->act != DM_ACT_NONE) for (j = 0; j < nr; j++) ci[j] = act_d(ci[j], e->act);
        }
    }
}

/* ---- micro-kernels -------------------------------------------------------------------------
 * kern(kc, a, a_rs, a_cs, b, b_rs, c, ldc, mr, nr, e):
 *   acc[i][j] = sum_p a[i*a_rs + p*a_cs] * b[p*b_rs + j]   (i < MR, j < NR, p = 0..kc-1 in order)
 *   then the mr×nr corner of acc goes into C through the epilogue e.
 * Packed A: a_rs = 1, a_cs = MR. A read in place: its element strides. Rows i >= mr read row
 * mr-1 again (in place, row mr does not exist) and are discarded. b always has NR readable
 * columns (packed and zero-padded, or in place when the panel is full).
 */
typedef void (*dm_kern)(int64_t kc, const void *a, int64_t a_rs, int64_t a_cs, const void *b,
                        int64_t b_rs, void *c, int64_t ldc, int mr, int nr, const dm_epi *e);

/* Portable kernels: the j loop over NR accumulators is what the compiler vectorises. */
static void kern_s_portable(int64_t kc, const void *va, int64_t a_rs, int64_t a_cs,
                            const void *vb, int64_t b_rs, void *c, int64_t ldc, int mr, int nr,
                            const dm_epi *e)
{
    const float *a = (const float *)va, *b = (const float *)vb;
    float acc[DM_SP_MR][DM_SP_NR];
    const float *ar[DM_SP_MR];
    int64_t p;
    int i, j;
    memset(acc, 0, sizeof acc);
    for (i = 0; i < DM_SP_MR; i++) ar[i] = a + (i < mr ? i : mr - 1) * a_rs;
    for (p = 0; p < kc; p++) {
        const float *bp = b + p * b_rs;
        for (i = 0; i < DM_SP_MR; i++) {
            const float ai = ar[i][p * a_cs];
            for (j = 0; j < DM_SP_NR; j++) acc[i][j] += ai * bp[j];
        }
    }
    epi_store_s(&acc[0][0], DM_SP_NR, (float *)c, ldc, mr, nr, e);
}

static void kern_d_portable(int64_t kc, const void *va, int64_t a_rs, int64_t a_cs,
                            const void *vb, int64_t b_rs, void *c, int64_t ldc, int mr, int nr,
                            const dm_epi *e)
{
    const double *a = (const double *)va, *b = (const double *)vb;
    double acc[DM_DP_MR][DM_DP_NR];
    const double *ar[DM_DP_MR];
    int64_t p;
    int i, j;
    memset(acc, 0, sizeof acc);
    for (i = 0; i < DM_DP_MR; i++) ar[i] = a + (i < mr ? i : mr - 1) * a_rs;
    for (p = 0; p < kc; p++) {
        const double *bp = b + p * b_rs;
        for (i = 0; i < DM_DP_MR; i++) {
            const double ai = ar[i][p * a_cs];
            for (j = 0; j < DM_DP_NR; j++) acc[i][j] += ai * bp[j];
        }
    }
    epi_store_d(&acc[0][0], DM_DP_NR, (double *)c, ldc, mr, nr, e);
}

#ifdef DM_GEMM_AVX2
#define DM_AVX2 __attribute__((target("avx2,fma")))

/* One row of a full float32 tile through the epilogue, 8 columns at a time. */
DM_AVX2 static inline __m256 epi_row8_s(__m256 acc, float *c, const float *bias, const dm_epi *e)
{
    __m256 v = _mm256_mul_ps(_mm256_set1_ps((float)e->alpha), acc);
    if (!e->first) v = _mm256_add_ps(_mm256_loadu_ps(c), v);
    else if (e->beta != 0)
        v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_set1_ps((float)e->beta), _mm256_loadu_ps(c)));
    if (e->last) {
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
        if (e->act == DM_ACT_RELU) {  /* x <= 0 ? 0 : x, NaN passes through */
            __m256 z = _mm256_setzero_ps();
            v = _mm256_blendv_ps(v, z, _mm256_cmp_ps(v, z, _CMP_LE_OQ));
        }
    }
    return v;
}

DM_AVX2 static inline __m256d epi_row4_d(__m256d acc, double *c, const double *bias,
                                         const dm_epi *e)
{
    __m256d v = _mm256_mul_pd(_mm256_set1_pd(e->alpha), acc);
    if (!e->first) v = _mm256_add_pd(_mm256_loadu_pd(c), v);
    else if (e->beta != 0)
        v = _mm256_add_pd(v, _mm256_mul_pd(_mm256_set1_pd(e->beta), _mm256_loadu_pd(c)));
    if (e->last) {
        if (bias) v = _mm256_add_pd(v, _mm256_loadu_pd(bias));
        if (e->act == DM_ACT_RELU) {
            __m256d z = _mm256_setzero_pd();
            v = _mm256_blendv_pd(v, z, _mm256_cmp_pd(v, z, _CMP_LE_OQ));
        }
    }
    return v;
}

/* 6×16 float32: 12 ymm accumulators, 2 ymm for the B row, 1 for the broadcast A element. */
DM_AVX2 static void kern_s_avx2(int64_t kc, const void *va, int64_t a_rs, int64_t a_cs,
                                const void *vb, int64_t b_rs, void *vc, int64_t ldc, int mr,
                                int nr, const dm_epi *e)
{
    const float *a = (const float *)va, *b = (const float *)vb;
    float *c = (float *)vc;
    const float *a0 = a, *a1 = a + (mr > 1 ? 1 : 0) * a_rs, *a2 = a + (mr > 2 ? 2 : mr - 1) * a_rs,
                *a3 = a + (mr > 3 ? 3 : mr - 1) * a_rs, *a4 = a + (mr > 4 ? 4 : mr - 1) * a_rs,
                *a5 = a + (mr > 5 ? 5 : mr - 1) * a_rs;
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    int64_t p, q = 0;
    {   /* the tile of C is needed after the loop: ask for it now */
        int i;
        for (i = 0; i < mr; i++) {
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + 15), _MM_HINT_T0);
        }
    }
    if (nr <= 8) {  /* narrow panel (n = 8, 10... in the book's classifier heads): half the work */
        for (p = 0; p < kc; p++, q += a_cs) {
            const __m256 b0 = _mm256_loadu_ps(b);
            c00 = _mm256_fmadd_ps(_mm256_broadcast_ss(a0 + q), b0, c00);
            c10 = _mm256_fmadd_ps(_mm256_broadcast_ss(a1 + q), b0, c10);
            c20 = _mm256_fmadd_ps(_mm256_broadcast_ss(a2 + q), b0, c20);
            c30 = _mm256_fmadd_ps(_mm256_broadcast_ss(a3 + q), b0, c30);
            c40 = _mm256_fmadd_ps(_mm256_broadcast_ss(a4 + q), b0, c40);
            c50 = _mm256_fmadd_ps(_mm256_broadcast_ss(a5 + q), b0, c50);
            b += b_rs;
        }
    } else if (a_rs == 1 && a_cs == 6 && b_rs == 16) {
        /* packed A and packed B (a transposed A with lda = 6 has the same layout as a packed
         * panel, but B may then be read in place with another row stride: hence b_rs == 16):
         * unrolled by 4, constant offsets */
#define DM_STEP(o)                                                                          \
        {                                                                                   \
            const __m256 b0 = _mm256_loadu_ps(b + 16 * (o)), b1 = _mm256_loadu_ps(b + 16 * (o) + 8); \
            __m256 x;                                                                       \
            x = _mm256_broadcast_ss(a + 6 * (o) + 0);                                       \
            c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);           \
            x = _mm256_broadcast_ss(a + 6 * (o) + 1);                                       \
            c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);           \
            x = _mm256_broadcast_ss(a + 6 * (o) + 2);                                       \
            c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);           \
            x = _mm256_broadcast_ss(a + 6 * (o) + 3);                                       \
            c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);           \
            x = _mm256_broadcast_ss(a + 6 * (o) + 4);                                       \
            c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);           \
            x = _mm256_broadcast_ss(a + 6 * (o) + 5);                                       \
            c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);           \
        }
        for (p = 0; p + 4 <= kc; p += 4) {
            _mm_prefetch((const char *)(a + 96), _MM_HINT_T0);
            DM_STEP(0) DM_STEP(1) DM_STEP(2) DM_STEP(3)
            a += 24;
            b += 64;
        }
        for (; p < kc; p++) {
            DM_STEP(0)
            a += 6;
            b += 16;
        }
#undef DM_STEP
    } else
    for (p = 0; p < kc; p++, q += a_cs) {
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        __m256 x;
        x = _mm256_broadcast_ss(a0 + q); c00 = _mm256_fmadd_ps(x, b0, c00); c01 = _mm256_fmadd_ps(x, b1, c01);
        x = _mm256_broadcast_ss(a1 + q); c10 = _mm256_fmadd_ps(x, b0, c10); c11 = _mm256_fmadd_ps(x, b1, c11);
        x = _mm256_broadcast_ss(a2 + q); c20 = _mm256_fmadd_ps(x, b0, c20); c21 = _mm256_fmadd_ps(x, b1, c21);
        x = _mm256_broadcast_ss(a3 + q); c30 = _mm256_fmadd_ps(x, b0, c30); c31 = _mm256_fmadd_ps(x, b1, c31);
        x = _mm256_broadcast_ss(a4 + q); c40 = _mm256_fmadd_ps(x, b0, c40); c41 = _mm256_fmadd_ps(x, b1, c41);
        x = _mm256_broadcast_ss(a5 + q); c50 = _mm256_fmadd_ps(x, b0, c50); c51 = _mm256_fmadd_ps(x, b1, c51);
        b += b_rs;
    }
    if (mr == 6 && nr == 16) {
        const float *bias = (const float *)e->bias;
#define DM_ROW(i, r0, r1)                                                                   \
        {                                                                                   \
            float *ci = c + (i) * ldc;                                                      \
            _mm256_storeu_ps(ci, epi_row8_s(r0, ci, bias, e));                              \
            _mm256_storeu_ps(ci + 8, epi_row8_s(r1, ci + 8, bias ? bias + 8 : NULL, e));    \
        }
        DM_ROW(0, c00, c01) DM_ROW(1, c10, c11) DM_ROW(2, c20, c21)
        DM_ROW(3, c30, c31) DM_ROW(4, c40, c41) DM_ROW(5, c50, c51)
#undef DM_ROW
        if (e->last && e->act != DM_ACT_NONE && e->act != DM_ACT_RELU) {
            int i, j;
            for (i = 0; i < 6; i++)
                for (j = 0; j < 16; j++) c[i * ldc + j] = act_s(c[i * ldc + j], e->act);
        }
    } else {
        DM_ALIGN(32) float t[6 * 16];
        _mm256_store_ps(t + 0, c00); _mm256_store_ps(t + 8, c01);
        _mm256_store_ps(t + 16, c10); _mm256_store_ps(t + 24, c11);
        _mm256_store_ps(t + 32, c20); _mm256_store_ps(t + 40, c21);
        _mm256_store_ps(t + 48, c30); _mm256_store_ps(t + 56, c31);
        _mm256_store_ps(t + 64, c40); _mm256_store_ps(t + 72, c41);
        _mm256_store_ps(t + 80, c50); _mm256_store_ps(t + 88, c51);
        epi_store_s(t, 16, c, ldc, mr, nr, e);
    }
}

/* 6×8 float64: 12 ymm accumulators of 4 doubles. */
DM_AVX2 static void kern_d_avx2(int64_t kc, const void *va, int64_t a_rs, int64_t a_cs,
                                const void *vb, int64_t b_rs, void *vc, int64_t ldc, int mr,
                                int nr, const dm_epi *e)
{
    const double *a = (const double *)va, *b = (const double *)vb;
    double *c = (double *)vc;
    const double *a0 = a, *a1 = a + (mr > 1 ? 1 : 0) * a_rs, *a2 = a + (mr > 2 ? 2 : mr - 1) * a_rs,
                 *a3 = a + (mr > 3 ? 3 : mr - 1) * a_rs, *a4 = a + (mr > 4 ? 4 : mr - 1) * a_rs,
                 *a5 = a + (mr > 5 ? 5 : mr - 1) * a_rs;
    __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
            c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    int64_t p, q = 0;
    if (nr <= 4) {
        for (p = 0; p < kc; p++, q += a_cs) {
            const __m256d b0 = _mm256_loadu_pd(b);
            c00 = _mm256_fmadd_pd(_mm256_broadcast_sd(a0 + q), b0, c00);
            c10 = _mm256_fmadd_pd(_mm256_broadcast_sd(a1 + q), b0, c10);
            c20 = _mm256_fmadd_pd(_mm256_broadcast_sd(a2 + q), b0, c20);
            c30 = _mm256_fmadd_pd(_mm256_broadcast_sd(a3 + q), b0, c30);
            c40 = _mm256_fmadd_pd(_mm256_broadcast_sd(a4 + q), b0, c40);
            c50 = _mm256_fmadd_pd(_mm256_broadcast_sd(a5 + q), b0, c50);
            b += b_rs;
        }
    } else if (a_rs == 1 && a_cs == 6 && b_rs == 8) {  /* packed A and B (see float32) */
#define DM_STEP(o)                                                                          \
        {                                                                                   \
            const __m256d b0 = _mm256_loadu_pd(b + 8 * (o)), b1 = _mm256_loadu_pd(b + 8 * (o) + 4); \
            __m256d x;                                                                      \
            x = _mm256_broadcast_sd(a + 6 * (o) + 0);                                       \
            c00 = _mm256_fmadd_pd(x, b0, c00); c01 = _mm256_fmadd_pd(x, b1, c01);           \
            x = _mm256_broadcast_sd(a + 6 * (o) + 1);                                       \
            c10 = _mm256_fmadd_pd(x, b0, c10); c11 = _mm256_fmadd_pd(x, b1, c11);           \
            x = _mm256_broadcast_sd(a + 6 * (o) + 2);                                       \
            c20 = _mm256_fmadd_pd(x, b0, c20); c21 = _mm256_fmadd_pd(x, b1, c21);           \
            x = _mm256_broadcast_sd(a + 6 * (o) + 3);                                       \
            c30 = _mm256_fmadd_pd(x, b0, c30); c31 = _mm256_fmadd_pd(x, b1, c31);           \
            x = _mm256_broadcast_sd(a + 6 * (o) + 4);                                       \
            c40 = _mm256_fmadd_pd(x, b0, c40); c41 = _mm256_fmadd_pd(x, b1, c41);           \
            x = _mm256_broadcast_sd(a + 6 * (o) + 5);                                       \
            c50 = _mm256_fmadd_pd(x, b0, c50); c51 = _mm256_fmadd_pd(x, b1, c51);           \
        }
        for (p = 0; p + 4 <= kc; p += 4) {
            _mm_prefetch((const char *)(a + 48), _MM_HINT_T0);
            DM_STEP(0) DM_STEP(1) DM_STEP(2) DM_STEP(3)
            a += 24;
            b += 32;
        }
        for (; p < kc; p++) {
            DM_STEP(0)
            a += 6;
            b += 8;
        }
#undef DM_STEP
    } else
    for (p = 0; p < kc; p++, q += a_cs) {
        const __m256d b0 = _mm256_loadu_pd(b), b1 = _mm256_loadu_pd(b + 4);
        __m256d x;
        x = _mm256_broadcast_sd(a0 + q); c00 = _mm256_fmadd_pd(x, b0, c00); c01 = _mm256_fmadd_pd(x, b1, c01);
        x = _mm256_broadcast_sd(a1 + q); c10 = _mm256_fmadd_pd(x, b0, c10); c11 = _mm256_fmadd_pd(x, b1, c11);
        x = _mm256_broadcast_sd(a2 + q); c20 = _mm256_fmadd_pd(x, b0, c20); c21 = _mm256_fmadd_pd(x, b1, c21);
        x = _mm256_broadcast_sd(a3 + q); c30 = _mm256_fmadd_pd(x, b0, c30); c31 = _mm256_fmadd_pd(x, b1, c31);
        x = _mm256_broadcast_sd(a4 + q); c40 = _mm256_fmadd_pd(x, b0, c40); c41 = _mm256_fmadd_pd(x, b1, c41);
        x = _mm256_broadcast_sd(a5 + q); c50 = _mm256_fmadd_pd(x, b0, c50); c51 = _mm256_fmadd_pd(x, b1, c51);
        b += b_rs;
    }
    if (mr == 6 && nr == 8) {
        const double *bias = (const double *)e->bias;
#define DM_ROW(i, r0, r1)                                                                   \
        {                                                                                   \
            double *ci = c + (i) * ldc;                                                     \
            _mm256_storeu_pd(ci, epi_row4_d(r0, ci, bias, e));                              \
            _mm256_storeu_pd(ci + 4, epi_row4_d(r1, ci + 4, bias ? bias + 4 : NULL, e));    \
        }
        DM_ROW(0, c00, c01) DM_ROW(1, c10, c11) DM_ROW(2, c20, c21)
        DM_ROW(3, c30, c31) DM_ROW(4, c40, c41) DM_ROW(5, c50, c51)
#undef DM_ROW
        if (e->last && e->act != DM_ACT_NONE && e->act != DM_ACT_RELU) {
            int i, j;
            for (i = 0; i < 6; i++)
                for (j = 0; j < 8; j++) c[i * ldc + j] = act_d(c[i * ldc + j], e->act);
        }
    } else {
        DM_ALIGN(32) double t[6 * 8];
        _mm256_store_pd(t + 0, c00); _mm256_store_pd(t + 4, c01);
        _mm256_store_pd(t + 8, c10); _mm256_store_pd(t + 12, c11);
        _mm256_store_pd(t + 16, c20); _mm256_store_pd(t + 20, c21);
        _mm256_store_pd(t + 24, c30); _mm256_store_pd(t + 28, c31);
        _mm256_store_pd(t + 32, c40); _mm256_store_pd(t + 36, c41);
        _mm256_store_pd(t + 40, c50); _mm256_store_pd(t + 44, c51);
        epi_store_d(t, 8, c, ldc, mr, nr, e);
    }
}
#endif /* DM_GEMM_AVX2 */

/* ---- packing -------------------------------------------------------------------------------
 * pack(X, rs, cs, rows, depth, w, dst): the rows×depth matrix whose element (r, p) lies at
 * X[r*rs + p*cs] is written as ceil(rows/w) panels of w rows, each panel depth×w (element
 * (r, p) of panel q at dst[q*depth*w + p*w + r - q*w]), the last panel zero-padded.
 * A block of op(A) (rows = i, depth = p) gives MR-row panels; a block of op(B) read as its
 * transpose (rows = j, depth = p) gives NR-column panels. Transposes are just other strides.
 */
#define DM_PACK(NAME, T)                                                                    \
static void NAME(const T *X, int64_t rs, int64_t cs, int64_t rows, int64_t depth, int w,   \
                 T *dst, int64_t q0, int64_t q1)                                            \
{                                                                                           \
    int64_t q, p;                                                                           \
    int r;                                                                                  \
    for (q = q0; q < q1; q++) {                                                             \
        const T *x = X + q * w * rs;                                                        \
        T *d = dst + q * w * depth;                                                         \
        int h = rows - q * w < w ? (int)(rows - q * w) : w;                                 \
        if (h < w) memset(d, 0, sizeof(T) * (size_t)(w * depth));                           \
        if (rs == 1) {  /* a panel's w elements are contiguous for each p */                \
            if (h == w && q1 - q0 > 1) break;  /* full panels: the loop below */            \
            for (p = 0; p < depth; p++)                                                     \
                for (r = 0; r < h; r++) d[p * w + r] = x[p * cs + r];                       \
        } else        /* each row is contiguous (cs == 1) or nothing is */                  \
            for (r = 0; r < h; r++)                                                         \
                for (p = 0; p < depth; p++) d[p * w + r] = x[r * rs + p * cs];              \
    }                                                                                       \
    if (q < q1) {  /* rs == 1, full panels q..q1-1 (and maybe a last partial one): go along \
                    * each row p of X once (few TLB misses when the rows lie pages apart) */ \
        const int64_t qf = rows < q1 * w ? q1 - 1 : q1, qs = q;                             \
        for (p = 0; p < depth; p++)                                                         \
            for (q = qs; q < qf; q++)                                                       \
                for (r = 0; r < w; r++)                                                     \
                    dst[q * w * depth + p * w + r] = X[p * cs + q * w + r];                 \
        if (qf < q1) NAME(X, rs, cs, rows, depth, w, dst, qf, q1);                          \
    }                                                                                       \
}
DM_PACK(pack_s, float)
DM_PACK(pack_d, double)

typedef void (*dm_pack)(const void *X, int64_t rs, int64_t cs, int64_t rows, int64_t depth,
                        int w, void *dst, int64_t q0, int64_t q1);

/* The two packings a row-major product spends its time in, with the tile widths fixed:
 * B panels copied 16 (8) contiguous elements at a time, A panels gathered from 6 rows.
 * Packing is ~6 % of a 512³ product with the generic loops above, ~2 % with these. */
#define DM_PACK_FAST(NAME, T, GENERIC, NRW)                                                 \
static void NAME(const void *vX, int64_t rs, int64_t cs, int64_t rows, int64_t depth, int w, \
                 void *vdst, int64_t q0, int64_t q1)                                        \
{                                                                                           \
    const T *X = (const T *)vX;                                                             \
    T *dst = (T *)vdst;                                                                     \
    int64_t q, p;                                                                           \
    const int64_t qf = rows < q1 * w ? q1 - 1 : q1;  /* full panels: q0..qf-1 */            \
    if (w == NRW && rs == 1 && qf > q0) {                                                   \
        for (p = 0; p < depth; p++) {                                                       \
            const T *x = X + p * cs;                                                        \
            for (q = q0; q < qf; q++) {                                                     \
                T *d = dst + q * NRW * depth + p * NRW;                                     \
                int r;                                                                      \
                for (r = 0; r < NRW; r++) d[r] = x[q * NRW + r];                            \
            }                                                                               \
        }                                                                                   \
        if (qf < q1) GENERIC(X, rs, cs, rows, depth, w, dst, qf, q1);                       \
    } else if (w == 6 && cs == 1 && qf > q0) {                                              \
        for (q = q0; q < qf; q++) {                                                         \
            const T *x0 = X + q * 6 * rs, *x1 = x0 + rs, *x2 = x1 + rs, *x3 = x2 + rs,     \
                    *x4 = x3 + rs, *x5 = x4 + rs;                                           \
            T *d = dst + q * 6 * depth;                                                     \
            for (p = 0; p < depth; p++) {                                                   \
                d[6 * p + 0] = x0[p]; d[6 * p + 1] = x1[p]; d[6 * p + 2] = x2[p];           \
                d[6 * p + 3] = x3[p]; d[6 * p + 4] = x4[p]; d[6 * p + 5] = x5[p];           \
            }                                                                               \
        }                                                                                   \
        if (qf < q1) GENERIC(X, rs, cs, rows, depth, w, dst, qf, q1);                       \
    } else                                                                                  \
        GENERIC(X, rs, cs, rows, depth, w, dst, q0, q1);                                    \
}
#ifdef DM_GEMM_AVX2
DM_AVX2 DM_PACK_FAST(pack_s_fast, float, pack_s, DM_S_NR)
DM_AVX2 DM_PACK_FAST(pack_d_fast, double, pack_d, DM_D_NR)
#endif

/* ---- one implementation: kernel, packer, tile and block sizes ----------------------------- */
typedef struct {
    dm_kern kern;
    dm_pack pack;
    int mr, nr, kc, mc, nc;
    size_t size;  /* sizeof the element */
} dm_impl;

static const dm_impl impl_s_portable = {kern_s_portable, (dm_pack)pack_s, DM_SP_MR, DM_SP_NR,
                                        DM_S_KC, 128, DM_S_NC, sizeof(float)};
static const dm_impl impl_d_portable = {kern_d_portable, (dm_pack)pack_d, DM_DP_MR, DM_DP_NR,
                                        DM_D_KC, 64, DM_D_NC, sizeof(double)};
#ifdef DM_GEMM_AVX2
static const dm_impl impl_s_avx2 = {kern_s_avx2, pack_s_fast, DM_S_MR, DM_S_NR, DM_S_KC,
                                    DM_S_MC, DM_S_NC, sizeof(float)};
static const dm_impl impl_d_avx2 = {kern_d_avx2, pack_d_fast, DM_D_MR, DM_D_NR, DM_D_KC,
                                    DM_D_MC, DM_D_NC, sizeof(double)};
#endif

static int dm_gemm_path = -1;  /* 0 portable, 1 AVX2+FMA; decided once */

static int gemm_path(void)
{
    int p = dm_gemm_path;
    if (p < 0) {
        p = 0;
#ifdef DM_GEMM_AVX2
        const char *force = getenv("DEEPMATH_GEMM_KERNEL");  /* "portable": test that path */
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
            !(force && strcmp(force, "portable") == 0))
            p = 1;
#endif
        dm_gemm_path = p;  /* every thread computes the same value: a benign race */
    }
    return p;
}

const char *dm_gemm_kernel_name(void)
{
    return gemm_path() == 1 ? "avx2+fma" : "portable";
}

static const dm_impl *impl_for(size_t size)
{
#ifdef DM_GEMM_AVX2
    if (gemm_path() == 1) return size == sizeof(float) ? &impl_s_avx2 : &impl_d_avx2;
#endif
    return size == sizeof(float) ? &impl_s_portable : &impl_d_portable;
}

/* ---- packing buffers, kept per calling thread and reused (no page faults per call) ----------- */
#define DM_BUF_KEEP ((size_t)16 << 20)  /* larger buffers are freed after the call */

typedef struct {
    void *raw;
    size_t size;
} dm_buf;

#ifdef DM_TLS
static DM_TLS dm_buf dm_tls_buf;
#endif

static void *buf_get(size_t bytes, void **to_free)
{
    void *raw;
    *to_free = NULL;
#ifdef DM_TLS
    if (bytes <= DM_BUF_KEEP) {
        if (dm_tls_buf.size < bytes) {
            free(dm_tls_buf.raw);
            dm_tls_buf.raw = malloc(bytes + 64);
            dm_tls_buf.size = dm_tls_buf.raw ? bytes : 0;
        }
        raw = dm_tls_buf.raw;
        return raw ? (void *)(((uintptr_t)raw + 63) & ~(uintptr_t)63) : NULL;
    }
#endif
    raw = malloc(bytes + 64);
    *to_free = raw;
    return raw ? (void *)(((uintptr_t)raw + 63) & ~(uintptr_t)63) : NULL;
}

/* ---- drivers -------------------------------------------------------------------------------- */
typedef struct {
    int transa, transb;
    int64_t m, n, k;
    double alpha, beta;
    const char *A, *B;
    int64_t lda, ldb, ldc;
    char *C;
    const char *bias;
    int act;
} dm_args;

/* k == 0 (or nothing to sum): C = beta*C + bias, then act. */
static void gemm_no_k(const dm_impl *im, const dm_args *g)
{
    int64_t i, j;
    for (i = 0; i < g->m; i++) {
        if (im->size == sizeof(float)) {
            float *c = (float *)g->C + i * g->ldc;
            const float *bias = (const float *)g->bias;
            for (j = 0; j < g->n; j++) {
                float v = g->beta == 0 ? 0.0f : (float)g->beta * c[j];
                if (bias) v += bias[j];
                c[j] = act_s(v, g->act);
            }
        } else {
            double *c = (double *)g->C + i * g->ldc;
            const double *bias = (const double *)g->bias;
            for (j = 0; j < g->n; j++) {
                double v = g->beta == 0 ? 0.0 : g->beta * c[j];
                if (bias) v += bias[j];
                c[j] = act_d(v, g->act);
            }
        }
    }
}

/* Small products: one thread, A read in place, B in place or packed one panel at a time. */
static void gemm_small(const dm_impl *im, const dm_args *g)
{
    DM_ALIGN(64) char bbuf[DM_MAX_KC * DM_MAX_NR * sizeof(double)];
    const size_t sz = im->size;
    const int mr = im->mr, nr = im->nr;
    const int64_t a_rs = g->transa ? 1 : g->lda, a_cs = g->transa ? g->lda : 1;
    const int64_t b_rs = g->transb ? g->ldb : 1, b_cs = g->transb ? 1 : g->ldb;  /* as (j, p) */
    int64_t pc, jr, ir;
    for (pc = 0; pc < g->k; pc += im->kc) {
        const int64_t kc = g->k - pc < im->kc ? g->k - pc : im->kc;
        dm_epi e;
        e.alpha = g->alpha;
        e.beta = g->beta;
        e.first = pc == 0;
        e.last = pc + kc == g->k;
        e.act = g->act;
        for (jr = 0; jr < g->n; jr += nr) {
            const int w = g->n - jr < nr ? (int)(g->n - jr) : nr;
            const char *bp;
            int64_t bstride;
            if (!g->transb && w == nr && (kc <= 64 || g->m <= 2 * mr)) {
                /* in place: rows of B are contiguous, and few enough to share the L1 sets
                 * (the NR-wide column strip of kc rows, ldb apart) or used only once or twice */
                bp = g->B + (pc * g->ldb + jr) * sz;
                bstride = g->ldb;
            } else {
                im->pack(g->B + (jr * b_rs + pc * b_cs) * sz, b_rs, b_cs, w, kc, nr, bbuf, 0, 1);
                bp = bbuf;
                bstride = nr;
            }
            e.bias = g->bias ? g->bias + jr * sz : NULL;
            for (ir = 0; ir < g->m; ir += mr) {
                const int h = g->m - ir < mr ? (int)(g->m - ir) : mr;
                im->kern(kc, g->A + (ir * a_rs + pc * a_cs) * sz, a_rs, a_cs, bp, bstride,
                         g->C + (ir * g->ldc + jr) * sz, g->ldc, h, w, &e);
            }
        }
    }
}

/* The five loops, on the calling thread (gemm_any shares C among the threads first). */
static void gemm_blocked(const dm_impl *im, const dm_args *g)
{
    const size_t sz = im->size;
    const int mr = im->mr, nr = im->nr;
    const int64_t KC = im->kc;
    const int64_t MC = g->m < im->mc ? (g->m + mr - 1) / mr * mr : im->mc;
    const int64_t NC = g->n < im->nc ? (g->n + nr - 1) / nr * nr : im->nc;
    const int64_t kcmax = g->k < KC ? g->k : KC;
    const int64_t a_rs = g->transa ? 1 : g->lda, a_cs = g->transa ? g->lda : 1;
    const int64_t b_rs = g->transb ? g->ldb : 1, b_cs = g->transb ? 1 : g->ldb;  /* as (j, p) */
    /* A with contiguous rows is read in place: each micro-panel is 6 row streams, each
     * element used NR times from L1; on Zen 3 this beat packing A by 3-10 % (512², 1024²)
     * since the block stays in L2 anyway. A transposed (columns contiguous) is packed: read in
     * place, its kc rows ldc apart would fight over a few L1 sets. */
    const int pack_a = g->transa;
    int64_t jc, pc, ic, jr, ir;
    void *to_free;
    char *bufb = (char *)buf_get((size_t)((MC + NC) * kcmax + 64) * sz, &to_free);
    char *bufa;
    if (!bufb) {  /* out of memory: the small path needs no heap */
        gemm_small(im, g);
        return;
    }
    bufa = bufb + (size_t)(NC * kcmax) * sz;
    bufa = (char *)(((uintptr_t)bufa + 63) & ~(uintptr_t)63);

    for (jc = 0; jc < g->n; jc += NC) {
        const int64_t nc = g->n - jc < NC ? g->n - jc : NC;
        const int64_t njr = (nc + nr - 1) / nr;
        for (pc = 0; pc < g->k; pc += KC) {
            const int64_t kc = g->k - pc < KC ? g->k - pc : KC;
            dm_epi e;
            e.alpha = g->alpha;
            e.beta = g->beta;
            e.first = pc == 0;
            e.last = pc + kc == g->k;
            e.act = g->act;
            /* B block kc×nc -> NR-column panels (L3) */
            im->pack(g->B + (jc * b_rs + pc * b_cs) * sz, b_rs, b_cs, nc, kc, nr, bufb, 0, njr);
            for (ic = 0; ic < g->m; ic += MC) {
                const int64_t mc = g->m - ic < MC ? g->m - ic : MC;
                const int64_t nir = (mc + mr - 1) / mr;
                /* A block mc×kc -> MR-row panels (L2), when its rows are not contiguous */
                if (pack_a)
                    im->pack(g->A + (ic * a_rs + pc * a_cs) * sz, a_rs, a_cs, mc, kc, mr, bufa, 0,
                         nir);
                for (jr = 0; jr < njr; jr++) {  /* one B micro-panel (L1) ... */
                    const int64_t j0 = jc + jr * nr;
                    const int w = g->n - j0 < nr ? (int)(g->n - j0) : nr;
                    e.bias = g->bias ? g->bias + j0 * sz : NULL;
                    for (ir = 0; ir < nir; ir++) {  /* ... against every A micro-panel */
                        const int64_t i0 = ic + ir * mr;
                        const int h = g->m - i0 < mr ? (int)(g->m - i0) : mr;
                        if (pack_a)
                            im->kern(kc, bufa + (size_t)(ir * mr * kc) * sz, 1, mr,
                                     bufb + (size_t)(jr * nr * kc) * sz, nr,
                                     g->C + (i0 * g->ldc + j0) * sz, g->ldc, h, w, &e);
                        else
                            im->kern(kc, g->A + (i0 * a_rs + pc * a_cs) * sz, a_rs, a_cs,
                                 bufb + (size_t)(jr * nr * kc) * sz, nr,
                                 g->C + (i0 * g->ldc + j0) * sz, g->ldc, h, w, &e);
                    }
                }
            }
        }
    }
    free(to_free);
}

/* One thread's product: the small path or the five loops. Both compute every element of C
 * with the same operations in the same order, so the choice never changes a bit. */
static void gemm_seq(const dm_impl *im, const dm_args *g)
{
    const int64_t kc = g->k < im->kc ? g->k : im->kc;
    if ((double)g->m * (double)g->n * (double)g->k <= DM_GEMM_SMALL || g->n <= 2 * im->nr ||
        ((!g->transa || kc <= 64) &&
         (double)g->m * (double)kc * (double)im->size <= DM_GEMM_SMALL_A_BYTES))
        gemm_small(im, g);
    else gemm_blocked(im, g);
}

/* Threads: C is cut into a pr×pc grid of blocks (on MR/NR panel boundaries), about one per
 * thread, each computed by gemm_seq with its own packing buffers. No barrier, no shared buffer: a
 * thread delayed by a busy machine delays no one else until the join. A thread of a column
 * of the grid packs all of its rows of A, one of a row all of its columns of B: a little
 * more packing than a shared B panel, paid back by never synchronising.
 * The grid minimises the largest block, preferring to split columns (n) on ties. */
static void gemm_threads(const dm_impl *im, const dm_args *g, int nt)
{
    const int64_t pm = (g->m + im->mr - 1) / im->mr, pn = (g->n + im->nr - 1) / im->nr;
    int64_t best = -1;
    int pr = 1, pcols = nt, d;
    for (d = 1; d <= nt; d++) {
        if (nt % d) continue;
        {
            const int64_t w = ((pm + d - 1) / d) * ((pn + nt / d - 1) / (nt / d));
            if (best < 0 || w < best) {
                best = w;
                pr = d;
                pcols = nt / d;
            }
        }
    }
    /* Twice as many column blocks as threads, handed out dynamically: on a busy machine a
     * thread that lost its core leaves its second block to the others. Which thread computes
     * a block never changes its bits. */
    {
        const int split = pn >= 4 * pcols ? 2 : 1;
        const int nb = pr * pcols * split, nbc = pcols * split;
        int t;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
#endif
        for (t = 0; t < nb; t++) {
            int64_t i0, i1, j0, j1;
            dm_args s = *g;
            i0 = pm * (t / nbc) / pr * im->mr;
            i1 = pm * (t / nbc + 1) / pr * im->mr;
            j0 = pn * (t % nbc) / nbc * im->nr;
            j1 = pn * (t % nbc + 1) / nbc * im->nr;
            if (i1 > g->m) i1 = g->m;
            if (j1 > g->n) j1 = g->n;
            if (i1 > i0 && j1 > j0) {
                s.m = i1 - i0;
                s.n = j1 - j0;
                s.A = g->A + i0 * (g->transa ? 1 : g->lda) * im->size;
                s.B = g->B + j0 * (g->transb ? g->ldb : 1) * im->size;
                s.C = g->C + (i0 * g->ldc + j0) * im->size;
                s.bias = g->bias ? g->bias + j0 * im->size : NULL;
                gemm_seq(im, &s);
            }
        }
    }
}

static int in_parallel(void)
{
#ifdef _OPENMP
    return omp_in_parallel();
#else
    return 0;
#endif
}

static void gemm_any(const dm_impl *im, dm_args *g)
{
    double mnk;  /* in double: m*n*k may not fit in int64 */
    int nthreads;
    if (g->m <= 0 || g->n <= 0) return;
    if (g->k <= 0) {
        gemm_no_k(im, g);
        return;
    }
    mnk = (double)g->m * (double)g->n * (double)g->k;
    nthreads = in_parallel() || mnk < DM_GEMM_PARALLEL_MIN ? 1 : dm_get_num_threads();
    if (nthreads > 1) gemm_threads(im, g, nthreads);
    else gemm_seq(im, g);
}

void dm_sgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
              float *C, int64_t ldc, const float *bias, int act)
{
    dm_args g = {transa, transb, m, n, k, alpha, beta, (const char *)A, (const char *)B,
                 lda, ldb, ldc, (char *)C, (const char *)bias, act};
    gemm_any(impl_for(sizeof(float)), &g);
}

void dm_dgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, double alpha,
              const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
              double *C, int64_t ldc, const double *bias, int act)
{
    dm_args g = {transa, transb, m, n, k, alpha, beta, (const char *)A, (const char *)B,
                 lda, ldb, ldc, (char *)C, (const char *)bias, act};
    gemm_any(impl_for(sizeof(double)), &g);
}

/* ---- batched products ------------------------------------------------------------------------
 * C[b] = alpha·op(A[b])·op(B[b]) + beta·C[b] for every index b of a batch of shape
 * batch_shape[0..nbd-1] (C order); A[b] starts at A + sum_d idx_d * a_strides[d] (elements;
 * 0 for a broadcast dimension), likewise B; C[b] at C + b * c_stride.
 * Small matrices: the batch is shared among the threads, each product on one thread; large
 * ones: one product after the other, each on the whole team. Either way each element of C is
 * computed by one thread in a fixed order.
 */
#define DM_BATCHED(NAME, T, GEMM)                                                           \
void NAME(int transa, int transb, int nbd, const int64_t *batch_shape,                     \
          const int64_t *a_strides, const int64_t *b_strides, int64_t m, int64_t n,        \
          int64_t k, T alpha, const T *A, int64_t lda, const T *B, int64_t ldb, T beta,    \
          T *C, int64_t ldc, int64_t c_stride, const T *bias, int act)                     \
{                                                                                           \
    int64_t nb = 1, b;                                                                      \
    int d, nthreads;                                                                        \
    for (d = 0; d < nbd; d++) nb *= batch_shape[d];                                         \
    if (nb <= 0 || m <= 0 || n <= 0) return;                                                \
    nthreads = in_parallel() || (double)m * n * k >= DM_GEMM_PARALLEL_MIN ||                \
               (double)nb * m * n * k < DM_GEMM_PARALLEL_MIN ? 1 : dm_get_num_threads();    \
    (void)nthreads;                                                                         \
    DM_OMP_BATCH                                                                            \
    for (b = 0; b < nb; b++) {                                                              \
        int64_t r = b, oa = 0, ob = 0;                                                      \
        for (d = nbd - 1; d >= 0; d--) {                                                    \
            int64_t i = r % batch_shape[d];                                                 \
            r /= batch_shape[d];                                                            \
            oa += i * a_strides[d];                                                         \
            ob += i * b_strides[d];                                                         \
        }                                                                                   \
        GEMM(transa, transb, m, n, k, alpha, A + oa, lda, B + ob, ldb, beta, C + b * c_stride, \
             ldc, bias, act);                                                               \
    }                                                                                       \
}
#ifdef _OPENMP
#define DM_OMP_BATCH _Pragma("omp parallel for schedule(static) private(d) num_threads(nthreads) if (nthreads > 1)")
#else
#define DM_OMP_BATCH
#endif
DM_BATCHED(dm_sgemm_batched, float, dm_sgemm)
DM_BATCHED(dm_dgemm_batched, double, dm_dgemm)

/* ---- machine peak ---------------------------------------------------------------------------
 * GFLOP/s of independent FMA chains on every thread for about `seconds`: the ceiling a GEMM
 * kernel can reach on this machine (2 flops per lane per FMA). */
#ifdef DM_GEMM_AVX2
DM_AVX2 static double fma_chains_avx2(int64_t iters)
{
    __m256 x0 = _mm256_set1_ps(1.0f), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0,
           x7 = x0, x8 = x0, x9 = x0, x10 = x0, x11 = x0;
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    int64_t i;
    float out[8];
    for (i = 0; i < iters; i++) {
        x0 = _mm256_fmadd_ps(x0, m, a); x1 = _mm256_fmadd_ps(x1, m, a);
        x2 = _mm256_fmadd_ps(x2, m, a); x3 = _mm256_fmadd_ps(x3, m, a);
        x4 = _mm256_fmadd_ps(x4, m, a); x5 = _mm256_fmadd_ps(x5, m, a);
        x6 = _mm256_fmadd_ps(x6, m, a); x7 = _mm256_fmadd_ps(x7, m, a);
        x8 = _mm256_fmadd_ps(x8, m, a); x9 = _mm256_fmadd_ps(x9, m, a);
        x10 = _mm256_fmadd_ps(x10, m, a); x11 = _mm256_fmadd_ps(x11, m, a);
    }
    x0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                       _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7)));
    x0 = _mm256_add_ps(x0, _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11)));
    _mm256_storeu_ps(out, x0);
    return (double)out[0];
}
#endif

static double fma_chains_portable(int64_t iters)
{
    float x[12][8];
    int64_t i;
    int r, j;
    double s = 0;
    for (r = 0; r < 12; r++) for (j = 0; j < 8; j++) x[r][j] = 1.0f;
    for (i = 0; i < iters; i++)
        for (r = 0; r < 12; r++) for (j = 0; j < 8; j++) x[r][j] = x[r][j] * 0.999999f + 1e-7f;
    for (r = 0; r < 12; r++) for (j = 0; j < 8; j++) s += x[r][j];
    return s;
}

#ifdef _OPENMP
#define DM_WTIME() omp_get_wtime()
#else
#include <time.h>
#define DM_WTIME() ((double)clock() / CLOCKS_PER_SEC)
#endif

double dm_fma_peak_gflops(double seconds)
{
    const int64_t iters = 1 << 20;  /* 12 * 8 * 2 * 2^20 flops per call per thread */
    int nthreads = dm_get_num_threads();
    double flops = 0, t0, t1, sink = 0;
    int use_avx2 = gemm_path() == 1;
    t0 = DM_WTIME();
    do {
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads) reduction(+ : sink)
#endif
        {
#ifdef DM_GEMM_AVX2
            if (use_avx2) sink += fma_chains_avx2(iters);
            else
#endif
                sink += fma_chains_portable(iters);
        }
#ifndef _OPENMP
        nthreads = 1;
#endif
        flops += (double)nthreads * iters * 12 * 8 * 2;
        t1 = DM_WTIME();
    } while (t1 - t0 < seconds);
    (void)use_avx2;
    return sink == 12345.0 ? 0 : flops / (t1 - t0) * 1e-9;
}
