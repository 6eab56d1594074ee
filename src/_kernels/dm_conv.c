/* dm_conv.c: conv2d forward and backward, channels-last (see dm_conv.h for shapes).
 *
 * Algorithm (chosen per shape):
 *
 * Every output pixel is one row of a matrix product. With K = kh*kw*cin, the kernel is a
 * (K, cout) matrix and the output of one image is the (ho*wo, cout) matrix
 *
 *     Y = act(cols · Kmat + b),    cols[(oh, ow), (i, j, c)] = x[oh*sh - pt + i*dh, ow*sw - pl + j*dw, c]
 *
 * ("im2col", zeros where the window leaves the image), computed by the shared GEMM (dm_gemm.h)
 * with the bias and activation fused in its epilogue.
 *
 * - 1x1 kernel, stride 1, no padding: cols *is* the input, (h*w, cin) rows of x; no copy, the
 *   GEMM reads x directly (forward, grad-input and grad-kernel).
 * - stride 1, dw = 1 (the book's 'same' and 'valid' 3x3 layers): ROW-SHIFTED GEMMs, no im2col.
 *   A band of input rows is copied zero-padded to width wp = pl + w + pr; over that width,
 *   output pixel q = oh*wp + ow reads, for kernel row i, the kw*cin CONTIGUOUS values at
 *   xpad + (q + i*dh*wp)*cin. So each kernel row is one GEMM whose A is the padded band itself,
 *   shifted by i*dh rows and read in place with row stride cin (rows overlap):
 *       Y_wide  = Σ_i  Xpad[i*dh*wp + q, 0:kw*cin] · Kmat_i            (kh GEMMs, m = q's)
 *       dK_i   += Xpad[i*dh*wp + q, 0:kw*cin]ᵀ · dZ_wide                (kh GEMMs, k = q's)
 *   The wp - wo columns past each output row are wrap-around windows: computed and dropped in
 *   Y_wide (copied out row by row), multiplied by zeros in dZ_wide (dz written over the padded
 *   width, zeros there). Cost: wp/wo more products (30/28 on MNIST) and copies of the input
 *   band and of the output, against an im2col of kh*kw times the input written and read back.
 *   The forward (and grad-input as one, below) takes it from kw*cin >= 16 on
 *   (DM_CONV_ROWS_MIN_K_FORWARD): a shallower kernel row (cin = 1: k = 3) makes a GEMM whose
 *   output is re-read and re-written every 3 products; cin = 1 or 3 keeps im2col (K = 9, 27).
 *   Measured with row-shifted GEMMs for them (1 thread): 32x32 3->64 2.5 vs 1.7 ms, 28x28
 *   1->32 equal (0.5 ms), 28x28 2->8 0.19 vs 0.42 ms (narrow outputs gain, wide ones lose).
 *   Grad-kernel takes it for every cin: its GEMMs have the long k (a whole band), and the
 *   (kw*cin, cout) block of dK is read and written once per band. Computing dK_iᵀ = dZ_wideᵀ ·
 *   Xpad (the padded band as B, read row-wise) and adding it transposed was measured slower
 *   (16x16 64->64: 9.6 vs 8.6 ms; 32x32 3->64: 2.5 vs 2.2 ms, 1 thread).
 * - otherwise: im2col of one BAND of output rows at a time into a per-thread workspace of about
 *   DM_CONV_WS_BYTES (at least one output row), never of the whole batch: a 16x16 image with
 *   K = 576 is three bands of 96 pixels, a 224x224 one many. The band stays in cache between
 *   im2col and the GEMM's packing of it. A direct loop for cin = 1 or 3 (a pixel's K inputs
 *   times K rows of the kernel, without FMA contraction in ISO C) was measured slower than
 *   im2col + the GEMM's FMA micro-kernel.
 *
 * Backward, per image (z = pre-activation, dz = dy * act'(.)):
 *     dz            from dy and the saved output (relu, sigmoid, tanh) or pre-activation (gelu),
 *                   into a per-thread buffer of one image's output size (branch-free relu:
 *                   random signs made the branchy loop mispredict half the time)
 *     db  += column sums of dz
 *     dK  += colsᵀ · dz     row-shifted GEMMs as above (stride 1, dw = 1); otherwise per band:
 *                           im2col again (not kept from the forward), GEMM with A transposed
 *     dx, chosen per shape:
 *       - 1x1 stride 1 unpadded: dx = dz · Kmatᵀ, one GEMM writing dx;
 *       - stride 1, every pad <= (k-1)*dilation ('same' and 'valid' convs): dx is
 *         the FORWARD convolution of dz by the kernel rotated 180° with its channel axes
 *         swapped, padded (k-1)*d - p (row-shifted GEMMs when kw*cout >= 16, else im2col of
 *         dz, K' = kh*kw*cout), writing dx once. No scatter, no zeroing, and the GEMM's columns
 *         are cin (not kh*kw*cin with a tiny k = cout as below). Row-shifted against im2col
 *         of dz (1 thread, relu): equal on MNIST conv2 (K' = 144: 2.71-2.77 vs 2.72-2.76 ms),
 *         faster on conv1 (K' = 288, one output column: 0.70-0.73 vs 1.26-1.30 ms);
 *       - otherwise (strides, pads beyond the kernel's reach):
 *         dcols = dz · Kmatᵀ per band (Kmatᵀ transposed once per call so the GEMM reads it
 *         row-wise), then col2im: dx[pixel] += dcols[row, (i, j, :)] (scatter-add).
 *
 * Measured (AMD EPYC Zen 4, float32, batch 32, 3x3 'same' + relu, medians of 20-30 calls, ms
 * on 1 / 2 threads; 1 thread alternating old and new builds, 2 threads in quiet moments of a
 * shared 2-core machine), before -> after the row-shifted GEMMs and the dz/db fixes:
 *     conv2 (28,28,32)->16  forward      3.22 / 1.68  ->  2.45 / 1.30
 *                           grad-input   4.66 / 2.40  ->  2.74 / 1.44
 *                           grad-kernel  5.31 / 2.76  ->  2.49 / 1.32   (+ bias)
 *     conv1 (28,28,1)->32   grad-kernel  3.04 / 1.56  ->  0.40 / 0.26   (+ bias)
 * conv2's three products run at 85-95 GF/s a thread (the FMA peak is 112), GEMM-bound.
 *
 * Threads. Work is split over IMAGES: one image is processed by one thread, its bands in order,
 * so the col2im scatter-adds of one image never race. With several images and threads the
 * images are shared out by an OpenMP loop and each GEMM runs single-threaded (dm_gemm runs on
 * the calling thread inside a parallel region); with one image (or one thread) the images are
 * processed in turn and each GEMM uses all the threads itself.
 * The loops over images (forward) and groups (backward) are scheduled dynamically: a thread
 * that the OS delays (a busy machine) does not hold the others back, and which thread takes an
 * image changes nothing in its result.
 * The batch reduction of dK and db is done in a FIXED number of groups G = min(n, 8): group g
 * accumulates images [g*n/G, (g+1)*n/G) in order into its own buffer, then the G buffers are
 * added in the order g = 0, 1, ... No atomics; every sum has an order that depends on the shape
 * only, so results are bitwise identical for every thread count (dm_gemm's are too).
 *
 * The file includes itself twice to instantiate the float and double versions (T, F()).
 */
#ifndef DM_CONV_TEMPLATE

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "deepmath_kernels.h"
#include "dm_conv.h"
#include "dm_gemm.h"

/* Target size of one thread's im2col workspace (bytes): a band of output rows, half the L2
 * of one core (512 KB here), leaving room for the GEMM's packed kernel panels. Large enough
 * that each GEMM call has a hundred rows or more to amortise its packing of the kernel matrix
 * (and, in grad-kernel, the read-modify-write of the (K, cout) accumulator). Measured on the
 * benchmark shapes: 64 KB bands (16 rows when K = 576) cost up to 2x; 256 KB to 1 MB are
 * within noise, 256 KB slightly ahead (the shared GEMM reads an A block that size in place).
 * The row-shifted path's band (padded input + wide output) uses the same target: 32 KB and
 * 128 KB measured the same on MNIST conv2 (forward, grad-input, grad-kernel). */
#define DM_CONV_WS_BYTES ((int64_t)1 << 18)
/* Number of partial sums of dK/db over the batch (fixed, whatever the thread count). */
#define DM_CONV_GROUPS 8
/* Forward convolutions (and grad-input as one) use row-shifted GEMMs from this depth kw*cin
 * of one kernel row on; shallower ones (a first layer, cin = 1 or 3) im2col all kh*kw*cin. */
#define DM_CONV_ROWS_MIN_K_FORWARD 16
/* Below this many multiply-adds a call runs on one thread. */
#define DM_CONV_PARALLEL_MIN ((int64_t)1 << 18)

int dm_conv2d_output_size(dm_conv2d_shape *s)
{
    int64_t ekh = (s->kh - 1) * s->dh + 1, ekw = (s->kw - 1) * s->dw + 1;
    int64_t hp = s->h + s->pt + s->pb, wp = s->w + s->pl + s->pr;
    if (ekh > hp || ekw > wp) return -1;
    s->ho = (hp - ekh) / s->sh + 1;
    s->wo = (wp - ekw) / s->sw + 1;
    return 0;
}

/* 1x1 kernel, stride 1, no padding: the input rows are the im2col rows. */
static int dm_conv_is_pointwise(const dm_conv2d_shape *s)
{
    return s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 &&
           s->pt == 0 && s->pb == 0 && s->pl == 0 && s->pr == 0;
}

/* Output rows per band: im2col of about `target` bytes, at least 1 row, at most ho. */
static int64_t dm_conv_band_rows(const dm_conv2d_shape *s, size_t elsize, int64_t target)
{
    int64_t row_bytes = s->wo * s->kh * s->kw * s->cin * (int64_t)elsize;
    int64_t bh = row_bytes > 0 ? target / row_bytes : s->ho;
    if (bh < 1) bh = 1;
    if (bh > s->ho) bh = s->ho;
    return bh;
}

/* How one image is cut for a product: row-shifted GEMMs (rows) or im2col, band height, and the
 * per-thread workspace (elements) of one band. */
typedef struct {
    int rows;          /* 1: row-shifted GEMMs on a zero-padded band; 0: im2col (or pointwise) */
    int64_t bh;        /* output rows per band */
    int64_t ws_len;    /* workspace of one band: padded input + wide output, or cols */
} dm_conv_plan;

/* Row-shifted GEMMs need stride 1 and dw = 1 (a window row is kw*cin contiguous values of the
 * padded input); min_k: smallest kw*cin worth it (each kernel row is one GEMM of depth kw*cin,
 * its output read and written again: too shallow a product is dominated by that). */
static dm_conv_plan dm_conv_make_plan(const dm_conv2d_shape *s, size_t elsize, int64_t min_k)
{
    dm_conv_plan p;
    p.rows = s->sh == 1 && s->sw == 1 && s->dw == 1 && !dm_conv_is_pointwise(s) &&
             s->kw * s->cin >= min_k;
    if (p.rows) {
        int64_t wp = s->w + s->pl + s->pr, eh = (s->kh - 1) * s->dh;
        int64_t row_bytes = wp * (s->cin + s->cout) * (int64_t)elsize;
        p.bh = DM_CONV_WS_BYTES / row_bytes - eh;
        if (p.bh < 1) p.bh = 1;
        if (p.bh > s->ho) p.bh = s->ho;
        p.ws_len = (p.bh + eh) * wp * s->cin + p.bh * wp * s->cout;
    } else {
        p.bh = dm_conv_band_rows(s, elsize, DM_CONV_WS_BYTES);
        p.ws_len = dm_conv_is_pointwise(s) ? 1 : p.bh * s->wo * s->kh * s->kw * s->cin;
    }
    return p;
}

/* grad-input as a forward convolution (stride 1 only): dx = conv(dz, flip(K)ᵀ) with the
 * kernel rotated by 180° and its channel axes swapped, padding (k-1)*d - p on each side.
 * Valid when every pad is <= (k-1)*d; taken for every cin: with cin = 1, 2, 3 too (a GEMM
 * of 1 to 3 columns) it beat dcols + col2im (28x28 1->32: 0.74-0.90 vs 0.93 ms; 32x32 3->64:
 * 2.3-2.5 vs 2.8-3.0 ms; 1 thread, relu). Fills *t. */
static int dm_conv_dx_as_forward(const dm_conv2d_shape *s, dm_conv2d_shape *t)
{
    int64_t eh = (s->kh - 1) * s->dh, ew = (s->kw - 1) * s->dw;
    if (s->sh != 1 || s->sw != 1) return 0;
    if (s->pt > eh || s->pb > eh || s->pl > ew || s->pr > ew) return 0;
    t->n = s->n; t->h = s->ho; t->w = s->wo; t->cin = s->cout;
    t->kh = s->kh; t->kw = s->kw; t->cout = s->cin;
    t->sh = t->sw = 1; t->dh = s->dh; t->dw = s->dw;
    t->pt = eh - s->pt; t->pb = eh - s->pb; t->pl = ew - s->pl; t->pr = ew - s->pr;
    dm_conv2d_output_size(t);   /* t->ho == s->h, t->wo == s->w */
    return 1;
}

/* Threads to share the images among: 1 when small, already in a parallel region, or 1 image. */
static int dm_conv_threads(const dm_conv2d_shape *s)
{
#ifdef _OPENMP
    int nt = dm_get_num_threads();
    int64_t work = s->n * s->ho * s->wo * s->kh * s->kw * s->cin * s->cout;
    if (nt <= 1 || s->n < 2 || work < DM_CONV_PARALLEL_MIN || omp_in_parallel()) return 1;
    return (int64_t)nt > s->n ? (int)s->n : nt;
#else
    (void)s;
    return 1;
#endif
}

static int dm_conv_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

#define DM_CONV_TEMPLATE
#define T float
#define F(name) name##_f32
#define GEMM dm_sgemm
#define EXP expf
#define TANH tanhf
#define ERF erff
#include "dm_conv.c"
#undef T
#undef F
#undef GEMM
#undef EXP
#undef TANH
#undef ERF

#define T double
#define F(name) name##_f64
#define GEMM dm_dgemm
#define EXP exp
#define TANH tanh
#define ERF erf
#include "dm_conv.c"

#else /* DM_CONV_TEMPLATE: the body, instantiated for T = float and T = double */

/* cols (rows of band [oh0, oh1) of image `img`, K columns) from x. */
static void F(dm_conv_im2col)(const dm_conv2d_shape *s, const T *x, int64_t img, int64_t oh0,
                              int64_t oh1, T *cols)
{
    const int64_t cin = s->cin, K = s->kh * s->kw * cin;
    const T *xi = x + img * s->h * s->w * cin;
    for (int64_t oh = oh0; oh < oh1; oh++)
        for (int64_t ow = 0; ow < s->wo; ow++) {
            T *dst = cols + ((oh - oh0) * s->wo + ow) * K;
            for (int64_t i = 0; i < s->kh; i++) {
                int64_t ih = oh * s->sh - s->pt + i * s->dh;
                if (ih < 0 || ih >= s->h) {
                    memset(dst, 0, (size_t)(s->kw * cin) * sizeof(T));
                    dst += s->kw * cin;
                    continue;
                }
                int64_t iw0 = ow * s->sw - s->pl;
                if (s->dw == 1 && iw0 >= 0 && iw0 + s->kw <= s->w) {
                    /* the whole window row is inside: kw*cin contiguous values */
                    const T *src = xi + (ih * s->w + iw0) * cin;
                    for (int64_t e = 0; e < s->kw * cin; e++) dst[e] = src[e];
                    dst += s->kw * cin;
                    continue;
                }
                for (int64_t j = 0; j < s->kw; j++, dst += cin) {
                    int64_t iw = iw0 + j * s->dw;
                    if (iw < 0 || iw >= s->w)
                        memset(dst, 0, (size_t)cin * sizeof(T));
                    else
                        memcpy(dst, xi + (ih * s->w + iw) * cin, (size_t)cin * sizeof(T));
                }
            }
        }
}

/* Zero-padded rows [r0, r0 + nr) of image `img` of x (padded rows: input row r - pt; padded
 * width wp = pl + w + pr) into xp, (nr, wp, cin). */
static void F(dm_conv_pad_rows)(const dm_conv2d_shape *s, const T *x, int64_t img, int64_t r0,
                                int64_t nr, T *xp)
{
    const int64_t cin = s->cin, wp = s->w + s->pl + s->pr;
    const T *xi = x + img * s->h * s->w * cin;
    for (int64_t r = 0; r < nr; r++) {
        int64_t ih = r0 + r - s->pt;
        T *d = xp + r * wp * cin;
        if (ih < 0 || ih >= s->h) {
            memset(d, 0, (size_t)(wp * cin) * sizeof(T));
            continue;
        }
        memset(d, 0, (size_t)(s->pl * cin) * sizeof(T));
        memcpy(d + s->pl * cin, xi + ih * s->w * cin, (size_t)(s->w * cin) * sizeof(T));
        memset(d + (s->pl + s->w) * cin, 0, (size_t)(s->pr * cin) * sizeof(T));
    }
}

/* Row-shifted convolution of one band of nrow output rows (stride 1, dw = 1), xp its padded
 * input rows (dm_conv_pad_rows). Over the padded width wp, output pixel q = r*wp + ow and the
 * window row i of its receptive field is the kw*cin contiguous values at xp + (q + i*dh*wp)*cin:
 * for each kernel row i, ONE GEMM whose A is xp shifted by i*dh rows, read in place with row
 * stride cin (overlapping rows), no im2col. q runs over (nrow-1)*wp + wo pixels; the wp - wo
 * columns past each output row are wrap-around windows, computed and dropped. */
static void F(dm_conv_rows_forward)(const dm_conv2d_shape *s, const T *xp, const T *k,
                                    const T *b, int act, int64_t nrow, T *yw)
{
    const int64_t cin = s->cin, cout = s->cout, wp = s->w + s->pl + s->pr, kr = s->kw * cin;
    const int64_t q = (nrow - 1) * wp + s->wo;
    for (int64_t i = 0; i < s->kh; i++) {
        int last = i == s->kh - 1;
        GEMM(0, 0, q, cout, kr, (T)1, xp + i * s->dh * wp * cin, cin, k + i * kr * cout, cout,
             i ? (T)1 : (T)0, yw, cout, last ? b : NULL, last ? act : DM_ACT_NONE);
    }
}

/* grad-kernel of the same band: dk[i] += (xp shifted by i*dh rows)ᵀ · dzw per kernel row, a
 * GEMM of depth (nrow-1)*wp + wo (the whole band: long k, the (kw*cin, cout) block of dk read
 * and written once per band). dzw is dz over the padded width, zero in the wrap-around
 * columns, so their products vanish. */
static void F(dm_conv_rows_dkernel)(const dm_conv2d_shape *s, const T *xp, const T *dz,
                                    int64_t oh0, int64_t nrow, T *dzw, T *dk)
{
    const int64_t cin = s->cin, cout = s->cout, wp = s->w + s->pl + s->pr, kr = s->kw * cin;
    const int64_t q = (nrow - 1) * wp + s->wo;
    for (int64_t r = 0; r < nrow; r++) {
        memcpy(dzw + r * wp * cout, dz + (oh0 + r) * s->wo * cout,
               (size_t)(s->wo * cout) * sizeof(T));
        memset(dzw + (r * wp + s->wo) * cout, 0, (size_t)((wp - s->wo) * cout) * sizeof(T));
    }
    for (int64_t i = 0; i < s->kh; i++)
        GEMM(1, 0, kr, cout, q, (T)1, xp + i * s->dh * wp * cin, cin, dzw, cout, (T)1,
             dk + i * kr * cout, cout, NULL, DM_ACT_NONE);
}

/* dx[img] += col2im(dcols) for band [oh0, oh1): rows in order, then (i, j), then channels. */
static void F(dm_conv_col2im)(const dm_conv2d_shape *s, const T *dcols, int64_t img,
                              int64_t oh0, int64_t oh1, T *dx)
{
    const int64_t cin = s->cin, K = s->kh * s->kw * cin;
    T *dxi = dx + img * s->h * s->w * cin;
    for (int64_t oh = oh0; oh < oh1; oh++)
        for (int64_t ow = 0; ow < s->wo; ow++) {
            const T *src = dcols + ((oh - oh0) * s->wo + ow) * K;
            for (int64_t i = 0; i < s->kh; i++) {
                int64_t ih = oh * s->sh - s->pt + i * s->dh;
                if (ih < 0 || ih >= s->h) {
                    src += s->kw * cin;
                    continue;
                }
                for (int64_t j = 0; j < s->kw; j++, src += cin) {
                    int64_t iw = ow * s->sw - s->pl + j * s->dw;
                    if (iw < 0 || iw >= s->w) continue;
                    T *d = dxi + (ih * s->w + iw) * cin;
                    for (int64_t c = 0; c < cin; c++) d[c] += src[c];
                }
            }
        }
}

/* dz = dy * act'(.) over `n` elements; yz is the output (relu, sigmoid, tanh) or the
 * pre-activation (gelu). Written as in ops/activations.py. */
static void F(dm_conv_dact)(int act, const T *restrict yz, const T *restrict dy,
                            T *restrict dz, int64_t n)
{
    switch (act) {
    case DM_ACT_RELU:   /* dy loaded unconditionally: a select, vectorised, no branch (random
                         * signs made the branchy loop mispredict half the time: 1.7 ms of
                         * conv2's 4.7 ms grad-input on one thread) */
        for (int64_t i = 0; i < n; i++) {
            T d = dy[i];
            dz[i] = yz[i] > 0 ? d : (T)0;
        }
        break;
    case DM_ACT_SIGMOID:
        for (int64_t i = 0; i < n; i++) dz[i] = dy[i] * (yz[i] * (1 - yz[i]));
        break;
    case DM_ACT_TANH:
        for (int64_t i = 0; i < n; i++) dz[i] = dy[i] * (1 - yz[i] * yz[i]);
        break;
    case DM_ACT_GELU:
        for (int64_t i = 0; i < n; i++) {
            T z = yz[i];
            T cdf = (T)0.5 * (1 + ERF(z * (T)0.70710678118654752440));
            T pdf = EXP((T)-0.5 * z * z) * (T)0.39894228040143267794;
            dz[i] = dy[i] * (cdf + z * pdf);
        }
        break;
    case DM_ACT_GELU_TANH:
        for (int64_t i = 0; i < n; i++) {
            T z = yz[i], c = (T)0.79788456080286535588;
            T t = TANH(c * (z + (T)0.044715 * z * z * z));
            dz[i] = dy[i] * ((T)0.5 * (1 + t) +
                             (T)0.5 * z * (1 - t * t) * c * (1 + 3 * (T)0.044715 * z * z));
        }
        break;
    default:
        memcpy(dz, dy, (size_t)n * sizeof(T));
    }
}

/* db[c] += sum over rows r (in order) of dz[r, c]. restrict lets the compiler keep the loop
 * over c in vector registers (with db possibly aliasing dz it summed one float at a time). */
static void F(dm_conv_colsum)(const T *restrict dz, int64_t rows, int64_t cout, T *restrict db)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cout; c++) db[c] += dz[r * cout + c];
}

/* ---- forward ------------------------------------------------------------------------------ */

static void F(dm_conv_forward_image)(const dm_conv2d_shape *s, const T *x, const T *k,
                                     const T *b, int act, T *y, int64_t img,
                                     const dm_conv_plan *p, T *ws)
{
    const int64_t K = s->kh * s->kw * s->cin, pw = dm_conv_is_pointwise(s);
    const int64_t wp = s->w + s->pl + s->pr, eh = (s->kh - 1) * s->dh;
    for (int64_t oh0 = 0; oh0 < s->ho; oh0 += p->bh) {
        int64_t oh1 = oh0 + p->bh < s->ho ? oh0 + p->bh : s->ho, rows = (oh1 - oh0) * s->wo;
        int64_t r0 = img * s->ho * s->wo + oh0 * s->wo;   /* first output row of the band */
        if (p->rows) {
            T *xp = ws, *yw = ws + (p->bh + eh) * wp * s->cin;
            F(dm_conv_pad_rows)(s, x, img, oh0, oh1 - oh0 + eh, xp);
            F(dm_conv_rows_forward)(s, xp, k, b, act, oh1 - oh0, yw);
            for (int64_t r = 0; r < oh1 - oh0; r++)
                memcpy(y + (r0 + r * s->wo) * s->cout, yw + r * wp * s->cout,
                       (size_t)(s->wo * s->cout) * sizeof(T));
            continue;
        }
        const T *A;
        if (pw) {
            A = x + r0 * s->cin;                          /* ho == h, wo == w */
        } else {
            F(dm_conv_im2col)(s, x, img, oh0, oh1, ws);
            A = ws;
        }
        GEMM(0, 0, rows, s->cout, K, (T)1, A, K, k, s->cout, (T)0, y + r0 * s->cout, s->cout,
             b, act);
    }
}

int F(dm_conv2d_forward)(const dm_conv2d_shape *s, const T *x, const T *k, const T *b,
                         int act, T *y)
{
    const dm_conv_plan p = dm_conv_make_plan(s, sizeof(T), DM_CONV_ROWS_MIN_K_FORWARD);
    const int nt = dm_conv_threads(s);
    T *ws = (T *)malloc((size_t)(p.ws_len * nt) * sizeof(T));
    if (!ws) return -1;
    if (nt > 1) {
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
#endif
        for (int64_t img = 0; img < s->n; img++)
            F(dm_conv_forward_image)(s, x, k, b, act, y, img, &p,
                                     ws + dm_conv_thread_id() * p.ws_len);
    } else {
        for (int64_t img = 0; img < s->n; img++)
            F(dm_conv_forward_image)(s, x, k, b, act, y, img, &p, ws);
    }
    free(ws);
    return 0;
}

/* ---- backward ----------------------------------------------------------------------------- */

/* Buffers shared by the images of one backward call. */
typedef struct {
    const dm_conv2d_shape *s;
    const T *x, *k, *yz, *dy;
    int act, pw, dxf;          /* activation, pointwise (1x1), grad-input as a forward conv */
    dm_conv2d_shape t;         /* the forward conv computing dx when dxf */
    const T *kt;               /* dxf: flipped kernel (kh, kw, cout, cin); else Kᵀ (cout, K) */
    dm_conv_plan pk, pc, pt;   /* bands: grad-kernel / col2im (im2col bands) / dx conv */
} F(dm_conv_bwd);

/* One group of images [i0, i1): dk_g += colsᵀ·dz, db_g += Σ dz, dx[img]. dk_g and db_g are
 * zeroed by the caller. ws: dz of one image, then one band of cols (or of dcols). */
static void F(dm_conv_backward_group)(const F(dm_conv_bwd) *B, T *dx, T *dk_g, T *db_g,
                                      int64_t i0, int64_t i1, T *ws)
{
    const dm_conv2d_shape *s = B->s;
    const int64_t cin = s->cin, cout = s->cout, K = s->kh * s->kw * cin;
    const int64_t npix = s->ho * s->wo;
    T *dzi = ws, *cols = ws + npix * cout;
    for (int64_t img = i0; img < i1; img++) {
        const int64_t r_img = img * npix;              /* first output row of the image */
        const T *dz = B->dy + r_img * cout;
        if (B->act != DM_ACT_NONE) {
            F(dm_conv_dact)(B->act, B->yz + r_img * cout, dz, dzi, npix * cout);
            dz = dzi;
        }
        if (db_g) F(dm_conv_colsum)(dz, npix, cout, db_g);
        if (dk_g) {
            if (B->pw) {
                GEMM(1, 0, K, cout, npix, (T)1, B->x + r_img * cin, K, dz, cout, (T)1, dk_g,
                     cout, NULL, DM_ACT_NONE);
            } else if (B->pk.rows) {
                const int64_t bh = B->pk.bh, eh = (s->kh - 1) * s->dh;
                T *dzw = cols + (bh + eh) * (s->w + s->pl + s->pr) * cin;
                for (int64_t oh0 = 0; oh0 < s->ho; oh0 += bh) {
                    int64_t nrow = oh0 + bh < s->ho ? bh : s->ho - oh0;
                    F(dm_conv_pad_rows)(s, B->x, img, oh0, nrow + eh, cols);
                    F(dm_conv_rows_dkernel)(s, cols, dz, oh0, nrow, dzw, dk_g);
                }
            } else {
                for (int64_t oh0 = 0; oh0 < s->ho; oh0 += B->pk.bh) {
                    int64_t oh1 = oh0 + B->pk.bh < s->ho ? oh0 + B->pk.bh : s->ho;
                    int64_t rows = (oh1 - oh0) * s->wo;
                    F(dm_conv_im2col)(s, B->x, img, oh0, oh1, cols);
                    GEMM(1, 0, K, cout, rows, (T)1, cols, K, dz + oh0 * s->wo * cout, cout,
                         (T)1, dk_g, cout, NULL, DM_ACT_NONE);
                }
            }
        }
        if (dx) {
            T *dxi = dx + img * s->h * s->w * cin;
            if (B->pw) {                  /* dx = dz · Kᵀ, K read transposed in place */
                GEMM(0, 1, npix, cin, cout, (T)1, dz, cout, B->k, cout, (T)0, dxi, cin, NULL,
                     DM_ACT_NONE);
            } else if (B->dxf) {          /* dx = conv(dz, flipped kernel): writes dx once */
                F(dm_conv_forward_image)(&B->t, dz, B->kt, NULL, DM_ACT_NONE, dxi, 0, &B->pt,
                                         cols);
            } else {                      /* dcols = dz · Kᵀ per band, then col2im */
                memset(dxi, 0, (size_t)(s->h * s->w * cin) * sizeof(T));
                for (int64_t oh0 = 0; oh0 < s->ho; oh0 += B->pc.bh) {
                    int64_t oh1 = oh0 + B->pc.bh < s->ho ? oh0 + B->pc.bh : s->ho;
                    int64_t rows = (oh1 - oh0) * s->wo;
                    GEMM(0, 0, rows, K, cout, (T)1, dz + oh0 * s->wo * cout, cout, B->kt, K,
                         (T)0, cols, K, NULL, DM_ACT_NONE);
                    F(dm_conv_col2im)(s, cols, img, oh0, oh1, dx);
                }
            }
        }
    }
}

int F(dm_conv2d_backward)(const dm_conv2d_shape *s, const T *x, const T *k, const T *yz,
                          const T *dy, int act, T *dx, T *dk, T *db)
{
    const int64_t cin = s->cin, cout = s->cout, K = s->kh * s->kw * cin;
    const int64_t G = s->n < DM_CONV_GROUPS ? s->n : DM_CONV_GROUPS;
    const int nt = dm_conv_threads(s);
    F(dm_conv_bwd) B;
    if (dk) memset(dk, 0, (size_t)(K * cout) * sizeof(T));
    if (db) memset(db, 0, (size_t)cout * sizeof(T));
    if (s->n == 0) return 0;
    B.s = s; B.x = x; B.k = k; B.yz = yz; B.dy = dy; B.act = act;
    B.pw = dm_conv_is_pointwise(s);
    B.dxf = dx && !B.pw && dm_conv_dx_as_forward(s, &B.t);
    /* grad-kernel row-shifted whenever it applies; im2col bands for col2im's dcols */
    B.pk = dm_conv_make_plan(s, sizeof(T), 1);
    B.pc = dm_conv_make_plan(s, sizeof(T), INT64_MAX);
    if (B.dxf) B.pt = dm_conv_make_plan(&B.t, sizeof(T), DM_CONV_ROWS_MIN_K_FORWARD);
    /* per thread: dz of one image, then the largest band workspace among those used */
    int64_t band_len = 0;
    if (!B.pw && dk && B.pk.ws_len > band_len) band_len = B.pk.ws_len;
    if (!B.pw && dx && !B.dxf && B.pc.ws_len > band_len) band_len = B.pc.ws_len;
    if (B.dxf && B.pt.ws_len > band_len) band_len = B.pt.ws_len;
    const int64_t ws_len = s->ho * s->wo * cout + band_len;
    /* per group g >= 1: a dk partial (K x cout) and a db partial (cout); group 0 uses dk, db */
    const int64_t part_len = (dk ? K * cout : 0) + (db ? cout : 0);
    const int64_t kt_len = (dx && !B.pw) ? K * cout : 0;
    T *ws = (T *)malloc((size_t)(ws_len * nt + part_len * (G - 1) + kt_len + 1) * sizeof(T));
    if (!ws) return -1;
    T *parts = ws + ws_len * nt, *kt = parts + part_len * (G - 1);
    if (part_len * (G - 1) > 0) memset(parts, 0, (size_t)(part_len * (G - 1)) * sizeof(T));
    if (kt_len) {
        if (B.dxf)   /* kt[i', j', o, c] = k[kh-1-i', kw-1-j', c, o] */
            for (int64_t i = 0; i < s->kh; i++)
                for (int64_t j = 0; j < s->kw; j++) {
                    const T *src = k + ((s->kh - 1 - i) * s->kw + (s->kw - 1 - j)) * cin * cout;
                    T *dst = kt + (i * s->kw + j) * cout * cin;
                    for (int64_t c = 0; c < cin; c++)
                        for (int64_t o = 0; o < cout; o++) dst[o * cin + c] = src[c * cout + o];
                }
        else         /* kt = Kᵀ, (cout, K) */
            for (int64_t r = 0; r < K; r++)
                for (int64_t o = 0; o < cout; o++) kt[o * K + r] = k[r * cout + o];
    }
    B.kt = kt;

#define DM_CONV_GROUP_CALL(g, wsp)                                                           \
    do {                                                                                     \
        T *pg = parts + ((g) - 1) * part_len;                                                \
        T *dkg = !dk ? NULL : (g) == 0 ? dk : pg;                                            \
        T *dbg = !db ? NULL : (g) == 0 ? db : pg + (dk ? K * cout : 0);                      \
        F(dm_conv_backward_group)(&B, dx, dkg, dbg, (g) * s->n / G, ((g) + 1) * s->n / G,     \
                                  (wsp));                                                    \
    } while (0)

    if (nt > 1) {
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
#endif
        for (int64_t g = 0; g < G; g++) DM_CONV_GROUP_CALL(g, ws + dm_conv_thread_id() * ws_len);
    } else {
        for (int64_t g = 0; g < G; g++) DM_CONV_GROUP_CALL(g, ws);
    }
#undef DM_CONV_GROUP_CALL

    /* dk = Σ_g dk_g, db = Σ_g db_g, in the order g = 0, 1, ..., G-1 */
    for (int64_t g = 1; g < G; g++) {
        T *pg = parts + (g - 1) * part_len;
        if (dk)
            for (int64_t i = 0; i < K * cout; i++) dk[i] += pg[i];
        if (db)
            for (int64_t c = 0; c < cout; c++) db[c] += pg[(dk ? K * cout : 0) + c];
    }
    free(ws);
    return 0;
}

#endif /* DM_CONV_TEMPLATE */
