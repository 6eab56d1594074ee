"""Layer-normalization kernels (src/_kernels/dm_norm.c) against their NumPy references
(deepmath/backend/norm.py): odd shapes, no scale/shift, constant rows, float64 finite
differences through ops.layer_norm, bitwise reproducibility across thread counts, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import deepmath as dm
from deepmath import ops
from deepmath.backend import norm
from deepmath.backend._native_import import kernels
from gradcheck import check_grad

pytestmark = pytest.mark.skipif(kernels is None, reason="deepmath._kernels not built")

REF_F, REF_B = norm.layer_norm_forward_reference, norm.layer_norm_backward_reference


def tol(dtype):
    return {"rtol": 2e-5, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-11, "atol": 1e-12}


def case(shape, dtype, seed=0, affine=(True, True)):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    c = shape[-1]
    gamma = (rng.standard_normal(c) + 1).astype(dtype) if affine[0] else None
    beta = rng.standard_normal(c).astype(dtype) if affine[1] else None
    grad = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, grad


def check(shape, dtype, affine=(True, True), eps=1e-5):
    x, gamma, beta, grad = case(shape, dtype, affine=affine)
    y, mean, rstd = kernels.layer_norm_forward(x, gamma, beta, eps)
    ry, rmean, rrstd = REF_F(x, gamma, beta, eps)
    assert y.dtype == mean.dtype == rstd.dtype == dtype
    assert y.shape == shape and mean.shape == rstd.shape == shape[:-1]
    np.testing.assert_allclose(y, ry, **tol(dtype))
    np.testing.assert_allclose(mean, rmean, **tol(dtype))
    np.testing.assert_allclose(rstd, rrstd, **tol(dtype))
    got = kernels.layer_norm_backward(x, gamma, mean, rstd, grad, True, gamma is not None,
                                      beta is not None)
    want = REF_B(x, gamma, rmean, rrstd, grad, True, gamma is not None, beta is not None)
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if g is not None:
            scale = max(1.0, float(np.abs(w).max()))
            np.testing.assert_allclose(g, w, rtol=tol(dtype)["rtol"],
                                       atol=tol(dtype)["atol"] * scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (3, 8), (5, 9), (2, 3, 17), (64, 128),
                                   (768, 128), (33, 1000), (4000, 17)])
def test_matches_reference(shape, dtype):
    check(shape, dtype)


@pytest.mark.parametrize("affine", [(False, False), (True, False), (False, True)])
def test_without_scale_or_shift(affine):
    check((37, 23), np.float32, affine)
    check((37, 23), np.float64, affine)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 70), cols=st.integers(1, 70), f64=st.booleans(),
       eps=st.sampled_from([1e-5, 1e-3, 0.0]))
def test_random_shapes(rows, cols, f64, eps):
    x, *_ = case((rows, cols), np.float64)
    if cols > 1 and np.ptp(x, axis=-1).min() > 1e-3:  # eps = 0 needs non-constant rows
        check((rows, cols), np.float64 if f64 else np.float32, eps=eps)


def test_constant_rows_give_beta():
    x = np.full((4, 6), 3.5, np.float32)
    beta = np.arange(6, dtype=np.float32)
    y, mean, rstd = kernels.layer_norm_forward(x, np.ones(6, np.float32), beta, 1e-5)
    np.testing.assert_array_equal(y, np.broadcast_to(beta, (4, 6)))
    np.testing.assert_array_equal(mean, 3.5)
    np.testing.assert_allclose(rstd, 1 / np.sqrt(1e-5), rtol=1e-6)


def test_zero_rows_and_views():
    y, mean, rstd = kernels.layer_norm_forward(np.zeros((0, 5), np.float32))
    assert y.shape == (0, 5) and mean.shape == (0,)
    x, gamma, beta, _ = case((8, 10), np.float64)
    view = x[:, ::2]                      # not contiguous: copied, same values
    np.testing.assert_allclose(kernels.layer_norm_forward(view, gamma[:5], beta[:5])[0],
                               REF_F(view, gamma[:5], beta[:5])[0], rtol=1e-12)


def test_bitwise_identical_for_any_thread_count():
    x, gamma, beta, grad = case((3000, 96), np.float32, seed=3)   # above DM_PARALLEL_MIN
    before = dm.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            dm.set_num_threads(threads)
            y, mean, rstd = kernels.layer_norm_forward(x, gamma, beta, 1e-5)
            results.append((y, mean, rstd) + kernels.layer_norm_backward(x, gamma, mean, rstd,
                                                                          grad))
    finally:
        dm.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a.tobytes() == b.tobytes()


def test_gradients_by_finite_differences():
    """float64 through ops.layer_norm (the native kernels), against central differences."""
    rng = np.random.default_rng(5)
    check_grad(lambda x, g, b: ops.layer_norm(x, g, b, epsilon=1e-5),
               rng.standard_normal((3, 4, 6)), rng.standard_normal(6) + 1,
               rng.standard_normal(6), rtol=1e-6)


def test_bad_input():
    x = np.ones((4, 5), np.float32)
    with pytest.raises(TypeError, match="dtype"):
        kernels.layer_norm_forward(x.astype(np.int32))
    with pytest.raises(TypeError, match="gamma.*dtype"):
        kernels.layer_norm_forward(x, np.ones(5, np.float64))
    with pytest.raises(ValueError, match=r"gamma has shape \(4,\); expected \(5,\)"):
        kernels.layer_norm_forward(x, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="non-empty last axis"):
        kernels.layer_norm_forward(np.ones((3, 0), np.float32))
    with pytest.raises(ValueError, match="epsilon"):
        kernels.layer_norm_forward(x, epsilon=-1.0)
    y, mean, rstd = kernels.layer_norm_forward(x)
    with pytest.raises(ValueError, match="grad has shape"):
        kernels.layer_norm_backward(x, None, mean, rstd, np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match="mean has shape"):
        kernels.layer_norm_backward(x, None, mean[:2], rstd, x)
    with pytest.raises(TypeError, match="must be a numpy.ndarray"):
        kernels.layer_norm_forward([[1.0, 2.0]])
