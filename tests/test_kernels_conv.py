"""conv2d kernels: native C vs NumPy reference vs a brute-force loop, gradients through the op,
bad input, reproducibility."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import deepmath as dm
from deepmath.backend import conv as C
from deepmath.ops.conv import conv2d
from gradcheck import check_grad

kernels = pytest.importorskip("deepmath._kernels")
if not hasattr(kernels, "conv2d_forward"):
    pytest.skip("conv kernels not built", allow_module_level=True)

ACTS = [None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh"]


def brute(x, w, b, strides, pads, dil):
    """Independent loop over output pixels and kernel taps, float64."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    n, h, wd, _ = x.shape
    kh, kw, _, co = w.shape
    (sh, sw), (dh, dw) = strides, dil
    pt, pb, pl, pr = pads
    ho = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    wo = (wd + pl + pr - (kw - 1) * dw - 1) // sw + 1
    y = np.zeros((n, ho, wo, co))
    for a in range(ho):
        for c in range(wo):
            for i in range(kh):
                for j in range(kw):
                    r, q = a * sh - pt + i * dh, c * sw - pl + j * dw
                    if 0 <= r < h and 0 <= q < wd:
                        y[:, a, c, :] += x[:, r, q, :] @ w[i, j]
    return y if b is None else y + b


def data(rng, n, h, w, ci, co, kh, kw, dtype):
    x = rng.standard_normal((n, h, w, ci)).astype(dtype)
    k = (rng.standard_normal((kh, kw, ci, co)) / np.sqrt(kh * kw * max(ci, 1))).astype(dtype)
    b = rng.standard_normal(co).astype(dtype)
    return x, k, b


def tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)


def compare_all(x, k, b, strides, padding, dil, act, grad_seed=1):
    """Forward and backward: native == reference (== brute force for the forward)."""
    dt = x.dtype.type
    code = C.activation_code(act)
    ref = C.conv2d_forward_reference(x, k, b, strides, padding, dil, act)
    nat = C.conv2d_forward_native(x, k, b, strides, padding, dil, act)
    assert nat.shape == ref.shape and nat.dtype == x.dtype
    np.testing.assert_allclose(nat, ref, **tol(dt))
    pads, _ = C.conv2d_padding(x.shape[1:3], k.shape[:2], strides, padding, dil)
    br = C.apply_activation(brute(x, k, b, C._pair(strides, "s"), pads, C._pair(dil, "d")), code)
    np.testing.assert_allclose(ref, br, **tol(dt))
    g = np.random.default_rng(grad_seed).standard_normal(ref.shape).astype(dt)
    yz = ref if code in (1, 2, 3) else C.conv2d_forward_reference(x, k, b, strides, padding, dil)
    r = C.conv2d_backward_reference(x, k, yz, g, strides, padding, dil, act)
    q = C.conv2d_backward_native(x, k, yz, g, strides, padding, dil, act)
    for name, a, e in zip(("dx", "dw", "db"), q, r):
        assert a.shape == e.shape and a.dtype == x.dtype, name
        scale = max(1.0, float(np.abs(e).max()))
        np.testing.assert_allclose(a, e, rtol=tol(dt)["rtol"], atol=tol(dt)["atol"] * scale,
                                   err_msg=name)


SHAPES = [
    # n, h, w, ci, co, kh, kw, strides, padding, dilation
    (2, 7, 9, 3, 5, 3, 3, 1, "same", 1),
    (3, 8, 7, 2, 4, 3, 2, 2, "same", 1),
    (1, 9, 9, 1, 3, 3, 3, 1, "valid", 2),
    (2, 5, 5, 4, 6, 1, 1, 1, "valid", 1),          # 1x1: plain GEMM
    (2, 5, 6, 4, 6, 1, 1, 2, "valid", 1),          # 1x1 strided: im2col
    (2, 6, 6, 3, 2, 3, 3, (2, 1), (1, 0, 2, 1), (1, 2)),
    (33, 5, 4, 2, 3, 2, 2, 1, "same", 1),          # batch 33, even kernel
    (4, 28, 28, 1, 8, 3, 3, 1, "same", 1),         # MNIST first layer, Cin = 1
    (2, 11, 13, 5, 7, 5, 5, 2, "same", 2),
    (2, 3, 3, 2, 2, 3, 3, 3, "valid", 1),          # output 1x1
    (1, 1, 1, 3, 4, 1, 1, 1, "valid", 1),
    (2, 6, 5, 3, 4, 3, 3, 1, 1, 1),                # int padding
    (2, 6, 5, 3, 4, 3, 3, 1, ((2, 0), (0, 1)), 1),  # pairs of pads
    (1, 4, 4, 2, 3, 4, 4, 1, "same", 1),
    # stride 1: grad-input computed as a forward conv of dz (flipped kernel)
    (2, 7, 8, 5, 3, 3, 3, 1, "same", 2),
    (2, 6, 7, 6, 4, 3, 2, 1, (0, 2, 1, 0), 1),
    (2, 6, 7, 4, 4, 3, 3, 1, (3, 0, 0, 3), 1),     # a pad > (k-1)*d: col2im instead
    (3, 9, 9, 8, 16, 3, 3, 1, "valid", 1),
    (2, 8, 8, 4, 5, 4, 4, 1, "same", 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_native_matches_reference(shape, dtype):
    n, h, w, ci, co, kh, kw, s, p, d = shape
    rng = np.random.default_rng(hash(shape) % 2**32)
    x, k, b = data(rng, n, h, w, ci, co, kh, kw, dtype)
    compare_all(x, k, b, s, p, d, None)
    compare_all(x, k, None, s, p, d, "relu")


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations(act, dtype):
    x, k, b = data(np.random.default_rng(3), 3, 6, 7, 3, 4, 3, 3, dtype)
    compare_all(x, k, b, 1, "same", 1, act)


def test_large_band_split():
    """An image whose im2col exceeds one band (several bands per image)."""
    x, k, b = data(np.random.default_rng(4), 2, 40, 45, 16, 8, 3, 3, np.float32)
    compare_all(x, k, b, 1, "same", 1, "relu")
    x, k, b = data(np.random.default_rng(4), 2, 60, 61, 16, 4, 3, 3, np.float32)
    compare_all(x, k, b, 2, "same", 1, "tanh")     # col2im path, two bands per image


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9), ci=st.integers(1, 4),
       co=st.integers(1, 5), kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3),
       sw=st.integers(1, 3), dh=st.integers(1, 2), dw=st.integers(1, 2),
       padding=st.sampled_from(["valid", "same", 0, 1, (1, 2, 0, 1)]),
       dtype=st.sampled_from([np.float32, np.float64]), act=st.sampled_from(ACTS))
def test_hypothesis_shapes(n, h, w, ci, co, kh, kw, sh, sw, dh, dw, padding, dtype, act):
    try:
        C.conv2d_padding((h, w), (kh, kw), (sh, sw), padding, (dh, dw))
    except ValueError:
        with pytest.raises(ValueError):
            C.conv2d_forward_native(*data(np.random.default_rng(0), n, h, w, ci, co, kh, kw,
                                          dtype), (sh, sw), padding, (dh, dw), act)
        return
    x, k, b = data(np.random.default_rng(n * 7 + h), n, h, w, ci, co, kh, kw, dtype)
    compare_all(x, k, b, (sh, sw), padding, (dh, dw), act)


# ---- row-shifted GEMMs (stride 1, dw = 1: no im2col) ------------------------------------------

ROWS_CASES = [
    # n, h, w, ci, co, kh, kw, padding, dilation
    (1, 90, 90, 32, 16, 3, 3, "same", 1),              # ~12-row bands: 8 bands per image
    (2, 41, 37, 24, 20, 3, 5, (2, 1, 4, 0), (2, 1)),   # dh = 2, asymmetric pads, 2 bands
    (3, 7, 6, 16, 8, 2, 3, "valid", 1),
    (2, 9, 8, 6, 7, 3, 3, (3, 0, 1, 4), 1),            # pads > k-1: dx by col2im
]


@pytest.mark.parametrize("case", ROWS_CASES)
def test_row_shifted_paths(case):
    n, h, w, ci, co, kh, kw, p, d = case
    x, k, b = data(np.random.default_rng(h * w), n, h, w, ci, co, kh, kw, np.float32)
    compare_all(x, k, b, 1, p, d, "relu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_kernel_only_large_pads(dtype):
    """dk and db alone (no dx): row-shifted even where pads exceed the kernel's reach."""
    x, k, _ = data(np.random.default_rng(12), 3, 6, 7, 5, 4, 3, 2, dtype)
    pads = (4, 0, 0, 3)
    y = C.conv2d_forward_reference(x, k, None, 1, pads, 1, "tanh")
    g = np.random.default_rng(13).standard_normal(y.shape).astype(dtype)
    _, dk, db = C.conv2d_backward_native(x, k, y, g, 1, pads, 1, "tanh", (False, True, True))
    _, rk, rb = C.conv2d_backward_reference(x, k, y, g, 1, pads, 1, "tanh")
    np.testing.assert_allclose(dk, rk, rtol=tol(dtype)["rtol"], atol=tol(dtype)["atol"] * 10)
    np.testing.assert_allclose(db, rb, rtol=tol(dtype)["rtol"], atol=tol(dtype)["atol"] * 10)


MNIST_CNN = [(28, 28, 1, 32), (28, 28, 32, 16)]    # the book's CNN: conv1, conv2 ('same', relu)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", MNIST_CNN)
def test_mnist_cnn_layers(shape, dtype):
    h, w, ci, co = shape
    x, k, b = data(np.random.default_rng(ci), 3, h, w, ci, co, 3, 3, dtype)
    compare_all(x, k, b, 1, "same", 1, "relu")


@pytest.mark.parametrize("shape", MNIST_CNN)
def test_mnist_cnn_layers_bitwise_across_threads(shape):
    """Fixed groups over the batch, single-threaded GEMMs inside them: the same bits for 1 and
    2 threads (and from call to call)."""
    h, w, ci, co = shape
    rng = np.random.default_rng(14)
    x, k, b = data(rng, 11, h, w, ci, co, 3, 3, np.float32)
    g = rng.standard_normal((11, h, w, co)).astype(np.float32)
    old = dm.get_num_threads()
    runs = []
    try:
        for nt in (1, 2, 2):
            dm.set_num_threads(nt)
            y = C.conv2d_forward_native(x, k, b, 1, "same", 1, "relu")
            runs.append([y, *C.conv2d_backward_native(x, k, y, g, 1, "same", 1, "relu")])
    finally:
        dm.set_num_threads(old)
    for r in runs[1:]:
        for a, c in zip(runs[0], r):
            assert a.tobytes() == c.tobytes()


def test_gradients_fd_row_shifted():
    """float64 finite differences where forward, grad-input and grad-kernel all take the
    row-shifted GEMMs (kw*cin and kw*cout >= 16)."""
    rng = np.random.default_rng(15)
    for padding, dil in (("same", 1), ((0, 2, 1, 1), (2, 1))):
        check_grad(lambda x, w, b: conv2d(x, w, b, 1, padding, dil, "tanh"),
                   rng.standard_normal((2, 5, 6, 6)), rng.standard_normal((3, 3, 6, 6)) * 0.2,
                   rng.standard_normal(6) * 0.1)


# ---- padding helper ------------------------------------------------------------------------

def test_same_padding_keras():
    # Keras/TF: out = ceil(in / stride), the extra pad at the bottom/right
    assert C.conv2d_padding((28, 28), (3, 3), 1, "same") == ((1, 1, 1, 1), (28, 28))
    assert C.conv2d_padding((28, 28), (3, 3), 2, "same") == ((0, 1, 0, 1), (14, 14))
    assert C.conv2d_padding((7, 8), (4, 4), 1, "same") == ((1, 2, 1, 2), (7, 8))
    assert C.conv2d_padding((7, 7), (3, 3), 1, "same", 2) == ((2, 2, 2, 2), (7, 7))
    assert C.conv2d_padding((5, 6), (3, 3), 1, "valid") == ((0, 0, 0, 0), (3, 4))
    assert C.conv2d_padding((5, 6), (3, 3), 1, (1, 2)) == ((1, 1, 2, 2), (5, 8))


# ---- gradients through the op ----------------------------------------------------------------

GRAD_CASES = [
    (1, "valid", 1), (1, "same", 1), (2, "same", 1), (2, "valid", 1), (1, "same", 2),
    ((2, 1), (1, 0, 0, 2), (1, 2)),
]


@pytest.mark.parametrize("strides,padding,dilation", GRAD_CASES)
@pytest.mark.parametrize("act", [None, "relu", "tanh", "gelu"])
def test_gradients_fd(strides, padding, dilation, act):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 6, 2))
    w = rng.standard_normal((3, 2, 2, 3)) * 0.5
    b = rng.standard_normal(3) * 0.1
    check_grad(lambda x, w, b: conv2d(x, w, b, strides, padding, dilation, act), x, w, b,
               rtol=1e-5, atol=1e-6)


def test_gradients_fd_wide_cin():
    rng = np.random.default_rng(11)
    for padding in ("same", "valid", (0, 2, 1, 1)):
        check_grad(lambda x, w: conv2d(x, w, None, 1, padding, 1, "tanh"),
                   rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((3, 2, 5, 2)) * 0.3)


def test_gradients_fd_1x1_and_cin1():
    rng = np.random.default_rng(6)
    check_grad(lambda x, w: conv2d(x, w), rng.standard_normal((2, 3, 3, 2)),
               rng.standard_normal((1, 1, 2, 3)))
    check_grad(lambda x, w, b: conv2d(x, w, b, padding="same", activation="sigmoid"),
               rng.standard_normal((2, 4, 4, 1)), rng.standard_normal((3, 3, 1, 2)),
               rng.standard_normal(2))


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_op_backends_agree(backend):
    from deepmath.backend import get_backend, set_backend
    old = get_backend().name
    rng = np.random.default_rng(7)
    x0 = rng.standard_normal((3, 6, 6, 2)).astype(np.float32)
    w0 = rng.standard_normal((3, 3, 2, 4)).astype(np.float32)
    b0 = rng.standard_normal(4).astype(np.float32)
    try:
        set_backend(backend)
        x, w, b = (dm.tensor(a, requires_grad=True) for a in (x0, w0, b0))
        y = conv2d(x, w, b, padding="same", activation="relu")
        y.sum().backward()
    finally:
        set_backend(old)
    ref = C.conv2d_forward_reference(x0, w0, b0, 1, "same", 1, "relu")
    np.testing.assert_allclose(y.data, ref, rtol=1e-5, atol=1e-5)
    dx, dw, db = C.conv2d_backward_reference(x0, w0, ref, np.ones_like(ref), 1, "same", 1, "relu")
    np.testing.assert_allclose(x.grad.data, dx, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w.grad.data, dw, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(b.grad.data, db, rtol=1e-5, atol=1e-4)


def test_op_only_needed_grads():
    rng = np.random.default_rng(8)
    x = dm.tensor(rng.standard_normal((2, 5, 5, 3)).astype(np.float32))
    w = dm.tensor(rng.standard_normal((3, 3, 3, 2)).astype(np.float32), requires_grad=True)
    conv2d(x, w, padding="same").sum().backward()
    assert x.grad is None and w.grad is not None


# ---- bad input -------------------------------------------------------------------------------

def test_errors():
    f = kernels.conv2d_forward
    x = np.zeros((2, 5, 5, 3), np.float32)
    k = np.zeros((3, 3, 3, 4), np.float32)
    with pytest.raises(ValueError, match=r"rank 4.*\(5, 5, 3\)"):
        f(x[0], k)
    with pytest.raises(ValueError, match="rank 4"):
        f(x, k[0])
    with pytest.raises(ValueError, match=r"\(2, 5, 5, 3\).*3 channels.*\(3, 3, 2, 4\)"):
        f(x, k[:, :, :2])
    with pytest.raises(ValueError, match="larger than the input"):
        f(x, np.zeros((7, 3, 3, 4), np.float32))
    with pytest.raises(ValueError, match="larger than the input"):
        f(x, k, None, (1, 1), (0, 0, 0, 0), (3, 1))
    f(x, np.zeros((7, 3, 3, 4), np.float32), None, (1, 1), (1, 1, 0, 0))  # fits once padded
    with pytest.raises(ValueError, match="strides"):
        f(x, k, None, (0, 1))
    with pytest.raises(ValueError, match="dilation"):
        f(x, k, None, (1, 1), (0, 0, 0, 0), (1, 0))
    with pytest.raises(ValueError, match="padding"):
        f(x, k, None, (1, 1), (0, -1, 0, 0))
    with pytest.raises(TypeError, match="int32"):
        f(x.astype(np.int32), k)
    with pytest.raises(TypeError, match="complex"):
        f(x.astype(np.complex64), k)
    with pytest.raises(TypeError, match="dtype"):
        f(x, k.astype(np.float64))
    with pytest.raises(ValueError, match="bias"):
        f(x, k, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="empty spatial"):
        f(x, np.zeros((0, 3, 3, 4), np.float32))
    with pytest.raises(MemoryError):  # 192 TiB output: numpy refuses, nothing overflows
        f(x, k, None, (1, 1), (2**40, 2**40, 0, 0))
    with pytest.raises(ValueError, match="too large"):  # beyond int64 index arithmetic
        f(x, k, None, (1, 1), (2**59, 2**59, 2**59, 2**59))
    with pytest.raises(ValueError, match="padding"):
        f(x, k, None, (1, 1), (2**63, 0, 0, 0))
    with pytest.raises(ValueError, match="grad of shape"):
        kernels.conv2d_backward(x, k, None, np.zeros((2, 3, 3, 5), np.float32))
    # op level: Python-side checks name the shapes
    with pytest.raises(ValueError, match="channels"):
        conv2d(dm.tensor(x), dm.tensor(k[:, :, :2]))
    with pytest.raises(ValueError, match="padding"):
        conv2d(dm.tensor(x), dm.tensor(k), padding="full")
    with pytest.raises(ValueError, match="activation"):
        conv2d(dm.tensor(x), dm.tensor(k), activation="swish")
    with pytest.raises(ValueError, match="strides"):
        conv2d(dm.tensor(x), dm.tensor(k), strides=0)
    with pytest.raises(ValueError, match="larger"):
        conv2d(dm.tensor(x), dm.tensor(np.zeros((6, 1, 3, 1), np.float32)))


def test_zero_sizes():
    k = np.ones((3, 3, 3, 4), np.float32)
    b = np.arange(4, dtype=np.float32)
    y = kernels.conv2d_forward(np.zeros((0, 5, 5, 3), np.float32), k, b, (1, 1), (1, 1, 1, 1))
    assert y.shape == (0, 5, 5, 4)
    dx, dk, db = kernels.conv2d_backward(np.zeros((0, 5, 5, 3), np.float32), k, None, y,
                                         (1, 1), (1, 1, 1, 1))
    assert dx.shape == (0, 5, 5, 3) and not dk.any() and not db.any()
    y = kernels.conv2d_forward(np.ones((2, 5, 5, 3), np.float32), k[..., :0])
    assert y.shape == (2, 3, 3, 0)
    # c_in = 0: an empty sum, the output is act(bias)
    y = kernels.conv2d_forward(np.ones((2, 5, 5, 0), np.float32), k[:, :, :0], b - 1, (1, 1),
                               (0, 0, 0, 0), (1, 1), 1)
    np.testing.assert_array_equal(y, np.broadcast_to(np.maximum(b - 1, 0), (2, 3, 3, 4)))
    dx, dk, db = kernels.conv2d_backward(np.ones((2, 5, 5, 0), np.float32), k[:, :, :0], None,
                                         np.ones_like(y))
    assert dx.shape == (2, 5, 5, 0) and dk.shape == (3, 3, 0, 4)
    np.testing.assert_array_equal(db, np.full(4, 18, np.float32))


def test_non_contiguous_and_negative_strides():
    rng = np.random.default_rng(9)
    x, k, b = data(rng, 3, 8, 9, 4, 5, 3, 3, np.float32)
    xv = np.asfortranarray(x)[:, ::-1, :, :]      # negative stride, not C-contiguous
    kv = k[::-1, :, ::1, :][::-1]                  # double reversal: a view equal to k
    bv = np.stack([b, b], 1)[:, 0]                 # strided
    y = kernels.conv2d_forward(xv, kv, bv, (1, 1), (1, 1, 1, 1))
    ref = C.conv2d_forward_reference(np.ascontiguousarray(xv), k, b, 1, "same")
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(y.shape).astype(np.float32)[:, ::-1]
    q = kernels.conv2d_backward(xv, kv, None, g, (1, 1), (1, 1, 1, 1))
    r = C.conv2d_backward_reference(np.ascontiguousarray(xv), k, None, np.ascontiguousarray(g),
                                    1, "same")
    for a, e in zip(q, r):
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-4)


# ---- threads -----------------------------------------------------------------------------------

def test_reproducible_and_thread_independent():
    rng = np.random.default_rng(10)
    x, k, b = data(rng, 9, 12, 11, 6, 8, 3, 3, np.float32)
    g = rng.standard_normal((9, 12, 11, 8)).astype(np.float32)
    old = dm.get_num_threads()
    results = []
    try:
        for nt in (1, 2, 2):
            dm.set_num_threads(nt)
            y = C.conv2d_forward_native(x, k, b, 1, "same", 1, "relu")
            grads = C.conv2d_backward_native(x, k, y, g, 1, "same", 1, "relu")
            results.append([y, *grads])
    finally:
        dm.set_num_threads(old)
    for a, c in zip(results[1], results[2]):      # same thread count: bitwise
        assert a.tobytes() == c.tobytes()
    for a, c in zip(results[0], results[1]):      # 1 vs 2 threads: the decomposition is fixed
        np.testing.assert_allclose(a, c, rtol=1e-6, atol=1e-6)
