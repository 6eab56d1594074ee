"""deepmath.image: image files as arrays (load/save round trips, modes, atomic writes, the
imageio fallback), resize against hand computations and scipy, to_float / to_uint8."""
import os
import sys
import types

import numpy as np
import pytest
from scipy import ndimage, signal

from deepmath import image

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

RNG = np.random.default_rng(0)


def _random(shape):
    return RNG.integers(0, 256, size=shape, dtype=np.uint8)


# ---- files ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4)])
def test_png_round_trip_is_exact(tmp_path, shape):
    pixels = _random(shape)
    image.save(tmp_path / "a.png", pixels)
    back = image.load(tmp_path / "a.png")
    assert back.dtype == np.uint8 and back.shape == shape
    np.testing.assert_array_equal(back, pixels)
    assert os.listdir(tmp_path) == ["a.png"]  # no temporary file left behind


def test_png_written_is_read_by_pillow_as_written(tmp_path):
    pixels = _random((4, 6, 3))
    image.save(tmp_path / "a.png", pixels)
    with Image.open(tmp_path / "a.png") as img:
        assert img.format == "PNG" and img.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(img), pixels)


def test_single_channel_saves_as_grayscale(tmp_path):
    pixels = _random((3, 4, 1))
    image.save(tmp_path / "g.png", pixels)
    with Image.open(tmp_path / "g.png") as img:
        assert img.mode == "L"
    np.testing.assert_array_equal(image.load(tmp_path / "g.png"), pixels[:, :, 0])


def test_float_images_are_saved_on_0_255_and_loaded_back_in_0_1(tmp_path):
    x = np.array([[0.0, 0.5, 1.0], [0.25, 0.2, 0.999]])
    image.save(tmp_path / "f.png", x)
    np.testing.assert_array_equal(image.load(tmp_path / "f.png"),
                                  [[0, 128, 255], [64, 51, 255]])  # rint(255 x)
    back = image.load(tmp_path / "f.png", dtype="float32")
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, np.rint(255 * x) / 255, rtol=0, atol=1e-7)
    assert image.load(tmp_path / "f.png", dtype="float64").dtype == np.float64


@pytest.mark.parametrize("name", ["p.jpg", "p.JPEG"])
def test_jpeg_round_trip_is_close(tmp_path, name):
    yy, xx = np.mgrid[0:32, 0:48]
    pixels = np.stack([4 * yy, 5 * xx, 2 * (xx + yy)], axis=2).astype(np.uint8)  # smooth
    image.save(tmp_path / name, pixels, quality=95)
    with Image.open(tmp_path / name) as img:
        assert img.format == "JPEG"
    back = image.load(tmp_path / name)
    assert back.shape == pixels.shape
    error = np.abs(back.astype(int) - pixels)
    assert error.mean() < 2 and error.max() < 16


def test_modes_convert_as_pillow(tmp_path):
    rgb = _random((4, 5, 3))
    Image.fromarray(rgb).save(tmp_path / "c.png")
    gray = image.load(tmp_path / "c.png", mode="L")
    luma = (rgb.astype(np.uint32) @ np.array([19595, 38470, 7471]) + 0x8000) >> 16
    np.testing.assert_array_equal(gray, luma)  # ITU-R 601-2, as Pillow
    rgba = image.load(tmp_path / "c.png", mode="RGBA")
    np.testing.assert_array_equal(rgba[:, :, :3], rgb)
    assert (rgba[:, :, 3] == 255).all()
    Image.fromarray(gray.astype(np.uint8)).save(tmp_path / "g.png")
    np.testing.assert_array_equal(image.load(tmp_path / "g.png", mode="RGB"),
                                  np.repeat(gray[:, :, None], 3, axis=2))


def test_palette_image_loads_as_rgb(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 1] = [200, 10, 30]
    Image.fromarray(rgb).quantize(colors=2).save(tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as img:
        assert img.mode == "P"
    back = image.load(tmp_path / "p.png")
    assert back.shape == (2, 3, 3)
    np.testing.assert_array_equal(back, rgb)


def test_book_embossing_program(tmp_path):
    """Book, "Convolution avec Python" §2 (lines 7137-7167): imread, convolve2d with the
    embossing motif, clip to 0..255, convert to integers, imwrite."""
    A = _random((9, 11))
    image.imwrite(tmp_path / "image_avant.png", A)
    A = image.imread(tmp_path / "image_avant.png")
    M = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    B = signal.convolve2d(A, M, boundary="fill", mode="same")
    image.imwrite(tmp_path / "image_apres.png", image.to_uint8(B))
    np.testing.assert_array_equal(image.imread(tmp_path / "image_apres.png"),
                                  np.clip(B, 0, 255).astype(np.uint8))


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    old = _random((3, 3))
    image.save(tmp_path / "a.png", old)

    def broken_save(self, *args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        image.save(tmp_path / "a.png", _random((3, 3)))
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["a.png"]
    np.testing.assert_array_equal(image.load(tmp_path / "a.png"), old)


# ---- errors -----------------------------------------------------------------------------------
def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.png"):
        image.load(tmp_path / "nothere.png")
    with pytest.raises(FileNotFoundError):
        image.load(tmp_path)  # a folder is not an image file


def test_unreadable_file_names_the_path(tmp_path):
    (tmp_path / "fake.png").write_text("not an image")
    with pytest.raises(ValueError, match="fake.png"):
        image.load(tmp_path / "fake.png")


@pytest.mark.parametrize("array, error, words", [
    (np.zeros((4, 4, 2), np.uint8), ValueError, "shape"),
    (np.zeros((4,), np.uint8), ValueError, "shape"),
    (np.zeros((0, 4), np.uint8), ValueError, "shape"),
    (np.zeros((4, 4), np.int32), TypeError, "dtype"),
    (np.full((4, 4), 1.5), ValueError, r"\[0, 1\]"),
    (np.full((4, 4), np.nan), ValueError, r"\[0, 1\]"),
    (np.array([["a"]]), TypeError, "dtype"),
])
def test_save_rejects_bad_arrays(tmp_path, array, error, words):
    with pytest.raises(error, match=words):
        image.save(tmp_path / "x.png", array)
    assert os.listdir(tmp_path) == []


def test_save_rejects_unknown_format_and_alpha_in_jpeg(tmp_path):
    with pytest.raises(ValueError, match="x.gifx"):
        image.save(tmp_path / "x.gifx", _random((2, 2)))
    with pytest.raises(ValueError, match="alpha"):
        image.save(tmp_path / "x.jpg", _random((2, 2, 4)))


def test_load_rejects_bad_options(tmp_path):
    image.save(tmp_path / "a.png", _random((2, 2)))
    with pytest.raises(ValueError, match="mode"):
        image.load(tmp_path / "a.png", mode="CMYK")
    with pytest.raises(ValueError, match="dtype"):
        image.load(tmp_path / "a.png", dtype="int16")


# ---- without Pillow ---------------------------------------------------------------------------
def _fake_imageio(monkeypatch, pixels, written):
    v3 = types.ModuleType("imageio.v3")
    v3.imread = lambda path: pixels
    v3.imwrite = lambda path, array, extension: (
        written.append((array, extension)), open(path, "wb").close())
    package = types.ModuleType("imageio")
    package.v3 = v3
    monkeypatch.setitem(sys.modules, "PIL", None)  # `from PIL import Image` now fails
    monkeypatch.setitem(sys.modules, "imageio", package)
    monkeypatch.setitem(sys.modules, "imageio.v3", v3)


def test_imageio_is_used_when_pillow_is_absent(tmp_path, monkeypatch):
    rgb16 = RNG.integers(0, 65536, size=(3, 4, 3)).astype(np.uint16)
    written = []
    _fake_imageio(monkeypatch, rgb16, written)
    (tmp_path / "a.png").write_bytes(b"")
    rgb8 = np.clip(np.rint(rgb16 * (255 / 65535)), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(image.load(tmp_path / "a.png"), rgb8)
    luma = (rgb8.astype(np.uint32) @ np.array([19595, 38470, 7471]) + 0x8000) >> 16
    np.testing.assert_array_equal(image.load(tmp_path / "a.png", mode="L"), luma)
    rgba = image.load(tmp_path / "a.png", mode="RGBA")
    assert rgba.shape == (3, 4, 4) and (rgba[:, :, 3] == 255).all()
    image.save(tmp_path / "b.jpg", rgb8)
    np.testing.assert_array_equal(written[0][0], rgb8)
    assert written[0][1] == ".jpeg" and sorted(os.listdir(tmp_path)) == ["a.png", "b.jpg"]


def test_imageio_gray_alpha_keeps_its_alpha(tmp_path, monkeypatch):
    la = np.dstack([_random((2, 3)), _random((2, 3))])
    _fake_imageio(monkeypatch, la, [])
    (tmp_path / "a.png").write_bytes(b"")
    rgba = image.load(tmp_path / "a.png")
    np.testing.assert_array_equal(rgba, np.dstack([la[:, :, 0]] * 3 + [la[:, :, 1]]))
    np.testing.assert_array_equal(image.load(tmp_path / "a.png", mode="L"), la[:, :, 0])


def test_without_pillow_nor_imageio_the_error_says_what_to_install(tmp_path, monkeypatch):
    for name in ("PIL", "imageio", "imageio.v3"):
        monkeypatch.setitem(sys.modules, name, None)
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(ImportError, match=r"pip install deepmath\[image\]"):
        image.load(tmp_path / "a.png")
    with pytest.raises(ImportError, match=r"pip install deepmath\[image\]"):
        image.save(tmp_path / "b.png", _random((2, 2)))
    np.testing.assert_array_equal(image.resize(np.eye(2), (2, 2)), np.eye(2))  # no file: fine


# ---- resize -----------------------------------------------------------------------------------
X = np.array([[0.0, 10.0], [20.0, 30.0]])


def test_bilinear_upsampling_by_hand():
    # output pixel i samples input (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to
    # [0, 1]: weights 0, 1/4, 3/4, 1 of the second row/column
    expected = [[0, 2.5, 7.5, 10], [5, 7.5, 12.5, 15], [15, 17.5, 22.5, 25],
                [20, 22.5, 27.5, 30]]
    np.testing.assert_allclose(image.resize(X, (4, 4)), expected)
    assert image.resize(X.astype(np.float32), (4, 4)).dtype == np.float32


def test_bilinear_downsampling_averages_pairs():
    x = np.arange(16.0).reshape(4, 4)
    # samples at 0.5 and 2.5: the mean of each 2x2 block
    np.testing.assert_allclose(image.resize(x, (2, 2)), [[2.5, 4.5], [10.5, 12.5]])


def test_nearest_by_hand():
    np.testing.assert_array_equal(image.resize(X, (4, 4), method="nearest"),
                                  [[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30],
                                   [20, 20, 30, 30]])
    x = np.arange(16).reshape(4, 4)
    np.testing.assert_array_equal(image.resize(x, (2, 2), "nearest"), [[5, 7], [13, 15]])


@pytest.mark.parametrize("size", [(3, 11), (9, 2), (7, 5)])
def test_bilinear_matches_scipy_half_pixel_zoom(size):
    x = RNG.random((7, 5, 3))
    zoom = (size[0] / 7, size[1] / 5, 1)
    expected = ndimage.zoom(x, zoom, order=1, mode="nearest", grid_mode=True)
    np.testing.assert_allclose(image.resize(x, size), expected, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.uint16])
def test_integer_images_keep_their_dtype_rounded(dtype):
    x = np.array([[0, 255], [255, 0]], dtype) * (3 if dtype == np.uint16 else 1)
    out = image.resize(x, (4, 4))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.rint(image.resize(x.astype(float), (4, 4))))


def test_resize_rejects_bad_input():
    with pytest.raises(ValueError, match="size"):
        image.resize(X, (0, 3))
    with pytest.raises(ValueError, match="size"):
        image.resize(X, (2.5, 3))
    with pytest.raises(ValueError, match="size"):
        image.resize(X, 4)
    with pytest.raises(ValueError, match="method"):
        image.resize(X, (2, 2), method="bicubic")
    with pytest.raises(ValueError, match="shape"):
        image.resize(np.zeros(4), (2, 2))


# ---- conversions ------------------------------------------------------------------------------
def test_to_uint8_clips_and_rounds():
    np.testing.assert_array_equal(image.to_uint8([-3.0, 0.4, 0.6, 254.4, 254.6, 300, 1e9]),
                                  [0, 0, 1, 254, 255, 255, 255])
    np.testing.assert_array_equal(image.to_uint8([0.0, 0.5, 1.0], scale=255), [0, 128, 255])
    with pytest.raises(ValueError, match="NaN"):
        image.to_uint8([np.nan])
    with pytest.raises(TypeError, match="numbers"):
        image.to_uint8(["a"])


def test_to_float():
    x = np.array([0, 51, 255], np.uint8)
    out = image.to_float(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0, 0.2, 1])
    assert image.to_float(x, "float64").dtype == np.float64
    y = np.array([0.1, 0.7])
    np.testing.assert_array_equal(image.to_float(y), y.astype(np.float32))  # floats kept
    with pytest.raises(ValueError, match="dtype"):
        image.to_float(x, "int32")


def test_to_float_and_to_uint8_invert_each_other():
    x = _random((8, 8, 3))
    np.testing.assert_array_equal(image.to_uint8(image.to_float(x), scale=255), x)
