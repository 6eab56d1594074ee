"""conv2d forward + backward (dx, dw, db), 3x3 'same', stride 1, batch 32, float32: deepmath's
C kernels vs PyTorch F.conv2d (NCHW) vs numpy (im2col + BLAS matmul).

Cases (h x w, c_in -> c_out): the convolution layers of the book's CNNs and of a small CIFAR net.

- deepmath: what `deepmath.ops.conv.conv2d` calls, without the autodiff bookkeeping:
  `conv2d_forward_native` then `conv2d_backward_native` (all three gradients), NHWC.
- torch: `F.conv2d(x, w, b, padding='same')` then `y.backward(g)` with x, w, b requiring grad;
  NCHW tensors made from the same numbers (transposed) outside the timed region.
- numpy: im2col with a strided view + matmul (OpenBLAS), backward written by hand; slow-ish,
  a baseline for "what plain numpy costs".

`outputs()` returns y, dx, dw, db in deepmath's layout (torch's are transposed back), which
bench/run.py compares before trusting the timings. `--quick` uses a small shape (batch 4, 10x10)
for every case.
"""
import numpy as np

import _harness

CASES = ["28x28_1to32", "28x28_32to16", "32x32_3to64", "16x16_64to64"]
SHAPES = {"28x28_1to32": (28, 28, 1, 32), "28x28_32to16": (28, 28, 32, 16),
          "32x32_3to64": (32, 32, 3, 64), "16x16_64to64": (16, 16, 64, 64)}
BATCH, KSIZE, SEED = 32, 3, 0
TOLERANCE = {"rtol": 1e-4, "atol": 1e-3}  # float32, sums of up to 8192 products in other orders


def libraries(case):
    return ["deepmath", "torch", "numpy"]


def make_data(case, quick=False):
    """x (n, h, w, ci), kernel (3, 3, ci, co), bias (co,), output gradient g (n, h, w, co)."""
    h, w, ci, co = SHAPES[case]
    n = BATCH
    if quick:
        n, h, w = 4, 10, 10
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n, h, w, ci)).astype(np.float32)
    k = (rng.standard_normal((KSIZE, KSIZE, ci, co)) / np.sqrt(KSIZE * KSIZE * ci)).astype(
        np.float32)
    b = rng.standard_normal(co).astype(np.float32)
    g = rng.standard_normal((n, h, w, co)).astype(np.float32)
    return x, k, b, g


def run_case(case, library, repeats, quick=False):
    step = _BUILDERS[library](*make_data(case, quick))
    return _harness.time_calls(step, repeats)


def outputs(case, library, quick=False):
    y, dx, dk, db = _BUILDERS[library](*make_data(case, quick))()
    return {"y": y, "dx": dx, "dw": dk, "db": db} if library != "torch" else \
        _torch_to_nhwc(y, dx, dk, db)


# ---- deepmath --------------------------------------------------------------------------------

def _deepmath(x, k, b, g):
    from deepmath.backend.conv import conv2d_backward_native, conv2d_forward_native

    def step():
        y = conv2d_forward_native(x, k, b, 1, "same", 1, None)
        dx, dk, db = conv2d_backward_native(x, k, None, g, 1, "same", 1, None)
        return y, dx, dk, db
    return step


# ---- torch -------------------------------------------------------------------------------------

def _torch(x, k, b, g):
    import torch
    import torch.nn.functional as F
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_()
    kt = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1))).requires_grad_()
    bt = torch.from_numpy(b.copy()).requires_grad_()
    gt = torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2)))

    def step():
        xt.grad = kt.grad = bt.grad = None
        y = F.conv2d(xt, kt, bt, padding="same")
        y.backward(gt)
        return y, xt.grad, kt.grad, bt.grad
    return step


def _torch_to_nhwc(y, dx, dk, db):
    y = y.detach().numpy()
    return {"y": y.transpose(0, 2, 3, 1), "dx": dx.numpy().transpose(0, 2, 3, 1),
            "dw": dk.numpy().transpose(2, 3, 1, 0), "db": db.numpy()}


# ---- numpy -----------------------------------------------------------------------------------

def _numpy(x, k, b, g):
    n, h, w, ci = x.shape
    co = k.shape[3]
    p = KSIZE // 2
    K = KSIZE * KSIZE * ci

    def windows(xp):
        s = xp.strides
        return np.lib.stride_tricks.as_strided(
            xp, (n, h, w, KSIZE, KSIZE, ci), (s[0], s[1], s[2], s[1], s[2], s[3]),
            writeable=False)

    kmat = k.reshape(K, co)

    def step():
        xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        cols = windows(xp).reshape(n * h * w, K)          # copies: the im2col
        y = (cols @ kmat + b).reshape(n, h, w, co)
        g2 = g.reshape(-1, co)
        dk = (cols.T @ g2).reshape(k.shape)
        db = g2.sum(axis=0)
        dcols = (g2 @ kmat.T).reshape(n, h, w, KSIZE, KSIZE, ci)
        dxp = np.zeros_like(xp)
        for i in range(KSIZE):
            for j in range(KSIZE):
                dxp[:, i:i + h, j:j + w, :] += dcols[:, :, :, i, j, :]
        return y, dxp[:, p:p + h, p:p + w, :], dk, db
    return step


_BUILDERS = {"deepmath": _deepmath, "torch": _torch, "numpy": _numpy}
