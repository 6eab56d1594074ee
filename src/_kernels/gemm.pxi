# gemm kernels: bindings included into _kernels.pyx (see its end). Owned by the gemm work.
#
# matmul() is on the hot path of every dense layer: its 2-D C-contiguous case does as little
# Python-level work as possible (type checks on C fields, one array allocation, one C call).

cdef extern from "dm_gemm.h" nogil:
    int DM_ACT_NONE, DM_ACT_RELU, DM_ACT_SIGMOID, DM_ACT_TANH, DM_ACT_GELU, DM_ACT_GELU_TANH
    void dm_sgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc, const float *bias, int act)
    void dm_dgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, double alpha,
                  const double *A, int64_t lda, const double *B, int64_t ldb, double beta,
                  double *C, int64_t ldc, const double *bias, int act)
    void dm_sgemm_batched(int transa, int transb, int nbd, const int64_t *batch_shape,
                          const int64_t *a_strides, const int64_t *b_strides, int64_t m,
                          int64_t n, int64_t k, float alpha, const float *A, int64_t lda,
                          const float *B, int64_t ldb, float beta, float *C, int64_t ldc,
                          int64_t c_stride, const float *bias, int act)
    void dm_dgemm_batched(int transa, int transb, int nbd, const int64_t *batch_shape,
                          const int64_t *a_strides, const int64_t *b_strides, int64_t m,
                          int64_t n, int64_t k, double alpha, const double *A, int64_t lda,
                          const double *B, int64_t ldb, double beta, double *C, int64_t ldc,
                          int64_t c_stride, const double *bias, int act)
    const char *dm_gemm_kernel_name()
    double dm_fma_peak_gflops(double seconds)


#: Activation names accepted by gemm(act=...) and their codes (the DM_ACT_* of dm_gemm.h).
ACTIVATIONS = {None: 0, "linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3, "gelu": 4,
               "gelu_tanh": 5}

DEF _MAX_DIMS = 64


def gemm_kernel_name():
    """The float32 GEMM micro-kernel chosen for this CPU: 'avx512', 'avx2+fma' or 'portable'."""
    return dm_gemm_kernel_name().decode()


def fma_peak_gflops(seconds=0.2):
    """Measured peak GFLOP/s of FMA chains on get_num_threads() threads (about `seconds` long)."""
    cdef double s = float(seconds)
    cdef double r
    with nogil:
        r = dm_fma_peak_gflops(s)
    return r


cdef int _act_code(object act) except -1:
    if isinstance(act, str) or act is None:
        try:
            return ACTIVATIONS[act]
        except KeyError:
            pass
    elif isinstance(act, int) and 0 <= act <= 5:
        return act
    raise ValueError(f"unknown activation {act!r}; expected one of "
                     f"{', '.join(repr(a) for a in ACTIVATIONS)} or a code 0..5")


cdef object _matrix(object x, str fn, str name, int64_t *ld, int *trans):
    """`x` (2-D float array) as an array the kernel reads in place, with its row stride `ld`
    and whether it is stored transposed (`trans`): C-ordered rows with any row stride >= the
    row length, or the transpose of that. Other layouts (negative or odd strides) are copied."""
    cdef cnp.ndarray a
    if not isinstance(x, cnp.ndarray):
        x = _float_array(x, fn, name)
    a = <cnp.ndarray>x
    cdef int t = cnp.PyArray_TYPE(a)
    if t != cnp.NPY_FLOAT32 and t != cnp.NPY_FLOAT64:
        raise TypeError(f"{fn}: {name} has dtype {a.dtype}; expected float32 or float64")
    if cnp.PyArray_NDIM(a) != 2:
        raise ValueError(f"{fn}: {name} must be 2-D, got shape {(<object>a).shape}")
    cdef int64_t isz = cnp.PyArray_ITEMSIZE(a)
    cdef int64_t r = cnp.PyArray_DIM(a, 0), c = cnp.PyArray_DIM(a, 1)
    cdef int64_t s0 = cnp.PyArray_STRIDE(a, 0), s1 = cnp.PyArray_STRIDE(a, 1)
    if r <= 1:
        s0 = max(c, 1) * isz
    if c <= 1:
        s1 = isz
    if cnp.PyArray_ISBEHAVED_RO(a):
        if s1 == isz and s0 % isz == 0 and s0 >= c * isz:
            ld[0] = s0 // isz
            trans[0] = 0
            return a
        if s0 == isz and s1 % isz == 0 and s1 >= r * isz:
            ld[0] = s1 // isz
            trans[0] = 1
            return a
    a = _float_array(np.ascontiguousarray(a), fn, name)
    ld[0] = max(c, 1)
    trans[0] = 0
    return a


def gemm(a, b, transa=False, transb=False, alpha=1.0, beta=0.0, c=None, bias=None, act=0):
    """act(alpha·op(a)·op(b) + beta·c + bias): the BLAS GEMM with a dense layer's epilogue.

    a, b: 2-D float32 or float64 arrays of the same dtype; op(x) is x.T when trans is true.
    Row-strided views (x[:, :k] of a wider array) and transposed views are read in place.
    c: optional (m, n) output of the same dtype with unit column stride, overwritten with the
    result (its old values are used when beta != 0); without it a new array is returned and
    beta is ignored. bias: optional (n,) array added to every row. act: None/'linear', 'relu',
    'sigmoid', 'tanh', 'gelu' (erf), 'gelu_tanh', or the code 0..5.
    Returns c (or the new array).
    """
    # The dense layers call this once per product, on arrays of a few KiB: everything here is
    # C-level checks on typed arrays (a 1×1 call costs about what np.empty does), the Python
    # attribute lookups and conversions kept to the error messages and the slow cases.
    cdef int64_t lda, ldb, ldc
    cdef int ta, tb
    cdef bint fta = transa, ftb = transb
    cdef cnp.ndarray A, B, C, BIAS = None
    cdef cnp.npy_intp dims[2]
    if isinstance(a, cnp.ndarray) and isinstance(b, cnp.ndarray) and \
            cnp.PyArray_NDIM(<cnp.ndarray>a) == 2 and cnp.PyArray_NDIM(<cnp.ndarray>b) == 2 and \
            cnp.PyArray_DIM(<cnp.ndarray>a, 0 if fta else 1) != \
            cnp.PyArray_DIM(<cnp.ndarray>b, 1 if ftb else 0):  # before any copy of a or b
        raise ValueError(f"gemm: shapes {a.shape} and {b.shape} (transa={fta}, "
                         f"transb={ftb}) are not aligned")
    A = _matrix(a, "gemm", "a", &lda, &ta)
    B = _matrix(b, "gemm", "b", &ldb, &tb)
    cdef int typ = cnp.PyArray_TYPE(A)
    if cnp.PyArray_TYPE(B) != typ:
        raise TypeError(f"gemm: a has dtype {A.dtype} but b has dtype {B.dtype}; they must be "
                        "the same")
    cdef int code
    if act is None or type(act) is int and act == 0:
        code = 0
    else:
        code = _act_code(act)
    if fta:
        ta = 1 - ta
    if ftb:
        tb = 1 - tb
    cdef int64_t m = cnp.PyArray_DIM(A, 1) if fta else cnp.PyArray_DIM(A, 0)
    cdef int64_t k = cnp.PyArray_DIM(A, 0) if fta else cnp.PyArray_DIM(A, 1)
    cdef int64_t kb = cnp.PyArray_DIM(B, 1) if ftb else cnp.PyArray_DIM(B, 0)
    cdef int64_t n = cnp.PyArray_DIM(B, 0) if ftb else cnp.PyArray_DIM(B, 1)
    if k != kb:
        raise ValueError(f"gemm: op(a) has shape {(m, k)} and op(b) has shape {(kb, n)} "
                         f"(a {(<object>A).shape}, b {(<object>B).shape}, transa={fta}, "
                         f"transb={ftb}): inner dimensions differ")
    cdef double al = alpha if type(alpha) is float else float(alpha)
    cdef double be = beta if type(beta) is float else float(beta)
    if c is None:
        be = 0.0
        dims[0] = m
        dims[1] = n
        C = cnp.PyArray_EMPTY(2, dims, typ, 0)
        ldc = max(n, 1)
    else:
        if not isinstance(c, cnp.ndarray):
            raise TypeError(f"gemm: c must be a numpy.ndarray, not {type(c).__name__}")
        C = <cnp.ndarray>c
        if cnp.PyArray_TYPE(C) != typ:
            raise TypeError(f"gemm: c has dtype {C.dtype}; expected {A.dtype} like a and b")
        if cnp.PyArray_NDIM(C) != 2 or cnp.PyArray_DIM(C, 0) != m or cnp.PyArray_DIM(C, 1) != n:
            raise ValueError(f"gemm: c has shape {(<object>C).shape}; expected {(m, n)}")
        if not cnp.PyArray_ISBEHAVED(C):
            raise ValueError("gemm: c must be writeable, aligned and in native byte order")
        ldc = cnp.PyArray_STRIDE(C, 0) // cnp.PyArray_ITEMSIZE(C) if m > 1 else max(n, 1)
        if n > 1 and cnp.PyArray_STRIDE(C, 1) != cnp.PyArray_ITEMSIZE(C) or m > 1 and (
                cnp.PyArray_STRIDE(C, 0) % cnp.PyArray_ITEMSIZE(C) or ldc < n):
            raise ValueError(f"gemm: c must have rows of contiguous elements (strides "
                             f"{(<object>C).strides})")
    if bias is not None:
        if isinstance(bias, cnp.ndarray) and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>bias) and \
                cnp.PyArray_ISBEHAVED_RO(<cnp.ndarray>bias):
            BIAS = <cnp.ndarray>bias
        else:
            BIAS = _float_array(bias, "gemm", "bias")
        if cnp.PyArray_TYPE(BIAS) != typ:
            raise TypeError(f"gemm: bias has dtype {BIAS.dtype}; expected {A.dtype}")
        if cnp.PyArray_NDIM(BIAS) != 1 or cnp.PyArray_DIM(BIAS, 0) != n:
            raise ValueError(f"gemm: bias has shape {(<object>BIAS).shape}; expected ({n},)")
    if m == 0 or n == 0:
        return C
    cdef void *pa = cnp.PyArray_DATA(A)
    cdef void *pb = cnp.PyArray_DATA(B)
    cdef void *pc = cnp.PyArray_DATA(C)
    cdef void *pbias = cnp.PyArray_DATA(BIAS) if BIAS is not None else NULL
    if typ == cnp.NPY_FLOAT32:
        with nogil:
            dm_sgemm(ta, tb, m, n, k, <float>al, <const float *>pa, lda, <const float *>pb, ldb,
                     <float>be, <float *>pc, ldc, <const float *>pbias, code)
    else:
        with nogil:
            dm_dgemm(ta, tb, m, n, k, al, <const double *>pa, lda, <const double *>pb, ldb,
                     be, <double *>pc, ldc, <const double *>pbias, code)
    return C


cdef inline bint _plain(cnp.ndarray a, int typ):
    return (cnp.PyArray_TYPE(a) == typ and cnp.PyArray_NDIM(a) == 2 and
            cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_ISBEHAVED_RO(a))


def matmul(a, b):
    """a @ b with exactly numpy.matmul's semantics, computed by deepmath's GEMM.

    float32 or float64 operands (mixed: promoted to float64, as numpy does); 1-D operands are
    promoted to a row (a) or a column (b) and that axis is removed from the result; batch
    dimensions broadcast. Other dtypes raise TypeError, mismatched shapes ValueError.
    """
    cdef cnp.ndarray A, B, C
    cdef int typ
    cdef int64_t m, n, k
    cdef cnp.npy_intp dims[2]
    # fast path: two C-contiguous 2-D arrays of the same float dtype
    if type(a) is np.ndarray and type(b) is np.ndarray:
        A = <cnp.ndarray>a
        B = <cnp.ndarray>b
        typ = cnp.PyArray_TYPE(A)
        if (typ == cnp.NPY_FLOAT32 or typ == cnp.NPY_FLOAT64) and _plain(A, typ) and \
                _plain(B, typ):
            m = cnp.PyArray_DIM(A, 0)
            k = cnp.PyArray_DIM(A, 1)
            n = cnp.PyArray_DIM(B, 1)
            if cnp.PyArray_DIM(B, 0) == k:
                dims[0] = m
                dims[1] = n
                C = cnp.PyArray_EMPTY(2, dims, typ, 0)
                if m == 0 or n == 0:
                    return C
                if typ == cnp.NPY_FLOAT32:
                    with nogil:
                        dm_sgemm(0, 0, m, n, k, 1.0, <const float *>cnp.PyArray_DATA(A), k,
                                 <const float *>cnp.PyArray_DATA(B), n, 0.0,
                                 <float *>cnp.PyArray_DATA(C), n, NULL, 0)
                else:
                    with nogil:
                        dm_dgemm(0, 0, m, n, k, 1.0, <const double *>cnp.PyArray_DATA(A), k,
                                 <const double *>cnp.PyArray_DATA(B), n, 0.0,
                                 <double *>cnp.PyArray_DATA(C), n, NULL, 0)
                return C
    return _matmul_general(a, b)


cdef object _operand(object x, str name):
    if isinstance(x, np.generic) or not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.dtype != np.float32 and x.dtype != np.float64:
        raise TypeError(f"matmul: {name} has dtype {x.dtype}; expected float32 or float64")
    return x


cdef int _layout(cnp.ndarray x, int nbd, int64_t *shape, int64_t *strides, int64_t *ld,
                 int *trans):
    """Element strides of x's batch dimensions (right-aligned to nbd, 0 where broadcast) and
    its matrix layout; returns 0 when x must be copied first."""
    cdef int nd = cnp.PyArray_NDIM(x), d, off = nbd - (nd - 2)
    cdef int64_t isz = cnp.PyArray_ITEMSIZE(x)
    cdef int64_t r = cnp.PyArray_DIM(x, nd - 2), c = cnp.PyArray_DIM(x, nd - 1)
    cdef int64_t s0 = cnp.PyArray_STRIDE(x, nd - 2), s1 = cnp.PyArray_STRIDE(x, nd - 1), s
    if not cnp.PyArray_ISBEHAVED_RO(x):
        return 0
    for d in range(off):
        strides[d] = 0
    for d in range(nd - 2):
        s = cnp.PyArray_STRIDE(x, d)
        if cnp.PyArray_DIM(x, d) == 1:
            strides[off + d] = 0
        elif s < 0 or s % isz:
            return 0
        else:
            strides[off + d] = s // isz
    if r <= 1:
        s0 = max(c, 1) * isz
    if c <= 1:
        s1 = isz
    if s1 == isz and s0 % isz == 0 and s0 >= c * isz:
        ld[0] = s0 // isz
        trans[0] = 0
        return 1
    if s0 == isz and s1 % isz == 0 and s1 >= r * isz:
        ld[0] = s1 // isz
        trans[0] = 1
        return 1
    return 0


def _matmul_general(a, b):
    """matmul's every other case: conversions, 1-D operands, batches, transposed views."""
    a = _operand(a, "a")
    b = _operand(b, "b")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes "
                         f"{(<object>a).shape} and {b.shape}")
    if a.dtype != b.dtype:
        dt = np.result_type(a.dtype, b.dtype)
        a = a.astype(dt)
        b = b.astype(dt)
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    A2 = a[None, :] if a_vec else a
    B2 = b[:, None] if b_vec else b
    cdef int64_t m = A2.shape[-2], k = A2.shape[-1], n = B2.shape[-1]
    if B2.shape[-2] != k:
        raise ValueError(f"matmul: shapes {(<object>a).shape} and {b.shape} are not aligned "
                         f"({k} != {B2.shape[-2]})")
    try:
        batch = np.broadcast_shapes(A2.shape[:-2], B2.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {(<object>a).shape} and {b.shape} do not "
                         "broadcast together") from None
    out_shape = batch + (m, n)
    cdef cnp.ndarray A = A2, B = B2, C
    cdef int typ = cnp.PyArray_TYPE(A), nbd = len(batch), d, ta, tb
    cdef int64_t lda, ldb, nb = 1
    cdef int64_t shp[_MAX_DIMS]
    cdef int64_t sa[_MAX_DIMS]
    cdef int64_t sb[_MAX_DIMS]
    for d in range(nbd):
        shp[d] = batch[d]
        nb *= shp[d]
    if k == 0:
        C = np.zeros(out_shape, dtype=A.dtype)
    else:
        C = np.empty(out_shape, dtype=A.dtype)
    if nb == 0 or m == 0 or n == 0 or k == 0:
        pass
    else:
        # B without batch dimensions and rows of A stacked evenly: one (nb*m, k) product
        if B.ndim == 2 and nbd and cnp.PyArray_IS_C_CONTIGUOUS(A) and \
                cnp.PyArray_ISBEHAVED_RO(A):
            A = A.reshape(-1, k)
            nbd = 0
        if not _layout(A, nbd, shp, sa, &lda, &ta):
            A = np.ascontiguousarray(A)
            _layout(A, nbd, shp, sa, &lda, &ta)
        if not _layout(B, nbd, shp, sb, &ldb, &tb):
            B = np.ascontiguousarray(B)
            _layout(B, nbd, shp, sb, &ldb, &tb)
        if nbd == 0:
            m = A.shape[0]
        _call_batched(typ, ta, tb, nbd, shp, sa, sb, m, n, k, A, lda, B, ldb, C)
    if a_vec and b_vec:
        return C.reshape(out_shape[:-2])
    if a_vec:
        return C.reshape(out_shape[:-2] + (n,))
    if b_vec:
        return C.reshape(out_shape[:-1])
    return C


cdef void _call_batched(int typ, int ta, int tb, int nbd, int64_t *shp, int64_t *sa,
                        int64_t *sb, int64_t m, int64_t n, int64_t k, cnp.ndarray A,
                        int64_t lda, cnp.ndarray B, int64_t ldb, cnp.ndarray C):
    cdef void *pa = cnp.PyArray_DATA(A)
    cdef void *pb = cnp.PyArray_DATA(B)
    cdef void *pc = cnp.PyArray_DATA(C)
    if typ == cnp.NPY_FLOAT32:
        with nogil:
            dm_sgemm_batched(ta, tb, nbd, shp, sa, sb, m, n, k, 1.0, <const float *>pa, lda,
                             <const float *>pb, ldb, 0.0, <float *>pc, n, m * n, NULL, 0)
    else:
        with nogil:
            dm_dgemm_batched(ta, tb, nbd, shp, sa, sb, m, n, k, 1.0, <const double *>pa, lda,
                             <const double *>pb, ldb, 0.0, <double *>pc, n, m * n, NULL, 0)
