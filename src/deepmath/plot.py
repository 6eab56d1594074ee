"""Figures of training and of what a network sees (book, chapters "Python : tensorflow avec
keras - partie 2" and "Convolution avec tensorflow/keras", §4 "Que voit un réseau de
neurones ?"): loss and accuracy per epoch, a grid of digits with the predicted class, and the
feature maps of a convolution layer.

Every function takes `file=` (the figure is written there, its format from the extension) and
`show=` (open a window; skipped where there is no display) and returns the matplotlib figure.
matplotlib is optional: `pip install matplotlib`.
"""
import math
import os
import sys

import numpy as np

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


def finish(fig, file=None, show=True):
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
def plot_history(history, metrics=None, file=None, show=True):
    """One panel per metric ('loss', 'accuracy'…) with its value per epoch, and the
    validation's ('val_loss'…) beside it when `fit` had validation data. `history` is what
    `fit` returns (or its `.history` dict)."""
    logs = dict(getattr(history, "history", history))
    names = [k for k in logs if not k.startswith("val_")] if metrics is None else \
        [metrics] if isinstance(metrics, str) else list(metrics)
    missing = [m for m in names if m not in logs]
    if missing or not names:
        raise ValueError(f"plot_history: no {missing or 'metric'} in the history; it holds "
                         f"{', '.join(logs) or 'nothing'}")
    plt = pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for key in (name, "val_" + name):
            if key in logs:
                values = np.asarray(logs[key], dtype=float)
                ax.plot(np.arange(1, len(values) + 1), values, label=key)
        ax.set_xlabel("époque")
        ax.set_title(name)
        ax.legend()
    fig.tight_layout()
    return finish(fig, file, show)


# ---- predictions ------------------------------------------------------------------------------
def plot_predictions_grid(images, y_true, y_pred_probs, n=12, ncols=4, cmap="Greys", file=None,
                          show=True):
    """The first `n` images, each titled "Attendu 7 - Prédit 7 (99%)" as the book's MNIST
    figure: the expected class, the predicted one (largest probability) and its probability.
    `y_true` holds class indices or one-hot rows; `y_pred_probs` the rows `predict` gives."""
    images, probs = np.asarray(images), np.asarray(y_pred_probs, dtype=float)
    expected = _class_indices(y_true)
    if probs.ndim != 2:
        raise ValueError(f"plot_predictions_grid: y_pred_probs must be (N, classes), got shape "
                         f"{probs.shape}")
    if not len(images) == len(expected) == len(probs):
        raise ValueError(f"plot_predictions_grid: {len(images)} images, {len(expected)} labels "
                         f"and {len(probs)} predictions: they must match")
    n = min(int(n), len(images))
    if n < 1:
        raise ValueError("plot_predictions_grid: no image to show")
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    plt = pyplot()
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 3.2 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        predicted = int(np.argmax(probs[i]))
        ax.imshow(images[i], cmap=cmap)
        ax.set_title(f"Attendu {expected[i]} - Prédit {predicted} "
                     f"({round(100 * probs[i, predicted])}%)",
                     color="black" if predicted == expected[i] else "red", fontsize=10)
    fig.tight_layout()
    return finish(fig, file, show)


def _class_indices(y):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    return y.reshape(len(y)).astype(np.int64)


# ---- feature maps -----------------------------------------------------------------------------
def plot_feature_maps(model, layer, image, ncols=None, cmap="gray", file=None, show=True):
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
