# pool kernels: bindings included into _kernels.pyx (see its end). Owned by the pool work.
#
# 2-D max / average pooling on channels-last (N, H, W, C) arrays, Keras conventions: pool size
# and strides as an int or a pair (strides None = the pool size), padding 'valid' or 'same'.
# The geometry is computed and checked here, in Python terms, then C runs with the GIL released
# (src/_kernels/dm_pool.c; dm_pool.h documents the argmax convention).

from libc.stdint cimport int32_t

cdef extern from "dm_pool.h" nogil:
    ctypedef struct dm_pool2d_t:
        int64_t n, h, w, c, ho, wo, ph, pw, sh, sw, pt, pl

    void dm_max_pool2d_forward_f32(const float *x, float *y, int32_t *argmax,
                                   const dm_pool2d_t *g)
    void dm_max_pool2d_forward_f64(const double *x, double *y, int32_t *argmax,
                                   const dm_pool2d_t *g)
    void dm_max_pool2d_backward_f32(const float *dy, const int32_t *argmax, float *dx,
                                    const dm_pool2d_t *g)
    void dm_max_pool2d_backward_f64(const double *dy, const int32_t *argmax, double *dx,
                                    const dm_pool2d_t *g)
    void dm_avg_pool2d_forward_f32(const float *x, float *y, const dm_pool2d_t *g)
    void dm_avg_pool2d_forward_f64(const double *x, double *y, const dm_pool2d_t *g)
    void dm_avg_pool2d_backward_f32(const float *dy, float *dx, const dm_pool2d_t *g)
    void dm_avg_pool2d_backward_f64(const double *dy, double *dx, const dm_pool2d_t *g)


_INT32_MAX = 2**31 - 1


def _pool_pair(value, fn, name):
    """An int or a pair of ints >= 1, as a tuple (a, b)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
        items = tuple(value)
    else:
        items = (value, value)
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {value!r}")
        if v < 1:
            raise ValueError(f"{fn}: {name} must be >= 1, got {value!r}")
        out.append(int(v))
    return out[0], out[1]


def pool2d_geometry(x_shape, pool_size, strides, padding, fn="pool2d"):
    """(ho, wo, pad_top, pad_left) of a 2-D pooling of an (N, H, W, C) input, Keras rules.

    'valid': Ho = (H - ph) // sh + 1, ValueError when the window is larger than the input
    (Keras and PyTorch also refuse). 'same': Ho = ceil(H / sh), padding split as TensorFlow
    (the extra cell, if any, after). Raises ValueError / TypeError naming what is wrong.
    """
    shape = tuple(x_shape)
    if len(shape) != 4:
        raise ValueError(f"{fn}: input must have rank 4 (N, H, W, C), got shape {shape}")
    ph, pw = _pool_pair(pool_size, fn, "pool_size")
    sh, sw = _pool_pair(pool_size if strides is None else strides, fn, "strides")
    if ph * pw > _INT32_MAX:
        raise ValueError(f"{fn}: pool_size {(ph, pw)} has more than 2**31 - 1 cells")
    mode = padding.lower() if isinstance(padding, str) else padding
    _, h, w, _ = shape
    if mode == "valid":
        if ph > h or pw > w:
            raise ValueError(f"{fn}: pool_size {(ph, pw)} is larger than the input's "
                             f"(H, W) = {(h, w)} with padding='valid' (output size would be "
                             f"negative); use padding='same' or a smaller pool")
        return (h - ph) // sh + 1, (w - pw) // sw + 1, 0, 0
    if mode == "same":
        ho, wo = -(-h // sh), -(-w // sw)
        pad_h = max((ho - 1) * sh + ph - h, 0)
        pad_w = max((wo - 1) * sw + pw - w, 0)
        return ho, wo, pad_h // 2, pad_w // 2
    raise ValueError(f"{fn}: padding must be 'valid' or 'same', got {padding!r}")


cdef dm_pool2d_t _pool_struct(tuple shape, geom, pool_size, strides, str fn):
    cdef dm_pool2d_t g
    g.n, g.h, g.w, g.c = shape
    g.ho, g.wo, g.pt, g.pl = geom
    g.ph, g.pw = _pool_pair(pool_size, fn, "pool_size")
    g.sh, g.sw = _pool_pair(pool_size if strides is None else strides, fn, "strides")
    return g


cdef cnp.ndarray _pool_out(tuple shape, geom, int typenum):
    cdef cnp.npy_intp dims[4]
    dims[0] = shape[0]
    dims[1] = geom[0]
    dims[2] = geom[1]
    dims[3] = shape[3]
    return cnp.PyArray_EMPTY(4, dims, typenum, 0)


def _check_x_shape(x_shape, str fn):
    try:
        shape = tuple(operator.index(s) for s in x_shape)
    except TypeError:
        raise TypeError(f"{fn}: x_shape must be a tuple of ints, got {x_shape!r}") from None
    if len(shape) != 4 or any(s < 0 for s in shape):
        raise ValueError(f"{fn}: x_shape must be 4 non-negative sizes (N, H, W, C), "
                         f"got {x_shape!r}")
    return shape


def max_pool2d_forward(x, pool_size=2, strides=None, padding="valid"):
    """Max pooling of x (N, H, W, C): returns (y, argmax), both (N, Ho, Wo, C).

    argmax (int32) holds, per output, the offset kh * pw + kw inside the window of the chosen
    input cell; ties go to the first maximum in row-major order, NaN propagates.
    """
    fn = "max_pool2d_forward"
    cdef cnp.ndarray a = _float_array(x, fn, "x")
    cdef tuple shape = tuple((<object>a).shape)
    geom = pool2d_geometry(shape, pool_size, strides, padding, fn)
    cdef dm_pool2d_t g = _pool_struct(shape, geom, pool_size, strides, fn)
    cdef cnp.ndarray y = _pool_out(shape, geom, cnp.PyArray_TYPE(a))
    cdef cnp.ndarray arg = _pool_out(shape, geom, cnp.NPY_INT32)
    if cnp.PyArray_SIZE(y) == 0:
        return y, arg
    cdef void *px = cnp.PyArray_DATA(a)
    cdef void *py = cnp.PyArray_DATA(y)
    cdef int32_t *parg = <int32_t *>cnp.PyArray_DATA(arg)
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
        with nogil:
            dm_max_pool2d_forward_f32(<const float *>px, <float *>py, parg, &g)
    else:
        with nogil:
            dm_max_pool2d_forward_f64(<const double *>px, <double *>py, parg, &g)
    return y, arg


def max_pool2d_backward(x_shape, argmax, grad, pool_size=2, strides=None, padding="valid"):
    """Gradient of max pooling wrt its input (shape x_shape), from the forward's argmax and the
    output gradient grad (N, Ho, Wo, C); dtype of grad. Each input cell receives the sum of the
    gradients of the outputs that picked it."""
    fn = "max_pool2d_backward"
    cdef tuple shape = _check_x_shape(x_shape, fn)
    geom = pool2d_geometry(shape, pool_size, strides, padding, fn)
    cdef cnp.ndarray gy = _float_array(grad, fn, "grad")
    out_shape = (shape[0], geom[0], geom[1], shape[3])
    if tuple((<object>gy).shape) != out_shape:
        raise ValueError(f"{fn}: grad has shape {tuple((<object>gy).shape)}, expected {out_shape} "
                         f"(the pooling output for x_shape {shape})")
    if not isinstance(argmax, np.ndarray) or argmax.dtype != np.int32:
        raise TypeError(f"{fn}: argmax must be the int32 ndarray returned by "
                        f"max_pool2d_forward, got {getattr(argmax, 'dtype', type(argmax))}")
    if argmax.shape != out_shape:
        raise ValueError(f"{fn}: argmax has shape {argmax.shape}, expected {out_shape}")
    cdef cnp.ndarray arg = np.ascontiguousarray(argmax)
    cdef dm_pool2d_t g = _pool_struct(shape, geom, pool_size, strides, fn)
    cdef cnp.npy_intp dims[4]
    for i in range(4):
        dims[i] = shape[i]
    cdef cnp.ndarray dx = cnp.PyArray_EMPTY(4, dims, cnp.PyArray_TYPE(gy), 0)
    if cnp.PyArray_SIZE(dx) == 0:
        return dx
    if cnp.PyArray_SIZE(gy) == 0:  # H, W > 0 and N, C > 0 imply an output; kept for safety
        dx.fill(0)
        return dx
    cdef void *pg = cnp.PyArray_DATA(gy)
    cdef void *pdx = cnp.PyArray_DATA(dx)
    cdef const int32_t *parg = <const int32_t *>cnp.PyArray_DATA(arg)
    if cnp.PyArray_TYPE(gy) == cnp.NPY_FLOAT32:
        with nogil:
            dm_max_pool2d_backward_f32(<const float *>pg, parg, <float *>pdx, &g)
    else:
        with nogil:
            dm_max_pool2d_backward_f64(<const double *>pg, parg, <double *>pdx, &g)
    return dx


def avg_pool2d_forward(x, pool_size=2, strides=None, padding="valid"):
    """Average pooling of x (N, H, W, C) -> (N, Ho, Wo, C); with 'same' padding each window is
    divided by the number of its cells inside the input (as Keras / TensorFlow)."""
    fn = "avg_pool2d_forward"
    cdef cnp.ndarray a = _float_array(x, fn, "x")
    cdef tuple shape = tuple((<object>a).shape)
    geom = pool2d_geometry(shape, pool_size, strides, padding, fn)
    cdef dm_pool2d_t g = _pool_struct(shape, geom, pool_size, strides, fn)
    cdef cnp.ndarray y = _pool_out(shape, geom, cnp.PyArray_TYPE(a))
    if cnp.PyArray_SIZE(y) == 0:
        return y
    cdef void *px = cnp.PyArray_DATA(a)
    cdef void *py = cnp.PyArray_DATA(y)
    if cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT32:
        with nogil:
            dm_avg_pool2d_forward_f32(<const float *>px, <float *>py, &g)
    else:
        with nogil:
            dm_avg_pool2d_forward_f64(<const double *>px, <double *>py, &g)
    return y


def avg_pool2d_backward(x_shape, grad, pool_size=2, strides=None, padding="valid"):
    """Gradient of average pooling wrt its input (shape x_shape) from the output gradient."""
    fn = "avg_pool2d_backward"
    cdef tuple shape = _check_x_shape(x_shape, fn)
    geom = pool2d_geometry(shape, pool_size, strides, padding, fn)
    cdef cnp.ndarray gy = _float_array(grad, fn, "grad")
    out_shape = (shape[0], geom[0], geom[1], shape[3])
    if tuple((<object>gy).shape) != out_shape:
        raise ValueError(f"{fn}: grad has shape {tuple((<object>gy).shape)}, expected {out_shape} "
                         f"(the pooling output for x_shape {shape})")
    cdef dm_pool2d_t g = _pool_struct(shape, geom, pool_size, strides, fn)
    cdef cnp.npy_intp dims[4]
    for i in range(4):
        dims[i] = shape[i]
    cdef cnp.ndarray dx = cnp.PyArray_EMPTY(4, dims, cnp.PyArray_TYPE(gy), 0)
    if cnp.PyArray_SIZE(dx) == 0:
        return dx
    if cnp.PyArray_SIZE(gy) == 0:
        dx.fill(0)
        return dx
    cdef void *pg = cnp.PyArray_DATA(gy)
    cdef void *pdx = cnp.PyArray_DATA(dx)
    if cnp.PyArray_TYPE(gy) == cnp.NPY_FLOAT32:
        with nogil:
            dm_avg_pool2d_backward_f32(<const float *>pg, <float *>pdx, &g)
    else:
        with nogil:
            dm_avg_pool2d_backward_f64(<const double *>pg, <double *>pdx, &g)
    return dx
