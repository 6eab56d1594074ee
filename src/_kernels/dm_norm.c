/* dm_norm.c: layer normalization over the last axis (Ba et al. 2016; book, "ChatGPT – partie 2"),
 * the Transformer's LayerNorm, as one pass per row instead of numpy's dozen temporaries.
 *
 *   μ = Σ_j x_j / C,   σ² = Σ_j (x_j − μ)² / C,   rstd = 1/√(σ² + ε)
 *   x̂_j = (x_j − μ)·rstd,   y_j = γ_j·x̂_j + β_j
 * backward, with dx̂ = γ·dy:
 *   dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),   dγ = Σ_rows dy·x̂,   dβ = Σ_rows dy
 *
 * Row sums accumulate in double, in 8 interleaved partial sums combined in a fixed tree (the
 * compiler vectorizes them; the order depends only on the column count). x̂ is computed by
 * the same expression in both passes, so the backward sees the forward's x̂ exactly.
 * dγ and dβ: the rows are cut into chunks fixed by the row count alone; each chunk sums its
 * rows in order into its own partial row (double), and the partials are then added in chunk
 * order. Every output is thus computed the same way whatever the thread count: bitwise
 * identical results for any number of threads.
 */
#include <math.h>
#include <stdlib.h>

#include "deepmath_kernels.h"
#include "dm_norm.h"

/* The backward's chunks: at most DM_LN_CHUNKS, of at least DM_LN_CHUNK_MIN rows. */
#define DM_LN_CHUNKS 64
#define DM_LN_CHUNK_MIN 16

static int64_t ln_chunk_rows(int64_t rows)
{
    int64_t n = (rows + DM_LN_CHUNK_MIN - 1) / DM_LN_CHUNK_MIN;
    if (n > DM_LN_CHUNKS) n = DM_LN_CHUNKS;
    if (n < 1) n = 1;
    return (rows + n - 1) / n;
}

static double sum8(const double *s)
{
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* A parallel loop over rows (or chunks) when the array holds dm_total_ >= DM_PARALLEL_MIN values. */
#define DM_PAR_ROWS _Pragma("omp parallel for schedule(static) if (dm_total_ >= DM_PARALLEL_MIN) num_threads(dm_get_num_threads())")

#define DM_LAYER_NORM(T, SFX)                                                                   \
/* μ and rstd of one row of n values. */                                                        \
static void ln_stats_##SFX(const T *x, int64_t n, double eps, T *mean, T *rstd)                 \
{                                                                                               \
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0}, m;                                                  \
    int64_t j;                                                                                  \
    int i;                                                                                      \
    for (j = 0; j + 8 <= n; j += 8)                                                             \
        for (i = 0; i < 8; i++) s[i] += x[j + i];                                               \
    for (; j < n; j++) s[j % 8] += x[j];                                                        \
    m = sum8(s) / (double)n;                                                                    \
    for (i = 0; i < 8; i++) s[i] = 0;                                                           \
    for (j = 0; j + 8 <= n; j += 8)                                                             \
        for (i = 0; i < 8; i++) {                                                               \
            const double d = x[j + i] - m;                                                      \
            s[i] += d * d;                                                                      \
        }                                                                                       \
    for (; j < n; j++) s[j % 8] += (x[j] - m) * (x[j] - m);                                     \
    *mean = (T)m;                                                                               \
    *rstd = (T)(1.0 / sqrt(sum8(s) / (double)n + eps));                                         \
}                                                                                               \
                                                                                                \
void dm_layer_norm_forward_##SFX(const T *x, const T *gamma, const T *beta, int64_t rows,      \
                                 int64_t cols, double eps, T *y, T *mean, T *rstd)              \
{                                                                                               \
    const int64_t dm_total_ = rows * cols;                                                          \
    int64_t r;                                                                                  \
    DM_PAR_ROWS                                                                          \
    for (r = 0; r < rows; r++) {                                                                \
        const T *xr = x + r * cols;                                                             \
        T *yr = y + r * cols, m, rs;                                                            \
        int64_t j;                                                                              \
        ln_stats_##SFX(xr, cols, eps, &mean[r], &rstd[r]);                                      \
        m = mean[r];                                                                            \
        rs = rstd[r];                                                                           \
        for (j = 0; j < cols; j++) {                                                            \
            const T xh = (xr[j] - m) * rs;                                                      \
            yr[j] = (gamma ? xh * gamma[j] : xh) + (beta ? beta[j] : (T)0);                     \
        }                                                                                       \
    }                                                                                           \
}                                                                                               \
                                                                                                \
/* dx of one row (when dx is not NULL); dy·x̂ and dy added to the chunk's partial rows pg, pb   \
 * (when not NULL). */                                                                          \
static void ln_backward_row_##SFX(const T *x, const T *gamma, T m, T rs, const T *dy,          \
                                  int64_t n, T *dx, double *pg, double *pb)                     \
{                                                                                               \
    int64_t j;                                                                                  \
    if (pg || pb)                                                                               \
        for (j = 0; j < n; j++) {                                                               \
            const T xh = (x[j] - m) * rs;                                                       \
            if (pg) pg[j] += (double)dy[j] * (double)xh;                                        \
            if (pb) pb[j] += (double)dy[j];                                                     \
        }                                                                                       \
    if (dx) {                                                                                   \
        double sa[8] = {0, 0, 0, 0, 0, 0, 0, 0}, sb[8] = {0, 0, 0, 0, 0, 0, 0, 0};              \
        T ma, mb;                                                                               \
        int i;                                                                                  \
        for (j = 0; j + 8 <= n; j += 8)                                                         \
            for (i = 0; i < 8; i++) {                                                           \
                const T xh = (x[j + i] - m) * rs;                                               \
                const T d = gamma ? dy[j + i] * gamma[j + i] : dy[j + i];                       \
                sa[i] += d;                                                                     \
                sb[i] += (double)d * (double)xh;                                                \
            }                                                                                   \
        for (; j < n; j++) {                                                                    \
            const T xh = (x[j] - m) * rs;                                                       \
            const T d = gamma ? dy[j] * gamma[j] : dy[j];                                       \
            sa[j % 8] += d;                                                                     \
            sb[j % 8] += (double)d * (double)xh;                                                \
        }                                                                                       \
        ma = (T)(sum8(sa) / (double)n);                                                         \
        mb = (T)(sum8(sb) / (double)n);                                                         \
        for (j = 0; j < n; j++) {                                                               \
            const T xh = (x[j] - m) * rs;                                                       \
            const T d = gamma ? dy[j] * gamma[j] : dy[j];                                       \
            dx[j] = rs * (d - ma - xh * mb);                                                    \
        }                                                                                       \
    }                                                                                           \
}                                                                                               \
                                                                                                \
int dm_layer_norm_backward_##SFX(const T *x, const T *gamma, const T *mean, const T *rstd,     \
                                 const T *dy, int64_t rows, int64_t cols, T *dx, T *dgamma,     \
                                 T *dbeta)                                                      \
{                                                                                               \
    const int64_t chunk = ln_chunk_rows(rows), nchunks = (rows + chunk - 1) / chunk;           \
    const int64_t dm_total_ = rows * cols;                                                          \
    double *part = NULL, *pg = NULL, *pb = NULL;                                                \
    int64_t c, j;                                                                               \
    if (dgamma || dbeta) {                                                                      \
        part = (double *)calloc((size_t)(2 * nchunks * cols), sizeof(double));                 \
        if (!part) return -1;                                                                   \
        if (dgamma) pg = part;                                                                  \
        if (dbeta) pb = part + nchunks * cols;                                                  \
    }                                                                                           \
    DM_PAR_ROWS                                                                          \
    for (c = 0; c < nchunks; c++) {                                                             \
        const int64_t r1 = (c + 1) * chunk < rows ? (c + 1) * chunk : rows;                    \
        int64_t r;                                                                              \
        for (r = c * chunk; r < r1; r++)                                                        \
            ln_backward_row_##SFX(x + r * cols, gamma, mean[r], rstd[r], dy + r * cols, cols,  \
                                  dx ? dx + r * cols : NULL, pg ? pg + c * cols : NULL,         \
                                  pb ? pb + c * cols : NULL);                                   \
    }                                                                                           \
    for (j = 0; j < cols && part; j++) {                                                        \
        double sg = 0, sb = 0;                                                                  \
        for (c = 0; c < nchunks; c++) {                                                         \
            if (pg) sg += pg[c * cols + j];                                                     \
            if (pb) sb += pb[c * cols + j];                                                     \
        }                                                                                       \
        if (dgamma) dgamma[j] = (T)sg;                                                          \
        if (dbeta) dbeta[j] = (T)sb;                                                            \
    }                                                                                           \
    free(part);                                                                                 \
    return 0;                                                                                   \
}

DM_LAYER_NORM(float, f32)
DM_LAYER_NORM(double, f64)
