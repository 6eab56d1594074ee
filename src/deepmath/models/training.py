"""Keras' training API on a model: `compile`, `fit`, `evaluate`, `predict` and the
`*_on_batch` methods (book, chapters "Python : tensorflow avec keras" and "Rétropropagation").

One training step: forward in training mode, loss, backward to the trainable weights only,
optimizer update in place. When the model ends with softmax (or sigmoid) and the loss is the
matching cross-entropy, the step computes the logits and the fused softmax-cross-entropy
kernel instead (same value, one pass, exact gradient softmax - y).

On the GPU (`model.to('gpu')`, or a model built under `deepmath.device('gpu')`), the data stays
NumPy: each batch is copied to the device as it enters the model, and `predict` copies the
outputs back. Inside a step the only host reads are the values the logs show (the loss and
each metric's running value, 0-d arrays); labels are checked on the host before they go over.
"""
import numpy as np

from .. import losses, metrics as metrics_module, optimizers
from ..backend import _arrays, backend_of, to_numpy
from ..tensor import Tensor, no_grad, run_backward
from . import data as data_module
from .chain_step import DenseChain

_WHOLE = 2 ** 62  # a batch size that takes all the data in one batch


class _RunningMean:
    """The loss tracker: mean of batch losses weighted by batch size (Keras 3)."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def update(self, value, weight):
        self.total += value * weight
        self.count += weight

    def result(self):
        return self.total / self.count if self.count else 0.0


class Trainer:
    """Mixin of `Model`: everything between data and the weights."""

    def __init__(self):
        self.optimizer = self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._metric_ids, self._weighted_ids = [], []
        self._train_metrics = None

    # ---- compile ---------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Choose the optimizer, the loss and the metrics, by name or object, as Keras."""
        if isinstance(loss, (dict, list, tuple)) or isinstance(metrics, dict):
            raise ValueError("compile: one loss for the model's single output (per-output "
                             "losses and metrics are not supported)")
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self._loss_fn = None if loss is None else losses.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple)):
            raise TypeError(f"compile: metrics must be a list, got {type(metrics).__name__}")
        self._metric_ids = list(metrics or [])
        self._weighted_ids = list(weighted_metrics or [])
        self._train_metrics = None
        self._fused_loss = self._logits_loss()
        self._head_act = self._fused_loss and self._head()._head_activation()
        self.compiled = True

    compiled_metrics_names = property(lambda self: self._metric_ids + self._weighted_ids)

    def _logits_loss(self):
        head = self._head()
        activation = head._head_activation() if head is not None else None
        if self._loss_fn is None or activation not in ("softmax", "sigmoid"):
            return None
        return losses.logits_loss(self._loss_fn, activation)

    def _require(self, what, need_loss=True):
        if not self.compiled or (need_loss and self._loss_fn is None):
            raise RuntimeError(f"{what}: compile the model first, e.g. model.compile("
                               "loss='mse', optimizer='adam')")

    def _new_metrics(self, y, y_pred):
        """[(metric, weighted, name)], state reset, named as Keras logs them: a repeated name gets
        _1, _2…; a weighted metric is 'weighted_<name>' when its name is taken."""
        found, names = [], set()
        for ids, weighted in ((self._metric_ids, False), (self._weighted_ids, True)):
            for identifier in ids:
                m = metrics_module.get(identifier, loss=self.loss, y_true=y, y_pred=y_pred)
                m.reset_state()
                name = m.name
                if weighted and name in names:
                    name = "weighted_" + name
                base, k = name, 0
                while name in names:
                    k += 1
                    name = f"{base}_{k}"
                names.add(name)
                found.append((m, weighted, name))
        return found

    # ---- one batch -------------------------------------------------------------------------
    def _forward_loss(self, x, y, sample_weight, training):
        """(loss tensor, predictions array) of a batch; predictions after the activation."""
        x = self._input_tensors(x)
        if self._fused_loss is not None:
            logits = self.call(x, training=training, logits=True)
            loss = self._fused_loss(y, logits, sample_weight=sample_weight)
            return loss, logits
        y_pred = self.call(x, training=training)
        return self._loss_fn(y, y_pred, sample_weight=sample_weight), y_pred

    def _input_tensors(self, x):
        """A batch (array or list of arrays) as tensors on the model's device."""
        device = self.device if _arrays.gpu is not None else None
        return [Tensor(a, device=device) for a in x] if isinstance(x, list) else \
            Tensor(x, device=device)

    def _predictions(self, out):
        """Probabilities from the forward output (the fused path returns logits)."""
        if self._fused_loss is None:
            return out.data
        bk = backend_of(out.data)
        return bk.softmax(out.data) if self._head_act == "softmax" else bk.sigmoid(out.data)

    def _train_batch(self, x, y, sample_weight, variables, chain=None):
        """(loss before the update, output) of one step; `chain`: a DenseChain plan of this
        model (same numbers without the graph)."""
        if chain is not None:
            value, out, grads = chain.train_step(self, x, y, sample_weight)
            self.optimizer.apply(grads, variables)
            return value, out
        loss, out = self._forward_loss(x, y, sample_weight, training=True)
        if loss.size != 1:
            raise ValueError(f"the loss must be a scalar, got shape {loss.shape}")
        value = float(loss.data)
        if variables and loss.requires_grad:
            grads = run_backward([loss], [None], inputs=variables)
            self.optimizer.apply(grads, variables)
        return value, out

    def _update_metrics(self, metric_objs, y, out, sample_weight):
        """Keras 3: `metrics` ignore sample weights, `weighted_metrics` use them."""
        if metric_objs:
            y_pred = self._predictions(out)
            for m, weighted, _ in metric_objs:
                m.update_state(y, y_pred, sample_weight=sample_weight if weighted else None)

    @staticmethod
    def _logs(tracker, metric_objs):
        logs = {"loss": tracker.result()}
        for m, _, name in metric_objs:
            logs[name] = m.result()
        return logs

    # ---- data ------------------------------------------------------------------------------
    def _ensure_built(self, x):
        if not self.inputs:
            first = x[0] if isinstance(x, list) else x
            self._maybe_build(tuple(first.shape))

    def _batches(self, x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                 steps=None, class_weight=None):
        if data_module.is_stream(x):
            if y is not None:
                raise ValueError("y must be None when x is a generator (it yields (x, y))")
            return data_module.StreamBatches(x, steps)
        many = len(self.inputs) > 1
        x = data_module.as_array(x, self.dtype, "x", many=many)
        self._ensure_built(x)
        if y is not None:
            y = data_module.as_array(y, None, "y")
            if y.dtype.kind == "f" and y.dtype != self.dtype:
                y = y.astype(self.dtype)
        if class_weight is not None and y is not None:
            weights = data_module.class_weights_to_sample(y, class_weight)
            sample_weight = weights if sample_weight is None else \
                np.asarray(sample_weight) * weights
        sample_weight = data_module.as_array(sample_weight, self.dtype, "sample_weight")
        batches = data_module.ArrayBatches(x, y, sample_weight, batch_size or 32, shuffle)
        if steps is not None:
            batches.steps = min(batches.steps, steps)
        return batches

    # ---- fit / evaluate / predict ----------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Train for `epochs` epochs; returns the `History` (`history.history['loss']`…)."""
        from .. import callbacks as callbacks_module
        self._require("fit")
        verbose = 1 if verbose == "auto" else int(verbose)
        if validation_split and validation_data is None:
            if data_module.is_stream(x):
                raise ValueError("validation_split needs array data, not a generator")
            many = len(self.inputs) > 1
            x = data_module.as_array(x, self.dtype, "x", many=many)
            y = data_module.as_array(y, None, "y")
            sw = data_module.as_array(sample_weight, None, "sample_weight")
            (x, y, sample_weight), validation_data = data_module.split_validation(
                x, y, sw, validation_split)
        train = self._batches(x, y, sample_weight, batch_size, shuffle, steps_per_epoch,
                              class_weight)
        cbs = callbacks_module.CallbackList(callbacks, add_history=True,
                                            add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=epochs, steps=train.steps)
        self.stop_training = False
        logs = {}
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            logs = self._fit_epoch(train, cbs, epoch)
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                logs.update({"val_" + k: v for k, v in self._validate(
                    validation_data, validation_batch_size or batch_size,
                    validation_steps, cbs).items()})
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        self.history = next(c for c in cbs.callbacks if isinstance(c, callbacks_module.History))
        return self.history

    def _fit_epoch(self, train, cbs, epoch):
        variables = self.trainable_weights
        chain = DenseChain.plan(self, variables)
        tracker, logs = _RunningMean(), {}
        for m, _, _ in self._train_metrics or []:
            m.reset_state()
        cbs.on_epoch_begin(epoch)
        for step, (xb, yb, swb) in enumerate(train.epoch()):
            cbs.on_train_batch_begin(step)
            value, out = self._train_batch(xb, yb, swb, variables, chain)
            if self._train_metrics is None:
                self._train_metrics = self._new_metrics(yb, self._predictions(out))
            self._update_metrics(self._train_metrics, yb, out, swb)
            tracker.update(value, len(yb))
            logs = self._logs(tracker, self._train_metrics)
            cbs.on_train_batch_end(step, logs)
            if self.stop_training:
                break
        return dict(logs)

    def _validate(self, validation_data, batch_size, steps, cbs):
        """evaluate on the validation data, calling fit's callbacks' on_test_* hooks."""
        if data_module.is_stream(validation_data):
            return self.evaluate(validation_data, batch_size=batch_size, steps=steps,
                                 verbose=0, callbacks=cbs, return_dict=True)
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, "
                             "sample_weight)")
        x, y, *rest = validation_data
        return self.evaluate(x, y, batch_size=batch_size, steps=steps, verbose=0,
                             sample_weight=rest[0] if rest else None, callbacks=cbs,
                             return_dict=True)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """Loss (and metrics) on data: a float, or [loss, metric…] when metrics were given."""
        from .. import callbacks as callbacks_module
        self._require("evaluate")
        verbose = 1 if verbose == "auto" else int(verbose)
        batches = self._batches(x, y, sample_weight, batch_size, False, steps)
        cbs = callbacks if isinstance(callbacks, callbacks_module.CallbackList) else \
            callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                          verbose=verbose, epochs=1, steps=batches.steps)
        tracker, metric_objs = _RunningMean(), None
        cbs.on_test_begin()
        with no_grad():
            for step, (xb, yb, swb) in enumerate(batches.epoch()):
                cbs.on_test_batch_begin(step)
                loss, out = self._forward_loss(xb, yb, swb, training=False)
                if metric_objs is None:
                    metric_objs = self._new_metrics(yb, self._predictions(out))
                self._update_metrics(metric_objs, yb, out, swb)
                tracker.update(float(loss.data), len(yb))
                cbs.on_test_batch_end(step, self._logs(tracker, metric_objs))
        logs = self._logs(tracker, metric_objs or [])
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """The model's outputs on x, by batches, as a NumPy array."""
        from .. import callbacks as callbacks_module
        verbose = 1 if verbose == "auto" else int(verbose)
        batches = self._batches(x, None, None, batch_size, False, steps)
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=1, steps=batches.steps)
        outputs = []
        cbs.on_predict_begin()
        with no_grad():
            for step, (xb, _, _) in enumerate(batches.epoch()):
                cbs.on_predict_batch_begin(step)
                outputs.append(self._predict_batch(xb))
                cbs.on_predict_batch_end(step, {"outputs": outputs[-1]})
        cbs.on_predict_end()
        if not outputs:
            raise ValueError("predict: no data (x has 0 samples)")
        if isinstance(outputs[0], list):
            return [np.concatenate(parts) for parts in zip(*outputs)]
        return np.concatenate(outputs)

    def _predict_batch(self, x):
        out = self.call(self._input_tensors(x), training=False)
        return [to_numpy(o.data) for o in out] if isinstance(out, list) else to_numpy(out.data)

    # ---- single batches --------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One update on this batch; returns the loss computed before the update (Keras)."""
        self._require("train_on_batch")
        batches = self._batches(x, y, sample_weight, _WHOLE, False, class_weight=class_weight)
        xb, yb, swb = next(batches.epoch())
        variables = self.trainable_weights
        value, out = self._train_batch(xb, yb, swb, variables, DenseChain.plan(self, variables))
        if self._train_metrics is None:
            self._train_metrics = self._new_metrics(yb, self._predictions(out))
        self._update_metrics(self._train_metrics, yb, out, swb)
        tracker = _RunningMean()
        tracker.update(value, 1)
        return self._single(self._logs(tracker, self._train_metrics), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        logs = self.evaluate(x, y, batch_size=_WHOLE, verbose=0,
                             sample_weight=sample_weight, return_dict=True)
        return self._single(logs, return_dict)

    def predict_on_batch(self, x):
        with no_grad():
            return self._predict_batch(data_module.as_array(x, self.dtype, "x",
                                                            many=len(self.inputs) > 1))

    @staticmethod
    def _single(logs, return_dict):
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def reset_metrics(self):
        for m, _, _ in self._train_metrics or []:
            m.reset_state()
