/* dm_pool.c: 2-D max / average pooling on channels-last arrays (see dm_pool.h for the
 * geometry and the argmax convention).
 *
 * Shape of the loops. In (N, H, W, C) the C values of one pixel are contiguous, so every
 * kernel is a loop over output (or input) pixels around an innermost plain loop over the C
 * channels: that loop has no dependence between iterations and compares/selects written as
 * `cond ? a : b`, which gcc/clang turn into vector blends at -O3 with no intrinsics (8 floats
 * per instruction in the AVX2 clones chosen at run time, see the end of the file; 4 with SSE2).
 * Values are loaded unconditionally before the select, else gcc sees a conditional load and
 * keeps a branch. A channel count of 1 degrades to scalar code, which such a tensor deserves.
 * The data of one step stays in cache (the 2x2 benchmark's 8 MB fits in L3), so the arithmetic,
 * not DRAM, sets the speed: hence the AVX2 clones (forward 0.66 -> 0.43 ms, backward 0.49 ->
 * 0.39 ms on (32, 32, 32, 64), one thread, best of 100).
 *
 * Parallelism: forward over the N * Ho output rows, backward over the N * H input rows; one
 * row is computed entirely by one thread, in a fixed order, so the result does not depend on
 * the thread count. The schedule is dynamic in chunks of rows (DM_POOL_CHUNK): still
 * reproducible (which thread computes a row changes nothing), and when a core is busy with
 * another process or another library's spinning threads, the free threads take its rows
 * instead of waiting for it (a static schedule hands each thread a fixed half).
 *
 * Backward as a gather: input cell (ih, iw) is covered by output rows
 *   oh in [ceil((ih + pt - ph + 1) / sh), floor((ih + pt) / sh)] (clamped to [0, Ho)),
 * and columns likewise; it sums, in increasing (oh, ow) order, the gradient of every covering
 * output (average) or of those whose argmax points at it (max). With stride >= pool, the usual
 * case, that is at most one output, and the gradient is written once, never accumulated.
 */
#include "dm_pool.h"

#include "deepmath_kernels.h"

/* Rows per chunk of the dynamic schedule: big enough that taking a chunk (one atomic add in
 * the OpenMP runtime) costs nothing next to the rows' work. */
#define DM_POOL_CHUNK 4

static inline int64_t dm_max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t dm_min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Output rows (or columns) whose window covers input index i: [*lo, *hi), possibly empty. */
static inline void dm_covering(int64_t i, int64_t pad, int64_t pool, int64_t stride,
                               int64_t n_out, int64_t *lo, int64_t *hi)
{
    int64_t first = i + pad - pool + 1;  /* o * stride >= first */
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    *hi = dm_min64((i + pad) / stride + 1, n_out);
}

#define DM_POOL_PARALLEL_IF(g) ((g)->n * (g)->h * (g)->w * (g)->c >= DM_PARALLEL_MIN)

/* ---- max pooling, forward -------------------------------------------------------------- */
/* y[n,oh,ow,c] = max of x over the window's cells inside the input; argmax its offset. */
#define DM_DEFINE_MAX_FORWARD(NAME, T, QUAL)                                                      \
QUAL void NAME(const T *x, T *y, int32_t *argmax, const dm_pool2d_t *g)                            \
{                                                                                             \
    const int64_t C = g->c, rows = g->n * g->ho;                                              \
    int64_t r;                                                                                \
    DM_POOL_OMP_FOR(g)                                                                        \
    for (r = 0; r < rows; r++) {                                                              \
        const int64_t n = r / g->ho, oh = r % g->ho;                                          \
        const int64_t h0 = oh * g->sh - g->pt;                                                \
        const int64_t hs = dm_max64(h0, 0), he = dm_min64(h0 + g->ph, g->h);                  \
        int64_t ow;                                                                           \
        for (ow = 0; ow < g->wo; ow++) {                                                      \
            const int64_t w0 = ow * g->sw - g->pl;                                            \
            const int64_t ws = dm_max64(w0, 0), we = dm_min64(w0 + g->pw, g->w);              \
            T *restrict o = y + (r * g->wo + ow) * C;                                         \
            int32_t *restrict a = argmax + (r * g->wo + ow) * C;                              \
            const T *restrict xf = x + ((n * g->h + hs) * g->w + ws) * C;                     \
            const int32_t k0 = (int32_t)((hs - h0) * g->pw + (ws - w0));                      \
            int64_t ih, iw, c;                                                                \
            for (c = 0; c < C; c++) { o[c] = xf[c]; a[c] = k0; }                              \
            for (ih = hs; ih < he; ih++) {                                                    \
                for (iw = (ih == hs ? ws + 1 : ws); iw < we; iw++) {                          \
                    const T *restrict xi = x + ((n * g->h + ih) * g->w + iw) * C;             \
                    const int32_t k = (int32_t)((ih - h0) * g->pw + (iw - w0));               \
                    for (c = 0; c < C; c++) {                                                 \
                        const T v = xi[c], m = o[c];                                          \
                        /* bigger, or the first NaN: NaN wins and stays */                    \
                        const int take = (v > m) | ((v != v) & (m == m));                     \
                        o[c] = take ? v : m;                                                  \
                        a[c] = take ? k : a[c];                                               \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
}

/* ---- max pooling, backward ------------------------------------------------------------- */
/* dx[n,ih,iw,c] = sum of dy[n,oh,ow,c] over the outputs whose argmax is this cell. */
#define DM_DEFINE_MAX_BACKWARD(NAME, T, QUAL)                                                     \
QUAL void NAME(const T *dy, const int32_t *argmax, T *dx, const dm_pool2d_t *g)                    \
{                                                                                             \
    const int64_t C = g->c, rows = g->n * g->h;                                               \
    int64_t r;                                                                                \
    DM_POOL_OMP_FOR(g)                                                                        \
    for (r = 0; r < rows; r++) {                                                              \
        const int64_t n = r / g->h, ih = r % g->h;                                            \
        int64_t oh_lo, oh_hi, iw;                                                             \
        dm_covering(ih, g->pt, g->ph, g->sh, g->ho, &oh_lo, &oh_hi);                          \
        for (iw = 0; iw < g->w; iw++) {                                                       \
            T *restrict d = dx + (r * g->w + iw) * C;                                         \
            int64_t ow_lo, ow_hi, oh, ow, c;                                                  \
            int first = 1;                                                                    \
            dm_covering(iw, g->pl, g->pw, g->sw, g->wo, &ow_lo, &ow_hi);                      \
            for (oh = oh_lo; oh < oh_hi; oh++) {                                              \
                for (ow = ow_lo; ow < ow_hi; ow++) {                                          \
                    const int64_t o = ((n * g->ho + oh) * g->wo + ow) * C;                    \
                    const T *restrict gy = dy + o;                                            \
                    const int32_t *restrict a = argmax + o;                                   \
                    const int32_t k = (int32_t)((ih - (oh * g->sh - g->pt)) * g->pw           \
                                                + (iw - (ow * g->sw - g->pl)));               \
                    if (first) {                                                              \
                        for (c = 0; c < C; c++) {                                             \
                            const T v = gy[c]; /* loaded unconditionally: a blend, no branch */ \
                            d[c] = a[c] == k ? v : (T)0;                                      \
                        }                                                                     \
                        first = 0;                                                            \
                    } else {                                                                  \
                        for (c = 0; c < C; c++) {                                             \
                            const T v = gy[c];                                                \
                            d[c] += a[c] == k ? v : (T)0;                                     \
                        }                                                                     \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
            if (first)                                                                        \
                for (c = 0; c < C; c++) d[c] = (T)0;                                          \
        }                                                                                     \
    }                                                                                         \
}

/* ---- average pooling, forward ---------------------------------------------------------- */
/* y = (sum of the window's cells inside the input, in row-major order) / their number. */
#define DM_DEFINE_AVG_FORWARD(NAME, T, QUAL)                                                      \
QUAL void NAME(const T *x, T *y, const dm_pool2d_t *g)                                             \
{                                                                                             \
    const int64_t C = g->c, rows = g->n * g->ho;                                              \
    int64_t r;                                                                                \
    DM_POOL_OMP_FOR(g)                                                                        \
    for (r = 0; r < rows; r++) {                                                              \
        const int64_t n = r / g->ho, oh = r % g->ho;                                          \
        const int64_t h0 = oh * g->sh - g->pt;                                                \
        const int64_t hs = dm_max64(h0, 0), he = dm_min64(h0 + g->ph, g->h);                  \
        int64_t ow;                                                                           \
        for (ow = 0; ow < g->wo; ow++) {                                                      \
            const int64_t w0 = ow * g->sw - g->pl;                                            \
            const int64_t ws = dm_max64(w0, 0), we = dm_min64(w0 + g->pw, g->w);              \
            const T count = (T)((he - hs) * (we - ws));                                       \
            T *restrict o = y + (r * g->wo + ow) * C;                                         \
            const T *restrict xf = x + ((n * g->h + hs) * g->w + ws) * C;                     \
            int64_t ih, iw, c;                                                                \
            for (c = 0; c < C; c++) o[c] = xf[c];                                             \
            for (ih = hs; ih < he; ih++) {                                                    \
                for (iw = (ih == hs ? ws + 1 : ws); iw < we; iw++) {                          \
                    const T *restrict xi = x + ((n * g->h + ih) * g->w + iw) * C;             \
                    for (c = 0; c < C; c++) o[c] += xi[c];                                    \
                }                                                                             \
            }                                                                                 \
            for (c = 0; c < C; c++) o[c] /= count;                                            \
        }                                                                                     \
    }                                                                                         \
}

/* ---- average pooling, backward --------------------------------------------------------- */
/* dx[n,ih,iw,c] = sum over the outputs covering the cell of dy[n,oh,ow,c] / count(oh, ow). */
#define DM_DEFINE_AVG_BACKWARD(NAME, T, QUAL)                                                     \
QUAL void NAME(const T *dy, T *dx, const dm_pool2d_t *g)                                           \
{                                                                                             \
    const int64_t C = g->c, rows = g->n * g->h;                                               \
    int64_t r;                                                                                \
    DM_POOL_OMP_FOR(g)                                                                        \
    for (r = 0; r < rows; r++) {                                                              \
        const int64_t n = r / g->h, ih = r % g->h;                                            \
        int64_t oh_lo, oh_hi, iw;                                                             \
        dm_covering(ih, g->pt, g->ph, g->sh, g->ho, &oh_lo, &oh_hi);                          \
        for (iw = 0; iw < g->w; iw++) {                                                       \
            T *restrict d = dx + (r * g->w + iw) * C;                                         \
            int64_t ow_lo, ow_hi, oh, ow, c;                                                  \
            int first = 1;                                                                    \
            dm_covering(iw, g->pl, g->pw, g->sw, g->wo, &ow_lo, &ow_hi);                      \
            for (oh = oh_lo; oh < oh_hi; oh++) {                                              \
                const int64_t h0 = oh * g->sh - g->pt;                                        \
                const int64_t rh = dm_min64(h0 + g->ph, g->h) - dm_max64(h0, 0);              \
                for (ow = ow_lo; ow < ow_hi; ow++) {                                          \
                    const int64_t w0 = ow * g->sw - g->pl;                                    \
                    const T count = (T)(rh * (dm_min64(w0 + g->pw, g->w) - dm_max64(w0, 0))); \
                    const T *restrict gy = dy + ((n * g->ho + oh) * g->wo + ow) * C;          \
                    if (first) {                                                              \
                        for (c = 0; c < C; c++) d[c] = gy[c] / count;                         \
                        first = 0;                                                            \
                    } else {                                                                  \
                        for (c = 0; c < C; c++) d[c] += gy[c] / count;                        \
                    }                                                                         \
                }                                                                             \
            }                                                                                 \
            if (first)                                                                        \
                for (c = 0; c < C; c++) d[c] = (T)0;                                          \
        }                                                                                     \
    }                                                                                         \
}

#ifdef _OPENMP
#define DM_POOL_PRAGMA(x) _Pragma(#x)
#define DM_POOL_OMP_FOR(g)                                                                    \
    DM_POOL_PRAGMA(omp parallel for schedule(dynamic, DM_POOL_CHUNK)                          \
                   if (DM_POOL_PARALLEL_IF(g)) num_threads(dm_get_num_threads()))
#else
#define DM_POOL_OMP_FOR(g)
#endif

/* ---- instantiation and run-time dispatch ------------------------------------------------ */
/* Each kernel is compiled twice from the same source: a portable version (SSE2 on x86-64, NEON
 * on arm64: whatever the build flags allow) and, on x86-64 with gcc/clang, one with AVX2
 * allowed, where the channel loops use 8-float vectors. AVX2 is chosen at run time when the
 * CPU has it (answer cached). Both give the same bits: only max/select/add per element. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DM_POOL_AVX2 1
#endif

#define DM_POOL_INSTANCES(KERNEL, NAME, T)                                                    \
    KERNEL(NAME##_portable, T, static)                                                        \
    DM_POOL_AVX2_INSTANCE(KERNEL, NAME, T)

#ifdef DM_POOL_AVX2
#define DM_POOL_AVX2_INSTANCE(KERNEL, NAME, T)                                                \
    KERNEL(NAME##_avx2, T, static __attribute__((target("avx2"))))

static int dm_pool_avx2(void)
{
    static int cached = -1;  /* benign race: every thread stores the same answer */
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}
#define DM_POOL_DISPATCH(NAME, ARGS)                                                          \
    do {                                                                                      \
        if (dm_pool_avx2()) NAME##_avx2 ARGS; else NAME##_portable ARGS;                      \
    } while (0)
#else
#define DM_POOL_AVX2_INSTANCE(KERNEL, NAME, T)
#define DM_POOL_DISPATCH(NAME, ARGS) NAME##_portable ARGS
#endif

DM_POOL_INSTANCES(DM_DEFINE_MAX_FORWARD, max_fwd_f32, float)
DM_POOL_INSTANCES(DM_DEFINE_MAX_FORWARD, max_fwd_f64, double)
DM_POOL_INSTANCES(DM_DEFINE_MAX_BACKWARD, max_bwd_f32, float)
DM_POOL_INSTANCES(DM_DEFINE_MAX_BACKWARD, max_bwd_f64, double)
DM_POOL_INSTANCES(DM_DEFINE_AVG_FORWARD, avg_fwd_f32, float)
DM_POOL_INSTANCES(DM_DEFINE_AVG_FORWARD, avg_fwd_f64, double)
DM_POOL_INSTANCES(DM_DEFINE_AVG_BACKWARD, avg_bwd_f32, float)
DM_POOL_INSTANCES(DM_DEFINE_AVG_BACKWARD, avg_bwd_f64, double)

void dm_max_pool2d_forward_f32(const float *x, float *y, int32_t *argmax, const dm_pool2d_t *g)
{ DM_POOL_DISPATCH(max_fwd_f32, (x, y, argmax, g)); }
void dm_max_pool2d_forward_f64(const double *x, double *y, int32_t *argmax, const dm_pool2d_t *g)
{ DM_POOL_DISPATCH(max_fwd_f64, (x, y, argmax, g)); }
void dm_max_pool2d_backward_f32(const float *dy, const int32_t *argmax, float *dx,
                                const dm_pool2d_t *g)
{ DM_POOL_DISPATCH(max_bwd_f32, (dy, argmax, dx, g)); }
void dm_max_pool2d_backward_f64(const double *dy, const int32_t *argmax, double *dx,
                                const dm_pool2d_t *g)
{ DM_POOL_DISPATCH(max_bwd_f64, (dy, argmax, dx, g)); }
void dm_avg_pool2d_forward_f32(const float *x, float *y, const dm_pool2d_t *g)
{ DM_POOL_DISPATCH(avg_fwd_f32, (x, y, g)); }
void dm_avg_pool2d_forward_f64(const double *x, double *y, const dm_pool2d_t *g)
{ DM_POOL_DISPATCH(avg_fwd_f64, (x, y, g)); }
void dm_avg_pool2d_backward_f32(const float *dy, float *dx, const dm_pool2d_t *g)
{ DM_POOL_DISPATCH(avg_bwd_f32, (dy, dx, g)); }
void dm_avg_pool2d_backward_f64(const double *dy, double *dx, const dm_pool2d_t *g)
{ DM_POOL_DISPATCH(avg_bwd_f64, (dy, dx, g)); }
