"""Matrix product, batched and broadcast as `numpy.matmul` (book, chapter "Tenseurs"):
for C = A·B, dA = dC·Bᵀ and dB = Aᵀ·dC, summed over broadcast batch dimensions."""
from ..backend import backend_of
from ..tensor import _unbroadcast
from ._base import make, pair, xp


def _check(A, B):
    if A.ndim == 0 or B.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes "
                         f"{A.shape} and {B.shape}")
    k_b = B.shape[0] if B.ndim == 1 else B.shape[-2]
    if A.shape[-1] != k_b:
        raise ValueError(f"matmul: shapes {A.shape} and {B.shape} are not aligned "
                         f"({A.shape[-1]} != {k_b})")


def matmul(a, b):
    a, b = pair(a, b, "matmul")
    A, B = a.data, b.data
    _check(A, B)
    bk = backend_of(A)
    try:
        out = bk.matmul(A, B)
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {A.shape} and {B.shape} do "
                         "not broadcast together") from None

    def backward(g):
        if A.ndim == 1 and B.ndim == 1:
            return g * B, g * A
        m = xp(g)
        A2 = A[None, :] if A.ndim == 1 else A          # (..., m, k)
        B2 = B[:, None] if B.ndim == 1 else B          # (..., k, n)
        G = m.expand_dims(g, -2) if A.ndim == 1 else g  # (..., m, n)
        G = m.expand_dims(G, -1) if B.ndim == 1 else G
        ga = gb = None
        if a.requires_grad:
            ga = bk.matmul(G, m.swapaxes(B2, -1, -2))
            ga = _unbroadcast(ga[..., 0, :] if A.ndim == 1 else ga, A.shape)
        if b.requires_grad:
            gb = bk.matmul(m.swapaxes(A2, -1, -2), G)
            gb = _unbroadcast(gb[..., :, 0] if B.ndim == 1 else gb, B.shape)
        return ga, gb
    return make(out, "matmul", (a, b), backward)
