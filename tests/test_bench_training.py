"""bench/training.py runs end to end on deepmath alone (--quick) and writes its JSON; its IDX
reader checks headers and its synthetic data stands in for an absent MNIST.

No timing is asserted (DESIGN.md). The peers (torch, TensorFlow) are left out: each of their
processes spends seconds importing, and they are not test dependencies.
"""
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
SCRIPT = BENCH / "training.py"

pytestmark = pytest.mark.skipif(not SCRIPT.exists(), reason="bench/ is not beside tests/ (sdist?)")


def deepmath_models():
    """The models deepmath can build now: the CNN needs Conv2D and Flatten."""
    try:
        from deepmath.layers import Conv2D, Flatten  # noqa: F401
    except ImportError:
        return ["mlp"]
    return ["mlp", "cnn"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The completed quick run's process, its JSON path and the models asked for."""
    out = tmp_path_factory.mktemp("bench-training") / "training.json"
    models = deepmath_models()
    command = [sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--libraries",
               "deepmath", "--models", *models, "--out", str(out)]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    return proc, out, models


def test_quick_run_writes_results(quick_run):
    proc, out, models = quick_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = json.loads(out.read_text())
    for key in ("schema", "created", "settings", "data", "synthetic_data", "machine",
                "deepmath", "results", "targets", "errors"):
        assert key in run
    assert run["errors"] == []
    assert run["settings"]["train_samples"] == 1000 and run["settings"]["rounds"] == 1
    assert set(run["results"]) == set(models)
    for model in models:
        res = run["results"][model]
        assert res["libraries"] == ["deepmath"]
        stats = res["stats"]["deepmath"]
        assert stats["epoch"]["median_ms"] > 0 and stats["epoch"]["n"] == 1
        assert 0.0 <= stats["test_accuracy"] <= 1.0
        assert stats["peak_rss_mb"] > 0
        (record,) = res["rounds"]
        assert len(record["epoch_seconds"]) == 2
        assert record["train_samples"] == 1000 and record["test_samples"] == 2000
        for key in ("peak_rss_mb", "ru_maxrss_mb", "rss_before_fit_mb", "hwm_after_fit_mb",
                    "peak_reset", "training_increase_mb"):
            assert key in record["memory"]


def test_quick_run_prints_table(quick_run):
    proc, _, models = quick_run
    assert proc.returncode == 0, proc.stderr
    assert "median s/epoch" in proc.stdout and "peer/deepmath" in proc.stdout
    for model in models:
        assert re.search(rf"^{model}\s+deepmath\s", proc.stdout, re.MULTILINE)


@pytest.fixture
def child(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import _training_child
    return _training_child


def test_read_idx(child, tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in images.shape)
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + images.tobytes()))
    np.testing.assert_array_equal(child.read_idx(path), images)
    bad = tmp_path / "bad"
    bad.write_bytes(bytes([0, 0, 9, 1]) + (4).to_bytes(4, "big") + bytes(4))
    with pytest.raises(ValueError, match="not an IDX file"):
        child.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(header + images.tobytes()[:-1])
    with pytest.raises(ValueError, match="bytes of data for shape"):
        child.read_idx(short)


def test_synthetic_data_when_mnist_absent(child, monkeypatch, tmp_path):
    monkeypatch.setattr(child, "MNIST_DIR", tmp_path)
    assert child.mnist_files() is None and "synthetic" in child.data_source()
    x, y, labels, x_test, y_test, labels_test = child.load_data(samples=100)
    assert x.shape == (100, 28, 28) and x_test.shape == (2000, 28, 28)
    assert x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(y.argmax(1), labels)
    np.testing.assert_array_equal(child.load_data(samples=100)[0], x)  # seeded
