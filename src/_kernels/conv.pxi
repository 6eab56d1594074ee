# conv kernels: bindings included into _kernels.pyx (see its end). Owned by the conv work.
# C side: dm_conv.h / dm_conv.c. Shapes channels-last: x (n, h, w, cin), kernel
# (kh, kw, cin, cout), output (n, ho, wo, cout).

cdef extern from "dm_conv.h" nogil:
    ctypedef struct dm_conv2d_shape:
        int64_t n, h, w, cin
        int64_t kh, kw, cout
        int64_t sh, sw
        int64_t pt, pb, pl, pr
        int64_t dh, dw
        int64_t ho, wo

    int dm_conv2d_output_size(dm_conv2d_shape *s)
    int dm_conv2d_forward_f32(const dm_conv2d_shape *s, const float *x, const float *k,
                              const float *b, int act, float *y)
    int dm_conv2d_forward_f64(const dm_conv2d_shape *s, const double *x, const double *k,
                              const double *b, int act, double *y)
    int dm_conv2d_backward_f32(const dm_conv2d_shape *s, const float *x, const float *k,
                               const float *yz, const float *dy, int act,
                               float *dx, float *dk, float *db)
    int dm_conv2d_backward_f64(const dm_conv2d_shape *s, const double *x, const double *k,
                               const double *yz, const double *dy, int act,
                               double *dx, double *dk, double *db)

#: Activation codes of dm_gemm.h (DM_ACT_*), as accepted by conv2d_forward/backward.
CONV_ACTIVATIONS = {"none": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "gelu": 4, "gelu_tanh": 5}

cdef int64_t _CONV_MAX_ELEMENTS = (<int64_t>1) << 60


cdef tuple _conv_ints(object values, int count, str fn, str name, int64_t minimum):
    """`values` as a tuple of `count` Python ints >= minimum, or TypeError/ValueError."""
    try:
        vals = tuple(operator.index(v) for v in values)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be a sequence of {count} integers, got {values!r}") \
            from None
    if len(vals) != count:
        raise ValueError(f"{fn}: {name} must have {count} values, got {values!r}")
    for v in vals:
        if v < minimum or v > _CONV_MAX_ELEMENTS:
            raise ValueError(f"{fn}: {name} must be >= {minimum} (and reasonable), got {values!r}")
    return vals


cdef _conv_setup(str fn, x, k, strides, pads, dilation, int act, dm_conv2d_shape *s):
    """Checked arrays and the filled shape: (x, k) as contiguous float arrays."""
    cdef object X = _float_array(x, fn, "x")
    cdef object Kk = _float_array(k, fn, "kernel")
    if X.ndim != 4:
        raise ValueError(f"{fn}: x must have rank 4 (n, h, w, c_in), got shape {X.shape}")
    if Kk.ndim != 4:
        raise ValueError(f"{fn}: kernel must have rank 4 (kh, kw, c_in, c_out), got shape "
                         f"{Kk.shape}")
    if X.dtype != Kk.dtype:
        raise TypeError(f"{fn}: x has dtype {X.dtype} but kernel has dtype {Kk.dtype}")
    if X.shape[3] != Kk.shape[2]:
        raise ValueError(f"{fn}: x of shape {X.shape} has {X.shape[3]} channels but kernel of "
                         f"shape {Kk.shape} expects {Kk.shape[2]}")
    if Kk.shape[0] < 1 or Kk.shape[1] < 1:
        raise ValueError(f"{fn}: kernel of shape {Kk.shape} has an empty spatial size")
    if act < 0 or act > 5:
        raise ValueError(f"{fn}: unknown activation code {act}")
    sh, sw = _conv_ints(strides, 2, fn, "strides", 1)
    pt, pb, pl, pr = _conv_ints(pads, 4, fn, "padding", 0)
    dh, dw = _conv_ints(dilation, 2, fn, "dilation", 1)
    s.n, s.h, s.w, s.cin = X.shape[0], X.shape[1], X.shape[2], X.shape[3]
    s.kh, s.kw, s.cout = Kk.shape[0], Kk.shape[1], Kk.shape[3]
    s.sh, s.sw, s.pt, s.pb, s.pl, s.pr, s.dh, s.dw = sh, sw, pt, pb, pl, pr, dh, dw
    if (Kk.shape[0] - 1) * dh + 1 > X.shape[1] + pt + pb or \
            (Kk.shape[1] - 1) * dw + 1 > X.shape[2] + pl + pr:
        raise ValueError(
            f"{fn}: kernel of shape {Kk.shape} with dilation {(dh, dw)} spans "
            f"{((Kk.shape[0] - 1) * dh + 1, (Kk.shape[1] - 1) * dw + 1)}, larger than the input "
            f"of shape {X.shape} padded by {(pt, pb, pl, pr)} "
            f"({(X.shape[1] + pt + pb, X.shape[2] + pl + pr)})")
    dm_conv2d_output_size(s)
    # Python integers: no overflow while checking that C's int64 index arithmetic cannot
    ho, wo, n, cin, cout = <object>s.ho, <object>s.wo, X.shape[0], X.shape[3], Kk.shape[3]
    if n * ho * wo * cout > _CONV_MAX_ELEMENTS or \
            ho * wo * Kk.shape[0] * Kk.shape[1] * max(cin, 1) > _CONV_MAX_ELEMENTS:
        raise ValueError(f"{fn}: output of shape {(s.n, s.ho, s.wo, s.cout)} is too large")
    return X, Kk


def conv2d_forward(x, kernel, bias=None, strides=(1, 1), padding=(0, 0, 0, 0),
                   dilation=(1, 1), int act=0):
    """act(conv2d(x, kernel) + bias), channels-last; padding = (top, bottom, left, right).

    x (n, h, w, c_in), kernel (kh, kw, c_in, c_out), bias (c_out,) or None; act is a code of
    CONV_ACTIVATIONS. Returns (n, ho, wo, c_out) with the dtype of x."""
    cdef dm_conv2d_shape s
    cdef str fn = "conv2d_forward"
    X, Kk = _conv_setup(fn, x, kernel, strides, padding, dilation, act, &s)
    Xc, Kc, Bc = X, Kk, None
    if bias is not None:
        Bc = <object>_float_array(bias, fn, "bias")
        if Bc.dtype != Xc.dtype:
            raise TypeError(f"{fn}: bias has dtype {Bc.dtype} but x has dtype {Xc.dtype}")
        if Bc.ndim != 1 or Bc.shape[0] != s.cout:
            raise ValueError(f"{fn}: bias of shape {Bc.shape} does not match kernel of shape "
                             f"{Kc.shape} (expected ({s.cout},))")
    Y = np.empty((s.n, s.ho, s.wo, s.cout), dtype=Xc.dtype)
    if Y.size == 0:
        return Y
    if s.cin == 0:  # an empty sum: act(bias), computed by a 1-channel zero convolution
        Xc = np.zeros((s.n, s.h, s.w, 1), Xc.dtype)
        Kc = np.zeros((s.kh, s.kw, 1, s.cout), Xc.dtype)
        s.cin = 1
    cdef void *xp = cnp.PyArray_DATA(<cnp.ndarray>Xc)
    cdef void *kp = cnp.PyArray_DATA(<cnp.ndarray>Kc)
    cdef void *bp = NULL if Bc is None else cnp.PyArray_DATA(<cnp.ndarray>Bc)
    cdef void *yp = cnp.PyArray_DATA(<cnp.ndarray>Y)
    cdef int rc
    if Xc.dtype == np.float32:
        with nogil:
            rc = dm_conv2d_forward_f32(&s, <float *>xp, <float *>kp, <float *>bp, act,
                                       <float *>yp)
    else:
        with nogil:
            rc = dm_conv2d_forward_f64(&s, <double *>xp, <double *>kp, <double *>bp, act,
                                       <double *>yp)
    if rc != 0:
        raise MemoryError(f"{fn}: could not allocate the work buffers")
    return Y


def conv2d_backward(x, kernel, yz, grad, strides=(1, 1), padding=(0, 0, 0, 0),
                    dilation=(1, 1), int act=0, bint need_dx=True, bint need_dkernel=True,
                    bint need_dbias=True):
    """Gradients (dx, dkernel, dbias) of conv2d_forward; those not needed are None.

    `grad` is the gradient w.r.t. the output; `yz` the forward output for relu/sigmoid/tanh,
    the pre-activation for gelu/gelu_tanh, ignored (may be None) without activation."""
    cdef dm_conv2d_shape s
    cdef str fn = "conv2d_backward"
    X, Kk = _conv_setup(fn, x, kernel, strides, padding, dilation, act, &s)
    Xc, Kc, Zc = X, Kk, None
    out_shape = (s.n, s.ho, s.wo, s.cout)
    cdef object Gc = _float_array(grad, fn, "grad")
    if Gc.dtype != Xc.dtype:
        raise TypeError(f"{fn}: grad has dtype {Gc.dtype} but x has dtype {Xc.dtype}")
    if Gc.shape != out_shape:
        raise ValueError(f"{fn}: grad of shape {Gc.shape} does not match the output shape "
                         f"{out_shape} of x {Xc.shape} and kernel {Kc.shape}")
    if act != 0:
        if yz is None:
            raise ValueError(f"{fn}: the activation needs the forward output / pre-activation")
        Zc = <object>_float_array(yz, fn, "yz")
        if Zc.dtype != Xc.dtype:
            raise TypeError(f"{fn}: yz has dtype {Zc.dtype} but x has dtype {Xc.dtype}")
        if Zc.shape != out_shape:
            raise ValueError(f"{fn}: yz of shape {Zc.shape} does not match the output shape "
                             f"{out_shape}")
    if Gc.size == 0 or not (need_dx or need_dkernel or need_dbias):
        # empty batch or no output channel: zero gradients
        return (np.zeros_like(Xc) if need_dx else None,
                np.zeros_like(Kc) if need_dkernel else None,
                np.zeros(s.cout, Xc.dtype) if need_dbias else None)
    # the C code writes every element of the gradients it computes: no zero-fill needed
    DX = np.empty_like(Xc) if need_dx else None
    DK = np.empty_like(Kc) if need_dkernel else None
    DB = np.empty(s.cout, Xc.dtype) if need_dbias else None
    DXc, DKc = DX, DK
    if s.cin == 0:  # only the bias gradient is non-trivial; dx and dkernel are empty
        Xc = np.zeros((s.n, s.h, s.w, 1), Xc.dtype)
        Kc = np.zeros((s.kh, s.kw, 1, s.cout), Xc.dtype)
        s.cin = 1
        DXc = None
        DKc = None
    cdef void *xp = cnp.PyArray_DATA(<cnp.ndarray>Xc)
    cdef void *kp = cnp.PyArray_DATA(<cnp.ndarray>Kc)
    cdef void *zp = NULL if Zc is None else cnp.PyArray_DATA(<cnp.ndarray>Zc)
    cdef void *gp = cnp.PyArray_DATA(<cnp.ndarray>Gc)
    cdef void *dxp = NULL if DXc is None else cnp.PyArray_DATA(<cnp.ndarray>DXc)
    cdef void *dkp = NULL if DKc is None else cnp.PyArray_DATA(<cnp.ndarray>DKc)
    cdef void *dbp = NULL if DB is None else cnp.PyArray_DATA(<cnp.ndarray>DB)
    cdef int rc
    if Xc.dtype == np.float32:
        with nogil:
            rc = dm_conv2d_backward_f32(&s, <float *>xp, <float *>kp, <float *>zp, <float *>gp,
                                        act, <float *>dxp, <float *>dkp, <float *>dbp)
    else:
        with nogil:
            rc = dm_conv2d_backward_f64(&s, <double *>xp, <double *>kp, <double *>zp,
                                        <double *>gp, act, <double *>dxp, <double *>dkp,
                                        <double *>dbp)
    if rc != 0:
        raise MemoryError(f"{fn}: could not allocate the work buffers")
    return DX, DK, DB
