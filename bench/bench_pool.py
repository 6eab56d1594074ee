"""2x2 max / average pooling, forward + backward, on (32, 32, 32, 64) float32, against PyTorch.

deepmath runs its autodiff ops `deepmath.ops.pool.max_pool2d` / `avg_pool2d` on a channels-last
(N, H, W, C) tensor: forward, then backward with a given output gradient, the input gradient
read at the end; PyTorch runs `F.max_pool2d` / `F.avg_pool2d` + `backward(g)` on the same
numbers, laid out (N, C, H, W) outside the timing, either plainly contiguous (case suffix
`_nchw`) or in `torch.channels_last` memory format (`_cl`, the same bytes as deepmath's). The
issue's target is max pooling >= 3x the faster of the two PyTorch layouts. numpy: the same
step written by hand with reshapes (no framework), for scale.

Outputs compared: the pooled values and the input gradient, in NHWC. With random normal
inputs there are no ties, so every library picks the same cells.
"""
import numpy as np

import _harness

CASES = ["max_pool_2x2_nchw", "max_pool_2x2_cl", "avg_pool_2x2_nchw", "avg_pool_2x2_cl"]
TOLERANCE = {"rtol": 1e-6, "atol": 1e-7}
SHAPE = (32, 32, 32, 64)  # N, H, W, C
QUICK_SHAPE = (4, 16, 16, 8)
SEED = 0


def libraries(case):
    return ["deepmath", "numpy", "torch"]


def data(quick):
    """Input x (N, H, W, C) and output gradient g (N, H/2, W/2, C), float32, fixed seed."""
    n, h, w, c = QUICK_SHAPE if quick else SHAPE
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    g = rng.standard_normal((n, h // 2, w // 2, c)).astype(np.float32)
    return x, g


def run_case(case, library, repeats, quick=False):
    step = _BUILDERS[library](case, quick)
    return _harness.time_calls(step, repeats)


def outputs(case, library, quick=False):
    y, dx = _BUILDERS[library](case, quick)()
    return {"y": y, "dx": dx}


def _deepmath(case, quick):
    import deepmath as dm
    from deepmath.ops.pool import avg_pool2d, max_pool2d
    op = max_pool2d if case.startswith("max") else avg_pool2d
    x, g = data(quick)
    xt = dm.tensor(x, requires_grad=True)

    def step():
        xt.grad = None
        y = op(xt, 2)
        y.backward(g)
        return y.data, xt.grad.data
    return step


def _torch(case, quick):
    import torch
    import torch.nn.functional as F
    op = F.max_pool2d if case.startswith("max") else F.avg_pool2d
    x, g = data(quick)
    fmt = torch.channels_last if case.endswith("_cl") else torch.contiguous_format
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).contiguous(memory_format=fmt)
    xt.requires_grad_(True)
    gt = torch.from_numpy(g.transpose(0, 3, 1, 2).copy()).contiguous(memory_format=fmt)

    def step():
        xt.grad = None
        y = op(xt, 2)
        y.backward(gt)
        return (y.detach().numpy().transpose(0, 2, 3, 1),
                xt.grad.numpy().transpose(0, 2, 3, 1))
    return step


def _numpy(case, quick):
    """By hand: (N, H/2, 2, W/2, 2, C) view; max: first max of each window gets the gradient."""
    x, g = data(quick)
    n, h, w, c = x.shape
    is_max = case.startswith("max")

    def step():
        win = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        win = win.reshape(n, h // 2, w // 2, 4, c)
        if is_max:
            k = win.argmax(axis=3)
            y = np.take_along_axis(win, k[:, :, :, None], axis=3)[:, :, :, 0]
            dwin = np.where(np.arange(4)[:, None] == k[:, :, :, None], g[:, :, :, None], 0)
        else:
            y = win.mean(axis=3)
            dwin = np.broadcast_to(g[:, :, :, None] / 4, win.shape)
        dx = dwin.reshape(n, h // 2, w // 2, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
        return y, np.ascontiguousarray(dx.reshape(n, h, w, c), dtype=np.float32)
    return step


_BUILDERS = {"deepmath": _deepmath, "torch": _torch, "numpy": _numpy}
