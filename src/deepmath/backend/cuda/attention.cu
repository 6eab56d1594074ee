/* attention.cu: fused scaled dot-product attention (no mask, optionally causal) of deepmath's
 * CuPy backend; the semantics of deepmath/backend/attention.py.
 *
 * q (BH, Tq, d), k and v (BH, Tk, d) (B and H merged), scores s_ij = q_i . k_j * scale over the
 * keys j < Tk (j <= i when causal, top-left aligned). The (Tq, Tk) matrix is never stored:
 * - forward: one thread per (bh, query row) runs an online softmax over the keys, keeping the
 *   running max m, the running sum l and the output row acc in per-thread arrays; out =
 *   acc / l, lse = m + log l (a row without keys: out 0, lse -inf);
 * - backward: p_ij = exp(s_ij - lse_i) recomputed from lse, D_i = grad_i . out_i (given);
 *   ds_ij = p_ij (grad_i . v_j - D_i) scale; one thread per query row for dq_i = sum_j ds_ij
 *   k_j, one thread per key row for dk_j = sum_i ds_ij q_i and dv_j = sum_i p_ij grad_i.
 *   Every thread writes only its own row: no atomics, deterministic.
 * The head dim d is at most DM_ATT_DMAX (the launcher falls back to array code above it).
 */
#define DM_ATT_DMAX 256

__device__ __forceinline__ float dm_exp(float a) { return expf(a); }
__device__ __forceinline__ double dm_exp(double a) { return exp(a); }
__device__ __forceinline__ float dm_log(float a) { return logf(a); }
__device__ __forceinline__ double dm_log(double a) { return log(a); }
__device__ __forceinline__ float dm_neg_inf(float) { return -__int_as_float(0x7f800000); }
__device__ __forceinline__ double dm_neg_inf(double)
{
    return -__longlong_as_double(0x7ff0000000000000LL);
}

/* q (BH, Tq, d), k, v (BH, Tk, d) -> out (BH, Tq, d), lse (BH, Tq). */
#define DM_ATT_FORWARD(NAME, T)                                                                 \
extern "C" __global__ void NAME(const T *__restrict__ q, const T *__restrict__ k,             \
                                const T *__restrict__ v, T *__restrict__ out,                 \
                                T *__restrict__ lse, long long BH, long long Tq, long long Tk, \
                                long long d, T scale, int causal)                             \
{                                                                                             \
    T acc[DM_ATT_DMAX];                                                                       \
    for (long long r = blockIdx.x * (long long)blockDim.x + threadIdx.x; r < BH * Tq;         \
         r += (long long)blockDim.x * gridDim.x) {                                            \
        const long long bh = r / Tq, i = r % Tq;                                              \
        const T *qi = q + r * d;                                                              \
        const long long nk = causal ? (i + 1 < Tk ? i + 1 : Tk) : Tk;                         \
        T m = dm_neg_inf((T)0), l = (T)0;                                                     \
        for (long long c = 0; c < d; c++) acc[c] = (T)0;                                      \
        for (long long j = 0; j < nk; j++) {                                                  \
            const T *kj = k + (bh * Tk + j) * d, *vj = v + (bh * Tk + j) * d;                 \
            T s = (T)0;                                                                       \
            for (long long c = 0; c < d; c++) s += qi[c] * kj[c];                             \
            s *= scale;                                                                       \
            if (s > m) {                                                                      \
                const T corr = dm_exp(m - s);                                                 \
                l = l * corr + (T)1;                                                          \
                for (long long c = 0; c < d; c++) acc[c] = acc[c] * corr + vj[c];             \
                m = s;                                                                        \
            } else {                                                                          \
                const T p = dm_exp(s - m);                                                    \
                l += p;                                                                       \
                for (long long c = 0; c < d; c++) acc[c] += p * vj[c];                        \
            }                                                                                 \
        }                                                                                     \
        T *o = out + r * d;                                                                   \
        if (l > (T)0) {                                                                       \
            const T inv = (T)1 / l;                                                           \
            for (long long c = 0; c < d; c++) o[c] = acc[c] * inv;                            \
            lse[r] = m + dm_log(l);                                                           \
        } else {                                                                              \
            for (long long c = 0; c < d; c++) o[c] = (T)0;                                    \
            lse[r] = dm_neg_inf((T)0);                                                        \
        }                                                                                     \
    }                                                                                         \
}
DM_ATT_FORWARD(attention_forward_f32, float)
DM_ATT_FORWARD(attention_forward_f64, double)

/* p_ij of query row i (lse li) and key row j; 0 for a row without keys (lse -inf). */
template <typename T>
__device__ __forceinline__ T dm_att_p(const T *qi, const T *kj, long long d, T scale, T li)
{
    if (li == dm_neg_inf((T)0)) return (T)0;
    T s = (T)0;
    for (long long c = 0; c < d; c++) s += qi[c] * kj[c];
    return dm_exp(s * scale - li);
}

/* q, grad (BH, Tq, d), k, v (BH, Tk, d), lse, D (BH, Tq) -> dq (BH, Tq, d). */
#define DM_ATT_BACKWARD_DQ(NAME, T)                                                             \
extern "C" __global__ void NAME(const T *__restrict__ q, const T *__restrict__ k,             \
                                const T *__restrict__ v, const T *__restrict__ grad,          \
                                const T *__restrict__ lse, const T *__restrict__ D,           \
                                T *__restrict__ dq, long long BH, long long Tq, long long Tk, \
                                long long d, T scale, int causal)                             \
{                                                                                             \
    T acc[DM_ATT_DMAX];                                                                       \
    for (long long r = blockIdx.x * (long long)blockDim.x + threadIdx.x; r < BH * Tq;         \
         r += (long long)blockDim.x * gridDim.x) {                                            \
        const long long bh = r / Tq, i = r % Tq;                                              \
        const T *qi = q + r * d, *gi = grad + r * d;                                          \
        const long long nk = causal ? (i + 1 < Tk ? i + 1 : Tk) : Tk;                         \
        for (long long c = 0; c < d; c++) acc[c] = (T)0;                                      \
        for (long long j = 0; j < nk; j++) {                                                  \
            const T *kj = k + (bh * Tk + j) * d, *vj = v + (bh * Tk + j) * d;                 \
            const T p = dm_att_p<T>(qi, kj, d, scale, lse[r]);                                \
            T dp = (T)0;                                                                      \
            for (long long c = 0; c < d; c++) dp += gi[c] * vj[c];                            \
            const T ds = p * (dp - D[r]) * scale;                                             \
            for (long long c = 0; c < d; c++) acc[c] += ds * kj[c];                           \
        }                                                                                     \
        for (long long c = 0; c < d; c++) dq[r * d + c] = acc[c];                             \
    }                                                                                         \
}
DM_ATT_BACKWARD_DQ(attention_backward_dq_f32, float)
DM_ATT_BACKWARD_DQ(attention_backward_dq_f64, double)

/* q, grad (BH, Tq, d), k, v (BH, Tk, d), lse, D (BH, Tq) -> dk, dv (BH, Tk, d). */
#define DM_ATT_BACKWARD_DKV(NAME, T)                                                            \
extern "C" __global__ void NAME(const T *__restrict__ q, const T *__restrict__ k,             \
                                const T *__restrict__ v, const T *__restrict__ grad,          \
                                const T *__restrict__ lse, const T *__restrict__ D,           \
                                T *__restrict__ dk, T *__restrict__ dv, long long BH,         \
                                long long Tq, long long Tk, long long d, T scale, int causal) \
{                                                                                             \
    T ak[DM_ATT_DMAX], av[DM_ATT_DMAX];                                                       \
    for (long long r = blockIdx.x * (long long)blockDim.x + threadIdx.x; r < BH * Tk;         \
         r += (long long)blockDim.x * gridDim.x) {                                            \
        const long long bh = r / Tk, j = r % Tk;                                              \
        const T *kj = k + r * d, *vj = v + r * d;                                             \
        for (long long c = 0; c < d; c++) { ak[c] = (T)0; av[c] = (T)0; }                     \
        for (long long i = causal ? j : 0; i < Tq; i++) {                                     \
            const long long qr = bh * Tq + i;                                                 \
            const T *qi = q + qr * d, *gi = grad + qr * d;                                    \
            const T p = dm_att_p<T>(qi, kj, d, scale, lse[qr]);                               \
            T dp = (T)0;                                                                      \
            for (long long c = 0; c < d; c++) dp += gi[c] * vj[c];                            \
            const T ds = p * (dp - D[qr]) * scale;                                            \
            for (long long c = 0; c < d; c++) { av[c] += p * gi[c]; ak[c] += ds * qi[c]; }    \
        }                                                                                     \
        for (long long c = 0; c < d; c++) { dk[r * d + c] = ak[c]; dv[r * d + c] = av[c]; }   \
    }                                                                                         \
}
DM_ATT_BACKWARD_DKV(attention_backward_dkv_f32, float)
DM_ATT_BACKWARD_DKV(attention_backward_dkv_f64, double)
