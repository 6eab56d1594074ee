"""Optimizers, losses and metrics on the GPU (issue 8), tested with NumPy standing in for CuPy
(the `fake_gpu` fixture, tests/fakecupy.py): the values on device arrays are the CPU's, the
optimizers' slots stay on their variable's device, checkpoints hold NumPy arrays, and mixing
the devices raises an error naming both."""
import numpy as np
import pytest

import deepmath as dm
import fakecupy
from deepmath import losses as L, metrics as M, optimizers as O
from deepmath.backend import CupyBackend, is_device_array


@pytest.fixture(params=["cuda_kernels", "array_code"])
def gpu(request, fake_gpu, monkeypatch):
    """The fake GPU with the optimizer steps run by the CUDA kernels (on the CPU emulator when
    the conftest offers it), then by the array code alone (the module without RawModule)."""
    if request.param == "array_code":
        monkeypatch.delattr(fake_gpu, "RawModule", raising=False)
        monkeypatch.setattr(CupyBackend, "instance", None)
    return fake_gpu


# ---- optimizers ------------------------------------------------------------------------------
K0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
B0 = np.array([0.1, -0.2, 0.3])
TK = np.array([[-1.0, 0.5, 1.0], [0.0, 2.0, -2.0]])
TB = np.array([1.0, 0.0, -1.0])

OPTIMIZERS = {
    "sgd": ("SGD", dict(learning_rate=0.1)),
    "sgd_momentum": ("SGD", dict(learning_rate=0.1, momentum=0.9)),
    "sgd_nesterov": ("SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": ("SGD", dict(learning_rate=0.1, momentum=0.5, weight_decay=0.2)),
    "sgd_decay": ("SGD", dict(learning_rate=0.1, decay=0.1)),
    "adam": ("Adam", dict(learning_rate=0.1)),
    "adam_amsgrad": ("Adam", dict(learning_rate=0.1, amsgrad=True)),
    "adam_amsgrad_weight_decay": ("Adam", dict(learning_rate=0.1, amsgrad=True,
                                               weight_decay=0.1)),
    "adam_weight_decay": ("Adam", dict(learning_rate=0.1, beta_1=0.8, weight_decay=0.1)),
    "adamw": ("AdamW", dict(learning_rate=0.1, weight_decay=0.1)),
    "rmsprop": ("RMSprop", dict(learning_rate=0.1)),
    "rmsprop_momentum": ("RMSprop", dict(learning_rate=0.1, momentum=0.5)),
    "rmsprop_centered": ("RMSprop", dict(learning_rate=0.1, centered=True)),
    "rmsprop_centered_momentum": ("RMSprop", dict(learning_rate=0.1, rho=0.8, momentum=0.5,
                                                  centered=True, weight_decay=0.05)),
    "adagrad": ("Adagrad", dict(learning_rate=0.1)),
    "adadelta": ("Adadelta", dict(learning_rate=1.0, weight_decay=0.1)),
    "adam_clipnorm": ("Adam", dict(learning_rate=0.1, clipnorm=0.5)),
    "sgd_momentum_clipnorm": ("SGD", dict(learning_rate=0.1, momentum=0.9, clipnorm=0.5)),
    "rmsprop_clipnorm_large": ("RMSprop", dict(learning_rate=0.1, clipnorm=100.0)),
    "adam_global_clipnorm": ("Adam", dict(learning_rate=0.1, global_clipnorm=0.5)),
    "adagrad_global_clipnorm": ("Adagrad", dict(learning_rate=0.1, global_clipnorm=0.7)),
    "sgd_global_clipnorm_large": ("SGD", dict(learning_rate=0.1, global_clipnorm=100.0)),
    "adamw_clipvalue": ("AdamW", dict(learning_rate=0.1, clipvalue=0.3)),
    "adadelta_clipvalue": ("Adadelta", dict(learning_rate=1.0, clipvalue=0.3)),
    "adam_loss_scale": ("Adam", dict(learning_rate=0.1, loss_scale_factor=4.0)),
}


def _grad(x, target):
    return x - target + 0.5 * np.sin(3 * x)


def _variables(dtype, device_module=None):
    arrays = [K0.astype(dtype), B0.astype(dtype)]
    if device_module is not None:
        arrays = [device_module.asarray(a) for a in arrays]
    return [dm.Tensor(a, requires_grad=True, name=n) for a, n in zip(arrays, ("kernel", "bias"))]


def _steps(opt, vs, n, gpu=None, grads_on_host=False):
    """n steps; the gradients are computed on the host and given on the variables' device.
    `grads_on_host`: the host copy of a fake device array is its NumPy view (no .get(), so
    that `fakecupy.NoReadBack` checks the optimizer alone)."""
    for _ in range(n):
        if grads_on_host:
            hosts = [np.asarray(v.data.view(np.ndarray)) for v in vs]
        else:
            hosts = [dm.backend.to_numpy(v.data) for v in vs]
        grads = [_grad(h, t).astype(v.dtype) for h, v, t in zip(hosts, vs, (TK, TB))]
        if gpu is not None:
            grads = [gpu.asarray(g) for g in grads]
        opt.apply(grads, vs)


def _make(case):
    cls, kwargs = OPTIMIZERS[case]
    return getattr(O, cls)(**kwargs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(OPTIMIZERS))
def test_optimizer_on_device_matches_cpu(gpu, case, dtype):
    fake_gpu = gpu
    cpu_opt, gpu_opt = _make(case), _make(case)
    cpu_vars, gpu_vars = _variables(dtype), _variables(dtype, fake_gpu)
    _steps(cpu_opt, cpu_vars, 3)
    _steps(gpu_opt, gpu_vars, 1, fake_gpu)
    with fakecupy.NoReadBack():          # a step never waits for the device
        _steps(gpu_opt, gpu_vars, 2, fake_gpu, grads_on_host=True)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    for c, g in zip(cpu_vars, gpu_vars):
        assert is_device_array(g.data) and g.device == "gpu" and g.dtype == dtype
        np.testing.assert_allclose(fake_gpu.asnumpy(g.data), c.data, rtol=rtol, atol=1e-7)
    # the slots live on the variable's device, with the CPU's values
    for (cv, c_slots, _), (gv, g_slots, _) in zip(cpu_opt._state.values(),
                                                  gpu_opt._state.values()):
        assert len(c_slots) == len(g_slots)
        for a, b in zip(c_slots, g_slots):
            assert is_device_array(b) and b.dtype == dtype
            np.testing.assert_allclose(fake_gpu.asnumpy(b), a, rtol=rtol, atol=1e-7)
    # get_state returns NumPy arrays (a checkpoint loads on a CPU-only machine)
    state = gpu_opt.get_state()
    cpu_state = cpu_opt.get_state()
    assert state["iterations"] == 3
    for slots, cpu_slots in zip(state["slots"], cpu_state["slots"]):
        assert sorted(slots) == sorted(cpu_slots)
        for name, a in slots.items():
            assert type(a) is np.ndarray
            np.testing.assert_allclose(a, cpu_slots[name], rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("case", ["sgd_momentum", "adam", "adam_amsgrad",
                                  "rmsprop_centered_momentum", "adagrad", "adadelta",
                                  "adam_global_clipnorm"])
def test_optimizer_state_round_trip_across_devices(gpu, case):
    """A state saved on the GPU restores on the GPU and on the CPU (and back), and training
    continues as if it had not stopped."""
    fake_gpu = gpu
    reference, ref_vars = _make(case), _variables(np.float32, fake_gpu)
    _steps(reference, ref_vars, 4, fake_gpu)

    first, vs = _make(case), _variables(np.float32, fake_gpu)
    _steps(first, vs, 2, fake_gpu)
    state = first.get_state()
    # resumed on the GPU
    resumed, gpu_vars = _make(case), [dm.Tensor(fake_gpu.asarray(v.numpy()), requires_grad=True)
                                      for v in vs]
    resumed.set_state(state, gpu_vars)
    for _, slots, _ in resumed._state.values():
        assert all(is_device_array(s) for s in slots)
    _steps(resumed, gpu_vars, 2, fake_gpu)
    # resumed on the CPU
    on_cpu, cpu_vars = _make(case), [dm.Tensor(v.numpy(), requires_grad=True) for v in vs]
    on_cpu.set_state(state, cpu_vars)
    for _, slots, _ in on_cpu._state.values():
        assert all(type(s) is np.ndarray for s in slots)
    _steps(on_cpu, cpu_vars, 2)
    for r, g, c in zip(ref_vars, gpu_vars, cpu_vars):
        np.testing.assert_allclose(fake_gpu.asnumpy(g.data), r.numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(c.data, r.numpy(), rtol=1e-6, atol=1e-7)
    # a CPU state restores on the GPU
    back, back_vars = _make(case), [dm.Tensor(fake_gpu.asarray(v.data), requires_grad=True)
                                    for v in cpu_vars]
    back.set_state(on_cpu.get_state(), back_vars)
    for (_, a, _), (_, b, _) in zip(on_cpu._state.values(), back._state.values()):
        for x, y in zip(a, b):
            assert is_device_array(y)
            np.testing.assert_array_equal(fake_gpu.asnumpy(y), x)
    # set_state also accepts device arrays (moved where each variable lives)
    device_state = {**state, "slots": [{n: fake_gpu.asarray(a) for n, a in slots.items()}
                                       for slots in state["slots"]]}
    again, again_vars = _make(case), [dm.Tensor(v.numpy(), requires_grad=True) for v in vs]
    again.set_state(device_state, again_vars)
    for _, slots, _ in again._state.values():
        assert all(type(s) is np.ndarray for s in slots)


def test_gradient_given_as_tensor_or_list_on_device(fake_gpu):
    opt, vs = O.SGD(0.1), _variables(np.float32, fake_gpu)
    opt.apply([dm.Tensor(fake_gpu.asarray(np.ones((2, 3), np.float32))),
               [1.0, 1.0, 1.0]], vs)       # a list (on no device) goes to the variable's
    np.testing.assert_allclose(vs[0].numpy(), (K0 - 0.1).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(vs[1].numpy(), (B0 - 0.1).astype(np.float32), rtol=1e-6)
    # a float64 device gradient is cast on the device
    opt.apply([fake_gpu.asarray(np.ones((2, 3))), fake_gpu.asarray(np.ones(3))], vs)
    assert is_device_array(vs[0].data) and vs[0].dtype == np.float32


@pytest.mark.parametrize("make", [lambda: O.Adam(0.1), lambda: O.RMSprop(0.1),
                                  lambda: O.SGD(0.1, momentum=0.9)])
def test_cpu_gradient_for_gpu_variable_raises_naming_both_devices(fake_gpu, make):
    opt, vs = make(), _variables(np.float32, fake_gpu)
    before = [v.numpy() for v in vs]
    with pytest.raises(ValueError, match=r"(?s)gradient of 'kernel'.*cpu.*gpu"):
        opt.apply([np.ones((2, 3), np.float32), fake_gpu.asarray(np.ones(3, np.float32))], vs)
    with pytest.raises(ValueError, match=r"(?s)cpu.*gpu"):
        opt.apply([dm.Tensor(np.ones((2, 3), np.float32)),
                   fake_gpu.asarray(np.ones(3, np.float32))], vs)
    for v, b in zip(vs, before):
        np.testing.assert_array_equal(v.numpy(), b)   # nothing updated
    assert opt.iterations == 0


def test_gpu_gradient_for_cpu_variable_raises_naming_both_devices(fake_gpu):
    opt, vs = O.Adam(0.1), _variables(np.float32)
    with pytest.raises(ValueError, match=r"(?s)gradient of 'kernel'.*gpu.*cpu"):
        opt.apply([fake_gpu.asarray(np.ones((2, 3), np.float32)), np.ones(3, np.float32)], vs)


def test_global_clipnorm_over_two_devices_raises(fake_gpu):
    opt = O.SGD(0.1, global_clipnorm=1.0)
    vs = [_variables(np.float32)[0], _variables(np.float32, fake_gpu)[1]]
    with pytest.raises(ValueError, match=r"cpu and the gpu"):
        opt.apply([np.ones((2, 3), np.float32), fake_gpu.asarray(np.ones(3, np.float32))], vs)


def test_clipnorm_nan_and_inf_norms_as_on_cpu(fake_gpu):
    for kwargs in (dict(global_clipnorm=1.0), dict(clipnorm=1.0)):
        for bad in (np.nan, np.inf):
            g = np.array([[1.0, bad, 2.0], [0.5, 0.5, 0.5]], np.float32)
            cpu_opt, gpu_opt = O.SGD(0.1, **kwargs), O.SGD(0.1, **kwargs)
            cpu_vars, gpu_vars = _variables(np.float32), _variables(np.float32, fake_gpu)
            with np.errstate(invalid="ignore"):
                cpu_opt.apply([g, np.ones(3, np.float32)], cpu_vars)
                gpu_opt.apply([fake_gpu.asarray(g), fake_gpu.asarray(np.ones(3, np.float32))],
                              gpu_vars)
            for c, d in zip(cpu_vars, gpu_vars):
                np.testing.assert_array_equal(d.numpy(), c.data)


# ---- losses ----------------------------------------------------------------------------------
_RNG = np.random.default_rng(8)
N, C = 6, 4
PROBS = _RNG.dirichlet(np.ones(C), size=N)
LOGITS = _RNG.normal(size=(N, C))
LABELS = np.array([0, 3, 1, 2, 2, 0])
ONE_HOT = np.eye(C)[LABELS]
BINARY_PROBS = _RNG.uniform(0.05, 0.95, size=(N, 1))
BINARY_LOGITS = _RNG.normal(size=(N, 1))
BINARY_LABELS = (_RNG.uniform(size=(N, 1)) > 0.5).astype(np.float64)
REGRESSION_TRUE = _RNG.normal(size=(N, 3))
REGRESSION_PRED = REGRESSION_TRUE + _RNG.normal(scale=2.0, size=(N, 3))
WEIGHTS = _RNG.uniform(0.0, 2.0, size=N)

# (name, loss callable, y_true, y_pred): the public classes and functions of deepmath.losses
LOSS_CASES = [
    ("MeanSquaredError", L.MeanSquaredError(), REGRESSION_TRUE, REGRESSION_PRED),
    ("MeanAbsoluteError", L.MeanAbsoluteError(), REGRESSION_TRUE, REGRESSION_PRED),
    ("MeanSquaredLogarithmicError", L.MeanSquaredLogarithmicError(), np.abs(REGRESSION_TRUE),
     np.abs(REGRESSION_PRED)),
    ("MeanAbsolutePercentageError", L.MeanAbsolutePercentageError(), REGRESSION_TRUE,
     REGRESSION_PRED),
    ("Huber", L.Huber(delta=0.8), REGRESSION_TRUE, REGRESSION_PRED),
    ("BinaryCrossentropy", L.BinaryCrossentropy(), BINARY_LABELS, BINARY_PROBS),
    ("BinaryCrossentropy_logits_smoothing",
     L.BinaryCrossentropy(from_logits=True, label_smoothing=0.1), BINARY_LABELS, BINARY_LOGITS),
    ("BinaryCrossentropy_1d_targets", L.BinaryCrossentropy(), BINARY_LABELS[:, 0],
     BINARY_PROBS),
    ("CategoricalCrossentropy", L.CategoricalCrossentropy(), ONE_HOT, PROBS),
    ("CategoricalCrossentropy_int_one_hot", L.CategoricalCrossentropy(),
     ONE_HOT.astype(np.int64), PROBS),
    ("CategoricalCrossentropy_logits", L.CategoricalCrossentropy(from_logits=True), ONE_HOT,
     LOGITS),
    ("CategoricalCrossentropy_smoothing",
     L.CategoricalCrossentropy(label_smoothing=0.2), ONE_HOT, PROBS),
    ("SparseCategoricalCrossentropy", L.SparseCategoricalCrossentropy(), LABELS, PROBS),
    ("SparseCategoricalCrossentropy_float_labels", L.SparseCategoricalCrossentropy(),
     LABELS[:, None].astype(np.float64), PROBS),
    ("SparseCategoricalCrossentropy_logits", L.SparseCategoricalCrossentropy(from_logits=True),
     LABELS, LOGITS),
    ("SparseCategoricalCrossentropy_logits_float_labels",
     L.SparseCategoricalCrossentropy(from_logits=True), LABELS.astype(np.float32), LOGITS),
    ("sum", L.MeanSquaredError(reduction="sum"), REGRESSION_TRUE, REGRESSION_PRED),
    ("mean_with_sample_weight", L.CategoricalCrossentropy(reduction="mean_with_sample_weight"),
     ONE_HOT, PROBS),
    ("none", L.SparseCategoricalCrossentropy(reduction="none"), LABELS, PROBS),
    ("wrapper", L.LossFunctionWrapper(lambda t, p: dm.ops.mean((p - t) ** 2, -1)),
     REGRESSION_TRUE, REGRESSION_PRED),
    ("get_name", L.get("categorical_crossentropy"), ONE_HOT, PROBS),
] + [(fn.__name__, fn, *data) for fn, data in (
    (L.mean_squared_error, (REGRESSION_TRUE, REGRESSION_PRED)),
    (L.mean_absolute_error, (REGRESSION_TRUE, REGRESSION_PRED)),
    (L.mean_squared_logarithmic_error, (np.abs(REGRESSION_TRUE), np.abs(REGRESSION_PRED))),
    (L.mean_absolute_percentage_error, (REGRESSION_TRUE, REGRESSION_PRED)),
    (L.huber, (REGRESSION_TRUE, REGRESSION_PRED)),
    (L.binary_crossentropy, (BINARY_LABELS, BINARY_PROBS)),
    (L.categorical_crossentropy, (ONE_HOT, PROBS)),
    (L.sparse_categorical_crossentropy, (LABELS, PROBS)),
)]
LOSS_IDS = [case[0] for case in LOSS_CASES]


def _loss_value(loss, y_true, y_pred, sample_weight=None):
    if sample_weight is None or isinstance(loss, L.Loss):
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        return loss(y_true, y_pred, **kwargs)
    return L._reduce_weighted(loss(y_true, y_pred), sample_weight)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("target_on", ["numpy", "list", "device", "device_tensor"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, loss, y_true, y_pred", LOSS_CASES, ids=LOSS_IDS)
def test_loss_on_device_matches_cpu(fake_gpu, name, loss, y_true, y_pred, dtype, target_on,
                                    weighted):
    weights = WEIGHTS if weighted else None
    cpu_pred = dm.Tensor(y_pred.astype(dtype), requires_grad=True)
    expected = _loss_value(loss, y_true, cpu_pred, weights)
    expected.sum().backward() if expected.ndim else expected.backward()

    target = {"numpy": y_true, "list": y_true.tolist(), "device": fake_gpu.asarray(y_true),
              "device_tensor": dm.Tensor(fake_gpu.asarray(y_true))}[target_on]
    if target_on == "device_tensor" and y_true.dtype.kind in "iu" and "parse" not in name:
        target = dm.Tensor(fake_gpu.asarray(y_true.astype(dtype)))
    if weighted:
        weights = fake_gpu.asarray(WEIGHTS) if target_on.startswith("device") else WEIGHTS
    gpu_pred = dm.Tensor(fake_gpu.asarray(y_pred.astype(dtype)), requires_grad=True)
    value = _loss_value(loss, target, gpu_pred, weights)
    assert value.device == "gpu" and value.dtype == expected.dtype
    assert value.shape == expected.shape
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(value.numpy(), expected.numpy(), rtol=rtol, atol=1e-7)
    value.sum().backward() if value.ndim else value.backward()
    assert gpu_pred.grad.device == "gpu"
    np.testing.assert_allclose(gpu_pred.grad.numpy(), cpu_pred.grad.numpy(), rtol=rtol,
                               atol=1e-7)


@pytest.mark.parametrize("name, loss, y_true, y_pred", LOSS_CASES, ids=LOSS_IDS)
def test_loss_target_tensor_on_other_device_raises_naming_both(fake_gpu, name, loss, y_true,
                                                               y_pred):
    gpu_pred = dm.Tensor(fake_gpu.asarray(y_pred))
    with pytest.raises(ValueError, match=r"(?s)cpu.*gpu"):
        loss(dm.Tensor(y_true), gpu_pred)
    with pytest.raises(ValueError, match=r"(?s)gpu.*cpu"):
        loss(dm.Tensor(fake_gpu.asarray(y_true)), dm.Tensor(y_pred))
    with pytest.raises(ValueError, match=r"(?s)gpu.*cpu"):
        loss(fake_gpu.asarray(y_true), dm.Tensor(y_pred))


def test_sample_weight_tensor_on_other_device_raises(fake_gpu):
    gpu_pred = dm.Tensor(fake_gpu.asarray(PROBS))
    with pytest.raises(ValueError, match=r"sample_weight is on the cpu but y_pred on the gpu"):
        L.CategoricalCrossentropy()(ONE_HOT, gpu_pred, sample_weight=dm.Tensor(WEIGHTS))


def test_loss_errors_on_device_as_on_cpu(fake_gpu):
    gpu_probs = dm.Tensor(fake_gpu.asarray(PROBS))
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        L.CategoricalCrossentropy()(LABELS, gpu_probs)          # integer labels
    with pytest.raises(ValueError, match="looks one-hot"):
        L.SparseCategoricalCrossentropy()(ONE_HOT, gpu_probs)
    with pytest.raises(ValueError, match="does not match"):
        L.MeanSquaredError()(np.zeros((N, C), np.float64), dm.Tensor(fake_gpu.asarray(
            np.zeros(N * C + 1))))
    with pytest.raises(ValueError, match="sample_weight of shape"):
        L.MeanSquaredError()(PROBS, gpu_probs, sample_weight=np.ones(N + 1))


def test_mean_with_sample_weight_zero_weights_on_device(fake_gpu):
    loss = L.MeanSquaredError(reduction="mean_with_sample_weight")
    cpu = loss(REGRESSION_TRUE, dm.Tensor(REGRESSION_PRED), sample_weight=np.zeros(N))
    gpu = loss(REGRESSION_TRUE, dm.Tensor(fake_gpu.asarray(REGRESSION_PRED)),
               sample_weight=np.zeros(N))
    assert gpu.device == "gpu" and float(gpu.numpy()) == float(cpu.numpy()) == 0.0


# ---- metrics ---------------------------------------------------------------------------------
TOP_PROBS = np.round(PROBS, 1)           # ties, to check they count as on the CPU
METRIC_CASES = [
    ("Accuracy", lambda: M.Accuracy(), LABELS[:, None], np.array([0, 3, 2, 2, 1, 0])),
    ("BinaryAccuracy", lambda: M.BinaryAccuracy(), BINARY_LABELS, BINARY_PROBS),
    ("BinaryAccuracy_threshold", lambda: M.BinaryAccuracy(threshold=0.7), BINARY_LABELS[:, 0],
     BINARY_PROBS),
    ("CategoricalAccuracy", lambda: M.CategoricalAccuracy(), ONE_HOT, PROBS),
    ("SparseCategoricalAccuracy", lambda: M.SparseCategoricalAccuracy(), LABELS, PROBS),
    ("SparseCategoricalAccuracy_column", lambda: M.SparseCategoricalAccuracy(),
     LABELS[:, None].astype(np.float64), PROBS),
    ("TopKCategoricalAccuracy", lambda: M.TopKCategoricalAccuracy(k=2), ONE_HOT, TOP_PROBS),
    ("SparseTopKCategoricalAccuracy", lambda: M.SparseTopKCategoricalAccuracy(k=2), LABELS,
     TOP_PROBS),
    ("MeanSquaredError", lambda: M.MeanSquaredError(), REGRESSION_TRUE, REGRESSION_PRED),
    ("MeanAbsoluteError", lambda: M.MeanAbsoluteError(), REGRESSION_TRUE, REGRESSION_PRED),
    ("MeanAbsolutePercentageError", lambda: M.MeanAbsolutePercentageError(), REGRESSION_TRUE,
     REGRESSION_PRED),
    ("MeanSquaredLogarithmicError", lambda: M.MeanSquaredLogarithmicError(),
     np.abs(REGRESSION_TRUE), np.abs(REGRESSION_PRED)),
    ("RootMeanSquaredError", lambda: M.RootMeanSquaredError(), REGRESSION_TRUE,
     REGRESSION_PRED),
    ("BinaryCrossentropy", lambda: M.BinaryCrossentropy(), BINARY_LABELS, BINARY_PROBS),
    ("BinaryCrossentropy_logits", lambda: M.BinaryCrossentropy(from_logits=True,
                                                                label_smoothing=0.1),
     BINARY_LABELS, BINARY_LOGITS),
    ("CategoricalCrossentropy", lambda: M.CategoricalCrossentropy(), ONE_HOT, PROBS),
    ("CategoricalCrossentropy_logits", lambda: M.CategoricalCrossentropy(from_logits=True),
     ONE_HOT, LOGITS),
    ("SparseCategoricalCrossentropy", lambda: M.SparseCategoricalCrossentropy(), LABELS, PROBS),
    ("SparseCategoricalCrossentropy_logits",
     lambda: M.SparseCategoricalCrossentropy(from_logits=True), LABELS, LOGITS),
    ("Precision", lambda: M.Precision(), BINARY_LABELS, BINARY_PROBS),
    ("Precision_top_k", lambda: M.Precision(top_k=2), ONE_HOT, TOP_PROBS),
    ("Recall", lambda: M.Recall(thresholds=0.3), BINARY_LABELS, BINARY_PROBS),
    ("Recall_class_id", lambda: M.Recall(class_id=1), ONE_HOT, PROBS),
    ("wrapper", lambda: M.MeanMetricWrapper(lambda t, p: np.abs(p - t).max(axis=-1)
                                            if isinstance(p, np.ndarray) else
                                            (abs(p - t)).max(axis=-1)),
     REGRESSION_TRUE, REGRESSION_PRED),
    ("get_accuracy", lambda: M.get("accuracy", y_true=LABELS, y_pred=PROBS), LABELS, PROBS),
    ("get_mse", lambda: M.get("mse"), REGRESSION_TRUE, REGRESSION_PRED),
]
METRIC_IDS = [case[0] for case in METRIC_CASES]


def _batches(y_true, y_pred):
    half = len(y_pred) // 2
    return [(y_true[:half], y_pred[:half], WEIGHTS[:half]),
            (y_true[half:], y_pred[half:], WEIGHTS[half:])]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("inputs", ["numpy_true", "device_true", "tensors"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, make, y_true, y_pred", METRIC_CASES, ids=METRIC_IDS)
def test_metric_on_device_matches_cpu(fake_gpu, name, make, y_true, y_pred, dtype, inputs,
                                      weighted):
    cpu, gpu = make(), make()
    for t, p, w in _batches(y_true, y_pred.astype(dtype)):
        cpu.update_state(t, p, sample_weight=w if weighted else None)
    expected = cpu.result()

    # the sparse top-k and cross-entropy metrics check that the labels are in range (one
    # read-back per batch: metrics._in_top_k, and ops/losses.py and backend/fused.py for the
    # cross-entropy); the others never read the device back in update_state
    checks_labels = name.startswith(("SparseTopK", "SparseCategoricalCrossentropy"))
    for t, p, w in _batches(y_true, y_pred.astype(dtype)):
        p = fake_gpu.asarray(p)
        if inputs != "numpy_true":
            t, w = fake_gpu.asarray(t), fake_gpu.asarray(w)
        if inputs == "tensors":
            p, w = dm.Tensor(p), dm.Tensor(w)
        if checks_labels:
            gpu.update_state(t, p, sample_weight=w if weighted else None)
            continue
        with fakecupy.NoReadBack():
            gpu.update_state(t, p, sample_weight=w if weighted else None)
    value = gpu.result()
    assert type(value) is float and type(expected) is float
    # (float32 logits: the CPU's fused softmax cross-entropy is a C kernel, rounding apart)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    assert value == pytest.approx(expected, rel=rtol, abs=1e-15)
    # the running totals stay on the device between updates
    totals = [getattr(gpu, a) for a in ("total", "true_positives") if hasattr(gpu, a)]
    assert totals and all(is_device_array(x) for x in totals)
    gpu.reset_state()
    assert gpu.result() == 0.0


@pytest.mark.parametrize("name, make, y_true, y_pred", METRIC_CASES, ids=METRIC_IDS)
def test_metric_cpu_predictions_with_device_targets(fake_gpu, name, make, y_true, y_pred):
    """y_pred on the CPU: the metric computes there (y_true is brought back), floats as now."""
    cpu, mixed = make(), make()
    cpu.update_state(y_true, y_pred, sample_weight=WEIGHTS)
    mixed.update_state(fake_gpu.asarray(y_true), y_pred, sample_weight=fake_gpu.asarray(WEIGHTS))
    assert mixed.result() == cpu.result()
    assert not any(is_device_array(getattr(mixed, a, 0.0))
                   for a in ("total", "count", "true_positives"))


def test_metric_functions_on_device_arrays(fake_gpu):
    for fn, t, p in ((M.accuracy, LABELS, np.array([0, 3, 2, 2, 1, 0])),
                     (M.binary_accuracy, BINARY_LABELS, BINARY_PROBS),
                     (M.categorical_accuracy, ONE_HOT, PROBS),
                     (M.sparse_categorical_accuracy, LABELS, PROBS),
                     (M.top_k_categorical_accuracy, ONE_HOT, TOP_PROBS),
                     (M.sparse_top_k_categorical_accuracy, LABELS, TOP_PROBS)):
        value = fn(fake_gpu.asarray(t), fake_gpu.asarray(p))
        assert is_device_array(value)
        np.testing.assert_array_equal(fake_gpu.asnumpy(value), fn(t, p))


def test_sparse_top_k_label_out_of_range_on_device(fake_gpu):
    with pytest.raises(ValueError, match="label 4 is out of range for 4 classes"):
        M.SparseTopKCategoricalAccuracy(k=2).update_state(np.array([0, 4]),
                                                          fake_gpu.asarray(PROBS[:2]))


def test_slots_follow_a_variable_moved_to_the_other_device(fake_gpu):
    """Two steps on the CPU, the variables moved to the GPU (as `model.to('gpu')` does), two
    more: the slots follow, and the numbers are those of four steps on the CPU."""
    for case in ("adam", "sgd_momentum", "rmsprop_centered_momentum"):
        reference, ref_vars = _make(case), _variables(np.float32)
        _steps(reference, ref_vars, 4)
        opt, vs = _make(case), _variables(np.float32)
        _steps(opt, vs, 2)
        for v in vs:
            v.data = fake_gpu.asarray(v.data)
        _steps(opt, vs, 2, fake_gpu)
        for _, slots, _ in opt._state.values():
            assert all(is_device_array(s) for s in slots)
        for v, r in zip(vs, ref_vars):
            np.testing.assert_allclose(v.numpy(), r.data, rtol=1e-6, atol=1e-7)
        for v in vs:                                    # and back to the CPU
            v.data = fake_gpu.asnumpy(v.data)
        _steps(opt, vs, 1)
        for _, slots, _ in opt._state.values():
            assert all(type(s) is np.ndarray for s in slots)
