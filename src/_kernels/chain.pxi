# The training step of a chain of Dense layers with the fused softmax cross-entropy, in one call
# (deepmath/models/chain_step.py): included into _kernels.pyx after gemm.pxi and fused.pxi,
# whose C functions it calls in the order and with the arguments the Python step gives them,
# so that it computes the same bits; what it saves is the Python between the kernels.

from libc.stdlib cimport calloc, free


ctypedef struct _Chain:     # one Dense layer of the step: sizes and arrays
    int64_t k, n
    int act
    float *x
    float *w
    float *b
    float *out
    float *dz
    float *dx
    float *dw
    float *db


cdef inline float *_f(object a):
    return NULL if a is None else <float *>cnp.PyArray_DATA(<cnp.ndarray>a)


cdef void _column_sums_f32(const float *a, int64_t rows, int64_t cols, float *out) noexcept nogil:
    """out[j] = a[0, j] + a[1, j] + ... in row order: numpy's a.sum(axis=0) of C-ordered a."""
    cdef int64_t i, j
    for j in range(cols):
        out[j] = a[j]
    for i in range(1, rows):
        for j in range(cols):
            out[j] = out[j] + a[i * cols + j]


cdef cnp.ndarray _new_f32(int64_t rows, int64_t cols):
    cdef cnp.npy_intp dims[2]
    dims[0] = rows
    dims[1] = cols
    return cnp.PyArray_EMPTY(2, dims, cnp.NPY_FLOAT32, 0)


def dense_chain_step(x, list weights, list biases, list acts, y):
    """One training step's numbers for Dense layers act_i(x·W_i + b_i), float32, the last
    layer's act 0 (its output are logits), against one-hot targets y with the mean softmax
    cross-entropy. acts: codes 0 (linear), 1 (relu), 2 (sigmoid), 3 (tanh); biases: arrays or
    None. Returns (per-sample losses, logits, [dW_0, db_0, dW_1, ...]) (db_i left out where
    b_i is None); the data needs no gradient.
    """
    fn = "dense_chain_step"
    cdef Py_ssize_t nl = len(weights), i
    if nl == 0 or len(biases) != nl or len(acts) != nl or acts[nl - 1] != 0:
        raise ValueError(f"{fn}: need as many weights, biases and activations (the last one "
                         "0), at least one layer")
    cdef cnp.ndarray X = _float_array(x, fn, "x")
    cdef cnp.ndarray Y = _float_array(y, fn, "y")
    if cnp.PyArray_TYPE(X) != cnp.NPY_FLOAT32 or cnp.PyArray_NDIM(X) != 2:
        raise TypeError(f"{fn}: x must be a 2-D float32 array, got {X.dtype} {(<object>X).shape}")
    cdef int64_t batch = cnp.PyArray_DIM(X, 0)
    ins, outs, ws, bs = [X], [], [], []
    cdef int64_t n_in = cnp.PyArray_DIM(X, 1), n_out
    cdef cnp.ndarray W, B
    for i in range(nl):
        W = _float_array(weights[i], fn, "weights")
        if cnp.PyArray_TYPE(W) != cnp.NPY_FLOAT32 or cnp.PyArray_NDIM(W) != 2 or \
                cnp.PyArray_DIM(W, 0) != n_in:
            raise ValueError(f"{fn}: weights[{i}] has shape {(<object>W).shape} and dtype "
                             f"{W.dtype}; expected float32 ({n_in}, n)")
        n_out = cnp.PyArray_DIM(W, 1)
        B = None
        if biases[i] is not None:
            B = _float_array(biases[i], fn, "biases")
            if cnp.PyArray_TYPE(B) != cnp.NPY_FLOAT32 or (<object>B).shape != (n_out,):
                raise ValueError(f"{fn}: biases[{i}] has shape {(<object>B).shape}; expected "
                                 f"float32 ({n_out},)")
        if not 0 <= acts[i] <= 3:
            raise ValueError(f"{fn}: activation code {acts[i]!r} is not 0..3")
        ws.append(W)
        bs.append(B)
        outs.append(_new_f32(batch, n_out))
        if i + 1 < nl:
            ins.append(outs[i])
        n_in = n_out
    if cnp.PyArray_TYPE(Y) != cnp.NPY_FLOAT32 or (<object>Y).shape != (batch, n_in):
        raise ValueError(f"{fn}: y has shape {(<object>Y).shape} and dtype {Y.dtype}; expected "
                         f"float32 {(batch, n_in)} like the logits")
    if batch == 0:
        raise ValueError(f"{fn}: the batch is empty")
    cdef cnp.ndarray loss = np.empty(batch, np.float32)
    cdef cnp.ndarray lse = np.empty(batch, np.float32)
    cdef cnp.ndarray seed = np.full(batch, 1.0 / batch, np.float32)
    grads, dzs, dxs = [], [], []
    for i in range(nl):
        W = ws[i]
        dzs.append(_new_f32(batch, cnp.PyArray_DIM(W, 1)) if acts[i] or i + 1 == nl else None)
        dxs.append(_new_f32(batch, cnp.PyArray_DIM(W, 0)) if i > 0 else None)
        grads.append(_new_f32(cnp.PyArray_DIM(W, 0), cnp.PyArray_DIM(W, 1)))
        grads.append(None if bs[i] is None else np.empty(cnp.PyArray_DIM(W, 1), np.float32))
    cdef _Chain *c = <_Chain *>calloc(nl, sizeof(_Chain))
    if c == NULL:
        raise MemoryError(fn)
    for i in range(nl):
        c[i].k = cnp.PyArray_DIM(<cnp.ndarray>ws[i], 0)
        c[i].n = cnp.PyArray_DIM(<cnp.ndarray>ws[i], 1)
        c[i].act = acts[i]
        c[i].x, c[i].w, c[i].out = _f(ins[i]), _f(ws[i]), _f(outs[i])
        c[i].b = _f(bs[i])
        c[i].dz, c[i].dx = _f(dzs[i]), _f(dxs[i])
        c[i].dw, c[i].db = _f(grads[2 * i]), _f(grads[2 * i + 1])
    with nogil:
        _dense_chain_f32(c, nl, batch, <float *>cnp.PyArray_DATA(Y),
                         <float *>cnp.PyArray_DATA(loss), <float *>cnp.PyArray_DATA(lse),
                         <float *>cnp.PyArray_DATA(seed))
    free(c)
    return loss, outs[nl - 1], [g for g in grads if g is not None]


cdef void _dense_chain_f32(_Chain *c, Py_ssize_t nl, int64_t batch, const float *y,
                           float *loss, float *lse, const float *seed) noexcept nogil:
    """The kernels of DenseChain.forward, the fused loss and DenseChain.backward, in order."""
    cdef Py_ssize_t i
    cdef float *grad
    cdef float *dz
    for i in range(nl):        # forward: act(x·W + b), the GEMM's epilogue
        dm_sgemm(0, 0, batch, c[i].n, c[i].k, 1.0, c[i].x, c[i].k, c[i].w, c[i].n, 0.0,
                 c[i].out, c[i].n, c[i].b, c[i].act)
    i = nl - 1                 # the mean softmax cross-entropy and its gradient
    dm_xent_forward_f32(c[i].out, y, loss, lse, batch, c[i].n)
    dm_xent_backward_f32(c[i].out, y, lse, seed, c[i].dz, batch, c[i].n)
    grad = c[i].dz
    for i in range(nl - 1, -1, -1):   # backward, last layer first
        dz = c[i].dz
        if c[i].act == 1:
            dm_relu_backward_f32(c[i].out, grad, dz, batch * c[i].n)
        elif c[i].act == 2:
            dm_sigmoid_backward_f32(c[i].out, grad, dz, batch * c[i].n)
        elif c[i].act == 3:
            dm_tanh_backward_f32(c[i].out, grad, dz, batch * c[i].n)
        else:
            dz = grad
        if i > 0:              # dX = dZ·Wᵀ
            dm_sgemm(0, 1, batch, c[i].k, c[i].n, 1.0, dz, c[i].n, c[i].w, c[i].n, 0.0,
                     c[i].dx, c[i].k, NULL, 0)
            grad = c[i].dx
        dm_sgemm(1, 0, c[i].k, c[i].n, batch, 1.0, c[i].x, c[i].k, dz, c[i].n, 0.0, c[i].dw,
                 c[i].n, NULL, 0)   # dW = Xᵀ·dZ
        if c[i].db != NULL:
            _column_sums_f32(dz, batch, c[i].n, c[i].db)
