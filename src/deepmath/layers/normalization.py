"""LayerNormalization and BatchNormalization (Keras 3 semantics), each computed by one
differentiable op of `deepmath.ops.normalization`:

    y = γ·(x - μ)/√(σ² + ε) + β

LayerNormalization: μ, σ² of each sample over `axis` (γ, β along those axes).
BatchNormalization: μ, σ² of each feature of `axis` over the batch (and height, width) in
training, where the moving statistics follow moving = moving·momentum + batch·(1 - momentum);
in inference (training=False, or the layer frozen with trainable=False, as Keras 3) the
moving statistics. Its weights, in Keras' order: gamma, beta, moving_mean, moving_variance,
the last two never trainable.
"""
from .. import initializers
from ..ops._base import normalize_axis
from ..ops.normalization import batch_norm, layer_norm
from ._validation import is_int, who
from .base import Layer, shape_str


def _check_axes(layer, input_shape, axis):
    """`axis` as sorted non-negative axes of input_shape, whose sizes must be known."""
    try:
        axes = normalize_axis(axis, len(input_shape))
    except ValueError:
        axes = ()
    if not axes:
        raise ValueError(f"{who(layer)}: axis {axis!r} is out of range for inputs of shape "
                         f"{shape_str(input_shape)}")
    if any(input_shape[a] is None for a in axes):
        raise ValueError(f"{who(layer)}: the size of axis {axis!r} must be known, got input "
                         f"shape {shape_str(input_shape)}")
    return axes


class _Normalization(Layer):
    """What both layers share: γ and β along the axes `_axes`, the input checks."""

    def __init__(self, epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    def _build_params(self, input_shape, axes):
        self._rank, self._axes = len(input_shape), axes
        self._param_shape = tuple(input_shape[a] for a in axes)
        self.gamma = (self.add_weight("gamma", self._param_shape, self.gamma_initializer)
                      if self.scale else None)
        self.beta = (self.add_weight("beta", self._param_shape, self.beta_initializer)
                     if self.center else None)

    def _check_input(self, shape):
        if len(shape) != self._rank or tuple(shape[a] for a in self._axes) != self._param_shape:
            expected = ["?"] * self._rank
            for a, n in zip(self._axes, self._param_shape):
                expected[a] = str(n)
            raise ValueError(f"{who(self)} was built for inputs of shape "
                             f"({', '.join(expected)}), got shape {shape_str(shape)}")

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer)}


class LayerNormalization(_Normalization):
    """LayerNormalization(axis=-1, epsilon=1e-3): each sample normalized over `axis` (an int
    or a list of axes); gamma and beta have the shape of those axes."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        if not (is_int(axis) or isinstance(axis, (list, tuple)) and all(map(is_int, axis))):
            raise TypeError(f"{who(self)}: axis must be an int or a list of ints, got "
                            f"{axis!r}")
        self.axis = int(axis) if is_int(axis) else [int(a) for a in axis]

    def build(self, input_shape):
        self._build_params(input_shape, _check_axes(self, input_shape, self.axis))

    def call(self, inputs, training=False):
        self._check_input(inputs.shape)
        return layer_norm(inputs, self.gamma, self.beta, self._axes, self.epsilon)


class BatchNormalization(_Normalization):
    """BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3): `axis` is the feature axis
    (the channels of images); the statistics run over all the other axes."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 **kwargs):
        super().__init__(epsilon, center, scale, beta_initializer, gamma_initializer, **kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]                     # as Keras 2 wrote it in its configs: [3]
        if not is_int(axis):
            raise TypeError(f"{who(self)}: axis must be an int, got {axis!r}")
        self.axis, self.momentum = int(axis), float(momentum)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        axes = _check_axes(self, input_shape, self.axis)
        self._build_params(input_shape, axes)
        self.moving_mean = self.add_weight("moving_mean", self._param_shape,
                                           self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight("moving_variance", self._param_shape,
                                               self.moving_variance_initializer,
                                               trainable=False)

    def call(self, inputs, training=False):
        self._check_input(inputs.shape)
        return batch_norm(inputs, self.moving_mean, self.moving_variance, self.gamma,
                          self.beta, training=bool(training) and self.trainable,
                          momentum=self.momentum, epsilon=self.epsilon, axis=self._axes[0])

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum,
                "moving_mean_initializer":
                    initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer":
                    initializers.serialize(self.moving_variance_initializer)}
