"""Optimizers and learning-rate schedules: trajectories against NumPy transcriptions of Keras 3's
formulas (float64) and against numbers produced by real Keras (float32), the fused kernels
against the NumPy backend, lookup and serialization, state save/restore, clipping, errors."""
import math

import numpy as np
import pytest

import deepmath as dm
from deepmath import optimizers as O, schedules as S
from deepmath.backend import available_backends, get_backend, set_backend

# ---- the fixed tiny problem: a (2, 3) kernel and a (3,) bias, gradient g(x) elementwise ----
K0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
B0 = np.array([0.1, -0.2, 0.3])
TK = np.array([[-1.0, 0.5, 1.0], [0.0, 2.0, -2.0]])
TB = np.array([1.0, 0.0, -1.0])


def grad(x, target):
    return (x - target + 0.5 * np.sin(3 * x)).astype(x.dtype)


def variables(dtype):
    return [dm.Tensor(K0.astype(dtype), requires_grad=True, name="kernel"),
            dm.Tensor(B0.astype(dtype), requires_grad=True, name="bias")]


def run(opt, vs, steps=5):
    for _ in range(steps):
        opt.apply([grad(vs[0].data, TK), grad(vs[1].data, TB)], vs)
    return np.concatenate([v.data.ravel() for v in vs])


def schedule(spec):
    name, args, kwargs = spec
    return getattr(S, name)(*args, **kwargs)


def make(cls, kwargs):
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("learning_rate"), tuple):
        kwargs["learning_rate"] = schedule(kwargs["learning_rate"])
    return getattr(O, cls)(**kwargs)


CASES = {
    "sgd": ("SGD", dict(learning_rate=0.1)),
    "sgd_momentum": ("SGD", dict(learning_rate=0.1, momentum=0.9)),
    "sgd_nesterov": ("SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": ("SGD", dict(learning_rate=0.1, momentum=0.5, weight_decay=0.2)),
    "adam": ("Adam", dict(learning_rate=0.1)),
    "adam_amsgrad": ("Adam", dict(learning_rate=0.1, amsgrad=True)),
    "adam_weight_decay": ("Adam", dict(learning_rate=0.1, beta_1=0.8, weight_decay=0.1)),
    "adamw_exclude_bias": ("AdamW", dict(learning_rate=0.1, weight_decay=0.1)),
    "rmsprop": ("RMSprop", dict(learning_rate=0.1)),
    "rmsprop_centered_momentum": ("RMSprop", dict(learning_rate=0.1, rho=0.8, momentum=0.5,
                                                  centered=True)),
    "adagrad": ("Adagrad", dict(learning_rate=0.1)),
    "adadelta": ("Adadelta", dict(learning_rate=1.0)),
    "sgd_clipnorm": ("SGD", dict(learning_rate=0.1, clipnorm=0.5)),
    "sgd_global_clipnorm": ("SGD", dict(learning_rate=0.1, momentum=0.5, global_clipnorm=0.5)),
    "sgd_clipvalue": ("SGD", dict(learning_rate=0.1, clipvalue=0.3)),
    "sgd_exponential_decay": ("SGD", dict(learning_rate=("ExponentialDecay", (0.5, 2, 0.5),
                                                         {}))),
    "adam_cosine_warmup": ("Adam", dict(learning_rate=("CosineDecay", (0.0, 4),
                                                       dict(alpha=0.1, warmup_target=0.2,
                                                            warmup_steps=2)))),
}


def make_case(label):
    opt = make(*CASES[label])
    if label == "adamw_exclude_bias":
        opt.exclude_from_weight_decay(var_names=["bias"])
    return opt


# ---- NumPy transcriptions of Keras 3's update_step (keras/src/optimizers/*.py) ------------
def sgd_step(w, g, s, lr, t, momentum=0.0, nesterov=False):
    if momentum == 0:
        return w - g * lr
    m = s["momentum"] = s.get("momentum", 0 * w) * momentum - g * lr
    return w + (m * momentum - g * lr if nesterov else m)


def adam_step(w, g, s, lr, t, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
    m = s["m"] = s.get("m", 0 * w) + (g - s.get("m", 0 * w)) * (1 - beta_1)
    v = s["v"] = s.get("v", 0 * w) + (g * g - s.get("v", 0 * w)) * (1 - beta_2)
    if amsgrad:
        v = s["v_hat"] = np.maximum(s.get("v_hat", 0 * w), v)
    alpha = lr * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return w - m * alpha / (np.sqrt(v) + epsilon)


def rmsprop_step(w, g, s, lr, t, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
    v = s["v"] = rho * s.get("v", 0 * w) + (1 - rho) * g * g
    if centered:
        a = s["a"] = rho * s.get("a", 0 * w) + (1 - rho) * g
        increment = lr * g / np.sqrt(v - a * a + epsilon)
    else:
        increment = lr * g / np.sqrt(v + epsilon)
    if momentum > 0:
        increment = s["m"] = momentum * s.get("m", 0 * w) + increment
    return w - increment


def adagrad_step(w, g, s, lr, t, initial_accumulator_value=0.1, epsilon=1e-7):
    acc = s["acc"] = s.get("acc", 0 * w + initial_accumulator_value) + g * g
    return w - lr * g / np.sqrt(acc + epsilon)


def adadelta_step(w, g, s, lr, t, rho=0.95, epsilon=1e-7):
    G = s["G"] = rho * s.get("G", 0 * w) + (1 - rho) * g * g
    delta = -np.sqrt(s.get("D", 0 * w) + epsilon) * g / np.sqrt(G + epsilon)
    s["D"] = rho * s.get("D", 0 * w) + (1 - rho) * delta * delta
    return w + lr * delta


METHOD = {"SGD": sgd_step, "Adam": adam_step, "AdamW": adam_step, "RMSprop": rmsprop_step,
          "Adagrad": adagrad_step, "Adadelta": adadelta_step}
_BASE = ("learning_rate", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm")


def reference(label, steps=5):
    """The trajectory of CASES[label] in float64, from the formulas above."""
    cls, kwargs = CASES[label]
    lr_of = kwargs["learning_rate"]
    lr_of = schedule(lr_of) if isinstance(lr_of, tuple) else (lambda k, lr=lr_of: lr)
    wd = kwargs.get("weight_decay", 0.004 if cls == "AdamW" else None)
    hyper = {k: v for k, v in kwargs.items() if k not in _BASE}
    ws, states = [K0.copy(), B0.copy()], [{}, {}]
    for k in range(steps):
        gs = [grad(ws[0], TK), grad(ws[1], TB)]
        if "clipnorm" in kwargs:
            c = kwargs["clipnorm"]
            gs = [g * c / max(np.linalg.norm(g), c) for g in gs]
        if "global_clipnorm" in kwargs:
            c = kwargs["global_clipnorm"]
            norm = math.sqrt(sum(np.sum(g * g) for g in gs))
            gs = [g * c / max(norm, c) for g in gs]
        if "clipvalue" in kwargs:
            gs = [np.clip(g, -kwargs["clipvalue"], kwargs["clipvalue"]) for g in gs]
        lr = lr_of(k)
        for i in range(2):
            if wd is not None and not (label == "adamw_exclude_bias" and i == 1):
                ws[i] = ws[i] - ws[i] * wd * lr
            ws[i] = METHOD[cls](ws[i], gs[i], states[i], lr, k + 1, **hyper)
    return np.concatenate([w.ravel() for w in ws])


# Produced by real Keras 3.15.1 (TensorFlow 2.21.0 backend) in /work/venv-peers, float32, by:
#     opt = <the optimizer of CASES[label], schedules from keras.optimizers.schedules>
#     (adamw_exclude_bias: opt.exclude_from_weight_decay(var_names=["bias"]))
#     kernel = keras.Variable(K0.astype("float32"), name="kernel"); bias likewise with B0
#     for _ in range(5):
#         opt.apply_gradients(zip([grad(kernel.numpy(), TK), grad(bias.numpy(), TB)],
#                                 [kernel, bias]))
#     print(kernel.numpy().ravel(), bias.numpy())
KERAS_TRAJECTORIES = {  # kernel then bias after 5 steps
    "sgd": [-0.175960585, -0.234535038, 1.72315979, 1.00758266, 0.783136547, -1.2041117,
            0.340984553, -0.0487074256, -0.233212948],
    "sgd_momentum": [-1.13631451, 0.739091814, 1.30601048, 0.173561364, 1.73994207,
                     -1.94324923, 0.694956064, 0.14061895, -1.00902367],
    "sgd_nesterov": [-1.03272414, 0.699709177, 1.32477188, -0.147565424, 2.05572128,
                     -2.21839023, 0.66383034, 0.0819494873, -0.914840341],
    "sgd_weight_decay": [-0.474198818, 0.163620085, 1.47629559, 0.561409116, 1.06536973,
                         -1.38798881, 0.44102937, 0.0185478199, -0.467847079],
    "adam": [0.00649193674, -0.499626577, 1.54127622, 1.00047541, 0.741168737, -1.25122881,
             0.545018494, 0.116344415, -0.186637402],
    "adam_amsgrad": [0.00649193674, -0.499626577, 1.54127622, 1.00047541, 0.741168737,
                     -1.25122881, 0.545018494, 0.116342776, -0.186637402],
    "adam_weight_decay": [-0.00267253071, -0.46031782, 1.48477364, 0.936685443, 0.713739276,
                          -1.20593238, 0.515512466, 0.0893460661, -0.183078483],
    "adamw_exclude_bias": [-0.00766205043, -0.460624725, 1.46702206, 0.936644614,
                           0.719377816, -1.20444191, 0.545018494, 0.116344415, -0.186637402],
    "rmsprop": [-0.284186721, -0.0373358279, 1.519629, 0.415490717, 1.19681811, -1.81921291,
                0.497919351, 0.00925443135, -0.381204337],
    "rmsprop_centered_momentum": [-0.580020607, 0.344039798, 1.34443378, -0.124298066,
                                  1.81878185, -2.24641371, 0.586789429, -0.0148325488,
                                  -0.61902082],
    "adagrad": [0.195362702, -0.677106023, 1.74737978, 1.18904305, 0.543787718, -1.06757176,
                0.340528369, -0.0180432685, 0.008211229],
    "adadelta": [0.492801249, -0.992790222, 1.99283028, 1.4928025, 0.257186979, -0.757205188,
                 0.107164644, -0.192853615, 0.292808741],
    "sgd_clipnorm": [0.350818366, -0.876200736, 1.93795788, 1.42280495, 0.352958679,
                     -0.816945612, 0.197171584, -0.137329563, 0.0783481151],
    "sgd_global_clipnorm": [0.290079564, -0.825379372, 1.91267526, 1.39109051, 0.395067662,
                            -0.84447211, 0.176366091, -0.150826141, 0.126468837],
    "sgd_clipvalue": [0.349999994, -0.850000143, 1.85000014, 1.35000014, 0.400000006,
                      -0.899999857, 0.25, -0.0622257069, 0.150000006],
    "sgd_exponential_decay": [-0.50059557, 0.196136758, 1.52310705, 0.143433779, 1.80007231,
                              -1.9394114, 0.493837982, 0.000695638999, -0.516242743],
    "adam_cosine_warmup": [-0.0741992071, -0.415981472, 1.4641943, 0.917007148, 0.822402179,
                           -1.33511198, 0.622486413, 0.202653363, -0.265179634],
}


@pytest.mark.parametrize("label", CASES)
def test_trajectory_matches_keras_formulas_float64(label):
    got = run(make_case(label), variables(np.float64))
    np.testing.assert_allclose(got, reference(label), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("label", CASES)
def test_trajectory_matches_real_keras_float32(label):
    vs = variables(np.float32)
    got = run(make_case(label), vs)
    assert all(v.dtype == np.float32 for v in vs)
    # Keras computes Adam's bias correction 1 - β^t in float32 (relative error ~1e-5 at t=1);
    # deepmath in float64: the Adam family differs by a few 1e-6, the others by ~1 ulp.
    atol = 2e-5 if "adam" in label else 1e-6
    np.testing.assert_allclose(got, KERAS_TRAJECTORIES[label], rtol=0, atol=atol)


@pytest.mark.skipif("native" not in available_backends(), reason="C kernels not built")
@pytest.mark.parametrize("label", ["sgd", "sgd_momentum", "sgd_nesterov", "sgd_weight_decay",
                                   "adam", "adam_weight_decay", "adamw_exclude_bias"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_kernels_match_numpy_backend(label, dtype):
    """Large enough (1517 and 7 elements) for the kernels' SIMD loops and their tails."""
    rng = np.random.default_rng(3)
    inits = [rng.normal(size=(37, 41)), rng.normal(size=7)]
    targets = [rng.normal(size=(37, 41)), rng.normal(size=7)]
    results = {}
    previous = get_backend().name
    try:
        for backend in ("native", "numpy"):
            set_backend(backend)
            vs = [dm.Tensor(a.astype(dtype), name=n) for a, n in zip(inits, ("kernel", "bias"))]
            opt = make_case(label)
            for _ in range(5):
                opt.apply([grad(v.data, t) for v, t in zip(vs, targets)], vs)
            results[backend] = np.concatenate([v.data.ravel() for v in vs])
    finally:
        set_backend(previous)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(results["native"], results["numpy"], rtol=rtol, atol=rtol)


def test_updates_in_place_and_trains_with_autograd():
    w = dm.Tensor(np.zeros(3, np.float32), requires_grad=True, name="w")
    data = w.data
    target = dm.Tensor(np.array([1.0, -2.0, 0.5], np.float32))
    opt = O.Adam(learning_rate=0.1)
    for _ in range(300):
        loss = ((w - target) ** 2).sum()
        w.grad = None
        loss.backward()
        opt.apply([w.grad], [w])
    assert w.data is data and opt.iterations == 300
    np.testing.assert_allclose(w.data, target.data, atol=1e-3)


# ---- learning rate -------------------------------------------------------------------------
def test_learning_rate_float_get_set_and_schedule_at_iterations():
    opt = O.SGD(learning_rate=0.25)
    assert opt.learning_rate == 0.25 and isinstance(opt.learning_rate, float)
    opt.learning_rate = 0.5                         # LearningRateScheduler does this
    assert opt.learning_rate == 0.5
    w = dm.Tensor(np.ones(2))
    opt.apply([np.ones(2)], [w])
    np.testing.assert_allclose(w.data, [0.5, 0.5])
    sched = S.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5)
    opt = O.SGD(learning_rate=sched)
    assert opt.learning_rate == 1.0
    opt.apply([np.ones(2)], [w])
    assert opt.iterations == 1 and opt.learning_rate == 0.5
    with pytest.raises(TypeError, match="LearningRateSchedule"):
        opt.learning_rate = 0.1
    opt.learning_rate = S.InverseTimeDecay(1.0, 1, 1.0)   # a schedule may replace a schedule
    assert opt.learning_rate == 0.5


def test_learning_rate_callable_and_bad_values():
    opt = O.Adam(learning_rate=lambda: 0.125)
    assert opt.learning_rate == 0.125
    for bad in ("0.1", None, True, [0.1]):
        with pytest.raises(ValueError, match="learning_rate"):
            O.SGD(learning_rate=bad)
    assert O.SGD(learning_rate=1).learning_rate == 1.0


def test_legacy_decay_divides_the_rate_by_one_plus_decay_times_step():
    """The book's SGD(learning_rate, decay=α): δ_k = δ_0 / (αk + 1), k = 0 at the first step."""
    opt = O.SGD(learning_rate=1.0, decay=0.5)
    w = dm.Tensor(np.zeros(1))
    for k in range(4):
        before = w.data.copy()
        opt.apply([np.ones(1)], [w])
        np.testing.assert_allclose(before - w.data, [1.0 / (1 + 0.5 * k)], rtol=1e-15)
    assert opt.learning_rate == 1.0 and opt.get_config()["decay"] == 0.5
    assert "decay" not in O.SGD().get_config()


# ---- clipping --------------------------------------------------------------------------------
def one_step(opt, grads):
    vs = [dm.Tensor(np.zeros(np.shape(g))) for g in grads]
    opt.apply([np.array(g, dtype=np.float64) for g in grads], vs)
    return [-v.data for v in vs]                     # SGD(1): the gradients as applied


def test_clipnorm_clips_each_gradient_to_its_norm():
    small, big = one_step(O.SGD(1.0, clipnorm=5.0), [[3.0, 0.0], [6.0, 8.0]])
    np.testing.assert_allclose(small, [3.0, 0.0])   # norm 3 < 5: unchanged
    np.testing.assert_allclose(big, [3.0, 4.0])     # norm 10 -> 5


def test_global_clipnorm_scales_all_gradients_together():
    a, b = one_step(O.SGD(1.0, global_clipnorm=6.5), [[3.0, 0.0], [0.0, 12.0]])
    scale = 6.5 / math.hypot(3.0, 12.0)
    np.testing.assert_allclose(a, [3.0 * scale, 0.0])
    np.testing.assert_allclose(b, [0.0, 12.0 * scale])
    a, b = one_step(O.SGD(1.0, global_clipnorm=100.0), [[3.0, 0.0], [0.0, 12.0]])
    np.testing.assert_allclose(b, [0.0, 12.0])
    a, = one_step(O.SGD(1.0, global_clipnorm=1.0), [[np.inf, 0.0]])
    assert np.isnan(a).all()                        # Keras: a non-finite norm gives NaN


def test_clipvalue_clips_entries_and_gradients_are_not_modified():
    g = np.array([-3.0, 0.5, 2.0])
    w = dm.Tensor(np.zeros(3))
    O.SGD(1.0, clipvalue=1.0).apply([g], [w])
    np.testing.assert_allclose(w.data, [1.0, -0.5, -1.0])
    np.testing.assert_array_equal(g, [-3.0, 0.5, 2.0])


def test_only_one_clip_option():
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        O.Adam(clipnorm=1.0, clipvalue=1.0)


# ---- weight decay ----------------------------------------------------------------------------
def test_exclude_from_weight_decay_by_name_and_by_variable():
    kernel, bias = variables(np.float64)
    opt = O.SGD(1.0, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_list=[kernel])
    opt.apply([np.zeros((2, 3)), np.zeros(3)], [kernel, bias])
    np.testing.assert_array_equal(kernel.data, K0)
    np.testing.assert_allclose(bias.data, B0 * 0.5)
    with pytest.raises(ValueError, match="before the optimizer's first step"):
        opt.exclude_from_weight_decay(var_names=["bias"])
    kernel, bias = variables(np.float64)
    opt = O.AdamW(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bi.s"])
    opt.apply([np.zeros((2, 3)), np.zeros(3)], [kernel, bias])
    np.testing.assert_allclose(kernel.data, K0 * 0.95)
    np.testing.assert_array_equal(bias.data, B0)


def test_adamw_default_weight_decay_and_none_refused():
    assert O.AdamW().weight_decay == 0.004
    with pytest.raises(ValueError, match="weight_decay"):
        O.AdamW(weight_decay=None)


# ---- gradients and variables -----------------------------------------------------------------
def test_none_gradients_are_skipped_with_a_warning():
    kernel, bias = variables(np.float64)
    opt = O.SGD(0.1, momentum=0.9)
    with pytest.warns(UserWarning, match="'bias'"):
        opt.apply([np.ones((2, 3)), None], [kernel, bias])
    np.testing.assert_array_equal(bias.data, B0)
    np.testing.assert_allclose(kernel.data, K0 - 0.1)
    assert len(opt.get_state()["slots"]) == 2        # the skipped variable has its state too
    with pytest.raises(ValueError, match="no gradient for any variable"):
        opt.apply([None, None], [kernel, bias])


def test_gradients_as_tensors_other_dtypes_and_non_contiguous():
    w = dm.Tensor(np.zeros((3, 2), np.float32))
    g = np.arange(6.0).reshape(2, 3).T               # float64, Fortran-ordered view
    O.SGD(1.0).apply([dm.Tensor(g)], [w])
    np.testing.assert_array_equal(w.data, -g.astype(np.float32))
    assert w.data.dtype == np.float32


def test_bad_gradients_and_variables():
    w = dm.Tensor(np.zeros(3), name="dense/kernel")
    opt = O.Adam()
    with pytest.raises(ValueError, match=r"'dense/kernel' has shape \(2,\), the variable \(3,\)"):
        opt.apply([np.zeros(2)], [w])
    with pytest.raises(ValueError, match="1 gradients for 2 variables"):
        opt.apply([np.zeros(3)], [w, w])
    with pytest.raises(TypeError, match="deepmath Tensors"):
        opt.apply([np.zeros(3)], [np.zeros(3)])
    integers = dm.Tensor(np.zeros(3))
    integers.data = np.zeros(3, np.int64)
    with pytest.raises(TypeError, match="float32 or float64"):
        opt.apply([np.zeros(3)], [integers])
    strided = dm.Tensor(np.zeros(3))
    strided.data = np.zeros(6)[::2]
    with pytest.raises(ValueError, match="C-contiguous writeable"):
        opt.apply([np.zeros(3)], [strided])


def test_apply_gradients_and_apply_without_variables():
    kernel, bias = variables(np.float64)
    opt = O.SGD(0.5)
    assert opt.apply_gradients(zip([np.ones((2, 3)), np.ones(3)], [kernel, bias])) == 1
    opt.apply([np.ones((2, 3)), np.ones(3)])         # the variables it knows, in order
    np.testing.assert_allclose(bias.data, B0 - 1.0)
    opt.apply([], [])                                # nothing to do: no step counted
    assert opt.iterations == 2


# ---- state -----------------------------------------------------------------------------------
@pytest.mark.parametrize("label", ["sgd_momentum", "adam_amsgrad", "adamw_exclude_bias",
                                   "rmsprop_centered_momentum", "adagrad", "adadelta",
                                   "sgd_exponential_decay"])
def test_state_restore_continues_bit_identically(label):
    vs = variables(np.float32)
    opt = make_case(label)
    run(opt, vs, steps=3)
    weights, state = [v.data.copy() for v in vs], opt.get_state()
    expected = run(opt, vs, steps=4)
    resumed = [dm.Tensor(w, name=n) for w, n in zip(weights, ("kernel", "bias"))]
    fresh = make_case(label)
    fresh.set_state(state, resumed)
    assert fresh.iterations == 3
    np.testing.assert_array_equal(run(fresh, resumed, steps=4), expected)


def test_state_holds_copies_in_the_given_order_with_keras_slot_names():
    kernel, bias = variables(np.float64)
    opt = O.Adam(0.1)
    opt.apply([np.ones((2, 3)), np.ones(3)], [kernel, bias])
    state = opt.get_state()
    assert state["iterations"] == 1 and state["learning_rate"] == 0.1
    assert [sorted(s) for s in state["slots"]] == [["momentum", "velocity"]] * 2
    assert state["slots"][0]["momentum"].shape == (2, 3)
    np.testing.assert_allclose(state["slots"][1]["velocity"], 0.001)
    opt.apply([np.ones((2, 3)), np.ones(3)], [kernel, bias])
    np.testing.assert_allclose(state["slots"][1]["velocity"], 0.001)     # not a view
    reordered = opt.get_state([bias, kernel])
    assert reordered["slots"][0]["momentum"].shape == (3,)
    assert "learning_rate" not in O.Adam(S.CosineDecay(0.1, 10)).get_state()


def test_state_restores_the_learning_rate():
    opt = O.SGD(0.1)
    opt.learning_rate = 0.025                        # e.g. set by ReduceLROnPlateau
    fresh = O.SGD(0.1)
    fresh.set_state(opt.get_state(), [])
    assert fresh.learning_rate == 0.025 and fresh.iterations == 0


def test_set_state_errors():
    kernel, bias = variables(np.float64)
    adam = O.Adam()
    adam.apply([np.ones((2, 3)), np.ones(3)], [kernel, bias])
    state = adam.get_state()
    with pytest.raises(ValueError, match="slots of 2 variables, 1 variables were given"):
        O.Adam().set_state(state, [kernel])
    with pytest.raises(ValueError, match=r"'kernel' has slots \['momentum', 'velocity'\], SGD "
                                         r"expects \['momentum'\]"):
        O.SGD(momentum=0.9).set_state(state, [kernel, bias])
    with pytest.raises(ValueError, match=r"slot 'momentum' of 'bias' has shape \(2, 3\)"):
        O.Adam().set_state(state, [bias, kernel])
    with pytest.raises(ValueError, match="get_state"):
        O.Adam().set_state([1, 2], [kernel, bias])
    with pytest.raises(ValueError, match="iterations"):
        O.Adam().set_state({**state, "iterations": -1}, [kernel, bias])


# ---- lookup and serialization ----------------------------------------------------------------
@pytest.mark.parametrize("name, cls", [("sgd", O.SGD), ("Adam", O.Adam), ("ADAMW", O.AdamW),
                                       ("rmsprop", O.RMSprop), ("Adagrad", O.Adagrad),
                                       ("adadelta", O.Adadelta)])
def test_get_by_name_with_keras_defaults(name, cls):
    opt = O.get(name)
    assert type(opt) is cls
    defaults = {O.SGD: 0.01, O.Adam: 0.001, O.AdamW: 0.001, O.RMSprop: 0.001,
                O.Adagrad: 0.001, O.Adadelta: 0.001}
    assert opt.learning_rate == defaults[cls]


def test_keras_default_hyperparameters():
    adam, rms = O.Adam(), O.RMSprop()
    assert (adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (0.9, 0.999, 1e-7, False)
    assert (rms.rho, rms.momentum, rms.epsilon, rms.centered) == (0.9, 0.0, 1e-7, False)
    assert (O.Adagrad().initial_accumulator_value, O.Adadelta().rho) == (0.1, 0.95)
    sgd = O.SGD()
    assert (sgd.momentum, sgd.nesterov, sgd.weight_decay) == (0.0, False, None)


def test_get_instances_classes_none_and_errors():
    opt = O.SGD()
    assert O.get(opt) is opt and O.get(None) is None
    assert type(O.get(O.RMSprop)) is O.RMSprop
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'; known: adadelta, "
                                         "adagrad, adam, adamw, rmsprop, sgd"):
        O.get("adamax")
    with pytest.raises(ValueError, match="Could not interpret optimizer identifier"):
        O.get(3)
    with pytest.raises(ValueError, match="unknown optimizer"):
        O.get({"class_name": "Nope", "config": {}})


@pytest.mark.parametrize("label", CASES)
def test_serialize_round_trip(label):
    opt = make_case(label)
    config = O.serialize(opt)
    assert config["module"] == "keras.optimizers" and config["registered_name"] is None
    assert config["class_name"] == CASES[label][0]
    again = O.get(config)
    assert type(again) is type(opt) and again.get_config() == opt.get_config()
    assert type(O.deserialize(config)) is type(opt)


def test_get_reads_the_config_keras_writes():
    """keras.optimizers.serialize(keras.optimizers.SGD(0.1)) with Keras 3.15.1."""
    keras_config = {"module": "keras.optimizers", "class_name": "SGD", "config": {
        "name": "sgd_8", "learning_rate": 0.10000000149011612, "weight_decay": None,
        "clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
        "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
        "gradient_accumulation_steps": None, "momentum": 0.0, "nesterov": False},
        "registered_name": None}
    opt = O.get(keras_config)
    assert type(opt) is O.SGD and opt.name == "sgd_8"
    assert opt.get_config() == keras_config["config"]


def test_schedule_learning_rate_is_serialized_as_keras_does():
    opt = O.Adam(S.CosineDecay(0.1, 100, warmup_target=0.5, warmup_steps=10))
    lr = opt.get_config()["learning_rate"]
    assert lr == {"module": "keras.optimizers.schedules", "class_name": "CosineDecay",
                  "config": {"initial_learning_rate": 0.1, "decay_steps": 100, "alpha": 0.0,
                             "name": "CosineDecay", "warmup_target": 0.5, "warmup_steps": 10},
                  "registered_name": None}
    again = O.Adam.from_config(opt.get_config())
    assert isinstance(again._learning_rate, S.CosineDecay)
    assert again.learning_rate == opt.learning_rate == 0.1


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"argument\(s\) not recognized: \['lr'\]"):
        O.SGD(lr=0.1)
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\]"):
        O.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="beta_1 must be < 1"):
        O.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match="rho"):
        O.RMSprop(rho="0.9")
    with pytest.raises(ValueError, match="not supported"):
        O.Adam(use_ema=True)
    with pytest.raises(ValueError, match="weight_decay"):
        O.SGD(weight_decay=-1.0)


# ---- schedules -------------------------------------------------------------------------------
STEPS = [0, 1, 2, 3, 5, 8, 13, 100]
SCHEDULES = {
    "exponential": ("ExponentialDecay", (0.1, 3, 0.5), {}),
    "exponential_staircase": ("ExponentialDecay", (0.1, 3, 0.5), dict(staircase=True)),
    "inverse_time": ("InverseTimeDecay", (0.1, 2, 0.5), {}),
    "inverse_time_staircase": ("InverseTimeDecay", (0.1, 2, 0.5), dict(staircase=True)),
    "cosine": ("CosineDecay", (0.1, 10), dict(alpha=0.2)),
    "cosine_warmup": ("CosineDecay", (0.0, 10), dict(alpha=0.1, warmup_target=0.2,
                                                     warmup_steps=4)),
    "piecewise": ("PiecewiseConstantDecay", ([2, 5], [0.1, 0.05, 0.01]), {}),
    "polynomial": ("PolynomialDecay", (0.1, 10, 0.01), dict(power=2.0)),
    "polynomial_cycle": ("PolynomialDecay", (0.1, 4, 0.01), dict(cycle=True)),
}

# float(schedule(k)) for k in STEPS with keras.optimizers.schedules (Keras 3.15.1, float32).
KERAS_SCHEDULES = {
    "exponential": [0.100000001, 0.0793700516, 0.0629960522, 0.0500000007, 0.0314980261,
                    0.0157490131, 0.00496062776, 9.23989878e-12],
    "exponential_staircase": [0.100000001, 0.100000001, 0.100000001, 0.0500000007,
                              0.0500000007, 0.0250000004, 0.00625000009, 1.16415324e-11],
    "inverse_time": [0.100000001, 0.0799999982, 0.0666666701, 0.0571428575, 0.0444444455,
                     0.0333333351, 0.0235294122, 0.00384615385],
    "inverse_time_staircase": [0.100000001, 0.100000001, 0.0666666701, 0.0666666701,
                               0.0500000007, 0.0333333351, 0.0250000004, 0.00384615385],
    "cosine": [0.100000001, 0.0980422646, 0.0923606753, 0.0835114121, 0.0599999987,
               0.0276393183, 0.0200000014, 0.0200000014],
    "cosine_warmup": [0, 0.0500000007, 0.100000001, 0.150000006, 0.195595086, 0.137811527,
                      0.0244049169, 0.0200000014],
    "piecewise": [0.100000001, 0.100000001, 0.100000001, 0.0500000007, 0.0500000007,
                  0.00999999978, 0.00999999978, 0.00999999978],
    "polynomial": [0.100000001, 0.0828999951, 0.0676000044, 0.0540999994, 0.0324999988,
                   0.0135999992, 0.00999999978, 0.00999999978],
    "polynomial_cycle": [0.100000001, 0.0775000006, 0.0549999997, 0.0324999988, 0.043750003,
                         0.00999999978, 0.0268750004, 0.00999999978],
}


def formula(label, k):
    """The schedules' formulas written out for the parameters of SCHEDULES."""
    cos = math.cos
    return {
        "exponential": 0.1 * 0.5 ** (k / 3),
        "exponential_staircase": 0.1 * 0.5 ** (k // 3),
        "inverse_time": 0.1 / (1 + 0.5 * k / 2),
        "inverse_time_staircase": 0.1 / (1 + 0.5 * (k // 2)),
        "cosine": 0.1 * (0.8 * 0.5 * (1 + cos(math.pi * min(k, 10) / 10)) + 0.2),
        "cosine_warmup": 0.2 * k / 4 if k < 4 else
        0.2 * (0.9 * 0.5 * (1 + cos(math.pi * min(k - 4, 10) / 10)) + 0.1),
        "piecewise": 0.1 if k <= 2 else 0.05 if k <= 5 else 0.01,
        "polynomial": 0.09 * (1 - min(k, 10) / 10) ** 2 + 0.01,
        "polynomial_cycle": 0.09 * (1 - k / (4 * max(1, math.ceil(k / 4)))) + 0.01,
    }[label]


@pytest.mark.parametrize("label", SCHEDULES)
def test_schedule_values_formula_and_keras(label):
    s = schedule(SCHEDULES[label])
    got = [s(k) for k in STEPS]
    assert all(isinstance(v, float) for v in got)
    np.testing.assert_allclose(got, [formula(label, k) for k in STEPS], rtol=1e-14)
    np.testing.assert_allclose(got, KERAS_SCHEDULES[label], rtol=2e-6, atol=1e-12)
    assert s(np.int64(3)) == s(3) == s(dm.tensor(3))


@pytest.mark.parametrize("label", SCHEDULES)
def test_schedule_config_round_trip(label):
    s = schedule(SCHEDULES[label])
    again = type(s).from_config(s.get_config())
    assert again.get_config() == s.get_config()
    config = S.serialize(s)
    assert config["module"] == "keras.optimizers.schedules"
    assert [S.deserialize(config)(k) for k in STEPS] == [s(k) for k in STEPS]


def test_schedule_errors():
    with pytest.raises(ValueError, match="decay_steps must be > 0"):
        S.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="decay_steps must be > 0"):
        S.CosineDecay(0.1, -5)
    with pytest.raises(ValueError, match="initial_learning_rate must be a number"):
        S.InverseTimeDecay("0.1", 10, 0.5)
    with pytest.raises(ValueError, match="one value more than boundaries"):
        S.PiecewiseConstantDecay([10, 20], [0.1, 0.01])
    with pytest.raises(ValueError, match="boundaries must increase"):
        S.PiecewiseConstantDecay([20, 10], [0.1, 0.01, 0.001])
    with pytest.raises(ValueError, match="warmup_steps must be >= 0"):
        S.CosineDecay(0.1, 10, warmup_target=0.2, warmup_steps=-1)
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'Nope'"):
        S.deserialize({"class_name": "Nope", "config": {}})
    with pytest.raises(NotImplementedError):
        S.LearningRateSchedule()(0)


def test_custom_schedule_subclass():
    class Halving(S.LearningRateSchedule):
        def __call__(self, step):
            return 1.0 / 2 ** step

        def get_config(self):
            return {}

    opt = O.SGD(Halving())
    w = dm.Tensor(np.zeros(1))
    for _ in range(3):
        opt.apply([np.ones(1)], [w])
    np.testing.assert_allclose(w.data, [-1.75])
    again = O.deserialize(O.serialize(opt), custom_objects={"Halving": Halving})
    assert isinstance(again._learning_rate, Halving) and again.learning_rate == 1.0
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'Halving'"):
        O.deserialize(O.serialize(opt))
