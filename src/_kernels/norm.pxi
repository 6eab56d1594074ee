# layer normalization: bindings included into _kernels.pyx (see its end); src/_kernels/dm_norm.c.

cdef extern from "dm_norm.h" nogil:
    void dm_layer_norm_forward_f32(const float *x, const float *gamma, const float *beta,
                                   int64_t rows, int64_t cols, double eps, float *y,
                                   float *mean, float *rstd)
    void dm_layer_norm_forward_f64(const double *x, const double *gamma, const double *beta,
                                   int64_t rows, int64_t cols, double eps, double *y,
                                   double *mean, double *rstd)
    int dm_layer_norm_backward_f32(const float *x, const float *gamma, const float *mean,
                                   const float *rstd, const float *dy, int64_t rows,
                                   int64_t cols, float *dx, float *dgamma, float *dbeta)
    int dm_layer_norm_backward_f64(const double *x, const double *gamma, const double *mean,
                                   const double *rstd, const double *dy, int64_t rows,
                                   int64_t cols, double *dx, double *dgamma, double *dbeta)


cdef cnp.ndarray _ln_array(object a, str fn, str name, int dtype, tuple shape):
    """`a` as a C-contiguous array of x's dtype and the given shape, or TypeError/ValueError."""
    cdef cnp.ndarray arr = _float_array(a, fn, name)
    if cnp.PyArray_TYPE(arr) != dtype:
        raise TypeError(f"{fn}: {name} has dtype {arr.dtype}; expected that of x "
                        f"({np.dtype(np.float32 if dtype == cnp.NPY_FLOAT32 else np.float64)})")
    if (<object>arr).shape != shape:
        raise ValueError(f"{fn}: {name} has shape {(<object>arr).shape}; expected {shape}")
    return arr


cdef void *_ln_ptr(cnp.ndarray a):
    return NULL if a is None else cnp.PyArray_DATA(a)


def layer_norm_forward(x, gamma=None, beta=None, double epsilon=1e-5):
    """Normalize each row of x over its last axis, then gamma·x̂ + beta (None: no scale, no
    shift). Returns (y, mean, rstd): y like x, mean and rstd = 1/sqrt(var + epsilon) of shape
    x.shape[:-1]."""
    fn = "layer_norm_forward"
    cdef cnp.ndarray X = _float_array(x, fn, "x")
    cdef tuple xshape = (<object>X).shape
    if X.ndim < 1 or xshape[X.ndim - 1] == 0:
        raise ValueError(f"{fn}: x must have a non-empty last axis, got shape {xshape}")
    if not epsilon >= 0:
        raise ValueError(f"{fn}: epsilon must be >= 0, got {epsilon!r}")
    cdef int t = cnp.PyArray_TYPE(X)
    cdef int64_t cols = X.shape[X.ndim - 1]
    cdef int64_t rows = cnp.PyArray_SIZE(X) // cols
    cdef cnp.ndarray G = None if gamma is None else _ln_array(gamma, fn, "gamma", t, (cols,))
    cdef cnp.ndarray Bt = None if beta is None else _ln_array(beta, fn, "beta", t, (cols,))
    cdef cnp.ndarray Y = _empty_like(X)
    cdef cnp.ndarray M = np.empty(xshape[:X.ndim - 1], dtype=(<object>X).dtype)
    cdef cnp.ndarray R = np.empty(xshape[:X.ndim - 1], dtype=(<object>X).dtype)
    cdef void *px = cnp.PyArray_DATA(X)
    cdef void *pg = _ln_ptr(G)
    cdef void *pb = _ln_ptr(Bt)
    cdef void *py = cnp.PyArray_DATA(Y)
    cdef void *pm = cnp.PyArray_DATA(M)
    cdef void *pr = cnp.PyArray_DATA(R)
    if rows == 0:
        return Y, M, R
    if t == cnp.NPY_FLOAT32:
        with nogil:
            dm_layer_norm_forward_f32(<const float *>px, <const float *>pg, <const float *>pb,
                                      rows, cols, epsilon, <float *>py, <float *>pm,
                                      <float *>pr)
    else:
        with nogil:
            dm_layer_norm_forward_f64(<const double *>px, <const double *>pg,
                                      <const double *>pb, rows, cols, epsilon, <double *>py,
                                      <double *>pm, <double *>pr)
    return Y, M, R


def layer_norm_backward(x, gamma, mean, rstd, grad, need_dx=True, need_dgamma=True,
                        need_dbeta=True):
    """Gradients of layer_norm_forward for the upstream gradient `grad` (like x), from x, gamma
    (or None) and the forward's mean and rstd. Returns (dx, dgamma, dbeta), None for those
    not asked for."""
    fn = "layer_norm_backward"
    cdef cnp.ndarray X = _float_array(x, fn, "x")
    cdef tuple xshape = (<object>X).shape
    if X.ndim < 1 or xshape[X.ndim - 1] == 0:
        raise ValueError(f"{fn}: x must have a non-empty last axis, got shape {xshape}")
    cdef int t = cnp.PyArray_TYPE(X)
    cdef int64_t cols = X.shape[X.ndim - 1]
    cdef int64_t rows = cnp.PyArray_SIZE(X) // cols
    cdef tuple stat_shape = xshape[:X.ndim - 1]
    cdef cnp.ndarray G = None if gamma is None else _ln_array(gamma, fn, "gamma", t, (cols,))
    cdef cnp.ndarray M = _ln_array(mean, fn, "mean", t, stat_shape)
    cdef cnp.ndarray R = _ln_array(rstd, fn, "rstd", t, stat_shape)
    cdef cnp.ndarray D = _ln_array(grad, fn, "grad", t, xshape)
    cdef cnp.ndarray DX = _empty_like(X) if need_dx else None
    cdef cnp.ndarray DG = np.zeros(cols, dtype=(<object>X).dtype) if need_dgamma else None
    cdef cnp.ndarray DB = np.zeros(cols, dtype=(<object>X).dtype) if need_dbeta else None
    cdef void *px = cnp.PyArray_DATA(X)
    cdef void *pg = _ln_ptr(G)
    cdef void *pm = cnp.PyArray_DATA(M)
    cdef void *pr = cnp.PyArray_DATA(R)
    cdef void *pd = cnp.PyArray_DATA(D)
    cdef void *pdx = _ln_ptr(DX)
    cdef void *pdg = _ln_ptr(DG)
    cdef void *pdb = _ln_ptr(DB)
    cdef int rc = 0
    if rows == 0:
        return DX, DG, DB
    if t == cnp.NPY_FLOAT32:
        with nogil:
            rc = dm_layer_norm_backward_f32(<const float *>px, <const float *>pg,
                                            <const float *>pm, <const float *>pr,
                                            <const float *>pd, rows, cols, <float *>pdx,
                                            <float *>pdg, <float *>pdb)
    else:
        with nogil:
            rc = dm_layer_norm_backward_f64(<const double *>px, <const double *>pg,
                                            <const double *>pm, <const double *>pr,
                                            <const double *>pd, rows, cols, <double *>pdx,
                                            <double *>pdg, <double *>pdb)
    if rc != 0:
        raise MemoryError(f"{fn}: could not allocate the workspace for {rows} rows of {cols}")
    return DX, DG, DB
