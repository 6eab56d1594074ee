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

Backward alone, the book's MNIST CNN (Conv2D(32) then Conv2D(16), 3x3 'same', relu): the
`mnist_*` cases time one gradient of one layer, the forward done once outside the timed region
(relu's derivative from the saved output included, as in training): conv1's grad-kernel (+ bias;
its grad-input is never needed, x is the data), conv2's grad-input and grad-kernel (+ bias).
torch: `torch.autograd.grad(y, [the one input], g, retain_graph=True)` on relu(conv2d(...)).
"""
import numpy as np

import _harness

# backward-only cases: (layer shape, gradient): "dx" or "dkernel" (kernel and bias)
BACKWARD_CASES = {"mnist_conv1_dkernel": ("28x28_1to32", "dkernel"),
                  "mnist_conv2_dx": ("28x28_32to16", "dx"),
                  "mnist_conv2_dkernel": ("28x28_32to16", "dkernel")}
CASES = ["28x28_1to32", "28x28_32to16", "32x32_3to64", "16x16_64to64", *BACKWARD_CASES]
SHAPES = {"28x28_1to32": (28, 28, 1, 32), "28x28_32to16": (28, 28, 32, 16),
          "32x32_3to64": (32, 32, 3, 64), "16x16_64to64": (16, 16, 64, 64)}
BATCH, KSIZE, SEED = 32, 3, 0
TOLERANCE = {"rtol": 1e-4, "atol": 1e-3}  # float32, sums of up to 8192 products in other orders


def libraries(case):
    return ["deepmath", "torch", "numpy"]


def make_data(case, quick=False):
    """x (n, h, w, ci), kernel (3, 3, ci, co), bias (co,), output gradient g (n, h, w, co)."""
    h, w, ci, co = SHAPES[BACKWARD_CASES[case][0] if case in BACKWARD_CASES else case]
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


def _step(case, library, quick):
    if case in BACKWARD_CASES:
        return _BACKWARD[library](BACKWARD_CASES[case][1], *make_data(case, quick))
    return _BUILDERS[library](*make_data(case, quick))


def run_case(case, library, repeats, quick=False):
    return _harness.time_calls(_step(case, library, quick), repeats)


def outputs(case, library, quick=False):
    out = _step(case, library, quick)()
    if case in BACKWARD_CASES:
        return out
    y, dx, dk, db = out
    return {"y": y, "dx": dx, "dw": dk, "db": db} if library != "torch" else \
        _torch_to_nhwc(y, dx, dk, db)


# ---- deepmath --------------------------------------------------------------------------------

def _deepmath(x, k, b, g):
    from deepmath.backend import get_backend
    bk, (x, k, b, g) = get_backend(), _harness.deepmath_arrays(x, k, b, g)

    def step():
        y = bk.conv2d_forward(x, k, b, 1, "same", 1, None)
        dx, dk, db = bk.conv2d_backward(x, k, None, g, 1, "same", 1, None)
        return y, dx, dk, db
    return step


def _deepmath_backward(part, x, k, b, g):
    from deepmath.backend import get_backend
    bk, (x, k, b, g) = get_backend(), _harness.deepmath_arrays(x, k, b, g)
    y = bk.conv2d_forward(x, k, b, 1, "same", 1, "relu")
    need = (True, False, False) if part == "dx" else (False, True, True)

    def step():
        dx, dk, db = bk.conv2d_backward(x, k, y, g, 1, "same", 1, "relu", need)
        return {"dx": dx} if part == "dx" else {"dw": dk, "db": db}
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


def _torch_backward(part, x, k, b, g):
    import torch
    import torch.nn.functional as F
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    kt = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
    bt = torch.from_numpy(b.copy())
    wrt = [xt] if part == "dx" else [kt, bt]
    for t in wrt:
        t.requires_grad_()
    y = torch.relu(F.conv2d(xt, kt, bt, padding="same"))
    gt = torch.from_numpy(np.ascontiguousarray(g.transpose(0, 3, 1, 2)))

    def step():
        grads = torch.autograd.grad(y, wrt, gt, retain_graph=True)
        if part == "dx":
            return {"dx": grads[0].numpy().transpose(0, 2, 3, 1)}
        return {"dw": grads[0].numpy().transpose(2, 3, 1, 0), "db": grads[1].numpy()}
    return step


# ---- numpy -----------------------------------------------------------------------------------

def _numpy_im2col(x):
    """(n*h*w, KSIZE*KSIZE*ci) windows of x zero-padded 'same': a copy."""
    n, h, w, ci = x.shape
    p = KSIZE // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    s = xp.strides
    windows = np.lib.stride_tricks.as_strided(
        xp, (n, h, w, KSIZE, KSIZE, ci), (s[0], s[1], s[2], s[1], s[2], s[3]), writeable=False)
    return windows.reshape(n * h * w, KSIZE * KSIZE * ci)


def _numpy_dx(g2, kmat, x_shape):
    """dx of shape x_shape: col2im of dcols = g2 · Kmatᵀ into a zero-padded buffer, cropped."""
    n, h, w, ci = x_shape
    p = KSIZE // 2
    dcols = (g2 @ kmat.T).reshape(n, h, w, KSIZE, KSIZE, ci)
    dxp = np.zeros((n, h + 2 * p, w + 2 * p, ci), g2.dtype)
    for i in range(KSIZE):
        for j in range(KSIZE):
            dxp[:, i:i + h, j:j + w, :] += dcols[:, :, :, i, j, :]
    return dxp[:, p:p + h, p:p + w, :]


def _numpy(x, k, b, g):
    n, h, w, _ = x.shape
    co = k.shape[3]
    kmat = k.reshape(-1, co)

    def step():
        cols = _numpy_im2col(x)                           # copies: the im2col
        y = (cols @ kmat + b).reshape(n, h, w, co)
        g2 = g.reshape(-1, co)
        dk = (cols.T @ g2).reshape(k.shape)
        db = g2.sum(axis=0)
        return y, _numpy_dx(g2, kmat, x.shape), dk, db
    return step


def _numpy_backward(part, x, k, b, g):
    co = k.shape[3]
    kmat = k.reshape(-1, co)
    y = np.maximum(_numpy_im2col(x) @ kmat + b, 0)

    def step():
        dz = np.where(y > 0, g.reshape(-1, co), 0)
        if part == "dx":
            return {"dx": _numpy_dx(dz, kmat, x.shape)}
        cols = _numpy_im2col(x)
        return {"dw": (cols.T @ dz).reshape(k.shape), "db": dz.sum(axis=0)}
    return step


_BUILDERS = {"deepmath": _deepmath, "torch": _torch, "numpy": _numpy}
_BACKWARD = {"deepmath": _deepmath_backward, "torch": _torch_backward, "numpy": _numpy_backward}
