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
or a head dim above ATTENTION_DMAX runs the reference (array code on xp).
"""
import importlib.resources

import numpy as np

from .conv import _check as _conv_check, _pair as _conv_pair, activation_code, conv2d_padding
from .attention import _prepare as _check_attention
from .attention import attention_backward_reference, attention_forward_reference
from .fused import _check_grad, _check_inplace, check_adam
from .pool import _check_backward as _check_pool_backward
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

    def _output_like(self, a, fn, name, x, out_shape):
        """`a` (grad or yz) checked to be a float array of x's dtype and the output's shape."""
        a = self._float(a, fn, name)
        if a.dtype != x.dtype:
            raise TypeError(f"{fn}: {name} has dtype {a.dtype} but x has dtype {x.dtype}")
        if a.shape != out_shape:
            raise ValueError(f"{fn}: {name} of shape {a.shape} does not match the output "
                             f"shape {out_shape} of x {x.shape}")
        return a

    def conv2d_backward(self, x, w, out_or_preact, grad, strides=1, padding="valid",
                        dilation=1, activation=None, need=(True, True, True)):
        fn = "conv2d_backward"
        xp = self.xp
        x, w, _, code, geom, direct = self._conv_setup(fn, x, w, strides, padding, dilation,
                                                       activation)
        need_dx, need_dw, need_db = (bool(v) for v in need)
        out_shape = (geom[0], geom[4], geom[5], w.shape[3])
        grad = self._output_like(grad, fn, "grad", x, out_shape)
        dz = grad
        if code:
            if out_or_preact is None:
                raise ValueError(f"{fn}: the activation needs the forward output / "
                                 "pre-activation")
            yz = self._output_like(out_or_preact, fn, "yz", x, out_shape)
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

    def max_pool2d_backward(self, x_shape, argmax, grad, pool_size=2, strides=None,
                            padding="valid"):
        fn = "max_pool2d_backward"
        shape, geom, grad = _check_pool_backward(x_shape, grad, fn, pool_size, strides, padding)
        grad = self.xp.ascontiguousarray(grad)
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
        shape, geom, grad = _check_pool_backward(x_shape, grad, fn, pool_size, strides, padding)
        grad = self.xp.ascontiguousarray(grad)
        dx = self.xp.empty(shape, grad.dtype)
        self._launch("pool", "avg_pool_backward", grad.dtype, dx.size,
                     (grad, dx, *self._pool_args(shape, geom)))
        return dx

    # ---- attention ---------------------------------------------------------------------------

    def _attention_kernel(self, q, k, v, mask, scale):
        """q, k, v and the scale checked as the reference does, and whether the kernels apply:
        no explicit mask, float32/float64, head dim <= ATTENTION_DMAX (else the reference's
        array code runs)."""
        q, k, v, add, scale = _check_attention(q, k, v, mask, False, scale)
        kernel = add is None and q.shape[3] <= ATTENTION_DMAX and \
            q.dtype in (np.float32, np.float64)
        return q, k, v, scale, kernel

    def attention_forward(self, q, k, v, mask=None, causal=False, scale=None):
        xp = self.xp
        q, k, v, scale, kernel = self._attention_kernel(q, k, v, mask, scale)
        if not kernel:
            return attention_forward_reference(q, k, v, mask, causal, scale)
        (B, H, Tq, d), Tk = q.shape, k.shape[2]
        q, k, v = (xp.ascontiguousarray(a) for a in (q, k, v))
        out, lse = xp.empty(q.shape, q.dtype), xp.empty((B, H, Tq), q.dtype)
        self._launch("attention", "attention_forward", q.dtype, B * H * Tq,
                     (q, k, v, out, lse, _i64(B * H), _i64(Tq), _i64(Tk), _i64(d), scale,
                      _i32(bool(causal))), block=128)
        return out, lse

    def attention_backward(self, q, k, v, out, lse, grad, mask=None, causal=False, scale=None):
        xp = self.xp
        q, k, v, scale, kernel = self._attention_kernel(q, k, v, mask, scale)
        if not kernel:
            return attention_backward_reference(q, k, v, out, lse, grad, mask, causal, scale)
        out, lse, grad = (xp.asarray(a).astype(q.dtype, copy=False) for a in (out, lse, grad))
        if out.shape != q.shape or grad.shape != q.shape or lse.shape != q.shape[:3]:
            raise ValueError(f"attention_backward: out {out.shape}, grad {grad.shape}, lse "
                             f"{lse.shape} do not match q {q.shape}: expected out and grad "
                             f"{q.shape}, lse {q.shape[:3]}")
        D = xp.ascontiguousarray(xp.sum(grad * out, axis=-1))
        (B, H, Tq, d), Tk, dt = q.shape, k.shape[2], q.dtype
        q, k, v, grad, lse = (xp.ascontiguousarray(a) for a in (q, k, v, grad, lse))
        dq, dk, dv = xp.empty(q.shape, dt), xp.empty(k.shape, dt), xp.empty(k.shape, dt)
        sizes = (_i64(B * H), _i64(Tq), _i64(Tk), _i64(d), scale, _i32(bool(causal)))
        self._launch("attention", "attention_backward_dq", dt, B * H * Tq,
                     (q, k, v, grad, lse, D, dq, *sizes), block=128)
        self._launch("attention", "attention_backward_dkv", dt, B * H * Tk,
                     (q, k, v, grad, lse, D, dk, dv, *sizes), block=128)
        return dq, dk, dv

    # ---- optimizer steps ---------------------------------------------------------------------

    def adam_update(self, param, grad, m, v, lr, beta1, beta2, eps, step, weight_decay=0.0):
        grad, alpha = check_adam(param, grad, m, v, lr, beta1, beta2, step)
        grad, dt = self.xp.ascontiguousarray(grad), param.dtype.type
        self._launch("optim", "adam", param.dtype, param.size,
                     (param, grad, m, v, _i64(param.size), alpha, dt(1.0 - beta1),
                      dt(1.0 - beta2), dt(eps), dt(weight_decay), dt(lr),
                      _i32(bool(weight_decay))))

    def sgd_momentum_update(self, param, grad, velocity, lr, momentum=0.0, nesterov=False):
        fn = "sgd_momentum_update"
        _check_inplace(fn, "param", param)
        grad = self.xp.ascontiguousarray(_check_grad(fn, param, grad))
        dt = param.dtype.type
        if velocity is None:
            if momentum != 0:
                raise ValueError(f"{fn}: velocity is None but momentum is {momentum!r}")
            self._launch("optim", "sgd", param.dtype, param.size,
                         (param, grad, _i64(param.size), dt(lr)))
            return
        _check_inplace(fn, "velocity", velocity, param)
        self._launch("optim", "sgd_momentum", param.dtype, param.size,
                     (param, grad, velocity, _i64(param.size), dt(lr), dt(momentum),
                      _i32(bool(nesterov))))
