"""Saving and loading models: deepmath's own format, and Keras' files.

    save_weights(model, 'w.npz')            deepmath's .npz (numpy only; see `native`)
    save_weights(model, 'w.weights.h5')     Keras 3's layout: real Keras loads it too
    load_weights(model, path)               either of those, a Keras 2 .h5, or a .keras
    save_model(model, 'm.deepmath')         config + weights + compile + optimizer state
    save_model(model, 'm.keras')            the same as a Keras 3 archive Keras loads too
    load_model(path)                        either, or Keras' .keras and legacy .h5 models

What a file is comes from its name when writing (`.weights.h5`, `.keras` -> Keras 3, any
other name but Keras' -> deepmath's format) and from its content when reading. Every write
goes to a temporary file in the same folder, renamed over the target only once complete.
Keras files need h5py (`pip install h5py`); the native format needs only numpy.
"""
from . import io, native

__all__ = ["save_weights", "load_weights", "save_model", "load_model"]


def _suffix(path):
    name = str(path).lower()
    for suffix in (".weights.h5", ".h5", ".hdf5", ".keras"):
        if name.endswith(suffix):
            return suffix
    return None


def save_weights(model, path):
    """Weights to `path`: Keras 3's `.weights.h5`, else deepmath's `.npz`."""
    suffix = _suffix(path)
    if suffix == ".weights.h5":
        from . import keras_files
        return keras_files.save_weights(model, path)
    if suffix is not None:
        raise ValueError(f"save_weights({str(path)!r}): deepmath writes weights as "
                         "'.weights.h5' (Keras 3) or '.npz' (deepmath); use model.save for "
                         "whole models")
    return native.save_weights(model, path)


def load_weights(model, path):
    """Weights into a built model from any file save_weights or Keras writes; shapes are
    checked before any weight changes, errors name the layer."""
    path = io.require_file(path)
    kind = io.kind_of(path)
    if kind == "hdf5" or (kind == "zip" and "model.weights.h5" in io.zip_members(path)):
        from . import keras_files
        return keras_files.load_weights(model, path)
    if kind == "zip":
        return native.load_weights(model, path)
    raise ValueError(f"{path}: not a weights file (expected deepmath's .npz archive, an "
                     "HDF5 file from Keras or a .keras archive)")


def save_model(model, path):
    """The whole model (config, weights, compile settings, optimizer state): a Keras 3
    `.keras` archive for that suffix (Keras loads it too), else deepmath's format."""
    suffix = _suffix(path)
    if suffix == ".keras":
        from . import keras_files
        return keras_files.save_keras(model, path)
    if suffix is not None:
        raise ValueError(f"save_model({str(path)!r}): deepmath writes models as '.keras' "
                         "(Keras 3) or in its own format (e.g. 'model.deepmath'); legacy "
                         f"{suffix} model files are read, not written")
    return native.save_model(model, path)


def load_model(path, custom_objects=None, compile=True):
    """A model from deepmath's format, a Keras 3 `.keras` archive or a legacy Keras `.h5`."""
    path = io.require_file(path)
    kind = io.kind_of(path)
    if kind == "hdf5":
        from . import keras_files
        return keras_files.load_h5(path, custom_objects, compile)
    if kind == "zip" and "config.json" in io.zip_members(path):
        from . import keras_files
        return keras_files.load_keras(path, custom_objects, compile)
    if kind == "zip":
        return native.load_model(path, custom_objects, compile)
    raise ValueError(f"{path}: not a model file (expected deepmath's format, a Keras .keras "
                     "archive or a Keras .h5 model)")
