"""deepmath's own files: a NumPy `.npz` archive (numpy only, no h5py) whose member
`__deepmath__` is a JSON header and whose other members are arrays.

Weights (`save_weights(model, 'w.npz')`): members `weight_0`, `weight_1`… in
`model.get_weights()` order, and the header
    {"format": "deepmath.weights", "version": 1, "model": name,
     "weights": [{"layer", "name", "shape", "dtype"}, …]}
so a load checks every shape and names the layer on a mismatch.

Model (`save_model(model, 'm.deepmath')`, any suffix but Keras' works): the same archive with
"format": "deepmath.model" and, in the header, "config" ({"class_name": "Sequential" or
"Functional", "config": model.get_config()}), "compile" (optimizer, loss and metrics as
their modules serialize them, or null) and "optimizer_state" (the structure returned by
`optimizer.get_state()`, each array stored as a member `optimizer_i` and written
{"__array__": i} in the JSON), so training goes on where it stopped.

`np.load('m.deepmath')` reads either file.
"""
import io as bytes_io
import json
import zipfile

import numpy as np

from ..tensor import Tensor
from . import io, rebuild, weights as weights_module

HEADER = "__deepmath__"
_WEIGHTS, _MODEL, _OPTIMIZER = "deepmath.weights", "deepmath.model", "deepmath.optimizer"
_VERSION = 1


# ---- archive ---------------------------------------------------------------------------------
def _write_archive(path, members):
    with open(path, "wb") as f:
        np.savez(f, **members)


def _save(path, header, arrays, state_arrays=()):
    members = {HEADER: np.array(json.dumps(header))}
    members.update({f"weight_{i}": a for i, a in enumerate(arrays)})
    members.update({f"optimizer_{i}": a for i, a in enumerate(state_arrays)})
    with io.atomic_path(path) as tmp:
        _write_archive(tmp, members)


def read(path):
    """(header, weight arrays, optimizer arrays) of a deepmath file; ValueError naming the
    file when it is not one."""
    path = io.require_file(path)
    expected = "a deepmath .npz archive written by save_weights or save_model"
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable deepmath file (expected {expected}): "
                         f"{exc}") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single .npy array, not a deepmath file (expected "
                         f"{expected})")
    with data:
        if HEADER not in data.files:
            raise ValueError(f"{path}: not a deepmath file (expected {expected}, with a "
                             f"{HEADER!r} member)")
        try:
            header = json.loads(str(data[HEADER]))
            arrays = [data[f"weight_{i}"] for i in range(len(header["weights"]))]
            state = [data[f"optimizer_{i}"]
                     for i in range(header.get("optimizer_arrays", 0))]
        except (OSError, ValueError, EOFError, KeyError, TypeError,
                zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: damaged deepmath file ({type(exc).__name__}: "
                             f"{exc})") from None
    if header.get("format") not in (_WEIGHTS, _MODEL):
        raise ValueError(f"{path}: unknown format {header.get('format')!r} (expected "
                         f"{_WEIGHTS!r} or {_MODEL!r})")
    if header.get("version", 0) > _VERSION:
        raise ValueError(f"{path}: written by a newer deepmath (format version "
                         f"{header['version']}; this one reads up to {_VERSION})")
    return header, arrays, state


# ---- weights ---------------------------------------------------------------------------------
def save_weights(model, path):
    header = {"format": _WEIGHTS, "version": _VERSION, "model": model.name,
              "weights": weights_module.describe(model)}
    _save(path, header, model.get_weights())


def load_weights(model, path):
    """Weights from a deepmath weights or model file, shapes checked layer by layer."""
    header, arrays, _ = read(path)
    weights_module.assign(model, arrays, path, [w["layer"] for w in header["weights"]])


# ---- whole model -----------------------------------------------------------------------------
def _pack(obj, arrays):
    """JSON for `obj` (the optimizer's state), its arrays appended to `arrays`."""
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, np.ndarray):
        arrays.append(obj)
        return {"__array__": len(arrays) - 1}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (list, tuple)):
        return [_pack(v, arrays) for v in obj]
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("optimizer state: dictionary keys must be strings")
        return {k: _pack(v, arrays) for k, v in obj.items()}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"optimizer state holds a {type(obj).__name__}, which cannot be saved")


def _unpack(obj, arrays):
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return arrays[obj["__array__"]]
        return {k: _unpack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unpack(v, arrays) for v in obj]
    return obj


def _optimizer_state(model):
    """(JSON structure, arrays) of the optimizer's state; (None, []) without one."""
    optimizer = getattr(model, "optimizer", None)
    if not hasattr(optimizer, "get_state"):
        return None, []
    arrays = []
    return _pack(optimizer.get_state(), arrays), arrays


def _restore(model, structure, arrays, source):
    state = _unpack(structure, arrays)
    if state is None:
        return
    try:
        model.optimizer.set_state(state, model.trainable_weights)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f"{source}: cannot restore the optimizer's state: {exc}") from exc


def optimizer_archive(model):
    """The optimizer's state as the bytes of a deepmath .npz (None without a state)."""
    structure, arrays = _optimizer_state(model)
    if structure is None:
        return None
    buffer = bytes_io.BytesIO()
    np.savez(buffer, **{HEADER: np.array(json.dumps({"format": _OPTIMIZER, "version": _VERSION,
                                                     "state": structure}))},
             **{f"optimizer_{i}": a for i, a in enumerate(arrays)})
    return buffer.getvalue()


def restore_optimizer(model, file, source):
    """Set the optimizer's state from `optimizer_archive`'s bytes (an open file)."""
    try:
        with np.load(file, allow_pickle=False) as data:
            header = json.loads(str(data[HEADER]))
            arrays = [data[f"optimizer_{i}"] for i in range(len(data.files) - 1)]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{source}: damaged optimizer state ({exc})") from None
    _restore(model, header["state"], arrays, source)


def save_model(model, path):
    structure, state_arrays = _optimizer_state(model)
    header = {"format": _MODEL, "version": _VERSION, "model": model.name,
              "weights": weights_module.describe(model),
              "config": rebuild.model_config(model),
              "compile": rebuild.compile_config(model),
              "optimizer_state": structure, "optimizer_arrays": len(state_arrays)}
    _save(path, header, model.get_weights(), state_arrays)


def load_model(path, custom_objects=None, compile=True):
    header, arrays, state_arrays = read(path)
    if header["format"] != _MODEL:
        raise ValueError(f"{path}: a weights file, not a model (build the model, then "
                         "model.load_weights(path))")
    model = rebuild.model_from_config(header["config"], custom_objects, path)
    weights_module.assign(model, arrays, path, [w["layer"] for w in header["weights"]])
    if compile and header.get("compile"):
        rebuild.compile_from_config(model, header["compile"], custom_objects, path)
        _restore(model, header.get("optimizer_state"), state_arrays, path)
    return model
