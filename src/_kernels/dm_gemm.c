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
 *   (the AVX-512 kernel swaps the two inner loops: its A micro-panel stays in L1 while the
 *   32-wide B micro-panels stream from L2, dm_impl.a_outer: 1024³ 140 -> 147 GF/s)
 *
 * Each element of C is summed over k in one fixed order (p = 0..k-1, in KC blocks, each block
 * added to C in turn), by one thread: the threads share C (gemm_threads), never the k sum.
 * So results are bitwise identical for any thread count.
 *
 * Transposes are absorbed by the packing routines (strided reads, no transposed copy); an A
 * with contiguous rows is read in place by the micro-kernel (six row streams, twelve on AVX-512).
 * The epilogue (alpha, beta, bias per column, activation) is applied as the micro-tile is
 * written, on the last KC block, while the tile is still in L1: a dense layer's act(X·W + b)
 * costs one pass over C.
 *
 * Small or narrow products (see DM_GEMM_SMALL) skip the packing of A: the micro-kernel reads A
 * in place through its strides, B is read in place or packed one panel at a time into a buffer
 * on the stack. Small ones also skip the thread team (DM_GEMM_PARALLEL_MIN). In float32 on
 * AVX2 they run kernels of their own, sized for skinny shapes (n or m up to 16, k <= 8: see
 * "float32 small and skinny products" below).
 *
 * Threads: OpenMP only (dm_get_num_threads()). This file never calls a BLAS, so there is no
 * oversubscription with numpy's OpenBLAS from here; a caller mixing both should still keep
 * the two pools from spinning against each other (bench/README.md).
 *
 * Code paths, chosen once at run time from dm_cpu_features() (the CPU, and for AVX-512 the OS's
 * zmm state, XCR0): an AVX-512F micro-kernel for float32 (12×32, kern_s_avx512) on CPUs that
 * have it, used by the blocked and the small path except for skinny products (n <= 16, m <= 11
 * or k <= 8 per thread: 9..16 columns and m >= 12 on AVX-512 tiles of 12..24 rows × 16, one
 * zmm a row, the others on the AVX2 small kernels below, which waste fewer lanes); an AVX2+FMA
 * micro-kernel (6×16 float32, 6×8 float64: float64 stays on it everywhere); and a portable C
 * micro-kernel (4×8 float32, 4×4 float64) written so that the compiler vectorises it for the
 * baseline ISA (SSE2 on x86-64, NEON on arm64). DEEPMATH_GEMM_KERNEL=avx2 or =portable forces
 * one of the others (tests). The AVX-512 and AVX2 paths give the same bits: same KC, the same
 * FMA chain per element, the same epilogue arithmetic (test_avx512_bits_like_avx2).
 * The AVX-512 path is compiled only with GCC/clang on x86-64 (target attributes, no
 * -march), like the AVX2 one; elsewhere (MSVC, arm64) neither exists.
 *
 * Measured on an Intel Xeon (Sapphire Rapids-class, AVX-512), 2 cores, shared with other jobs
 * (the second core was mostly busy: 2-thread timings were no better than 1-thread ones, so these
 * are 1 thread; medians of 5 alternated runs of 200 calls of dm_sgemm from C, the AVX2 column
 * built from the branch point 4bff2b7): FMA peak 112 GF/s a core on ymm, 214 on zmm.
 *   ms (GF/s)                      AVX2 6×16         AVX-512 12×32
 *   768×128 · 128×384              0.813 (93)   ->   0.466 (162)   1.74×
 *   768×128 · 128×512              1.102 (91)   ->   0.627 (161)   1.76×
 *   768×512 · 512×128              1.033 (97)   ->   0.621 (162)   1.66×
 *   768×384 · (128×384)ᵀ           0.794 (95)   ->   0.459 (165)   1.73×
 *   (768×128)ᵀ · 768×384           0.908 (83)   ->   0.524 (144)   1.73×  A packed
 *   (768×512)ᵀ · 768×128           1.245 (81)   ->   0.740 (136)   1.68×
 *   256³ 0.331 -> 0.204, 512³ 2.99 -> 1.73, 1024³ 1.65× (99-150 GF/s, with the L3 shared),
 *   3136×27 · 27×32 (im2col conv) 0.072 -> 0.040; 32×784·784×8, 32×3136·3136×10, k = 3:
 *   unchanged (same kernels); no shape of a 60-shape random sweep slower beyond noise (5 %).
 * conv2d forward+backward (bench_conv) 16×16 64->64 34 -> 19 ms, mnist conv2 dx 4.5 -> 2.7 ms.
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
#define DM_GEMM_AVX512 1
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

/* AVX-512F float32: 12×32 tiles (kern_s_avx512), same KC; MC = 144 measured as good as 96..384
 * on the 2 MiB L2 of the Xeon */
#define DM_S5_MR 12
#define DM_S5_NR 32
#define DM_S5_MC 144
/* products (a thread's share) at most this narrow, or too short for one full 12-row tile, stay
 * off the 12×32 tiles, which waste lanes and rows there (measured: n = 16 and m <= 8 1.2-8×
 * faster on AVX2; m = 9..11 either way by 10-30 % depending on the transposes): those 9..16
 * wide with m >= 12 run on zmm tiles of one accumulator a row (gemm_small_s_avx512_n16), the
 * others on the AVX2 small and skinny kernels (gemm_small_s_avx2) */
#define DM_S5_SKINNY_N 16
#define DM_S5_SKINNY_M 11

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

#define DM_MAX_NR DM_S5_NR
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

#ifdef DM_GEMM_AVX512
#define DM_AVX512 __attribute__((target("avx512f,avx2,fma")))

/* One row of 16 lanes (those of m) through the epilogue: epi_row8_s's arithmetic, op for op. */
DM_AVX512 static inline __attribute__((always_inline)) __m512
epi_row16_s(__m512 acc, const float *c, const float *bias, __mmask16 m, __m512 alpha, __m512 beta,
            int first, int last, int relu, int beta0)
{
    __m512 v = _mm512_mul_ps(alpha, acc);
    if (!first) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, c), v);
    else if (!beta0) v = _mm512_add_ps(v, _mm512_mul_ps(beta, _mm512_maskz_loadu_ps(m, c)));
    if (last) {
        if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias));
        if (relu) {  /* x <= 0 ? 0 : x, NaN passes through */
            const __m512 z = _mm512_setzero_ps();
            v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, z, _CMP_LE_OQ), z);
        }
    }
    return v;
}

/* 12×32 float32 on AVX-512F: 24 zmm accumulators, 2 zmm for the B row, 1 for the broadcast A
 * element (27 of the 32 zmm). Chosen by measurement on the Xeon (2 FMA-512 units, 214 GF/s a
 * core): in L1, 8×32 (16 accumulators), 12×32 and 14×32 (28) all ran at ~180-186 GF/s, the
 * 14-row tile spilling when A is read in place, and in the 768-row products 8×32 was no faster;
 * 12 rows split into four groups of three, each group addressed from one pointer (below), so
 * the in-place loop needs no spills; 14 rows would not.
 * Every element of C is the same FMA chain as in kern_s_avx2 (p = 0..kc-1 from 0, one lane
 * each) and goes through the same epilogue arithmetic, op for op: the bits do not depend on
 * which kernel, of which width, computed it (test_avx512_bits_like_avx2). */
DM_AVX512 static void kern_s_avx512(int64_t kc, const void *va, int64_t a_rs, int64_t a_cs,
                                    const void *vb, int64_t b_rs, void *vc, int64_t ldc, int mr,
                                    int nr, const dm_epi *e)
{
    const float *a = (const float *)va, *b = (const float *)vb;
    float *c = (float *)vc;
    __m512 acc[DM_S5_MR][2];
    int64_t p;
    int i;
    _Pragma("GCC unroll 16") for (i = 0; i < DM_S5_MR; i++) {
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        if (i < mr) {  /* the tile of C is needed after the loop: ask for it now */
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + i * ldc + 31), _MM_HINT_T0);
        }
    }
    if (mr == DM_S5_MR) {
        /* rows 3g..3g+2 at ag, ag + a_rs, ag + 2·a_rs: four pointers and one stride register
         * address the twelve rows, packed or in place (the ar[] loop below spills). Unrolled
         * by 2: 1-2 % faster. (Prefetching B 8-32 rows ahead measured no faster.) */
        const float *a0 = a, *a3 = a + 3 * a_rs, *a6 = a + 6 * a_rs, *a9 = a + 9 * a_rs;
#define DM_R5(i, ap)                                                                        \
        x = _mm512_set1_ps(ap);                                                             \
        acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);                                      \
        if (DM_WIDE5) acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
#define DM_LOOP5                                                                            \
        _Pragma("GCC unroll 2")                                                             \
        for (p = 0; p < kc; p++, a0 += a_cs, a3 += a_cs, a6 += a_cs, a9 += a_cs, b += b_rs) { \
            const __m512 b0 = _mm512_loadu_ps(b),                                           \
                         b1 = DM_WIDE5 ? _mm512_loadu_ps(b + 16) : b0;                      \
            __m512 x;                                                                       \
            DM_R5(0, a0[0]) DM_R5(1, a0[a_rs]) DM_R5(2, a0[2 * a_rs])                       \
            DM_R5(3, a3[0]) DM_R5(4, a3[a_rs]) DM_R5(5, a3[2 * a_rs])                       \
            DM_R5(6, a6[0]) DM_R5(7, a6[a_rs]) DM_R5(8, a6[2 * a_rs])                       \
            DM_R5(9, a9[0]) DM_R5(10, a9[a_rs]) DM_R5(11, a9[2 * a_rs])                     \
        }
        if (nr > 16) {
#define DM_WIDE5 1
            DM_LOOP5
#undef DM_WIDE5
        } else {  /* a narrow last panel (n = 33, 40, ...): the left half only */
#define DM_WIDE5 0
            DM_LOOP5
#undef DM_WIDE5
        }
#undef DM_LOOP5
#undef DM_R5
    } else {  /* an edge tile: rows mr.. read row mr-1 again */
        const float *ar[DM_S5_MR];
        int64_t q = 0;
        _Pragma("GCC unroll 16") for (i = 0; i < DM_S5_MR; i++)
            ar[i] = a + (i < mr ? i : mr - 1) * a_rs;
        for (p = 0; p < kc; p++, q += a_cs, b += b_rs) {
            const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
            _Pragma("GCC unroll 16") for (i = 0; i < DM_S5_MR; i++) {
                const __m512 x = _mm512_set1_ps(ar[i][q]);
                acc[i][0] = _mm512_fmadd_ps(x, b0, acc[i][0]);
                acc[i][1] = _mm512_fmadd_ps(x, b1, acc[i][1]);
            }
        }
    }
    {
        /* epi_row8_s's arithmetic on 16 lanes, the lanes past nr masked off (a full tile:
         * constant masks, plain loads and stores) */
        const __m512 alpha = _mm512_set1_ps((float)e->alpha), beta = _mm512_set1_ps((float)e->beta);
        const float *bias = (const float *)e->bias;
        const int first = e->first, last = e->last, relu = e->act == DM_ACT_RELU,
                  beta0 = e->beta == 0;
        const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1),
                        m1 = nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
#define DM_EPI5(M0, M1)                                                                     \
        _Pragma("GCC unroll 16") for (i = 0; i < DM_S5_MR; i++) {                           \
            if (i < mr) {                                                                   \
                float *ci = c + i * ldc;                                                    \
                _mm512_mask_storeu_ps(ci, M0, epi_row16_s(acc[i][0], ci, bias, M0, alpha, beta, \
                                                          first, last, relu, beta0));       \
                _mm512_mask_storeu_ps(ci + 16, M1,                                          \
                                      epi_row16_s(acc[i][1], ci + 16, bias ? bias + 16 : NULL, \
                                                  M1, alpha, beta, first, last, relu, beta0)); \
            }                                                                               \
        }
        if (mr == DM_S5_MR && nr == DM_S5_NR) {
            DM_EPI5(0xFFFF, 0xFFFF)
        } else {
            DM_EPI5(m0, m1)
        }
#undef DM_EPI5
        if (last && e->act != DM_ACT_NONE && !relu) {
            int j;
            for (i = 0; i < mr; i++)
                for (j = 0; j < nr; j++) c[i * ldc + j] = act_s(c[i * ldc + j], e->act);
        }
    }
}
#endif /* DM_GEMM_AVX512 */

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
#define DM_PACK_CONTIG(T, W)  /* full panels of W contiguous elements per p, W a constant */ \
        for (p = 0; p < depth; p++) {                                                       \
            const T *x = X + p * cs;                                                        \
            for (q = q0; q < qf; q++) {                                                     \
                memcpy(dst + q * (W) * depth + p * (W), x + q * (W), (W) * sizeof(T));      \
            }                                                                               \
        }
#define DM_PACK_FAST(NAME, T, GENERIC, NRW, MRW)                                            \
static void NAME(const void *vX, int64_t rs, int64_t cs, int64_t rows, int64_t depth, int w, \
                 void *vdst, int64_t q0, int64_t q1)                                        \
{                                                                                           \
    const T *X = (const T *)vX;                                                             \
    T *dst = (T *)vdst;                                                                     \
    int64_t q, p;                                                                           \
    const int64_t qf = rows < q1 * w ? q1 - 1 : q1;  /* full panels: q0..qf-1 */            \
    if ((w == NRW || w == MRW) && rs == 1 && qf > q0) {  /* B, or a transposed A */         \
        if (w == NRW) DM_PACK_CONTIG(T, NRW)                                                \
        else DM_PACK_CONTIG(T, MRW)                                                         \
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
DM_AVX2 DM_PACK_FAST(pack_s_fast, float, pack_s, DM_S_NR, DM_S_MR)
DM_AVX2 DM_PACK_FAST(pack_d_fast, double, pack_d, DM_D_NR, DM_D_MR)
#endif
#ifdef DM_GEMM_AVX512
DM_AVX512 DM_PACK_FAST(pack_s_fast512_rows, float, pack_s, DM_S5_NR, DM_S5_MR)
/* the same, and panels of a transposed B through register transposes (after sk_pack_b) */
DM_AVX512 static void pack_s_fast512(const void *vX, int64_t rs, int64_t cs, int64_t rows,
                                     int64_t depth, int w, void *vdst, int64_t q0, int64_t q1);
#endif

/* ---- one implementation: kernel, packer, tile and block sizes ----------------------------- */
typedef struct {
    dm_kern kern;
    dm_pack pack;
    int mr, nr, kc, mc, nc;
    size_t size;  /* sizeof the element */
    int a_outer;  /* gemm_blocked: the A micro-panel stays while the B micro-panels go by */
} dm_impl;

static const dm_impl impl_s_portable = {kern_s_portable, (dm_pack)pack_s, DM_SP_MR, DM_SP_NR,
                                        DM_S_KC, 128, DM_S_NC, sizeof(float), 0};
static const dm_impl impl_d_portable = {kern_d_portable, (dm_pack)pack_d, DM_DP_MR, DM_DP_NR,
                                        DM_D_KC, 64, DM_D_NC, sizeof(double), 0};
#ifdef DM_GEMM_AVX2
static const dm_impl impl_s_avx2 = {kern_s_avx2, pack_s_fast, DM_S_MR, DM_S_NR, DM_S_KC,
                                    DM_S_MC, DM_S_NC, sizeof(float), 0};
static const dm_impl impl_d_avx2 = {kern_d_avx2, pack_d_fast, DM_D_MR, DM_D_NR, DM_D_KC,
                                    DM_D_MC, DM_D_NC, sizeof(double), 0};
#endif
#ifdef DM_GEMM_AVX512
static const dm_impl impl_s_avx512 = {kern_s_avx512, pack_s_fast512, DM_S5_MR, DM_S5_NR, DM_S_KC,
                                      DM_S5_MC, DM_S_NC, sizeof(float), 1};
#endif

/* 0 portable, 1 AVX2+FMA, 2 AVX-512F (float32; float64 stays on AVX2); decided once */
static int dm_gemm_path = -1;

static int gemm_path(void)
{
    int p = dm_gemm_path;
    if (p < 0) {
        p = 0;
#ifdef DM_GEMM_AVX2
        {
            /* "portable" or "avx2": test that path on a machine that has a faster one */
            const char *force = getenv("DEEPMATH_GEMM_KERNEL");
            const unsigned f = dm_cpu_features(), avx2 = DM_CPU_AVX2 | DM_CPU_FMA;
            if ((f & avx2) == avx2 && !(force && strcmp(force, "portable") == 0)) {
                p = 1;
                if ((f & DM_CPU_AVX512F) && !(force && strcmp(force, "avx2") == 0)) p = 2;
            }
        }
#endif
        dm_gemm_path = p;  /* every thread computes the same value: a benign race */
    }
    return p;
}

const char *dm_gemm_kernel_name(void)
{
    static const char *const names[3] = {"portable", "avx2+fma", "avx512"};
    return names[gemm_path()];
}

static const dm_impl *impl_for(size_t size)
{
#ifdef DM_GEMM_AVX512
    if (gemm_path() == 2 && size == sizeof(float)) return &impl_s_avx512;
#endif
#ifdef DM_GEMM_AVX2
    if (gemm_path() >= 1) return size == sizeof(float) ? &impl_s_avx2 : &impl_d_avx2;
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
    int64_t n_full;  /* n of the whole product (a thread's block may be narrower) */
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

#ifdef DM_GEMM_AVX2
/* ---- float32 small and skinny products on AVX2+FMA -----------------------------------------
 * gemm_small's float32 path on AVX2: the dense layers of small training steps (x(32×784)·W
 * (784×8) + b, the gradients xᵀ·dZ and dZ·Wᵀ, 32×3136·3136×10), products with few rows, and
 * small squares. There kern_s_avx2's 6×16 tiles wasted half their lanes (n = 8) or most of
 * them (n = 1..4), computed 6 rows for a remainder of 2, paid a tile's set-up and epilogue
 * for 8 FMA when k = 8, packed panels used once and gathered a transposed B one float at a
 * time. Four paths, chosen in gemm_small_s_avx2:
 *
 *  1. k <= 8 (sk_smallk; dZ·Wᵀ has k = 8): for each 8 columns, B(0..k-1, j..j+7) is held in
 *     k registers and the rows of C are swept under it, four at a time: k broadcasts and k
 *     FMA per row and 8 columns, nothing else. 11.1 -> 5.7 µs on 32×8·8×784 (transb).
 *  2. A transposed, n <= 12, m >= 16 (sk_ttile; xᵀ·dZ, m = 784, n = 8, k = 32): computed the
 *     other way round: a tile is 24 rows of C × up to 4 columns, its accumulators vectors
 *     along i loaded straight from the contiguous rows of the stored A, times a broadcast
 *     element of B; the tile is turned round in registers (4×8 -> 8×4) as it is written.
 *     Broadcasting A instead ran at ~1.0 FMA/cycle, this at ~1.75 (3 loads + 4 broadcasts per
 *     12 FMA); with 16 columns or fewer than 16 rows the tiles of 4 do worse (measured).
 *  3. n <= 12, A not transposed, k large enough for n (the dot path below: x·W of a
 *     classifier head).
 *  4. Otherwise tiles of h rows × 8·nv columns, the rows of C cut into tiles of nearly equal
 *     height (32 rows: 6,6,5,5,5,5 rather than 6,6,6,6,6,2: enough independent FMA chains in
 *     every tile and no row computed twice): 8-wide tiles up to 8 rows when n <= 8, 16-wide up
 *     to 6 rows otherwise, and wider panels when m is small and B is read in place (1×64, 2×48,
 *     3×32, 4×24: up to 12 accumulators for one to four rows of C; 1×784·784×128 11.4 ->
 *     4.6 µs). A is read in place. B is read in place when its rows are contiguous (transb == 0)
 *     and either short (ldb <= 32: the strip stays in L1 without set conflicts), or used by
 *     few tiles (m <= 24), or the block shallow (kc <= 64); a last panel narrower than its
 *     tile is then loaded with a lane mask, never past the end of B (unless more than two
 *     tiles use it: then it is packed). Otherwise each panel is copied into a zero-padded
 *     buffer on the stack, a transposed one through 8×8 register transposes instead of a
 *     scalar gather.
 *
 * What limits these kernels on the development machine (Zen 4, AVX2 code): 2 FMA a cycle,
 * reached with >= 12 independent accumulators, and about as many loads (broadcasts
 * included) a cycle; a tile that needs one broadcast per FMA (8 columns, A not transposed)
 * tops out near 1.5 FMA/cycle, hence the dot path for narrow C.
 *
 * Paths 1, 2 and 4 sum every element of C exactly as the blocked path and kern_s_avx2: one
 * FMA chain from 0 over p in order within each KC block (fma(a, b, acc) == fma(b, a, acc)),
 * each block added to C with the same epilogue arithmetic (op for op, never contracted). So
 * which of them runs, on which tile, never changes a bit (test_skinny_paths_bitwise_like_
 * blocked_path). The dot path has its own fixed order, chosen from the whole product's shape
 * only (see there). Results stay bitwise identical for any thread count.
 */
#define DM_SK_MR1 8   /* tallest 8-wide tile: 8 accumulators (10 or 12 were not faster) */
#define DM_SK_MR2 6   /* tallest 16-wide tile: 12 accumulators (kern_s_avx2's 6×16) */
#define DM_SK_MAXMR 8  /* DM_SK_MR1 */
#define DM_SK_MAXNV 8  /* 1 row × 64 columns */
#define DM_SK_TN 12   /* transposed A, n <= this and m >= DM_SK_TM: sk_ttile */
#define DM_SK_TM 16
#define DM_SK_INPLACE_M 24  /* B in place (not packed) for m up to this (4 tiles of 6) */
#define DM_SK_INLINE DM_AVX2 static inline __attribute__((always_inline))

/* mask of the first `lanes` lanes (none if lanes <= 0, all if lanes >= 8) */
DM_SK_INLINE __m256i sk_mask(int lanes)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The epilogue's parameters in registers: read once a tile (through e, the compiler would
 * reload them after every store to C). */
typedef struct {
    __m256 alpha, beta;
    const float *bias;  /* at the tile's first column; NULL: none */
    int first, last, act, beta0;  /* beta0: first block with beta == 0, C only written */
} sk_ep;

DM_SK_INLINE sk_ep sk_ep_of(const dm_epi *e)
{
    sk_ep ep;
    ep.alpha = _mm256_set1_ps((float)e->alpha);
    ep.beta = _mm256_set1_ps((float)e->beta);
    ep.bias = (const float *)e->bias;
    ep.first = e->first;
    ep.last = e->last;
    ep.act = e->act;
    ep.beta0 = e->first && e->beta == 0;
    /* opaque from here on: keeps GCC from re-deriving the flags from e (a double compare
     * and branches per row) inside the loops */
    __asm__("" : "+r"(ep.first), "+r"(ep.last), "+r"(ep.act), "+r"(ep.beta0));
    return ep;
}

/* C[0..8) (lanes of m when !full) = epilogue(acc): epi_row8_s's arithmetic, op for op. */
DM_SK_INLINE void sk_store8(__m256 acc, float *c, const float *bias, const sk_ep *ep, int full,
                            __m256i m)
{
    __m256 v = _mm256_mul_ps(ep->alpha, acc);
    if (!ep->first) v = _mm256_add_ps(full ? _mm256_loadu_ps(c) : _mm256_maskload_ps(c, m), v);
    else if (!ep->beta0)
        v = _mm256_add_ps(v, _mm256_mul_ps(ep->beta, full ? _mm256_loadu_ps(c)
                                                          : _mm256_maskload_ps(c, m)));
    if (ep->last) {
        if (bias) v = _mm256_add_ps(v, full ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, m));
        if (ep->act == DM_ACT_RELU) {  /* x <= 0 ? 0 : x, NaN passes through */
            const __m256 z = _mm256_setzero_ps();
            v = _mm256_blendv_ps(v, z, _mm256_cmp_ps(v, z, _CMP_LE_OQ));
        }
    }
    if (full) _mm256_storeu_ps(c, v);
    else _mm256_maskstore_ps(c, m, v);
}

/* The same for 4 columns (xmm), lanes of m. */
DM_SK_INLINE void sk_store4(__m128 acc, float *c, const float *bias, const sk_ep *ep, int full,
                            __m128i m)
{
    __m128 v = _mm_mul_ps(_mm256_castps256_ps128(ep->alpha), acc);
    if (!ep->first) v = _mm_add_ps(full ? _mm_loadu_ps(c) : _mm_maskload_ps(c, m), v);
    else if (!ep->beta0)
        v = _mm_add_ps(v, _mm_mul_ps(_mm256_castps256_ps128(ep->beta),
                                     full ? _mm_loadu_ps(c) : _mm_maskload_ps(c, m)));
    if (ep->last) {
        if (bias) v = _mm_add_ps(v, full ? _mm_loadu_ps(bias) : _mm_maskload_ps(bias, m));
        if (ep->act == DM_ACT_RELU) {
            const __m128 z = _mm_setzero_ps();
            v = _mm_blendv_ps(v, z, _mm_cmp_ps(v, z, _CMP_LE_OQ));
        }
    }
    if (full) _mm_storeu_ps(c, v);
    else _mm_maskstore_ps(c, m, v);
}

/* Activations other than ReLU, on the h×w tile just stored (last KC block only). */
static void sk_act(float *c, int64_t ldc, int h, int w, int act)
{
    int i, j;
    for (i = 0; i < h; i++)
        for (j = 0; j < w; j++) c[i * ldc + j] = act_s(c[i * ldc + j], act);
}

#define DM_SK_UNROLL _Pragma("GCC unroll 16")

/* The MR×(8·NV) tile at c (MR, NV compile-time constants once inlined, MR·NV <= 12), nr
 * valid columns (8·(NV-1) < nr <= 8·NV), of which B has bw readable ones (bw < 8·NV: its last
 * vector is loaded with a mask). Whichever of the MR broadcasts or the NV rows of B are fewer
 * are held in registers through a step: at most 16 ymm live. */
DM_SK_INLINE void sk_tile(const int MR, const int NV, int64_t kc, const float *a, int64_t a_rs,
                          int64_t a_cs, const float *b, int64_t b_rs, int bw, float *c,
                          int64_t ldc, int nr, const dm_epi *e)
{
    __m256 acc[DM_SK_MAXMR][DM_SK_MAXNV];
    const float *ar[DM_SK_MAXMR];
    const __m256 z = _mm256_setzero_ps();
    const __m256i bm = sk_mask(bw - 8 * (NV - 1));
    int64_t p, q = 0;
    int r, v;
    DM_SK_UNROLL for (r = 0; r < MR; r++) {
        ar[r] = a + r * a_rs;
        DM_SK_UNROLL for (v = 0; v < NV; v++) acc[r][v] = z;
        /* no prefetch of the C tile (kern_s_avx2 has one): equal or faster without, from
         * 16³ (a fresh output array: 0.39 -> 0.36 µs a call) to 256³ */
    }
#define DM_SK_STEP(LOADLAST)                                                                \
    for (p = 0; p < kc; p++, q += a_cs, b += b_rs) {                                        \
        if (MR <= NV) {  /* the broadcasts held, each row of B loaded once */               \
            __m256 x[DM_SK_MAXMR];                                                          \
            DM_SK_UNROLL for (r = 0; r < MR; r++) x[r] = _mm256_broadcast_ss(ar[r] + q);    \
            DM_SK_UNROLL for (v = 0; v < NV; v++) {                                         \
                __m256 y = v < NV - 1 ? _mm256_loadu_ps(b + 8 * v) : LOADLAST;              \
                if (MR > 1) __asm__("" : "+x"(y)); /* one load, not one per FMA */          \
                DM_SK_UNROLL for (r = 0; r < MR; r++)                                       \
                    acc[r][v] = _mm256_fmadd_ps(x[r], y, acc[r][v]);                        \
            }                                                                               \
        } else {  /* the row of B held, each broadcast once */                              \
            __m256 y[DM_SK_MAXNV];                                                          \
            DM_SK_UNROLL for (v = 0; v < NV; v++)                                           \
                y[v] = v < NV - 1 ? _mm256_loadu_ps(b + 8 * v) : LOADLAST;                  \
            DM_SK_UNROLL for (r = 0; r < MR; r++) {                                         \
                const __m256 x = _mm256_broadcast_ss(ar[r] + q);                            \
                DM_SK_UNROLL for (v = 0; v < NV; v++)                                       \
                    acc[r][v] = _mm256_fmadd_ps(x, y[v], acc[r][v]);                        \
            }                                                                               \
        }                                                                                   \
    }
    if (bw >= 8 * NV) {
        DM_SK_STEP(_mm256_loadu_ps(b + 8 * (NV - 1)))
    } else {
        DM_SK_STEP(_mm256_maskload_ps(b + 8 * (NV - 1), bm))
    }
#undef DM_SK_STEP
    {
        const sk_ep ep = sk_ep_of(e);
        const int lv = nr - 8 * (NV - 1);  /* valid lanes of the last vector, 1..8 */
        const __m256i m = sk_mask(lv);
        DM_SK_UNROLL for (r = 0; r < MR; r++) {
            DM_SK_UNROLL for (v = 0; v < NV; v++)
                sk_store8(acc[r][v], c + r * ldc + 8 * v, ep.bias ? ep.bias + 8 * v : NULL, &ep,
                          v < NV - 1 || lv == 8, m);
        }
        if (ep.last && ep.act != DM_ACT_NONE && ep.act != DM_ACT_RELU) sk_act(c, ldc, MR, nr, ep.act);
    }
}

/* The tile of rows 0..h-1 (8·(VI-1) < h <= 8·VI) × columns 0..J-1 of C for a transposed A
 * (A(i, p) = a[p·lda + i]) and B(p, j) = b[p·b_ps + j·b_js]: acc[v][j] holds C(8v..8v+7, j),
 * summed like every other path; written through a 4×8 -> 8×4 register transpose. */
DM_SK_INLINE void sk_ttile(const int VI, const int J, int64_t kc, const float *a, int64_t lda,
                           const float *b, int64_t b_ps, int64_t b_js, float *c, int64_t ldc,
                           int h, int w, const dm_epi *e)
{
    __m256 acc[3][4];
    const __m256 z = _mm256_setzero_ps();
    const __m256i am = sk_mask(h - 8 * (VI - 1));
    int64_t p;
    int v, j;
    DM_SK_UNROLL for (v = 0; v < VI; v++) {
        DM_SK_UNROLL for (j = 0; j < 4; j++) acc[v][j] = z;
    }
#define DM_SK_TSTEP(LOADLAST)                                                               \
    for (p = 0; p < kc; p++, a += lda, b += b_ps) {                                         \
        __m256 x[3];                                                                        \
        DM_SK_UNROLL for (v = 0; v < VI; v++)                                               \
            x[v] = v < VI - 1 ? _mm256_loadu_ps(a + 8 * v) : LOADLAST;                      \
        DM_SK_UNROLL for (j = 0; j < J; j++) {                                              \
            const __m256 y = _mm256_broadcast_ss(b + j * b_js);                             \
            DM_SK_UNROLL for (v = 0; v < VI; v++) acc[v][j] = _mm256_fmadd_ps(x[v], y, acc[v][j]); \
        }                                                                                   \
    }
    if (h == 8 * VI) {
        DM_SK_TSTEP(_mm256_loadu_ps(a + 8 * (VI - 1)))
    } else {
        DM_SK_TSTEP(_mm256_maskload_ps(a + 8 * (VI - 1), am))
    }
#undef DM_SK_TSTEP
    {
        const sk_ep ep = sk_ep_of(e);
        const __m128i m = _mm256_castsi256_si128(sk_mask(w));
        DM_SK_UNROLL for (v = 0; v < VI; v++) {
            /* rows 8v+l, l = 0..7: u[l & 3] holds row l in its low half (l < 4) or high half */
            const __m256 t0 = _mm256_unpacklo_ps(acc[v][0], acc[v][1]),
                         t1 = _mm256_unpackhi_ps(acc[v][0], acc[v][1]),
                         t2 = _mm256_unpacklo_ps(acc[v][2], acc[v][3]),
                         t3 = _mm256_unpackhi_ps(acc[v][2], acc[v][3]);
            __m256 u[4];
            int l;
            u[0] = _mm256_shuffle_ps(t0, t2, 0x44);
            u[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
            u[2] = _mm256_shuffle_ps(t1, t3, 0x44);
            u[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
            DM_SK_UNROLL for (l = 0; l < 8; l++) {
                const int i = 8 * v + l;
                if (v < VI - 1 || i < h) {
                    const __m128 row = l < 4 ? _mm256_castps256_ps128(u[l])
                                             : _mm256_extractf128_ps(u[l - 4], 1);
                    sk_store4(row, c + i * ldc, ep.bias, &ep, J == 4 && w == 4, m);
                }
            }
        }
        if (ep.last && ep.act != DM_ACT_NONE && ep.act != DM_ACT_RELU) sk_act(c, ldc, h, w, ep.act);
    }
}

typedef void (*dm_sk_kern)(int64_t kc, const float *a, int64_t a_rs, int64_t a_cs,
                           const float *b, int64_t b_rs, int bw, float *c, int64_t ldc, int nr,
                           const dm_epi *e);
typedef void (*dm_sk_tkern)(int64_t kc, const float *a, int64_t lda, const float *b,
                            int64_t b_ps, int64_t b_js, float *c, int64_t ldc, int h, int w,
                            const dm_epi *e);
#define DM_SK_INST(MR, NV)                                                                  \
DM_AVX2 static void sk_##MR##x##NV(int64_t kc, const float *a, int64_t a_rs, int64_t a_cs,  \
                                   const float *b, int64_t b_rs, int bw, float *c,          \
                                   int64_t ldc, int nr, const dm_epi *e)                    \
{                                                                                           \
    sk_tile(MR, NV, kc, a, a_rs, a_cs, b, b_rs, bw, c, ldc, nr, e);                         \
}
DM_SK_INST(1, 1) DM_SK_INST(1, 2) DM_SK_INST(1, 3) DM_SK_INST(1, 4)
DM_SK_INST(1, 5) DM_SK_INST(1, 6) DM_SK_INST(1, 7) DM_SK_INST(1, 8)
DM_SK_INST(2, 1) DM_SK_INST(2, 2) DM_SK_INST(2, 3) DM_SK_INST(2, 4)
DM_SK_INST(2, 5) DM_SK_INST(2, 6)
DM_SK_INST(3, 1) DM_SK_INST(3, 2) DM_SK_INST(3, 3) DM_SK_INST(3, 4)
DM_SK_INST(4, 1) DM_SK_INST(4, 2) DM_SK_INST(4, 3)
DM_SK_INST(5, 1) DM_SK_INST(5, 2) DM_SK_INST(6, 1) DM_SK_INST(6, 2)
DM_SK_INST(7, 1) DM_SK_INST(8, 1)
#undef DM_SK_INST
/* sk_kerns[MR-1][NV-1]: the tiles the driver can ask for (NV <= sk_nv_of[MR]) */
static const dm_sk_kern sk_kerns[DM_SK_MAXMR][DM_SK_MAXNV] = {
    {sk_1x1, sk_1x2, sk_1x3, sk_1x4, sk_1x5, sk_1x6, sk_1x7, sk_1x8},
    {sk_2x1, sk_2x2, sk_2x3, sk_2x4, sk_2x5, sk_2x6, NULL, NULL},
    {sk_3x1, sk_3x2, sk_3x3, sk_3x4, NULL, NULL, NULL, NULL},
    {sk_4x1, sk_4x2, sk_4x3, NULL, NULL, NULL, NULL, NULL},
    {sk_5x1, sk_5x2, NULL, NULL, NULL, NULL, NULL, NULL},
    {sk_6x1, sk_6x2, NULL, NULL, NULL, NULL, NULL, NULL},
    {sk_7x1, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    {sk_8x1, NULL, NULL, NULL, NULL, NULL, NULL, NULL}};
/* the widest panel (in ymm) for tiles of h rows: at most 12 accumulators and 16 ymm in all;
 * 1×64 since a row of B is used once anyway; 2×32 rather than 2×48, which GCC compiles with
 * every row of B loaded twice (measured slower) */
static const int sk_nv_of[DM_SK_MAXMR + 1] = {0, 8, 6, 4, 3, 2, 2, 1, 1};

#define DM_SK_TINST(VI, J)                                                                  \
DM_AVX2 static void skt_##VI##x##J(int64_t kc, const float *a, int64_t lda, const float *b, \
                                   int64_t b_ps, int64_t b_js, float *c, int64_t ldc, int h,\
                                   int w, const dm_epi *e)                                  \
{                                                                                           \
    sk_ttile(VI, J, kc, a, lda, b, b_ps, b_js, c, ldc, h, w, e);                            \
}
DM_SK_TINST(1, 1) DM_SK_TINST(1, 2) DM_SK_TINST(1, 3) DM_SK_TINST(1, 4)
DM_SK_TINST(2, 1) DM_SK_TINST(2, 2) DM_SK_TINST(2, 3) DM_SK_TINST(2, 4)
DM_SK_TINST(3, 1) DM_SK_TINST(3, 2) DM_SK_TINST(3, 3) DM_SK_TINST(3, 4)
#undef DM_SK_TINST
static const dm_sk_tkern sk_tkerns[3][4] = {{skt_1x1, skt_1x2, skt_1x3, skt_1x4},
                                            {skt_2x1, skt_2x2, skt_2x3, skt_2x4},
                                            {skt_3x1, skt_3x2, skt_3x3, skt_3x4}};

/* 8×8 transpose in registers */
DM_SK_INLINE void sk_transpose8(__m256 *r)
{
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]),
                 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]),
                 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]),
                 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
                 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
                 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
                 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
    r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
    r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
    r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
    r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
    r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
    r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
    r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* dst (kc × W, W = 8 or 16, zero past column w) = the panel B(p, j), p < kc, j < w: for a
 * transposed B, B(p, j) = X[j·ldb + p] (rows contiguous along p: 8×8 blocks transposed in
 * registers), else X[p·ldb + j]. Reads nothing outside the panel. */
DM_AVX2 static void sk_pack_b(const float *X, int trans, int64_t ldb, int64_t kc, int w, int W,
                              float *dst)
{
    int64_t p0;
    int j0, j;
    if (trans) {
        for (j0 = 0; j0 < W; j0 += 8)
            for (p0 = 0; p0 < kc; p0 += 8) {
                const int pl = kc - p0 < 8 ? (int)(kc - p0) : 8;
                const __m256i pm = sk_mask(pl);
                __m256 r[8];
                for (j = 0; j < 8; j++)
                    if (j0 + j >= w) r[j] = _mm256_setzero_ps();
                    else if (pl == 8) r[j] = _mm256_loadu_ps(X + (j0 + j) * ldb + p0);
                    else r[j] = _mm256_maskload_ps(X + (j0 + j) * ldb + p0, pm);
                sk_transpose8(r);
                for (j = 0; j < pl; j++) _mm256_storeu_ps(dst + (p0 + j) * W + j0, r[j]);
            }
    } else {
        const __m256i m0 = sk_mask(w), m1 = sk_mask(w - 8);
        if (w == W)
            for (p0 = 0; p0 < kc; p0++) {
                const float *x = X + p0 * ldb;
                _mm256_store_ps(dst + p0 * W, _mm256_loadu_ps(x));
                if (W > 8) _mm256_store_ps(dst + p0 * W + 8, _mm256_loadu_ps(x + 8));
            }
        else
            for (p0 = 0; p0 < kc; p0++) {
                const float *x = X + p0 * ldb;
                _mm256_store_ps(dst + p0 * W, _mm256_maskload_ps(x, m0));
                if (W > 8) _mm256_store_ps(dst + p0 * W + 8, _mm256_maskload_ps(x + 8, m1));
            }
    }
}

#ifdef DM_GEMM_AVX512
/* pack_s_fast512: B panels 32 wide whose 32 rows (j) are contiguous along p (a transposed B)
 * are turned round 8×8 in registers by sk_pack_b, and a last panel narrower than 32 is copied
 * with masked loads, not one float at a time (scalar, they cost 24×512·512×512 with transb and
 * 24×512·512×24 25 % and 10 % over the AVX2 small kernels, which pack this way). */
DM_AVX512 static void pack_s_fast512(const void *vX, int64_t rs, int64_t cs, int64_t rows,
                                     int64_t depth, int w, void *vdst, int64_t q0, int64_t q1)
{
    const float *X = (const float *)vX;
    float *dst = (float *)vdst;
    const int64_t qf = rows < q1 * w ? q1 - 1 : q1;  /* full panels: q0..qf-1 */
    int64_t q, p;
    if (w != DM_S5_NR || (rs != 1 && cs != 1)) {
        pack_s_fast512_rows(vX, rs, cs, rows, depth, w, vdst, q0, q1);
    } else if (rs != 1) {
        for (q = q0; q < q1; q++) {
            const int h = rows - q * w < w ? (int)(rows - q * w) : w;
            sk_pack_b(X + q * w * rs, 1, rs, depth, h, w, dst + q * w * depth);
        }
    } else {
        if (qf > q0) pack_s_fast512_rows(vX, rs, cs, rows, depth, w, vdst, q0, qf);
        if (qf < q1) {  /* the last panel, h < 32 columns, zero-padded */
            const int h = (int)(rows - qf * w);
            const __mmask16 m0 = h >= 16 ? 0xFFFF : (__mmask16)((1u << h) - 1),
                            m1 = h <= 16 ? 0 : (__mmask16)((1u << (h - 16)) - 1);
            const float *x = X + qf * w;
            float *d = dst + qf * w * depth;
            for (p = 0; p < depth; p++, x += cs, d += DM_S5_NR) {
                _mm512_storeu_ps(d, _mm512_maskz_loadu_ps(m0, x));
                _mm512_storeu_ps(d + 16, _mm512_maskz_loadu_ps(m1, x + 16));
            }
        }
    }
}
#endif

/* k <= 8 (one KC block), K = k: for each panel of 8 columns, B(0..K-1, panel) is held in K
 * registers (a transposed B is turned round by one 8×8 register transpose) and a block of
 * rows of C is swept under it, each row K broadcasts and K FMAs (one chain from 0, like every
 * other path) then the epilogue: no tile set-up, no packing buffer. dZ·Wᵀ (32×8·8×784) spent
 * half its time in the set-up and epilogue of 6×16 tiles of depth 8. */
#define DM_SK_KROWS 64  /* rows of a block: its A rows (K floats each) stay in L1 */
DM_SK_INLINE void sk_smallk(const int K, const dm_args *g)
{
    DM_ALIGN(32) float abuf[DM_SK_KROWS * 8];
    const float *A = (const float *)g->A, *B = (const float *)g->B;
    float *C = (float *)g->C;
    const int64_t m = g->m, n = g->n, lda = g->lda, ldb = g->ldb, ldc = g->ldc;
    const int transa = g->transa, transb = g->transb;
    const __m256i km = sk_mask(K);
    dm_epi e;
    int64_t i0, i, j0;
    e.alpha = g->alpha;
    e.beta = g->beta;
    e.first = e.last = 1;
    e.act = g->act;
    e.bias = g->bias;
    {
        const sk_ep ep = sk_ep_of(&e);
        for (i0 = 0; i0 < m; i0 += DM_SK_KROWS) {
            const int64_t i1 = m - i0 < DM_SK_KROWS ? m : i0 + DM_SK_KROWS;
            /* rows i0..i1-1 of op(A) copied into abuf, 8 floats apart (zero past K): the
             * loops below then address A with constant offsets from one pointer */
            if (transa) {  /* columns of the stored A, turned round 8×8 in registers */
                int64_t q;
                for (q = i0; q < i1; q += 8) {
                    const __m256i qm = sk_mask((int)(i1 - q));
                    __m256 r8[8];
                    int p;
                    DM_SK_UNROLL for (p = 0; p < 8; p++)
                        r8[p] = p < K ? _mm256_maskload_ps(A + p * lda + q, qm)
                                      : _mm256_setzero_ps();
                    sk_transpose8(r8);
                    DM_SK_UNROLL for (p = 0; p < 8; p++)
                        _mm256_store_ps(abuf + (q - i0 + p) * 8, r8[p]);
                }
            } else
                for (i = i0; i < i1; i++)
                    _mm256_store_ps(abuf + (i - i0) * 8, _mm256_maskload_ps(A + i * lda, km));
            for (j0 = 0; j0 < n; j0 += 8) {
                const int w = n - j0 < 8 ? (int)(n - j0) : 8;
                const __m256i wm = sk_mask(w);
                const float *bias = ep.bias ? ep.bias + j0 : NULL;
                const float *ai = abuf;
                float *ci = C + i0 * ldc + j0;
                __m256 bt[8];
                int p;
                if (transb) {  /* rows j0..j0+w-1 of the stored B, K floats each */
                    DM_SK_UNROLL for (p = 0; p < 8; p++)
                        bt[p] = p < w ? _mm256_maskload_ps(B + (j0 + p) * ldb, km)
                                      : _mm256_setzero_ps();
                    sk_transpose8(bt);
                } else {
                    DM_SK_UNROLL for (p = 0; p < K; p++)
                        bt[p] = w == 8 ? _mm256_loadu_ps(B + p * ldb + j0)
                                       : _mm256_maskload_ps(B + p * ldb + j0, wm);
                }
                /* four rows at a time: four independent chains side by side */
                for (i = i0; i + 4 <= i1; i += 4, ai += 32, ci += 4 * ldc) {
                    __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
                    DM_SK_UNROLL for (p = 0; p < K; p++) {
                        c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(ai + p), bt[p], c0);
                        c1 = _mm256_fmadd_ps(_mm256_broadcast_ss(ai + 8 + p), bt[p], c1);
                        c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(ai + 16 + p), bt[p], c2);
                        c3 = _mm256_fmadd_ps(_mm256_broadcast_ss(ai + 24 + p), bt[p], c3);
                    }
                    sk_store8(c0, ci, bias, &ep, w == 8, wm);
                    sk_store8(c1, ci + ldc, bias, &ep, w == 8, wm);
                    sk_store8(c2, ci + 2 * ldc, bias, &ep, w == 8, wm);
                    sk_store8(c3, ci + 3 * ldc, bias, &ep, w == 8, wm);
                }
                for (; i < i1; i++, ai += 8, ci += ldc) {
                    __m256 acc = _mm256_setzero_ps();
                    DM_SK_UNROLL for (p = 0; p < K; p++)
                        acc = _mm256_fmadd_ps(_mm256_broadcast_ss(ai + p), bt[p], acc);
                    sk_store8(acc, ci, bias, &ep, w == 8, wm);
                }
                if (ep.act != DM_ACT_NONE && ep.act != DM_ACT_RELU)
                    sk_act(C + i0 * ldc + j0, ldc, (int)(i1 - i0), w, ep.act);
            }
        }
    }
}
#define DM_SK_KINST(K) DM_AVX2 static void sk_smallk##K(const dm_args *g) { sk_smallk(K, g); }
DM_SK_KINST(1) DM_SK_KINST(2) DM_SK_KINST(3) DM_SK_KINST(4)
DM_SK_KINST(5) DM_SK_KINST(6) DM_SK_KINST(7) DM_SK_KINST(8)
#undef DM_SK_KINST
static void (*const sk_smallks[8])(const dm_args *) = {sk_smallk1, sk_smallk2, sk_smallk3,
                                                       sk_smallk4, sk_smallk5, sk_smallk6,
                                                       sk_smallk7, sk_smallk8};

static dm_epi sk_epi_block(const dm_args *g, int64_t pc, int64_t kc)
{
    dm_epi e;
    e.alpha = g->alpha;
    e.beta = g->beta;
    e.first = pc == 0;
    e.last = pc + kc == g->k;
    e.act = g->act;
    e.bias = NULL;
    return e;
}

/* A transposed, n <= DM_SK_TN: tiles of 24 rows (the last one shorter) × the columns cut into
 * panels of at most 4 (8 -> 4,4; 10 -> 4,3,3), the panels of a row strip one after the other
 * while its A strip (kc × 24 floats) sits in L1. */
DM_AVX2 static void gemm_small_s_avx2_t(const dm_args *g)
{
    const float *A = (const float *)g->A, *B = (const float *)g->B;
    float *C = (float *)g->C;
    const int64_t b_ps = g->transb ? 1 : g->ldb, b_js = g->transb ? g->ldb : 1;
    const int np = (int)((g->n + 3) / 4), wbase = (int)(g->n / np), wextra = (int)(g->n % np);
    int64_t pc, i0;
    for (pc = 0; pc < g->k; pc += DM_S_KC) {
        const int64_t kc = g->k - pc < DM_S_KC ? g->k - pc : DM_S_KC;
        dm_epi e = sk_epi_block(g, pc, kc);
        for (i0 = 0; i0 < g->m; i0 += 24) {
            const int h = g->m - i0 < 24 ? (int)(g->m - i0) : 24;
            int t, j0 = 0;
            for (t = 0; t < np; t++) {
                const int w = wbase + (t < wextra);
                e.bias = g->bias ? g->bias + j0 * sizeof(float) : NULL;
                sk_tkerns[(h + 7) / 8 - 1][w - 1](kc, A + pc * g->lda + i0, g->lda,
                                                  B + pc * b_ps + j0 * b_js, b_ps, b_js,
                                                  C + i0 * g->ldc + j0, g->ldc, h, w, &e);
                j0 += w;
            }
        }
    }
}

/* ---- dot form: narrow C, A rows contiguous ---------------------------------------------------
 * n_full <= DM_SK_DOTN, A not transposed, k >= sk_dot_kmin[n_full] (a classifier head's
 * forward x(32×784)·W(784×8), 32×3136·3136×10, matrix × vector). Each element of C is a dot
 * product of a row of A and a column of B, both contiguous once the block of B is transposed
 * (8×8 register transposes into a buffer on the stack; a transposed B already is: read in
 * place): acc[r][j] holds 8 partial sums (p ≡ l mod 8, one FMA chain each, in order, from 0),
 * reduced at the end of the block as ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7)) and added to C by
 * the usual epilogue. A tile is 3 rows × 4 columns (4×3, 6×2, 8×1 when n is 3, 2, 1): 12
 * accumulators, 7 plain loads and no broadcast for 12 FMA, ~2 FMA/cycle in L1 against ~1.5
 * for the 8-wide broadcast tiles, and no lane wasted whatever n is, where the broadcast
 * kernels compute 8 or 16 columns: 32×3136·3136×10 42 -> 25 µs, 64×784·784×1 11.7 -> 2.2 µs.
 * The blocks of k have nearly equal depths, each block of Bᵀ at most DM_SK_DBYTES (in L1
 * while all the row tiles go through it). This order differs from the other paths', so it is
 * chosen from the whole product's shape only (n_full, k, transa: never m, never a thread's
 * share, never a block of a wider product), and results stay bitwise identical for any
 * thread count (test_dot_path_reproducible_rows_and_threads). */
#define DM_SK_DOTN 12
/* the smallest k for which the dot path beats the broadcast tiles, by n (measured with m = 32
 * and 784 on the Zen machine: the hadd reduction and the transposed block of B are paid once
 * per tile and block; 8 columns are the broadcast tiles' best case) */
static const int sk_dot_kmin[DM_SK_DOTN + 1] = {0, 16, 16, 16, 16, 128, 128, 128, 256,
                                                64, 64, 64, 64};
#define DM_SK_DMAXR 8
#define DM_SK_DBYTES (16 << 10)  /* a block of Bᵀ; fixes the dot path's summation order */

/* One R×J tile (R·J <= 12, see sk_drows_of) of the dot form, C at c, J valid columns. */
DM_SK_INLINE void sk_dtile(const int R, const int J, int64_t kc, const float *a, int64_t lda,
                           const float *bt, int64_t ldbt, float *c, int64_t ldc,
                           const float *bias, const sk_ep *ep)
{
    __m256 acc[DM_SK_DMAXR][4];
    const int64_t kf = kc & ~(int64_t)7;
    const __m256 z = _mm256_setzero_ps();
    int64_t p;
    int r, j;
    DM_SK_UNROLL for (r = 0; r < R; r++) {
        DM_SK_UNROLL for (j = 0; j < 4; j++) acc[r][j] = z;
    }
#define DM_SK_DSTEP(LOAD)                                                                   \
    if (R <= J) {  /* the R rows of A held, each row of Bᵀ loaded once */                   \
        __m256 x[DM_SK_DMAXR];                                                              \
        DM_SK_UNROLL for (r = 0; r < R; r++) {                                              \
            x[r] = LOAD(a + r * lda + p);                                                   \
            if (J > 1) __asm__("" : "+x"(x[r])); /* one load, not one per FMA */            \
        }                                                                                   \
        DM_SK_UNROLL for (j = 0; j < J; j++) {                                              \
            const __m256 y = LOAD(bt + j * ldbt + p);                                       \
            DM_SK_UNROLL for (r = 0; r < R; r++) acc[r][j] = _mm256_fmadd_ps(x[r], y, acc[r][j]); \
        }                                                                                   \
    } else {  /* the J rows of Bᵀ held (4×3, 6×2, 8×1: R + R·J + 1 > 16 ymm) */             \
        __m256 y[4];                                                                        \
        DM_SK_UNROLL for (j = 0; j < J; j++) {                                              \
            y[j] = LOAD(bt + j * ldbt + p);                                                 \
            if (R > 1) __asm__("" : "+x"(y[j]));                                            \
        }                                                                                   \
        DM_SK_UNROLL for (r = 0; r < R; r++) {                                              \
            const __m256 x = LOAD(a + r * lda + p);                                         \
            DM_SK_UNROLL for (j = 0; j < J; j++) acc[r][j] = _mm256_fmadd_ps(x, y[j], acc[r][j]); \
        }                                                                                   \
    }
    for (p = 0; p < kf; p += 8) DM_SK_DSTEP(_mm256_loadu_ps)
    if (kf < kc) {  /* the last kc % 8 elements; the lanes past kc are 0·0 */
        const __m256i tm = sk_mask((int)(kc - kf));
#define DM_SK_TLOAD(ptr) _mm256_maskload_ps(ptr, tm)
        DM_SK_DSTEP(DM_SK_TLOAD)
#undef DM_SK_TLOAD
    }
#undef DM_SK_DSTEP
    {
        const __m128i m = _mm256_castsi256_si128(sk_mask(J));
        DM_SK_UNROLL for (r = 0; r < R; r++) {
            const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(acc[r][0], acc[r][1]),
                                            _mm256_hadd_ps(acc[r][2], acc[r][3]));
            sk_store4(_mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)),
                      c + r * ldc, bias, ep, J == 4, m);
        }
        if (ep->last && ep->act != DM_ACT_NONE && ep->act != DM_ACT_RELU) sk_act(c, ldc, R, J, ep->act);
    }
}

typedef void (*dm_sk_dkern)(int64_t kc, const float *a, int64_t lda, const float *bt,
                            int64_t ldbt, float *c, int64_t ldc, const float *bias,
                            const sk_ep *ep);
#define DM_SK_DINST(R, J)                                                                   \
DM_AVX2 static void skd_##R##x##J(int64_t kc, const float *a, int64_t lda, const float *bt, \
                                  int64_t ldbt, float *c, int64_t ldc, const float *bias,   \
                                  const sk_ep *ep)                                          \
{                                                                                           \
    sk_dtile(R, J, kc, a, lda, bt, ldbt, c, ldc, bias, ep);                                 \
}
DM_SK_DINST(1, 1) DM_SK_DINST(2, 1) DM_SK_DINST(3, 1) DM_SK_DINST(4, 1)
DM_SK_DINST(5, 1) DM_SK_DINST(6, 1) DM_SK_DINST(7, 1) DM_SK_DINST(8, 1)
DM_SK_DINST(1, 2) DM_SK_DINST(2, 2) DM_SK_DINST(3, 2) DM_SK_DINST(4, 2)
DM_SK_DINST(5, 2) DM_SK_DINST(6, 2)
DM_SK_DINST(1, 3) DM_SK_DINST(2, 3) DM_SK_DINST(3, 3) DM_SK_DINST(4, 3)
DM_SK_DINST(1, 4) DM_SK_DINST(2, 4) DM_SK_DINST(3, 4)
#undef DM_SK_DINST
/* sk_dkerns[R-1][J-1], R <= sk_drows_of[J]: 8 accumulators for one column (matrix × vector),
 * 12 otherwise */
static const int sk_drows_of[5] = {0, 8, 6, 4, 3};
static const dm_sk_dkern sk_dkerns[DM_SK_DMAXR][4] = {
    {skd_1x1, skd_1x2, skd_1x3, skd_1x4}, {skd_2x1, skd_2x2, skd_2x3, skd_2x4},
    {skd_3x1, skd_3x2, skd_3x3, skd_3x4}, {skd_4x1, skd_4x2, skd_4x3, NULL},
    {skd_5x1, skd_5x2, NULL, NULL}, {skd_6x1, skd_6x2, NULL, NULL},
    {skd_7x1, NULL, NULL, NULL}, {skd_8x1, NULL, NULL, NULL}};

/* bt[j·ldbt + p] = B(pc + p, j) = X[p·ldb + j] for j < n, p < kc (ldbt: kc rounded up to 8,
 * the lanes p >= kc zero), through register transposes: 8×8 for 8 columns, 8×4 (two rows of
 * 4 in each ymm) for the last 4 or fewer. */
DM_AVX2 static void sk_pack_bt(const float *X, int64_t ldb, int64_t kc, int n, float *bt,
                               int64_t ldbt)
{
    int64_t p0;
    int j0 = 0, j;
    if (n == 1 && ldb == 1) {  /* a contiguous column: copied as it is */
        memcpy(bt, X, (size_t)kc * sizeof(float));
        memset(bt + kc, 0, (size_t)(ldbt - kc) * sizeof(float));
        return;
    }
    for (; n - j0 > 4; j0 += 8) {
        const __m256i jm = sk_mask(n - j0);
        for (p0 = 0; p0 < kc; p0 += 8) {
            __m256 r8[8];
            if (n - j0 >= 8 && p0 + 8 <= kc) {
                DM_SK_UNROLL for (j = 0; j < 8; j++) r8[j] = _mm256_loadu_ps(X + (p0 + j) * ldb + j0);
            } else {
                DM_SK_UNROLL for (j = 0; j < 8; j++)
                    r8[j] = p0 + j < kc ? _mm256_maskload_ps(X + (p0 + j) * ldb + j0, jm)
                                        : _mm256_setzero_ps();
            }
            sk_transpose8(r8);
            for (j = 0; j < 8 && j0 + j < n; j++) _mm256_store_ps(bt + (j0 + j) * ldbt + p0, r8[j]);
        }
    }
    if (j0 < n) {  /* 1..4 columns left */
        const __m128i jm = _mm256_castsi256_si128(sk_mask(n - j0));
        for (p0 = 0; p0 < kc; p0 += 8) {
            __m128 x[8];
            __m256 y0, y1, y2, y3, t0, t1, t2, t3, col[4];
            DM_SK_UNROLL for (j = 0; j < 8; j++)
                x[j] = p0 + j < kc ? _mm_maskload_ps(X + (p0 + j) * ldb + j0, jm) : _mm_setzero_ps();
            y0 = _mm256_insertf128_ps(_mm256_castps128_ps256(x[0]), x[4], 1);
            y1 = _mm256_insertf128_ps(_mm256_castps128_ps256(x[1]), x[5], 1);
            y2 = _mm256_insertf128_ps(_mm256_castps128_ps256(x[2]), x[6], 1);
            y3 = _mm256_insertf128_ps(_mm256_castps128_ps256(x[3]), x[7], 1);
            t0 = _mm256_unpacklo_ps(y0, y1);
            t1 = _mm256_unpackhi_ps(y0, y1);
            t2 = _mm256_unpacklo_ps(y2, y3);
            t3 = _mm256_unpackhi_ps(y2, y3);
            col[0] = _mm256_shuffle_ps(t0, t2, 0x44);
            col[1] = _mm256_shuffle_ps(t0, t2, 0xEE);
            col[2] = _mm256_shuffle_ps(t1, t3, 0x44);
            col[3] = _mm256_shuffle_ps(t1, t3, 0xEE);
            for (j = 0; j < 4 && j0 + j < n; j++) _mm256_store_ps(bt + (j0 + j) * ldbt + p0, col[j]);
        }
    }
}

DM_AVX2 static void gemm_small_s_avx2_dot(const dm_args *g, float *buf)
{
    const float *A = (const float *)g->A, *B = (const float *)g->B;
    float *C = (float *)g->C;
    /* columns: panels of nearly equal width <= 4 (8 -> 4,4; 10 -> 4,3,3); rows: tiles of
     * nearly equal height <= sk_drows_of[widest panel] */
    const int n = (int)g->n, np = (n + 3) / 4, wbase = n / np, wextra = n % np;
    const int rmax = sk_drows_of[wbase + (wextra > 0)];
    const int64_t ntiles = (g->m + rmax - 1) / rmax, rbase = g->m / ntiles,
                  rextra = g->m % ntiles;
    /* KC blocks of nearly equal depth (a multiple of 8), the block of Bᵀ at most
     * DM_SK_DBYTES: it stays in L1 while every row tile goes through it. A function of the
     * product's shape only, like the choice of this path. */
    const int64_t kmax = DM_SK_DBYTES / (int64_t)sizeof(float) / g->n_full / 8 * 8;
    const int64_t nb = (g->k + kmax - 1) / kmax, kb = ((g->k + nb - 1) / nb + 7) / 8 * 8;
    int64_t pc, t, i0;
    for (pc = 0; pc < g->k; pc += kb) {
        const int64_t kc = g->k - pc < kb ? g->k - pc : kb;
        const float *bt;
        int64_t ldbt;
        const dm_epi e = sk_epi_block(g, pc, kc);
        const sk_ep ep = sk_ep_of(&e);
        if (g->transb) {  /* B(p, j) = B[j·ldb + p]: its rows are the columns of op(B) */
            bt = B + pc;
            ldbt = g->ldb;
        } else {
            ldbt = (kc + 7) & ~(int64_t)7;
            sk_pack_bt(B + pc * g->ldb, g->ldb, kc, n, buf, ldbt);
            bt = buf;
        }
        /* ntiles row tiles, the first m % ntiles of them one row taller; each goes through
         * the panels while its rows of A stay in L1 */
        for (t = 0, i0 = 0; t < ntiles; t++) {
            const int h = (int)(rbase + (t < rextra));
            int q, j0 = 0;
            for (q = 0; q < np; q++) {
                const int w = wbase + (q < wextra);
                sk_dkerns[h - 1][w - 1](kc, A + i0 * g->lda + pc, g->lda, bt + j0 * ldbt, ldbt,
                                        C + i0 * g->ldc + j0, g->ldc,
                                        g->bias ? (const float *)g->bias + j0 : NULL, &ep);
                j0 += w;
            }
            i0 += h;
        }
    }
}

DM_AVX2 static void gemm_small_s_avx2(const dm_args *g)
{
    DM_ALIGN(64) float bbuf[DM_S_KC * 16 > DM_SK_DBYTES / 4 ? DM_S_KC * 16 : DM_SK_DBYTES / 4];
    const float *A = (const float *)g->A, *B = (const float *)g->B;
    float *C = (float *)g->C;
    const int64_t a_rs = g->transa ? 1 : g->lda, a_cs = g->transa ? g->lda : 1;
    int64_t pc, jr, ir;
    if (g->k <= 8) {
        sk_smallks[g->k - 1](g);
        return;
    }
    if (g->transa && g->n <= DM_SK_TN && g->m >= DM_SK_TM) {
        gemm_small_s_avx2_t(g);
        return;
    }
    if (!g->transa && g->n_full <= DM_SK_DOTN && g->k >= sk_dot_kmin[g->n_full]) {
        gemm_small_s_avx2_dot(g, bbuf);
        return;
    }
    {
        /* rows: tiles of at most mr rows, of nearly equal height (<= hmax); panels: nvp ymm
         * wide, wider when the tiles are short and B is read in place (m <= 4: one tile, 1×64
         * up to 4×24: enough accumulators for one or two rows of C) */
        const int mr = g->n <= 8 ? DM_SK_MR1 : DM_SK_MR2;
        const int64_t ntiles = (g->m + mr - 1) / mr, base = g->m / ntiles, extra = g->m % ntiles;
        const int hmax = (int)(base + (extra > 0));
        const int inplace_m = !g->transb && g->m <= DM_SK_INPLACE_M;
        const int nvp = g->n <= 8 ? 1 : inplace_m ? sk_nv_of[hmax] : 2;
        for (pc = 0; pc < g->k; pc += DM_S_KC) {
            const int64_t kc = g->k - pc < DM_S_KC ? g->k - pc : DM_S_KC;
            dm_epi e = sk_epi_block(g, pc, kc);
            for (jr = 0; jr < g->n; jr += 8 * nvp) {
                const int w = g->n - jr < 8 * nvp ? (int)(g->n - jr) : 8 * nvp;
                const int nv = (w + 7) / 8, W = 8 * nv;
                const float *bp;
                int64_t bstride, t;
                int bw;
                if (!g->transb && (kc <= 64 || inplace_m || g->ldb <= 32) &&
                    !(w < W && ntiles > 2 && W <= 16)) {
                    /* in place: rows of B contiguous and short, or the block shallow (a strip
                     * of kc rows ldb apart shares the L1 sets), or used by few tiles; but a
                     * narrow last panel used by many tiles is packed (zero-padded) rather than
                     * loaded with a mask by each (784×32·32×9: 11.4 -> 10.6 µs) */
                    bp = B + pc * g->ldb + jr;
                    bstride = g->ldb;
                    bw = w;
                } else {  /* W <= 16 here */
                    sk_pack_b(g->transb ? B + jr * g->ldb + pc : B + pc * g->ldb + jr,
                              g->transb, g->ldb, kc, w, W, bbuf);
                    bp = bbuf;
                    bstride = W;
                    bw = W;
                }
                e.bias = g->bias ? g->bias + jr * sizeof(float) : NULL;
                /* ntiles tiles, the first m % ntiles of them one row taller than the others */
                for (t = 0, ir = 0; t < ntiles; t++) {
                    const int h = (int)(base + (t < extra));
                    sk_kerns[h - 1][nv - 1](kc, A + ir * a_rs + pc * a_cs, a_rs, a_cs, bp,
                                            bstride, bw, C + ir * g->ldc + jr, g->ldc, w, &e);
                    ir += h;
                }
            }
        }
    }
}
#endif /* DM_GEMM_AVX2 */

#ifdef DM_GEMM_AVX512
/* ---- float32 products 9..16 columns wide on AVX-512 ------------------------------------------
 * n <= 16 (a thread's share), m >= DM_S5N_MINM, k > 8, not the dot path: the row-shifted
 * GEMMs of a conv with 16 output channels (the book's CNN, conv 28×28 32->16: forward
 * Xpad_shift·Kmat_i, m = 838, n = 16, k = kw·cin = 96; grad-kernel Xpad_shiftᵀ·dZ_wide, A
 * transposed, m = 96, n = 16, k = 838). There the 12×32 zmm tiles would waste half their lanes
 * and the AVX2 6×16 tiles run at half the vector width; here a tile is R = 12..24 rows × 16
 * columns, each row of C ONE zmm accumulator (lanes past n masked off in the loads of B and
 * in the stores to C): per p one load of the row of B and R broadcasts of A (GCC folds them
 * into the FMAs as {1to16} memory operands), R FMAs. 24 rows: 24 accumulators + the row of B
 * in 25 of the 32 zmm, no spill (the in-place loop keeps 8 row pointers and the stride in
 * general registers). Measured from C on the Xeon (1 thread, FMA peak 214 GF/s on zmm), AVX2
 * 6×16 tiles -> these: 838×96·96×16 (lda = 32, the conv's overlapping rows) 27.4 -> 18.6 µs
 * (94 -> 139 GF/s), A transposed 96×838·838×16 26.5 -> 16.3 µs (97 -> 157 GF/s); one 24-row
 * tile in L1 (k = 256) 145 / 157 GF/s, about 1.4 loads a cycle. Tried and not kept: separate
 * vbroadcastss (3-8 % slower), the p loop unrolled 1× or 4× rather than 2× (2-8 % slower),
 * and for a transposed A tiles turned round (3 zmm of 16 rows × 8 broadcast columns of B, 11
 * loads for 24 FMAs, transposed 8×8 as stored): no faster (96×838·838×16 16.3-18.3 µs).
 * In the book's CNN, conv 28×28 32->16, batch 32 (1 thread, ms): forward 2.99 -> 2.29,
 * backward 5.53 -> 4.13, grad-kernel + bias alone 3.24 -> 2.10.
 * The rows of C are cut into tiles of nearly equal height (25 -> 13 + 12, 838 -> 33×24 +
 * 2×23), every height 12..24 an instance of its own (no row computed twice).
 * A is read in place: not transposed (a_cs = 1) each group of three rows from one pointer and
 * the stride register (as in kern_s_avx512), transposed (a_rs = 1) the R elements of a row p
 * of the stored A are contiguous, at constant offsets from one pointer. B is read in place
 * when its rows are contiguous (transb == 0; one masked load a row), else packed 16 wide on
 * the stack (sk_pack_b). Against the AVX2 kernels (1 thread, µs a call from Python, medians
 * of alternated builds): 838×96·96×16 28.1 -> 19.5, A transposed 96×838 29.5 -> 17.4,
 * 1000×288·288×15 102 -> 78, 12×96·96×16 0.58 -> 0.50, 24×96·96×16 0.97 -> 0.78, 784×32·32×9
 * (A transposed) 9.0 -> 6.7; a sweep of 48 random shapes (m 12..500, n 9..16, k 9..600, all
 * transposes) 1.04-1.57× where this path runs. Not taken: A transposed with n <= 10 and k > KC,
 * where sk_ttile computes only the n columns (300×600·600×9 38.5 vs 43.5 here, 96×840·840×10
 * 17.6 vs 18.7; n = 11, 12 and short k are faster here: 96×840·840×11 21.8 -> 18.7).
 * Every element of C is the same FMA chain as on the AVX2 paths (from 0, p in order, in the
 * same KC = 256 blocks) and goes through epi_row16_s (epi_row8_s's arithmetic, op for op), so
 * the bits are those of gemm_small_s_avx2 (test_avx512_narrow_bits_like_avx2). The dot path
 * (n <= 12, A not transposed, k >= sk_dot_kmin[n]) sums in another order: those products stay
 * on it. */
#define DM_S5N_MR 24   /* tallest tile: 24 accumulators (of 32 zmm) */
#define DM_S5N_MINM 12  /* m from which the narrow zmm tiles run (smaller: the AVX2 tiles) */
#define DM_S5N_TTN 10   /* A transposed, n <= this and k > KC: sk_ttile (see above) */

DM_AVX512 static inline __attribute__((always_inline)) void
s5n_tile(const int R, const int TRANS, int64_t kc, const float *a, int64_t lda, const float *b,
         int64_t b_rs, __mmask16 bm, float *c, int64_t ldc, const dm_epi *e)
{
    __m512 acc[DM_S5N_MR];
    int64_t p;
    int i;
    _Pragma("GCC unroll 24") for (i = 0; i < R; i++) acc[i] = _mm512_setzero_ps();
    if (TRANS) {  /* A(i, p) = a[p·lda + i] */
        _Pragma("GCC unroll 2") for (p = 0; p < kc; p++, a += lda, b += b_rs) {
            const __m512 y = _mm512_maskz_loadu_ps(bm, b);
            _Pragma("GCC unroll 24") for (i = 0; i < R; i++)
                acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(a[i]), y, acc[i]);
        }
    } else {      /* A(i, p) = a[i·lda + p]: rows 3g..3g+2 at ag, ag + lda, ag + 2·lda */
        const float *ag[DM_S5N_MR / 3];
        _Pragma("GCC unroll 8") for (i = 0; i < (R + 2) / 3; i++) ag[i] = a + 3 * i * lda;
        _Pragma("GCC unroll 2") for (p = 0; p < kc; p++, b += b_rs) {
            const __m512 y = _mm512_maskz_loadu_ps(bm, b);
            _Pragma("GCC unroll 24") for (i = 0; i < R; i++)
                acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(ag[i / 3][(i % 3) * lda + p]), y, acc[i]);
        }
    }
    {
        const __m512 alpha = _mm512_set1_ps((float)e->alpha), beta = _mm512_set1_ps((float)e->beta);
        const float *bias = (const float *)e->bias;
        const int first = e->first, last = e->last, relu = e->act == DM_ACT_RELU,
                  beta0 = e->beta == 0;
        _Pragma("GCC unroll 24") for (i = 0; i < R; i++) {
            float *ci = c + i * ldc;
            _mm512_mask_storeu_ps(ci, bm, epi_row16_s(acc[i], ci, bias, bm, alpha, beta, first,
                                                      last, relu, beta0));
        }
        if (last && e->act != DM_ACT_NONE && !relu) {
            const int nr = __builtin_popcount(bm);
            int j;
            for (i = 0; i < R; i++)
                for (j = 0; j < nr; j++) c[i * ldc + j] = act_s(c[i * ldc + j], e->act);
        }
    }
}

typedef void (*dm_s5n_kern)(int64_t kc, const float *a, int64_t lda, const float *b,
                            int64_t b_rs, __mmask16 bm, float *c, int64_t ldc, const dm_epi *e);
#define DM_S5N_INST(R)                                                                      \
DM_AVX512 static void s5n_##R(int64_t kc, const float *a, int64_t lda, const float *b,      \
                              int64_t b_rs, __mmask16 bm, float *c, int64_t ldc,            \
                              const dm_epi *e)                                              \
{                                                                                           \
    s5n_tile(R, 0, kc, a, lda, b, b_rs, bm, c, ldc, e);                                     \
}                                                                                           \
DM_AVX512 static void s5nt_##R(int64_t kc, const float *a, int64_t lda, const float *b,     \
                               int64_t b_rs, __mmask16 bm, float *c, int64_t ldc,           \
                               const dm_epi *e)                                             \
{                                                                                           \
    s5n_tile(R, 1, kc, a, lda, b, b_rs, bm, c, ldc, e);                                     \
}
DM_S5N_INST(12) DM_S5N_INST(13) DM_S5N_INST(14) DM_S5N_INST(15) DM_S5N_INST(16)
DM_S5N_INST(17) DM_S5N_INST(18) DM_S5N_INST(19) DM_S5N_INST(20) DM_S5N_INST(21)
DM_S5N_INST(22) DM_S5N_INST(23) DM_S5N_INST(24)
#undef DM_S5N_INST
/* [TRANS][R - DM_S5N_MINM] */
static const dm_s5n_kern s5n_kerns[2][DM_S5N_MR - DM_S5N_MINM + 1] = {
    {s5n_12, s5n_13, s5n_14, s5n_15, s5n_16, s5n_17, s5n_18, s5n_19, s5n_20, s5n_21, s5n_22,
     s5n_23, s5n_24},
    {s5nt_12, s5nt_13, s5nt_14, s5nt_15, s5nt_16, s5nt_17, s5nt_18, s5nt_19, s5nt_20, s5nt_21,
     s5nt_22, s5nt_23, s5nt_24}};

/* whether a float32 product runs on the narrow zmm tiles: 9..16 columns, m >= 12, k > 8 (else
 * sk_smallk), not the dot path (its own summation order: kept on it), not a long product with
 * A transposed and n <= 10 (sk_ttile, faster there) */
static int s5n_takes(const dm_args *g)
{
    if (g->k <= 8 || g->n <= 8 || g->n > 16 || g->m < DM_S5N_MINM) return 0;
    if (!g->transa && g->n_full <= DM_SK_DOTN && g->k >= sk_dot_kmin[g->n_full]) return 0;
    return !(g->transa && g->n <= DM_S5N_TTN && g->k > DM_S_KC);
}

DM_AVX512 static void gemm_small_s_avx512_n16(const dm_args *g)
{
    DM_ALIGN(64) float bbuf[DM_S_KC * 16];
    const float *A = (const float *)g->A, *B = (const float *)g->B;
    float *C = (float *)g->C;
    const int n = (int)g->n;
    const int64_t ntiles = (g->m + DM_S5N_MR - 1) / DM_S5N_MR, base = g->m / ntiles,
                  extra = g->m % ntiles;
    const dm_s5n_kern *kerns = s5n_kerns[g->transa ? 1 : 0];
    const __mmask16 nm = (__mmask16)((1u << n) - 1);
    int64_t pc, t, i0;
    for (pc = 0; pc < g->k; pc += DM_S_KC) {
        const int64_t kc = g->k - pc < DM_S_KC ? g->k - pc : DM_S_KC;
        dm_epi e = sk_epi_block(g, pc, kc);
        const float *bp, *ap = A + pc * (g->transa ? g->lda : 1);
        int64_t b_rs;
        e.bias = g->bias;
        if (!g->transb) {
            bp = B + pc * g->ldb;
            b_rs = g->ldb;
        } else {
            sk_pack_b(B + pc, 1, g->ldb, kc, n, 16, bbuf);
            bp = bbuf;
            b_rs = 16;
        }
        /* ntiles tiles, the first m % ntiles of them one row taller than the others */
        for (t = 0, i0 = 0; t < ntiles; t++) {
            const int h = (int)(base + (t < extra));
            kerns[h - DM_S5N_MINM](kc, ap + i0 * (g->transa ? 1 : g->lda), g->lda, bp, b_rs, nm,
                                   C + i0 * g->ldc, g->ldc, &e);
            i0 += h;
        }
    }
}
#endif /* DM_GEMM_AVX512 */

/* Small products: one thread, A read in place, B in place or packed one panel at a time. */
static void gemm_small_generic(const dm_impl *im, const dm_args *g)
{
    DM_ALIGN(64) char bbuf[DM_MAX_KC * DM_MAX_NR * sizeof(float)];
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

/* gemm_small: float32 on AVX2 has its own kernels (gemm_small_s_avx2), and so have the skinny
 * float32 products on AVX-512 (9..16 columns: gemm_small_s_avx512_n16, the rest on the AVX2
 * ones); called from here rather than from inside gemm_small_generic, whose 32 KiB stack
 * buffer they do not need. */
static void gemm_small(const dm_impl *im, const dm_args *g)
{
#ifdef DM_GEMM_AVX512
    if (im == &impl_s_avx512 && (g->k <= 8 || g->n <= DM_S5_SKINNY_N || g->m <= DM_S5_SKINNY_M)) {
        if (s5n_takes(g)) {
            gemm_small_s_avx512_n16(g);
            return;
        }
        gemm_small_s_avx2(g);
        return;
    }
#endif
#ifdef DM_GEMM_AVX2
    if (im == &impl_s_avx2) {
        gemm_small_s_avx2(g);
        return;
    }
#endif
    gemm_small_generic(im, g);
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
    int64_t jc, pc, ic;
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
                int64_t t;
                /* tile t: one B micro-panel (L1) against every A micro-panel in turn, or with
                 * a_outer one A micro-panel (L1) against every B micro-panel */
                for (t = 0; t < njr * nir; t++) {
                    const int64_t jr = im->a_outer ? t % njr : t / nir,
                                  ir = im->a_outer ? t / njr : t % nir;
                    const int64_t j0 = jc + jr * nr;
                    const int w = g->n - j0 < nr ? (int)(g->n - j0) : nr;
                    const int64_t i0 = ic + ir * mr;
                    const int h = g->m - i0 < mr ? (int)(g->m - i0) : mr;
                    e.bias = g->bias ? g->bias + j0 * sz : NULL;
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
     * a block never changes its bits. Split from 4 panels a thread (2 of the 32-wide AVX-512
     * ones: the same 64 columns as 4 AVX2 panels). */
    {
        const int split = pn >= (im->nr >= 32 ? 2 : 4) * pcols ? 2 : 1;
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
                 lda, ldb, ldc, (char *)C, (const char *)bias, act, n};
    gemm_any(impl_for(sizeof(float)), &g);
}

void dm_dgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, double alpha,
              const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
              double *C, int64_t ldc, const double *bias, int act)
{
    dm_args g = {transa, transb, m, n, k, alpha, beta, (const char *)A, (const char *)B,
                 lda, ldb, ldc, (char *)C, (const char *)bias, act, n};
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
    /* twelve different starting values: with equal ones the compiler merges the twelve
     * identical chains into one (it did: the "peak" was one chain's latency-bound rate ×12) */
    __m256 x0 = _mm256_set1_ps(1.0f), x1 = _mm256_set1_ps(1.001f), x2 = _mm256_set1_ps(1.002f),
           x3 = _mm256_set1_ps(1.003f), x4 = _mm256_set1_ps(1.004f), x5 = _mm256_set1_ps(1.005f),
           x6 = _mm256_set1_ps(1.006f), x7 = _mm256_set1_ps(1.007f), x8 = _mm256_set1_ps(1.008f),
           x9 = _mm256_set1_ps(1.009f), x10 = _mm256_set1_ps(1.010f), x11 = _mm256_set1_ps(1.011f);
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

#ifdef DM_GEMM_AVX512
/* the same on zmm registers: 24 chains for 2 FMA units of latency 4 (16 lanes each) */
DM_AVX512 static double fma_chains_avx512(int64_t iters)
{
    __m512 x[24];
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    int64_t i;
    int j;
    for (j = 0; j < 24; j++) x[j] = _mm512_set1_ps(1.0f + 0.001f * (float)j);
    for (i = 0; i < iters; i++) {
        _Pragma("GCC unroll 24") for (j = 0; j < 24; j++) x[j] = _mm512_fmadd_ps(x[j], m, a);
    }
    for (j = 1; j < 24; j++) x[0] = _mm512_add_ps(x[0], x[j]);
    return (double)_mm512_reduce_add_ps(x[0]);
}
#endif

static double fma_chains_portable(int64_t iters)
{
    float x[12][8];
    int64_t i;
    int r, j;
    double s = 0;
    for (r = 0; r < 12; r++) for (j = 0; j < 8; j++) x[r][j] = 1.0f + 0.001f * (float)r;
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
    const int path = gemm_path();  /* the widest FMA the float32 GEMM kernel uses */
    t0 = DM_WTIME();
    do {
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads) reduction(+ : sink)
#endif
        {
#ifdef DM_GEMM_AVX512
            if (path == 2) sink += fma_chains_avx512(iters / 4);  /* 4× the flops per step */
            else
#endif
#ifdef DM_GEMM_AVX2
            if (path == 1) sink += fma_chains_avx2(iters);
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
    (void)path;
    return sink == 12345.0 ? 0 : flops / (t1 - t0) * 1e-9;
}
