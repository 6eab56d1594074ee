"""Learning-rate schedules (`keras.optimizers.schedules`): the rate δ_k as a function of the
step k, 0 for the first update (book, chapter "Descente de gradient", §2: the step size may
decrease along the descent).

    lr = ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.5)
    opt = SGD(learning_rate=lr)          # the optimizer calls lr(opt.iterations) each step

Keras 3's formulas, computed in Python floats (Keras computes in float32).
"""
import math
import numbers

_MODULE = "keras.optimizers.schedules"


def _real(value, what, schedule):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ValueError(f"{schedule}: {what} must be a number, got {value!r}")
    return value


def _positive(value, what, schedule):
    if _real(value, what, schedule) <= 0:
        raise ValueError(f"{schedule}: {what} must be > 0, got {value!r}")
    return value


class LearningRateSchedule:
    """`schedule(step)` returns the learning rate (a float) for update number `step`."""

    def __call__(self, step):
        raise NotImplementedError(f"{type(self).__name__} must define __call__(step)")

    def get_config(self):
        raise NotImplementedError(f"{type(self).__name__} must define get_config() to be "
                                  "saved")

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _Decay(LearningRateSchedule):
    """Shared by the schedules of the form initial_learning_rate · f(step / decay_steps)."""

    def __init__(self, initial_learning_rate, decay_steps, name):
        schedule = type(self).__name__
        self.initial_learning_rate = _real(initial_learning_rate, "initial_learning_rate",
                                           schedule)
        self.decay_steps = _positive(decay_steps, "decay_steps", schedule)
        self.name = name


class _RateDecay(_Decay):
    """Shared by ExponentialDecay and InverseTimeDecay: p = k / decay_steps, floored when
    `staircase`."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        super().__init__(initial_learning_rate, decay_steps, name or type(self).__name__)
        self.decay_rate = _real(decay_rate, "decay_rate", type(self).__name__)
        self.staircase = bool(staircase)

    def _progress(self, step):
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_RateDecay):
    """δ_k = δ_0 · decay_rate^p, p = k / decay_steps (floored when `staircase`)."""

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class InverseTimeDecay(_RateDecay):
    """δ_k = δ_0 / (1 + decay_rate · p), p = k / decay_steps (floored when `staircase`); with
    decay_steps=1 the book's δ_k = δ_0 / (αk + 1), Keras 2's `decay` option."""

    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


class PolynomialDecay(_Decay):
    """δ_k = (δ_0 - end) · (1 - k/decay_steps)^power + end, k capped at decay_steps; with
    `cycle`, decay_steps is instead stretched to the first multiple of itself ≥ k."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001,
                 power=1.0, cycle=False, name="PolynomialDecay"):
        super().__init__(initial_learning_rate, decay_steps, name)
        self.end_learning_rate = _real(end_learning_rate, "end_learning_rate",
                                       "PolynomialDecay")
        self.power = _real(power, "power", "PolynomialDecay")
        self.cycle = bool(cycle)

    def __call__(self, step):
        k, steps = float(step), self.decay_steps
        if self.cycle:
            steps *= 1 if k == 0 else math.ceil(k / steps)
        else:
            k = min(k, steps)
        return ((self.initial_learning_rate - self.end_learning_rate)
                * (1 - k / steps) ** self.power + self.end_learning_rate)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecay(_Decay):
    """Half a cosine from δ_0 down to alpha·δ_0 over decay_steps, then constant:
    δ_k = δ_0 · ((1 - alpha) · (1 + cos(π · min(k, decay_steps) / decay_steps)) / 2 + alpha).

    With `warmup_target`, first a linear warmup from δ_0 to warmup_target over warmup_steps,
    then the cosine decay starts from warmup_target (Keras 3)."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        super().__init__(initial_learning_rate, decay_steps, name)
        self.alpha = _real(alpha, "alpha", "CosineDecay")
        if warmup_target is not None:
            _real(warmup_target, "warmup_target", "CosineDecay")
        if _real(warmup_steps, "warmup_steps", "CosineDecay") < 0:
            raise ValueError(f"CosineDecay: warmup_steps must be >= 0, got {warmup_steps!r}")
        self.warmup_target, self.warmup_steps = warmup_target, warmup_steps

    def _cosine(self, k, start):
        cosine = 0.5 * (1 + math.cos(math.pi * k / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        k = float(step)
        if self.warmup_target is None:
            return self._cosine(min(k, self.decay_steps), self.initial_learning_rate)
        k = min(k, self.decay_steps + self.warmup_steps)
        if k < self.warmup_steps:
            return self.initial_learning_rate + (self.warmup_target
                                                 - self.initial_learning_rate) * (
                k / self.warmup_steps)
        return self._cosine(k - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while k ≤ boundaries[0], values[i] while boundaries[i-1] < k ≤ boundaries[i],
    values[-1] after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"PiecewiseConstantDecay: needs one value more than boundaries, "
                             f"got {len(boundaries)} boundaries {boundaries} and "
                             f"{len(values)} values {values}")
        for b in boundaries:
            _real(b, "each boundary", "PiecewiseConstantDecay")
        for v in values:
            _real(v, "each value", "PiecewiseConstantDecay")
        if any(a >= b for a, b in zip(boundaries, boundaries[1:])):
            raise ValueError(f"PiecewiseConstantDecay: boundaries must increase, got "
                             f"{boundaries}")
        self.boundaries, self.values, self.name = boundaries, values, name

    def __call__(self, step):
        k = float(step)
        for boundary, value in zip(self.boundaries, self.values):
            if k <= boundary:
                return value
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


_CLASSES = {cls.__name__: cls for cls in (ExponentialDecay, InverseTimeDecay, PolynomialDecay,
                                          CosineDecay, PiecewiseConstantDecay)}


def serialize(schedule):
    """The dictionary Keras 3 writes: {'module', 'class_name', 'config', 'registered_name'}."""
    if not isinstance(schedule, LearningRateSchedule):
        raise TypeError(f"serialize: expected a LearningRateSchedule, got {schedule!r}")
    return {"module": _MODULE, "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize(config, custom_objects=None):
    """A schedule from `serialize`'s dictionary (or {'class_name', 'config'})."""
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if cls is None:
        raise ValueError(f"unknown learning-rate schedule {name!r}; known: "
                         f"{', '.join(_CLASSES)}")
    return cls.from_config(dict(config.get("config") or {}))
