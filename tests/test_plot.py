"""Training figures (deepmath.plot), drawn headless to PNG files."""
import io
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import deepmath as dm
from deepmath import plot
from deepmath.layers import Dense, Layer

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    return data


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot
    matplotlib.pyplot.close("all")


# ---- plot_history -------------------------------------------------------------------------------
LOGS = {"loss": [1.0, 0.5, 0.25], "accuracy": [0.5, 0.75, 0.9],
        "val_loss": [1.1, 0.7, 0.6], "val_accuracy": [0.4, 0.7, 0.8]}


def test_plot_history_draws_loss_and_accuracy_with_validation(tmp_path):
    fig = plot.plot_history(SimpleNamespace(history=LOGS), file=tmp_path / "h.png")
    _png(tmp_path / "h.png")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    lines = {line.get_label(): line for ax in fig.axes for line in ax.lines}
    assert set(lines) == set(LOGS)
    np.testing.assert_array_equal(lines["val_loss"].get_ydata(), LOGS["val_loss"])
    np.testing.assert_array_equal(lines["loss"].get_xdata(), [1, 2, 3])


def test_plot_history_chosen_metrics_and_errors(tmp_path):
    fig = plot.plot_history({"loss": [3.0, 2.0]}, metrics="loss", show=False)
    assert len(fig.axes) == 1 and len(fig.axes[0].lines) == 1
    with pytest.raises(ValueError, match="'mae'.*holds loss"):
        plot.plot_history({"loss": [3.0]}, metrics=["mae"], show=False)


def test_figures_save_to_file_objects_and_names_without_extension(tmp_path):
    buffer = io.BytesIO()
    plot.plot_history(LOGS, file=buffer)
    assert buffer.getvalue()[:4] == b"\x89PNG"
    plot.plot_history(LOGS, file=str(tmp_path / "curves"))
    _png(tmp_path / "curves")
    plot.plot_history(LOGS, file=tmp_path / "curves.svg")
    assert (tmp_path / "curves.svg").read_text().lstrip().startswith("<?xml")
    assert sorted(os.listdir(tmp_path)) == ["curves", "curves.svg"]     # no temporary left


# ---- plot_predictions_grid ----------------------------------------------------------------------
def test_predictions_grid_titles_as_the_book(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((5, 28, 28, 1))
    probs = np.zeros((5, 10))
    probs[np.arange(5), [7, 2, 1, 0, 4]] = [0.999, 0.6, 0.91, 1.0, 0.5]
    probs[4, 9] = 0.5 - 1e-3                    # digit 4 predicted (50%), expected 9
    y_true = np.eye(10)[[7, 2, 1, 0, 9]]       # one-hot rows, as to_categorical gives
    fig = plot.plot_predictions_grid(images, y_true, probs, n=6, ncols=3,
                                     file=tmp_path / "p.png")
    _png(tmp_path / "p.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["Attendu 7 - Prédit 7 (100%)", "Attendu 2 - Prédit 2 (60%)",
                      "Attendu 1 - Prédit 1 (91%)", "Attendu 0 - Prédit 0 (100%)",
                      "Attendu 9 - Prédit 4 (50%)"]
    assert fig.axes[4].title.get_color() == "red" and fig.axes[0].title.get_color() == "black"
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), images[1, :, :, 0])


def test_predictions_grid_checks_lengths():
    with pytest.raises(ValueError, match="must match"):
        plot.plot_predictions_grid(np.zeros((3, 4, 4)), [1, 2], np.zeros((3, 10)), show=False)


# ---- plot_feature_maps --------------------------------------------------------------------------
class Channels(Layer):
    """(N, H, W, 1) -> (N, H, W, 3): the image times 1, 2 and 3 (stands in for a Conv2D)."""

    def call(self, inputs, training=False):
        return dm.concatenate([inputs, inputs * 2, inputs * 3], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (3,)


class Flat(Layer):
    def call(self, inputs, training=False):
        return dm.reshape(inputs, (inputs.shape[0], -1))


class Chain:
    def __init__(self, *layers):
        self.layers = list(layers)


def test_feature_maps_one_panel_per_channel(tmp_path):
    image = np.random.default_rng(1).random((5, 6))
    model = Chain(Channels(name="conv"), Dense(2))
    fig = plot.plot_feature_maps(model, 0, image, file=tmp_path / "f.png")
    _png(tmp_path / "f.png")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["Filtre 1", "Filtre 2", "Filtre 3"]
    for k, ax in enumerate(panels):
        np.testing.assert_allclose(ax.images[0].get_array(), image * (k + 1), rtol=1e-6)
    by_name = plot.plot_feature_maps(model, "conv", image[:, :, None], show=False)
    assert len([ax for ax in by_name.axes if ax.get_title()]) == 3


def test_feature_maps_errors():
    model = Chain(Channels(name="conv2"), Dense(2))
    with pytest.raises(ValueError, match="no layer named 'pool'"):
        plot.plot_feature_maps(model, "pool", np.zeros((4, 4)), show=False)
    with pytest.raises(IndexError, match="2 layers"):
        plot.plot_feature_maps(model, 5, np.zeros((4, 4)), show=False)
    with pytest.raises(ValueError, match="not feature maps"):
        plot.plot_feature_maps(Chain(Flat()), 0, np.zeros((4, 4)), show=False)
    with pytest.raises(ValueError, match="one image"):
        plot.plot_feature_maps(model, 0, np.zeros((2, 4, 4, 1)), show=False)


def test_feature_maps_of_a_functional_or_sequential_model(tmp_path):
    models = pytest.importorskip("deepmath.models", exc_type=ImportError)
    from deepmath.layers import Input
    inputs = Input(shape=(5, 6, 1))
    maps = Channels(name="maps")(inputs)
    model = models.Model(inputs=inputs, outputs=maps)
    image = np.random.default_rng(2).random((5, 6, 1))
    fig = plot.plot_feature_maps(model, "maps", image, file=tmp_path / "m.png")
    _png(tmp_path / "m.png")
    panels = [ax for ax in fig.axes if ax.get_title()]
    np.testing.assert_allclose(panels[2].images[0].get_array(), 3 * image[:, :, 0], rtol=1e-6)
    seq = models.Sequential([Input(shape=(5, 6, 1)), Channels(name="maps2")])
    assert len([a for a in plot.plot_feature_maps(seq, 0, image, show=False).axes
                if a.get_title()]) == 3


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot.pyplot()


# ---- plot_training_summary ----------------------------------------------------------------------
def test_training_summary_curves_above_predictions(tmp_path, capsys):
    rng = np.random.default_rng(3)
    images, labels = rng.random((12, 28, 28, 1)), np.arange(12) % 10
    probs = np.eye(10)[(labels + (labels == 3)) % 10]          # 3 is read as a 4
    fig = plot.plot_training_summary(SimpleNamespace(history=LOGS), images, labels, probs, n=6,
                                     ncols=3, file=tmp_path / "s.png")
    _png(tmp_path / "s.png")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[:2] == ["loss", "accuracy"]
    assert titles[2:] == [f"Attendu {k} - Prédit {k + (k == 3)} (100%)" for k in range(6)]
    assert {line.get_label() for ax in fig.axes for line in ax.lines} == set(LOGS)
    from deepmath.__main__ import write_plot                # python -m deepmath --plot FILE
    write_plot(tmp_path / "main.png", LOGS, images, labels, probs)
    _png(tmp_path / "main.png")
    assert "main.png" in capsys.readouterr().out
    with pytest.raises(ValueError, match="plot_training_summary: 12 images, 12 labels and 2"):
        plot.plot_training_summary(LOGS, images, labels, probs[:2])
