"""Scaled dot-product attention: native kernels against the NumPy reference and the textbook
formula, gradients by finite differences through the op, masks, stability, errors,
reproducibility and memory."""
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import deepmath as dm
from deepmath.backend.attention import (attention_backward_reference,
                                        attention_forward_reference)
from deepmath.ops.attention import scaled_dot_product_attention
from gradcheck import check_grad

try:
    from deepmath import _kernels as K
except ImportError:  # no compiler at build time: only the reference is tested
    K = None

native = pytest.mark.skipif(K is None, reason="deepmath._kernels not built")
rng = np.random.default_rng(2024)


def qkv(B, H, Tq, Tk, d, dtype=np.float32, spread=1.0):
    q = (rng.standard_normal((B, H, Tq, d)) * spread).astype(dtype)
    k = (rng.standard_normal((B, H, Tk, d)) * spread).astype(dtype)
    v = rng.standard_normal((B, H, Tk, d)).astype(dtype)
    return q, k, v


def direct(q, k, v, mask=None, causal=False, scale=None):
    """softmax(q·kᵀ·scale + mask)·v in float64, written out with no care for memory."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = np.einsum("bhid,bhjd->bhij", q, k) * scale
    if mask is not None:
        s = s + (np.where(mask, 0.0, -np.inf) if mask.dtype == bool else mask)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    e = np.exp(s - s.max(-1, keepdims=True))
    return np.einsum("bhij,bhjd->bhid", e / e.sum(-1, keepdims=True), v)


def f64(*arrays):
    return [None if a is None else np.asarray(a, np.float64) if a.dtype != bool else a
            for a in arrays]


def assert_close(got, expected, dtype, loose=1.0):
    """float32: max error ≤ 2e-5 of the largest magnitude (accumulation order aside)."""
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape
    assert np.array_equal(np.isfinite(got), np.isfinite(expected))
    fin = np.isfinite(expected)
    scale = max(np.abs(expected[fin]).max(initial=0.0), 1.0)
    tol = (2e-5 if dtype == np.float32 else 1e-12) * loose
    assert np.abs(got[fin] - expected[fin]).max(initial=0.0) <= tol * scale
    assert np.array_equal(got[~fin], expected[~fin])


def run_both(q, k, v, mask=None, causal=False, scale=None, seed=0, loose=1.0):
    """Native forward + backward against the float64 reference on the same inputs."""
    dt = q.dtype.type
    out, lse = K.attention_forward(q, k, v, mask, causal, scale)
    assert out.dtype == q.dtype and lse.dtype == q.dtype
    ro, rl = attention_forward_reference(*f64(q, k, v, mask), causal, scale)
    assert_close(out, ro, dt, loose)
    assert_close(lse, rl, dt, loose)
    g = np.random.default_rng(seed).standard_normal(out.shape).astype(q.dtype)
    grads = K.attention_backward(q, k, v, out, lse, g, mask, causal, scale)
    rgrads = attention_backward_reference(*f64(q, k, v), ro, rl, g.astype(np.float64),
                                          f64(mask)[0], causal, scale)
    for a, b in zip(grads, rgrads):
        assert a.dtype == q.dtype
        assert_close(a, b, dt, loose)
    return out, lse, grads


# ---- values -----------------------------------------------------------------------------------

SHAPES = [  # B, H, Tq, Tk, d
    (1, 1, 1, 1, 1), (1, 1, 1, 7, 3), (2, 3, 5, 5, 1), (1, 2, 64, 64, 32), (2, 2, 65, 65, 64),
    (1, 1, 130, 130, 80), (3, 1, 17, 17, 3), (1, 1, 200, 70, 32), (1, 1, 7, 150, 64),
    (9, 5, 33, 33, 16)]


@native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference(shape, causal, dtype):
    B, H, Tq, Tk, d = shape
    run_both(*qkv(B, H, Tq, Tk, d, dtype), causal=causal)


@native
@pytest.mark.parametrize("mask_shape", [(70, 90), (1, 3, 1, 90), (2, 1, 70, 90), (2, 3, 70, 90),
                                        (90,), ()])
@pytest.mark.parametrize("causal", [False, True])
def test_additive_masks(mask_shape, causal):
    q, k, v = qkv(2, 3, 70, 90, 32)
    mask = rng.standard_normal(mask_shape).astype(np.float32) * 3
    run_both(q, k, v, mask, causal)


@native
def test_bool_mask_and_float64_mask_on_float32():
    q, k, v = qkv(2, 2, 40, 40, 8)
    keep = rng.random((40, 40)) < 0.7
    keep[:, 0] = True
    out, _ = K.attention_forward(q, k, v, keep)
    np.testing.assert_allclose(out, direct(q, k, v, keep), rtol=1e-4, atol=2e-5)
    add = np.where(keep, 0.0, -np.inf)  # float64 mask, cast to q's dtype
    out2, _ = K.attention_forward(q, k, v, add)
    np.testing.assert_array_equal(out, out2)


@native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_textbook_formula(causal, dtype):
    q, k, v = qkv(2, 2, 70, 70, 24, dtype)
    mask = rng.standard_normal((70, 70)).astype(dtype)
    out, _ = K.attention_forward(q, k, v, mask, causal, 0.3)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, direct(q, k, v, mask, causal, 0.3), rtol=tol * 10, atol=tol)


def test_reference_matches_textbook_formula():
    q, k, v = qkv(2, 3, 9, 11, 5, np.float64)
    np.testing.assert_allclose(attention_forward_reference(q, k, v)[0], direct(q, k, v),
                               rtol=1e-12)
    np.testing.assert_allclose(attention_forward_reference(q, k, v, causal=True)[0],
                               direct(q, k, v, causal=True), rtol=1e-12)


@native
@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 3), H=st.integers(1, 3), Tq=st.integers(1, 140), Tk=st.integers(1, 140),
       d=st.integers(1, 70), causal=st.booleans(), masked=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_hypothesis_shapes(B, H, Tq, Tk, d, causal, masked, dtype):
    q, k, v = qkv(B, H, Tq, Tk, d, dtype)
    mask = rng.standard_normal((1, H, Tq, Tk)).astype(dtype) if masked else None
    run_both(q, k, v, mask, causal)


@native
def test_many_heads():
    run_both(*qkv(16, 12, 20, 20, 8), causal=True)


# ---- masked rows, stability ----------------------------------------------------------------------

@native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fully_masked_rows_give_zero_not_nan(dtype):
    q, k, v = qkv(1, 2, 70, 70, 16, dtype)
    mask = np.zeros((70, 70), dtype)
    mask[[3, 66]] = -np.inf        # two query rows see nothing
    mask[:, 5] = -np.inf           # one key is seen by nobody
    out, lse, (dq, dk, dv) = run_both(q, k, v, mask, causal=True)
    assert np.all(out[:, :, [3, 66]] == 0) and np.all(lse[:, :, [3, 66]] == -np.inf)
    assert np.all(dq[:, :, [3, 66]] == 0)
    assert np.all(dk[:, :, 5] == 0) and np.all(dv[:, :, 5] == 0)
    for a in (out, dq, dk, dv):
        assert np.all(np.isfinite(a))


@native
@pytest.mark.parametrize("causal", [False, True])
def test_huge_scores_stay_finite(causal):
    q, k, v = qkv(2, 2, 70, 70, 8, np.float32)
    q *= 300  # scores of ±1000 and beyond
    # float32 scores of 1000 carry absolute errors ~1e-4: the problem, not the kernel, is
    # ill-conditioned, hence the looser tolerance; what matters is that nothing overflows.
    out, lse, grads = run_both(q, k, v, causal=causal, loose=20)
    for a in (out, lse, *grads):
        assert np.all(np.isfinite(a))
    mask = np.where(rng.random((70, 70)) < 0.5, 1000.0, -1000.0).astype(np.float32)
    out, lse, grads = run_both(*qkv(1, 1, 70, 70, 8), mask, causal, loose=20)
    for a in (out, lse, *grads):
        assert np.all(np.isfinite(a))


# ---- the op ------------------------------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_gradients_finite_differences(causal, with_mask, backend):
    if backend not in dm.available_backends():
        pytest.skip("native backend not built")
    q, k, v = qkv(1, 2, 4, 4, 3, np.float64)
    mask = rng.standard_normal((4, 4)) if with_mask else None
    old = dm.get_backend().name
    dm.set_backend(backend)
    try:
        check_grad(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask, causal),
                   q, k, v)
        check_grad(lambda a, b, c: scaled_dot_product_attention(a, b, c, scale=0.7),
                   *qkv(2, 1, 3, 5, 2, np.float64))
    finally:
        dm.set_backend(old)


def test_op_float32_and_partial_requires_grad():
    q, k, v = qkv(2, 2, 9, 9, 4)
    tq = dm.tensor(q, requires_grad=True)
    tk, tv = dm.tensor(k), dm.tensor(v, requires_grad=True)
    out = scaled_dot_product_attention(tq, tk, tv, causal=True)
    assert out.dtype == np.float32 and out.shape == q.shape
    out.sum().backward()
    assert tq.grad.dtype == np.float32 and tk.grad is None and tv.grad is not None
    ro, rl = attention_forward_reference(q, k, v, causal=True)
    np.testing.assert_allclose(out.data, ro, rtol=1e-4, atol=2e-5)
    dq, _, dv = attention_backward_reference(q, k, v, ro, rl, np.ones_like(ro), causal=True)
    np.testing.assert_allclose(tq.grad.data, dq, rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(tv.grad.data, dv, rtol=1e-4, atol=2e-5)


# ---- bad input, odd input ---------------------------------------------------------------------

FUNCS = [attention_forward_reference] + ([K.attention_forward] if K is not None else [])


@pytest.mark.parametrize("fwd", FUNCS)
def test_errors(fwd):
    q, k, v = qkv(2, 3, 5, 6, 4)
    with pytest.raises(ValueError, match="4 dimensions"):
        fwd(q[0], k[0], v[0])
    with pytest.raises(ValueError, match="do not match"):
        fwd(q, k[:, :2], v[:, :2])
    with pytest.raises(ValueError, match="do not match"):
        fwd(q, k[..., :3], v[..., :3])
    with pytest.raises(ValueError, match="do not match"):
        fwd(q, k, v[:, :, :5])
    with pytest.raises(TypeError):
        fwd(q, k.astype(np.float64), v)
    with pytest.raises(TypeError):
        fwd(q.astype(np.int32), k.astype(np.int32), v.astype(np.int32))
    with pytest.raises(TypeError):
        fwd(q.astype(np.complex64), k.astype(np.complex64), v.astype(np.complex64))
    with pytest.raises(ValueError, match="broadcast"):
        fwd(q, k, v, np.zeros((5, 5), np.float32))
    with pytest.raises(TypeError, match="mask"):
        fwd(q, k, v, np.zeros((5, 6), np.int64))


@native
def test_backward_errors():
    q, k, v = qkv(2, 3, 5, 6, 4)
    out, lse = K.attention_forward(q, k, v)
    with pytest.raises(ValueError, match="lse"):
        K.attention_backward(q, k, v, out, lse[..., :2], out)
    with pytest.raises(ValueError):
        K.attention_backward(q, k, v, out, lse, out[:, :, :3])
    with pytest.raises(TypeError):
        K.attention_backward(q, k, v, out, lse.astype(np.float64), out)
    with pytest.raises(TypeError):
        K.attention_backward(q, k, v, out, lse, [[1.0]])


@native
@pytest.mark.parametrize("shape", [(0, 2, 5, 6, 4), (2, 0, 5, 6, 4), (2, 2, 0, 6, 4),
                                   (2, 2, 5, 0, 4), (2, 2, 5, 6, 0)])
def test_zero_size(shape):
    B, H, Tq, Tk, d = shape
    q, k, v = qkv(B, H, Tq, Tk, d)
    out, lse = K.attention_forward(q, k, v, causal=True)
    ro, rl = attention_forward_reference(q, k, v, causal=True)
    assert out.shape == (B, H, Tq, d) and lse.shape == (B, H, Tq)
    np.testing.assert_allclose(out, ro)
    np.testing.assert_array_equal(lse, rl)
    if Tk == 0:
        assert np.all(out == 0) and np.all(lse == -np.inf)
    grads = K.attention_backward(q, k, v, out, lse, np.ones_like(out), causal=True)
    for g, a in zip(grads, (q, k, v)):
        assert g.shape == a.shape and np.all(np.isfinite(g))


@native
def test_huge_dims_zero_size():
    big = 2 ** 40  # would overflow int32 index arithmetic; zero-size so nothing is computed
    q = np.empty((0, 1, big, 4), np.float32)
    k = np.empty((0, 1, 3, 4), np.float32)
    out, lse = K.attention_forward(q, k, k)
    assert out.shape == (0, 1, big, 4) and lse.shape == (0, 1, big)


@native
def test_non_contiguous_and_negative_strides():
    q, k, v = qkv(2, 3, 40, 40, 16)
    qt = np.ascontiguousarray(q.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)  # (B, T, H, d) view
    kr = np.ascontiguousarray(k[:, :, ::-1])[:, :, ::-1]                       # negative stride
    v2 = np.repeat(v, 2, axis=3)[..., ::2]                                     # strided
    mask = np.asfortranarray(rng.standard_normal((40, 40)).astype(np.float32))
    assert not (qt.flags.c_contiguous or kr.flags.c_contiguous or v2.flags.c_contiguous)
    out, lse = K.attention_forward(qt, kr, v2, mask, True)
    ro, rl = K.attention_forward(q, k, v, np.ascontiguousarray(mask), True)
    np.testing.assert_array_equal(out, ro)
    g = np.ones_like(out)[:, :, ::-1]
    grads = K.attention_backward(qt, kr, v2, out, lse, g, mask, True)
    for a, b in zip(grads, K.attention_backward(q, k, v, ro, rl, np.ones_like(ro), mask, True)):
        np.testing.assert_array_equal(a, b)


# ---- threads, memory -------------------------------------------------------------------------------

@native
@pytest.mark.parametrize("shape", [(1, 1, 200, 200, 32), (4, 3, 130, 130, 64)])
@pytest.mark.parametrize("causal", [False, True])
def test_reproducible_and_thread_count_independent(shape, causal):
    B, H, Tq, Tk, d = shape
    q, k, v = qkv(B, H, Tq, Tk, d)
    mask = rng.standard_normal((Tq, Tk)).astype(np.float32)
    g = rng.standard_normal(q.shape).astype(np.float32)
    old = dm.get_num_threads()
    results = []
    try:
        for n in (1, 2, 2):
            dm.set_num_threads(n)
            out, lse = K.attention_forward(q, k, v, mask, causal)
            results.append([out, lse, *K.attention_backward(q, k, v, out, lse, g, mask, causal)])
    finally:
        dm.set_num_threads(old)
    # Every output element is computed by one thread in a fixed order: same bits for any
    # thread count (the two schedules of the backward pass visit tiles in the same order).
    for a, b, c in zip(*results):
        assert a.tobytes() == b.tobytes() == c.tobytes()


@native
def test_backward_does_not_allocate_scores():
    T, d = 768, 32
    q, k, v = qkv(1, 1, T, T, d)
    out, lse = K.attention_forward(q, k, v, causal=True)
    g = np.ones_like(out)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        K.attention_backward(q, k, v, out, lse, g, causal=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # dq, dk, dv are 3·T·d floats; one T×T score matrix alone would be 8 times that.
    assert peak < 3 * T * d * 4 + T * T * 4 // 2


@native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_propagates(dtype):
    q, k, v = qkv(1, 1, 70, 70, 8, dtype)
    q[0, 0, 3, 1] = np.nan
    out, lse = K.attention_forward(q, k, v)
    ro, rl = attention_forward_reference(q, k, v)
    assert np.all(np.isnan(out[0, 0, 3])) and np.isnan(lse[0, 0, 3])
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ro))
    grads = K.attention_backward(q, k, v, out, lse, np.ones_like(out))
    assert np.all(np.isnan(grads[0][0, 0, 3]))


# ---- inner-loop paths -----------------------------------------------------------------------

FORCED = os.environ.get("DEEPMATH_ATTENTION_KERNEL")


@native
def test_path_is_the_fastest_the_cpu_runs():
    f = K.cpu_features()
    best = ("avx512" if f["avx512f"] else "avx2") if f["avx2"] and f["fma"] else "portable"
    if best == "avx512" and FORCED in ("avx2", "portable"):
        best = FORCED
    elif best == "avx2" and FORCED == "portable":
        best = FORCED
    assert K.attention_path() == best


@native
@pytest.mark.skipif(FORCED is not None, reason="already in a forced-path run")
@pytest.mark.parametrize("path", ["avx2", "portable"])
def test_forced_path_passes_this_file(path):
    """DEEPMATH_ATTENTION_KERNEL=avx2|portable in a fresh interpreter: every test of this file
    (accuracy, masks, stability, reproducibility, memory) on the slower float32 paths too."""
    env = dict(os.environ, DEEPMATH_ATTENTION_KERNEL=path)
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          os.path.abspath(__file__)], cwd=here, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
