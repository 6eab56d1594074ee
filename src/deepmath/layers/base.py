"""The layer contract of Keras (book, chapter "Python : tensorflow avec keras"): a layer creates
its weights in `build(input_shape)` once the input is known, computes in `call(inputs,
training)`, and describes itself in `get_config()`.

Calling a layer on a tensor or an array computes (through the autodiff ops); calling it on a
symbolic `KerasTensor` (from `Input`) records a node of a functional graph and returns the
symbolic output, whose shape comes from `compute_output_shape`. Weights are deepmath tensors
(`requires_grad=True` when trainable) so the autodiff engine trains them.
"""
import functools
import re

import numpy as np

from .. import initializers
from ..backend import _arrays, check_device, default_device, device_of, to_device, to_numpy
from ..ops._base import as_tensor
from ..tensor import Tensor, get_default_dtype

_name_counts = {}


def to_snake_case(name):
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """'dense', then 'dense_1', 'dense_2'… (Keras' automatic names)."""
    count = _name_counts.get(base, 0)
    _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def shape_str(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


class KerasTensor:
    """A symbolic tensor of a functional graph: shape (batch axis None), dtype, and the node
    (layer, inputs) that produces it; None for a model input."""

    def __init__(self, shape, dtype=None, layer=None, inputs=None, name=None, call_kwargs=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype or get_default_dtype())
        self.layer, self.inputs, self.name = layer, inputs, name
        self.call_kwargs = call_kwargs or {}   # the options of the call (use_causal_mask=...)

    ndim = property(lambda self: len(self.shape))

    def __repr__(self):
        return f"<KerasTensor shape={shape_str(self.shape)}, dtype={self.dtype}, name={self.name}>"


def _is_symbolic(x):
    if isinstance(x, (list, tuple)):
        return any(_is_symbolic(v) for v in x)
    return isinstance(x, KerasTensor)


def _shape_of(x):
    if isinstance(x, (list, tuple)):
        return [_shape_of(v) for v in x]
    return tuple(x.shape)


def _to_tensor(x, dtype, device=None):
    """Inputs as tensors; arrays and lists go to `device` (tensors are left where they are:
    an op on two devices raises)."""
    if isinstance(x, (list, tuple)):
        return [_to_tensor(v, dtype, device) for v in x]
    if isinstance(x, Tensor):
        return x
    arr = x if device_of(x) == "gpu" else np.asarray(x)
    if arr.dtype.kind in "biuf" and arr.dtype != dtype and dtype is not None:
        arr = arr.astype(dtype)
    return as_tensor(arr) if device is None else Tensor(arr, device=device)


class Layer:
    """Base class: subclasses define `build`, `call`, `compute_output_shape`, `get_config`."""

    def __init_subclass__(cls, **kwargs):
        """A subclass's `build` marks the layer built, called directly or not (Keras)."""
        super().__init_subclass__(**kwargs)
        if "build" in cls.__dict__:
            original = cls.__dict__["build"]

            @functools.wraps(original)
            def build(self, input_shape=None, *args, **kw):
                original(self, input_shape, *args, **kw)
                self._build_shape, self.built = input_shape, True
            cls.build = build

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 input_dim=None, batch_size=None, **kwargs):
        for key in kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument {key!r}")
        self.name = name or unique_name(to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = np.dtype(dtype or get_default_dtype())
        self.built = False
        self._weights = []          # in creation order, as Keras' get_weights()
        self._fixed = []            # per weight: never trainable (BatchNorm's moving stats)
        self._outputs = []          # symbolic outputs, one per call on a KerasTensor
        self._inputs = []
        self._build_shape = None
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self._batch_size_arg = batch_size
        self._device = None         # set by .to(); None: where the backend creates tensors

    # ---- weights ---------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer="glorot_uniform", trainable=True, dtype=None):
        init = initializers.get(initializer)
        value = np.asarray(init(tuple(shape), dtype or self.dtype), dtype=dtype or self.dtype)
        weight = Tensor(np.ascontiguousarray(value), requires_grad=trainable,
                        name=f"{self.name}/{name}", device=self._device)
        self._weights.append(weight)
        self._fixed.append(not trainable)
        return weight

    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = bool(value)
        for w, fixed in self._weight_flags():
            w.requires_grad = self._trainable and not fixed

    def _own_weights(self):
        return self._weights

    def _weight_flags(self):
        """(weight, never trainable) pairs of this layer (a model: of all its layers)."""
        return list(zip(self._weights, self._fixed))

    @property
    def weights(self):
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self):
        return [w for w, fixed in self._weight_flags() if not fixed] if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self._own_weights())
        return [w for w, fixed in self._weight_flags() if fixed]

    trainable_variables = property(lambda self: self.trainable_weights)
    variables = property(lambda self: self.weights)

    @property
    def device(self):
        """Where the weights live: 'cpu' or 'gpu'."""
        weights = self._own_weights()
        return weights[0].device if weights else self._device or default_device()

    def to(self, device):
        """Move the weights to `device` ('cpu', 'gpu' or 'cuda'), and create there those built
        later; returns the layer (PyTorch's `Module.to`). An optimizer's state follows."""
        device = check_device(device)
        for layer in [self] + list(getattr(self, "layers", ())):
            if layer is not self:
                layer.to(device)
            layer._device = device
        for w in self._own_weights():
            if w.device != device:
                w.data, w.grad = to_device(w.data, device), None
        return self

    def get_weights(self):
        """Copies of the weights as NumPy arrays (Dense: [kernel (n_in, n_out), bias]), from
        any device."""
        return [np.array(to_numpy(w.data)) for w in self._own_weights()]

    def set_weights(self, weights):
        """Replace the weights by arrays of the same shapes, in `get_weights()` order."""
        own = self._own_weights()
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(f"layer {self.name!r} expects {len(own)} weight arrays "
                             f"({', '.join(shape_str(w.shape) for w in own)}), got "
                             f"{len(weights)}")
        arrays = []
        for target, value in zip(own, weights):
            value = to_numpy(value)
            if value.shape != target.shape:
                raise ValueError(f"layer {self.name!r}: weight {target.name!r} has shape "
                                 f"{shape_str(target.shape)}, the provided array has shape "
                                 f"{shape_str(value.shape)}")
            arrays.append(value)
        for target, value in zip(own, arrays):
            target.data[...] = to_device(value.astype(target.dtype, copy=False), target.device)

    def count_params(self):
        if not self.built:
            raise ValueError(f"count_params: layer {self.name!r} is not built yet (call it on "
                             "an input, or give the model an Input)")
        return int(sum(w.size for w in self._own_weights()))

    # ---- build / call ----------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of `input_shape` (batch axis first, may be None)."""

    def call(self, inputs, training=False):
        raise NotImplementedError(f"{type(self).__name__}.call")

    def compute_output_shape(self, input_shape):
        return input_shape

    def _head_activation(self):
        """The activation name ending this layer ('softmax', 'sigmoid'…) or None: a model
        ending with it may fuse it into the cross-entropy (see `_call_logits`)."""
        return None

    def _call_logits(self, inputs, training=False):
        """`call` without the final activation named by `_head_activation`."""
        return self.call(inputs, training=training)

    def _maybe_build(self, input_shape):
        if not self.built:
            self.build(input_shape)
            self._build_shape = input_shape
            self.built = True

    def __call__(self, inputs, training=None, **kwargs):
        if _is_symbolic(inputs):
            return self._call_symbolic(inputs, **kwargs)
        inputs = _to_tensor(inputs, self.dtype, self.device if _arrays.gpu is not None else None)
        self._maybe_build(_shape_of(inputs))
        return self.call(inputs, training=bool(training), **kwargs)

    def _call_symbolic(self, inputs, **kwargs):
        self._maybe_build(_shape_of(inputs))
        shape = self.compute_output_shape(_shape_of(inputs))
        out = KerasTensor(shape, self.dtype, layer=self, inputs=inputs,
                          name=self.name if not self._outputs else
                          f"{self.name}_{len(self._outputs)}", call_kwargs=kwargs)
        self._inputs.append(inputs)
        self._outputs.append(out)
        return out

    # ---- description -----------------------------------------------------------------------
    def _only(self, what, items):
        if not items:
            raise AttributeError(f"layer {self.name!r} has no {what}: it was never called on a "
                                 "symbolic input (give the model an Input first)")
        return items[0]

    input = property(lambda self: self._only("input", self._inputs))
    output = property(lambda self: self._only("output", self._outputs))
    input_shape = property(lambda self: _shape_of(self.input))
    output_shape = property(lambda self: _shape_of(self.output))

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self._input_shape_arg is not None:
            config["input_shape"] = self._input_shape_arg
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class InputLayer(Layer):
    """The entry of a model: holds the input's shape (without the batch axis)."""

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None,
                 batch_shape=None, **kwargs):
        if batch_shape is not None:
            batch_size, shape = batch_shape[0], tuple(batch_shape[1:])
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise ValueError("InputLayer needs shape=, e.g. Input(shape=(784,))")
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if any(d is not None and (not isinstance(d, (int, np.integer)) or d <= 0)
               for d in shape):
            raise ValueError(f"Input shape must hold positive integers or None, got {shape}")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.batch_size = batch_size
        self.built = True
        tensor = KerasTensor((batch_size,) + self.shape, self.dtype, layer=None, name=self.name)
        tensor.input_layer = self
        self._outputs.append(tensor)

    def call(self, inputs, training=False):
        return inputs

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name,
                "batch_shape": (self.batch_size,) + self.shape}


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None):
    """A symbolic model input: `Input(shape=(784,))` (shape without the batch axis)."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name,
                      batch_shape=batch_shape).output
