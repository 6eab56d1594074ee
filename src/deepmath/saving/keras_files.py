"""Whole Keras models (h5py needed): a Keras 3 `.keras` archive (a zip of config.json,
model.weights.h5 in Keras 3's layout and metadata.json), read and written, and a legacy
`.h5` (attributes model_config and training_config, groups model_weights and
optimizer_weights), read.

Keras' optimizer variables are not read: a model from Keras is compiled as it was, with a
fresh optimizer state. A `.keras` written by deepmath carries its optimizer's state in one
more member, `deepmath_optimizer.npz` (deepmath's format), which Keras ignores.
"""
import datetime
import io as bytes_io
import json
import zipfile

from .. import __version__
from . import io, keras_config, keras_h5, native, rebuild, weights

_OPTIMIZER_MEMBER = "deepmath_optimizer.npz"

_NEUTRAL_OPTIMIZER = {"use_ema": False, "ema_momentum": None, "ema_overwrite_frequency": None,
                      "loss_scale_factor": None, "gradient_accumulation_steps": None,
                      "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
                      "clipvalue": None, "amsgrad": False, "nesterov": False,
                      "centered": False}


def _optimizer(value):
    """Keras' optimizer config without the options left at their neutral value."""
    if not isinstance(value, dict):
        return value
    config = dict(value.get("config") or {})
    use_ema = config.get("use_ema", False)
    for key, neutral in _NEUTRAL_OPTIMIZER.items():
        if key in config and (config[key] == neutral or config[key] is None
                              or (key.startswith("ema_") and not use_ema)):
            del config[key]
    return {"class_name": value["class_name"], "config": config}


def _compile(model, compile_config, custom_objects, source):
    """Compile as Keras' compile config (or a legacy training_config) says."""
    metrics = compile_config.get("metrics") or []
    if len(metrics) == 1 and isinstance(metrics[0], list):  # one list per output (Keras 2)
        metrics = metrics[0]
    optimizer = compile_config.get("optimizer", compile_config.get("optimizer_config"))
    rebuild.compile_from_config(model, {"optimizer": _optimizer(optimizer),
                                        "loss": compile_config.get("loss"),
                                        "metrics": metrics}, custom_objects, source)


def _build(config, custom_objects, source):
    deepmath_config = keras_config.model_config(config, custom_objects, source)
    return rebuild.model_from_config(deepmath_config, custom_objects, source)


def _keras_order(model, config):
    """model.layers in the order of Keras' config (the order that keyed its weights)."""
    names = [entry.get("name") or entry["config"]["name"]
             for entry in config["config"]["layers"]
             if config["class_name"] != "Sequential" or entry["class_name"] != "InputLayer"]
    return [model.get_layer(name) for name in names]


def load_keras(path, custom_objects=None, compile=True):
    """A deepmath model from a Keras 3 `.keras` archive."""
    expected = "a Keras .keras archive (zip with config.json and model.weights.h5)"
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = {"config.json", "model.weights.h5"} - names
            if missing:
                raise ValueError(f"{path}: no {', '.join(sorted(missing))} inside (expected "
                                 f"{expected})")
            config = json.loads(archive.read("config.json"))
            weights_bytes = archive.read("model.weights.h5")
            state = archive.read(_OPTIMIZER_MEMBER) if _OPTIMIZER_MEMBER in names else None
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a readable .keras file (expected {expected}): "
                         f"{exc}") from None
    model = _build(config, custom_objects, path)
    with io.open_h5(bytes_io.BytesIO(weights_bytes), f"{path} (model.weights.h5)") as f:
        arrays = _read(lambda: keras_h5.read_keras3(model, f, path, _keras_order(model, config)),
                       path)
    weights.assign(model, arrays, path)
    if compile and config.get("compile_config"):
        _compile(model, config["compile_config"], custom_objects, path)
        if state is not None:
            native.restore_optimizer(model, bytes_io.BytesIO(state), path)
    return model


def _read(reader, source):
    """Run a reader of HDF5 content; a damaged file's errors become ValueErrors naming it."""
    try:
        return reader()
    except (KeyError, OSError, TypeError) as exc:
        raise ValueError(f"{source}: damaged or unexpected HDF5 content: {exc}") from None


def _attr_json(attrs, name):
    value = attrs.get(name)
    if value is None:
        return None
    return json.loads(value.decode("utf8") if isinstance(value, bytes) else value)


def load_h5(path, custom_objects=None, compile=True):
    """A deepmath model from a legacy full-model `.h5` (Keras 2, or Keras 3's model.save)."""
    with io.open_h5(path, path) as f:
        config = _attr_json(f.attrs, "model_config")
        if config is None or "model_weights" not in f:
            what = "weights only" if keras_h5.has_legacy_layout(f) or "layers" in f else \
                "no Keras model"
            raise ValueError(f"{path}: an HDF5 file without a model_config attribute and a "
                             f"model_weights group ({what}): expected a full Keras model saved "
                             "as .h5; for a weights file build the model and call "
                             "model.load_weights")
        model = _build(config, custom_objects, path)
        arrays = _read(lambda: keras_h5.read_legacy(model, f["model_weights"], path,
                                                    by_name=True), path)
        training = _attr_json(f.attrs, "training_config")
    weights.assign(model, arrays, path)
    if compile and training:
        _compile(model, training, custom_objects, path)
    return model


def load_weights(model, path):
    """Weights from any Keras file: .weights.h5, legacy .h5 (weights only or full model),
    or the weights inside a .keras archive."""
    if io.kind_of(path) == "zip":
        with zipfile.ZipFile(path) as archive:
            if "model.weights.h5" not in archive.namelist():
                raise ValueError(f"{path}: a zip without model.weights.h5 (expected a .keras "
                                 "archive)")
            content = bytes_io.BytesIO(archive.read("model.weights.h5"))
        source = f"{path} (model.weights.h5)"
    else:
        content, source = path, path
    with io.open_h5(content, source) as f:
        arrays = _read(lambda: keras_h5.read_any(model, f, path), path)
    weights.assign(model, arrays, path)


def save_weights(model, path):
    """Keras 3's `.weights.h5` layout, which Keras' model.load_weights reads."""
    with io.atomic_path(path) as tmp:
        with io.open_h5(tmp, path, "w") as f:
            keras_h5.write_keras3(model, f)


def save_keras(model, path):
    """A Keras 3 `.keras` archive of the model (Keras' load_model reads it), with deepmath's
    optimizer state as an extra member."""
    config = keras_config.to_keras(rebuild.model_config(model))
    config["compile_config"] = keras_config.to_keras_compile(rebuild.compile_config(model))
    metadata = {"keras_version": f"deepmath {__version__}",
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    weights_file = bytes_io.BytesIO()
    with io.open_h5(weights_file, path, "w") as f:
        keras_h5.write_keras3(model, f)
    state = native.optimizer_archive(model)
    with io.atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w") as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("config.json", json.dumps(config))
            archive.writestr("model.weights.h5", weights_file.getvalue())
            if state is not None:
                archive.writestr(_OPTIMIZER_MEMBER, state)
