/* conv.cu: 2-D convolution helpers of deepmath's CuPy backend (channels-last, Keras Conv2D).
 *
 * The convolution is im2col -> one GEMM (cuBLAS, through cupy.matmul) -> bias + activation:
 *   col (N*Ho*Wo, kh*kw*C) with col[r, (i*kw + j)*C + c] = x[n, oh*sh - pt + i*dh,
 *   ow*sw - pl + j*dw, c] (0 in the padding), r = (n*Ho + oh)*Wo + ow, so that
 *   z = col . w.reshape(kh*kw*C, C_out).
 * The backward's dcol = dz . w2^T goes back to dx with col2im written as a GATHER: each input
 * element sums the column entries that read it, in increasing (i, j) order; no atomics, the
 * result is deterministic.
 * Activations (codes as DM_ACT_* of src/_kernels/dm_gemm.h: 0 none, 1 relu, 2 sigmoid,
 * 3 tanh, 4 gelu (erf), 5 gelu_tanh) follow deepmath/backend/gemm.py's formulas.
 */

__device__ __forceinline__ float dm_exp(float a) { return expf(a); }
__device__ __forceinline__ double dm_exp(double a) { return exp(a); }
__device__ __forceinline__ float dm_tanh(float a) { return tanhf(a); }
__device__ __forceinline__ double dm_tanh(double a) { return tanh(a); }
__device__ __forceinline__ float dm_erf(float a) { return erff(a); }
__device__ __forceinline__ double dm_erf(double a) { return erf(a); }
__device__ __forceinline__ float dm_abs(float a) { return fabsf(a); }
__device__ __forceinline__ double dm_abs(double a) { return fabs(a); }

#define DM_SQRT1_2 0.70710678118654752440          /* 1/sqrt(2) */
#define DM_SQRT_2_OVER_PI 0.79788456080286535588   /* sqrt(2/pi) */
#define DM_INV_SQRT_2PI 0.39894228040143267794     /* 1/sqrt(2 pi) */
#define DM_GELU_C 0.044715

/* act(z) for an activation code. */
template <typename T>
__device__ __forceinline__ T dm_activation(T z, int code)
{
    const T half = (T)0.5, one = (T)1;
    switch (code) {
    case 1: return z <= (T)0 ? (T)0 : z;
    case 2: { const T e = dm_exp(-dm_abs(z)); return z >= (T)0 ? one / (one + e) : e / (one + e); }
    case 3: return dm_tanh(z);
    case 4: return half * z * (one + dm_erf(z / (T)1.41421356237309504880));
    case 5: {
        const T inner = (T)DM_SQRT_2_OVER_PI * (z + (T)DM_GELU_C * z * z * z);
        return half * z * (one + dm_tanh(inner));
    }
    default: return z;
    }
}

/* grad * act'(.) from the saved output s (relu, sigmoid, tanh) or pre-activation (gelu). */
template <typename T>
__device__ __forceinline__ T dm_activation_grad(T s, T g, int code)
{
    const T half = (T)0.5, one = (T)1;
    switch (code) {
    case 1: return g * (T)(s > (T)0);
    case 2: return g * s * (one - s);
    case 3: return g * (one - s * s);
    case 4: {
        const T cdf = half * (one + dm_erf(s / (T)1.41421356237309504880));
        const T pdf = dm_exp((T)-0.5 * s * s) / (T)2.50662827463100050242;
        return g * (cdf + s * pdf);
    }
    case 5: {
        const T t = dm_tanh((T)DM_SQRT_2_OVER_PI * (s + (T)DM_GELU_C * s * s * s));
        const T d = half * (one + t) + half * s * (one - t * t) * (T)DM_SQRT_2_OVER_PI
                    * (one + (T)(3 * DM_GELU_C) * s * s);
        return g * d;
    }
    default: return g;
    }
}

/* x (N, H, W, C) -> col (N*Ho*Wo, kh*kw*C), zeros in the padding. */
#define DM_IM2COL(NAME, T)                                                                      \
extern "C" __global__ void NAME(const T *__restrict__ x, T *__restrict__ col, long long N,     \
                                long long H, long long W, long long C, long long Ho,          \
                                long long Wo, long long kh, long long kw, long long sh,       \
                                long long sw, long long pt, long long pl, long long dh,       \
                                long long dw)                                                 \
{                                                                                             \
    const long long K = kh * kw * C, total = N * Ho * Wo * K;                                 \
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;           \
         e += (long long)blockDim.x * gridDim.x) {                                            \
        const long long r = e / K, k = e % K;                                                 \
        const long long c = k % C, j = (k / C) % kw, i = k / (C * kw);                        \
        const long long ow = r % Wo, oh = (r / Wo) % Ho, n = r / (Wo * Ho);                   \
        const long long ih = oh * sh - pt + i * dh, iw = ow * sw - pl + j * dw;               \
        col[e] = (ih >= 0 && ih < H && iw >= 0 && iw < W)                                     \
                 ? x[((n * H + ih) * W + iw) * C + c] : (T)0;                                 \
    }                                                                                         \
}
DM_IM2COL(im2col_f32, float)
DM_IM2COL(im2col_f64, double)

/* dcol (N*Ho*Wo, kh*kw*C) -> dx (N, H, W, C): dx[n, ih, iw, c] sums dcol over the (output,
 * tap) pairs that read x[n, ih, iw, c]: oh*sh - pt + i*dh = ih, ow*sw - pl + j*dw = iw. */
#define DM_COL2IM(NAME, T)                                                                      \
extern "C" __global__ void NAME(const T *__restrict__ dcol, T *__restrict__ dx, long long N,  \
                                long long H, long long W, long long C, long long Ho,          \
                                long long Wo, long long kh, long long kw, long long sh,       \
                                long long sw, long long pt, long long pl, long long dh,       \
                                long long dw)                                                 \
{                                                                                             \
    const long long K = kh * kw * C, total = N * H * W * C;                                   \
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;           \
         e += (long long)blockDim.x * gridDim.x) {                                            \
        const long long c = e % C, iw = (e / C) % W, ih = (e / (C * W)) % H;                  \
        const long long n = e / (C * W * H);                                                  \
        T acc = (T)0;                                                                         \
        for (long long i = 0; i < kh; i++) {                                                  \
            const long long a = ih + pt - i * dh;                                             \
            if (a < 0 || a % sh != 0 || a / sh >= Ho) continue;                               \
            for (long long j = 0; j < kw; j++) {                                              \
                const long long b = iw + pl - j * dw;                                         \
                if (b < 0 || b % sw != 0 || b / sw >= Wo) continue;                           \
                acc += dcol[((n * Ho + a / sh) * Wo + b / sw) * K + (i * kw + j) * C + c];    \
            }                                                                                 \
        }                                                                                     \
        dx[e] = acc;                                                                          \
    }                                                                                         \
}
DM_COL2IM(col2im_f32, float)
DM_COL2IM(col2im_f64, double)

/* z (rows, C) in place: z = act(z + b) (b (C,) read only when has_bias). */
#define DM_BIAS_ACT(NAME, T)                                                                    \
extern "C" __global__ void NAME(T *__restrict__ z, const T *__restrict__ b, long long rows,   \
                                long long C, int has_bias, int code)                          \
{                                                                                             \
    const long long total = rows * C;                                                         \
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < total;           \
         e += (long long)blockDim.x * gridDim.x)                                              \
        z[e] = dm_activation<T>(has_bias ? z[e] + b[e % C] : z[e], code);                     \
}
DM_BIAS_ACT(bias_act_f32, float)
DM_BIAS_ACT(bias_act_f64, double)

/* saved, grad, dz (n,): dz = grad * act'(.). */
#define DM_ACT_GRAD(NAME, T)                                                                    \
extern "C" __global__ void NAME(const T *__restrict__ saved, const T *__restrict__ grad,      \
                                T *__restrict__ dz, long long n, int code)                    \
{                                                                                             \
    for (long long e = blockIdx.x * (long long)blockDim.x + threadIdx.x; e < n;               \
         e += (long long)blockDim.x * gridDim.x)                                              \
        dz[e] = dm_activation_grad<T>(saved[e], grad[e], code);                               \
}
DM_ACT_GRAD(act_grad_f32, float)
DM_ACT_GRAD(act_grad_f64, double)
