# fused kernels: bindings included into _kernels.pyx (see its end). Owned by the fused work.
#
# Activations (forward, backward), row-wise softmax / log_softmax, fused softmax cross-entropy
# and in-place Adam / SGD updates: src/_kernels/dm_fused.c. Every function checks its inputs in
# Python terms before releasing the GIL; results are new arrays except for the *_update
# functions, which write into the arrays they are given (and refuse any they cannot write).

cdef extern from "dm_fused.h" nogil:
    void dm_exp_f32(const float *x, float *y, int64_t n)
    int dm_fused_simd_exp()
    const char *dm_fused_path_name()
    void dm_tanh_fast_forward_f32(const float *x, float *y, int64_t n)
    void dm_sigmoid_forward_f32(const float *x, float *y, int64_t n)
    void dm_sigmoid_forward_f64(const double *x, double *y, int64_t n)
    void dm_sigmoid_backward_f32(const float *y, const float *g, float *dx, int64_t n)
    void dm_sigmoid_backward_f64(const double *y, const double *g, double *dx, int64_t n)
    void dm_tanh_forward_f32(const float *x, float *y, int64_t n)
    void dm_tanh_forward_f64(const double *x, double *y, int64_t n)
    void dm_tanh_backward_f32(const float *y, const float *g, float *dx, int64_t n)
    void dm_tanh_backward_f64(const double *y, const double *g, double *dx, int64_t n)
    void dm_gelu_forward_f32(const float *x, float *y, int64_t n, int approximate)
    void dm_gelu_forward_f64(const double *x, double *y, int64_t n, int approximate)
    void dm_gelu_backward_f32(const float *x, const float *g, float *dx, int64_t n, int approximate)
    void dm_gelu_backward_f64(const double *x, const double *g, double *dx, int64_t n,
                              int approximate)
    void dm_leaky_relu_forward_f32(const float *x, float *y, int64_t n, float slope)
    void dm_leaky_relu_forward_f64(const double *x, double *y, int64_t n, double slope)
    void dm_leaky_relu_backward_f32(const float *x, const float *g, float *dx, int64_t n,
                                    float slope)
    void dm_leaky_relu_backward_f64(const double *x, const double *g, double *dx, int64_t n,
                                    double slope)
    void dm_softplus_forward_f32(const float *x, float *y, int64_t n)
    void dm_softplus_forward_f64(const double *x, double *y, int64_t n)
    void dm_softplus_backward_f32(const float *x, const float *g, float *dx, int64_t n)
    void dm_softplus_backward_f64(const double *x, const double *g, double *dx, int64_t n)

    void dm_softmax_forward_f32(const float *x, float *y, int64_t rows, int64_t cols)
    void dm_softmax_forward_f64(const double *x, double *y, int64_t rows, int64_t cols)
    void dm_softmax_backward_f32(const float *y, const float *g, float *dx, int64_t rows,
                                 int64_t cols)
    void dm_softmax_backward_f64(const double *y, const double *g, double *dx, int64_t rows,
                                 int64_t cols)
    void dm_log_softmax_forward_f32(const float *x, float *y, int64_t rows, int64_t cols)
    void dm_log_softmax_forward_f64(const double *x, double *y, int64_t rows, int64_t cols)
    void dm_log_softmax_backward_f32(const float *y, const float *g, float *dx, int64_t rows,
                                     int64_t cols)
    void dm_log_softmax_backward_f64(const double *y, const double *g, double *dx, int64_t rows,
                                     int64_t cols)

    void dm_sparse_xent_forward_f32(const float *z, const int64_t *labels, float *loss,
                                    float *lse, int64_t rows, int64_t cols)
    void dm_sparse_xent_forward_f64(const double *z, const int64_t *labels, double *loss,
                                    double *lse, int64_t rows, int64_t cols)
    void dm_sparse_xent_backward_f32(const float *z, const int64_t *labels, const float *lse,
                                     const float *g, float *dz, int64_t rows, int64_t cols)
    void dm_sparse_xent_backward_f64(const double *z, const int64_t *labels, const double *lse,
                                     const double *g, double *dz, int64_t rows, int64_t cols)
    void dm_xent_forward_f32(const float *z, const float *t, float *loss, float *lse,
                             int64_t rows, int64_t cols)
    void dm_xent_forward_f64(const double *z, const double *t, double *loss, double *lse,
                             int64_t rows, int64_t cols)
    void dm_xent_backward_f32(const float *z, const float *t, const float *lse, const float *g,
                              float *dz, int64_t rows, int64_t cols)
    void dm_xent_backward_f64(const double *z, const double *t, const double *lse,
                              const double *g, double *dz, int64_t rows, int64_t cols)

    void dm_adam_update_f32(float *p, const float *g, float *m, float *v, int64_t n, float alpha,
                            float one_minus_b1, float one_minus_b2, float eps, float wd, float lr)
    void dm_adam_update_f64(double *p, const double *g, double *m, double *v, int64_t n,
                            double alpha, double one_minus_b1, double one_minus_b2, double eps,
                            double wd, double lr)
    void dm_sgd_update_f32(float *p, const float *g, float *vel, int64_t n, float lr,
                           float momentum, int nesterov)
    void dm_sgd_update_f64(double *p, const double *g, double *vel, int64_t n, double lr,
                           double momentum, int nesterov)


ctypedef void (*_un_f32)(const float *, float *, int64_t) noexcept nogil
ctypedef void (*_un_f64)(const double *, double *, int64_t) noexcept nogil
ctypedef void (*_bin_f32)(const float *, const float *, float *, int64_t) noexcept nogil
ctypedef void (*_bin_f64)(const double *, const double *, double *, int64_t) noexcept nogil
ctypedef void (*_row_f32)(const float *, float *, int64_t, int64_t) noexcept nogil
ctypedef void (*_row_f64)(const double *, double *, int64_t, int64_t) noexcept nogil
ctypedef void (*_rowb_f32)(const float *, const float *, float *, int64_t, int64_t) noexcept nogil
ctypedef void (*_rowb_f64)(const double *, const double *, double *, int64_t,
                           int64_t) noexcept nogil


cdef inline bint _is_f32(cnp.ndarray a):
    return cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32


cdef cnp.ndarray _same_as(cnp.ndarray a, object b, str fn, str name_a, str name_b):
    """`b` as a float array of a's shape and dtype, else ValueError naming both."""
    cdef cnp.ndarray arr = _float_array(b, fn, name_b)
    if (<object>arr).shape != (<object>a).shape or cnp.PyArray_TYPE(arr) != cnp.PyArray_TYPE(a):
        raise ValueError(f"{fn}: {name_a} has shape {(<object>a).shape} and dtype {a.dtype} but {name_b} "
                         f"has shape {(<object>arr).shape} and dtype {arr.dtype}; they must be the same")
    return arr


cdef object _unary(object x, str fn, _un_f32 f32, _un_f64 f64):
    cdef cnp.ndarray a = _float_array(x, fn, "x")
    cdef cnp.ndarray y = _empty_like(a)
    cdef int64_t n = cnp.PyArray_SIZE(a)
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *py = cnp.PyArray_DATA(y)
    if n == 0:
        return y
    if _is_f32(a):
        with nogil:
            f32(<const float *>pa, <float *>py, n)
    else:
        with nogil:
            f64(<const double *>pa, <double *>py, n)
    return y


cdef object _binary(object x, object grad, str fn, str name, _bin_f32 f32, _bin_f64 f64):
    cdef cnp.ndarray a = _float_array(x, fn, name)
    cdef cnp.ndarray g = _same_as(a, grad, fn, name, "grad")
    cdef cnp.ndarray dx = _empty_like(a)
    cdef int64_t n = cnp.PyArray_SIZE(a)
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *pg = cnp.PyArray_DATA(g)
    cdef void *pd = cnp.PyArray_DATA(dx)
    if n == 0:
        return dx
    if _is_f32(a):
        with nogil:
            f32(<const float *>pa, <const float *>pg, <float *>pd, n)
    else:
        with nogil:
            f64(<const double *>pa, <const double *>pg, <double *>pd, n)
    return dx


def exp_f32(x):
    """exp of a float32 array as the float32 fused kernels compute it (the AVX2+FMA polynomial
    when fused_simd_exp() is True, else libm's expf). For tests and diagnostics."""
    cdef cnp.ndarray a = _float_array(x, "exp_f32", "x")
    if not _is_f32(a):
        raise TypeError(f"exp_f32: x has dtype {a.dtype}; expected float32")
    cdef cnp.ndarray y = _empty_like(a)
    cdef int64_t n = cnp.PyArray_SIZE(a)
    cdef const float *pa = <const float *>cnp.PyArray_DATA(a)
    cdef float *py = <float *>cnp.PyArray_DATA(y)
    with nogil:
        dm_exp_f32(pa, py, n)
    return y


def fused_simd_exp():
    """True when the float32 fused kernels use the AVX2+FMA exp (this CPU has AVX2 and FMA)."""
    return bool(dm_fused_simd_exp())


def fused_kernel_name():
    """The float32 fused kernels' path: 'avx512' (GELU's erf form), 'avx2' or 'portable'
    (DEEPMATH_FUSED_KERNEL=avx2|portable forces a slower one)."""
    return dm_fused_path_name().decode()


def sigmoid_forward(x):
    """1 / (1 + exp(-x)) elementwise, stable for any x (exact 0 and 1 at -/+1000)."""
    return _unary(x, "sigmoid_forward", dm_sigmoid_forward_f32, dm_sigmoid_forward_f64)


def sigmoid_backward(y, grad):
    """grad * y * (1 - y), from the forward's output y."""
    return _binary(y, grad, "sigmoid_backward", "y", dm_sigmoid_backward_f32,
                   dm_sigmoid_backward_f64)


def tanh_forward(x):
    """tanh(x) elementwise: float32 through the fused kernels' exp (within 2 ulp of numpy),
    float64 with libm's tanh."""
    return _unary(x, "tanh_forward", dm_tanh_fast_forward_f32, dm_tanh_forward_f64)


def tanh_backward(y, grad):
    """grad * (1 - y * y), from the forward's output y."""
    return _binary(y, grad, "tanh_backward", "y", dm_tanh_backward_f32, dm_tanh_backward_f64)


def softplus_forward(x):
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)), finite for any finite x."""
    return _unary(x, "softplus_forward", dm_softplus_forward_f32, dm_softplus_forward_f64)


def softplus_backward(x, grad):
    """grad * sigmoid(x), from the forward's input x."""
    return _binary(x, grad, "softplus_backward", "x", dm_softplus_backward_f32,
                   dm_softplus_backward_f64)


def gelu_forward(x, approximate=False):
    """x * Phi(x) (erf form), or 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) if approximate."""
    cdef cnp.ndarray a = _float_array(x, "gelu_forward", "x")
    cdef cnp.ndarray y = _empty_like(a)
    cdef int64_t n = cnp.PyArray_SIZE(a)
    cdef int approx = 1 if approximate else 0
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *py = cnp.PyArray_DATA(y)
    if n == 0:
        return y
    if _is_f32(a):
        with nogil:
            dm_gelu_forward_f32(<const float *>pa, <float *>py, n, approx)
    else:
        with nogil:
            dm_gelu_forward_f64(<const double *>pa, <double *>py, n, approx)
    return y


def gelu_backward(x, grad, approximate=False):
    """grad * GELU'(x), from the forward's input x."""
    cdef cnp.ndarray a = _float_array(x, "gelu_backward", "x")
    cdef cnp.ndarray g = _same_as(a, grad, "gelu_backward", "x", "grad")
    cdef cnp.ndarray dx = _empty_like(a)
    cdef int64_t n = cnp.PyArray_SIZE(a)
    cdef int approx = 1 if approximate else 0
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *pg = cnp.PyArray_DATA(g)
    cdef void *pd = cnp.PyArray_DATA(dx)
    if n == 0:
        return dx
    if _is_f32(a):
        with nogil:
            dm_gelu_backward_f32(<const float *>pa, <const float *>pg, <float *>pd, n, approx)
    else:
        with nogil:
            dm_gelu_backward_f64(<const double *>pa, <const double *>pg, <double *>pd, n, approx)
    return dx


def leaky_relu_forward(x, double negative_slope=0.01):
    """x where x > 0, negative_slope * x elsewhere (NaN stays NaN)."""
    cdef cnp.ndarray a = _float_array(x, "leaky_relu_forward", "x")
    cdef cnp.ndarray y = _empty_like(a)
    cdef int64_t n = cnp.PyArray_SIZE(a)
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *py = cnp.PyArray_DATA(y)
    if n == 0:
        return y
    if _is_f32(a):
        with nogil:
            dm_leaky_relu_forward_f32(<const float *>pa, <float *>py, n, <float>negative_slope)
    else:
        with nogil:
            dm_leaky_relu_forward_f64(<const double *>pa, <double *>py, n, negative_slope)
    return y


def leaky_relu_backward(x, grad, double negative_slope=0.01):
    """grad where x > 0, negative_slope * grad elsewhere."""
    cdef cnp.ndarray a = _float_array(x, "leaky_relu_backward", "x")
    cdef cnp.ndarray g = _same_as(a, grad, "leaky_relu_backward", "x", "grad")
    cdef cnp.ndarray dx = _empty_like(a)
    cdef int64_t n = cnp.PyArray_SIZE(a)
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *pg = cnp.PyArray_DATA(g)
    cdef void *pd = cnp.PyArray_DATA(dx)
    if n == 0:
        return dx
    if _is_f32(a):
        with nogil:
            dm_leaky_relu_backward_f32(<const float *>pa, <const float *>pg, <float *>pd, n,
                                       <float>negative_slope)
    else:
        with nogil:
            dm_leaky_relu_backward_f64(<const double *>pa, <const double *>pg, <double *>pd, n,
                                       negative_slope)
    return dx


# ---- row-wise: softmax and log_softmax over the last axis ------------------------------------

cdef tuple _rows_cols(cnp.ndarray a, str fn, str name):
    """(rows, cols) of `a` seen as a matrix over its last axis; a 0-d array is refused."""
    if cnp.PyArray_NDIM(a) == 0:
        raise ValueError(f"{fn}: {name} must have at least one dimension (the class axis), "
                         f"got a scalar")
    cdef int64_t cols = (<object>a).shape[a.ndim - 1]
    cdef int64_t rows = cnp.PyArray_SIZE(a) // cols if cols else 0
    return rows, cols


cdef object _row_forward(object x, str fn, _row_f32 f32, _row_f64 f64):
    cdef cnp.ndarray a = _float_array(x, fn, "x")
    cdef int64_t rows, cols
    rows, cols = _rows_cols(a, fn, "x")
    cdef cnp.ndarray y = _empty_like(a)
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *py = cnp.PyArray_DATA(y)
    if rows == 0 or cols == 0:
        return y
    if _is_f32(a):
        with nogil:
            f32(<const float *>pa, <float *>py, rows, cols)
    else:
        with nogil:
            f64(<const double *>pa, <double *>py, rows, cols)
    return y


cdef object _row_backward(object y, object grad, str fn, _rowb_f32 f32, _rowb_f64 f64):
    cdef cnp.ndarray a = _float_array(y, fn, "y")
    cdef cnp.ndarray g = _same_as(a, grad, fn, "y", "grad")
    cdef int64_t rows, cols
    rows, cols = _rows_cols(a, fn, "y")
    cdef cnp.ndarray dx = _empty_like(a)
    cdef void *pa = cnp.PyArray_DATA(a)
    cdef void *pg = cnp.PyArray_DATA(g)
    cdef void *pd = cnp.PyArray_DATA(dx)
    if rows == 0 or cols == 0:
        return dx
    if _is_f32(a):
        with nogil:
            f32(<const float *>pa, <const float *>pg, <float *>pd, rows, cols)
    else:
        with nogil:
            f64(<const double *>pa, <const double *>pg, <double *>pd, rows, cols)
    return dx


def softmax_forward(x):
    """exp(x - max) / sum(exp(x - max)) over the last axis, in a new array."""
    return _row_forward(x, "softmax_forward", dm_softmax_forward_f32, dm_softmax_forward_f64)


def softmax_backward(y, grad):
    """y * (grad - sum(grad * y)) over the last axis, from the forward's output y."""
    return _row_backward(y, grad, "softmax_backward", dm_softmax_backward_f32,
                         dm_softmax_backward_f64)


def log_softmax_forward(x):
    """(x - max) - log(sum(exp(x - max))) over the last axis, in a new array."""
    return _row_forward(x, "log_softmax_forward", dm_log_softmax_forward_f32,
                        dm_log_softmax_forward_f64)


def log_softmax_backward(y, grad):
    """grad - exp(y) * sum(grad) over the last axis, from the forward's output y."""
    return _row_backward(y, grad, "log_softmax_backward", dm_log_softmax_backward_f32,
                         dm_log_softmax_backward_f64)


# ---- softmax cross-entropy from logits ------------------------------------------------------

cdef cnp.ndarray _labels_array(object labels, tuple batch_shape, int64_t n_classes, str fn):
    """Labels as a C-contiguous int64 array of `batch_shape`, each in [0, n_classes)."""
    cdef cnp.ndarray lab
    if not isinstance(labels, (np.ndarray, np.generic)):
        raise TypeError(f"{fn}: labels must be a numpy.ndarray, not {type(labels).__name__}")
    lab = np.asarray(labels)
    if lab.dtype.kind not in "iu":
        raise TypeError(f"{fn}: labels have dtype {lab.dtype}; expected an integer dtype")
    if (<object>lab).shape != batch_shape:
        raise ValueError(f"{fn}: labels of shape {(<object>lab).shape} do not match logits of batch "
                         f"shape {batch_shape}")
    if lab.size:
        lo, hi = lab.min(), lab.max()
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"{fn}: label {lo if lo < 0 else hi} is out of range for "
                             f"{n_classes} classes")
    return np.ascontiguousarray(lab, dtype=np.int64)


cdef cnp.ndarray _rowvec_like(cnp.ndarray z):
    """A new array of z's batch shape (all axes but the last) and dtype."""
    return np.empty((<object>z).shape[:z.ndim - 1], dtype=z.dtype)


def sparse_softmax_cross_entropy_forward(logits, labels):
    """Per-row loss lse - z[label] and lse = log(sum(exp(z))) over the last axis.

    logits: float (..., C) with C >= 1; labels: integers of shape logits.shape[:-1], each in
    [0, C). Returns (loss, lse), both of shape logits.shape[:-1].
    """
    fn = "sparse_softmax_cross_entropy_forward"
    cdef cnp.ndarray z = _float_array(logits, fn, "logits")
    cdef int64_t rows, cols
    rows, cols = _rows_cols(z, fn, "logits")
    cdef cnp.ndarray lab = _labels_array(labels, (<object>z).shape[:z.ndim - 1], cols, fn)
    cdef cnp.ndarray loss = _rowvec_like(z)
    cdef cnp.ndarray lse = _rowvec_like(z)
    cdef void *pz = cnp.PyArray_DATA(z)
    cdef const int64_t *pl = <const int64_t *>cnp.PyArray_DATA(lab)
    cdef void *po = cnp.PyArray_DATA(loss)
    cdef void *ps = cnp.PyArray_DATA(lse)
    if rows == 0:
        return loss, lse
    if _is_f32(z):
        with nogil:
            dm_sparse_xent_forward_f32(<const float *>pz, pl, <float *>po, <float *>ps, rows, cols)
    else:
        with nogil:
            dm_sparse_xent_forward_f64(<const double *>pz, pl, <double *>po, <double *>ps, rows,
                                       cols)
    return loss, lse


def sparse_softmax_cross_entropy_backward(logits, labels, lse, grad):
    """(softmax(z) - one_hot(label)) * grad[..., None]: the gradient of the per-row losses.

    lse: the forward's second output; grad: the upstream gradient of the per-row losses
    (shape logits.shape[:-1]).
    """
    fn = "sparse_softmax_cross_entropy_backward"
    cdef cnp.ndarray z = _float_array(logits, fn, "logits")
    cdef int64_t rows, cols
    rows, cols = _rows_cols(z, fn, "logits")
    batch = (<object>z).shape[:z.ndim - 1]
    cdef cnp.ndarray lab = _labels_array(labels, batch, cols, fn)
    cdef cnp.ndarray s = _float_array(lse, fn, "lse")
    cdef cnp.ndarray g = _same_as(s, grad, fn, "lse", "grad")
    if (<object>s).shape != batch or cnp.PyArray_TYPE(s) != cnp.PyArray_TYPE(z):
        raise ValueError(f"{fn}: lse has shape {(<object>s).shape} and dtype {s.dtype}; expected "
                         f"{batch} and {z.dtype} (logits of shape {(<object>z).shape})")
    cdef cnp.ndarray dz = _empty_like(z)
    cdef void *pz = cnp.PyArray_DATA(z)
    cdef const int64_t *pl = <const int64_t *>cnp.PyArray_DATA(lab)
    cdef void *ps = cnp.PyArray_DATA(s)
    cdef void *pg = cnp.PyArray_DATA(g)
    cdef void *pd = cnp.PyArray_DATA(dz)
    if rows == 0 or cols == 0:
        return dz
    if _is_f32(z):
        with nogil:
            dm_sparse_xent_backward_f32(<const float *>pz, pl, <const float *>ps,
                                        <const float *>pg, <float *>pd, rows, cols)
    else:
        with nogil:
            dm_sparse_xent_backward_f64(<const double *>pz, pl, <const double *>ps,
                                        <const double *>pg, <double *>pd, rows, cols)
    return dz


def softmax_cross_entropy_forward(logits, targets):
    """Per-row loss -sum(t * (z - lse)) and lse, for target distributions t (one-hot or soft).

    logits, targets: float arrays of one shape (..., C) and dtype. Returns (loss, lse) of shape
    logits.shape[:-1].
    """
    fn = "softmax_cross_entropy_forward"
    cdef cnp.ndarray z = _float_array(logits, fn, "logits")
    cdef cnp.ndarray t = _same_as(z, targets, fn, "logits", "targets")
    cdef int64_t rows, cols
    rows, cols = _rows_cols(z, fn, "logits")
    cdef cnp.ndarray loss = _rowvec_like(z)
    cdef cnp.ndarray lse = _rowvec_like(z)
    cdef void *pz = cnp.PyArray_DATA(z)
    cdef void *pt = cnp.PyArray_DATA(t)
    cdef void *po = cnp.PyArray_DATA(loss)
    cdef void *ps = cnp.PyArray_DATA(lse)
    if rows == 0:
        return loss, lse
    if cols == 0:  # no classes: the sum is empty, log(0) = -inf, as numpy
        loss.fill(0)
        lse.fill(-np.inf)
        return loss, lse
    if _is_f32(z):
        with nogil:
            dm_xent_forward_f32(<const float *>pz, <const float *>pt, <float *>po, <float *>ps,
                                rows, cols)
    else:
        with nogil:
            dm_xent_forward_f64(<const double *>pz, <const double *>pt, <double *>po,
                                <double *>ps, rows, cols)
    return loss, lse


def softmax_cross_entropy_backward(logits, targets, lse, grad):
    """(softmax(z) * sum(t) - t) * grad[..., None]: the gradient of the per-row losses in z."""
    fn = "softmax_cross_entropy_backward"
    cdef cnp.ndarray z = _float_array(logits, fn, "logits")
    cdef cnp.ndarray t = _same_as(z, targets, fn, "logits", "targets")
    cdef int64_t rows, cols
    rows, cols = _rows_cols(z, fn, "logits")
    batch = (<object>z).shape[:z.ndim - 1]
    cdef cnp.ndarray s = _float_array(lse, fn, "lse")
    cdef cnp.ndarray g = _same_as(s, grad, fn, "lse", "grad")
    if (<object>s).shape != batch or cnp.PyArray_TYPE(s) != cnp.PyArray_TYPE(z):
        raise ValueError(f"{fn}: lse has shape {(<object>s).shape} and dtype {s.dtype}; expected "
                         f"{batch} and {z.dtype} (logits of shape {(<object>z).shape})")
    cdef cnp.ndarray dz = _empty_like(z)
    cdef void *pz = cnp.PyArray_DATA(z)
    cdef void *pt = cnp.PyArray_DATA(t)
    cdef void *ps = cnp.PyArray_DATA(s)
    cdef void *pg = cnp.PyArray_DATA(g)
    cdef void *pd = cnp.PyArray_DATA(dz)
    if rows == 0 or cols == 0:
        return dz
    if _is_f32(z):
        with nogil:
            dm_xent_backward_f32(<const float *>pz, <const float *>pt, <const float *>ps,
                                 <const float *>pg, <float *>pd, rows, cols)
    else:
        with nogil:
            dm_xent_backward_f64(<const double *>pz, <const double *>pt, <const double *>ps,
                                 <const double *>pg, <double *>pd, rows, cols)
    return dz


# ---- optimizer updates, in place ----------------------------------------------------------

cdef cnp.ndarray _inplace(object a, str fn, str name, object like):
    """`a` itself, checked to be a writeable, C-contiguous float array (of like's shape and
    dtype when `like` is given). Never copied: the update must land in the caller's array."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{fn}: {name} must be a numpy.ndarray, not {type(a).__name__}")
    cdef cnp.ndarray arr = <cnp.ndarray>a
    cdef int t = cnp.PyArray_TYPE(arr)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"{fn}: {name} has dtype {arr.dtype}; expected float32 or float64")
    if like is not None and ((<object>arr).shape != like.shape or arr.dtype != like.dtype):
        raise ValueError(f"{fn}: {name} has shape {(<object>arr).shape} and dtype {arr.dtype} but param "
                         f"has shape {like.shape} and dtype {like.dtype}; they must be the same")
    if not (cnp.PyArray_IS_C_CONTIGUOUS(arr) and cnp.PyArray_ISBEHAVED(arr)):
        raise ValueError(f"{fn}: {name} must be a C-contiguous, aligned, writeable array in "
                         f"native byte order (it is updated in place)")
    return arr


def adam_update(param, grad, m, v, double lr, double beta1, double beta2, double eps, step,
                double weight_decay=0.0):
    """One Keras Adam step, in place on param, m and v (float32/float64, same shape).

    t = step (>= 1); alpha = lr * sqrt(1 - beta2**t) / (1 - beta1**t);
    m += (grad - m) * (1 - beta1); v += (grad**2 - v) * (1 - beta2);
    param -= alpha * m / (sqrt(v) + eps). With weight_decay > 0, first
    param -= param * weight_decay * lr (decoupled, as Keras' AdamW). Returns None.
    """
    fn = "adam_update"
    cdef cnp.ndarray p = _inplace(param, fn, "param", None)
    cdef cnp.ndarray g = _same_as(p, grad, fn, "param", "grad")
    cdef cnp.ndarray mm = _inplace(m, fn, "m", p)
    cdef cnp.ndarray vv = _inplace(v, fn, "v", p)
    t = operator.index(step)
    if t < 1:
        raise ValueError(f"{fn}: step must be >= 1, got {step!r}")
    if not 0.0 <= beta1 < 1.0 or not 0.0 <= beta2 < 1.0:
        raise ValueError(f"{fn}: beta1 and beta2 must lie in [0, 1), got {beta1!r}, {beta2!r}")
    cdef double alpha = lr * (1.0 - beta2 ** t) ** 0.5 / (1.0 - beta1 ** t)
    cdef double c1 = 1.0 - beta1, c2 = 1.0 - beta2
    cdef int64_t n = cnp.PyArray_SIZE(p)
    cdef void *pp = cnp.PyArray_DATA(p)
    cdef void *pg = cnp.PyArray_DATA(g)
    cdef void *pm = cnp.PyArray_DATA(mm)
    cdef void *pv = cnp.PyArray_DATA(vv)
    if n == 0:
        return None
    if _is_f32(p):
        with nogil:
            dm_adam_update_f32(<float *>pp, <const float *>pg, <float *>pm, <float *>pv, n,
                               <float>alpha, <float>c1, <float>c2, <float>eps,
                               <float>weight_decay, <float>lr)
    else:
        with nogil:
            dm_adam_update_f64(<double *>pp, <const double *>pg, <double *>pm, <double *>pv, n,
                               alpha, c1, c2, eps, weight_decay, lr)
    return None


def sgd_momentum_update(param, grad, velocity, double lr, double momentum=0.0,
                        bint nesterov=False):
    """One Keras SGD step, in place on param and velocity.

    velocity = velocity * momentum - grad * lr; param += velocity, or with nesterov
    param += velocity * momentum - grad * lr. velocity may be None only when momentum == 0
    (then param -= grad * lr). Returns None.
    """
    fn = "sgd_momentum_update"
    cdef cnp.ndarray p = _inplace(param, fn, "param", None)
    cdef cnp.ndarray g = _same_as(p, grad, fn, "param", "grad")
    cdef cnp.ndarray vel = None
    if velocity is None:
        if momentum != 0.0:
            raise ValueError(f"{fn}: velocity is None but momentum is {momentum!r}")
    else:
        vel = _inplace(velocity, fn, "velocity", p)
    cdef int64_t n = cnp.PyArray_SIZE(p)
    cdef void *pp = cnp.PyArray_DATA(p)
    cdef void *pg = cnp.PyArray_DATA(g)
    cdef void *pv = NULL if vel is None else cnp.PyArray_DATA(vel)
    cdef int nest = 1 if nesterov else 0
    if n == 0:
        return None
    if _is_f32(p):
        with nogil:
            dm_sgd_update_f32(<float *>pp, <const float *>pg, <float *>pv, n, <float>lr,
                              <float>momentum, nest)
    else:
        with nogil:
            dm_sgd_update_f64(<double *>pp, <const double *>pg, <double *>pv, n, lr, momentum,
                              nest)
    return None
