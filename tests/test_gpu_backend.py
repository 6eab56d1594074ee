"""The GPU backend (issue 8) without a GPU: NumPy stands in for CuPy (tests/fakecupy.py, fixture
`fake_gpu`), so every line of the device path runs here, with host/device mixing refused as
CuPy refuses it. The same checks on a real device are at the end, marked `gpu`."""
import subprocess
import sys

import numpy as np
import pytest

import deepmath as dm
from deepmath import backend
from deepmath.backend import cupy_backend
from deepmath.keras import layers, models

RNG = np.random.default_rng(7)


def _on_gpu(array, fake):
    return isinstance(array, fake.ndarray)


def _host(a):
    return backend.to_numpy(a.data if isinstance(a, dm.Tensor) else a)


# ---- selection and errors -----------------------------------------------------------------------

def test_gpu_without_cupy_is_one_clear_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)        # import cupy -> ImportError
    cupy_backend.use_modules(None)
    with pytest.raises(dm.GPUUnavailableError, match=r"needs CuPy.*pip install deepmath\[gpu\]"):
        dm.set_backend("cupy")
    with pytest.raises(dm.GPUUnavailableError, match="needs CuPy"):
        dm.tensor([1.0]).to("gpu")
    assert dm.get_backend().name in ("native", "numpy")
    assert "cupy" not in dm.available_backends()


def test_cupy_without_device_says_so(monkeypatch):
    import types

    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = types.ModuleType("cupyx.scipy")
    cupyx.scipy.special = types.ModuleType("cupyx.scipy.special")
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setitem(sys.modules, "cupyx", cupyx)
    monkeypatch.setitem(sys.modules, "cupyx.scipy", cupyx.scipy)
    monkeypatch.setitem(sys.modules, "cupyx.scipy.special", cupyx.scipy.special)
    cupy_backend.use_modules(None)
    with pytest.raises(dm.GPUUnavailableError, match="no usable CUDA device.*nvidia-smi"):
        dm.set_backend("cupy")


def test_environment_variable_asks_for_the_gpu():
    code = "import deepmath"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**__import__("os").environ, "DEEPMATH_BACKEND": "cupy"})
    if proc.returncode == 0:     # CuPy and a device exist here
        pytest.skip("a GPU is available")
    assert "GPUUnavailableError" in proc.stderr and "CuPy" in proc.stderr


def test_unknown_backend_and_device_names():
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        dm.set_backend("tpu")
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        dm.tensor([1.0]).to("tpu")


def test_set_backend_and_device_context(fake_gpu):
    with dm.device("gpu"):
        t = dm.tensor([1.0, 2.0])
        assert t.device == "gpu" and _on_gpu(t.data, fake_gpu)
        with dm.device("cpu"):
            assert dm.ones(2).device == "cpu"
        assert dm.randn(3).device == "gpu"
    assert dm.tensor([1.0]).device == "cpu"
    dm.set_backend("cupy")
    assert dm.zeros(3).device == "gpu" and dm.get_backend().name == "cupy"
    assert "cupy" in dm.available_backends()


def test_creation_functions_take_a_device(fake_gpu):
    dm.manual_seed(3)
    on_cpu = dm.randn(2, 3)
    dm.manual_seed(3)
    on_gpu = dm.randn(2, 3, device="gpu")
    assert on_gpu.device == "gpu"
    np.testing.assert_array_equal(on_gpu.numpy(), on_cpu.data)    # same seed, same values
    for t in (dm.zeros(2, device="gpu"), dm.ones(2, device="cuda"), dm.full(3, 2.0, device="gpu"),
              dm.arange(4, device="gpu"), dm.linspace(0, 1, 5, device="gpu"),
              dm.rand(2, device="gpu"), dm.tensor([1, 2], device="gpu"),
              dm.zeros_like(on_gpu), dm.ones_like(on_gpu.data), dm.tensor(on_gpu)):
        assert t.device == "gpu" and _on_gpu(t.data, fake_gpu)
    copy = dm.tensor(on_gpu)
    copy.data[0, 0] = 99.0
    assert on_gpu.data[0, 0] != 99.0                                 # tensor() copies
    assert dm.zeros_like(on_cpu).device == "cpu"
    with dm.device("gpu"):
        assert dm.tensor([1.0], device="cpu").device == "cpu"


# ---- tensors ------------------------------------------------------------------------------------

def test_to_and_back_keeps_values_and_gradient(fake_gpu):
    x = dm.tensor(RNG.normal(size=(3, 4)), requires_grad=True)
    g = x.to("gpu")
    assert g.device == "gpu" and x.to("cpu") is x and g.to("cuda") is g
    y = (g * g).sum()
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.data, 2 * x.data)
    assert isinstance(g.numpy(), np.ndarray) and not _on_gpu(g.numpy(), fake_gpu)
    np.testing.assert_array_equal(np.asarray(g), x.data)
    assert "device='gpu'" in repr(g)


@pytest.mark.parametrize("op", ["add", "matmul", "dense", "conv2d", "attention", "concat",
                                "mse", "layer_norm"])
def test_mixing_devices_names_both(fake_gpu, op):
    a = dm.tensor(RNG.normal(size=(2, 4, 4, 3)).astype(np.float32))
    b = a.to("gpu")
    w = dm.tensor(RNG.normal(size=(3, 3, 3, 2)).astype(np.float32))
    calls = {
        "add": lambda: a + b,
        "matmul": lambda: dm.matmul(a, b.reshape(2, 4, 3, 4)),
        "dense": lambda: dm.dense(a, w.reshape(27, 2)[:3].to("gpu")),
        "conv2d": lambda: dm.conv2d(b, w),
        "attention": lambda: dm.scaled_dot_product_attention(a, b, b),
        "concat": lambda: dm.concatenate([a, b]),
        "mse": lambda: dm.mean_squared_error(a, b),
        "layer_norm": lambda: dm.ops.layer_norm(b, gamma=dm.ones(3)),
    }
    with pytest.raises(ValueError, match=r"different devices \((cpu, gpu|gpu, cpu)"):
        calls[op]()


OP_CASES = ["arith", "unary", "activations", "softmax", "reduce", "shape", "matmul", "dense",
            "conv", "pool", "attention", "self_attention", "norm", "losses", "sparse",
            "embedding", "dropout"]


def _grad_case(name):
    """(function of tensors, input arrays) for the op catalogue."""
    f32 = lambda *s: RNG.normal(size=s).astype(np.float32)      # noqa: E731
    pos = lambda *s: RNG.uniform(0.5, 2.0, size=s).astype(np.float32)   # noqa: E731
    cases = {
        "arith": (lambda a, b: ((a * b - a / b) ** 2 + 3 - b).sum(), [f32(3, 4), pos(4)]),
        "unary": (lambda a: (dm.exp(a) + dm.log(a) + dm.sqrt(a) + dm.sin(a) + dm.cos(a)
                             + dm.tan(a * 0.1) + dm.abs(a - 1)).sum(), [pos(5, 3)]),
        "activations": (lambda a: (dm.tanh(a) + dm.sigmoid(a) + dm.relu(a) + dm.gelu(a)
                                   + dm.gelu(a, approximate=True) + dm.softplus(a)
                                   + dm.leaky_relu(a)).sum(), [f32(4, 6)]),
        "softmax": (lambda a: (dm.softmax(a) * dm.log_softmax(a, axis=0)).sum(), [f32(3, 5)]),
        "reduce": (lambda a: a.max(axis=0).sum() + a.mean() + a.min(axis=1).sum(), [f32(4, 5)]),
        "shape": (lambda a: dm.concatenate([a.reshape(2, 6), a.T.reshape(2, 6)])
                  [:, ::2].sum() + dm.stack([a, a]).sum() + dm.pad(a, 1).sum()
                  + dm.where(a > 0, a, a * 2).sum() + dm.clip(a, -0.5, 0.5).sum()
                  + a[[0, 0, 2]].sum(), [f32(3, 4)]),
        "matmul": (lambda a, b: (a @ b).sum() + dm.matmul(a[0], b).sum(), [f32(2, 3, 4),
                                                                           f32(4, 5)]),
        "dense": (lambda x, w, b: dm.dense(x, w, b, activation="gelu").sum()
                  + dm.dense(x, w, b, activation="sigmoid").sum(), [f32(6, 4), f32(4, 3),
                                                                    f32(3)]),
        "conv": (lambda x, w, b: dm.conv2d(x, w, b, strides=2, padding="same",
                                           activation="relu").sum()
                 + dm.conv2d(x, w, None, dilation=2).sum(), [f32(2, 7, 7, 3), f32(3, 3, 3, 4),
                                                             f32(4)]),
        "pool": (lambda x: dm.max_pool2d(x, 2).sum() + dm.avg_pool2d(x, 3, 2, "same").sum(),
                 [f32(2, 6, 5, 3)]),
        "attention": (lambda q, k, v: dm.scaled_dot_product_attention(q, k, v, causal=True)
                      .sum() + (dm.scaled_dot_product_attention(q, k, v) ** 2).sum(),
                      [f32(2, 2, 5, 4), f32(2, 2, 5, 4), f32(2, 2, 5, 4)]),
        "self_attention": (lambda qkv: (dm.ops.self_attention(qkv, 2) ** 2).sum(),
                           [f32(2, 5, 12)]),
        "norm": (lambda x, g, b: (dm.ops.layer_norm(x, g, b) ** 2).sum()
                 + dm.ops.batch_norm(x, gamma=g, beta=b, training=True).sum(),
                 [f32(4, 6), pos(6), f32(6)]),
        "losses": (lambda p, y: dm.categorical_crossentropy(y, dm.softmax(p))
                   + dm.categorical_crossentropy(y, p, from_logits=True)
                   + dm.binary_crossentropy(y, dm.sigmoid(p))
                   + dm.binary_crossentropy(y, p, from_logits=True)
                   + dm.mse(y, p) + dm.mae(y, p) + dm.msle(y, dm.relu(p)),
                   [f32(4, 3), np.eye(3, dtype=np.float32)[[0, 2, 1, 1]]]),
        "sparse": (lambda p: dm.sparse_categorical_crossentropy(np.array([0, 2, 1]), p,
                                                                from_logits=True)
                   + dm.sparse_categorical_crossentropy(np.array([1, 1, 0]), dm.softmax(p)),
                   [f32(3, 3)]),
        "embedding": (lambda t: (dm.ops.embedding(np.array([[0, 2, 2], [1, 0, 3]]), t) ** 2)
                      .sum(), [f32(4, 5)]),
        "dropout": (lambda x: dm.ops.dropout(x, 0.5, mask=np.arange(12).reshape(3, 4) % 3 > 0)
                    .sum(), [f32(3, 4)]),
    }
    return cases[name]


@pytest.mark.parametrize("name", OP_CASES)
def test_every_op_on_the_gpu_equals_the_cpu(fake_gpu, name):
    _compare_ops(name, rtol=2e-5, atol=1e-6)


def _compare_ops(name, rtol, atol):
    """Forward and backward of a catalogue case on both devices: outputs and gradients on the
    device of their inputs, and equal."""
    fn, arrays = _grad_case(name)
    results = {}
    for device in ("cpu", "gpu"):
        leaves = [dm.tensor(a).to(device).detach().requires_grad_() for a in arrays]
        out = fn(*leaves)
        assert out.device == device, f"{name}: output on the {out.device}"
        out.backward()
        for t in leaves:
            assert t.grad.device == device, f"{name}: gradient on the {t.grad.device}"
        results[device] = [_host(out)] + [_host(t.grad) for t in leaves]
    for got, want in zip(results["gpu"], results["cpu"]):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


# ---- layers, models, training --------------------------------------------------------------------

def _mlp():
    return models.Sequential([layers.Input((12,)), layers.Dense(16, activation="relu"),
                              layers.Dropout(0.0), layers.Dense(3, activation="softmax")])


def _cnn():
    return models.Sequential([
        layers.Input((8, 8, 1)), layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.BatchNormalization(), layers.MaxPooling2D(),
        layers.Conv2D(4, 3, activation="tanh"), layers.AveragePooling2D(1),
        layers.Flatten(), layers.LayerNormalization(), layers.Dense(3, activation="softmax")])


def _sequence_model():
    inputs = layers.Input((6,))
    x = layers.Embedding(10, 8)(inputs)
    x = layers.MultiHeadAttention(2, 4)(x, x, use_causal_mask=True)
    x = layers.Flatten()(x)
    return models.Model(inputs, layers.Dense(3, activation="softmax")(x))


@pytest.mark.parametrize("build, x, optimizer", [
    (_mlp, RNG.normal(size=(40, 12)).astype(np.float32), "sgd"),
    (_cnn, RNG.normal(size=(40, 8, 8, 1)).astype(np.float32), "adam"),
    (_sequence_model, RNG.integers(0, 10, size=(40, 6)).astype(np.float32), "rmsprop"),
])
def test_fit_evaluate_predict_on_the_gpu_equal_the_cpu(fake_gpu, build, x, optimizer):
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, len(x))]
    cpu, gpu = build(), build()
    gpu.set_weights(cpu.get_weights())
    gpu.to("gpu")
    assert all(_on_gpu(w.data, fake_gpu) for w in gpu.weights) and gpu.device == "gpu"
    runs = []
    for model in (cpu, gpu):
        model.compile(optimizer=optimizer, loss="categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False,
                            validation_data=(x[:8], y[:8]))
        runs.append((history.history, model.evaluate(x, y, verbose=0),
                     model.predict(x, verbose=0), model.get_weights()))
    (h_cpu, e_cpu, p_cpu, w_cpu), (h_gpu, e_gpu, p_gpu, w_gpu) = runs
    for key in h_cpu:
        np.testing.assert_allclose(h_gpu[key], h_cpu[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(e_gpu, e_cpu, rtol=1e-5)
    assert type(p_gpu) is np.ndarray
    np.testing.assert_allclose(p_gpu, p_cpu, rtol=1e-4, atol=1e-6)
    for a, b in zip(w_gpu, w_cpu):
        assert type(a) is np.ndarray
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_model_built_on_the_gpu_and_moved_before_building(fake_gpu):
    with dm.device("gpu"):
        built_there = _mlp()
    assert built_there.device == "gpu"
    later = models.Sequential([layers.Dense(4, activation="relu"), layers.Dense(2)])
    later.to("gpu")                                  # no weights yet: built on first call
    out = later.predict(np.ones((3, 5), np.float32), verbose=0)
    assert type(out) is np.ndarray and later.device == "gpu"
    assert all(_on_gpu(w.data, fake_gpu) for w in later.weights)
    later.to("cpu")
    assert later.device == "cpu" and all(type(w.data) is np.ndarray for w in later.weights)


def test_calling_a_gpu_model_on_numpy_outside_the_gpu_context(fake_gpu):
    with dm.device("gpu"):
        model = _mlp()
    x = RNG.normal(size=(4, 12)).astype(np.float32)
    out = model(x)                      # inputs go to the weights' device
    assert out.device == "gpu"
    cpu = _mlp()
    cpu.set_weights(model.get_weights())
    np.testing.assert_allclose(out.numpy(), cpu(x).numpy(), rtol=1e-6)


def test_gpu_checkpoint_loads_on_a_cpu_only_model(fake_gpu, tmp_path):
    x = RNG.normal(size=(20, 12)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 20)]
    model = _mlp().to("gpu")
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.weights.h5")
    model.save(tmp_path / "m.keras")
    expected = model.predict(x, verbose=0)
    cupy_backend.use_modules(None)         # "another machine": no GPU at all
    cpu = _mlp()
    cpu.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_allclose(cpu.predict(x, verbose=0), expected, rtol=1e-5)
    loaded = dm.keras.models.load_model(tmp_path / "m.keras")
    assert loaded.device == "cpu"
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5)


def test_optimizer_state_follows_the_model(fake_gpu):
    x = RNG.normal(size=(16, 12)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 16)]
    cpu, moved = _mlp(), _mlp()
    moved.set_weights(cpu.get_weights())
    for model in (cpu, moved):
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    moved.to("gpu")                   # Adam's moments were made on the CPU
    for model in (cpu, moved):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(moved.get_weights(), cpu.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


# ---- the GPT ------------------------------------------------------------------------------------

def test_gpt_trains_and_checkpoints_on_the_gpu(fake_gpu, tmp_path):
    from deepmath.gpt import GPT, GPTConfig
    from deepmath.gpt.train import TrainConfig, Trainer, train_step, make_optimizer
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=8)
    cfg = TrainConfig(batch_size=3, max_iters=2, eval_interval=0, learning_rate=1e-2)
    data = RNG.integers(0, 11, 200)
    cpu, gpu = GPT(config, seed=1), GPT(config, seed=1).to("gpu")
    assert gpu.device == "gpu"
    x, y = data[:24].reshape(3, 8), data[1:25].reshape(3, 8)
    losses = [[train_step(m, o, x, y) for _ in range(3)]
              for m, o in ((cpu, make_optimizer(cpu, cfg)), (gpu, make_optimizer(gpu, cfg)))]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    state = gpu.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())
    for name, value in cpu.state_dict().items():
        np.testing.assert_allclose(state[name], value, rtol=1e-4, atol=1e-6)
    tokens = gpu.generate(x[:1, :3], 4, greedy=True)
    np.testing.assert_array_equal(tokens, cpu.generate(x[:1, :3], 4, greedy=True))
    maps = gpu.attention_maps(x[:1])
    assert len(maps) == 2 and type(maps[0]) is np.ndarray
    trainer = Trainer(gpu, cfg)
    trainer.run(data, log=None)
    trainer.save(tmp_path / "run.npz")
    cupy_backend.use_modules(None)
    resumed = Trainer.load(tmp_path / "run.npz")
    assert resumed.model.device == "cpu" and resumed.it == 2


def test_gpt_step_waits_for_the_gpu_only_to_read_the_loss(fake_gpu):
    from deepmath.gpt import GPT, GPTConfig
    from deepmath.gpt.train import TrainConfig, make_optimizer
    from deepmath.tensor import run_backward
    import fakecupy
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
    model = GPT(config).to("gpu")
    opt = make_optimizer(model, TrainConfig(grad_clip=1.0))
    x, y = RNG.integers(0, 11, (2, 8)), RNG.integers(0, 11, (2, 8))
    with fakecupy.NoReadBack():
        _, loss = model(x, y)
        grads = run_backward([loss], [None], inputs=model.parameters())
        opt.apply(grads, model.parameters())
    assert np.isfinite(float(loss.data))


def test_keras_step_waits_for_the_gpu_only_to_read_the_logs(fake_gpu):
    import fakecupy
    model = _cnn().to("gpu")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = RNG.normal(size=(8, 8, 8, 1)).astype(np.float32)
    y = RNG.integers(0, 3, 8)
    model.fit(x, y, epochs=1, verbose=0)        # builds the metrics
    reads = []
    original = fakecupy.DeviceArray.__float__

    def counted(self):
        reads.append(self.shape)
        return original(self)
    with fakecupy.NoReadBack():
        refuse, fakecupy.DeviceArray.__float__ = fakecupy.DeviceArray.__float__, counted
        try:
            model.train_on_batch(x, y)
        finally:
            fakecupy.DeviceArray.__float__ = refuse    # NoReadBack's exit restores the rest
    assert reads == [(), ()]                   # the logs: the loss and the accuracy


# ---- a real GPU ---------------------------------------------------------------------------------

@pytest.fixture
def real_gpu():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() < 1:
            raise RuntimeError("no device")
    except Exception:        # ImportError, CUDARuntimeError
        pytest.skip("needs CuPy and a CUDA device")
    cupy_backend.use_modules(None)
    cupy_backend.load()
    yield cupy
    if dm.get_backend().name == "cupy":
        dm.set_backend("native" if backend.NativeBackend is not None else "numpy")


@pytest.mark.gpu
@pytest.mark.parametrize("name", OP_CASES)
def test_real_gpu_ops_match_the_cpu(real_gpu, name):
    _compare_ops(name, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_real_gpu_training_matches_the_cpu(real_gpu):
    x = RNG.normal(size=(64, 8, 8, 1)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, 64)]
    cpu, gpu = _cnn(), _cnn()
    gpu.set_weights(cpu.get_weights())
    gpu.to("gpu")
    losses = []
    for model in (cpu, gpu):
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        losses.append(model.fit(x, y, batch_size=16, epochs=2, verbose=0,
                                shuffle=False).history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def test_gradient_tape_and_grad_on_the_gpu(fake_gpu):
    x = dm.Variable([1.0, 2.0, 3.0]).to("gpu").detach().requires_grad_()
    with dm.GradientTape() as tape:
        y = x ** 3
    (g,) = tape.gradient(y, [x])
    assert g.device == "gpu"
    np.testing.assert_allclose(g.numpy(), 3 * np.array([1.0, 4.0, 9.0]))
    dfdx = dm.grad(lambda t: (t * t).sum())
    np.testing.assert_allclose(dfdx(x).numpy(), [2.0, 4.0, 6.0])
