"""2-D pooling kernels: native (C) == NumPy reference == brute-force loops; gradients; errors."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import deepmath as dm
from deepmath.backend import pool as pool_backend
from deepmath.ops.pool import avg_pool2d, max_pool2d
from gradcheck import check_grad

REF = pool_backend.REFERENCE
NAT = pool_backend.NATIVE
needs_native = pytest.mark.skipif(not NAT, reason="deepmath._kernels not built")
IMPLS = [pytest.param(REF, id="reference"),
         pytest.param(NAT, id="native", marks=needs_native)]


# ---- brute force: one window at a time ---------------------------------------------------------

def _geometry(shape, pool, strides, padding):
    return pool_backend.pool2d_geometry(shape, pool, strides, padding)


def _window(geom, oh, ow, h, w):
    (ph, pw), (sh, sw), _, (pt, pl) = geom
    h0, w0 = oh * sh - pt, ow * sw - pl
    return h0, w0, max(h0, 0), min(h0 + ph, h), max(w0, 0), min(w0 + pw, w)


def brute_max(x, pool, strides, padding):
    geom = _geometry(x.shape, pool, strides, padding)
    n, h, w, c = x.shape
    (ho, wo), pw = geom[2], geom[0][1]
    y = np.zeros((n, ho, wo, c), x.dtype)
    arg = np.zeros((n, ho, wo, c), np.int32)
    for oh in range(ho):
        for ow in range(wo):
            h0, w0, hs, he, ws, we = _window(geom, oh, ow, h, w)
            win = x[:, hs:he, ws:we, :].reshape(n, -1, c)
            y[:, oh, ow] = win.max(axis=1)
            j = win.argmax(axis=1)  # first max; first NaN
            kh, kw = j // (we - ws) + hs - h0, j % (we - ws) + ws - w0
            arg[:, oh, ow] = kh * pw + kw
    return y, arg


def brute_max_backward(x, grad, pool, strides, padding):
    geom = _geometry(x.shape, pool, strides, padding)
    n, h, w, c = x.shape
    dx = np.zeros(x.shape, grad.dtype)
    for oh in range(geom[2][0]):
        for ow in range(geom[2][1]):
            h0, w0, hs, he, ws, we = _window(geom, oh, ow, h, w)
            for i in range(n):
                for ch in range(c):
                    win = x[i, hs:he, ws:we, ch]
                    a, b = np.unravel_index(np.argmax(win), win.shape)
                    dx[i, hs + a, ws + b, ch] += grad[i, oh, ow, ch]
    return dx


def brute_avg(x, pool, strides, padding):
    geom = _geometry(x.shape, pool, strides, padding)
    n, h, w, c = x.shape
    y = np.zeros((n, *geom[2], c), x.dtype)
    for oh in range(geom[2][0]):
        for ow in range(geom[2][1]):
            _, _, hs, he, ws, we = _window(geom, oh, ow, h, w)
            y[:, oh, ow] = x[:, hs:he, ws:we, :].mean(axis=(1, 2))
    return y


def brute_avg_backward(shape, grad, pool, strides, padding):
    geom = _geometry(shape, pool, strides, padding)
    n, h, w, c = shape
    dx = np.zeros(shape, grad.dtype)
    for oh in range(geom[2][0]):
        for ow in range(geom[2][1]):
            _, _, hs, he, ws, we = _window(geom, oh, ow, h, w)
            dx[:, hs:he, ws:we, :] += (grad[:, oh, ow, :] / ((he - hs) * (we - ws)))[:, None, None]
    return dx


# ---- cases -------------------------------------------------------------------------------------

# (shape, pool, strides, padding)
CASES = [
    ((2, 4, 4, 3), 2, None, "valid"),
    ((2, 5, 7, 3), 2, None, "valid"),         # odd sizes: last row / column dropped
    ((2, 5, 7, 3), 2, None, "same"),          # odd sizes: padded after
    ((1, 9, 8, 1), 3, 1, "valid"),            # overlapping windows, batch 1, C = 1
    ((3, 9, 8, 65), 3, 1, "same"),            # overlapping, C = 65
    ((2, 7, 9, 5), (3, 2), (2, 1), "same"),   # stride < pool on one axis
    ((2, 10, 11, 4), 2, 3, "valid"),          # stride > pool: cells no window covers
    ((2, 10, 11, 4), 2, 3, "same"),
    ((2, 6, 6, 2), 1, None, "valid"),         # 1 x 1
    ((33, 4, 6, 2), (2, 3), None, "valid"),   # batch 33
    ((2, 3, 3, 4), 3, None, "valid"),         # one window = whole image
    ((2, 3, 4, 4), 5, 2, "same"),             # pool larger than the input, 'same'
    ((2, 1, 1, 3), 2, 1, "same"),
    ((1, 8, 8, 64), 2, None, "valid"),
]


def _data(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pool, strides, padding", CASES)
@pytest.mark.parametrize("impl", IMPLS)
def test_max_pool_forward_backward(impl, shape, pool, strides, padding, dtype):
    x = _data(shape, dtype)
    y, arg = impl["max_pool2d_forward"](x, pool, strides, padding)
    by, barg = brute_max(x, pool, strides, padding)
    assert y.dtype == dtype and arg.dtype == np.int32
    np.testing.assert_array_equal(y, by)
    np.testing.assert_array_equal(arg, barg)
    g = _data(y.shape, dtype, seed=1)
    dx = impl["max_pool2d_backward"](x.shape, arg, g, pool, strides, padding)
    assert dx.dtype == dtype and dx.shape == x.shape
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(dx, brute_max_backward(x, g, pool, strides, padding),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pool, strides, padding", CASES)
@pytest.mark.parametrize("impl", IMPLS)
def test_avg_pool_forward_backward(impl, shape, pool, strides, padding, dtype):
    x = _data(shape, dtype)
    y = impl["avg_pool2d_forward"](x, pool, strides, padding)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert y.dtype == dtype
    np.testing.assert_allclose(y, brute_avg(x, pool, strides, padding), rtol=tol, atol=tol)
    g = _data(y.shape, dtype, seed=1)
    dx = impl["avg_pool2d_backward"](x.shape, g, pool, strides, padding)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, brute_avg_backward(x.shape, g, pool, strides, padding),
                               rtol=tol, atol=tol)


@needs_native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, pool, strides, padding", CASES)
def test_native_equals_reference(shape, pool, strides, padding, dtype):
    """Same summation order in both: average pooling forward is bitwise equal too."""
    x = _data(shape, dtype)
    y, arg = NAT["max_pool2d_forward"](x, pool, strides, padding)
    ry, rarg = REF["max_pool2d_forward"](x, pool, strides, padding)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(arg, rarg)
    np.testing.assert_array_equal(NAT["avg_pool2d_forward"](x, pool, strides, padding),
                                  REF["avg_pool2d_forward"](x, pool, strides, padding))


@needs_native
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 17),
       ph=st.integers(1, 4), pw=st.integers(1, 4), sh=st.integers(1, 4), sw=st.integers(1, 4),
       padding=st.sampled_from(["valid", "same"]), f64=st.booleans(), seed=st.integers(0, 99))
def test_hypothesis_native_vs_reference(n, h, w, c, ph, pw, sh, sw, padding, f64, seed):
    if padding == "valid" and (ph > h or pw > w):
        return
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, (n, h, w, c)).astype(dtype)  # small integers: many ties
    args = ((ph, pw), (sh, sw), padding)
    y, arg = NAT["max_pool2d_forward"](x, *args)
    ry, rarg = REF["max_pool2d_forward"](x, *args)
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(arg, rarg)
    by, barg = brute_max(x, *args)
    np.testing.assert_array_equal(arg, barg)
    g = rng.standard_normal(y.shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(NAT["max_pool2d_backward"](x.shape, arg, g, *args),
                               REF["max_pool2d_backward"](x.shape, rarg, g, *args),
                               rtol=tol, atol=tol)
    np.testing.assert_allclose(NAT["avg_pool2d_forward"](x, *args),
                               REF["avg_pool2d_forward"](x, *args), rtol=tol, atol=tol)
    np.testing.assert_allclose(NAT["avg_pool2d_backward"](x.shape, g, *args),
                               REF["avg_pool2d_backward"](x.shape, g, *args), rtol=tol, atol=tol)


# ---- ties, NaN ---------------------------------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLS)
def test_ties_go_to_first_max(impl):
    x = np.array([[1, 5, 5, 0], [5, 2, 5, 5]], np.float32).reshape(1, 2, 4, 1)
    y, arg = impl["max_pool2d_forward"](x, 2, None, "valid")
    assert y.ravel().tolist() == [5, 5]
    assert arg.ravel().tolist() == [1, 0]  # (0, 1) in the first window, (0, 0) in the second
    dx = impl["max_pool2d_backward"](x.shape, arg, np.ones_like(y), 2, None, "valid")
    assert dx.reshape(2, 4).tolist() == [[0, 1, 1, 0], [0, 0, 0, 0]]


@pytest.mark.parametrize("impl", IMPLS)
def test_nan_propagates(impl):
    x = np.array([[1, np.nan, 3, 4], [np.nan, 2, 7, 8]], np.float64).reshape(1, 2, 4, 1)
    y, arg = impl["max_pool2d_forward"](x, 2, None, "valid")
    assert np.isnan(y.ravel()[0]) and y.ravel()[1] == 8
    assert arg.ravel().tolist() == [1, 3]  # the first NaN
    y1, _ = impl["max_pool2d_forward"](np.full((1, 2, 2, 1), -np.inf), 2, None, "valid")
    assert y1.ravel().tolist() == [-np.inf]
    assert np.isnan(impl["avg_pool2d_forward"](x, 2, None, "valid").ravel()[0])


@pytest.mark.parametrize("impl", IMPLS)
def test_same_padding_ignores_padded_cells(impl):
    x = -np.ones((1, 3, 3, 1), np.float32)  # padding zeros would win a max over -1
    y, arg = impl["max_pool2d_forward"](x, 2, None, "same")
    assert (y == -1).all()
    a = impl["avg_pool2d_forward"](np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1), 2, None,
                                   "same")
    # windows {0,1,3,4}, {2,5}, {6,7}, {8}: divided by the cells inside the input
    assert a.ravel().tolist() == [2.0, 3.5, 6.5, 8.0]


# ---- gradients through the ops -----------------------------------------------------------------

GRAD_CASES = [((2, 5, 4, 3), 2, None, "valid"), ((1, 5, 5, 2), 3, 1, "same"),
              ((2, 4, 5, 2), (2, 3), (1, 2), "same"), ((1, 6, 6, 1), 2, 3, "valid")]


@pytest.mark.parametrize("backend", ["numpy", pytest.param("native", marks=needs_native)])
@pytest.mark.parametrize("shape, pool, strides, padding", GRAD_CASES)
def test_gradients(backend, shape, pool, strides, padding):
    old = dm.get_backend()
    dm.set_backend(backend)
    try:
        rng = np.random.default_rng(0)
        x = rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + rng.uniform(0, 0.01, shape)
        check_grad(lambda t: max_pool2d(t, pool, strides, padding), x)
        check_grad(lambda t: avg_pool2d(t, pool, strides, padding), x)
    finally:
        dm.set_backend(type(old).__name__.replace("Backend", "").lower())


def test_op_output():
    x = dm.tensor(np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1), requires_grad=True)
    y = max_pool2d(x)
    assert y.shape == (1, 2, 2, 1) and y.dtype == np.float32
    assert y.data.ravel().tolist() == [5, 7, 13, 15]
    y.sum().backward()
    assert x.grad.data.ravel().tolist() == [0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1]
    z = avg_pool2d(x, pool_size=(2, 4))
    assert z.shape == (1, 2, 1, 1) and z.data.ravel().tolist() == [3.5, 11.5]


# ---- errors and odd inputs ---------------------------------------------------------------------

@pytest.mark.parametrize("impl", IMPLS)
def test_bad_arguments(impl):
    x = np.zeros((1, 4, 4, 2), np.float32)
    fwd = impl["max_pool2d_forward"]
    with pytest.raises(ValueError, match="rank 4"):
        fwd(np.zeros((4, 4, 2), np.float32), 2, None, "valid")
    with pytest.raises(ValueError, match="pool_size"):
        fwd(x, 0, None, "valid")
    with pytest.raises(ValueError, match="strides"):
        fwd(x, 2, (1, 0), "valid")
    with pytest.raises(ValueError, match="pair"):
        fwd(x, (2, 2, 2), None, "valid")
    with pytest.raises(TypeError, match="pool_size"):
        fwd(x, 2.0, None, "valid")
    with pytest.raises(ValueError, match="larger than the input"):
        fwd(x, 5, None, "valid")
    with pytest.raises(ValueError, match="padding"):
        fwd(x, 2, None, "full")
    with pytest.raises(ValueError, match="2\\*\\*31"):
        fwd(x, (2**16, 2**16), None, "same")
    for dtype in (np.int32, np.int64, np.complex64, np.float16):
        with pytest.raises(TypeError, match="dtype"):
            fwd(x.astype(dtype), 2, None, "valid")
        with pytest.raises(TypeError, match="dtype"):
            impl["avg_pool2d_forward"](x.astype(dtype), 2, None, "valid")
    with pytest.raises(TypeError):
        fwd([[1.0]], 2, None, "valid")
    y, arg = fwd(x, 2, None, "valid")
    bwd = impl["max_pool2d_backward"]
    with pytest.raises(ValueError, match="grad has shape"):
        bwd(x.shape, arg, np.zeros((1, 2, 3, 2), np.float32), 2, None, "valid")
    with pytest.raises(TypeError, match="argmax"):
        bwd(x.shape, arg.astype(np.int64), y, 2, None, "valid")
    with pytest.raises(ValueError, match="argmax has shape"):
        bwd(x.shape, arg[:, :1], y, 2, None, "valid")
    with pytest.raises(ValueError, match="x_shape"):
        bwd((4, 4, 2), arg, y, 2, None, "valid")
    with pytest.raises(ValueError, match="grad has shape"):
        impl["avg_pool2d_backward"](x.shape, y[:, :1], 2, None, "valid")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape, padding, out", [
    ((0, 4, 4, 3), "valid", (0, 2, 2, 3)), ((2, 4, 4, 0), "valid", (2, 2, 2, 0)),
    ((2, 0, 4, 3), "same", (2, 0, 2, 3)), ((2, 4, 0, 3), "same", (2, 2, 0, 3))])
def test_zero_size(impl, shape, padding, out):
    x = np.zeros(shape, np.float32)
    y, arg = impl["max_pool2d_forward"](x, 2, None, padding)
    assert y.shape == out and arg.shape == out
    assert impl["max_pool2d_backward"](shape, arg, y, 2, None, padding).shape == shape
    a = impl["avg_pool2d_forward"](x, 2, None, padding)
    assert a.shape == out
    assert impl["avg_pool2d_backward"](shape, a, 2, None, padding).shape == shape
    with pytest.raises(ValueError, match="larger than the input"):
        impl["max_pool2d_forward"](np.zeros((1, 0, 4, 1), np.float32), 2, None, "valid")


@needs_native
def test_views_are_copied():
    base = _data((4, 10, 12, 6), np.float32)
    for view in (base[::2, ::-1, 1::2, :], base[..., ::2], np.asfortranarray(base),
                 base.astype(">f4")):
        y, arg = NAT["max_pool2d_forward"](view, 2, None, "same")
        ry, rarg = REF["max_pool2d_forward"](np.ascontiguousarray(view), 2, None, "same")
        np.testing.assert_array_equal(y, ry)
        np.testing.assert_array_equal(arg, rarg)
        g = _data(y.shape, np.float32)[..., ::-1]  # negative-stride gradient and argmax
        np.testing.assert_array_equal(
            NAT["max_pool2d_backward"](view.shape, arg[..., ::-1], g, 2, None, "same"),
            REF["max_pool2d_backward"](view.shape, np.ascontiguousarray(arg[..., ::-1]),
                                       np.ascontiguousarray(g), 2, None, "same"))
        np.testing.assert_allclose(NAT["avg_pool2d_backward"](view.shape, g, 2, None, "same"),
                                   REF["avg_pool2d_backward"](view.shape, g, 2, None, "same"),
                                   rtol=1e-6)


# ---- threads -----------------------------------------------------------------------------------

@needs_native
def test_reproducible_and_thread_independent():
    """Each output is computed by one thread in a fixed order: bitwise equal for any count."""
    x = _data((8, 32, 32, 64), np.float32)  # large enough to run in parallel
    old = dm.get_num_threads()
    results = []
    try:
        for threads in (2, 2, 1):
            dm.set_num_threads(threads)
            y, arg = NAT["max_pool2d_forward"](x, 3, 2, "same")
            dx = NAT["max_pool2d_backward"](x.shape, arg, y, 3, 2, "same")
            a = NAT["avg_pool2d_forward"](x, 3, 2, "same")
            da = NAT["avg_pool2d_backward"](x.shape, a, 3, 2, "same")
            results.append(b"".join(v.tobytes() for v in (y, arg, dx, a, da)))
    finally:
        dm.set_num_threads(old)
    assert results[0] == results[1] == results[2]
