"""CUDA kernels of the CuPy backend: launchers with the interface of the families' REFERENCE.

`load(xp)` returns the kernels for the array module `xp` (cupy, or a stand-in with the same
`RawModule` / `ndarray` / array functions): an object whose methods are

    conv2d_forward(x, w, b=None, strides=1, padding="valid", dilation=1, activation=None)
    conv2d_backward(x, w, out_or_preact, grad, strides=1, padding="valid", dilation=1,
                    activation=None, need=(True, True, True)) -> (dx, dw, db)
    max_pool2d_forward(x, pool_size=2, strides=None, padding="valid") -> (y, argmax)
    max_pool2d_backward(x_shape, argmax, grad, pool_size=2, strides=None, padding="valid")
    avg_pool2d_forward(x, pool_size=2, strides=None, padding="valid")
    avg_pool2d_backward(x_shape, grad, pool_size=2, strides=None, padding="valid")
    attention_forward(q, k, v, mask=None, causal=False, scale=None) -> (out, lse)
    attention_backward(q, k, v, out, lse, grad, mask=None, causal=False, scale=None)
    adam_update(param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay=0.0)
    sgd_momentum_update(param, grad, velocity, lr, momentum=0.0, nesterov=False)

with the semantics, errors and return values of conv.py, pool.py, attention.py and fused.py
(`table()` gives them as a name -> function dict). The sources are cuda/*.cu, compiled with
`xp.RawModule` on first use and cached per xp. Convolutions are im2col -> xp.matmul (cuBLAS)
-> bias + activation kernel, their backward a col2im gather; attention with an explicit mask
or a head dim above ATTENTION_DMAX runs as array code with xp (the reference's formula).
"""
import importlib.resources

import numpy as np

from .conv import _check as _conv_check, _pair as _conv_pair, activation_code, conv2d_padding
from .pool import pool2d_geometry

SOURCES = ("conv", "pool", "attention", "optim")
#: NVRTC options per source: the optimizer steps must not contract a*b+c into an FMA (the
#: reference's rounding, bit for bit).
OPTIONS = {"optim": ("--fmad=false",)}
BLOCK = 256
MAX_GRID = 2**31 - 1
#: Largest head dim of the attention kernels (DM_ATT_DMAX of attention.cu).
ATTENTION_DMAX = 256
_FUNCTIONS = ("conv2d_forward", "conv2d_backward", "max_pool2d_forward", "max_pool2d_backward",
              "avg_pool2d_forward", "avg_pool2d_backward", "attention_forward",
              "attention_backward", "adam_update", "sgd_momentum_update")
_LOADED = {}
_i64, _i32 = np.int64, np.int32


def source(name):
    """The text of cuda/<name>.cu."""
    return importlib.resources.files(__package__).joinpath("cuda", name + ".cu").read_text()


def load(xp):
    """The kernels for array module `xp` (one object per xp, modules compiled on first use)."""
    if not hasattr(xp, "RawModule"):
        raise TypeError(f"cuda_kernels.load: {getattr(xp, '__name__', xp)!r} has no RawModule")
    if xp not in _LOADED:
        _LOADED[xp] = CudaKernels(xp)
    return _LOADED[xp]


class CudaKernels:
    """The launchers for one array module; see the module docstring."""

    def __init__(self, xp):
        self.xp = xp
        self._modules = {}

    def table(self):
        return {name: getattr(self, name) for name in _FUNCTIONS}

    # ---- plumbing ----------------------------------------------------------------------------

    def _kernel(self, src, name, dtype):
        if src not in self._modules:
            self._modules[src] = self.xp.RawModule(code=source(src),
                                                   options=OPTIONS.get(src, ()))
        suffix = "f32" if np.dtype(dtype) == np.float32 else "f64"
        return self._modules[src].get_function(f"{name}_{suffix}")

    def _launch(self, src, name, dtype, n, args, block=BLOCK):
        """Run kernel `name` on n work items (grid-stride: any n fits the capped grid)."""
        if n > 0:
            grid = min(-(-int(n) // block), MAX_GRID)
            self._kernel(src, name, dtype)((grid,), (block,), tuple(args))

    def _float(self, a, fn, name):
        if not isinstance(a, self.xp.ndarray):
            raise TypeError(f"{fn}: {name} must be a {self.xp.__name__}.ndarray, not "
                            f"{type(a).__name__}")
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{fn}: {name} has dtype {a.dtype}; expected float32 or float64")
        return self.xp.ascontiguousarray(a)

    # ---- convolution -------------------------------------------------------------------------

    def _conv_setup(self, fn, x, w, strides, padding, dilation, activation, b=None):
        x, w = self._float(x, fn, "x"), self._float(w, fn, "kernel")
        if b is not None:
            b = self._float(b, fn, "bias")
        _conv_check(x, w, b)
        for name, a in (("kernel", w), ("bias", b)):
            if a is not None and a.dtype != x.dtype:
                raise TypeError(f"{fn}: {name} has dtype {a.dtype} but x has dtype {x.dtype}")
        code = activation_code(activation)
        (sh, sw), (dh, dw) = _conv_pair(strides, "strides"), _conv_pair(dilation, "dilation")
        pads, (ho, wo) = conv2d_padding(x.shape[1:3], w.shape[:2], strides, padding, dilation)
        kh, kw = w.shape[:2]
        geom = (x.shape[0], x.shape[1], x.shape[2], x.shape[3], ho, wo, kh, kw, sh, sw,
                pads[0], pads[2], dh, dw)
        direct = kh == kw == 1 and sh == sw == 1 and not any(pads)   # col is x itself
        return x, w, b, code, geom, direct

    def _im2col(self, x, geom, direct):
        n, h, w, c, ho, wo, kh, kw = geom[:8]
        if direct:
            return x.reshape(n * ho * wo, c)
        col = self.xp.empty((n * ho * wo, kh * kw * c), x.dtype)
        self._launch("conv", "im2col", x.dtype, col.size,
                     (x, col, *(_i64(v) for v in geom)))
        return col

    def conv2d_forward(self, x, w, b=None, strides=1, padding="valid", dilation=1,
                       activation=None):
        fn = "conv2d_forward"
        x, w, b, code, geom, direct = self._conv_setup(fn, x, w, strides, padding, dilation,
                                                       activation, b)
        n, ho, wo, co = geom[0], geom[4], geom[5], w.shape[3]
        z = self.xp.matmul(self._im2col(x, geom, direct),
                           w.reshape(geom[6] * geom[7] * geom[3], co))
        z = self.xp.ascontiguousarray(z, dtype=x.dtype)
        if b is not None or code:
            self._launch("conv", "bias_act", x.dtype, z.size,
                         (z, z if b is None else b, _i64(n * ho * wo), _i64(co),
                          _i32(b is not None), _i32(code)))
        return z.reshape(n, ho, wo, co)

    def conv2d_backward(self, x, w, out_or_preact, grad, strides=1, padding="valid",
                        dilation=1, activation=None, need=(True, True, True)):
        fn = "conv2d_backward"
        xp = self.xp
        x, w, _, code, geom, direct = self._conv_setup(fn, x, w, strides, padding, dilation,
                                                       activation)
        need_dx, need_dw, need_db = (bool(v) for v in need)
        out_shape = (geom[0], geom[4], geom[5], w.shape[3])
        grad = self._float(grad, fn, "grad")
        if grad.dtype != x.dtype:
            raise TypeError(f"{fn}: grad has dtype {grad.dtype} but x has dtype {x.dtype}")
        if grad.shape != out_shape:
            raise ValueError(f"{fn}: grad of shape {grad.shape} does not match the output shape "
                             f"{out_shape} of x {x.shape} and kernel {w.shape}")
        dz = grad
        if code:
            if out_or_preact is None:
                raise ValueError(f"{fn}: the activation needs the forward output / "
                                 "pre-activation")
            yz = self._float(out_or_preact, fn, "yz")
            if yz.dtype != x.dtype:
                raise TypeError(f"{fn}: yz has dtype {yz.dtype} but x has dtype {x.dtype}")
            if yz.shape != out_shape:
                raise ValueError(f"{fn}: yz of shape {yz.shape} does not match the output shape "
                                 f"{out_shape}")
            dz = xp.empty(out_shape, x.dtype)
            self._launch("conv", "act_grad", x.dtype, dz.size,
                         (yz, grad, dz, _i64(dz.size), _i32(code)))
        co = out_shape[3]
        dz2 = dz.reshape(out_shape[0] * out_shape[1] * out_shape[2], co)
        w2 = w.reshape(geom[6] * geom[7] * geom[3], co)
        dw = db = dx = None
        if need_dw:
            col = self._im2col(x, geom, direct)
            dw = xp.ascontiguousarray(xp.matmul(col.T, dz2), dtype=x.dtype).reshape(w.shape)
        if need_db:
            db = dz2.sum(axis=0).astype(x.dtype, copy=False)
        if need_dx:
            dcol = xp.ascontiguousarray(xp.matmul(dz2, w2.T), dtype=x.dtype)
            if direct:
                dx = dcol.reshape(x.shape)
            else:
                dx = xp.empty(x.shape, x.dtype)
                self._launch("conv", "col2im", x.dtype, dx.size,
                             (dcol, dx, *(_i64(v) for v in geom)))
        return dx, dw, db

    # ---- pooling -----------------------------------------------------------------------------

    @staticmethod
    def _pool_args(shape, geom):
        (ph, pw), (sh, sw), (ho, wo), (pt, pl) = geom
        return tuple(_i64(v) for v in (*shape, ho, wo, ph, pw, sh, sw, pt, pl))

    def max_pool2d_forward(self, x, pool_size=2, strides=None, padding="valid"):
        fn = "max_pool2d_forward"
        x = self._float(x, fn, "x")
        geom = pool2d_geometry(x.shape, pool_size, strides, padding, fn)
        out_shape = (x.shape[0], *geom[2], x.shape[3])
        y, arg = self.xp.empty(out_shape, x.dtype), self.xp.empty(out_shape, np.int32)
        self._launch("pool", "max_pool_forward", x.dtype, y.size,
                     (x, y, arg, *self._pool_args(x.shape, geom)))
        return y, arg

    def _pool_backward_setup(self, fn, x_shape, grad, pool_size, strides, padding):
        try:
            shape = tuple(int(s) for s in x_shape)
        except TypeError:
            raise TypeError(f"{fn}: x_shape must be a tuple of ints, got {x_shape!r}") from None
        if len(shape) != 4 or any(s < 0 for s in shape):
            raise ValueError(f"{fn}: x_shape must be 4 non-negative sizes (N, H, W, C), "
                             f"got {x_shape!r}")
        geom = pool2d_geometry(shape, pool_size, strides, padding, fn)
        grad = self._float(grad, fn, "grad")
        out_shape = (shape[0], *geom[2], shape[3])
        if grad.shape != out_shape:
            raise ValueError(f"{fn}: grad has shape {grad.shape}, expected {out_shape} "
                             f"(the pooling output for x_shape {shape})")
        return shape, geom, grad

    def max_pool2d_backward(self, x_shape, argmax, grad, pool_size=2, strides=None,
                            padding="valid"):
        fn = "max_pool2d_backward"
        shape, geom, grad = self._pool_backward_setup(fn, x_shape, grad, pool_size, strides,
                                                      padding)
        if not isinstance(argmax, self.xp.ndarray) or argmax.dtype != np.int32:
            raise TypeError(f"{fn}: argmax must be the int32 ndarray returned by "
                            f"max_pool2d_forward, got {getattr(argmax, 'dtype', type(argmax))}")
        if argmax.shape != grad.shape:
            raise ValueError(f"{fn}: argmax has shape {argmax.shape}, expected {grad.shape}")
        dx = self.xp.empty(shape, grad.dtype)
        self._launch("pool", "max_pool_backward", grad.dtype, dx.size,
                     (grad, self.xp.ascontiguousarray(argmax), dx,
                      *self._pool_args(shape, geom)))
        return dx

    def avg_pool2d_forward(self, x, pool_size=2, strides=None, padding="valid"):
        fn = "avg_pool2d_forward"
        x = self._float(x, fn, "x")
        geom = pool2d_geometry(x.shape, pool_size, strides, padding, fn)
        y = self.xp.empty((x.shape[0], *geom[2], x.shape[3]), x.dtype)
        self._launch("pool", "avg_pool_forward", x.dtype, y.size,
                     (x, y, *self._pool_args(x.shape, geom)))
        return y

    def avg_pool2d_backward(self, x_shape, grad, pool_size=2, strides=None, padding="valid"):
        fn = "avg_pool2d_backward"
        shape, geom, grad = self._pool_backward_setup(fn, x_shape, grad, pool_size, strides,
                                                      padding)
        dx = self.xp.empty(shape, grad.dtype)
        self._launch("pool", "avg_pool_backward", grad.dtype, dx.size,
                     (grad, dx, *self._pool_args(shape, geom)))
        return dx

    # ---- attention ---------------------------------------------------------------------------

    def _attention_args(self, q, k, v, mask, causal, scale):
        """q, k, v checked as attention._prepare, the scale, and the additive mask or None
        (None also with causal: the kernels apply it; `full_mask` builds it for array code)."""
        xp = self.xp
        q, k, v = (xp.asarray(a) for a in (q, k, v))
        for name, a in (("q", q), ("k", k), ("v", v)):
            if a.ndim != 4:
                raise ValueError(f"attention: {name} must have 4 dimensions (B, H, T, d), got "
                                 f"shape {a.shape}")
            if a.dtype.kind != "f":
                raise TypeError(f"attention: {name} has dtype {a.dtype}; expected float32 or "
                                "float64")
        if q.dtype != k.dtype or q.dtype != v.dtype:
            raise TypeError(f"attention: q, k, v have dtypes {q.dtype}, {k.dtype}, {v.dtype}; "
                            "they must be the same")
        if k.shape[:2] != q.shape[:2] or k.shape[3] != q.shape[3] or v.shape != k.shape:
            raise ValueError(f"attention: q {q.shape}, k {k.shape}, v {v.shape} do not match: "
                             "expected q (B, H, Tq, d), k and v (B, H, Tk, d)")
        (B, H, Tq, d), Tk, dt = q.shape, k.shape[2], q.dtype
        add = None
        if mask is not None:
            m = xp.asarray(mask)
            if m.dtype == np.bool_:
                m = xp.where(m, 0, -np.inf)
            elif m.dtype.kind != "f":
                raise TypeError(f"attention: mask has dtype {m.dtype}; expected a float "
                                "(additive) or bool mask")
            try:
                add = xp.broadcast_to(m.astype(dt, copy=False), (B, H, Tq, Tk))
            except ValueError:
                raise ValueError(f"attention: mask of shape {m.shape} does not broadcast to "
                                 f"(B, H, Tq, Tk) = {(B, H, Tq, Tk)}") from None
        if scale is None:
            scale = 1.0 / np.sqrt(d) if d > 0 else 1.0
        kernel = add is None and d <= ATTENTION_DMAX and dt in (np.float32, np.float64)
        if not kernel and causal:
            cm = xp.where(xp.tril(xp.ones((Tq, Tk), dtype=bool)), 0, -np.inf).astype(dt)
            add = cm if add is None else add + cm
        return q, k, v, add, dt.type(scale), kernel

    def _scores(self, q, k, add, scale):
        s = self.xp.matmul(q, self.xp.swapaxes(k, -1, -2)) * scale
        return s if add is None else s + add

    def attention_forward(self, q, k, v, mask=None, causal=False, scale=None):
        xp = self.xp
        q, k, v, add, scale, kernel = self._attention_args(q, k, v, mask, causal, scale)
        (B, H, Tq, d), Tk = q.shape, k.shape[2]
        if kernel:
            q, k, v = (xp.ascontiguousarray(a) for a in (q, k, v))
            out, lse = xp.empty(q.shape, q.dtype), xp.empty((B, H, Tq), q.dtype)
            self._launch("attention", "attention_forward", q.dtype, B * H * Tq,
                         (q, k, v, out, lse, _i64(B * H), _i64(Tq), _i64(Tk), _i64(d), scale,
                          _i32(bool(causal))), block=128)
            return out, lse
        s = self._scores(q, k, add, scale)   # array code: the reference's formula
        with np.errstate(divide="ignore", invalid="ignore"):   # numpy standing in for xp
            if Tk == 0:
                m = xp.full(s.shape[:-1] + (1,), -np.inf, dtype=s.dtype)
            else:
                m = s.max(axis=-1, keepdims=True)
            m = xp.where(m == -np.inf, 0, m).astype(s.dtype)
            e = xp.exp(s - m)
            l = e.sum(axis=-1, keepdims=True)
            p = xp.where(l == 0, 0, e / xp.where(l == 0, 1, l)).astype(s.dtype)
            lse = (m + xp.log(l))[..., 0]
        return xp.matmul(p, v).astype(q.dtype, copy=False), lse.astype(q.dtype, copy=False)

    def attention_backward(self, q, k, v, out, lse, grad, mask=None, causal=False, scale=None):
        xp = self.xp
        q, k, v, add, scale, kernel = self._attention_args(q, k, v, mask, causal, scale)
        out, lse, grad = (xp.asarray(a).astype(q.dtype, copy=False) for a in (out, lse, grad))
        if out.shape != q.shape or grad.shape != q.shape or lse.shape != q.shape[:3]:
            raise ValueError(f"attention_backward: out {out.shape}, grad {grad.shape}, lse "
                             f"{lse.shape} do not match q {q.shape}: expected out and grad "
                             f"{q.shape}, lse {q.shape[:3]}")
        D = xp.ascontiguousarray(xp.sum(grad * out, axis=-1))
        if kernel:
            (B, H, Tq, d), Tk, dt = q.shape, k.shape[2], q.dtype
            q, k, v, grad, lse = (xp.ascontiguousarray(a) for a in (q, k, v, grad, lse))
            dq, dk, dv = xp.empty(q.shape, dt), xp.empty(k.shape, dt), xp.empty(k.shape, dt)
            sizes = (_i64(B * H), _i64(Tq), _i64(Tk), _i64(d), scale, _i32(bool(causal)))
            self._launch("attention", "attention_backward_dq", dt, B * H * Tq,
                         (q, k, v, grad, lse, D, dq, *sizes), block=128)
            self._launch("attention", "attention_backward_dkv", dt, B * H * Tk,
                         (q, k, v, grad, lse, D, dk, dv, *sizes), block=128)
            return dq, dk, dv
        s = self._scores(q, k, add, scale)
        L = lse[..., None]
        with np.errstate(invalid="ignore", over="ignore"):
            p = xp.where(L == -np.inf, 0, xp.exp(s - xp.where(L == -np.inf, 0, L)))
        p = p.astype(q.dtype, copy=False)
        dv = xp.matmul(xp.swapaxes(p, -1, -2), grad)
        dp = xp.matmul(grad, xp.swapaxes(v, -1, -2))
        ds = p * (dp - D[..., None]) * scale
        dq = xp.matmul(ds, k)
        dk = xp.matmul(xp.swapaxes(ds, -1, -2), q)
        return tuple(a.astype(q.dtype, copy=False) for a in (dq, dk, dv))

    # ---- optimizer steps ---------------------------------------------------------------------

    def _inplace(self, fn, name, a, like=None):
        if not isinstance(a, self.xp.ndarray):
            raise TypeError(f"{fn}: {name} must be a {self.xp.__name__}.ndarray, not "
                            f"{type(a).__name__}")
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{fn}: {name} has dtype {a.dtype}; expected float32 or float64")
        if like is not None and (a.shape != like.shape or a.dtype != like.dtype):
            raise ValueError(f"{fn}: {name} has shape {a.shape} and dtype {a.dtype} but param "
                             f"has shape {like.shape} and dtype {like.dtype}; they must be the "
                             "same")
        flags = a.flags
        if not (flags.c_contiguous and getattr(flags, "writeable", True)
                and getattr(flags, "aligned", True) and a.dtype.isnative):
            raise ValueError(f"{fn}: {name} must be a C-contiguous, aligned, writeable array "
                             f"in native byte order (it is updated in place)")

    def _grad(self, fn, param, grad):
        grad = self.xp.asarray(grad)
        if grad.shape != param.shape or grad.dtype != param.dtype:
            raise ValueError(f"{fn}: param has shape {param.shape} and dtype {param.dtype} but "
                             f"grad has shape {grad.shape} and dtype {grad.dtype}; they must be "
                             "the same")
        return self.xp.ascontiguousarray(grad)

    def adam_update(self, param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay=0.0):
        fn = "adam_update"
        self._inplace(fn, "param", param)
        grad = self._grad(fn, param, grad)
        self._inplace(fn, "m", m, param)
        self._inplace(fn, "v", v, param)
        if int(step) != step or step < 1:
            raise ValueError(f"{fn}: step must be an integer >= 1, got {step!r}")
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"{fn}: beta1 and beta2 must lie in [0, 1), got {beta1!r}, "
                             f"{beta2!r}")
        t, dt = int(step), param.dtype.type
        alpha = dt(lr * (1.0 - beta2 ** t) ** 0.5 / (1.0 - beta1 ** t))
        self._launch("optim", "adam", param.dtype, param.size,
                     (param, grad, m, v, _i64(param.size), alpha, dt(1.0 - beta1),
                      dt(1.0 - beta2), dt(eps), dt(weight_decay), dt(lr),
                      _i32(bool(weight_decay))))

    def sgd_momentum_update(self, param, grad, velocity, lr, momentum=0.0, nesterov=False):
        fn = "sgd_momentum_update"
        self._inplace(fn, "param", param)
        grad = self._grad(fn, param, grad)
        dt = param.dtype.type
        if velocity is None:
            if momentum != 0:
                raise ValueError(f"{fn}: velocity is None but momentum is {momentum!r}")
            self._launch("optim", "sgd", param.dtype, param.size,
                         (param, grad, _i64(param.size), dt(lr)))
            return
        self._inplace(fn, "velocity", velocity, param)
        self._launch("optim", "sgd_momentum", param.dtype, param.size,
                     (param, grad, velocity, _i64(param.size), dt(lr), dt(momentum),
                      _i32(bool(nesterov))))
