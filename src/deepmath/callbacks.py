"""Keras 3's callbacks (`keras.callbacks`): objects whose hooks `fit`, `evaluate` and
`predict` call at the start and end of training, of each epoch and of each batch.

    stop = EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)
    history = model.fit(x, y, validation_split=0.2, epochs=50, callbacks=[stop])
    history.history["loss"]       # one mean loss per epoch (book: "Python : tensorflow
                                  # avec keras", the learning curves)

A hook receives the epoch or batch index (0-based) and `logs`, a dict of the running values
('loss', the metrics, 'val_…' at the end of an epoch). A callback may set
`self.model.stop_training = True` to end `fit` after the current batch or epoch.
"""
import csv
import inspect
import numbers
import os
import warnings

import numpy as np

from .progbar import Progbar

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
           "ModelCheckpoint", "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN",
           "CSVLogger", "LambdaCallback"]

_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin",
                "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end",
                "on_batch_begin", "on_batch_end")
_EPOCH_HOOKS = ("on_epoch_begin", "on_epoch_end")
_RUN_HOOKS = ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
              "on_predict_begin", "on_predict_end")
# Keras 2's on_batch_begin/end still run during training: the default train hook calls them.
_LEGACY = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


class Callback:
    """Base class: every hook does nothing; subclasses override the ones they need.
    `model` and `params` ({'verbose', 'epochs', 'steps'}) are set by `fit` before training."""

    def __init__(self):
        self.model = None
        self.params = None

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass


def _overrides(callback, hook):
    """Whether `callback` does something in `hook` (a method of its class or an attribute
    of its own, as LambdaCallback sets)."""
    names = (hook, _LEGACY[hook]) if hook in _LEGACY else (hook,)
    return any(name in vars(callback) or getattr(type(callback), name) is not
               getattr(Callback, name) for name in names)


class CallbackList(Callback):
    """Calls a hook on every callback, in order. `add_history` / `add_progbar` append a
    `History` / `ProgbarLogger` unless the list has one; `params` go to every callback.
    Each hook calls only the callbacks that override it, found once here: with none, a
    per-batch hook costs one empty loop."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None,
                 **params):
        super().__init__()
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = list(callbacks or [])
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be deepmath.callbacks.Callback instances, "
                                f"got {type(cb).__name__}: {cb!r}")
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if add_progbar and not any(isinstance(cb, ProgbarLogger) for cb in self.callbacks):
            self.callbacks.append(ProgbarLogger())
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)
        self._calls = {hook: tuple(getattr(cb, hook) for cb in self.callbacks
                                   if _overrides(cb, hook))
                       for hook in _BATCH_HOOKS + _EPOCH_HOOKS + _RUN_HOOKS}

    def set_model(self, model):
        super().set_model(model)
        if self._history is not None:
            model.history = self._history
        for cb in self.callbacks:
            cb.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        for cb in self.callbacks:
            cb.set_params(params)


def _indexed_dispatch(hook):
    def dispatch(self, index, logs=None):
        calls = self._calls[hook]
        if calls:
            logs = {} if logs is None else logs
            for call in calls:
                call(index, logs)
    dispatch.__name__ = hook
    dispatch.__doc__ = f"`{hook}(index, logs)` on the callbacks that define it."
    return dispatch


def _run_dispatch(hook):
    def dispatch(self, logs=None):
        logs = {} if logs is None else logs
        for call in self._calls[hook]:
            call(logs)
    dispatch.__name__ = hook
    dispatch.__doc__ = f"`{hook}(logs)` on the callbacks that define it."
    return dispatch


for _hook in _BATCH_HOOKS + _EPOCH_HOOKS:
    setattr(CallbackList, _hook, _indexed_dispatch(_hook))
for _hook in _RUN_HOOKS:
    setattr(CallbackList, _hook, _run_dispatch(_hook))
del _hook


class History(Callback):
    """Records the epoch logs: `history[key]` is the list of one value per epoch, `epoch`
    the epoch indices. `fit` returns it (and sets `model.history` to it)."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        if self.model is not None:
            self.model.history = self


class ProgbarLogger(Callback):
    """Prints the "Epoch 3/10" header and the `Progbar` of each epoch (verbose 1 and 2), or of
    `evaluate` and `predict` when they run on their own."""

    def __init__(self):
        super().__init__()
        self.verbose, self.epochs, self.target = 1, 1, None
        self.progbar, self.seen = None, 0
        self._in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _start(self):
        self.seen = 0
        self.progbar = Progbar(self.target, verbose=self.verbose, stateless_metrics=())

    def _update(self, batch, logs):
        if self.progbar is None:
            self._start()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list(logs.items()), finalize=False)

    def _finish(self, logs):
        if self.progbar is None:
            self._start()
        if self.progbar.target is None:
            self.progbar.target = self.seen
        self.progbar.update(self.progbar.target, list((logs or {}).items()), finalize=True)

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_train_end(self, logs=None):
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        self._start()
        if self.verbose and self.epochs > 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._start()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs or {})

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs=None):
        self._start()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, {})

    def on_predict_end(self, logs=None):
        self._finish({})


# ---- monitoring a logged quantity --------------------------------------------------------
_UP = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2", "similarity",
       "correlation")
_DOWN = ("loss", "error", "crossentropy", "hinge", "divergence", "poisson", "logcosh", "mse",
         "mae", "mape", "msle", "bce")


def _mode_for(monitor):
    """'min' or 'max' for mode='auto'. Keras 3 asks the metric object for its direction;
    deepmath reads it from the name, which Keras' metrics all follow: 'loss' and errors,
    cross-entropies, hinges… go down, accuracies, AUC, precision, recall… go up."""
    name = monitor.removeprefix("val_").lower()
    if any(word in name for word in _UP):
        return "max"
    if any(word in name for word in _DOWN):
        return "min"
    raise ValueError(f"cannot tell whether {monitor!r} should be maximized or minimized: "
                     "pass mode='max' or mode='min'")


class _MonitorCallback(Callback):
    """A callback watching `logs[monitor]`: `_improves(value, reference)` is value < reference
    - min_delta in 'min' mode, value > reference + min_delta in 'max' mode. mode='auto' is
    resolved from the monitor's name at once (Keras 3 does it at the first epoch's end)."""

    def __init__(self, monitor, mode, min_delta=0, best=None):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__}: mode {mode!r} is unknown, using 'auto' "
                          "(choose 'auto', 'min' or 'max')", stacklevel=3)
            mode = "auto"
        self.monitor, self.mode = monitor, mode
        self._minimize = (mode if mode != "auto" else _mode_for(monitor)) == "min"
        self.min_delta = abs(min_delta)
        self.best = best

    def _improves(self, value, reference):
        if reference is None:
            return True
        if self._minimize:
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def _value(self, logs, what):
        """logs[monitor], or None with a warning naming the keys there are."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{what} conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs or {})}",
                          stacklevel=3)
        return value


class EarlyStopping(_MonitorCallback):
    """Stops training once `monitor` has not improved by more than `min_delta` for `patience`
    epochs (never before `start_from_epoch`; not improving on `baseline` counts as no
    improvement). `restore_best_weights` puts back the weights of the best epoch at the end.
    `stopped_epoch` is the epoch it stopped at (0: it did not)."""

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        current = self._value(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print("Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.", flush=True)
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_MonitorCallback):
    """Saves the model (`model.save`) or its weights (`model.save_weights`) at the end of
    every epoch, or every `save_freq` batches when it is an integer. `filepath` may hold
    `{epoch}` (1-based), `{batch}` (1-based, batch saves) and log keys:
    'w.{epoch:02d}-{val_loss:.2f}.weights.h5'. `save_best_only` saves only when `monitor`
    improves on the best so far (first on `initial_value_threshold` when given)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__(monitor, mode, best=initial_value_threshold)
        if save_freq != "epoch" and (not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive "
                             f"number of batches, got {save_freq!r}")
        self.filepath = os.fspath(filepath)
        self.verbose, self.save_freq = verbose, save_freq
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self._epoch = 0
        self._batches_since_save = 0
        self._last_batch = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        # a batch index that does not grow means a new epoch began: count from its start
        grown = self._last_batch is not None and batch > self._last_batch
        self._batches_since_save += batch - self._last_batch if grown else batch + 1
        self._last_batch = batch
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _path(self, epoch, batch, logs):
        fields = dict(logs, epoch=epoch + 1)
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except KeyError as e:
            raise KeyError(f"ModelCheckpoint cannot format filepath {self.filepath!r}: no "
                           f"{e} in the logs (keys: {', '.join(fields)})") from None

    def _should_save(self, epoch, logs, path):
        if not self.save_best_only:
            self._say(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.",
                          stacklevel=3)
            return True
        if np.ndim(current) > 0:
            warnings.warn(f"Can save best model only when `monitor` is a scalar value. "
                          f"Received: {current}. Falling back to `save_best_only=False`.",
                          stacklevel=3)
            return True
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self._improves(current, self.best):
            self._say(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                      f"{current:.5f}, saving model to {path}")
            self.best = current
            return True
        self._say(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save(self, epoch, batch, logs):
        path = self._path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        if os.path.isdir(path):
            raise IsADirectoryError(f"ModelCheckpoint: {path!r} is a directory; give a file "
                                    "path such as 'model.keras' or 'w.weights.h5'")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self._say(f"\nEpoch {epoch + 1}: finished saving model to {path}")

    def _say(self, message):
        if self.verbose > 0:
            print(message, flush=True)


def _learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError("this callback needs model.optimizer.learning_rate: compile the "
                         "model with an optimizer first")
    return float(optimizer.learning_rate)


class LearningRateScheduler(Callback):
    """Before each epoch sets the optimizer's learning rate to `schedule(epoch, lr)` (or
    `schedule(epoch)`), epoch 0-based; the epoch logs get 'learning_rate'."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose
        self._with_lr = _accepts_two(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        lr = _learning_rate(self.model)
        lr = self.schedule(epoch, lr) if self._with_lr else self.schedule(epoch)
        if not isinstance(lr, numbers.Real) or isinstance(lr, bool):
            raise ValueError(f"The output of the `schedule` function should be a float. "
                             f"Got: {lr!r}")
        self.model.optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(lr)}.", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _learning_rate(self.model)


def _accepts_two(fn):
    """Whether fn can be called as fn(epoch, lr) (Keras 3) rather than fn(epoch) (Keras 1)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: assume Keras 3's form
        return True
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) >= 2


class ReduceLROnPlateau(_MonitorCallback):
    """Multiplies the learning rate by `factor` (not below `min_lr`) once `monitor` has not
    improved by more than `min_delta` for `patience` epochs, then waits `cooldown` epochs
    before counting again. The epoch logs get 'learning_rate'."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. "
                             f"Received factor={factor}")
        self.factor, self.patience, self.verbose = factor, patience, verbose
        self.cooldown, self.min_lr = cooldown, min_lr
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.best = None
        self.wait = self.cooldown_counter = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        logs["learning_rate"] = _learning_rate(self.model)
        current = self._value(logs, "Learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improves(current, self.best):
            self.best, self.wait = current, 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(epoch):
                self.cooldown_counter, self.wait = self.cooldown, 0

    def _reduce(self, epoch):
        old = _learning_rate(self.model)
        if old <= np.float32(self.min_lr):
            return False
        new = max(old * self.factor, self.min_lr)
        self.model.optimizer.learning_rate = new
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.",
                  flush=True)
        return True


class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or infinite (or raises
    RuntimeError with `raise_error=True`)."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or np.isfinite(loss):
            return
        if self.raise_error:
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: "
                               f"{loss}. Terminating training immediately.")
        print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
        self.model.stop_training = True


class CSVLogger(Callback):
    """Writes one row per epoch to a CSV file: the epoch (0-based) then the log keys in
    sorted order ('val_' columns added, empty as 'NA', when the first epoch has none), as
    Keras. Rows are flushed each epoch; `append=True` continues a file without repeating
    its header."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.sep, self.append = os.fspath(filename), separator, append
        self.keys = self.writer = self.csv_file = None
        self._header = True

    def on_train_begin(self, logs=None):
        self._header = not (self.append and os.path.exists(self.filename)
                            and os.path.getsize(self.filename) > 0)
        self._close()
        self.csv_file = open(self.filename, "a" if self.append else "w", newline="")
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]
            self.writer = csv.writer(self.csv_file, delimiter=self.sep, lineterminator="\n")
            if self._header:
                self.writer.writerow(["epoch"] + self.keys)
        self.writer.writerow([epoch] + [_csv_value(logs.get(k, "NA")) for k in self.keys])
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


def _csv_value(value):
    if isinstance(value, str) or np.ndim(value) == 0:
        return value
    return f"[{', '.join(map(str, np.ravel(value)))}]"


class LambdaCallback(Callback):
    """A callback from functions: LambdaCallback(on_epoch_end=lambda epoch, logs: ...).
    Any hook name is accepted (on_test_batch_end=…, on_predict_end=…)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **hooks):
        super().__init__()
        unknown = sorted(set(hooks) - set(_BATCH_HOOKS + _EPOCH_HOOKS + _RUN_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hooks {unknown}; hooks are "
                            f"{', '.join(_BATCH_HOOKS + _EPOCH_HOOKS + _RUN_HOOKS)}")
        hooks.update(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
