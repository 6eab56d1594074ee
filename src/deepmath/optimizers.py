"""Optimizers by Keras' names (`keras.optimizers`): SGD with momentum and Nesterov, Adam,
AdamW, RMSprop, Adagrad, Adadelta (book, chapter "Descente de gradient": the step δ, the
moment, Nesterov's acceleration; the others are the variants the book lists to try).

    opt = Adam(learning_rate=1e-3)
    opt.apply(grads, variables)        # or opt.apply_gradients(zip(grads, variables))

Variables are deepmath Tensors whose `.data` is updated in place; gradients are arrays (or
Tensors; None: that variable is skipped). One step, as Keras 3 does it:
1. gradients divided by `loss_scale_factor`, then clipped: `clipnorm` (each gradient to that
   norm), `global_clipnorm` (all together) or `clipvalue` (each entry to ±clipvalue);
2. decoupled weight decay w ← w - w·weight_decay·lr (variables not excluded by
   `exclude_from_weight_decay`);
3. the method's update with the learning rate lr of this step: the float, or the schedule
   (`deepmath.schedules`) at `iterations` (0 for the first step);
4. `iterations` += 1.
Adam/AdamW and SGD run as one fused in-place kernel per variable (`adam_update`,
`sgd_momentum_update` of the backend of the variable's device); the others are array code on
that device (`xp`: NumPy, or CuPy for a GPU variable).

On the GPU (issue 8) the slots live on their variable's device, the gradients must be there too
(a gradient on another device raises an error naming both), and a step never copies data
between the devices nor waits for the GPU: clipping by norm compares the norm on the device.
`get_state()` returns NumPy arrays whatever the device (a checkpoint loads on a CPU-only
machine); `set_state()` puts each slot back on its variable's device, and the slots of a
variable moved to the other device (`model.to('gpu')`) follow it at its next step.

The state of a variable (Keras' slot variables: 'momentum', 'velocity'…) is created the first
time the optimizer sees it and kept by the variable's identity. `get_state()` /
`set_state(state, variables)` save and restore it with `iterations`, so a resumed training
continues exactly as if it had not stopped.

`decay` (Keras 2's option, the book's SGD(..., decay=1e-7)): the rate of step k is
lr / (1 + decay·k), the book's "décroissance linéaire utilisée par keras". Keras 3 ignores it.
"""
import math
import numbers
import re
import warnings

import numpy as np

from . import schedules
from .backend import _arrays, array_module, backend_of, device_of, is_device_array, to_numpy
from .layers.base import to_snake_case, unique_name
from .schedules import LearningRateSchedule
from .tensor import Tensor

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _number(value, what, owner, low=None, high=None):
    """`value` if it is a real number within [low, high], else ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) \
            or (low is not None and value < low) or (high is not None and value > high):
        where = "" if low is None else f" in [{low}, {'∞' if high is None else high}]"
        raise ValueError(f"{owner}: {what} must be a number{where}, got {value!r}")
    return value


def _check_learning_rate(value, owner):
    if isinstance(value, LearningRateSchedule) or callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}: learning_rate must be a float, a LearningRateSchedule or "
                         f"a callable returning the rate, got {value!r}")
    return float(value)


def _host_copy(a):
    """A NumPy copy of a slot array (from the GPU for a device array)."""
    return to_numpy(a) if is_device_array(a) else a.copy()


def _slot_array(saved, param):
    """A saved slot as a C-contiguous array of param's dtype on param's device."""
    if is_device_array(param):
        return array_module(param).array(saved, dtype=param.dtype, order="C")
    if is_device_array(saved):
        saved = to_numpy(saved)
    return np.array(saved, dtype=param.dtype, order="C")


def _label(variable):
    name = getattr(variable, "name", None)
    return repr(name) if name else f"the variable of shape {variable.shape}"


class Optimizer:
    """Base class: a subclass names its per-variable state in `_slot_names`, may give their
    initial value in `_initial(name)`, and updates one variable in `_update`."""

    _slot_names = ()

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, decay=None, **kwargs):
        owner = type(self).__name__
        if kwargs:
            raise ValueError(f"{owner}: argument(s) not recognized: {sorted(kwargs)}")
        if use_ema or gradient_accumulation_steps:
            raise ValueError(f"{owner}: use_ema and gradient_accumulation_steps are not "
                             "supported by deepmath")
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue,
                 "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:
            raise ValueError(f"{owner}: only one of clipnorm, clipvalue and global_clipnorm "
                             f"can be set, got {clips}")
        for what, value in clips.items():
            if value is not None:
                _number(value, what, owner)
        for what, value in (("weight_decay", weight_decay), ("decay", decay),
                            ("loss_scale_factor", loss_scale_factor)):
            if value is not None:
                _number(value, what, owner, low=0)
        self.name = name or unique_name(to_snake_case(owner))
        self._learning_rate = _check_learning_rate(learning_rate, owner)
        self.weight_decay, self.decay = weight_decay, decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum = use_ema, ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.iterations = 0
        self._state = {}  # id(variable) -> (variable, tuple of slot arrays, decays: bool)
        self._exclude_ids, self._exclude_pattern = set(), None

    # ---- learning rate ---------------------------------------------------------------------
    @property
    def learning_rate(self):
        """The current rate: the float, or the schedule evaluated at `iterations`."""
        lr = self._learning_rate
        if isinstance(lr, LearningRateSchedule):
            return float(lr(self.iterations))
        return float(lr()) if callable(lr) else lr

    @learning_rate.setter
    def learning_rate(self, value):
        value = _check_learning_rate(value, type(self).__name__)
        if isinstance(self._learning_rate, LearningRateSchedule) and not callable(value):
            raise TypeError(f"{type(self).__name__} was created with a LearningRateSchedule: "
                            "its learning rate cannot be set to a number (create the "
                            "optimizer with a float learning_rate to change it)")
        self._learning_rate = value

    def _step_learning_rate(self):
        lr = self.learning_rate
        return lr / (1.0 + self.decay * self.iterations) if self.decay else lr

    # ---- weight decay ----------------------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """No weight decay for the variables of `var_list`, nor for those whose name contains
        one of the strings (regular expressions) of `var_names`, e.g. ['bias', 'gamma',
        'beta']. The whole name is searched ('dense/bias'). Call it before the first step."""
        if self._state:
            raise ValueError("exclude_from_weight_decay: call it before the optimizer's first "
                             "step (it has already created the state of its variables)")
        self._exclude_ids = {id(v) for v in var_list or ()}
        self._exclude_pattern = re.compile("|".join(var_names)) if var_names else None

    def _decays(self, variable):
        if self.weight_decay is None or id(variable) in self._exclude_ids:
            return False
        pattern = self._exclude_pattern
        return pattern is None or pattern.search(getattr(variable, "name", None) or "") is None

    # ---- state -----------------------------------------------------------------------------
    def _initial(self, slot_name):
        """Initial value of a slot array."""
        return 0.0

    def _new_entry(self, variable):
        param = getattr(variable, "data", None)
        if not isinstance(variable, Tensor) or param.dtype not in _FLOATS:
            raise TypeError(f"{type(self).__name__}: variables must be float32 or float64 "
                            f"deepmath Tensors (their .data is updated in place), got "
                            f"{variable!r}")
        if not (param.flags.c_contiguous and getattr(param.flags, "writeable", True)):
            raise ValueError(f"{type(self).__name__}: the data of {_label(variable)} must be a "
                             "C-contiguous writeable array (it is updated in place)")
        xp = array_module(param)
        slots = tuple(xp.full_like(param, self._initial(name)) for name in self._slot_names)
        return variable, slots, self._decays(variable)

    def _entry(self, variable):
        entry = self._state.get(id(variable))
        if entry is None:
            entry = self._state[id(variable)] = self._new_entry(variable)
        elif _arrays.gpu is not None and entry[1] and \
                is_device_array(entry[1][0]) != is_device_array(variable.data):
            # the variable was moved (`model.to(device)`): its slots follow it, once
            slots = tuple(_slot_array(s, variable.data) for s in entry[1])
            entry = self._state[id(variable)] = (entry[0], slots, entry[2])
        return entry

    def build(self, variables):
        """Create the state of each variable not seen yet (else done at its first step)."""
        for v in variables:
            self._entry(v)

    def get_state(self, variables=None):
        """{'iterations', 'slots': [{slot name: array} per variable], 'learning_rate' (when a
        float)} with copies of the arrays, in the order of `variables` (default: the order the
        optimizer first saw them). They are NumPy arrays, copied from the GPU for a variable
        there."""
        entries = self._state.values() if variables is None else \
            [self._entry(v) for v in variables]
        state = {"iterations": self.iterations,
                 "slots": [{n: _host_copy(a) for n, a in zip(self._slot_names, slots)}
                           for _, slots, _ in entries]}
        if isinstance(self._learning_rate, float):
            state["learning_rate"] = self._learning_rate
        return state

    def set_state(self, state, variables):
        """Restore `get_state()`'s dictionary; its i-th slots belong to variables[i] and go to
        that variable's device."""
        owner = type(self).__name__
        variables = list(variables)
        if not isinstance(state, dict) or "iterations" not in state:
            raise ValueError(f"{owner}.set_state: expected get_state()'s dictionary, got "
                             f"{type(state).__name__}")
        saved = list(state.get("slots") or [])
        if saved and len(saved) != len(variables):
            raise ValueError(f"{owner}.set_state: the state holds the slots of {len(saved)} "
                             f"variables, {len(variables)} variables were given")
        restored = {}
        for variable, slots in zip(variables, saved):
            variable, _, decays = self._new_entry(variable)
            if sorted(slots) != sorted(self._slot_names):
                raise ValueError(f"{owner}.set_state: {_label(variable)} has slots "
                                 f"{sorted(slots)}, {owner} expects {sorted(self._slot_names)}")
            arrays = tuple(_slot_array(slots[n], variable.data) for n in self._slot_names)
            for n, a in zip(self._slot_names, arrays):
                if a.shape != variable.shape:
                    raise ValueError(f"{owner}.set_state: slot {n!r} of {_label(variable)} has "
                                     f"shape {a.shape}, the variable {variable.shape}")
            restored[id(variable)] = (variable, arrays, decays)
        iterations = state["iterations"]
        if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 0:
            raise ValueError(f"{owner}.set_state: iterations must be an integer >= 0, got "
                             f"{iterations!r}")
        self._state, self.iterations = restored, int(iterations)
        if "learning_rate" in state and isinstance(self._learning_rate, float):
            self._learning_rate = float(state["learning_rate"])

    # ---- one step --------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """`apply` on (gradient, variable) pairs; returns `iterations`."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self.iterations

    def apply(self, grads, variables=None):
        """One step on `variables` (default: those seen before, in order) with `grads`."""
        grads = list(grads)
        if variables is None:
            variables = [v for v, _, _ in self._state.values()]
        variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"{type(self).__name__}.apply: {len(grads)} gradients for "
                             f"{len(variables)} variables")
        if not grads:
            return
        given, entries, missing = [], [], []
        for g, v in zip(grads, variables):
            entry = self._entry(v)
            if g is None:
                missing.append(_label(v))
            else:
                given.append(self._gradient(g, v))
                entries.append(entry)
        if not given:
            raise ValueError(f"{type(self).__name__}.apply: no gradient for any variable")
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing "
                          "the loss.", stacklevel=2)
        lr, wd = self._step_learning_rate(), self.weight_decay or 0.0
        for g, (variable, slots, decays) in zip(self._clip(given), entries):
            self._update(variable.data, g, slots, lr, wd if decays else 0.0)
        self.iterations += 1

    def _gradient(self, g, variable):
        """g as a C-contiguous array of the variable's dtype, divided by loss_scale_factor.
        An array (or a Tensor) must be on the variable's device; lists and numbers go there."""
        param = variable.data
        if isinstance(g, Tensor):
            g = g.data
        if _arrays.gpu is not None and (is_device_array(param) or is_device_array(g)):
            g = self._device_gradient(g, variable)
        elif type(g) is not np.ndarray or g.dtype != param.dtype or not g.flags.c_contiguous:
            g = np.asarray(g, dtype=param.dtype, order="C")
        if g.shape != param.shape:
            raise ValueError(f"{type(self).__name__}: the gradient of {_label(variable)} has "
                             f"shape {g.shape}, the variable {param.shape}")
        return g if self.loss_scale_factor is None else g / self.loss_scale_factor

    def _device_gradient(self, g, variable):
        """`_gradient`'s conversion when the variable or g is on the GPU."""
        param = variable.data
        if (isinstance(g, np.ndarray) or is_device_array(g)) and \
                is_device_array(g) != is_device_array(param):
            raise ValueError(f"{type(self).__name__}: the gradient of {_label(variable)} is on "
                             f"the {device_of(g)} but the variable on the {device_of(param)}; "
                             f"move the gradient to the {device_of(param)} (.to("
                             f"'{device_of(param)}')) or the variable to the {device_of(g)}")
        if is_device_array(g) and g.dtype == param.dtype and g.flags.c_contiguous:
            return g
        return array_module(param).asarray(g, dtype=param.dtype, order="C")

    def _clip(self, grads):
        """Keras' clipping: g·c/‖g‖ when ‖g‖ > c, per gradient (clipnorm) or with the norm of
        all gradients together (global_clipnorm: a NaN or infinite norm gives NaN
        gradients); each entry to [-c, c] (clipvalue). New arrays: grads are left as given.
        On the GPU the norms stay on the device (no wait for the GPU), same values."""
        if _arrays.gpu is not None and any(is_device_array(g) for g in grads):
            return self._clip_on_device(grads)
        if self.clipnorm and self.clipnorm > 0:
            c = self.clipnorm
            norms = [math.sqrt(np.vdot(g, g)) for g in grads]
            return [g if n <= c else g * c / n for g, n in zip(grads, norms)]
        if self.global_clipnorm and self.global_clipnorm > 0:
            c = self.global_clipnorm
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if norm <= c:
                return grads
            scale = c / norm if math.isfinite(norm) else math.nan
            return [g * scale for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            c = self.clipvalue
            return [np.clip(g, -c, c) for g in grads]
        return grads

    def _clip_on_device(self, grads):
        """`_clip` without reading the norms back, giving the CPU's numbers: the norm in
        float64 from each gradient's dot product in its own dtype, the scale rounded to the
        gradient's dtype (as NumPy does with a Python float)."""
        def squared_norm(g):
            return array_module(g).vdot(g, g).astype(np.float64)

        if self.clipnorm and self.clipnorm > 0:
            c = self.clipnorm
            clipped = []
            for g in grads:
                if not is_device_array(g):
                    n = math.sqrt(np.vdot(g, g))
                    clipped.append(g if n <= c else g * c / n)
                    continue
                n = array_module(g).sqrt(squared_norm(g))
                clipped.append(array_module(g).where(n <= c, g, g * c / n.astype(g.dtype)))
            return clipped
        if self.global_clipnorm and self.global_clipnorm > 0:
            devices = sorted({device_of(g) for g in grads})
            if len(devices) > 1:
                raise ValueError(f"{type(self).__name__}: global_clipnorm needs all the "
                                 f"gradients on one device, got gradients on the "
                                 f"{' and the '.join(devices)}")
            c, xp = self.global_clipnorm, array_module(*grads)
            total = 0.0
            for g in grads:
                total = total + squared_norm(g)
            norm = xp.sqrt(total)
            scale = xp.where(xp.isfinite(norm), c / norm, math.nan)
            return [xp.where(norm <= c, g, g * scale.astype(g.dtype)) for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            c = self.clipvalue
            return [array_module(g).clip(g, -c, c) for g in grads]
        return grads

    @staticmethod
    def _decay_weights(param, lr, wd):
        """Decoupled weight decay (Keras): w ← w - w·wd·lr."""
        if wd:
            param -= param * wd * lr

    def _update(self, param, grad, slots, lr, wd):
        """Update `param` in place: weight decay `wd` (0: none), then the method's step."""
        raise NotImplementedError

    # ---- config ----------------------------------------------------------------------------
    def get_config(self):
        lr = self._learning_rate
        config = {"name": self.name,
                  "learning_rate": schedules.serialize(lr)
                  if isinstance(lr, LearningRateSchedule) else lr,
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                  "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                  "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                  "ema_overwrite_frequency": self.ema_overwrite_frequency,
                  "loss_scale_factor": self.loss_scale_factor,
                  "gradient_accumulation_steps": self.gradient_accumulation_steps}
        if self.decay:
            config["decay"] = self.decay
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"],
                                                            custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self._learning_rate!r}>"


class SGD(Optimizer):
    """Gradient descent (book, "Descente de gradient" §1, §4): with momentum μ,
    velocity ← μ·velocity - lr·g, then w ← w + velocity, or with Nesterov
    w ← w + μ·velocity - lr·g; without momentum w ← w - lr·g."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name=name, **kwargs)
        self.momentum = _number(momentum, "momentum", "SGD", 0, 1)
        self.nesterov = bool(nesterov)
        self._slot_names = ("momentum",) if momentum else ()

    def _update(self, param, grad, slots, lr, wd):
        self._decay_weights(param, lr, wd)
        backend_of(param).sgd_momentum_update(param, grad, slots[0] if slots else None, lr,
                                              self.momentum, self.nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam, Keras' form: at step t, m ← m + (g - m)(1 - β1), v ← v + (g² - v)(1 - β2),
    w ← w - α·m / (√v + ε) with α = lr·√(1 - β2^t) / (1 - β1^t). With `amsgrad`, the
    running maximum of v replaces v in the last formula."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name=name, **kwargs)
        owner = type(self).__name__
        for what, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
            if _number(beta, what, owner, 0, 1) == 1:
                raise ValueError(f"{owner}: {what} must be < 1, got {beta!r}")
        self.beta_1, self.beta_2 = beta_1, beta_2
        self.epsilon = _number(epsilon, "epsilon", owner)
        self.amsgrad = bool(amsgrad)
        self._slot_names = ("momentum", "velocity") + (("velocity_hat",) if amsgrad else ())

    def _update(self, param, grad, slots, lr, wd):
        if not self.amsgrad:
            backend_of(param).adam_update(param, grad, slots[0], slots[1], lr, self.beta_1,
                                          self.beta_2, self.epsilon, self.iterations + 1, wd)
            return
        m, v, v_hat = slots
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        self._decay_weights(param, lr, wd)
        m += (grad - m) * (1 - self.beta_1)
        v += (grad * grad - v) * (1 - self.beta_2)
        xp = array_module(param)
        xp.maximum(v_hat, v, out=v_hat)
        param -= m * alpha / (xp.sqrt(v_hat) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.004): w ← w - w·wd·lr before each step."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: weight_decay must be a float, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay,
                         clipnorm, clipvalue, global_clipnorm, name, **kwargs)


class RMSprop(Optimizer):
    """RMSprop: v ← ρ·v + (1 - ρ)·g², w ← w - lr·g / √(v + ε); `centered` subtracts the
    squared running mean of g from v; `momentum` accumulates the steps
    (s ← momentum·s + lr·g/√(…), w ← w - s)."""

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name=name, **kwargs)
        self.rho = _number(rho, "rho", "RMSprop", 0, 1)
        self.momentum = _number(momentum, "momentum", "RMSprop", 0)
        self.epsilon = _number(epsilon, "epsilon", "RMSprop")
        self.centered = bool(centered)
        self._slot_names = ("velocity",) + (("momentum",) if momentum > 0 else ()) + \
            (("average_gradient",) if centered else ())

    def _update(self, param, grad, slots, lr, wd):
        self._decay_weights(param, lr, wd)
        rho = self.rho
        velocity = slots[0]
        velocity *= rho
        velocity += (1 - rho) * (grad * grad)
        if self.centered:
            average = slots[-1]
            average *= rho
            average += (1 - rho) * grad
            denominator = velocity - average * average + self.epsilon
        else:
            denominator = velocity + self.epsilon
        increment = lr * grad / array_module(param).sqrt(denominator)
        if self.momentum > 0:
            momentum = slots[1]
            momentum *= self.momentum
            momentum += increment
            increment = momentum
        param -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad: a ← a + g² (a starts at initial_accumulator_value), w ← w - lr·g / √(a + ε)."""

    _slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name=name, **kwargs)
        self.initial_accumulator_value = _number(initial_accumulator_value,
                                                 "initial_accumulator_value", "Adagrad", 0)
        self.epsilon = _number(epsilon, "epsilon", "Adagrad")

    def _initial(self, slot_name):
        return self.initial_accumulator_value

    def _update(self, param, grad, slots, lr, wd):
        self._decay_weights(param, lr, wd)
        accumulator = slots[0]
        accumulator += grad * grad
        param -= lr * grad / array_module(param).sqrt(accumulator + self.epsilon)

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta: G ← ρG + (1 - ρ)g², Δ = -√(D + ε)·g / √(G + ε), D ← ρD + (1 - ρ)Δ²,
    w ← w + lr·Δ (G, D: running means of the squared gradients and steps)."""

    _slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm,
                         name=name, **kwargs)
        self.rho = _number(rho, "rho", "Adadelta", 0, 1)
        self.epsilon = _number(epsilon, "epsilon", "Adadelta")

    def _update(self, param, grad, slots, lr, wd):
        self._decay_weights(param, lr, wd)
        rho, eps = self.rho, self.epsilon
        grads2, deltas2 = slots
        grads2 *= rho
        grads2 += (1 - rho) * (grad * grad)
        sqrt = array_module(param).sqrt
        delta = -(sqrt(deltas2 + eps) * grad) / sqrt(grads2 + eps)
        deltas2 *= rho
        deltas2 += (1 - rho) * (delta * delta)
        param += lr * delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


# ---- lookup and serialization -------------------------------------------------------------
_BY_NAME = {cls.__name__.lower(): cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta)}


def _class(name, custom_objects=None):
    cls = (custom_objects or {}).get(name) or _BY_NAME.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(sorted(_BY_NAME))}")
    return cls


def get(identifier):
    """An optimizer from a name ('adam', 'Adam', 'SGD'…, case-insensitive), a config dict
    ({'class_name', 'config'}), an Optimizer class or instance (returned as is); None → None."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return _class(identifier)()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r} (expected a "
                     "name, a config dict or an Optimizer)")


def serialize(optimizer):
    """The dictionary Keras 3 writes: {'module', 'class_name', 'config', 'registered_name'}."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"serialize: expected an Optimizer, got {optimizer!r}")
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """An optimizer from `serialize`'s dictionary (or {'class_name', 'config'})."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize: expected {{'class_name': ..., 'config': ...}}, got "
                         f"{config!r}")
    cls = _class(config["class_name"], custom_objects)
    return cls.from_config(dict(config.get("config") or {}), custom_objects)
