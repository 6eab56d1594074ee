"""Fused kernels (src/_kernels/dm_fused.c): activations, softmax, softmax cross-entropy and
in-place optimizer updates, against their NumPy references (deepmath/backend/fused.py), plus
NaN/inf behaviour, stability at ±1000, Keras' Adam/SGD over several steps, bad input,
reproducibility across thread counts, and float32 GELU (erf form) in ulp of scipy's float64
value on both CPU paths (AVX2+FMA and portable C)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import special

import deepmath as dm
from deepmath.backend import fused
from deepmath.backend._native_import import kernels

pytestmark = pytest.mark.skipif(kernels is None, reason="deepmath._kernels not built")

REF = fused.REFERENCE
NAT = {} if kernels is None else dict(
    {k: getattr(v, "native", v) for k, v in fused.NATIVE.items()},
    tanh=kernels.tanh_forward, softplus=kernels.softplus_forward)  # (the table keeps numpy's)
BIG = 70_000  # above every parallel threshold (DM_PARALLEL_MIN = 32768)
SHAPES = [(), (0,), (1,), (7,), (3, 5), (2, 3, 17), (BIG,)]
DTYPES = [np.float32, np.float64]


def tol(dtype):
    return {"rtol": 2e-6, "atol": 1e-7} if dtype == np.float32 else {"rtol": 1e-13, "atol": 1e-15}


def rowtol(dtype):
    """Row reductions: numpy sums pairwise in float32, the kernels in double in index order."""
    return {"rtol": 1e-5, "atol": 3e-6} if dtype == np.float32 else {"rtol": 1e-12,
                                                                      "atol": 1e-14}


def data(shape, dtype, seed=0, scale=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


# name -> (argument builder from x, g) for the elementwise kernels
ELEMENTWISE = {
    "sigmoid": lambda x, g: (x,),
    "tanh": lambda x, g: (x,),
    "gelu": lambda x, g: (x,),
    "gelu_tanh": lambda x, g: (x, True),
    "leaky_relu": lambda x, g: (x, 0.2),
    "softplus": lambda x, g: (x,),
    "sigmoid_backward": lambda x, g: (REF["sigmoid"](x), g),
    "tanh_backward": lambda x, g: (np.tanh(x), g),
    "gelu_backward": lambda x, g: (x, g),
    "gelu_tanh_backward": lambda x, g: (x, g, True),
    "leaky_relu_backward": lambda x, g: (x, g, 0.2),
    "softplus_backward": lambda x, g: (x, g),
}


def _fn(table, name):
    return table[name.replace("gelu_tanh", "gelu")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_matches_reference(name, shape, dtype):
    x, g = data(shape, dtype, 1), data(shape, dtype, 2, 1.0)
    args = ELEMENTWISE[name](np.asarray(x), np.asarray(g))
    got, want = _fn(NAT, name)(*args), _fn(REF, name)(*args)
    assert got.dtype == dtype and got.shape == shape
    t = tol(dtype)
    if name.startswith("gelu") and dtype == np.float32:
        # 1 + erf / 1 + tanh cancel for x << 0: an ulp of libm vs numpy there is a large
        # relative error of a tiny value (the same formula as the reference and PyTorch)
        # (test_float32_accuracy_vs_float64 checks the kernel is the more accurate of the two)
        t["atol"] = 3e-6
    np.testing.assert_allclose(got, want, **t)


def test_vexp_accuracy():
    """The float32 kernels' exp (AVX2+FMA polynomial where available, else libm expf): within
    1.5 ulp of the exact value and 3 ulp of numpy's float32 exp on [-87, 88.7] (normal
    results), within 2 subnormal units below, and inf / 0 / NaN exactly as numpy."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-87, 88.7, 300_001), np.linspace(-1, 1, 10_001),
                        rng.uniform(-104, -87, 10_000)]).astype(np.float32)
    got = kernels.exp_f32(x)
    exact = np.exp(x.astype(np.float64))
    normal = exact >= np.finfo(np.float32).tiny
    ulp = np.spacing(exact.astype(np.float32)).astype(np.float64)
    assert (np.abs(got - exact) / ulp)[normal].max() <= 1.5
    ref = np.exp(x)
    assert (np.abs(got.astype(np.float64) - ref) / ulp)[normal].max() <= 3
    assert np.abs(got.astype(np.float64) - exact)[~normal].max() <= 2 * 1.5e-45
    special = np.array([np.nan, np.inf, -np.inf, 0, -0.0, 88.8, 100, -104, -200, 1e30, -1e30],
                       np.float32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(kernels.exp_f32(special), np.exp(special))
    for n in range(0, 20):  # tails shorter than a vector: same values as in a full vector
        np.testing.assert_array_equal(kernels.exp_f32(x[:n]), got[:n])


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_float32_accuracy_vs_float64(name):
    """float32 kernels (libm expf/tanhf/erff) are as accurate as numpy's float32 reference,
    measured against the float64 reference: max abs error at most twice numpy's (+1e-8), i.e.
    about an ulp or two (glibc's tanhf is within 2 ulp, numpy's SIMD tanh within 1)."""
    x = data((50_000,), np.float32, 9)
    g = np.ones_like(x)
    truth = _fn(REF, name)(*ELEMENTWISE[name](x.astype(np.float64), g.astype(np.float64)))
    native = _fn(NAT, name)(*ELEMENTWISE[name](x, g))
    ref = _fn(REF, name)(*ELEMENTWISE[name](x, g))
    assert np.abs(native - truth).max() <= 2 * np.abs(ref - truth).max() + 1e-8


@pytest.mark.parametrize("dtype", DTYPES)
def test_elementwise_special_values(dtype):
    x = np.array([np.nan, np.inf, -np.inf, -1000, -20, -0.0, 0.0, 20, 1000, 1e30, -1e30], dtype)
    g = np.ones_like(x)
    with np.errstate(all="ignore"):
        for name in ("sigmoid", "tanh", "gelu", "gelu_tanh", "leaky_relu", "softplus",
                     "sigmoid_backward", "tanh_backward", "gelu_backward", "leaky_relu_backward",
                     "softplus_backward"):
            args = ELEMENTWISE[name](x, g)
            got, want = _fn(NAT, name)(*args), _fn(REF, name)(*args)
            np.testing.assert_allclose(got, want, err_msg=name, **tol(dtype))  # NaN == NaN
    s = NAT["sigmoid"](x)
    assert s[3] == 0 and s[8] == 1 and np.isnan(s[0])  # stable at ±1000
    sp = NAT["softplus"](x)
    assert sp[3] == 0 and sp[8] == 1000


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (1, 1), (4, 10), (3, 7, 33), (128, 1000), (40, 2000),
                                   (0, 5), (5, 0)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_rowwise_matches_reference(name, shape, dtype):
    x, g = data(shape, dtype, 3), data(shape, dtype, 4, 1.0)
    y = NAT[name](x)
    np.testing.assert_allclose(y, REF[name](x), **rowtol(dtype))
    yr = REF[name](x)
    np.testing.assert_allclose(NAT[name + "_backward"](yr, g), REF[name + "_backward"](yr, g),
                               **rowtol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_rowwise_stable_and_special(dtype):
    x = np.array([[1000, -1000, 0], [-1000, -1000, -1000], [np.inf, 0, 1], [np.nan, 0, 1]],
                 dtype)
    with np.errstate(all="ignore"):
        for name in ("softmax", "log_softmax"):
            np.testing.assert_allclose(NAT[name](x), REF[name](x), err_msg=name, **rowtol(dtype))
    np.testing.assert_allclose(NAT["softmax"](x[:2]), [[1, 0, 0], [1 / 3] * 3], rtol=1e-6)
    np.testing.assert_allclose(NAT["log_softmax"](x[:1]), [[0, -2000, -1000]])


def test_rowwise_rejects_scalar():
    for name in ("softmax", "log_softmax"):
        with pytest.raises(ValueError):
            NAT[name](np.float32(1.0))


def _xent_inputs(shape, dtype, seed=5):
    z = data(shape, dtype, seed)
    labels = np.random.default_rng(seed).integers(0, shape[-1], shape[:-1]) if shape[-1] else \
        np.zeros(shape[:-1], np.int64)
    t = np.random.default_rng(seed + 1).random(shape).astype(dtype)
    g = data(shape[:-1], dtype, seed + 2, 1.0)
    return z, labels, t, g


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (1, 1), (32, 10), (3, 5, 7), (128, 1000), (0, 4)],
                         ids=str)
def test_cross_entropy_matches_reference(shape, dtype):
    z, labels, t, g = _xent_inputs(shape, dtype)
    loss, lse = NAT["sparse_softmax_cross_entropy"](z, labels)
    rloss, rlse = REF["sparse_softmax_cross_entropy"](z, labels)
    assert loss.shape == lse.shape == shape[:-1] and loss.dtype == dtype
    np.testing.assert_allclose(loss, rloss, **rowtol(dtype))
    np.testing.assert_allclose(lse, rlse, **rowtol(dtype))
    np.testing.assert_allclose(NAT["sparse_softmax_cross_entropy_backward"](z, labels, rlse, g),
                               REF["sparse_softmax_cross_entropy_backward"](z, labels, rlse, g),
                               **rowtol(dtype))
    one_hot = np.eye(shape[-1], dtype=dtype)[labels]
    for targets in (one_hot, t):
        loss, lse = NAT["softmax_cross_entropy"](z, targets)
        rloss, rlse = REF["softmax_cross_entropy"](z, targets)
        np.testing.assert_allclose(loss, rloss, **rowtol(dtype))
        np.testing.assert_allclose(lse, rlse, **rowtol(dtype))
        np.testing.assert_allclose(NAT["softmax_cross_entropy_backward"](z, targets, rlse, g),
                                   REF["softmax_cross_entropy_backward"](z, targets, rlse, g),
                                   **rowtol(dtype))
    # one-hot targets and integer labels are the same loss
    np.testing.assert_allclose(NAT["softmax_cross_entropy"](z, one_hot)[0],
                               NAT["sparse_softmax_cross_entropy"](z, labels)[0], **rowtol(dtype))


def test_cross_entropy_stable_at_1000():
    z = np.array([[1000, -1000, 0], [-1000, 1000, 0]], np.float32)
    loss, lse = NAT["sparse_softmax_cross_entropy"](z, np.array([1, 0]))
    np.testing.assert_allclose(loss, [2000, 2000])
    np.testing.assert_allclose(lse, [1000, 1000])
    dz = NAT["sparse_softmax_cross_entropy_backward"](z, np.array([1, 0]), lse,
                                                      np.ones(2, np.float32))
    np.testing.assert_allclose(dz, [[1, -1, 0], [-1, 1, 0]])
    assert np.isfinite(dz).all()


@pytest.mark.parametrize("bad, err", [
    (np.array([0, 3]), ValueError), (np.array([-1, 0]), ValueError),
    (np.array([0.0, 1.0]), TypeError), (np.array([0, 1, 2]), ValueError),
    ([0, 1], TypeError)])
def test_cross_entropy_bad_labels(bad, err):
    z = np.zeros((2, 3), np.float32)
    with pytest.raises(err):
        NAT["sparse_softmax_cross_entropy"](z, bad)
    with pytest.raises(err):
        NAT["sparse_softmax_cross_entropy_backward"](z, bad, np.zeros(2, np.float32),
                                                     np.ones(2, np.float32))


def test_bad_inputs():
    k = kernels
    x32, x64 = np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float64)
    with pytest.raises(TypeError):
        k.sigmoid_forward(np.zeros(3, np.int64))
    with pytest.raises(TypeError):
        k.softmax_forward(np.zeros((2, 2), np.complex64))
    with pytest.raises(TypeError):
        k.tanh_forward([1.0, 2.0])
    with pytest.raises(ValueError, match="shape"):
        k.sigmoid_backward(x32, np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="dtype"):
        k.softmax_backward(x32, x64)
    with pytest.raises(ValueError):
        k.softmax_cross_entropy_forward(x32, np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError):
        k.sparse_softmax_cross_entropy_backward(x32, np.zeros(3, np.int64),
                                                np.zeros(4, np.float32), np.zeros(4, np.float32))


def test_non_contiguous_and_negative_stride_inputs():
    x = data((6, 8), np.float32, 7)
    for view in (x[:, ::2], x[::-1], x.T):
        for name in ("sigmoid", "tanh", "gelu", "softplus", "softmax", "log_softmax"):
            np.testing.assert_allclose(NAT[name](view), REF[name](np.ascontiguousarray(view)),
                                       **tol(np.float32))


@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=3),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_hypothesis_shapes(shape, dtype, seed):
    shape = tuple(shape)
    z, labels, t, g = _xent_inputs(shape, dtype, seed)
    for name in ("sigmoid", "softplus"):
        np.testing.assert_allclose(NAT[name](z), REF[name](z), **tol(dtype))
    for name in ("softmax", "log_softmax"):
        np.testing.assert_allclose(NAT[name](z), REF[name](z), **rowtol(dtype))
    np.testing.assert_allclose(NAT["sparse_softmax_cross_entropy"](z, labels)[0],
                               REF["sparse_softmax_cross_entropy"](z, labels)[0], **rowtol(dtype))


# ---- float32 GELU, erf form: erfc around the vector exp (dm_fused.c, dm_gelu_erfcx_f32) -----

GELU_FLOOR = 1e-44  # 7 float32 subnormal units: exp(-x²/2) is subnormal below x = -13.2


def _gelu_inputs():
    """A dense grid on [-20, 20], normal values, and the tail where Φ(x) and φ(x) underflow."""
    rng = np.random.default_rng(5)
    return np.concatenate([np.linspace(-20, 20, 400_001), rng.standard_normal(100_000) * 3,
                           rng.uniform(-14.5, -9, 100_000)]).astype(np.float32)


def _ulp(v):
    return np.spacing(np.abs(v).astype(np.float32)).astype(np.float64)


def _check_gelu_f32(x, y, dx):
    """y = x Φ(x) within 3 ulp of the float64 value; dx = Φ(x) + x φ(x) within 4 ulp of the size
    of its terms, Φ + |x φ| (the sum crosses zero at x = -0.7518: relative to itself the error
    is unbounded there, for any float32 evaluation); both + GELU_FLOOR where they underflow."""
    xd = x.astype(np.float64)
    cdf = 0.5 * special.erfc(-xd / np.sqrt(2))
    xpdf = xd * np.exp(-0.5 * xd * xd) / np.sqrt(2 * np.pi)
    want_y, want_dx = xd * cdf, cdf + xpdf
    assert y.dtype == dx.dtype == np.float32
    assert np.all(np.abs(y - want_y) <= 3 * _ulp(want_y) + GELU_FLOOR)
    assert np.all(np.abs(dx - want_dx) <= 4 * _ulp(cdf + np.abs(xpdf)) + GELU_FLOOR)


def test_gelu_f32_accuracy():
    x = _gelu_inputs()
    _check_gelu_f32(x, NAT["gelu"](x), NAT["gelu_backward"](x, np.ones_like(x)))
    # the tail the former erfcf(-x/√2) got wrong by ~x²/2 ulp (rounding of its argument)
    x = np.float32([-6.5, -9.25, -11.75, -13.0])
    want = x * (0.5 * special.erfc(-x.astype(np.float64) / np.sqrt(2)))
    np.testing.assert_allclose(NAT["gelu"](x), want, rtol=3 * 2.0 ** -23, atol=0)


def test_gelu_f32_portable_path(tmp_path):
    """The C path of CPUs without AVX2+FMA (libm expf, SSE2 doubles, no FMA), forced through
    DEEPMATH_FUSED_KERNEL=portable in a fresh interpreter: same accuracy bounds."""
    x = _gelu_inputs()
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np\n"
            "from deepmath.backend._native_import import kernels as k\n"
            "assert not k.fused_simd_exp()\n"
            "x = np.load(sys.argv[1])\n"
            "np.save(sys.argv[2], np.stack([k.gelu_forward(x), "
            "k.gelu_backward(x, np.ones_like(x))]))\n")
    env = dict(os.environ, DEEPMATH_FUSED_KERNEL="portable")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.npy"),
                          str(tmp_path / "out.npy")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    y, dx = np.load(tmp_path / "out.npy")
    _check_gelu_f32(x, y, dx)


def test_gelu_f32_special_values():
    tiny = np.finfo(np.float32).smallest_subnormal
    x = np.float32([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 3e38, -3e38, 16, -16, 17,
                    tiny, -tiny])
    with np.errstate(invalid="ignore"):
        y, dx = NAT["gelu"](x), NAT["gelu_backward"](x, np.ones_like(x))
    nan = np.nan
    np.testing.assert_array_equal(y[:9], np.float32([nan, np.inf, nan, 0, 0, 1e30, 0, 3e38, 0]))
    assert np.signbit(y[4]) and np.signbit(y[6])  # -0.0 stays -0.0; -1e30 Φ(-1e30) = -0.0
    np.testing.assert_array_equal(dx[:9], [nan, nan, nan, 0.5, 0.5, 1, 0, 1, 0])
    np.testing.assert_allclose(y[9:], [16, 0, 17, 0, 0], atol=1e-44)  # Φ(-16) = 6e-58
    np.testing.assert_array_equal(dx[9:12], [1, 0, 1])
    assert np.isnan(NAT["gelu_backward"](np.float32([1.0]), np.float32([nan])))[0]


def test_gelu_f32_position_and_thread_independent():
    """Each element gets the same bits wherever it sits (vector body, scalar remainder, chunk
    tail) and for any thread count."""
    x = data((768 * 512 + 13,), np.float32, 3)
    g = data(x.shape, np.float32, 4, 1.0)
    before = dm.get_num_threads()
    try:
        outs = []
        for threads in (1, 2, 1):
            dm.set_num_threads(threads)
            outs.append((NAT["gelu"](x).tobytes(), NAT["gelu_backward"](x, g).tobytes()))
    finally:
        dm.set_num_threads(before)
    assert outs[0] == outs[1] == outs[2]
    y, dx = NAT["gelu"](x), NAT["gelu_backward"](x, g)
    for start, n in [(0, 1), (1, 3), (5, 7), (3, 9), (511, 17), (1000, 600)]:
        sl = slice(start, start + n)
        assert NAT["gelu"](x[sl]).tobytes() == y[sl].tobytes()
        assert NAT["gelu_backward"](x[sl], g[sl]).tobytes() == dx[sl].tobytes()


def _gelu_bits_inputs():
    """Lengths around the vector widths (8, 16) and the chunk (512), the special values, the
    clamp at 16 and huge |x|, the tail where Φ and φ underflow, and normal values."""
    rng = np.random.default_rng(11)
    tiny = np.finfo(np.float32).smallest_subnormal
    special_values = np.float32([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny,
                                 1e-30, -1e-30, 15.999999, 16, -16, 16.000002, -17, 1e30,
                                 -1e30, 3.4e38, -3.4e38, -13.2, -14.5, 88.7, -104, 104])
    arrays = [special_values]
    for n in (1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 511, 512, 513, 1000, 1031, 70_001):
        arrays.append((rng.standard_normal(n) * rng.choice([1.0, 3.0, 8.0])).astype(np.float32))
    arrays.append(np.linspace(-20, 20, 40_001, dtype=np.float32))
    arrays.append(rng.uniform(-14.5, -9, 20_000).astype(np.float32))
    mixed = rng.standard_normal(5_000).astype(np.float32) * 4
    mixed[rng.integers(0, mixed.size, 200)] = rng.choice(special_values, 200)
    arrays.append(mixed)
    return arrays


def _gelu_bits_outputs(k):
    """GELU forward, backward (with a random gradient, and NaN/inf in it) and the vector exp
    on each input, 1 and 2 threads, as bytes."""
    rng = np.random.default_rng(12)
    before = dm.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            dm.set_num_threads(threads)
            for x in _gelu_bits_inputs():
                g = rng.standard_normal(x.size).astype(np.float32)
                g[:3] = [np.nan, np.inf, -0.0][:g.size]
                with np.errstate(all="ignore"):
                    out += [k.gelu_forward(x).tobytes(), k.gelu_backward(x, g).tobytes(),
                            k.exp_f32(x).tobytes(),
                            k.gelu_forward(x.reshape(1, -1)).tobytes()]
    finally:
        dm.set_num_threads(before)
    return out


@pytest.mark.skipif(kernels is None or kernels.fused_kernel_name() != "avx512",
                    reason="no AVX-512 float32 path on this CPU (or already forced)")
def test_gelu_f32_avx512_bits_like_avx2(tmp_path):
    """GELU's AVX-512 chunks (8 doubles a vector, the 16-float exp) give the AVX2 ones' bits:
    the same IEEE operations per lane, explicit fma, no contraction. The AVX2 outputs come from
    a fresh interpreter with DEEPMATH_FUSED_KERNEL=avx2."""
    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import sys; sys.path.insert(0, {here!r})\n"
            "import numpy as np, test_kernels_fused as T\n"
            "assert T.kernels.fused_kernel_name() == 'avx2', T.kernels.fused_kernel_name()\n"
            f"np.savez({str(tmp_path / 'avx2.npz')!r}, "
            "*[np.frombuffer(b, np.uint8) for b in T._gelu_bits_outputs(T.kernels)])\n")
    env = dict(os.environ, DEEPMATH_FUSED_KERNEL="avx2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    ref = np.load(tmp_path / "avx2.npz")
    mine = _gelu_bits_outputs(kernels)
    assert len(ref.files) == len(mine)
    for i, got in enumerate(mine):
        assert ref[f"arr_{i}"].tobytes() == got, f"output {i} differs"


@pytest.mark.skipif(os.environ.get("DEEPMATH_FUSED_KERNEL") is not None,
                    reason="already under a forced path")
def test_fused_kernel_name_forced():
    """DEEPMATH_FUSED_KERNEL=avx2 and =portable pick those paths (avx2 where the CPU has it)."""
    code = ("from deepmath.backend._native_import import kernels as k\n"
            "print(k.fused_kernel_name(), k.fused_simd_exp())\n")
    names = {}
    for force in ("avx2", "portable"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=dict(os.environ, DEEPMATH_FUSED_KERNEL=force), timeout=120)
        assert out.returncode == 0, out.stderr
        names[force] = out.stdout.split()
    assert names["portable"] == ["portable", "False"]
    assert names["avx2"] == (["avx2", "True"] if kernels.fused_simd_exp() else
                             ["portable", "False"])
    assert kernels.fused_kernel_name() in ("avx512", "avx2", "portable")


# ---- optimizers: Keras' formulas transcribed in NumPy ---------------------------------------

def keras_adam(p, grads, lr, b1, b2, eps, wd):
    """Keras 3 Adam (keras/src/optimizers/adam.py) with its base class' weight decay, float64."""
    p = p.astype(np.float64).copy()
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if wd:
            p = p - p * wd * lr
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m = m + (g - m) * (1 - b1)
        v = v + (np.square(g) - v) * (1 - b2)
        p = p - alpha * m / (np.sqrt(v) + eps)
    return p, m, v


def keras_sgd(p, grads, lr, momentum, nesterov):
    p = p.astype(np.float64).copy()
    vel = np.zeros_like(p)
    for g in grads:
        if momentum:
            vel = vel * momentum - g * lr
            p = p + (vel * momentum - g * lr if nesterov else vel)
        else:
            p = p - g * lr
    return p, vel


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wd", [0.0, 0.004])
@pytest.mark.parametrize("size", [1, 13, BIG])
@pytest.mark.parametrize("table", ["native", "reference"])
def test_adam_matches_keras(table, size, wd, dtype):
    fn = (NAT if table == "native" else REF)["adam_update"]
    rng = np.random.default_rng(size)
    p0 = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) for _ in range(5)]
    p, m, v = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    ids = (id(p), id(m), id(v))
    for t, g in enumerate(grads, start=1):
        assert fn(p, g, m, v, 0.01, 0.9, 0.999, 1e-7, t, weight_decay=wd) is None
    assert (id(p), id(m), id(v)) == ids
    want = keras_adam(p0, [g.astype(np.float64) for g in grads], 0.01, 0.9, 0.999, 1e-7, wd)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for got, ref in zip((p, m, v), want):
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * 1e-2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_native_equals_reference(dtype):
    rng = np.random.default_rng(0)
    a = [rng.standard_normal(BIG + 3).astype(dtype) for _ in range(2)] + \
        [np.zeros(BIG + 3, dtype) for _ in range(2)]
    b = [x.copy() for x in a]
    for t in range(1, 4):
        g = rng.standard_normal(BIG + 3).astype(dtype)
        NAT["adam_update"](a[0], g, a[2], a[3], 1e-3, 0.9, 0.999, 1e-7, t, 0.01)
        REF["adam_update"](b[0], g, b[2], b[3], 1e-3, 0.9, 0.999, 1e-7, t, 0.01)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
@pytest.mark.parametrize("table", ["native", "reference"])
def test_sgd_matches_keras(table, momentum, nesterov, dtype):
    fn = (NAT if table == "native" else REF)["sgd_momentum_update"]
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(BIG).astype(dtype)
    grads = [rng.standard_normal(BIG).astype(dtype) for _ in range(4)]
    p = p0.copy()
    vel = np.zeros_like(p) if momentum else None
    for g in grads:
        fn(p, g, vel, 0.05, momentum, nesterov)
    want_p, want_v = keras_sgd(p0, [g.astype(np.float64) for g in grads], 0.05, momentum,
                               nesterov)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(p, want_p, rtol=rtol, atol=1e-6)
    if momentum:
        np.testing.assert_allclose(vel, want_v, rtol=rtol, atol=1e-6)


@pytest.mark.parametrize("table", ["native", "reference"])
def test_optimizer_bad_arguments(table):
    adam = (NAT if table == "native" else REF)["adam_update"]
    sgd = (NAT if table == "native" else REF)["sgd_momentum_update"]
    p, g = np.zeros(8, np.float32), np.ones(8, np.float32)
    m, v = np.zeros(8, np.float32), np.zeros(8, np.float32)
    frozen = np.zeros(8, np.float32)
    frozen.flags.writeable = False
    strided = np.zeros(16, np.float32)[::2]
    cases = [
        lambda: adam(p, g, np.zeros(7, np.float32), v, 0.1, 0.9, 0.999, 1e-7, 1),
        lambda: adam(p, g, m, np.zeros(8, np.float64), 0.1, 0.9, 0.999, 1e-7, 1),
        lambda: adam(frozen, g, m, v, 0.1, 0.9, 0.999, 1e-7, 1),
        lambda: adam(strided, g, m, v, 0.1, 0.9, 0.999, 1e-7, 1),
        lambda: adam(p, g, m, v, 0.1, 0.9, 0.999, 1e-7, 0),
        lambda: adam(p, np.ones(9, np.float32), m, v, 0.1, 0.9, 0.999, 1e-7, 1),
        lambda: sgd(p, g, None, 0.1, 0.9),
        lambda: sgd(p, g, strided, 0.1, 0.9),
        lambda: sgd(p, g, np.zeros(8, np.float64), 0.1, 0.9),
    ]
    for i, case in enumerate(cases):
        with pytest.raises(ValueError):
            case()
    assert not p.any() and not m.any() and not v.any()  # nothing written on failure
    with pytest.raises(TypeError):
        adam(np.zeros(8, np.int32), g, m, v, 0.1, 0.9, 0.999, 1e-7, 1)


def test_optimizer_empty_and_scalar():
    p, g = np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)
    NAT["adam_update"](p, g, p.copy(), p.copy(), 0.1, 0.9, 0.999, 1e-7, 1)
    s = np.array(1.0)
    NAT["sgd_momentum_update"](s, np.array(2.0), None, 0.5)
    assert s == 0.0


# ---- threads -------------------------------------------------------------------------------

def _all_outputs():
    x, g = data((300, 400), np.float32, 11), data((300, 400), np.float32, 12, 1.0)
    labels = np.random.default_rng(0).integers(0, 400, 300)
    out = [NAT[n](x) for n in ("sigmoid", "tanh", "gelu", "softplus", "softmax",
                               "log_softmax")]
    out += [NAT["gelu_backward"](x, g), NAT["softmax_backward"](out[4], g)]
    loss, lse = NAT["sparse_softmax_cross_entropy"](x, labels)
    out += [loss, lse, NAT["sparse_softmax_cross_entropy_backward"](x, labels, lse, g[:, 0])]
    p, m, v = x.copy(), np.zeros_like(x), np.zeros_like(x)
    NAT["adam_update"](p, g, m, v, 1e-3, 0.9, 0.999, 1e-7, 1)
    return out + [p, m, v]


def test_reproducible_across_runs_and_threads():
    before = dm.get_num_threads()
    try:
        dm.set_num_threads(2)
        a, b = _all_outputs(), _all_outputs()
        dm.set_num_threads(1)
        c = _all_outputs()
    finally:
        dm.set_num_threads(before)
    for x, y, z in zip(a, b, c):
        assert x.tobytes() == y.tobytes()
        assert x.tobytes() == z.tobytes()  # one thread per element / row: thread-independent


# ---- through the ops (native backend) --------------------------------------------------------

def test_ops_use_backend_and_agree_with_numpy_backend():
    from deepmath.ops.losses import categorical_crossentropy, sparse_categorical_crossentropy
    z0 = data((16, 10), np.float64, 21)
    labels = np.random.default_rng(0).integers(0, 10, 16)
    results, before = {}, dm.get_backend().name
    for backend in ("numpy", "native"):
        dm.set_backend(backend)
        try:
            vals = []
            for f in (dm.sigmoid, dm.tanh, dm.gelu, lambda t: dm.gelu(t, approximate=True),
                      dm.softplus, dm.leaky_relu, dm.softmax, dm.log_softmax,
                      lambda t: sparse_categorical_crossentropy(labels, t, from_logits=True),
                      lambda t: categorical_crossentropy(np.eye(10)[labels], t,
                                                         from_logits=True)):
                z = dm.tensor(z0, requires_grad=True)
                y = f(z)
                (y * y).sum().backward() if y.ndim else y.backward()
                vals += [y.data, z.grad]
            results[backend] = vals
        finally:
            dm.set_backend(before)
    for a, b in zip(results["numpy"], results["native"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_categorical_from_logits_gradients():
    from gradcheck import check_grad
    from deepmath.ops.losses import categorical_crossentropy
    rng = np.random.default_rng(3)
    y = rng.random((4, 5))
    z = rng.standard_normal((4, 5))
    check_grad(lambda a, b: categorical_crossentropy(a, b, from_logits=True), y, z)
