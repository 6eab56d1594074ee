"""A model's weights layer by layer: the arrays of `model.get_weights()` with the layer and
name of each, and an assignment checked against them before any weight changes, whose
errors name the layer, the weight and both shapes."""
import numpy as np

from ..layers.base import shape_str


def layer_weights(layer):
    """The weight tensors of one layer (a nested model: all of its own), `get_weights` order."""
    return list(layer._own_weights())


def entries(model):
    """(layer, weight tensor) pairs in `model.get_weights()` order (a weight shared by two
    layers counts once, for the first)."""
    layers = getattr(model, "layers", None)
    if layers is None:
        return [(model, w) for w in layer_weights(model)]
    seen, pairs = set(), []
    for layer in layers:
        for w in layer_weights(layer):
            if id(w) not in seen:
                seen.add(id(w))
                pairs.append((layer, w))
    return pairs


def describe(model):
    """[{'layer', 'name', 'shape', 'dtype'}] of the model's weights, for a file's header."""
    return [{"layer": layer.name, "name": w.name, "shape": list(w.shape), "dtype": w.dtype.name}
            for layer, w in entries(model)]


def _shapes(arrays):
    return ", ".join(shape_str(np.shape(a)) for a in arrays) or "none"


def check_layer(layer, arrays, source, saved_as=None):
    """Raise a ValueError naming the layer unless `arrays` fit its weights one by one."""
    own = layer_weights(layer)
    where = f"layer {layer.name!r}" + (f" (saved as {saved_as!r})" if saved_as else "")
    if len(arrays) != len(own):
        raise ValueError(f"{source}: {where} has {len(own)} weights ({_shapes(own)}), the "
                         f"file holds {len(arrays)} ({_shapes(arrays)})")
    for w, a in zip(own, arrays):
        if tuple(w.shape) != tuple(np.shape(a)):
            raise ValueError(f"{source}: {where}: weight {w.name!r} has shape "
                             f"{shape_str(w.shape)}, the file's has shape "
                             f"{shape_str(np.shape(a))}")


def assign(model, arrays, source, saved_layers=None):
    """Set the model's weights from `arrays` (get_weights order) once every shape is checked;
    `saved_layers` (the file's layer name of each array, when known) goes in the messages."""
    pairs = entries(model)
    if not pairs and len(arrays):
        raise ValueError(f"{source}: model {model.name!r} has no weights yet: give it an Input "
                         "(or build it) before loading weights")
    if len(arrays) != len(pairs):
        listed = ""
        if saved_layers is not None:
            listed = f" (layers {', '.join(dict.fromkeys(saved_layers)) or 'none'})"
        raise ValueError(f"{source}: the file holds {len(arrays)} weight arrays{listed}, model "
                         f"{model.name!r} has {len(pairs)} (layers "
                         f"{', '.join(dict.fromkeys(l.name for l, _ in pairs)) or 'none'})")
    for i, ((layer, w), a) in enumerate(zip(pairs, arrays)):
        if tuple(w.shape) != tuple(np.shape(a)):
            saved = f" (saved as layer {saved_layers[i]!r})" if saved_layers else ""
            raise ValueError(f"{source}: layer {layer.name!r}{saved}: weight {w.name!r} has "
                             f"shape {shape_str(w.shape)}, the file's has shape "
                             f"{shape_str(np.shape(a))}")
    model.set_weights(list(arrays))
