"""The families' REFERENCE kernels are array-generic (issue 8): the GPU backend runs them with
`xp = cupy`. Here tests/fakecupy.py stands in for CuPy: every kernel, called with device arrays,
must compute on the device (a host array mixed in raises TypeError there, as in CuPy) and give
a device array of the NumPy result's dtype and values, bit for bit."""
import itertools

import numpy as np
import pytest

from deepmath.backend import attention, conv, fused, gemm, norm, pool

FAMILIES = (gemm, conv, pool, attention, fused, norm)
FLOATS = (np.float32, np.float64)
IN_PLACE = ("adam_update", "sgd_momentum_update")


def _rand(rng, dtype, *shape):
    return rng.standard_normal(shape).astype(dtype)


# ---- the calls to make: name -> [(args, kwargs)], covering each kernel's options ---------------

def _gemm_cases(rng, dt):
    x, w, b = _rand(rng, dt, 2, 3, 4), _rand(rng, dt, 4, 5), _rand(rng, dt, 5)
    yield "matmul", (x, w), {}
    yield "matmul", (_rand(rng, dt, 4), _rand(rng, dt, 2, 4, 3)), {}
    for act in gemm.ACTIVATIONS:
        yield "dense_forward", (x, w, b, act), {}
        yield "dense_forward", (x, w), {"activation": act}
        z = np.matmul(x, w) + b
        saved = z if act in gemm.SAVES_PREACT else gemm.dense_forward_reference(x, w, b, act)
        grad = _rand(rng, dt, 2, 3, 5)
        for need_dx, need_db in itertools.product((True, False), repeat=2):
            yield "dense_backward", (x, w, saved, grad, act, need_dx, need_db), {}


def _conv_cases(rng, dt):
    x, w, b = _rand(rng, dt, 2, 7, 6, 3), _rand(rng, dt, 3, 2, 3, 4), _rand(rng, dt, 4)
    geometries = [dict(strides=s, padding=p, dilation=d)
                  for s, p, d in itertools.product((1, (2, 1)), ("valid", "same", 1,
                                                                 ((1, 0), (2, 1))), (1, 2))]
    for geo in geometries:
        yield "conv2d_forward", (x, w, b), geo
    for act in conv.ACTIVATIONS:
        yield "conv2d_forward", (x, w, None), dict(activation=act, padding="same")
    geo = dict(strides=(2, 1), padding="same", dilation=(1, 2))
    for act in conv.ACTIVATIONS:
        saved = conv.conv2d_forward_reference(
            x, w, b, activation=None if act in ("gelu", "gelu_tanh") else act, **geo)
        grad = _rand(rng, dt, *saved.shape)
        for need in itertools.product((True, False), repeat=3):
            yield "conv2d_backward", (x, w, saved, grad), dict(activation=act, need=need, **geo)
    for geo in geometries[::3]:
        out = conv.conv2d_forward_reference(x, w, **geo)
        yield "conv2d_backward", (x, w, out, _rand(rng, dt, *out.shape)), geo


def _pool_cases(rng, dt):
    x = _rand(rng, dt, 2, 7, 6, 3)
    ties = np.round(x)                                   # ties go to the first maximum
    ties[0, 1, 2, 0] = ties[1, 4, 4, 2] = np.nan         # NaN propagates
    for size, strides, padding in itertools.product((2, (3, 2)), (None, 1, (2, 3)),
                                                    ("valid", "same")):
        geo = dict(pool_size=size, strides=strides, padding=padding)
        for inp in (x, ties):
            yield "max_pool2d_forward", (inp,), geo
            yield "avg_pool2d_forward", (inp,), geo
        y, arg = pool.max_pool2d_forward_reference(x, **geo)
        grad = _rand(rng, dt, *y.shape)
        yield "max_pool2d_backward", (x.shape, arg, grad), geo
        yield "avg_pool2d_backward", (x.shape, grad), geo


def _attention_cases(rng, dt):
    q, k, v = _rand(rng, dt, 2, 3, 5, 4), _rand(rng, dt, 2, 3, 6, 4), _rand(rng, dt, 2, 3, 6, 4)
    keep = rng.random((2, 1, 5, 6)) > 0.3
    keep[0, 0, 1] = False                                # a fully masked row: out 0, lse -inf
    masks = (None, _rand(rng, dt, 5, 6), keep)
    for mask, causal, scale in itertools.product(masks, (False, True), (None, 0.3)):
        kw = dict(mask=mask, causal=causal, scale=scale)
        yield "attention_forward", (q, k, v), kw
        out, lse = attention.attention_forward_reference(q, k, v, **kw)
        yield "attention_backward", (q, k, v, out, lse, _rand(rng, dt, *out.shape)), kw
    yield "attention_forward", (q, q, q), dict(causal=True)


def _fused_cases(rng, dt):
    x, grad = _rand(rng, dt, 3, 4, 5) * 3, _rand(rng, dt, 3, 4, 5)
    for name in ("relu", "sigmoid", "tanh", "softplus", "softmax", "log_softmax"):
        yield name, (x,), {}
        y = x if name in ("relu", "softplus") else fused.REFERENCE[name](x)
        yield name + "_backward", (y, grad), {}
    yield "softmax", (_rand(rng, dt, 3, 0),), {}
    yield "log_softmax", (_rand(rng, dt, 3, 0),), {}
    for approximate in (False, True, "tanh", "none"):
        yield "gelu", (x,), dict(approximate=approximate)
        yield "gelu_backward", (x, grad), dict(approximate=approximate)
    for slope in (0.01, 0.3):
        yield "leaky_relu", (x, slope), {}
        yield "leaky_relu_backward", (x, grad), dict(negative_slope=slope)
    z, g = _rand(rng, dt, 3, 4, 5), _rand(rng, dt, 3, 4)
    for labels in (rng.integers(0, 5, (3, 4)), rng.integers(0, 5, (3, 4)).astype(np.int32)):
        yield "sparse_softmax_cross_entropy", (z, labels), {}
        _, lse = fused.sparse_softmax_cross_entropy_reference(z, labels)
        yield "sparse_softmax_cross_entropy_backward", (z, labels, lse, g), {}
    soft = fused.softmax_reference(_rand(rng, dt, 3, 4, 5))
    for targets in (np.eye(5, dtype=dt)[rng.integers(0, 5, (3, 4))], soft, 2 * soft):
        yield "softmax_cross_entropy", (z, targets), {}
        _, lse = fused.softmax_cross_entropy_reference(z, targets)
        yield "softmax_cross_entropy_backward", (z, targets, lse, g), {}


def _norm_cases(rng, dt):
    x, gamma, beta = _rand(rng, dt, 2, 3, 8), _rand(rng, dt, 8), _rand(rng, dt, 8)
    for g, b in ((gamma, beta), (None, None), (gamma, None), (None, beta)):
        yield "layer_norm_forward", (x, g, b), {}
        _, mean, rstd = norm.layer_norm_forward_reference(x, g, b, 1e-3)
        for need in itertools.product((True, False), repeat=3):
            yield "layer_norm_backward", (x, g, mean, rstd, _rand(rng, dt, *x.shape), *need), {}


def _cases(dtype):
    rng = np.random.default_rng(8)
    cases = {}
    for family in (_gemm_cases, _conv_cases, _pool_cases, _attention_cases, _fused_cases,
                   _norm_cases):
        for name, args, kwargs in family(rng, dtype):
            cases.setdefault(name, []).append((args, kwargs))
    return cases


# ---- comparison ------------------------------------------------------------------------------

def _device(fake_gpu, value):
    return fake_gpu.asarray(value) if isinstance(value, np.ndarray) else value


def assert_same(fake_gpu, got, want):
    """`got` (from device inputs) holds device arrays equal to the NumPy results `want`."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(fake_gpu, g, w)
    elif want is None:
        assert got is None
    else:
        assert type(want) is np.ndarray
        assert isinstance(got, fake_gpu.ndarray), type(got)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(fake_gpu.asnumpy(got), want, strict=True)


# ---- tests -----------------------------------------------------------------------------------

def test_every_reference_kernel_is_covered():
    names = {name for family in FAMILIES for name in family.REFERENCE}
    assert set(_cases(np.float32)) | set(IN_PLACE) == names


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", sorted(_cases(np.float32)))
def test_reference_on_device_arrays(fake_gpu, name, dtype):
    function = next(f.REFERENCE[name] for f in FAMILIES if name in f.REFERENCE)
    for args, kwargs in _cases(dtype)[name]:
        want = function(*args, **kwargs)
        got = function(*(_device(fake_gpu, a) for a in args),
                       **{k: _device(fake_gpu, v) for k, v in kwargs.items()})
        assert_same(fake_gpu, got, want)


def _updated(function, arrays, steps):
    """Runs the in-place update over `steps` (each: args after the arrays, kwargs)."""
    param, grads, *state = arrays
    for grad, (args, kwargs) in zip(grads, steps):
        assert function(param, grad, *state, *args, **kwargs) is None
    return (param, *state)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("weight_decay", (0.0, 0.01))
def test_adam_update_on_device_arrays(fake_gpu, dtype, weight_decay):
    rng = np.random.default_rng(1)
    param, m = _rand(rng, dtype, 4, 5), _rand(rng, dtype, 4, 5)
    v = rng.random((4, 5)).astype(dtype)
    grads = [_rand(rng, dtype, 4, 5) for _ in range(3)]
    steps = [((1e-2, 0.9, 0.999, 1e-7, t), dict(weight_decay=weight_decay)) for t in (1, 2, 3)]
    host = _updated(fused.adam_update_reference, [param.copy(), grads, m.copy(), v.copy()], steps)
    dev = [fake_gpu.asarray(a) for a in (param, m, v)]
    dev = _updated(fused.adam_update_reference,
                   [dev[0], [fake_gpu.asarray(g) for g in grads], *dev[1:]], steps)
    assert_same(fake_gpu, dev, host)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_momentum_update_on_device_arrays(fake_gpu, dtype, momentum, nesterov):
    rng = np.random.default_rng(2)
    param, velocity = _rand(rng, dtype, 4, 5), _rand(rng, dtype, 4, 5)
    grads = [_rand(rng, dtype, 4, 5) for _ in range(3)]
    steps = [((0.1, momentum, nesterov), {})] * 3
    host = _updated(fused.sgd_momentum_update_reference, [param.copy(), grads, velocity.copy()],
                    steps)
    dev = _updated(fused.sgd_momentum_update_reference,
                   [fake_gpu.asarray(param), [fake_gpu.asarray(g) for g in grads],
                    fake_gpu.asarray(velocity)], steps)
    assert_same(fake_gpu, dev, host)
    if momentum == 0:   # no velocity at all
        host = _updated(fused.sgd_momentum_update_reference, [param.copy(), grads, None], steps)
        dev = _updated(fused.sgd_momentum_update_reference,
                       [fake_gpu.asarray(param), [fake_gpu.asarray(g) for g in grads], None],
                       steps)
        assert_same(fake_gpu, dev[0], host[0])


def test_in_place_updates_check_device_arrays(fake_gpu):
    param, grad = fake_gpu.asarray(np.ones((4, 5))), fake_gpu.asarray(np.ones((4, 5)))
    with pytest.raises(TypeError, match="m must be a fakecupy.ndarray"):
        fused.adam_update_reference(param, grad, np.zeros((4, 5)), fake_gpu.zeros((4, 5)),
                                    1e-3, 0.9, 0.999, 1e-7, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        fused.sgd_momentum_update_reference(param, grad, fake_gpu.zeros((5, 4)).T, 0.1, 0.9)


def test_labels_out_of_range_on_device(fake_gpu):
    z = fake_gpu.asarray(np.zeros((3, 4)))
    for bad, label in ((np.array([0, 4, 1]), 4), (np.array([0, -1, 1]), -1)):
        with pytest.raises(ValueError, match=f"label {label} is out of range for 4 classes"):
            fused.sparse_softmax_cross_entropy_reference(z, fake_gpu.asarray(bad))


def test_host_array_mixed_with_device_arrays_raises(fake_gpu):
    """The stand-in is strict, as CuPy: a NumPy array among device arrays is a TypeError."""
    rng = np.random.default_rng(3)
    x, w = _rand(rng, np.float32, 2, 4), _rand(rng, np.float32, 4, 3)
    with pytest.raises(TypeError, match="NumPy array mixed with device arrays"):
        gemm.dense_forward_reference(fake_gpu.asarray(x), w)
    with pytest.raises(TypeError, match="NumPy array mixed with device arrays"):
        fused.relu_backward_reference(fake_gpu.asarray(x), x)
    with pytest.raises(TypeError, match="NumPy array mixed with device arrays"):
        conv.conv2d_forward_reference(fake_gpu.asarray(np.zeros((1, 3, 3, 4), np.float32)),
                                      np.zeros((2, 2, 4, 1), np.float32))
    y, arg = pool.max_pool2d_forward_reference(np.zeros((1, 4, 4, 1)))
    with pytest.raises(TypeError, match="argmax must be"):
        pool.max_pool2d_backward_reference((1, 4, 4, 1), arg, fake_gpu.asarray(y))
