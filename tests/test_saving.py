"""deepmath.saving: the native format round trips, Keras 3 files (written by real Keras, see
tests/data/keras/make_fixtures.py) load and predict as Keras did, our .weights.h5 has Keras'
layout, writes are atomic, bad files give clear errors."""
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import deepmath.layers as L
from deepmath import saving
from deepmath.models import Model, Sequential
from deepmath.saving import keras_h5, native

DATA = Path(__file__).parent / "data" / "keras"
MODELS = ("mlp", "cnn", "embed", "bn")


def predict(model, x):
    return np.asarray(model(x).data)


# ---- deepmath twins of the Keras fixtures ----------------------------------------------------
def mlp():
    return Sequential([L.Input((4,)), L.Dense(5, activation="relu"),
                       L.Dense(3, activation="softmax")])


def cnn():
    return Sequential([L.Input((12, 12, 1)),
                       L.Conv2D(4, 3, padding="same", activation="relu"),
                       L.MaxPooling2D(), L.Conv2D(2, 3), L.AveragePooling2D(2), L.Flatten(),
                       L.Dropout(0.25), L.Dense(3, activation="softmax")])


def embed():
    tokens = L.Input((6,), dtype="int32")
    x = L.LayerNormalization()(L.Embedding(10, 4)(tokens))
    x = L.Dense(3)(L.Reshape((24,))(x))
    return Model(tokens, L.Activation("softmax")(x))


def bn():
    inputs = L.Input((4,))
    x = L.Activation("relu")(L.BatchNormalization()(L.Dense(8)(inputs)))
    return Model(inputs, L.Dense(2)(x))


TWINS = {"mlp": mlp, "cnn": cnn, "embed": embed, "bn": bn}


def reference(name):
    return np.load(DATA / f"{name}_inputs.npy"), np.load(DATA / f"{name}_expected.npy")


def keras_config(name):
    with zipfile.ZipFile(DATA / f"{name}.keras") as archive:
        return json.loads(archive.read("config.json"))


# ---- Keras files into deepmath ---------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".weights.h5", ".keras", ".h5"])
@pytest.mark.parametrize("name", MODELS)
def test_keras_weights_load_into_deepmath_model(name, suffix):
    pytest.importorskip("h5py")
    model = TWINS[name]()
    x, expected = reference(name)
    model.load_weights(str(DATA / f"{name}{suffix}"))
    np.testing.assert_allclose(predict(model, x), expected, rtol=1e-5, atol=1e-6)


def test_keras2_legacy_weights_file():
    pytest.importorskip("h5py")
    model = mlp()
    x, expected = reference("mlp")
    saving.load_weights(model, DATA / "mlp_legacy_weights.h5")
    np.testing.assert_allclose(predict(model, x), expected, rtol=1e-5, atol=1e-6)


def test_keras2_weights_file_with_chunked_names(tmp_path):
    """tf.keras 2 names datasets 'dense_7/kernel:0' and splits long name lists into
    layer_names0, layer_names1…; layers with weights pair up in order, whatever their names."""
    h5py = pytest.importorskip("h5py")
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=s).astype("float32") for s in [(4, 5), (5,), (5, 3), (3,)]]
    with h5py.File(tmp_path / "keras2.h5", "w") as f:
        f.attrs["layer_names0"] = [b"dense_7"]
        f.attrs["layer_names1"] = [b"flatten_2", b"dense_8"]
        f.attrs["keras_version"] = b"2.15.0"
        f.create_group("flatten_2").attrs["weight_names"] = np.array([], dtype="S1")
        for layer, pair in (("dense_7", arrays[:2]), ("dense_8", arrays[2:])):
            group = f.create_group(layer)
            names = [f"{layer}/kernel:0".encode(), f"{layer}/bias:0".encode()]
            group.attrs["weight_names"] = names
            for name, value in zip(names, pair):
                group.create_dataset(name.decode(), data=value)
    model = mlp()
    saving.load_weights(model, tmp_path / "keras2.h5")
    for a, b in zip(model.get_weights(), arrays):
        np.testing.assert_array_equal(a, b)


def test_keras2_model_config():
    """Keras 2's configs: batch_input_shape, and inbound nodes as [name, node, tensor, kwargs]."""
    from deepmath.saving import keras_config, rebuild
    dense = {"class_name": "Dense", "config": {"name": "d1", "units": 2, "activation": "tanh",
                                               "kernel_regularizer": None, "dtype": "float32",
                                               "batch_input_shape": [None, 3]}}
    sequential = keras_config.model_config(
        {"class_name": "Sequential", "config": {"name": "s", "layers": [dense]}}, {}, "f.h5")
    model = rebuild.model_from_config(sequential, {}, "f.h5")
    assert model.get_layer("d1").get_weights()[0].shape == (3, 2)
    functional = {"class_name": "Functional", "config": {
        "name": "f", "input_layers": [["in", 0, 0]], "output_layers": [["d1", 0, 0]],
        "layers": [{"class_name": "InputLayer", "name": "in", "inbound_nodes": [],
                    "config": {"batch_input_shape": [None, 3], "dtype": "float32",
                               "sparse": False, "ragged": False, "name": "in"}},
                   {**dense, "name": "d1", "inbound_nodes": [[["in", 0, 0, {}]]]}]}}
    model = rebuild.model_from_config(keras_config.model_config(functional, {}, "f.h5"), {},
                                      "f.h5")
    assert type(model) is Model and [l.name for l in model.layers] == ["in", "d1"]
    assert predict(model, np.ones((2, 3), "float32")).shape == (2, 2)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("name", MODELS)
def test_load_keras_model(name, suffix):
    pytest.importorskip("h5py")
    model = saving.load_model(DATA / f"{name}{suffix}")
    x, expected = reference(name)
    np.testing.assert_allclose(predict(model, x), expected, rtol=1e-5, atol=1e-6)
    config = keras_config(name)
    assert type(model) is (Sequential if config["class_name"] == "Sequential" else Model)
    keras_layers = [(e["class_name"], e["config"]["name"]) for e in config["config"]["layers"]
                    if e["class_name"] != "InputLayer" or name in ("embed", "bn")]
    assert [(type(l).__name__, l.name) for l in model.layers] == keras_layers
    assert model.name == config["config"]["name"]


def test_loaded_keras_model_is_compiled_as_saved():
    pytest.importorskip("h5py")
    for path in ("mlp.keras", "mlp.h5"):
        model = saving.load_model(DATA / path)
        assert model.compiled
        assert model.loss == "categorical_crossentropy"
        assert model.compiled_metrics_names == ["accuracy"]
        assert type(model.optimizer).__name__ == "SGD"
        assert model.optimizer.learning_rate == pytest.approx(0.1)
    assert saving.load_model(DATA / "bn.keras").loss == "mse"
    assert not saving.load_model(DATA / "embed.keras").compiled  # never compiled in Keras
    assert not saving.load_model(DATA / "mlp.keras", compile=False).compiled


def test_keras_flatten_order_is_channels_last():
    """The CNN's Flatten sees a 2x2x2 map: a channels-first flatten would permute the Dense
    rows and change the predictions."""
    pytest.importorskip("h5py")
    model = saving.load_model(DATA / "cnn.keras")
    x, expected = reference("cnn")
    dense = model.layers[-1]
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel.reshape(2, 2, 2, 3).transpose(2, 0, 1, 3).reshape(8, 3), bias])
    assert not np.allclose(predict(model, x), expected, rtol=1e-3)


# ---- our .weights.h5 is Keras' ---------------------------------------------------------------
def _h5_layout(path):
    import h5py
    layout = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if not name.startswith("optimizer"):
                layout[name] = getattr(obj, "shape", None)
        f.visititems(visit)
    return layout


@pytest.mark.parametrize("name", MODELS)
def test_our_weights_h5_has_keras_layout(name, tmp_path):
    pytest.importorskip("h5py")
    model = TWINS[name]()
    path = tmp_path / "ours.weights.h5"
    model.save_weights(str(path))
    assert _h5_layout(path) == _h5_layout(DATA / f"{name}.weights.h5")


def test_weights_h5_round_trip(tmp_path):
    pytest.importorskip("h5py")
    source, target = bn(), bn()
    x, _ = reference("bn")
    source.set_weights([np.random.default_rng(0).normal(size=w.shape).astype("float32")
                        for w in source.get_weights()])
    saving.save_weights(source, tmp_path / "m.weights.h5")
    saving.load_weights(target, tmp_path / "m.weights.h5")
    for a, b in zip(source.get_weights(), target.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(predict(target, x), predict(source, x), rtol=1e-6)


def test_keras_key_names():
    assert keras_h5.keras_key("MaxPooling2D") == "max_pooling2d"
    assert keras_h5.keras_key("LayerNormalization") == "layer_normalization"
    assert keras_h5.keras_key("Conv2D") == "conv2d"
    assert [k for k, _ in keras_h5.keyed([L.Dense(1), L.Flatten(), L.Dense(2)])] == \
        ["dense", "flatten", "dense_1"]


# ---- native format ---------------------------------------------------------------------------
def _randomized(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def test_native_weights_round_trip(tmp_path):
    source, target = _randomized(mlp()), mlp()
    x = np.random.default_rng(1).normal(size=(7, 4)).astype("float32")
    path = tmp_path / "w.npz"
    source.save_weights(str(path))
    target.load_weights(str(path))
    np.testing.assert_array_equal(predict(target, x), predict(source, x))
    with np.load(path) as data:  # a plain .npz: numpy reads it
        header = json.loads(str(data["__deepmath__"]))
        np.testing.assert_array_equal(data["weight_0"], source.get_weights()[0])
    assert [w["layer"] for w in header["weights"]] == [l.name for l in source.layers
                                                      for _ in l.get_weights()]
    assert header["weights"][0]["shape"] == [4, 5]


def test_native_weights_any_suffix(tmp_path):
    source, target = _randomized(mlp()), mlp()
    saving.save_weights(source, tmp_path / "checkpoint")
    assert os.listdir(tmp_path) == ["checkpoint"]
    saving.load_weights(target, tmp_path / "checkpoint")
    for a, b in zip(source.get_weights(), target.get_weights()):
        np.testing.assert_array_equal(a, b)


def _needs_h5py(filename):
    if filename.endswith(".keras"):
        pytest.importorskip("h5py")


@pytest.mark.parametrize("filename", ["m.deepmath", "m.keras"])
@pytest.mark.parametrize("build", [mlp, bn], ids=["sequential", "functional"])
def test_model_round_trip(build, filename, tmp_path):
    _needs_h5py(filename)
    model = _randomized(build())
    x = np.random.default_rng(2).normal(size=(5, 4)).astype("float32")
    model.save(str(tmp_path / filename))
    loaded = saving.load_model(tmp_path / filename)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))
    assert not loaded.compiled


@pytest.mark.parametrize("filename", ["m.deepmath", "m.keras"])
def test_saved_model_continues_training_identically(filename, tmp_path):
    _needs_h5py(filename)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 16)]
    from deepmath import optimizers
    model = _randomized(mlp())
    model.compile(optimizer=optimizers.Adam(learning_rate=0.01),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    for _ in range(3):
        model.train_on_batch(x, y)
    model.save(str(tmp_path / filename))
    loaded = saving.load_model(tmp_path / filename)
    assert loaded.compiled and loaded.compiled_metrics_names == ["accuracy"]
    assert type(loaded.optimizer) is type(model.optimizer)
    for _ in range(2):  # the same losses: the same weights and optimizer state
        ours = loaded.train_on_batch(x, y, return_dict=True)["loss"]
        assert ours == pytest.approx(model.train_on_batch(x, y, return_dict=True)["loss"],
                                     rel=1e-6)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_our_keras_archive(tmp_path):
    pytest.importorskip("h5py")
    model = _randomized(bn())
    model.save(str(tmp_path / "m.keras"))
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert {"config.json", "metadata.json", "model.weights.h5"} <= set(archive.namelist())
        config = json.loads(archive.read("config.json"))
    assert config["class_name"] == "Functional"
    assert config["module"] == "keras.src.models.functional"
    assert {e["module"] for e in config["config"]["layers"]} == {"keras.layers"}
    assert config["compile_config"] is None


def test_native_custom_objects(tmp_path):
    def step(x):  # a function of the user's: saved by name
        return x * 2.0

    model = Sequential([L.Input((3,)), L.Dense(2, activation=step)])
    model.save(str(tmp_path / "m.deepmath"))
    with pytest.raises(ValueError, match="custom_objects"):
        saving.load_model(tmp_path / "m.deepmath")
    loaded = saving.load_model(tmp_path / "m.deepmath", custom_objects={"step": step})
    assert loaded.layers[0].activation is step


def test_keras_models_import_path(tmp_path):
    from deepmath.keras.models import load_model
    model = _randomized(mlp())
    model.save(str(tmp_path / "m.deepmath"))
    assert load_model(str(tmp_path / "m.deepmath")).get_config() == model.get_config()


# ---- atomic writes ---------------------------------------------------------------------------
def _fail_midway(path, *args):
    with open(path, "wb") as f:
        f.write(b"half a file")
    raise OSError("disk full")


def _fail_midway_h5(model, h5file):
    h5file.create_group("layers")
    raise OSError("disk full")


@pytest.mark.parametrize("filename", ["w.npz", "m.deepmath", "w.weights.h5"])
def test_failed_save_keeps_previous_file(filename, tmp_path, monkeypatch):
    if filename.endswith(".h5"):
        pytest.importorskip("h5py")
    path = tmp_path / filename
    old, new = _randomized(mlp(), seed=1), _randomized(mlp(), seed=2)
    save = saving.save_model if filename.endswith(".deepmath") else saving.save_weights
    save(old, path)
    before = path.read_bytes()
    monkeypatch.setattr(native, "_write_archive", _fail_midway)
    monkeypatch.setattr(keras_h5, "write_keras3", _fail_midway_h5)
    with pytest.raises(OSError, match="disk full"):
        save(new, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [filename]
    target = mlp()
    saving.load_weights(target, path)
    np.testing.assert_array_equal(target.get_weights()[0], old.get_weights()[0])


# ---- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("load", [lambda p: saving.load_model(p),
                                  lambda p: saving.load_weights(mlp(), p)],
                         ids=["load_model", "load_weights"])
@pytest.mark.parametrize("filename", ["nothing.npz", "nothing.h5", "nothing.keras"])
def test_missing_file(load, filename, tmp_path):
    with pytest.raises(FileNotFoundError, match=filename):
        load(tmp_path / filename)


@pytest.mark.parametrize("load", [lambda p: saving.load_model(p),
                                  lambda p: saving.load_weights(mlp(), p)],
                         ids=["load_model", "load_weights"])
@pytest.mark.parametrize("filename", ["random.npz", "random.h5", "random.keras",
                                      "random.weights.h5", "random.deepmath"])
def test_foreign_bytes(load, filename, tmp_path):
    path = tmp_path / filename
    path.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(ValueError, match=filename):
        load(path)


def _truncated(src, dst):
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[:len(data) // 2])
    return dst


def test_truncated_files(tmp_path):
    model = _randomized(mlp())
    model.save(str(tmp_path / "m.deepmath"))
    path = _truncated(tmp_path / "m.deepmath", tmp_path / "cut.deepmath")
    with pytest.raises(ValueError, match="cut.deepmath"):
        saving.load_model(path)
    with pytest.raises(ValueError, match="cut.deepmath"):
        saving.load_weights(mlp(), path)
    pytest.importorskip("h5py")
    for name in ("mlp.keras", "mlp.h5", "mlp.weights.h5"):
        path = _truncated(DATA / name, tmp_path / f"cut_{name}")
        with pytest.raises(ValueError, match=f"cut_{name}"):
            saving.load_weights(mlp(), path)
        with pytest.raises(ValueError, match=f"cut_{name}"):
            saving.load_model(path)


def test_foreign_npz_and_zip(tmp_path):
    np.savez(tmp_path / "plain.npz", np.zeros(3))
    with pytest.raises(ValueError, match="plain.npz.*__deepmath__"):
        saving.load_weights(mlp(), tmp_path / "plain.npz")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    pytest.importorskip("h5py")
    with pytest.raises(ValueError, match="other.keras.*model.weights.h5"):
        saving.load_model(tmp_path / "other.keras")


def test_h5_without_keras_groups(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ValueError, match="data.h5.*layer_names"):
        saving.load_weights(mlp(), tmp_path / "data.h5")
    with pytest.raises(ValueError, match="data.h5.*model_config"):
        saving.load_model(tmp_path / "data.h5")
    with pytest.raises(ValueError, match="mlp.weights.h5.*model_config"):
        saving.load_model(DATA / "mlp.weights.h5")


def test_native_shape_mismatch_names_layer(tmp_path):
    _randomized(mlp()).save_weights(str(tmp_path / "w.npz"))
    wider = Sequential([L.Input((4,)), L.Dense(6, activation="relu", name="hidden"),
                        L.Dense(3)])
    before = wider.get_weights()
    with pytest.raises(ValueError, match=r"w.npz.*'hidden'.*\(4, 6\).*\(4, 5\)"):
        wider.load_weights(str(tmp_path / "w.npz"))
    for a, b in zip(before, wider.get_weights()):  # nothing changed
        np.testing.assert_array_equal(a, b)


def test_native_count_mismatch_names_layers(tmp_path):
    _randomized(mlp()).save_weights(str(tmp_path / "w.npz"))
    deeper = Sequential([L.Input((4,)), L.Dense(5), L.Dense(3), L.Dense(3, name="extra")])
    with pytest.raises(ValueError, match=r"w.npz.*4 weight arrays.*6.*extra"):
        saving.load_weights(deeper, tmp_path / "w.npz")


def test_keras_shape_and_count_mismatch(tmp_path):
    pytest.importorskip("h5py")
    wider = Sequential([L.Input((4,)), L.Dense(6, name="hidden"), L.Dense(3)])
    for name in ("mlp.weights.h5", "mlp.keras", "mlp_legacy_weights.h5"):
        with pytest.raises(ValueError, match=rf"{name}.*'hidden'.*\(4, 6\).*\(4, 5\)"):
            saving.load_weights(wider, DATA / name)
    deeper = Sequential([L.Input((4,)), L.Dense(5), L.Dense(3), L.Dense(3, name="extra")])
    with pytest.raises(ValueError, match=r"mlp.weights.h5.*'extra'"):
        saving.load_weights(deeper, DATA / "mlp.weights.h5")
    with pytest.raises(ValueError, match=r"mlp_legacy_weights.h5.*2 layers.*3 layers"):
        saving.load_weights(deeper, DATA / "mlp_legacy_weights.h5")
    shallow = Sequential([L.Input((4,)), L.Dense(5)])
    with pytest.raises(ValueError, match=r"mlp.weights.h5.*no layer for.*dense_1"):
        saving.load_weights(shallow, DATA / "mlp.weights.h5")


def _edited_keras(tmp_path, edit):
    config = keras_config("mlp")
    edit(config["config"]["layers"])
    path = tmp_path / "edited.keras"
    with zipfile.ZipFile(DATA / "mlp.keras") as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.namelist():
            data = json.dumps(config) if item == "config.json" else src.read(item)
            dst.writestr(item, data)
    return path


def test_unsupported_keras_layer_or_option(tmp_path):
    pytest.importorskip("h5py")

    def lstm(layers):
        layers[1]["class_name"] = "LSTM"

    def regularized(layers):
        layers[2]["config"]["kernel_regularizer"] = {"class_name": "L2", "config": {}}

    def option(layers):
        layers[1]["config"]["lora_rank"] = 4

    with pytest.raises(ValueError, match=r"edited.keras.*'dense'.*LSTM"):
        saving.load_model(_edited_keras(tmp_path, lstm))
    with pytest.raises(ValueError, match=r"edited.keras.*'dense_1'.*kernel_regularizer.*L2"):
        saving.load_model(_edited_keras(tmp_path, regularized))
    with pytest.raises(ValueError, match=r"edited.keras.*'dense'.*lora_rank"):
        saving.load_model(_edited_keras(tmp_path, option))


def test_weights_file_is_not_a_model(tmp_path):
    mlp().save_weights(str(tmp_path / "w.npz"))
    with pytest.raises(ValueError, match="w.npz.*load_weights"):
        saving.load_model(tmp_path / "w.npz")


def test_keras_suffixes_refused_for_writing(tmp_path):
    model = mlp()
    for name in ("m.h5", "m.hdf5"):
        with pytest.raises(ValueError, match=name):
            saving.save_model(model, tmp_path / name)
    with pytest.raises(ValueError, match=r"w.h5.*\.weights\.h5"):
        saving.save_weights(model, tmp_path / "w.h5")
    assert os.listdir(tmp_path) == []


def test_without_h5py(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)
    model = _randomized(mlp())
    with pytest.raises(ImportError, match="pip install h5py"):
        saving.save_weights(model, tmp_path / "w.weights.h5")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ImportError, match="pip install h5py"):
        saving.load_weights(model, DATA / "mlp.weights.h5")
    with pytest.raises(ImportError, match="pip install h5py"):
        saving.load_model(DATA / "mlp.keras")
    model.save(str(tmp_path / "m.deepmath"))  # the native format needs only numpy
    assert saving.load_model(tmp_path / "m.deepmath").get_config() == model.get_config()


def test_saved_files_get_the_usual_permissions_and_overwrite_false_refuses(tmp_path):
    model = Sequential([L.Input(shape=(3,)), L.Dense(2)])
    path = tmp_path / "model.keras"
    model.save(path)
    mask = os.umask(0)
    os.umask(mask)
    assert (path.stat().st_mode & 0o777) == 0o666 & ~mask
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save(path, overwrite=False)
    with pytest.raises(FileExistsError, match="overwrite=False"):
        model.save_weights(path, overwrite=False)
    assert path.read_bytes() == before
