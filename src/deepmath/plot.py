"""Figures of training and of what a network sees (book, chapters "Python : tensorflow avec
keras - partie 2" and "Convolution avec tensorflow/keras", §4 "Que voit un réseau de
neurones ?"): loss and accuracy per epoch, a grid of digits with the predicted class (both in
one figure: `plot_training_summary`), and the feature maps of a convolution layer.

The maths figures of the first chapters follow: a function with its tangent ("Dérivée"),
surfaces and level lines ("Fonctions de plusieurs variables"), gradient fields ("Gradient"),
descent trajectories and regression lines ("Descente de gradient"), the region a classifier
colours ("Réseau de neurones"), convolved images and pooling matrices ("Convolution").

Every function takes `file=` (the figure is written there, its format from the extension) and
`show=` (False by default; True opens a window, skipped where there is no display) and returns
the matplotlib figure. matplotlib is optional: `pip install matplotlib`.
"""
import math
import os
import sys

import numpy as np

from . import calculus

_NON_INTERACTIVE = ("agg", "cairo", "pdf", "pgf", "ps", "svg", "template")


def pyplot():
    """matplotlib.pyplot, on the Agg backend (files only) when there is no display."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plots need matplotlib: pip install matplotlib") from None
    headless = sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless and "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def finish(fig, file=None, show=False):
    """Write `fig` to `file` (complete or not at all) and show it if asked and possible."""
    plt = pyplot()
    if file is not None:
        _save(fig, file)
    if show:
        if plt.get_backend().lower() in _NON_INTERACTIVE:
            plt.close(fig)
        else:
            plt.show()
    return fig


def _save(fig, file):
    if not isinstance(file, (str, os.PathLike)):
        fig.savefig(file, format="png")
        return
    from .saving.io import atomic_path
    extension = os.path.splitext(os.fspath(file))[1][1:].lower() or "png"
    with atomic_path(file) as tmp:
        fig.savefig(tmp, format=extension)


# ---- training curves --------------------------------------------------------------------------
def plot_history(history, metrics=None, file=None, show=False):
    """One panel per metric ('loss', 'accuracy'…) with its value per epoch, and the
    validation's ('val_loss'…) beside it when `fit` had validation data. `history` is what
    `fit` returns (or its `.history` dict)."""
    logs, names = _history_logs(history, metrics, "plot_history")
    fig, axes = pyplot().subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    _draw_history(axes[0], logs, names)
    fig.tight_layout()
    return finish(fig, file, show)


def _history_logs(history, metrics, caller):
    """The history's dict and the metric names to draw (all but the 'val_' ones by default)."""
    logs = dict(getattr(history, "history", history))
    names = [k for k in logs if not k.startswith("val_")] if metrics is None else \
        [metrics] if isinstance(metrics, str) else list(metrics)
    missing = [m for m in names if m not in logs]
    if missing or not names:
        raise ValueError(f"{caller}: no {missing or 'metric'} in the history; it holds "
                         f"{', '.join(logs) or 'nothing'}")
    return logs, names


def _draw_history(axes, logs, names):
    for ax, name in zip(axes, names):
        for key in (name, "val_" + name):
            if key in logs:
                values = np.asarray(logs[key], dtype=float)
                ax.plot(np.arange(1, len(values) + 1), values, label=key)
        ax.set_xlabel("époque")
        ax.set_title(name)
        ax.legend()


# ---- predictions ------------------------------------------------------------------------------
def plot_predictions_grid(images, y_true, y_pred_probs, n=12, ncols=4, cmap="Greys", file=None,
                          show=False):
    """The first `n` images, each titled "Attendu 7 - Prédit 7 (99%)" as the book's MNIST
    figure: the expected class, the predicted one (largest probability) and its probability.
    `y_true` holds class indices or one-hot rows; `y_pred_probs` the rows `predict` gives."""
    shown = _predictions(images, y_true, y_pred_probs, n, "plot_predictions_grid")
    ncols, nrows = _grid_shape(len(shown[0]), ncols)
    fig, axes = pyplot().subplots(nrows, ncols, figsize=(3 * ncols, 3.2 * nrows), squeeze=False)
    _draw_predictions(axes.flat, *shown, cmap)
    fig.tight_layout()
    return finish(fig, file, show)


def _predictions(images, y_true, y_pred_probs, n, caller):
    """The first n images (a channel axis of 1 dropped), expected classes and probabilities."""
    images, probs = np.asarray(images), np.asarray(y_pred_probs, dtype=float)
    expected = _class_indices(y_true)
    if probs.ndim != 2:
        raise ValueError(f"{caller}: y_pred_probs must be (N, classes), got shape "
                         f"{probs.shape}")
    if not len(images) == len(expected) == len(probs):
        raise ValueError(f"{caller}: {len(images)} images, {len(expected)} labels "
                         f"and {len(probs)} predictions: they must match")
    n = min(int(n), len(images))
    if n < 1:
        raise ValueError(f"{caller}: no image to show")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    return images[:n], expected[:n], probs[:n]


def _grid_shape(n, ncols):
    ncols = min(ncols, n)
    return ncols, math.ceil(n / ncols)


def _draw_predictions(axes, images, expected, probs, cmap):
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i >= len(images):
            continue
        predicted = int(np.argmax(probs[i]))
        ax.imshow(images[i], cmap=cmap)
        ax.set_title(f"Attendu {expected[i]} - Prédit {predicted} "
                     f"({round(100 * probs[i, predicted])}%)",
                     color="black" if predicted == expected[i] else "red", fontsize=10)


def plot_training_summary(history, images, y_true, y_pred_probs, metrics=None, n=12, ncols=4,
                          cmap="Greys", file=None, show=False):
    """One figure for a training run (what `python -m deepmath --plot FILE` writes): the
    curves of `plot_history` on top, the grid of `plot_predictions_grid` below."""
    logs, names = _history_logs(history, metrics, "plot_training_summary")
    shown = _predictions(images, y_true, y_pred_probs, n, "plot_training_summary")
    ncols, nrows = _grid_shape(len(shown[0]), ncols)
    width = max(5 * len(names), 3 * ncols)
    fig = pyplot().figure(figsize=(width, 4 + 3.2 * nrows), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[4, 3.2 * nrows])
    _draw_history(top.subplots(1, len(names), squeeze=False)[0], logs, names)
    _draw_predictions(bottom.subplots(nrows, ncols, squeeze=False).flat, *shown, cmap)
    return finish(fig, file, show)


def _class_indices(y):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    return y.reshape(len(y)).astype(np.int64)


# ---- feature maps -----------------------------------------------------------------------------
def plot_feature_maps(model, layer, image, ncols=None, cmap="gray", file=None, show=False):
    """What a layer (index in `model.layers` or name) outputs for one image: one panel per
    channel ("Filtre 1", "Filtre 2"…), white for high values, black for low, as the book's
    chapter on what a convolutional network sees. `image` is (H, W), (H, W, C) or
    (1, H, W, C)."""
    target = _find_layer(model, layer)
    x = np.asarray(image, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"plot_feature_maps: expected one image (H, W[, C]), got shape "
                         f"{np.shape(image)}")
    maps = layer_output(model, target, x)
    if maps.ndim != 4:
        raise ValueError(f"plot_feature_maps: layer {target.name!r} outputs shape "
                         f"{maps.shape}, not feature maps (1, H, W, channels)")
    channels = maps.shape[-1]
    ncols = ncols or math.ceil(math.sqrt(channels))
    nrows = math.ceil(channels / ncols)
    plt = pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=(2 * ncols, 2.2 * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < channels:
            ax.imshow(maps[0, :, :, k], cmap=cmap)
            ax.set_title(f"Filtre {k + 1}", fontsize=9)
    fig.suptitle(f"Couche {target.name}")
    fig.tight_layout()
    return finish(fig, file, show)


def _find_layer(model, layer):
    layers = model.layers
    if isinstance(layer, str):
        for candidate in layers:
            if candidate.name == layer:
                return candidate
        raise ValueError(f"no layer named {layer!r}; layers: "
                         f"{', '.join(c.name for c in layers)}")
    if not -len(layers) <= layer < len(layers):
        raise IndexError(f"layer index {layer} out of range: the model has {len(layers)} layers")
    return layers[layer]


def layer_output(model, layer, x):
    """The output of `layer` of `model` on the batch x, as an array: through the sub-model
    Model(inputs=model.inputs, outputs=layer.output) (any graph), or, for a model whose layers
    were never connected symbolically, by running its layers in order up to `layer`."""
    from .layers.base import InputLayer
    from .tensor import Tensor, no_grad
    try:
        symbolic = layer.output
    except AttributeError:
        symbolic = None
    if symbolic is not None and getattr(model, "inputs", None):
        from .models import Model
        return np.asarray(Model(inputs=model.inputs, outputs=symbolic).predict(x, verbose=0))
    out = Tensor(x)
    with no_grad():
        for candidate in model.layers:
            if not isinstance(candidate, InputLayer):
                out = candidate(out)
            if candidate is layer:
                return np.asarray(out.data)
    raise ValueError(f"layer {layer.name!r} is not a layer of the model")


# ---- maths figures: checks and grids ----------------------------------------------------------
def _interval(lim, name):
    """`lim` as a pair of finite numbers lo < hi."""
    try:
        lo, hi = (float(v) for v in lim)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max) of numbers, got {lim!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"{name} must be finite with min < max, got {lim!r}")
    return lo, hi


def _count(n, name, least=2):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {n!r}")
    return int(n)


def _shaped(out, shape, what):
    """`out` as a float array of `shape` (a constant is broadcast)."""
    out = np.asarray(out, dtype=float)
    if out.ndim == 0:
        return np.full(shape, float(out))
    if out.shape != shape:
        raise ValueError(f"{what} must return an array of shape {shape} on arrays of that shape, "
                         f"got {out.shape}: write it with numpy functions (np.exp, not math.exp)")
    return out


def _mesh(xlim, ylim, n):
    """The n×n grid X, Y over xlim × ylim."""
    xs = np.linspace(*_interval(xlim, "xlim"), _count(n, "n"))
    return np.meshgrid(xs, np.linspace(*_interval(ylim, "ylim"), n))


def _grid(f, xlim, ylim, n):
    """The n×n grid X, Y over xlim × ylim and Z = f(X, Y)."""
    X, Y = _mesh(xlim, ylim, n)
    return X, Y, _shaped(f(X, Y), X.shape, "f(x, y)")


def _points(points, name):
    p = np.asarray(points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2 or len(p) == 0:
        raise ValueError(f"{name} must be an array of shape (k, 2) with k >= 1, got shape "
                         f"{p.shape}")
    return p


def _padded(values, margin=0.1):
    """(min, max) of `values` widened by `margin` of their span (by 1 where they are equal)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = margin * (hi - lo) or 1.0
    return lo - pad, hi + pad


def _axes_2d(xlabel="x", ylabel="y", figsize=(6, 5)):
    fig, ax = pyplot().subplots(figsize=figsize)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig, ax


def _level_lines(fig, ax, X, Y, Z, levels, filled, cmap, colorbar):
    """contour (or contourf) of Z on ax, with a colour bar."""
    draw = ax.contourf if filled else ax.contour
    contours = draw(X, Y, Z, levels=levels, cmap=cmap)
    if colorbar:
        fig.colorbar(contours, ax=ax)
    return contours


# ---- a function and its tangent ("Dérivée") ----------------------------------------------------
def plot_tangent(f, a, xlim=None, df=None, n=200, file=None, show=False):
    """The graph of y = f(x) and its tangent y = f(a) + f'(a)(x - a) at x = a (chapter
    "Dérivée"). f'(a) is `df(a)` when given, else a centred difference. `f` must accept a
    numpy array (np.sin, lambda x: x**2…)."""
    if isinstance(a, bool) or not isinstance(a, (int, float, np.integer, np.floating)):
        raise ValueError(f"a must be a number (the abscissa of the tangent), got {a!r}")
    a = float(a)
    lo, hi = _interval((a - 3, a + 3) if xlim is None else xlim, "xlim")
    x = np.linspace(lo, hi, _count(n, "n"))
    y = _shaped(f(x), x.shape, "f(x)")
    fa = float(f(a))
    slope = float(df(a)) if df is not None else calculus.derivative(f, a)
    fig, ax = _axes_2d()
    ax.plot(x, y, label="y = f(x)")
    ax.plot(x, fa + slope * (x - a), "--", label=f"tangente en x = {a:g} (pente {slope:.4g})")
    ax.plot([a], [fa], "o", color="black")
    ax.set_ylim(*_padded(y))
    ax.legend()
    return finish(fig, file, show)


# ---- functions of two variables ("Fonctions de plusieurs variables") --------------------------
def plot_surface(f, xlim=(-3, 3), ylim=(-3, 3), n=50, cmap="viridis", file=None, show=False):
    """The surface z = f(x, y) over xlim × ylim, in 3-D (chapter "Fonctions de plusieurs
    variables"). `f` takes numpy arrays x, y of the same shape."""
    X, Y, Z = _grid(f, xlim, ylim, n)
    fig = pyplot().figure(figsize=(7, 6))
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(X, Y, Z, cmap=cmap)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    return finish(fig, file, show)


def plot_level_lines(f, xlim=(-3, 3), ylim=(-3, 3), levels=10, filled=False, n=100,
                     cmap="viridis", colorbar=True, xlabel="x", ylabel="y", file=None,
                     show=False):
    """The level lines f(x, y) = k (`contour`; `filled=True`: coloured bands, `contourf`) with
    a colour bar (chapter "Fonctions de plusieurs variables"). `levels`: how many, or the
    values k."""
    X, Y, Z = _grid(f, xlim, ylim, n)
    fig, ax = _axes_2d(xlabel, ylabel)
    _level_lines(fig, ax, X, Y, Z, levels, filled, cmap, colorbar)
    return finish(fig, file, show)


# ---- gradients ("Gradient", "Descente de gradient") --------------------------------------------
def _gradient_on(f, gradient, X, Y):
    """grad f at the grid points: `gradient(x, y)` -> (∂f/∂x, ∂f/∂y), or centred differences."""
    if gradient is not None:
        gx, gy = gradient(X, Y)
        return (_shaped(gx, X.shape, "gradient(x, y)[0]"),
                _shaped(gy, X.shape, "gradient(x, y)[1]"))
    return (_shaped(calculus.derivative(lambda x: f(x, Y), X), X.shape, "f(x, y)"),
            _shaped(calculus.derivative(lambda y: f(X, y), Y), X.shape, "f(x, y)"))


def plot_gradient_field(f, xlim=(-3, 3), ylim=(-3, 3), gradient=None, n=15, levels=10,
                        cmap="viridis", file=None, show=False):
    """The gradient vectors grad f(x, y) on an n×n grid (`quiver`), over the level lines of f
    (`levels=0`: none), as in the chapter "Gradient": each arrow is orthogonal to the level
    line and points where f grows fastest. `gradient(x, y)` returns (∂f/∂x, ∂f/∂y); without
    it, centred differences of f."""
    X, Y, Z = _grid(f, xlim, ylim, n)
    gx, gy = _gradient_on(f, gradient, X, Y)
    fig, ax = _axes_2d()
    if levels:
        fine = _grid(f, xlim, ylim, 100)
        _level_lines(fig, ax, *fine, levels, False, cmap, True)
    ax.quiver(X, Y, gx, gy, angles="xy")
    return finish(fig, file, show)


def plot_descent(points, f=None, xlim=None, ylim=None, levels=10, n=100, cmap="viridis",
                 xlabel="x", ylabel="y", file=None, show=False):
    """The points P_0, P_1, … of a gradient descent (an array (k, 2)) joined by arrows
    P_k → P_{k+1}, over the level lines of f when given (chapter "Descente de gradient").
    Limits default to the points' box, padded."""
    p = _points(points, "points")
    xlim = _padded(p[:, 0]) if xlim is None else xlim
    ylim = _padded(p[:, 1]) if ylim is None else ylim
    fig, ax = _axes_2d(xlabel, ylabel)
    if f is not None and levels:
        _level_lines(fig, ax, *_grid(f, xlim, ylim, n), levels, False, cmap, True)
    step = np.diff(p, axis=0)
    ax.quiver(p[:-1, 0], p[:-1, 1], step[:, 0], step[:, 1], angles="xy", scale_units="xy",
              scale=1, color="red", width=0.004)
    ax.plot(p[:, 0], p[:, 1], "o", color="red", markersize=3)
    ax.set_xlim(*_interval(xlim, "xlim"))
    ax.set_ylim(*_interval(ylim, "ylim"))
    return finish(fig, file, show)


def plot_regression_lines(x, y, lines, labels=None, xlim=None, cmap="Blues", file=None,
                          show=False):
    """The data points (x_i, y_i) and the lines y = a x + b for each row (a, b) of `lines`
    (an array (k, 2), e.g. the (a_k, b_k) of a descent), paler to darker so that the last one
    stands out (chapter "Descente de gradient", §2.2 "Régression linéaire")."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.ndim != 1 or xs.shape != ys.shape or len(xs) == 0:
        raise ValueError(f"x and y must be two vectors of the same length, got shapes "
                         f"{xs.shape} and {ys.shape}")
    ab = _points(lines, "lines")
    if labels is not None and len(labels) != len(ab):
        raise ValueError(f"{len(labels)} labels for {len(ab)} lines: they must match")
    grid = np.linspace(*_interval(_padded(xs) if xlim is None else xlim, "xlim"), 2)
    colours = pyplot().get_cmap(cmap)(np.linspace(0.35, 1.0, len(ab)))
    fig, ax = _axes_2d()
    ax.scatter(xs, ys, color="black", zorder=3, label="données")
    for k, ((a, b), colour) in enumerate(zip(ab, colours)):
        ax.plot(grid, a * grid + b, color=colour,
                label=f"y = {a:.3g} x + {b:.3g}" if labels is None else labels[k])
    if len(ab) <= 10:
        ax.legend()
    return finish(fig, file, show)


# ---- what a classifier decides ("Réseau de neurones") -----------------------------------------
def _predict(classifier, grid):
    """The outputs of a function or of a model (its `predict`, quiet) on the rows of grid."""
    predict = getattr(classifier, "predict", None)
    if predict is None:
        if not callable(classifier):
            raise TypeError(f"classifier must be a function or a model with predict, got "
                            f"{type(classifier).__name__}")
        return np.asarray(classifier(grid), dtype=float)
    try:
        return np.asarray(predict(grid, verbose=0), dtype=float)
    except TypeError:
        return np.asarray(predict(grid), dtype=float)


def _decision(out, rows, threshold):
    """Values to colour: one output per point (thresholded when asked) or the class index."""
    if out.shape in ((rows,), (rows, 1)):
        values = out.reshape(rows)
        return values if threshold is None else (values >= threshold).astype(float)
    if out.ndim == 2 and out.shape[0] == rows:
        return out.argmax(axis=1).astype(float)
    raise ValueError(f"the classifier must return ({rows},), ({rows}, 1) or ({rows}, classes) "
                     f"on {rows} points (N, 2), got shape {out.shape}")


def plot_classification(classifier, xlim=(-3, 3), ylim=(-3, 3), points=None, labels=None,
                        n=150, threshold=None, cmap="coolwarm", file=None, show=False):
    """The plane region coloured by a classifier (chapter "Réseau de neurones"): `classifier`
    maps points (N, 2) to one value per point (coloured as is, or 0/1 against `threshold`) or
    to class probabilities (N, classes) (coloured by argmax); a model is asked through its
    `predict`. `points` (m, 2) are drawn on top, coloured by `labels`."""
    X, Y = _mesh(xlim, ylim, n)
    grid = np.column_stack([X.ravel(), Y.ravel()])
    Z = _decision(_predict(classifier, grid), len(grid), threshold).reshape(X.shape)
    fig, ax = _axes_2d()
    dx, dy = (X[0, 1] - X[0, 0]) / 2, (Y[1, 0] - Y[0, 0]) / 2     # pixel centres on the grid
    image = ax.imshow(Z, extent=(X[0, 0] - dx, X[0, -1] + dx, Y[0, 0] - dy, Y[-1, 0] + dy),
                      origin="lower", cmap=cmap, alpha=0.6, aspect="auto")
    fig.colorbar(image, ax=ax)
    if points is not None:
        p = _points(points, "points")
        colours = "black" if labels is None else np.asarray(labels, dtype=float).reshape(-1)
        if labels is not None and len(colours) != len(p):
            raise ValueError(f"{len(colours)} labels for {len(p)} points: they must match")
        ax.scatter(p[:, 0], p[:, 1], c=colours, cmap=cmap, edgecolors="black",
                   vmin=Z.min(), vmax=Z.max())
    ax.set_xlim(X[0, 0], X[0, -1])
    ax.set_ylim(Y[0, 0], Y[-1, 0])
    return finish(fig, file, show)


# ---- convolution and pooling ("Convolution") ---------------------------------------------------
def _image(a, name):
    img = np.asarray(a, dtype=float)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] in (3, 4))) or img.size == 0:
        raise ValueError(f"{name} must be an image (H, W), (H, W, 1) or (H, W, 3), got shape "
                         f"{np.shape(a)}")
    return img


def _matrix(a, name):
    m = np.asarray(a, dtype=float)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"{name} must be a matrix (n, p), got shape {m.shape}")
    return m


def _matrix_panel(ax, m, title, fmt, cmap):
    """The matrix as coloured cells with each value written in its cell."""
    ax.imshow(m, cmap=cmap)
    middle = (m.max() + m.min()) / 2
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, fmt.format(v), ha="center", va="center",
                color="white" if v < middle else "black")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_convolution(before, after, kernel=None, titles=None, cmap="gray", fmt="{:g}",
                     file=None, show=False):
    """An image before and after a convolution, side by side (chapter "Convolution"), with
    the kernel's matrix between them, its values in the cells, when `kernel` is given."""
    panels = [("image", _image(before, "before")), ("après convolution", _image(after, "after"))]
    if kernel is not None:
        panels.insert(1, ("motif", _matrix(kernel, "kernel")))
    titles = [t for t, _ in panels] if titles is None else list(titles)
    if len(titles) != len(panels):
        raise ValueError(f"{len(titles)} titles for {len(panels)} panels: they must match")
    fig, axes = pyplot().subplots(1, len(panels), figsize=(4 * len(panels), 4))
    for ax, title, (role, data) in zip(axes, titles, panels):
        if role == "motif":
            _matrix_panel(ax, data, title, fmt, "coolwarm")
            continue
        ax.imshow(data, cmap=cmap)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    return finish(fig, file, show)


def plot_pooling(before, after=None, size=2, mode="max", titles=None, fmt="{:g}",
                 cmap="Blues", file=None, show=False):
    """A matrix and its pooling side by side, each value written in its cell (chapter
    "Convolution", §1.2 "Pooling"). `after` defaults to `signal.max_pooling(before, size)`
    (mode 'max') or `signal.average_pooling` (mode 'average')."""
    m = _matrix(before, "before")
    if mode not in ("max", "average"):
        raise ValueError(f"mode must be 'max' or 'average', got {mode!r}")
    if after is None:
        from . import signal
        after = (signal.max_pooling if mode == "max" else signal.average_pooling)(m, size)
    pooled = _matrix(after, "after")
    titles = ("avant", f"après {mode} pooling") if titles is None else tuple(titles)
    if len(titles) != 2:
        raise ValueError(f"titles must be two strings (before, after), got {titles!r}")
    fig, axes = pyplot().subplots(1, 2, figsize=(8, 4),
                                  gridspec_kw={"width_ratios": [m.shape[1], pooled.shape[1]]})
    for ax, data, title in zip(axes, (m, pooled), titles):
        _matrix_panel(ax, data, title, fmt, cmap)
    fig.tight_layout()
    return finish(fig, file, show)


# French names used in the book
lignes_de_niveau = plot_level_lines
tangente = plot_tangent
