"""image_dataset_from_directory over a temporary tree of small PNGs whose grey level tells which
file they came from: class order, labels per label_mode, batch shapes, Keras' shuffle-then-split
rule, determinism with a seed, lazy reading from disk, errors, and `fit` on the dataset."""
import os

import numpy as np
import pytest

import deepmath.image
from deepmath.preprocessing.dataset import ImageDataset, image_dataset_from_directory

PIL = pytest.importorskip("PIL")

SIZE = (4, 5)
COUNTS = {"cats": 3, "dogs": 4}


def _value(class_index, i):
    """Grey level of image i of a class: identifies the file within a batch."""
    return 10 + 100 * class_index + 10 * i


def _ids(x):
    """(class, i) of each image of a batch."""
    return [((int(v) - 10) // 100, ((int(v) - 10) % 100) // 10) for v in x[:, 0, 0, 0]]


@pytest.fixture
def tree(tmp_path):
    """train/cats/0..2.png (6x8), train/dogs/0..3 (9x5, dogs/3 a nested JPEG of another size),
    plus a text file that must be ignored."""
    root = tmp_path / "train"
    for c, (name, count) in enumerate(COUNTS.items()):
        for i in range(count):
            nested = (name, i) == ("dogs", 3)
            folder = root / name / ("more" if nested else "")
            folder.mkdir(parents=True, exist_ok=True)
            shape = (7, 7, 3) if nested else (6, 8, 3) if c == 0 else (9, 5, 3)
            ext = "jpg" if nested else "png"
            deepmath.image.save(folder / f"{i}.{ext}", np.full(shape, _value(c, i), np.uint8))
    (root / "cats" / "notes.txt").write_text("not an image")
    return root


ALL = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (1, 3)]


def _dataset(tree, **options):
    options = {"image_size": SIZE, "batch_size": 3, "shuffle": False, **options}
    return image_dataset_from_directory(tree, **options)


def test_classes_message_batches_and_int_labels(tree, capsys):
    ds = _dataset(tree)
    assert capsys.readouterr().out == "Found 7 files belonging to 2 classes.\n"
    assert isinstance(ds, ImageDataset) and len(ds) == 3
    assert ds.class_names == ["cats", "dogs"]
    assert [os.path.relpath(p, tree) for p in ds.file_paths] == [
        "cats/0.png", "cats/1.png", "cats/2.png", "dogs/0.png", "dogs/1.png", "dogs/2.png",
        os.path.join("dogs", "more", "3.jpg")]
    batches = [ds[i] for i in range(len(ds))]
    assert [x.shape for x, _ in batches] == [(3, 4, 5, 3), (3, 4, 5, 3), (1, 4, 5, 3)]
    x, y = batches[0]
    assert x.dtype == np.float32 and y.dtype == np.int32
    np.testing.assert_array_equal(x[0], np.full((4, 5, 3), 10.0))  # 0..255, not rescaled
    levels = np.concatenate([x[:, 0, 0, 0] for x, _ in batches])
    np.testing.assert_allclose(levels, [_value(c, i) for c, i in ALL], atol=3)  # last: JPEG
    np.testing.assert_array_equal(levels[:6], [_value(c, i) for c, i in ALL[:6]])
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), [0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(ds[-1][1], batches[-1][1])


@pytest.mark.parametrize("label_mode, expected", [
    ("categorical", [[1, 0]] * 3 + [[0, 1]] * 4),
    ("binary", [[0]] * 3 + [[1]] * 4),
])
def test_float_label_modes(tree, label_mode, expected):
    ds = _dataset(tree, label_mode=label_mode)
    labels = [y for _, y in ds]
    assert all(y.dtype == np.float32 for y in labels)
    np.testing.assert_array_equal(np.concatenate(labels), expected)


def test_no_labels(tree, capsys):
    for ds in (_dataset(tree, label_mode=None), _dataset(tree, labels=None)):
        batch = ds[0]
        assert isinstance(batch, np.ndarray) and batch.shape == (3, 4, 5, 3)
    assert capsys.readouterr().out.splitlines()[-1] == "Found 7 files."


def test_explicit_labels_follow_sorted_paths(tree):
    ds = _dataset(tree, labels=[2, 0, 2, 1, 1, 0, 2], label_mode="categorical", batch_size=7)
    assert ds.class_names == ["0", "1", "2"]
    x, y = ds[0]
    np.testing.assert_array_equal(y.argmax(1), [2, 0, 2, 1, 1, 0, 2])
    assert _ids(x)[:6] == ALL[:6]


def test_class_names_set_the_label_order(tree):
    ds = _dataset(tree, class_names=["dogs", "cats"], batch_size=7)
    x, y = ds[0]
    assert ds.class_names == ["dogs", "cats"]
    np.testing.assert_array_equal(y, [0, 0, 0, 0, 1, 1, 1])
    assert _ids(x)[4:] == ALL[:3]
    only = _dataset(tree, class_names=["dogs"], batch_size=7)
    assert len(only.file_paths) == 4 and (only[0][1] == 0).all()


@pytest.mark.parametrize("color_mode, channels", [("grayscale", 1), ("rgba", 4)])
def test_color_modes(tree, color_mode, channels):
    x, _ = _dataset(tree, color_mode=color_mode)[0]
    assert x.shape == (3, 4, 5, channels)
    np.testing.assert_array_equal(x[:, :, :, 0], np.full((3, 4, 5), [[[10]], [[20]], [[30]]]))
    if channels == 4:
        assert (x[:, :, :, 3] == 255).all()


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_images_are_resized_as_deepmath_image_resize(tmp_path, interpolation):
    pixels = np.random.default_rng(1).integers(0, 256, (6, 9, 3), dtype=np.uint8)
    (tmp_path / "only").mkdir()
    deepmath.image.save(tmp_path / "only" / "a.png", pixels)
    x, _ = _dataset(tmp_path, image_size=(4, 13), interpolation=interpolation)[0]
    expected = deepmath.image.resize(pixels.astype(np.float32), (4, 13), interpolation)
    np.testing.assert_allclose(x[0], expected, rtol=1e-6)


def test_shuffle_follows_keras_rule_and_repeats_with_seed(tree):
    plain = _dataset(tree).file_paths
    ds = _dataset(tree, shuffle=True, seed=7)
    order = np.random.RandomState(7).permutation(7)
    assert ds.file_paths == [plain[i] for i in order]
    assert _dataset(tree, shuffle=True, seed=8).file_paths != ds.file_paths
    again = _dataset(tree, shuffle=True, seed=7)
    passes = []
    for _ in range(4):
        passes.append([_ids(x) + y.tolist() for x, y in ds])
        assert [_ids(x) + y.tolist() for x, y in again] == passes[-1]  # same seed, same batches
    assert len({str(p) for p in passes}) > 1  # reshuffled between passes


def test_hidden_folders_are_not_classes(tree, capsys):
    (tree / ".ipynb_checkpoints").mkdir()
    deepmath.image.save(tree / ".ipynb_checkpoints" / "x.png", np.zeros((2, 2), np.uint8))
    assert _dataset(tree).class_names == ["cats", "dogs"]
    assert capsys.readouterr().out == "Found 7 files belonging to 2 classes.\n"


def test_every_pass_reads_every_file_once(tree):
    ds = _dataset(tree, shuffle=True, seed=3, batch_size=2)
    for _ in range(3):
        labels = np.concatenate([y for _, y in ds])
        np.testing.assert_array_equal(np.sort(labels), [0, 0, 0, 1, 1, 1, 1])


def test_validation_split(tree, capsys):
    train = _dataset(tree, validation_split=0.3, subset="training", shuffle=True, seed=5)
    val = _dataset(tree, validation_split=0.3, subset="validation", shuffle=True, seed=5)
    out = capsys.readouterr().out.splitlines()
    assert "Using 5 files for training." in out and "Using 2 files for validation." in out
    shuffled = _dataset(tree, shuffle=True, seed=5).file_paths
    assert train.file_paths == shuffled[:5] and val.file_paths == shuffled[5:]
    both = _dataset(tree, validation_split=0.3, subset="both", shuffle=True, seed=5)
    assert [d.file_paths for d in both] == [train.file_paths, val.file_paths]
    unshuffled = _dataset(tree, validation_split=0.3, subset="validation")
    assert [os.path.basename(p) for p in unshuffled.file_paths] == ["2.png", "3.jpg"]


def test_images_are_read_lazily(tree, monkeypatch):
    reads = []
    load = deepmath.image.load
    monkeypatch.setattr(deepmath.image, "load", lambda path, *a, **k: (
        reads.append(os.path.basename(path)), load(path, *a, **k))[1])
    ds = _dataset(tree)
    assert reads == []  # building the dataset opens no image
    ds[1]
    assert reads == ["0.png", "1.png", "2.png"]  # only batch 1's three files


def test_a_file_deleted_after_creation_fails_only_its_batch(tree):
    ds = _dataset(tree)
    os.remove(tree / "dogs" / "1.png")
    ds[0], ds[2]
    with pytest.raises(FileNotFoundError, match="1.png"):
        ds[1]


def test_fit_trains_on_the_dataset(tree):
    from deepmath.keras.layers import Dense, Flatten, Input
    from deepmath.keras.models import Sequential
    ds = _dataset(tree, label_mode="binary", shuffle=True, seed=0, batch_size=2)
    model = Sequential([Input(shape=SIZE + (3,)), Flatten(), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="adam")
    history = model.fit(ds, epochs=1, verbose=0)
    assert len(history.history["loss"]) == 1 and np.isfinite(history.history["loss"][0])
    assert model.predict(ds[0][0], verbose=0).shape == (2, 1)


# ---- errors -----------------------------------------------------------------------------------
def test_folders_without_images(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="No images found"):
        image_dataset_from_directory(tmp_path)
    with pytest.raises(ValueError, match="No images found"):
        image_dataset_from_directory(tmp_path / "cats")  # no sub-folder at all
    with pytest.raises(FileNotFoundError, match="missing"):
        image_dataset_from_directory(tmp_path / "missing")


@pytest.mark.parametrize("options, words", [
    ({"label_mode": "sparse"}, "label_mode"),
    ({"color_mode": "cmyk"}, "color_mode"),
    ({"interpolation": "bicubic"}, "interpolation"),
    ({"subset": "train", "validation_split": 0.2}, "subset"),
    ({"subset": "training"}, "validation_split"),
    ({"validation_split": 0.2}, "subset"),
    ({"validation_split": 1.5, "subset": "training"}, "between 0 and 1"),
    ({"validation_split": 0.2, "subset": "training", "shuffle": True}, "seed"),
    ({"validation_split": 0.01, "subset": "training"}, "no training or no validation"),
    ({"labels": "folders"}, "labels"),
    ({"labels": [0, 1]}, "7 image files"),
    ({"labels": [0.5] * 7}, "integers"),
    ({"labels": None, "class_names": ["a"]}, "class_names"),
    ({"class_names": ["cats", "birds"]}, "class_names"),
    ({"labels": [0, 1, 2, 0, 1, 2, 0], "label_mode": "binary"}, "exactly 2"),
    ({"labels": [0, 5, 0, 5, 0, 5, 0], "label_mode": "categorical"}, "0..1"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"image_size": (0, 4)}, "image_size"),
    ({"image_size": 64}, "image_size"),
])
def test_bad_options(tree, options, words):
    with pytest.raises(ValueError, match=words):
        _dataset(tree, **options)


def test_bad_batch_index(tree):
    ds = _dataset(tree)
    with pytest.raises(IndexError, match="3 batches"):
        ds[3]
    with pytest.raises(TypeError, match="integer"):
        ds["0"]
