"""The training step of a chain of Flatten and Dense layers (the book's networks of chapters
"Python : tensorflow avec keras" 1 and 2), without the autodiff graph.

It calls the backend kernels that `ops.dense` calls, in the same order, so it computes the
same numbers as the graph; what it leaves out is the graph's bookkeeping (a node per op, the
topological sort, dictionaries of pending gradients), which is most of a small network's step
(measured on the 784-8-8-10 MNIST network, batch 32: 170 µs → 65 µs of kernels).
The loss stays on the graph, over a leaf holding the last layer's output, so every loss works
(the fused softmax cross-entropy, MSE, a user's function, sample weights) and gives
dL/d(output), which the chain then carries back layer by layer (chapter "Rétropropagation").
"""
import numpy as np

from ..backend import NativeBackend, backend_of
from ..backend._native_import import kernels
from ..backend.gemm import SAVES_PREACT
from ..layers.core import Dense
from ..layers.reshaping import Flatten
from ..losses import CategoricalCrossentropy
from ..tensor import Tensor, run_backward


class DenseChain:
    """`plan(model, variables)`: the chain of `model`, or None when the model is anything else
    (other layers, branches, several inputs, frozen weights, an activation given as a Python
    function…), in which case the graph does the step."""

    def __init__(self, layers, logits, backend):
        self.layers, self.logits, self.backend = layers, logits, backend

    @classmethod
    def plan(cls, model, variables):
        layers = _chain_layers(model)
        if not layers or any(type(layer) not in (Dense, Flatten) for layer in layers):
            return None
        dense = [layer for layer in layers if type(layer) is Dense]
        if not dense or not all(layer.trainable for layer in dense):
            return None
        weights = [w for layer in dense for w in (layer.kernel, layer.bias) if w is not None]
        if [id(w) for w in weights] != [id(v) for v in variables]:
            return None
        logits = model._fused_loss is not None    # then the last layer is a Dense
        for layer in dense:
            if not (layer._fused or (logits and layer is layers[-1])):
                return None            # an activation the kernels do not know
        if len({w.dtype for w in weights}) != 1 or any(type(w.data) is not np.ndarray
                                                        for w in weights):
            return None                # mixed dtypes, or on the GPU: the graph does the step
        return cls(layers, logits, backend_of(weights[0].data))

    def _activation(self, layer):
        return None if (self.logits and layer is self.layers[-1]) else layer._kernel_act

    def forward(self, x):
        """The output (logits when the loss is fused) and what the backward needs."""
        bk, saved = self.backend, []
        for layer in self.layers:
            if type(layer) is Flatten:
                saved.append(x.shape)
                x = x.reshape(x.shape[0], -1)
                continue
            act = self._activation(layer)
            w, b = layer.kernel.data, None if layer.bias is None else layer.bias.data
            if act in SAVES_PREACT:
                z = bk.dense_forward(x, w, b, None)
                saved.append((x, z, act))
                x = bk.gelu(z, act == "gelu_tanh")
            else:
                out = bk.dense_forward(x, w, b, act)
                saved.append((x, out, act))
                x = out
        return x, saved

    def backward(self, grad, saved):
        """Gradients of the weights (kernel, bias per Dense, in order) from dL/d(output)."""
        bk, grads = self.backend, []
        first_dense = next(i for i, l in enumerate(self.layers) if type(l) is Dense)
        for i in range(len(self.layers) - 1, first_dense - 1, -1):  # the data needs no grad
            layer = self.layers[i]
            if type(layer) is Flatten:
                grad = grad.reshape(saved[i])
                continue
            x, kept, act = saved[i]
            dx, dw, db = bk.dense_backward(x, layer.kernel.data, kept, grad, act,
                                           need_dx=i > first_dense)
            grads[:0] = [dw] if layer.bias is None else [dw, db]
            grad = dx
        return grads

    def train_step(self, model, x, y, sample_weight):
        """(loss value, output tensor, weight gradients) of one batch."""
        model._check_inputs(x)
        native = self._native_step(model, x, y, sample_weight)
        if native is not None:
            return native
        out, saved = self.forward(x)
        fused = sample_weight is None and _softmax_xent(model._fused_loss, y, out)
        if fused:
            value, grad = fused
        else:
            leaf = Tensor(out, requires_grad=True)
            loss_fn = model._fused_loss or model._loss_fn
            loss = loss_fn(y, leaf, sample_weight=sample_weight)
            if loss.size != 1:
                raise ValueError(f"the loss must be a scalar, got shape {loss.shape}")
            (grad,) = run_backward([loss], [None], inputs=[leaf])
            value = loss.data
        return float(value), Tensor(out), self.backward(grad, saved)

    def _native_step(self, model, x, y, sample_weight):
        """The same step as one C call (kernels.dense_chain_step) where it applies: float32,
        activations the GEMM's epilogue applies, Keras' default categorical cross-entropy on
        logits against one-hot targets, no sample weights. None elsewhere."""
        dense = [layer for layer in self.layers if type(layer) is Dense]
        if NativeBackend is None or type(self.backend) is not NativeBackend or \
                sample_weight is not None or not _fused_xent(model._fused_loss) or \
                type(x) is not np.ndarray or type(y) is not np.ndarray or \
                x.dtype != np.float32 or y.dtype != np.float32 or \
                dense[0].kernel.dtype != np.float32 or not len(y) or \
                y.shape != (len(x), dense[-1].kernel.shape[1]):
            return None
        acts = [_ACT_CODES.get(self._activation(layer), -1) for layer in dense]
        if min(acts) < 0:
            return None
        x = x.reshape(len(x), -1)
        per_sample, logits, grads = kernels.dense_chain_step(
            x, [layer.kernel.data for layer in dense],
            [None if layer.bias is None else layer.bias.data for layer in dense], acts, y)
        return float(per_sample.sum() / len(per_sample)), Tensor(logits), grads   # = mean()


_ACT_CODES = {None: 0, "linear": 0, "relu": 1, "sigmoid": 2, "tanh": 3}


def _fused_xent(loss_fn):
    """Keras' default categorical cross-entropy (the model's loss on logits)."""
    return type(loss_fn) is CategoricalCrossentropy and \
        loss_fn.reduction == "sum_over_batch_size" and not loss_fn._fn_kwargs["label_smoothing"]


def _softmax_xent(loss_fn, y, z):
    """(mean loss, dL/dz) of Keras' default categorical cross-entropy from logits z, one-hot y
    of z's dtype and shape: the kernels and arithmetic of the graph's node
    (ops.losses._categorical_from_logits, 'mean' reduction), without building it. None for any
    other loss or target (the graph computes those)."""
    if not _fused_xent(loss_fn) or type(y) is not np.ndarray \
            or y.dtype != z.dtype or y.shape != z.shape or z.ndim != 2 or not len(z):
        return None
    bk = backend_of(z)
    if not y.flags.c_contiguous:
        y = np.ascontiguousarray(y)
    per_sample, lse = bk.softmax_cross_entropy(z, y)
    seed = np.full(per_sample.shape, 1.0 / per_sample.size, per_sample.dtype)
    return per_sample.mean(), bk.softmax_cross_entropy_backward(z, y, lse, seed)


def _chain_layers(model):
    """The layers of a single-input, single-output model whose nodes form one chain."""
    nodes = getattr(model, "_nodes", None)
    if not nodes or len(model.inputs) != 1 or len(model.outputs) != 1:
        return None
    previous = model.inputs[0]
    for layer, args, out in nodes:
        if args is not previous:
            return None
        previous = out
    return [layer for layer, _, _ in nodes] if previous is model.outputs[0] else None
