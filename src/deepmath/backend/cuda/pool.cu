/* pool.cu: 2-D max / average pooling on channels-last arrays, deepmath's CuPy backend.
 *
 * Geometry as deepmath/backend/pool.py: x (N, H, W, C), windows (ph, pw) at strides (sh, sw),
 * output (N, Ho, Wo, C), window (oh, ow) starting at input row oh * sh - pt, column
 * ow * sw - pl; cells outside the input are ignored. argmax (int32) is the offset
 * kh * pw + kw of the picked cell in its window: the first maximum in row-major order, or the
 * first NaN.
 *
 * Forward: one thread per output element. Backward: a gather, one thread per input element,
 * summing the gradients of the windows that cover it (output rows
 * oh in [ceil((ih + pt - ph + 1) / sh), floor((ih + pt) / sh)] clamped to [0, Ho), columns
 * likewise), in increasing (oh, ow) order: no atomics, the result is deterministic.
 */

/* First covering output index lo and end hi (exclusive) of input index i; may be empty. */
__device__ __forceinline__ void dm_covering(long long i, long long pad, long long pool,
                                            long long stride, long long n_out,
                                            long long *lo, long long *hi)
{
    const long long first = i + pad - pool + 1;
    const long long last = (i + pad) / stride + 1;
    *lo = first <= 0 ? 0 : (first + stride - 1) / stride;
    *hi = last < n_out ? last : n_out;
}

/* x (N, H, W, C) -> y (N, Ho, Wo, C), argmax (N, Ho, Wo, C) int32. */
#define DM_MAX_FORWARD(NAME, T)                                                                 \
extern "C" __global__ void NAME(const T *__restrict__ x, T *__restrict__ y,                   \
                                int *__restrict__ argmax, long long N, long long H,           \
                                long long W, long long C, long long Ho, long long Wo,         \
                                long long ph, long long pw, long long sh, long long sw,       \
                                long long pt, long long pl)                                   \
{                                                                                             \
    const long long total = N * Ho * Wo * C;                                                  \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;           \
         i += (long long)blockDim.x * gridDim.x) {                                            \
        const long long c = i % C, ow = (i / C) % Wo, oh = (i / (C * Wo)) % Ho;               \
        const long long n = i / (C * Wo * Ho);                                                \
        const long long h0 = oh * sh - pt, w0 = ow * sw - pl;                                 \
        T best = (T)0;                                                                        \
        int arg = 0, seen = 0;                                                                \
        for (long long kh = 0; kh < ph; kh++) {                                               \
            const long long ih = h0 + kh;                                                     \
            if (ih < 0 || ih >= H) continue;                                                  \
            for (long long kw = 0; kw < pw; kw++) {                                           \
                const long long iw = w0 + kw;                                                 \
                if (iw < 0 || iw >= W) continue;                                              \
                const T v = x[((n * H + ih) * W + iw) * C + c];                               \
                if (!seen || v > best || (v != v && best == best)) {                          \
                    best = v;                                                                 \
                    arg = (int)(kh * pw + kw);                                                \
                }                                                                             \
                seen = 1;                                                                     \
            }                                                                                 \
        }                                                                                     \
        y[i] = best;                                                                          \
        argmax[i] = arg;                                                                      \
    }                                                                                         \
}
DM_MAX_FORWARD(max_pool_forward_f32, float)
DM_MAX_FORWARD(max_pool_forward_f64, double)

/* grad, argmax (N, Ho, Wo, C) -> dx (N, H, W, C): each input cell sums the gradients of the
 * windows whose argmax points at it. */
#define DM_MAX_BACKWARD(NAME, T)                                                                \
extern "C" __global__ void NAME(const T *__restrict__ grad, const int *__restrict__ argmax,   \
                                T *__restrict__ dx, long long N, long long H, long long W,    \
                                long long C, long long Ho, long long Wo, long long ph,        \
                                long long pw, long long sh, long long sw, long long pt,       \
                                long long pl)                                                 \
{                                                                                             \
    const long long total = N * H * W * C;                                                    \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;           \
         i += (long long)blockDim.x * gridDim.x) {                                            \
        const long long c = i % C, iw = (i / C) % W, ih = (i / (C * W)) % H;                  \
        const long long n = i / (C * W * H);                                                  \
        long long oh0, oh1, ow0, ow1;                                                         \
        dm_covering(ih, pt, ph, sh, Ho, &oh0, &oh1);                                          \
        dm_covering(iw, pl, pw, sw, Wo, &ow0, &ow1);                                          \
        T acc = (T)0;                                                                         \
        for (long long oh = oh0; oh < oh1; oh++)                                              \
            for (long long ow = ow0; ow < ow1; ow++) {                                        \
                const long long o = ((n * Ho + oh) * Wo + ow) * C + c;                        \
                const long long k = (ih - (oh * sh - pt)) * pw + (iw - (ow * sw - pl));       \
                if (argmax[o] == k) acc += grad[o];                                           \
            }                                                                                 \
        dx[i] = acc;                                                                          \
    }                                                                                         \
}
DM_MAX_BACKWARD(max_pool_backward_f32, float)
DM_MAX_BACKWARD(max_pool_backward_f64, double)

/* Number of cells of the window starting at (h0, w0) that lie inside the (H, W) input. */
__device__ __forceinline__ long long dm_window_count(long long h0, long long w0, long long ph,
                                                     long long pw, long long H, long long W)
{
    const long long hs = h0 > 0 ? h0 : 0, he = h0 + ph < H ? h0 + ph : H;
    const long long ws = w0 > 0 ? w0 : 0, we = w0 + pw < W ? w0 + pw : W;
    return (he > hs ? he - hs : 0) * (we > ws ? we - ws : 0);
}

/* x (N, H, W, C) -> y (N, Ho, Wo, C): the mean of each window's cells inside the input. */
#define DM_AVG_FORWARD(NAME, T)                                                                 \
extern "C" __global__ void NAME(const T *__restrict__ x, T *__restrict__ y, long long N,      \
                                long long H, long long W, long long C, long long Ho,          \
                                long long Wo, long long ph, long long pw, long long sh,       \
                                long long sw, long long pt, long long pl)                     \
{                                                                                             \
    const long long total = N * Ho * Wo * C;                                                  \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;           \
         i += (long long)blockDim.x * gridDim.x) {                                            \
        const long long c = i % C, ow = (i / C) % Wo, oh = (i / (C * Wo)) % Ho;               \
        const long long n = i / (C * Wo * Ho);                                                \
        const long long h0 = oh * sh - pt, w0 = ow * sw - pl;                                 \
        T acc = (T)0;                                                                         \
        for (long long kh = 0; kh < ph; kh++) {                                               \
            const long long ih = h0 + kh;                                                     \
            if (ih < 0 || ih >= H) continue;                                                  \
            for (long long kw = 0; kw < pw; kw++) {                                           \
                const long long iw = w0 + kw;                                                 \
                if (iw >= 0 && iw < W) acc += x[((n * H + ih) * W + iw) * C + c];             \
            }                                                                                 \
        }                                                                                     \
        y[i] = acc / (T)dm_window_count(h0, w0, ph, pw, H, W);                                \
    }                                                                                         \
}
DM_AVG_FORWARD(avg_pool_forward_f32, float)
DM_AVG_FORWARD(avg_pool_forward_f64, double)

/* grad (N, Ho, Wo, C) -> dx (N, H, W, C): each input cell sums grad / count of the windows
 * that cover it. */
#define DM_AVG_BACKWARD(NAME, T)                                                                \
extern "C" __global__ void NAME(const T *__restrict__ grad, T *__restrict__ dx, long long N,  \
                                long long H, long long W, long long C, long long Ho,          \
                                long long Wo, long long ph, long long pw, long long sh,       \
                                long long sw, long long pt, long long pl)                     \
{                                                                                             \
    const long long total = N * H * W * C;                                                    \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;           \
         i += (long long)blockDim.x * gridDim.x) {                                            \
        const long long c = i % C, iw = (i / C) % W, ih = (i / (C * W)) % H;                  \
        const long long n = i / (C * W * H);                                                  \
        long long oh0, oh1, ow0, ow1;                                                         \
        dm_covering(ih, pt, ph, sh, Ho, &oh0, &oh1);                                          \
        dm_covering(iw, pl, pw, sw, Wo, &ow0, &ow1);                                          \
        T acc = (T)0;                                                                         \
        for (long long oh = oh0; oh < oh1; oh++)                                              \
            for (long long ow = ow0; ow < ow1; ow++) {                                        \
                const long long cnt = dm_window_count(oh * sh - pt, ow * sw - pl, ph, pw, H, W); \
                acc += grad[((n * Ho + oh) * Wo + ow) * C + c] / (T)cnt;                      \
            }                                                                                 \
        dx[i] = acc;                                                                          \
    }                                                                                         \
}
DM_AVG_BACKWARD(avg_pool_backward_f32, float)
DM_AVG_BACKWARD(avg_pool_backward_f64, double)
