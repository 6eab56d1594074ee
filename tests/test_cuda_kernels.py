"""CUDA kernels of the CuPy backend (deepmath/backend/cuda_kernels.py, backend/cuda/*.cu).

Without a GPU: the sources compile with nvcc (PTX for sm_80 and sm_90, warnings are errors),
obey the rules that make them emulable (grid-stride loops, no shared memory, atomics or
includes), and every launcher matches the family's NumPy reference through the CPU emulator
(tests/cuda_emulator.py). With CuPy and a device, the `gpu` tests run the real kernels.
"""
import re
import shutil
import subprocess

import numpy as np
import pytest

from cuda_emulator import RawModule, emulated_xp
from deepmath.backend import attention, conv, cuda_kernels, fused, pool

SOURCES = cuda_kernels.SOURCES
ACTS = (None, "linear", "relu", "sigmoid", "tanh", "gelu", "gelu_tanh")
DTYPES = (np.float32, np.float64)
TOL = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.fixture(scope="module")
def K():
    return cuda_kernels.load(emulated_xp())


def close(a, r, dtype, tol=None):
    """Max abs error relative to the reference's largest magnitude, and equal NaN/inf."""
    a, r = np.asarray(a), np.asarray(r)
    assert a.shape == r.shape and a.dtype == r.dtype, (a.shape, a.dtype, r.shape, r.dtype)
    fin = np.isfinite(r)
    np.testing.assert_array_equal(a[~fin], r[~fin])
    if fin.any():
        scale = max(np.abs(r[fin]).max(), 1e-30)
        err = np.abs(a[fin] - r[fin]).max() / scale
        assert err <= (tol or TOL[dtype]), err


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# ---- the sources -----------------------------------------------------------------------------

def _nvcc():
    return shutil.which("nvcc") or shutil.which("nvcc", path="/usr/local/cuda/bin")


@pytest.mark.parametrize("arch", ("sm_80", "sm_90"))
@pytest.mark.parametrize("name", SOURCES)
def test_nvcc_compiles(name, arch, tmp_path):
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found")
    src = tmp_path / f"{name}.cu"
    src.write_text(cuda_kernels.source(name))
    kind = "-ptx" if arch == "sm_80" else "-cubin"     # cubin: ptxas assembles it too
    r = subprocess.run([nvcc, kind, f"-arch={arch}", "-Werror", "all-warnings", "-o",
                        str(tmp_path / "out"), str(src)], capture_output=True, text=True)
    assert r.returncode == 0 and "warning" not in r.stderr.lower(), r.stderr


@pytest.mark.parametrize("name", SOURCES)
def test_source_rules(name):
    code = cuda_kernels.source(name)
    bare = re.sub(r"/\*.*?\*/|//[^\n]*", "", code, flags=re.S)     # without comments
    for banned in ("#include", "__shared__", "__syncthreads", "atomic", "INFINITY"):
        assert banned not in bare, banned
    kernels = RawModule(code=code).signatures
    assert kernels
    for kernel in kernels:   # each kernel for float and double
        base = kernel[:-4]
        assert kernel[-4:] in ("_f32", "_f64") and {base + "_f32", base + "_f64"} <= set(kernels)
    loops = re.findall(r"for \(long long (\w+) = blockIdx\.x \* \(long long\)blockDim\.x \+ "
                       r"threadIdx\.x; \1 < [^;]+;\s*\\?\s*\1 \+= \(long long\)blockDim\.x \* "
                       r"gridDim\.x\)", code)
    assert len(loops) == len(kernels) // 2


def test_emulator_checks_arguments():
    mod = RawModule(code=cuda_kernels.source("optim"))
    sgd = mod.get_function("sgd_f32")
    p, g = np.ones(3, np.float32), np.ones(3, np.float32)
    with pytest.raises(TypeError, match="numpy.int64"):
        sgd((1,), (32,), (p, g, 3, np.float32(0.5)))
    with pytest.raises(TypeError, match="float32"):
        sgd((1,), (32,), (p, g.astype(np.float64), np.int64(3), np.float32(0.5)))
    with pytest.raises(TypeError, match="arguments"):
        sgd((1,), (32,), (p, g, np.int64(3)))
    with pytest.raises(AttributeError):
        mod.get_function("nope")
    sgd((1,), (32,), (p, g, np.int64(3), np.float32(0.5)))
    np.testing.assert_array_equal(p, 0.5)


def test_many_emulated_threads():
    """3 blocks of 5 threads, in a shuffled order: the grid-stride loops cover every item."""
    T = cuda_kernels.load(emulated_xp(threads=(3, 5)))
    rng = np.random.default_rng(12)
    x, w, b = rand(rng, (2, 5, 4, 3), np.float64), rand(rng, (2, 3, 3, 2), np.float64), None
    geo = (2, "same", 1)
    y = T.conv2d_forward(x, w, b, *geo, "tanh")
    close(y, conv.conv2d_forward_reference(x, w, b, *geo, "tanh"), np.float64)
    g = rand(rng, y.shape, np.float64)
    for a, r in zip(T.conv2d_backward(x, w, y, g, *geo, "tanh"),
                    conv.conv2d_backward_reference(x, w, y, g, *geo, "tanh")):
        close(a, r, np.float64)
    ym, arg = T.max_pool2d_forward(x, 3, 2, "same")
    np.testing.assert_array_equal(ym, pool.max_pool2d_forward_reference(x, 3, 2, "same")[0])
    gm = rand(rng, ym.shape, np.float64)
    close(T.max_pool2d_backward(x.shape, arg, gm, 3, 2, "same"),
          pool.max_pool2d_backward_reference(x.shape, arg, gm, 3, 2, "same"), np.float64)
    close(T.avg_pool2d_backward(x.shape, gm, 3, 2, "same"),
          pool.avg_pool2d_backward_reference(x.shape, gm, 3, 2, "same"), np.float64)
    _check_attention(T, *_att(rng, (2, 1, 4, 3, 2), np.float32), np.float32, causal=True)
    p, grad = rand(rng, (23,), np.float32), rand(rng, (23,), np.float32)
    m, v, pr, mr, vr = np.zeros_like(p), np.zeros_like(p), p.copy(), np.zeros_like(p), \
        np.zeros_like(p)
    T.adam_update(p, grad, m, v, 0.1, 0.9, 0.99, 1e-7, 1)
    fused.adam_update_reference(pr, grad, mr, vr, 0.1, 0.9, 0.99, 1e-7, 1)
    np.testing.assert_array_equal(p, pr)


def test_load_caches_per_xp():
    xp = emulated_xp()
    assert cuda_kernels.load(xp) is cuda_kernels.load(xp)
    assert cuda_kernels.load(emulated_xp()) is not cuda_kernels.load(xp)
    assert set(cuda_kernels.load(xp).table()) == set(conv.REFERENCE) | set(pool.REFERENCE) | \
        set(attention.REFERENCE) | {"adam_update", "sgd_momentum_update"}
    with pytest.raises(TypeError):
        cuda_kernels.load(np)


# ---- convolution -----------------------------------------------------------------------------

CONV_CASES = [  # x shape, kernel shape, strides, padding, dilation
    ((2, 7, 6, 3), (3, 2, 3, 4), 2, "same", 2),
    ((1, 1, 1, 1), (1, 1, 1, 2), 1, "valid", 1),
    ((1, 1, 1, 2), (3, 3, 2, 3), 1, "same", 1),
    ((2, 5, 5, 1), (3, 3, 1, 2), 2, "valid", 1),
    ((3, 8, 9, 2), (2, 2, 2, 3), 2, "valid", 1),
    ((2, 9, 7, 3), (3, 2, 3, 2), (2, 1), ((1, 2), (0, 1)), (2, 1)),
    ((2, 4, 4, 3), (1, 1, 3, 5), 1, "valid", 1),
    ((2, 5, 4, 3), (1, 1, 3, 2), 2, "same", 1),
    ((1, 6, 5, 2), (2, 3, 2, 2), 1, 1, 1),
]


def _conv_saved(x, w, b, geo, act):
    """What the backward takes: the output, or the pre-activation for gelu."""
    return conv.conv2d_forward_reference(x, w, b, *geo, None if act in ("gelu", "gelu_tanh")
                                         else act)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d(K, case, dtype):
    rng = np.random.default_rng(1)
    xs, ws, *geo = case
    x, w, b = rand(rng, xs, dtype), rand(rng, ws, dtype), rand(rng, ws[3], dtype)
    for act in ACTS:
        for bias in (None, b):
            y = K.conv2d_forward(x, w, bias, *geo, act)
            close(y, conv.conv2d_forward_reference(x, w, bias, *geo, act), dtype)
        saved = _conv_saved(x, w, b, geo, act)
        g = rand(rng, saved.shape, dtype)
        ref = conv.conv2d_backward_reference(x, w, saved, g, *geo, act)
        for need in ((True, True, True), (True, False, False), (False, True, False),
                     (False, False, True), (False, True, True)):
            got = K.conv2d_backward(x, w, saved, g, *geo, act, need=need)
            for a, r, n in zip(got, ref, need):
                if n:
                    close(a, r, dtype)
                else:
                    assert a is None


def test_conv2d_noncontiguous_and_errors(K):
    rng = np.random.default_rng(2)
    x = rand(rng, (2, 3, 6, 5), np.float64).transpose(0, 2, 1, 3)[..., :3]   # not contiguous
    w = rand(rng, (2, 2, 3, 4), np.float64)
    close(K.conv2d_forward(x, w, None, 1, "same"),
          conv.conv2d_forward_reference(x, w, None, 1, "same"), np.float64)
    y = conv.conv2d_forward_reference(x, w)
    for args in ((x[0], w), (x, w[0]), (x, w[:, :, :2]), (x, w, np.ones(3)),
                 (x, w, None, 0), (x, w, None, 1, "full"), (x, w, None, 1, "valid", 1, "elu"),
                 (x, w, None, 1, "valid", 9), (x, w, None, 1.5)):
        same_error(conv.conv2d_forward_reference, K.conv2d_forward, *args)
    same_error(conv.conv2d_backward_reference, K.conv2d_backward, x[0], w, y, y)
    with pytest.raises(TypeError, match="dtype"):
        K.conv2d_forward(x.astype(np.float32), w)
    with pytest.raises(TypeError, match="float32 or float64"):
        K.conv2d_forward(x.astype(np.int64), w)
    with pytest.raises(ValueError, match="grad of shape"):
        K.conv2d_backward(x, w, y, y[:, 1:])
    with pytest.raises(ValueError, match="needs the forward output"):
        K.conv2d_backward(x, w, None, y, activation="relu")


def same_error(ref, fn, *args, **kwargs):
    """`fn` raises what `ref` raises, with the same message."""
    with pytest.raises(Exception) as want:
        ref(*args, **kwargs)
    with pytest.raises(want.type) as got:
        fn(*args, **kwargs)
    assert str(got.value) == str(want.value)


# ---- pooling ---------------------------------------------------------------------------------

POOL_CASES = [  # x shape, pool_size, strides, padding
    ((2, 7, 6, 3), 3, 2, "same"),
    ((2, 7, 6, 3), 2, None, "valid"),
    ((1, 1, 1, 1), 1, None, "valid"),
    ((1, 1, 1, 2), 3, 1, "same"),
    ((2, 5, 8, 1), (2, 3), (1, 2), "same"),
    ((1, 6, 6, 2), 2, 3, "valid"),
    ((1, 5, 5, 2), 3, 4, "same"),
    ((0, 4, 4, 2), 2, None, "valid"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", POOL_CASES)
def test_pool2d(K, case, dtype):
    rng = np.random.default_rng(3)
    shape, *geo = case
    for x in (rand(rng, shape, dtype), np.round(rng.standard_normal(shape)).astype(dtype)):
        y, arg = K.max_pool2d_forward(x, *geo)       # the second x has ties
        yr, argr = pool.max_pool2d_forward_reference(x, *geo)
        np.testing.assert_array_equal(y, yr)
        np.testing.assert_array_equal(arg, argr)
        assert y.dtype == dtype and arg.dtype == np.int32
        g = rand(rng, yr.shape, dtype)
        close(K.max_pool2d_backward(shape, arg, g, *geo),
              pool.max_pool2d_backward_reference(shape, argr, g, *geo), dtype)
        close(K.avg_pool2d_forward(x, *geo), pool.avg_pool2d_forward_reference(x, *geo), dtype)
        close(K.avg_pool2d_backward(shape, g, *geo),
              pool.avg_pool2d_backward_reference(shape, g, *geo), dtype)


def test_max_pool2d_nan(K):
    x = np.arange(2 * 4 * 4 * 3, dtype=np.float64).reshape(2, 4, 4, 3) % 5
    x[0, 1, 1, 0] = x[1, 0, 0, 2] = x[1, 3, 3, 1] = np.nan
    x[1, 0, 1, 2] = np.nan
    for geo in ((2, None, "valid"), (3, 1, "same")):
        y, arg = K.max_pool2d_forward(x, *geo)
        yr, argr = pool.max_pool2d_forward_reference(x, *geo)
        np.testing.assert_array_equal(y, yr)
        np.testing.assert_array_equal(arg, argr)


def test_pool2d_errors(K):
    x = np.zeros((1, 3, 3, 2))
    g = np.zeros((1, 1, 1, 2))
    arg = np.zeros((1, 1, 1, 2), np.int32)
    for fn in ("max_pool2d_forward", "avg_pool2d_forward"):
        ref, got = pool.REFERENCE[fn], getattr(K, fn)
        for args in ((x[0],), (x, 4), (x, 0), (x, 2, 1, "full"), (x, (2, 2, 2)),
                     (x.astype(np.int32),), (x, 2.5)):
            same_error(ref, got, *args)
        with pytest.raises(TypeError, match="ndarray"):
            got(x.tolist())
    same_error(pool.avg_pool2d_backward_reference, K.avg_pool2d_backward, (1, 3, 3), g, 3)
    same_error(pool.avg_pool2d_backward_reference, K.avg_pool2d_backward, x.shape, g, 1)
    same_error(pool.max_pool2d_backward_reference, K.max_pool2d_backward, x.shape, arg, g, 1)
    same_error(pool.max_pool2d_backward_reference, K.max_pool2d_backward, x.shape,
               arg.astype(np.int64), g, 3)
    same_error(pool.max_pool2d_backward_reference, K.max_pool2d_backward, x.shape,
               arg[:, :, :, :1], g, 3)


# ---- attention -------------------------------------------------------------------------------

ATT_CASES = [  # B, H, Tq, Tk, d
    (2, 3, 5, 7, 4), (1, 1, 1, 1, 1), (1, 2, 4, 4, 8), (2, 1, 6, 3, 5), (1, 1, 3, 9, 2),
    (1, 2, 3, 0, 4), (1, 1, 2, 3, 256),
]


def _att(rng, case, dtype):
    B, H, Tq, Tk, d = case
    return (rand(rng, (B, H, Tq, d), dtype), rand(rng, (B, H, Tk, d), dtype),
            rand(rng, (B, H, Tk, d), dtype))


def _check_attention(K, q, k, v, dtype, **kw):
    out, lse = K.attention_forward(q, k, v, **kw)
    outr, lser = attention.attention_forward_reference(q, k, v, **kw)
    close(out, outr, dtype)
    close(lse, lser, dtype)
    g = rand(np.random.default_rng(5), out.shape, dtype)
    for a, r in zip(K.attention_backward(q, k, v, out, lse, g, **kw),
                    attention.attention_backward_reference(q, k, v, outr, lser, g, **kw)):
        close(a, r, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ATT_CASES)
def test_attention_kernels(K, case, dtype):
    rng = np.random.default_rng(4)
    q, k, v = _att(rng, case, dtype)
    calls = _calls(K)
    for causal in (False, True):
        for scale in (None, 0.3):
            _check_attention(K, q, k, v, dtype, causal=causal, scale=scale)
    if case[2] and case[0] * case[1]:
        assert _calls(K) > calls      # the kernels ran, not the array path


def _calls(K):
    mod = K._modules.get("attention")
    return 0 if mod is None else sum(f.calls for f in mod._functions.values())


@pytest.mark.parametrize("dtype", DTYPES)
def test_attention_fallback(K, dtype):
    """Explicit masks and d > 256 run as array code: the reference's results, no kernel."""
    rng = np.random.default_rng(6)
    q, k, v = _att(rng, (2, 2, 4, 5, 3), dtype)
    keep = rng.random((2, 1, 4, 5)) > 0.4
    keep[0, 0, 1] = False                       # a fully masked row: out 0, lse -inf
    additive = rand(rng, (4, 5), dtype)
    calls = _calls(K)
    for mask in (keep, additive):
        for causal in (False, True):
            _check_attention(K, q, k, v, dtype, mask=mask, causal=causal)
    out, lse = K.attention_forward(q, k, v, mask=keep)
    assert np.all(out[0, :, 1] == 0) and np.all(lse[0, :, 1] == -np.inf)
    _check_attention(K, *_att(rng, (1, 1, 3, 4, 257), dtype), dtype, causal=True)
    assert _calls(K) == calls


def test_attention_errors(K):
    q = np.zeros((1, 2, 3, 4))
    for args in ((q[0], q, q), (q, q.astype(np.float32), q), (q, q[:, :1], q[:, :1]),
                 (q, q, q[..., :2]), (q.astype(int), q, q)):
        same_error(attention.attention_forward_reference, K.attention_forward, *args)
    same_error(attention.attention_forward_reference, K.attention_forward, q, q, q,
               mask=np.zeros((2, 2)))
    same_error(attention.attention_forward_reference, K.attention_forward, q, q, q,
               mask=np.zeros((3, 3), int))
    with pytest.raises(ValueError, match="lse"):
        K.attention_backward(q, q, q, q, q[..., 0, :], q)


# ---- optimizer steps -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight_decay", (0.0, 0.01))
def test_adam_update(K, dtype, weight_decay):
    rng = np.random.default_rng(7)
    p = rand(rng, (5, 7), dtype)
    m, v = np.zeros_like(p), np.zeros_like(p)
    pr, mr, vr = p.copy(), m.copy(), v.copy()
    for step in range(1, 6):
        g = rand(rng, p.shape, dtype)
        assert K.adam_update(p, g, m, v, 1e-2, 0.9, 0.999, 1e-7, step, weight_decay) is None
        fused.adam_update_reference(pr, g, mr, vr, 1e-2, 0.9, 0.999, 1e-7, step, weight_decay)
        for a, r in ((p, pr), (m, mr), (v, vr)):
            np.testing.assert_array_equal(a, r)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum,nesterov", ((0.0, False), (0.9, False), (0.9, True),
                                               (0.0, None)))
def test_sgd_momentum_update(K, dtype, momentum, nesterov):
    rng = np.random.default_rng(8)
    p = rand(rng, (4, 9), dtype)
    vel = None if nesterov is None else rand(rng, p.shape, dtype)
    pr, velr = p.copy(), None if vel is None else vel.copy()
    for _ in range(4):
        g = rand(rng, p.shape, dtype)
        K.sgd_momentum_update(p, g, vel, 0.05, momentum, bool(nesterov))
        fused.sgd_momentum_update_reference(pr, g, velr, 0.05, momentum, bool(nesterov))
        np.testing.assert_array_equal(p, pr)
        if vel is not None:
            np.testing.assert_array_equal(vel, velr)


def test_optimizer_errors(K):
    p = np.zeros((3, 4))
    bad = [
        ("adam_update", (p, p, p, p[:2], 0.1, 0.9, 0.99, 1e-7, 1)),
        ("adam_update", (p, p, p, p.astype(np.float32), 0.1, 0.9, 0.99, 1e-7, 1)),
        ("adam_update", (p, p[:, :2], p, p, 0.1, 0.9, 0.99, 1e-7, 1)),
        ("adam_update", (p, p, p, p, 0.1, 0.9, 0.99, 1e-7, 0)),
        ("adam_update", (p, p, p, p, 0.1, 1.0, 0.99, 1e-7, 1)),
        ("adam_update", (p.T, p.T, p.T, p.T, 0.1, 0.9, 0.99, 1e-7, 1)),
        ("adam_update", (p.astype(np.int64), p, p, p, 0.1, 0.9, 0.99, 1e-7, 1)),
        ("sgd_momentum_update", (p, p, None, 0.1, 0.9)),
        ("sgd_momentum_update", (p, p.astype(np.float32), None, 0.1)),
        ("sgd_momentum_update", (p, p, p[:1], 0.1, 0.9)),
    ]
    for name, args in bad:
        same_error(fused.REFERENCE[name], getattr(K, name), *args)
    with pytest.raises(TypeError, match="ndarray"):
        K.sgd_momentum_update(p.tolist(), p, None, 0.1)


# ---- on a real GPU ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cp():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
    except Exception as exc:   # noqa: BLE001 - any failure means: no usable GPU
        pytest.skip(f"CuPy with a CUDA device is needed: {exc}")
    return cupy


def _gpu_close(a, r, tol=1e-4):
    a, r = np.asarray(a), np.asarray(r)
    assert a.shape == r.shape and a.dtype == r.dtype
    np.testing.assert_array_equal(a[~np.isfinite(r)], r[~np.isfinite(r)])
    fin = np.isfinite(r)
    if fin.any():
        assert np.abs(a[fin] - r[fin]).max() <= tol * max(np.abs(r[fin]).max(), 1e-30)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_conv_pool(cp, dtype):
    G = cuda_kernels.load(cp)
    rng = np.random.default_rng(9)
    for xs, ws, *geo in CONV_CASES:
        x, w, b = rand(rng, xs, dtype), rand(rng, ws, dtype), rand(rng, ws[3], dtype)
        for act in ACTS:
            y = G.conv2d_forward(cp.asarray(x), cp.asarray(w), cp.asarray(b), *geo, act)
            _gpu_close(cp.asnumpy(y), conv.conv2d_forward_reference(x, w, b, *geo, act))
            saved = _conv_saved(x, w, b, geo, act)
            g = rand(rng, saved.shape, dtype)
            got = G.conv2d_backward(cp.asarray(x), cp.asarray(w), cp.asarray(saved),
                                    cp.asarray(g), *geo, act)
            for a, r in zip(got, conv.conv2d_backward_reference(x, w, saved, g, *geo, act)):
                _gpu_close(cp.asnumpy(a), r)
    for shape, *geo in POOL_CASES:
        x = rand(rng, shape, dtype)
        y, arg = G.max_pool2d_forward(cp.asarray(x), *geo)
        yr, argr = pool.max_pool2d_forward_reference(x, *geo)
        np.testing.assert_array_equal(cp.asnumpy(y), yr)
        np.testing.assert_array_equal(cp.asnumpy(arg), argr)
        g = rand(rng, yr.shape, dtype)
        _gpu_close(cp.asnumpy(G.max_pool2d_backward(shape, arg, cp.asarray(g), *geo)),
                   pool.max_pool2d_backward_reference(shape, argr, g, *geo))
        _gpu_close(cp.asnumpy(G.avg_pool2d_forward(cp.asarray(x), *geo)),
                   pool.avg_pool2d_forward_reference(x, *geo))
        _gpu_close(cp.asnumpy(G.avg_pool2d_backward(shape, cp.asarray(g), *geo)),
                   pool.avg_pool2d_backward_reference(shape, g, *geo))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_attention(cp, dtype):
    G = cuda_kernels.load(cp)
    rng = np.random.default_rng(10)
    cases = [(c, {"causal": causal}) for c in ATT_CASES + [(2, 4, 64, 80, 64)]
             for causal in (False, True)]
    cases.append(((2, 2, 4, 5, 3), {"mask": rng.random((4, 5)) > 0.3, "causal": True}))
    for case, kw in cases:
        q, k, v = _att(rng, case, dtype)
        out, lse = G.attention_forward(*map(cp.asarray, (q, k, v)), **kw)
        outr, lser = attention.attention_forward_reference(q, k, v, **kw)
        _gpu_close(cp.asnumpy(out), outr)
        _gpu_close(cp.asnumpy(lse), lser)
        g = rand(rng, q.shape, dtype)
        got = G.attention_backward(*map(cp.asarray, (q, k, v)), out, lse, cp.asarray(g), **kw)
        for a, r in zip(got, attention.attention_backward_reference(q, k, v, outr, lser, g,
                                                                     **kw)):
            _gpu_close(cp.asnumpy(a), r)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_optimizers(cp, dtype):
    G = cuda_kernels.load(cp)
    rng = np.random.default_rng(11)
    p = rand(rng, (1000,), dtype)
    state = [p, np.zeros_like(p), np.zeros_like(p)]
    dev = [cp.asarray(a) for a in state]
    for step in range(1, 4):
        g = rand(rng, p.shape, dtype)
        fused.adam_update_reference(*state[:1], g, *state[1:], 1e-3, 0.9, 0.999, 1e-7, step,
                                    0.01)
        G.adam_update(dev[0], cp.asarray(g), dev[1], dev[2], 1e-3, 0.9, 0.999, 1e-7, step,
                      0.01)
    for a, r in zip(dev, state):
        np.testing.assert_array_max_ulp(cp.asnumpy(a), r, maxulp=1)
    vel, dvel = np.zeros_like(p), cp.zeros(p.shape, dtype)
    dp = cp.asarray(p)
    for nesterov in (False, True):
        g = rand(rng, p.shape, dtype)
        fused.sgd_momentum_update_reference(p, g, vel, 0.1, 0.9, nesterov)
        G.sgd_momentum_update(dp, cp.asarray(g), dvel, 0.1, 0.9, nesterov)
    np.testing.assert_array_max_ulp(cp.asnumpy(dp), p, maxulp=1)
    np.testing.assert_array_max_ulp(cp.asnumpy(dvel), vel, maxulp=1)
