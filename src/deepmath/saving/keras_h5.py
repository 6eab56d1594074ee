"""Keras' HDF5 weight layouts (h5py needed), written and read for deepmath models.

Keras 3 (`.weights.h5`, and `model.weights.h5` inside a `.keras` archive): a model is a
group holding `vars` (attribute `name`: the model's name) and `layers`, one group per entry
of `model.layers` (a Sequential's without its InputLayer, a functional model's with it). A
layer's group is keyed not by its name but by its class in snake_case, numbered among the
layers of that class in order: dense, dense_1, conv2d, max_pooling2d… It holds `vars`
(attribute `name`: the layer's name) with datasets "0", "1"… in `get_weights()` order; a
nested model is a group shaped like a model. Keras' optimizer variables (group `optimizer`)
are not read: deepmath's optimizers keep their own state.

Keras 2 (legacy `.h5`, weights only or the `model_weights` group of a full model): the
attribute `layer_names` (split into layer_names0, layer_names1… when long) lists one group per
layer, whose attribute `weight_names` lists its datasets in order (trainable weights first,
which for Keras' layers is their creation order). Layers with weights are matched in order,
as Keras does, or by name for a full-model file whose config named them.
"""
import re

import numpy as np

from .weights import check_layer, entries, layer_weights


def keras_key(class_name):
    """The snake_case Keras files key a layer by: 'MaxPooling2D' -> 'max_pooling2d'."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _class_name(layer):
    """Keras' class name: a plain functional model is a 'Functional' there."""
    from ..models import Model
    return "Functional" if type(layer) is Model else type(layer).__name__


def keyed(layers):
    """(key, layer) pairs: dense, dense_1, … numbered per class in the order given."""
    counts, pairs = {}, []
    for layer in layers:
        base = keras_key(_class_name(layer))
        n = counts[base] = counts.get(base, -1) + 1
        pairs.append((base if n == 0 else f"{base}_{n}", layer))
    return pairs


def _is_model(obj):
    from ..models import Model
    return isinstance(obj, Model)


def in_model_order(model, per_layer):
    """The model's weight arrays (get_weights order) from {id(layer): arrays of that layer}."""
    arrays = []
    for layer, w in entries(model):
        ids = [id(x) for x in layer_weights(layer)]
        arrays.append(per_layer[id(layer)][ids.index(id(w))])
    return arrays


# ---- Keras 3 ---------------------------------------------------------------------------------
def write_keras3(model, group):
    """Write the model's weights under `group` (an open h5py File) in Keras 3's layout."""
    own = group.create_group("vars")
    own.attrs["name"] = model.name
    if _is_model(model):
        children = group.create_group("layers")
        for key, layer in keyed(model.layers):
            write_keras3(layer, children.create_group(key))
    else:
        for i, array in enumerate(model.get_weights()):
            own.create_dataset(str(i), data=array)


def _datasets(vars_group):
    keys = sorted((k for k in vars_group if k.isdigit()), key=int)
    return [np.asarray(vars_group[k]) for k in keys]


def _saved_layers(group, prefix=""):
    """{path of a `vars` group holding datasets: group} under `layers` (nested too)."""
    found = {}
    layers = group.get("layers")
    for key in (layers if layers is not None else []):
        child, path = layers[key], f"{prefix}layers/{key}"
        if "vars" in child and len(child["vars"]):
            found[f"{path}/vars"] = child["vars"]
        found.update(_saved_layers(child, path + "/"))
    return found


def _read_keras3_layers(layers, group, prefix, saved, per_layer, source):
    for key, layer in keyed(layers):
        path = f"{prefix}layers/{key}"
        if _is_model(layer):
            _read_keras3_layers(layer.layers, group, path + "/", saved, per_layer, source)
            per_layer[id(layer)] = in_model_order(layer, per_layer)
            continue
        vars_group = saved.pop(f"{path}/vars", None)
        arrays = [] if vars_group is None else _datasets(vars_group)
        if vars_group is None and layer_weights(layer):
            raise ValueError(f"{source}: no weights for layer {layer.name!r} "
                             f"({type(layer).__name__}), expected at {path}/vars; the file "
                             f"holds {_describe(_saved_layers(group)) or 'no layer weights'}")
        check_layer(layer, arrays, source,
                    saved_as=None if vars_group is None else vars_group.attrs.get("name"))
        per_layer[id(layer)] = arrays


def _describe(saved):
    """'layers/dense/vars (dense_4), …' for the messages."""
    return ", ".join(f"{path} ({v.attrs.get('name', '?')})" for path, v in saved.items())


def read_keras3(model, group, source, layers=None):
    """The model's weight arrays (get_weights order) from Keras 3's layout under `group`;
    `layers`: model.layers in the order Keras listed them, when known (a .keras config)."""
    saved, per_layer = _saved_layers(group), {}
    _read_keras3_layers(layers or model.layers, group, "", saved, per_layer, source)
    if saved:
        raise ValueError(f"{source}: the file holds weights that model {model.name!r} has no "
                         f"layer for: {_describe(saved)}")
    return in_model_order(model, per_layer)


# ---- Keras 2 ---------------------------------------------------------------------------------
def _attr_list(attrs, name):
    """A list attribute of Keras 2 files, joined back from its chunks name0, name1…"""
    if name in attrs:
        values = list(attrs[name])
    else:
        values, i = [], 0
        while f"{name}{i}" in attrs:
            values += list(attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in values]


def has_legacy_layout(group):
    return "layer_names" in group.attrs or "layer_names0" in group.attrs


def _legacy_layers(group):
    """[(layer name, arrays)] of the file's layers that have weights, in the file's order."""
    saved = []
    for name in _attr_list(group.attrs, "layer_names"):
        layer_group = group[name]
        arrays = [np.asarray(layer_group[w])
                  for w in _attr_list(layer_group.attrs, "weight_names")]
        if arrays:
            saved.append((name, arrays))
    return saved


def read_legacy(model, group, source, by_name=False):
    """The model's weight arrays from Keras 2's layout under `group`: layers with weights
    paired in order (Keras' load_weights) or by name."""
    saved = _legacy_layers(group)
    layers = [layer for layer in model.layers if layer_weights(layer)]
    if by_name:
        table, pairs = dict(saved), []
        for layer in layers:
            if layer.name not in table:
                raise ValueError(f"{source}: no weights for layer {layer.name!r}; the file "
                                 f"holds {', '.join(table) or 'none'}")
            pairs.append((layer, layer.name, table.pop(layer.name)))
        if table:
            raise ValueError(f"{source}: the file holds weights for layers "
                             f"{', '.join(table)} that model {model.name!r} does not have")
    else:
        if len(saved) != len(layers):
            raise ValueError(f"{source}: the file holds weights for {len(saved)} layers "
                             f"({', '.join(n for n, _ in saved) or 'none'}), model "
                             f"{model.name!r} has {len(layers)} layers with weights "
                             f"({', '.join(layer.name for layer in layers) or 'none'})")
        pairs = [(layer, name, arrays) for layer, (name, arrays) in zip(layers, saved)]
    per_layer = {}
    for layer, name, arrays in pairs:
        check_layer(layer, arrays, source, saved_as=name if name != layer.name else None)
        per_layer[id(layer)] = arrays
    for layer in model.layers:
        per_layer.setdefault(id(layer), [])
    return in_model_order(model, per_layer)


def read_any(model, h5file, source):
    """Weight arrays from whichever Keras layout the open file holds."""
    if "layers" in h5file or "vars" in h5file:
        return read_keras3(model, h5file, source)
    if "model_weights" in h5file and has_legacy_layout(h5file["model_weights"]):
        return read_legacy(model, h5file["model_weights"], source)
    if has_legacy_layout(h5file):
        return read_legacy(model, h5file, source)
    raise ValueError(f"{source}: an HDF5 file without Keras weights (expected a 'layers' group "
                     "as in Keras 3's .weights.h5, or a 'layer_names' attribute as in Keras "
                     "2's .h5)")
