"""Keras' functional `Model(inputs, outputs)`: a graph of layers recorded by calling them on
symbolic `Input`s, run in topological order. The book's sub-model trick
`Model(inputs=m.inputs, outputs=m.layers[i].output)` gives the feature maps of layer i.
"""
import os

from ..layers import base
from ..layers.base import KerasTensor, Layer, shape_str, unique_name
from .training import Trainer


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _graph_nodes(inputs, outputs):
    """The (layer, inputs, output) nodes between `inputs` and `outputs`, each after the nodes
    it reads (iterative depth-first post-order: no recursion limit on deep graphs)."""
    input_ids = {id(t) for t in inputs}
    order, done, stack = [], set(), [(t, False) for t in reversed(outputs)]
    while stack:
        t, expanded = stack.pop()
        if id(t) in done:
            continue
        if id(t) in input_ids:
            done.add(id(t))
            continue
        if t.layer is None:
            raise ValueError(f"the outputs depend on {t.name!r}, which is not among the model's "
                             "inputs")
        if expanded:
            done.add(id(t))
            order.append((t.layer, t.inputs, t))
            continue
        stack.append((t, True))
        stack.extend((p, False) for p in reversed(_as_list(t.inputs)) if id(p) not in done)
    return order


class Model(Trainer, Layer):
    """`Model(inputs, outputs, name=None)`: a functional model; subclasses (such as
    `Sequential`) reuse its weights, training and description."""

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name or unique_name(self._default_name()),
                       trainable=trainable, **kwargs)
        Trainer.__init__(self)
        if inputs is None or outputs is None:
            raise ValueError("Model needs inputs= and outputs= (symbolic tensors from Input "
                             "and from calling layers on them)")
        self._set_graph(inputs, outputs)

    @staticmethod
    def _default_name():
        return "functional"

    def _set_graph(self, inputs, outputs):
        for t in _as_list(inputs) + _as_list(outputs):
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model inputs and outputs must be symbolic tensors (from Input "
                                f"and layer calls), got {type(t).__name__}")
        self._input_struct, self._output_struct = inputs, outputs
        self.inputs, self.outputs = _as_list(inputs), _as_list(outputs)
        self._nodes = _graph_nodes(self.inputs, self.outputs)
        seen, ordered = set(), []
        for layer in [t.input_layer for t in self.inputs if hasattr(t, "input_layer")] + \
                [node[0] for node in self._nodes]:
            if id(layer) not in seen:
                seen.add(id(layer))
                ordered.append(layer)
        names = [layer.name for layer in ordered]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise ValueError(f"model {self.name!r}: two layers are named {duplicate!r}; "
                             "layer names must be unique")
        self._layer_list = ordered
        self.built = True

    # ---- structure -------------------------------------------------------------------------
    @property
    def layers(self):
        return list(self._layer_list)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r} in model {self.name!r}; layers: "
                         f"{', '.join(layer.name for layer in self.layers)}")

    input = property(lambda self: self._input_struct)
    output = property(lambda self: self._output_struct)

    def _own_weights(self):
        return [w for w, _ in self._weight_flags()]

    def _weight_flags(self):
        pairs, seen = [], set()
        for layer in self.layers:
            for w, fixed in layer._weight_flags():
                if id(w) not in seen:
                    seen.add(id(w))
                    pairs.append((w, fixed or not layer.trainable))
        return pairs

    def count_params(self):
        return int(sum(w.size for w in self._own_weights()))

    # ---- computing -------------------------------------------------------------------------
    def _check_inputs(self, inputs):
        given = _as_list(inputs)
        if len(given) != len(self.inputs):
            raise ValueError(f"model {self.name!r} expects {len(self.inputs)} input(s), got "
                             f"{len(given)}")
        for i, (x, spec) in enumerate(zip(given, self.inputs)):
            shape = tuple(x.shape)
            if len(shape) != len(spec.shape) or any(
                    s is not None and s != d for s, d in zip(spec.shape, shape)):
                raise ValueError(f"input {i} of model {self.name!r} is incompatible: expected "
                                 f"shape {shape_str(spec.shape)}, got {shape_str(shape)}")
        return given

    def call(self, inputs, training=False, logits=False):
        """Run the graph on tensors. With `logits=True` the last layer's activation is left
        out (the fused softmax/sigmoid cross-entropy then applies it)."""
        values = {id(spec): x for spec, x in zip(self.inputs, self._check_inputs(inputs))}
        last = len(self._nodes) - 1
        for i, (layer, args, out) in enumerate(self._nodes):
            if isinstance(args, (list, tuple)):
                x = [values[id(a)] for a in args]
            else:
                x = values[id(args)]
            if logits and i == last:
                values[id(out)] = layer._call_logits(x, training)
            else:
                values[id(out)] = layer.call(x, training=training, **out.call_kwargs)
        results = [values[id(t)] for t in self.outputs]
        return results if isinstance(self._output_struct, (list, tuple)) else results[0]

    def _head(self):
        """The layer whose activation ends the model (for the fused cross-entropy)."""
        if len(self.outputs) != 1 or not self._nodes:
            return None
        layer, _, out = self._nodes[-1]
        return layer if out is self.outputs[0] else None

    def compute_output_shape(self, input_shape):
        shapes = [t.shape for t in self.outputs]
        return shapes if isinstance(self._output_struct, (list, tuple)) else shapes[0]

    # ---- files (deepmath.saving) -----------------------------------------------------------
    def save_weights(self, filepath, overwrite=True):
        """Weights to `.weights.h5` (Keras 3's layout) or the native `.npz`, atomically."""
        from .. import saving
        _check_overwrite(filepath, overwrite)
        saving.save_weights(self, filepath)

    def load_weights(self, filepath):
        from .. import saving
        saving.load_weights(self, filepath)

    def save(self, filepath, overwrite=True):
        """Config, weights, compile settings and optimizer state in one file."""
        from .. import saving
        _check_overwrite(filepath, overwrite)
        saving.save_model(self, filepath)

    # ---- description -----------------------------------------------------------------------
    def summary(self, line_length=None, print_fn=None):
        from .summary import print_summary
        print_summary(self, line_length=line_length, print_fn=print_fn)

    def get_config(self):
        """Keras 3's functional config: layers with their inbound nodes, input/output names."""
        in_model = {id(node[2]) for node in self._nodes} | {id(t) for t in self.inputs}

        def node_outputs(layer):
            return [t for t in layer._outputs if id(t) in in_model]

        def ref(t):
            layer = t.layer if t.layer is not None else t.input_layer
            return [layer.name, [id(o) for o in node_outputs(layer)].index(id(t)), 0]

        layers = []
        for layer in self.layers:
            entry = {"class_name": type(layer).__name__, "config": layer.get_config(),
                     "name": layer.name, "inbound_nodes": []}
            for args, out in zip(layer._inputs, layer._outputs):
                if id(out) in in_model:
                    refs = [ref(a) for a in _as_list(args)]
                    if out.call_kwargs:         # Keras 2's place for a call's options
                        refs[0] = refs[0] + [_jsonable(out.call_kwargs)]
                    entry["inbound_nodes"].append(refs)
            layers.append(entry)
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": [ref(t) for t in self.inputs],
                "output_layers": [ref(t) for t in self.outputs]}

    @classmethod
    def from_config(cls, config):
        from ..layers import deserialize
        tensors, layers = {}, {}
        for entry in config["layers"]:
            layer = deserialize(entry)
            layers[entry["name"]] = layer
            if isinstance(layer, base.InputLayer):
                tensors[(layer.name, 0)] = layer.output
        pending = [e for e in config["layers"] if e["inbound_nodes"]]
        while pending:
            progressed = False
            for entry in list(pending):
                for k, node in enumerate(entry["inbound_nodes"]):
                    if (entry["name"], k) in tensors:
                        continue
                    keys = [(ref[0], ref[1]) for ref in node]
                    if all(key in tensors for key in keys):
                        args = [tensors[key] for key in keys]
                        options = node[0][3] if len(node[0]) > 3 else {}
                        out = _call_node(layers[entry["name"]], args, options)
                        tensors[(entry["name"], k)] = out
                        progressed = True
                if all((entry["name"], k) in tensors
                       for k in range(len(entry["inbound_nodes"]))):
                    pending.remove(entry)
            if not progressed and pending:
                raise ValueError("model config: cannot connect layers "
                                 f"{', '.join(e['name'] for e in pending)}")
        pick = [tensors[(name, index)] for name, index, _ in config["input_layers"]]
        outs = [tensors[(name, index)] for name, index, _ in config["output_layers"]]
        return cls(inputs=pick if len(pick) > 1 else pick[0],
                   outputs=outs if len(outs) > 1 else outs[0], name=config.get("name"))


def _call_node(layer, args, options):
    """Call `layer` on the symbolic `args` of a config node with its saved options."""
    from ..layers.attention import MultiHeadAttention
    if isinstance(layer, MultiHeadAttention):    # its inputs are positional arguments
        return layer(*args, **options)
    return layer(args[0] if len(args) == 1 else args, **options)


def _jsonable(options):
    return {k: v.tolist() if hasattr(v, "tolist") else v for k, v in options.items()}


def _check_overwrite(filepath, overwrite):
    """Keras asks before replacing a file when overwrite=False; we refuse instead."""
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{os.fspath(filepath)} exists and overwrite=False: not replaced")
