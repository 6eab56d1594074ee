# attention kernels: bindings included into _kernels.pyx (see its end). Owned by the attention work.

cdef extern from "dm_attention.h" nogil:
    int dm_attention_forward_f32(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                                 const float *q, const float *k, const float *v,
                                 const float *mask, const int64_t *mask_strides, int causal,
                                 float scale, float *out, float *lse)
    int dm_attention_forward_f64(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                                 const double *q, const double *k, const double *v,
                                 const double *mask, const int64_t *mask_strides, int causal,
                                 double scale, double *out, double *lse)
    int dm_attention_backward_f32(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                                  const float *q, const float *k, const float *v,
                                  const float *mask, const int64_t *mask_strides, int causal,
                                  float scale, const float *out, const float *lse,
                                  const float *grad, float *dq, float *dk, float *dv)
    int dm_attention_backward_f64(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t d,
                                  const double *q, const double *k, const double *v,
                                  const double *mask, const int64_t *mask_strides, int causal,
                                  double scale, const double *out, const double *lse,
                                  const double *grad, double *dq, double *dk, double *dv)
    const char *dm_attention_path()


def attention_path():
    """Inner-loop path of the float32 attention kernels on this CPU: 'avx512', 'avx2' or
    'portable' (DEEPMATH_ATTENTION_KERNEL=avx2|portable forces a slower one)."""
    return dm_attention_path().decode()


def _attention_args(str fn, q, k, v, mask, causal, scale):
    """Checked (q, k, v, mask view, mask strides, causal, scale) for the attention kernels."""
    cdef object Q, K, V, a
    Q = _float_array(q, fn, "q")
    K = _float_array(k, fn, "k")
    V = _float_array(v, fn, "v")
    for name, a in (("q", Q), ("k", K), ("v", V)):
        if a.ndim != 4:
            raise ValueError(f"{fn}: {name} must have 4 dimensions (B, H, T, d), got shape "
                             f"{a.shape}")
    if Q.dtype != K.dtype or Q.dtype != V.dtype:
        raise TypeError(f"{fn}: q, k, v have dtypes {Q.dtype}, {K.dtype}, {V.dtype}; they "
                        "must be the same")
    if K.shape[:2] != Q.shape[:2] or K.shape[3] != Q.shape[3] or V.shape != K.shape:
        raise ValueError(f"{fn}: q {Q.shape}, k {K.shape}, v {V.shape} do not match: expected "
                         "q (B, H, Tq, d), k and v (B, H, Tk, d)")
    B, H, Tq, d = Q.shape
    Tk = K.shape[2]
    M = None
    strides = None
    if mask is not None:
        if hasattr(mask, "data") and not isinstance(mask, np.ndarray) \
                and isinstance(getattr(mask, "data", None), np.ndarray):
            mask = mask.data  # a deepmath Tensor
        M = np.asarray(mask)
        if M.dtype == np.bool_:  # as PyTorch: True takes part in attention
            M = np.where(M, 0, -np.inf).astype(Q.dtype)
        elif M.dtype.kind != "f" or M.dtype.itemsize > 8:
            raise TypeError(f"{fn}: mask has dtype {M.dtype}; expected a float (additive) or "
                            "bool mask")
        if M.ndim > 4:
            raise ValueError(f"{fn}: mask of shape {M.shape} has more than 4 dimensions")
        M = np.require(M, dtype=Q.dtype, requirements=["C", "A"])
        try:
            M = np.broadcast_to(M, (B, H, Tq, Tk))
        except ValueError:
            raise ValueError(f"{fn}: mask of shape {M.shape} does not broadcast to "
                             f"(B, H, Tq, Tk) = {(B, H, Tq, Tk)}") from None
        strides = np.array([s // M.itemsize for s in M.strides], dtype=np.int64)
    if scale is None:
        scale = 1.0 / np.sqrt(d) if d > 0 else 1.0
    scale = float(scale)
    return Q, K, V, M, strides, bool(causal), scale


def attention_forward(q, k, v, mask=None, causal=False, scale=None):
    """Scaled dot-product attention: (out, lse) with out = softmax(q·kᵀ·scale + mask)·v.

    q: (B, H, Tq, d); k, v: (B, H, Tk, d), float32 or float64 (all the same dtype).
    mask: None, or an additive float mask broadcastable to (B, H, Tq, Tk), or a bool mask
    (True = attend). causal: query i attends keys j <= i only (PyTorch's is_causal).
    scale: default 1/sqrt(d). lse (B, H, Tq) is the log-sum-exp of each row of scores, all the
    backward pass needs. Fully masked rows give out = 0 and lse = -inf.
    """
    Q, K, V, M, S, c, sc = _attention_args("attention_forward", q, k, v, mask, causal, scale)
    cdef int64_t B = Q.shape[0], H = Q.shape[1], Tq = Q.shape[2], d = Q.shape[3]
    cdef int64_t Tk = K.shape[2]
    cdef int causal_c = c
    cdef double scale_c = sc
    if B * H * Tq * d == 0 or Tk == 0:
        from deepmath.backend.attention import attention_forward_reference
        return attention_forward_reference(Q, K, V, M, c, sc)
    cdef cnp.ndarray out = _empty_like(<cnp.ndarray>Q)
    cdef cnp.ndarray lse = np.empty((B, H, Tq), dtype=Q.dtype)
    cdef void *pq = cnp.PyArray_DATA(<cnp.ndarray>Q)
    cdef void *pk = cnp.PyArray_DATA(<cnp.ndarray>K)
    cdef void *pv = cnp.PyArray_DATA(<cnp.ndarray>V)
    cdef void *pm = NULL
    cdef int64_t *pms = NULL
    cdef cnp.ndarray strides_arr
    if M is not None:
        pm = cnp.PyArray_DATA(<cnp.ndarray>M)
        strides_arr = S
        pms = <int64_t *>cnp.PyArray_DATA(strides_arr)
    cdef void *po = cnp.PyArray_DATA(out)
    cdef void *pl = cnp.PyArray_DATA(lse)
    cdef int rc
    if cnp.PyArray_TYPE(<cnp.ndarray>Q) == cnp.NPY_FLOAT32:
        with nogil:
            rc = dm_attention_forward_f32(B, H, Tq, Tk, d, <const float *>pq, <const float *>pk,
                                          <const float *>pv, <const float *>pm, pms, causal_c,
                                          <float>scale_c, <float *>po, <float *>pl)
    else:
        with nogil:
            rc = dm_attention_forward_f64(B, H, Tq, Tk, d, <const double *>pq,
                                          <const double *>pk, <const double *>pv,
                                          <const double *>pm, pms, causal_c, scale_c,
                                          <double *>po, <double *>pl)
    if rc != 0:
        raise MemoryError("attention_forward: could not allocate the tile workspaces")
    return out, lse


def attention_backward(q, k, v, out, lse, grad, mask=None, causal=False, scale=None):
    """Gradients (dq, dk, dv) of attention_forward, from its out and lse and d loss/d out.

    Same arguments as attention_forward, plus out (B, H, Tq, d) and lse (B, H, Tq) it returned
    and grad (B, H, Tq, d). The scores are recomputed tile by tile: no (Tq, Tk) matrix is made.
    """
    fn = "attention_backward"
    Q, K, V, M, S, c, sc = _attention_args(fn, q, k, v, mask, causal, scale)
    cdef object O, L, G, a
    O = _float_array(out, fn, "out")
    L = _float_array(lse, fn, "lse")
    G = _float_array(grad, fn, "grad")
    for name, a in (("out", O), ("lse", L), ("grad", G)):
        if a.dtype != Q.dtype:
            raise TypeError(f"{fn}: {name} has dtype {a.dtype} but q has {Q.dtype}")
    if O.shape != Q.shape or G.shape != Q.shape or L.shape != Q.shape[:3]:
        raise ValueError(f"{fn}: out {O.shape}, grad {G.shape}, lse {L.shape} do not match q "
                         f"{Q.shape}: expected out and grad {Q.shape}, lse {Q.shape[:3]}")
    cdef int64_t B = Q.shape[0], H = Q.shape[1], Tq = Q.shape[2], d = Q.shape[3]
    cdef int64_t Tk = K.shape[2]
    cdef int causal_c = c
    cdef double scale_c = sc
    if B * H * Tq * d == 0 or Tk == 0:
        from deepmath.backend.attention import attention_backward_reference
        return attention_backward_reference(Q, K, V, O, L, G, M, c, sc)
    cdef cnp.ndarray dq = _empty_like(<cnp.ndarray>Q)
    cdef cnp.ndarray dk = _empty_like(<cnp.ndarray>K)
    cdef cnp.ndarray dv = _empty_like(<cnp.ndarray>V)
    cdef void *pq = cnp.PyArray_DATA(<cnp.ndarray>Q)
    cdef void *pk = cnp.PyArray_DATA(<cnp.ndarray>K)
    cdef void *pv = cnp.PyArray_DATA(<cnp.ndarray>V)
    cdef void *po = cnp.PyArray_DATA(<cnp.ndarray>O)
    cdef void *pl = cnp.PyArray_DATA(<cnp.ndarray>L)
    cdef void *pg = cnp.PyArray_DATA(<cnp.ndarray>G)
    cdef void *pdq = cnp.PyArray_DATA(dq)
    cdef void *pdk = cnp.PyArray_DATA(dk)
    cdef void *pdv = cnp.PyArray_DATA(dv)
    cdef void *pm = NULL
    cdef int64_t *pms = NULL
    cdef cnp.ndarray strides_arr
    if M is not None:
        pm = cnp.PyArray_DATA(<cnp.ndarray>M)
        strides_arr = S
        pms = <int64_t *>cnp.PyArray_DATA(strides_arr)
    cdef int rc
    if cnp.PyArray_TYPE(<cnp.ndarray>Q) == cnp.NPY_FLOAT32:
        with nogil:
            rc = dm_attention_backward_f32(B, H, Tq, Tk, d, <const float *>pq,
                                           <const float *>pk, <const float *>pv,
                                           <const float *>pm, pms, causal_c, <float>scale_c,
                                           <const float *>po, <const float *>pl,
                                           <const float *>pg, <float *>pdq, <float *>pdk,
                                           <float *>pdv)
    else:
        with nogil:
            rc = dm_attention_backward_f64(B, H, Tq, Tk, d, <const double *>pq,
                                           <const double *>pk, <const double *>pv,
                                           <const double *>pm, pms, causal_c, scale_c,
                                           <const double *>po, <const double *>pl,
                                           <const double *>pg, <double *>pdq, <double *>pdk,
                                           <double *>pdv)
    if rc != 0:
        raise MemoryError("attention_backward: could not allocate the tile workspaces")
    return dq, dk, dv
