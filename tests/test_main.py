"""The main job, `python -m deepmath`: the book's MNIST CNN, from the cache, or on synthetic
digits when MNIST can be neither found nor downloaded."""
import numpy as np
import pytest

from deepmath.__main__ import main, predictions_text
from deepmath.datasets import book
from test_datasets import write_idx


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty cache and a download server that refuses connections."""
    monkeypatch.setenv("DEEPMATH_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("DEEPMATH_DATASETS_URL", "http://127.0.0.1:9/")
    return tmp_path / "cache"


def test_synthetic_run_prints_accuracy_time_and_predictions(offline_cache, capsys):
    assert main(["--dataset", "synthetic", "--samples", "256", "--epochs", "1",
                 "--verbose", "0", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "synthetic digits, 256 training and 10000 test images" in out
    assert "130,394" in out                                  # the book's count, in summary()
    assert "test accuracy" in out and "time per epoch" in out
    assert out.count("Attendu ") == 8


def test_offline_mnist_falls_back_to_synthetic_digits_in_one_line(offline_cache, capsys):
    assert main(["--samples", "64", "--epochs", "1", "--verbose", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "could not be downloaded" in lines[0] and "synthetic digits instead" in lines[0]
    assert "DEEPMATH_DATA" in lines[0]
    assert "the book's CNN on synthetic digits" in lines[1]


def test_mnist_from_the_cache_and_the_plot(offline_cache, tmp_path, capsys):
    (x_train, y_train), (x_test, y_test) = book.load_data(n_train=96, n_test=40, seed=1)
    folder = offline_cache / "mnist"
    folder.mkdir(parents=True)
    for name, array in (("train-images-idx3-ubyte.gz", x_train),
                        ("train-labels-idx1-ubyte.gz", y_train),
                        ("t10k-images-idx3-ubyte.gz", x_test),
                        ("t10k-labels-idx1-ubyte.gz", y_test)):
        write_idx(folder / name, array)
    plot = tmp_path / "curves.png"
    assert main(["--epochs", "2", "--batch-size", "16", "--verbose", "1",
                 "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "the book's CNN on mnist, 96 training and 40 test images" in out
    assert "Epoch 2/2" in out and "━" in out                  # Keras' progress bar
    assert plot.stat().st_size > 10_000


@pytest.mark.parametrize("args", [["--epochs", "0"], ["--batch-size", "-1"],
                                  ["--dataset", "cifar100"], ["--threads", "0"]])
def test_bad_options_exit_with_usage(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_prediction_captions_are_the_books():
    probs = np.array([[0.01, 0.97, 0.02], [0.6, 0.1, 0.3]])
    assert predictions_text([1, 2], probs) == ["Attendu 1 - Prédit 1 (97%)",
                                                "Attendu 2 - Prédit 0 (60%)"]


def test_gpu_without_cupy_exits_with_one_line(offline_cache, capsys, monkeypatch):
    import sys
    from deepmath.backend import cupy_backend
    monkeypatch.setitem(sys.modules, "cupy", None)
    cupy_backend.use_modules(None)
    assert main(["--dataset", "synthetic", "--samples", "32", "--device", "gpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "needs CuPy" in err


def test_gpu_run_with_numpy_standing_in_for_cupy(offline_cache, capsys, fake_gpu):
    assert main(["--dataset", "synthetic", "--samples", "64", "--epochs", "1",
                 "--verbose", "0", "--device", "gpu"]) == 0
    out = capsys.readouterr().out
    assert "(GPU)" in out and "test accuracy" in out and out.count("Attendu ") == 8
