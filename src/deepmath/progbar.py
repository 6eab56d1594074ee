"""Keras 3's text progress bar (`keras.utils.Progbar`), the one `fit` prints:

    12/250 ━━━━━━━━━━━━━━━━━━━━ 1s 5ms/step - accuracy: 0.8123 - loss: 0.5412

verbose=1 redraws one line (`\\r`) on a terminal or notebook, at most every `interval` seconds,
with the time left (ETA) while running and the elapsed time at the end; the time per step
leaves out the first step (often slow: memory is allocated then). Elsewhere (a file, a pipe)
each redraw is a line of its own, without colours. verbose=2 prints one line at the end:

    250/250 - 1s - 5ms/step - accuracy: 0.8123 - loss: 0.5412

A value is shown as given ("stateful") or averaged over the steps of the bar: by default
every value is averaged; `stateful_metrics` names the exceptions, or `stateless_metrics` names
the only averaged ones (`ProgbarLogger` passes an empty set: the model already logs running
means).
"""
import re
import sys
import time

import numpy as np

_BOLD, _GREEN, _GREY = "\x1b[1m", "\x1b[32m", "\x1b[37m"
_ANSI = re.compile("\x1b\\[\\d+m")


def _paint(code, text):
    """`text` in a terminal colour (nothing for empty text)."""
    return f"{code}{text}\x1b[0m" if text else ""


def _interactive():
    """True where `\\r` redraws a line: a terminal, or a Jupyter notebook."""
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty()) or "ipykernel" in sys.modules


def _format_eta(seconds):
    """Seconds left as Keras prints them: 42s, 3:07, 1:02:09 (truncated)."""
    s = int(seconds)
    if s > 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    if s > 60:
        return f"{s // 60}:{s % 60:02d}"
    return f"{s}s"


def _format_per_unit(seconds, unit_name):
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit_name}"
    return f"{seconds * 1e6:.0f}us/{unit_name}"


def _format_value(value):
    value = float(np.mean(value))
    return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"


class Progbar:
    """A progress bar over `target` steps (None: unknown, shown as `12/Unknown`)."""

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None,
                 stateless_metrics=None, unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError("Progbar: give stateful_metrics (the values shown as given) or "
                             "stateless_metrics (the values averaged), not both")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar: verbose must be 0, 1 or 2, got {verbose!r}")
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self._dynamic = _interactive()
        self._values = {}  # name -> [sum, count]; shown as sum / count
        self._seen = 0
        self._start = time.time()
        self._last_update = 0.0
        self._after_first_step = None
        self._prev_width = 0

    def _averaged(self, name):
        if self.stateless_metrics is not None:
            return name in self.stateless_metrics
        return name not in self.stateful_metrics

    def update(self, current, values=None, finalize=None):
        """Move to step `current`; `values` is a list of (name, value) pairs. `finalize`
        (default: current >= target) ends the bar."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, values or (), finalize)
        now = time.time()
        per_step = self._step_time(current, now)
        if self.verbose == 1:
            # off a terminal a line cannot be redrawn: the one at the target waits for the
            # final line (ProgbarLogger updates at the last batch, then finalizes)
            at_end = self.target is not None and current >= self.target and not self._dynamic
            if not finalize and (at_end or now - self._last_update < self.interval):
                return
            self._draw(current, now, per_step, finalize)
        elif self.verbose == 2 and finalize and self.target:
            count = f"{current:{len(str(self.target))}d}/{self.target}"
            sys.stdout.write(f"{count} - {now - self._start:.0f}s - "
                             f"{_format_per_unit(per_step, self.unit_name)}"
                             f"{self._metrics_text()}\n")
            sys.stdout.flush()
        self._last_update = now

    def add(self, n, values=None):
        """Advance by `n` steps."""
        self.update(self._seen + n, values)

    def _record(self, current, values, finalize):
        steps = max(current - self._seen, 1)
        for name, value in values:
            if self._averaged(name) and not finalize:
                total = self._values.setdefault(name, [0.0, 0])
                total[0] += value * steps
                total[1] += steps
            else:
                self._values[name] = [value, 1]
        self._seen = current

    def _step_time(self, current, now):
        """Seconds per step, timed from the end of the first step once there is one."""
        if not current:
            return 0.0
        if self._after_first_step is not None and current > 1:
            per_step = (now - self._after_first_step) / (current - 1)
        else:
            per_step = (now - self._start) / current
        if current == 1:
            self._after_first_step = now
        return per_step

    def _metrics_text(self):
        return "".join(f" - {name}: {_format_value(total / max(1, count))}"
                       for name, (total, count) in self._values.items())

    def _draw(self, current, now, per_step, finalize):
        paint = _paint if self._dynamic else (lambda code, text: text)
        if self.target:
            count = f"{current:{len(str(self.target))}d}/{self.target}"
            done = min(int(self.width * current / self.target), self.width)
            rest = "━" if self._dynamic else "─"  # a terminal greys the rest instead
            head = (paint(_BOLD, count) + " " + paint(_GREEN, "━" * done)
                    + paint(_GREY, rest * (self.width - done)))
        else:
            head = f"{current:7d}/Unknown"
        if self.target and not finalize:
            clock = _format_eta(per_step * (self.target - current))
        else:
            clock = f"{now - self._start:.0f}s"
        line = (f"{head} {paint(_BOLD, clock)} {_format_per_unit(per_step, self.unit_name)}"
                f"{self._metrics_text()}")
        width = len(_ANSI.sub("", line))
        if self._dynamic:
            line = "\r" + line + " " * max(self._prev_width - width, 0)
        if finalize or not self._dynamic:
            line += "\n"
        self._prev_width = width
        sys.stdout.write(line)
        sys.stdout.flush()
