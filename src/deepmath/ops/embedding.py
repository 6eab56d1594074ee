"""Embedding lookup, differentiable w.r.t. the table (Keras' Embedding; the book's chapter on
the attention behind ChatGPT turns each token into a vector this way).

    y[..., :] = table[indices[...], :]          indices (...) integers, table (V, D)
    dtable[v] = Σ over the positions p with indices[p] = v of dy[p]

The backward is a scatter-add. `numpy.add.at` does it, but one sparse product is 10 to 30
times faster: with S the (V, N) matrix holding a 1 at (indices[p], p), dtable = S·dy, computed
by SciPy's compiled CSC product (one pass over dy, no sort). On the GPU: the module's
scatter_add.
"""
import numpy as np
from scipy import sparse

from ..backend import device_of, to_device
from ..backend._arrays import index_add, is_device_array
from ..tensor import Tensor
from ._base import as_tensor, make, xp


def _indices(indices, rows, device):
    """Integer array of indices in [0, rows) on `device`; floats must hold integers (Keras
    casts them). Host indices of a GPU table are checked on the host, then copied over (no
    wait for the GPU); an index Tensor must be on the table's device."""
    if isinstance(indices, Tensor):
        data = indices.data
        if device_of(data) != device:
            raise ValueError(f"embedding: indices on the {device_of(data)} and the table on "
                             f"the {device}; move them to one device")
    else:
        data = indices if device_of(indices) == "gpu" else np.asarray(indices)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"embedding: indices must be integers, got dtype {data.dtype}")
    if data.size:
        low, high = data.min(), data.max()
        if low < 0 or high >= rows:
            bad = low if low < 0 else high
            raise IndexError(f"embedding: index {bad:g} is out of range for a table of {rows} "
                             f"rows (valid: 0 to {rows - 1})")
    idx = data.astype(xp(data).intp, copy=False)
    if data.dtype.kind == "f" and not (idx == data).all():
        raise ValueError("embedding: indices must be whole numbers, got fractional values")
    return to_device(idx, device)


def scatter_rows(idx, grad, rows):
    """(rows, D) array whose row v sums the rows of grad (N, D) where idx (N,) equals v."""
    if is_device_array(grad):
        out = xp(grad).zeros((rows, grad.shape[1]), dtype=grad.dtype)
        index_add(out, idx, grad)
        return out
    n = idx.shape[0]
    onehot = sparse.csc_matrix((np.ones(n, dtype=grad.dtype), idx, np.arange(n + 1)),
                               shape=(rows, n))
    return np.ascontiguousarray(onehot @ grad)


def embedding(indices, table):
    """Rows of `table` (V, D) picked by `indices` (any shape): output indices.shape + (D,)."""
    table = as_tensor(table)
    if table.ndim != 2:
        raise ValueError(f"embedding: the table must be 2-D (V, D), got shape {table.shape}")
    rows, dim = table.shape
    idx = _indices(indices, rows, table.device)
    out = xp(table.data).take(table.data, idx, axis=0)

    def backward(g):
        return (scatter_rows(idx.reshape(-1), g.reshape(-1, dim), rows),)
    return make(out, "embedding", (table,), backward)
