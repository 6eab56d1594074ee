/* optim.cu: in-place optimizer steps (Adam, SGD with momentum) of deepmath's CuPy backend.
 *
 * One thread per element (grid-stride loop), the same per-element operations in the same
 * order as the NumPy references of deepmath/backend/fused.py, so that compiled without FMA
 * contraction (the launcher passes --fmad=false) the results are the reference's bits.
 * Scalars derived from the hyper-parameters (alpha, 1 - beta1, ...) are rounded to T on the
 * host, as the reference does.
 */

/* param, grad, m, v: (n,). weight decay first when decay != 0: p -= (p * wd) * lr; then
 * m += (g - m) * c1; v += (g * g - v) * c2; p -= (alpha * m) / (sqrt(v) + eps). */
#define DM_ADAM(NAME, T, SQRT)                                                                  \
extern "C" __global__ void NAME(T *__restrict__ param, const T *__restrict__ grad,            \
                                T *__restrict__ m, T *__restrict__ v, long long n, T alpha,   \
                                T c1, T c2, T eps, T wd, T lr, int decay)                     \
{                                                                                             \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;               \
         i += (long long)blockDim.x * gridDim.x) {                                            \
        const T g = grad[i];                                                                  \
        T p = param[i];                                                                       \
        if (decay) p = p - p * wd * lr;                                                       \
        const T mi = m[i] + (g - m[i]) * c1;                                                  \
        const T vi = v[i] + (g * g - v[i]) * c2;                                              \
        m[i] = mi;                                                                            \
        v[i] = vi;                                                                            \
        param[i] = p - alpha * mi / (SQRT(vi) + eps);                                         \
    }                                                                                         \
}
DM_ADAM(adam_f32, float, sqrtf)
DM_ADAM(adam_f64, double, sqrt)

/* param, grad: (n,); plain SGD (no velocity): p -= g * lr. */
#define DM_SGD(NAME, T)                                                                         \
extern "C" __global__ void NAME(T *__restrict__ param, const T *__restrict__ grad,            \
                                long long n, T lr)                                            \
{                                                                                             \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;               \
         i += (long long)blockDim.x * gridDim.x)                                              \
        param[i] = param[i] - grad[i] * lr;                                                   \
}
DM_SGD(sgd_f32, float)
DM_SGD(sgd_f64, double)

/* param, grad, velocity: (n,); vel = vel * mom - g * lr; p += vel, or with nesterov
 * p += vel * mom - g * lr. */
#define DM_SGD_MOMENTUM(NAME, T)                                                                \
extern "C" __global__ void NAME(T *__restrict__ param, const T *__restrict__ grad,            \
                                T *__restrict__ velocity, long long n, T lr, T mom,           \
                                int nesterov)                                                 \
{                                                                                             \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;               \
         i += (long long)blockDim.x * gridDim.x) {                                            \
        const T g = grad[i];                                                                  \
        const T vel = velocity[i] * mom - g * lr;                                             \
        velocity[i] = vel;                                                                    \
        param[i] = param[i] + (nesterov ? vel * mom - g * lr : vel);                          \
    }                                                                                         \
}
DM_SGD_MOMENTUM(sgd_momentum_f32, float)
DM_SGD_MOMENTUM(sgd_momentum_f64, double)
