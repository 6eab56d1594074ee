"""Keras' `Sequential`: layers applied one after the other (book, chapter "Python : tensorflow
avec keras"). With an `Input` (or `input_shape=` on the first layer) the model is built as
layers are added, so `summary()` works at once and a wrong shape fails at `add`; without
one it is built on the first data it sees.
"""
from ..layers.base import InputLayer, KerasTensor, Layer, unique_name
from .functional import Model


class Sequential(Model):
    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable,
                       **kwargs)
        from .training import Trainer
        Trainer.__init__(self)
        self._layer_list, self._input_layer = [], None
        self.inputs, self.outputs, self._nodes = [], [], []
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        return list(self._layer_list)

    def add(self, layer):
        """Append a layer (an `Input(...)` tensor or `InputLayer` sets the input shape)."""
        if isinstance(layer, KerasTensor):
            if not hasattr(layer, "input_layer"):
                raise TypeError("Sequential.add takes layers or an Input(...); got the output "
                                "of a layer (use the functional Model for graphs)")
            layer = layer.input_layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer, got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._layer_list:
                raise ValueError("Sequential: an Input can only come first")
            self._input_layer = layer
            self._connect()
            return
        if any(existing.name == layer.name for existing in self._layer_list):
            raise ValueError(f"Sequential: a layer named {layer.name!r} is already in "
                             f"model {self.name!r}; layer names must be unique")
        if (not self._layer_list and self._input_layer is None
                and layer._input_shape_arg is not None):
            self._input_layer = InputLayer(shape=layer._input_shape_arg,
                                           batch_size=layer._batch_size_arg)
        self._layer_list.append(layer)
        if self._input_layer is not None:
            try:
                self._connect()
            except Exception:
                self._layer_list.pop()
                self._connect()
                raise

    def pop(self):
        if not self._layer_list:
            raise IndexError("Sequential.pop: the model has no layer")
        layer = self._layer_list.pop()
        self._connect()
        return layer

    def _connect(self):
        """Run the layers on the symbolic input: builds them and records their outputs."""
        if self._input_layer is None:
            return
        x, nodes = self._input_layer.output, []
        for i, layer in enumerate(self._layer_list):
            if i < len(self._nodes) and self._nodes[i][0] is layer and self._nodes[i][1] is x:
                nodes.append(self._nodes[i])      # already connected: keep its node
            else:
                out = layer(x)
                nodes.append((layer, x, out))
            x = nodes[-1][2]
        self.inputs, self._nodes = [self._input_layer.output], nodes
        self.outputs = [x]
        self._input_struct, self._output_struct = self.inputs[0], x
        self.built = bool(self._layer_list)

    def build(self, input_shape=None):
        if input_shape is None:
            raise ValueError("Sequential.build needs input_shape (with the batch axis)")
        if self._input_layer is None:
            self._input_layer = InputLayer(shape=tuple(input_shape)[1:],
                                           batch_size=tuple(input_shape)[0])
        self._connect()

    def _maybe_build(self, input_shape):
        if not self.built or self._input_layer is None:
            if not self._layer_list:
                raise ValueError(f"model {self.name!r} has no layers: add some first")
            if self._input_layer is None:
                self.build((None,) + tuple(input_shape[1:]))

    def call(self, inputs, training=False, logits=False):
        if self._input_layer is None:
            self._maybe_build(tuple(inputs.shape))
        x = self._check_inputs(inputs)[0]
        layers = self._layer_list
        last = len(layers) - 1
        for i, layer in enumerate(layers):
            x = layer._call_logits(x, training) if logits and i == last else \
                layer.call(x, training=training)
        return x

    def _head(self):
        return self._layer_list[-1] if self._layer_list else None

    def get_config(self):
        layers = [] if self._input_layer is None else \
            [{"class_name": "InputLayer", "config": self._input_layer.get_config()}]
        layers += [{"class_name": type(layer).__name__, "config": layer.get_config()}
                   for layer in self._layer_list]
        return {"name": self.name, "trainable": self.trainable, "layers": layers}

    @classmethod
    def from_config(cls, config):
        from ..layers import deserialize
        return cls([deserialize(entry) for entry in config["layers"]], name=config.get("name"))
