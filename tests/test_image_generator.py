"""Image files and ImageDataGenerator (flow, flow_from_directory) over a temporary tree of
small PNGs whose pixel values tell which file they came from."""
import io
import os
import sys

import numpy as np
import pytest

from deepmath.preprocessing.image import (ImageDataGenerator, array_to_img, img_to_array,
                                          load_img, save_img)

PIL = pytest.importorskip("PIL")

H, W = 6, 8
CLASSES = {"cats": 3, "dogs": 4}


def _value(class_index, i):
    """The grey level of image i of a class: identifies the file in a batch."""
    return 10 + 100 * class_index + 10 * i


@pytest.fixture
def tree(tmp_path):
    """train/cats/0..2.png, train/dogs/0..3.png (dogs/3 in a nested folder), and a text file
    that must be ignored."""
    root = tmp_path / "train"
    for c, (name, count) in enumerate(CLASSES.items()):
        for i in range(count):
            folder = root / name / ("more" if (name, i) == ("dogs", 3) else "")
            folder.mkdir(parents=True, exist_ok=True)
            save_img(folder / f"{i}.png", np.full((H, W, 3), _value(c, i), np.uint8),
                     scale=False)
    (root / "cats" / "notes.txt").write_text("not an image")
    return root


def _ids(x):
    """(class, i) of each image of a batch of rescaled (1/255) images."""
    levels = np.rint(x[:, 0, 0, 0] * 255).astype(int)
    return [((v - 10) // 100, ((v - 10) % 100) // 10) for v in levels]


def test_counts_message_and_keras_attributes(tree, capsys):
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        tree, target_size=(H, W), batch_size=3, shuffle=False)
    assert capsys.readouterr().out == "Found 7 images belonging to 2 classes.\n"
    assert it.class_indices == {"cats": 0, "dogs": 1}
    np.testing.assert_array_equal(it.classes, [0, 0, 0, 1, 1, 1, 1])
    assert it.filenames == [os.path.join("cats", f"{i}.png") for i in range(3)] + \
        [os.path.join("dogs", f"{i}.png") for i in range(3)] + \
        [os.path.join("dogs", "more", "3.png")]
    assert it.filepaths[0] == os.path.join(str(tree), "cats", "0.png")
    assert it.samples == it.n == 7 and it.num_classes == 2 and it.batch_size == 3
    assert len(it) == 3
    shapes = [it[i][0].shape for i in range(len(it))]
    assert shapes == [(3, H, W, 3), (3, H, W, 3), (1, H, W, 3)]


def test_unshuffled_batches_follow_the_files_and_are_rescaled(tree):
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        tree, target_size=(H, W), batch_size=4, shuffle=False)
    x, y = it[0]
    assert x.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_allclose(x[0], np.full((H, W, 3), _value(0, 0) / 255, np.float32))
    assert _ids(x) == [(0, 0), (0, 1), (0, 2), (1, 0)]
    np.testing.assert_array_equal(y, np.eye(2)[[0, 0, 0, 1]])


@pytest.mark.parametrize("mode", ["categorical", "binary", "sparse", "input", None])
def test_labels_per_class_mode(tree, mode):
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        tree, target_size=(H, W), batch_size=7, class_mode=mode, seed=3)
    batch = it[0]
    if mode is None:
        assert isinstance(batch, np.ndarray) and batch.shape == (7, H, W, 3)
        return
    x, y = batch
    truth = np.array([c for c, _ in _ids(x)])
    if mode == "categorical":
        np.testing.assert_array_equal(y, np.eye(2)[truth])
    elif mode == "input":
        np.testing.assert_array_equal(y, x)
        assert y is not x
    else:
        assert y.shape == (7,)
        np.testing.assert_array_equal(y, truth)


def test_epochs_are_shuffled_reproducibly_with_a_seed(tree):
    def orders(seed, epochs=3):
        it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
            tree, target_size=(H, W), batch_size=3, seed=seed)
        out = []
        for _ in range(epochs):
            out.append(sum((_ids(next(it)[0]) for _ in range(len(it))), []))
        return out

    first, again, other = orders(5), orders(5), orders(6)
    assert first == again
    assert first != other
    everything = sorted((c, i) for c, n in enumerate(CLASSES.values()) for i in range(n))
    for epoch in first:
        assert sorted(epoch) == everything          # each image once per epoch
    assert len({tuple(e) for e in first}) > 1      # reshuffled between epochs


def test_getitem_matches_next_and_on_epoch_end_reshuffles(tree):
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        tree, target_size=(H, W), batch_size=2, seed=0)
    by_index = [_ids(it[i][0]) for i in range(len(it))]
    assert [_ids(next(it)[0]) for _ in range(len(it))] == by_index
    orders = {tuple(sum(by_index, []))}
    for _ in range(5):
        it.on_epoch_end()
        orders.add(tuple(sum((_ids(it[i][0]) for i in range(len(it))), [])))
    assert len(orders) > 1
    with pytest.raises(IndexError, match="4 batches"):
        it[4]


def test_resizing_and_color_modes(tree):
    gen = ImageDataGenerator()
    grey = gen.flow_from_directory(tree, target_size=(3, 5), color_mode="grayscale",
                                   batch_size=2, shuffle=False)
    x, _ = grey[0]
    assert x.shape == (2, 3, 5, 1)
    np.testing.assert_array_equal(x[0], np.full((3, 5, 1), _value(0, 0)))
    rgba = gen.flow_from_directory(tree, target_size=(H, W), color_mode="rgba", batch_size=1)
    x, _ = rgba[0]
    assert x.shape == (1, H, W, 4)
    np.testing.assert_array_equal(x[0, :, :, 3], 255)


def test_validation_split_keeps_the_first_fraction_of_each_class(tree):
    gen = ImageDataGenerator(rescale=1 / 255, validation_split=0.34)
    val = gen.flow_from_directory(tree, target_size=(H, W), subset="validation", shuffle=False)
    train = gen.flow_from_directory(tree, target_size=(H, W), subset="training", shuffle=False)
    assert val.filenames == [os.path.join("cats", "0.png"), os.path.join("dogs", "0.png")]
    assert val.samples == 2 and train.samples == 5
    assert set(val.filenames).isdisjoint(train.filenames)
    np.testing.assert_array_equal(train.classes, [0, 0, 1, 1, 1])


def test_horizontal_flip_flips_some_images_only(tmp_path):
    folder = tmp_path / "d" / "only"
    folder.mkdir(parents=True)
    ramp = np.tile(np.arange(W, dtype=np.uint8) * 30, (H, 1))[:, :, None].repeat(3, axis=2)
    for i in range(12):
        save_img(folder / f"{i:02d}.png", ramp, scale=False)
    it = ImageDataGenerator(horizontal_flip=True).flow_from_directory(
        tmp_path / "d", target_size=(H, W), batch_size=12, seed=1)
    x, _ = it[0]
    flipped = [np.array_equal(img, ramp[:, ::-1]) for img in x]
    kept = [np.array_equal(img, ramp) for img in x]
    assert all(f or k for f, k in zip(flipped, kept))
    assert any(flipped) and any(kept)


def test_directory_errors(tmp_path, tree):
    gen = ImageDataGenerator()
    with pytest.raises(FileNotFoundError, match="no folder"):
        gen.flow_from_directory(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no sub-folder"):
        gen.flow_from_directory(empty)
    (empty / "cats").mkdir()
    (empty / "cats" / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no image"):
        gen.flow_from_directory(empty)
    with pytest.raises(FileNotFoundError, match="'birds'"):
        gen.flow_from_directory(tree, classes=["cats", "birds"])
    (tree / "birds").mkdir()
    with pytest.raises(ValueError, match="exactly 2 classes"):
        gen.flow_from_directory(tree, class_mode="binary")
    with pytest.raises(ValueError, match="class_mode"):
        gen.flow_from_directory(tree, class_mode="multi")
    with pytest.raises(ValueError, match="validation_split"):
        gen.flow_from_directory(tree, subset="validation")
    with pytest.raises(ValueError, match="batch_size"):
        gen.flow_from_directory(tree, batch_size=0)


def test_generator_options_are_checked():
    with pytest.raises(NotImplementedError, match="rotation_range"):
        ImageDataGenerator(rotation_range=20)
    with pytest.raises(TypeError, match="unknown option 'rescal'"):
        ImageDataGenerator(rescal=1 / 255)
    with pytest.raises(ValueError, match="validation_split"):
        ImageDataGenerator(validation_split=1.5)
    ImageDataGenerator(rotation_range=0, zoom_range=0.0, interpolation_order=1)  # defaults


def test_classes_argument_sets_the_order(tree):
    it = ImageDataGenerator().flow_from_directory(tree, target_size=(H, W),
                                                  classes=["dogs", "cats"], shuffle=False)
    assert it.class_indices == {"dogs": 0, "cats": 1}
    np.testing.assert_array_equal(it.classes, [0, 0, 0, 0, 1, 1, 1])


# ---- flow on arrays -----------------------------------------------------------------------------
def test_flow_batches_arrays_with_labels_and_weights():
    x = np.arange(10, dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 3, 1))
    y = np.arange(10) * 2
    w = np.arange(10) / 10
    it = ImageDataGenerator(rescale=0.5).flow(x, y, batch_size=4, sample_weight=w, seed=0)
    assert len(it) == 3
    seen = []
    for i in range(len(it)):
        bx, by, bw = it[i]
        assert bx.shape[1:] == (2, 3, 1) and bx.dtype == np.float32
        ids = np.rint(bx[:, 0, 0, 0] * 2).astype(int)
        np.testing.assert_array_equal(by, ids * 2)
        np.testing.assert_allclose(bw, ids / 10)
        seen += ids.tolist()
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    only_x = ImageDataGenerator().flow(x, batch_size=10, shuffle=False)[0]
    np.testing.assert_array_equal(only_x, x)


def test_flow_subset_and_errors():
    x = np.zeros((10, 2, 2, 1))
    gen = ImageDataGenerator(validation_split=0.2)
    assert gen.flow(x, subset="validation").n == 2 and gen.flow(x, subset="training").n == 8
    with pytest.raises(ValueError, match="rank 4"):
        gen.flow(np.zeros((10, 2, 2)))
    with pytest.raises(ValueError, match="y has 9"):
        gen.flow(x, np.zeros(9))


# ---- single images ------------------------------------------------------------------------------
def test_save_and_load_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3)).astype(np.uint8)
    save_img(tmp_path / "a.png", rgb, scale=False)
    assert os.listdir(tmp_path) == ["a.png"]                 # no temporary file left
    img = load_img(tmp_path / "a.png")
    assert img.size == (7, 5) and img.mode == "RGB"
    np.testing.assert_array_equal(img_to_array(img), rgb)
    grey = rng.integers(0, 256, (4, 4, 1)).astype(np.uint8)
    save_img(str(tmp_path / "g.png"), grey, scale=False)
    back = img_to_array(load_img(tmp_path / "g.png", color_mode="grayscale"))
    assert back.shape == (4, 4, 1) and back.dtype == np.float32
    np.testing.assert_array_equal(back, grey)
    np.testing.assert_array_equal(img_to_array(load_img(tmp_path / "g.png")),
                                  np.repeat(grey, 3, axis=2))


def test_load_img_resizes_to_height_width(tmp_path):
    save_img(tmp_path / "a.png", np.zeros((10, 20, 3)), scale=False)
    img = load_img(tmp_path / "a.png", target_size=(4, 6), interpolation="bilinear")
    assert img_to_array(img).shape == (4, 6, 3)
    with pytest.raises(ValueError, match="interpolation"):
        load_img(tmp_path / "a.png", target_size=(4, 6), interpolation="cubic")
    with pytest.raises(ValueError, match="color_mode"):
        load_img(tmp_path / "a.png", color_mode="cmyk")


def test_array_to_img_scales_min_to_0_and_max_to_255():
    x = np.array([[[-1.0], [0.0]], [[1.0], [3.0]]])
    img = array_to_img(x)
    assert img.mode == "L"
    np.testing.assert_array_equal(np.asarray(img), [[0, 63], [127, 255]])
    np.testing.assert_array_equal(np.asarray(array_to_img(np.full((2, 2, 3), 7.0), scale=False)),
                                  np.full((2, 2, 3), 7))
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        array_to_img(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="rank 3"):
        array_to_img(np.zeros((2, 2)))


def test_save_img_formats_and_file_objects(tmp_path):
    save_img(tmp_path / "a.jpg", np.zeros((4, 4, 4)) + 100, scale=False)   # RGBA → RGB jpeg
    assert img_to_array(load_img(tmp_path / "a.jpg")).shape == (4, 4, 3)
    buffer = io.BytesIO()
    save_img(buffer, np.zeros((2, 2, 3)), file_format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="image format"):
        save_img(tmp_path / "noextension", np.zeros((2, 2, 3)))


def test_load_img_errors_name_the_file(tmp_path):
    (tmp_path / "fake.png").write_text("not a png")
    with pytest.raises(ValueError, match="fake.png"):
        load_img(tmp_path / "fake.png")
    with pytest.raises(FileNotFoundError):
        load_img(tmp_path / "missing.png")


def test_missing_pillow_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        array_to_img(np.zeros((2, 2, 3)))
    with pytest.raises(ImportError, match="pip install pillow"):
        ImageDataGenerator().flow_from_directory(tmp_path)


# ---- with a model -------------------------------------------------------------------------------
def test_fit_reads_the_directory_iterator(tree):
    models = pytest.importorskip("deepmath.models", exc_type=ImportError)
    from deepmath import layers
    if not hasattr(layers, "Flatten"):
        pytest.skip("deepmath.layers.Flatten is not written yet")
    it = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        tree, target_size=(H, W), batch_size=3, class_mode="binary", seed=0)
    model = models.Sequential([layers.Input(shape=(H, W, 3)), layers.Flatten(),
                               layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["accuracy"])
    history = model.fit(it, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.all(np.isfinite(history.history["loss"]))
