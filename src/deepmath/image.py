"""Image files as NumPy arrays, in the spirit of the book's chapter "Convolution avec Python",
§2 "Traitement d'images", which reads a grayscale picture as a matrix of integers 0..255, filters
it and writes it back:

    A = deepmath.image.load('image_avant.png')          # imageio.imread in the book
    B = signal.convolve2d(A, M, boundary='fill', mode='same')
    deepmath.image.save('image_apres.png', deepmath.image.to_uint8(B))   # clip, round

Arrays are (height, width) for grayscale, (height, width, channels) otherwise (channels-last, as
everywhere in deepmath). Files are decoded by Pillow, or by imageio when Pillow is absent
(`pip install deepmath[image]` installs Pillow); neither is needed by `resize`, `to_float`,
`to_uint8`.
"""
import os

import numpy as np

from .saving.io import atomic_path

MODES = (None, "L", "RGB", "RGBA")
METHODS = ("bilinear", "nearest")
LOAD_DTYPES = ("uint8", "float32", "float64")
# File formats written by `save`, chosen by the name's extension.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".tif": "TIFF",
           ".tiff": "TIFF"}
_CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_INSTALL_HINT = "reading and writing image files needs Pillow or imageio: " \
                "pip install deepmath[image]"


# ---- conversions ------------------------------------------------------------------------------
def to_float(array, dtype="float32"):
    """Pixels as floats in [0, 1]: integers 0..255 are divided by 255; floats are only cast."""
    array = np.asarray(array)
    _check_numeric(array, "array")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"to_float: dtype must be a float type, got {dtype}")
    if array.dtype.kind == "f":
        return array.astype(dtype, copy=False)
    return (array / 255.0).astype(dtype)


def to_uint8(array, scale=1.0):
    """`array * scale` clipped to 0..255, rounded to the nearest integer, as uint8 (the book's
    `np.clip(B, 0, 255).astype(np.uint8)`, rounding rather than truncating). Floats in [0, 1]
    need `scale=255`."""
    array = np.asarray(array)
    _check_numeric(array, "array")
    values = array * scale if scale != 1 else array
    if array.dtype.kind == "f" and np.isnan(values).any():
        raise ValueError("to_uint8: the array holds NaN values")
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _check_numeric(array, what):
    if array.dtype.kind not in "buif":
        raise TypeError(f"{what} must hold numbers, got an array of dtype {array.dtype}")


# ---- resizing ---------------------------------------------------------------------------------
def resize(array, size, method="bilinear"):
    """The image (height, width) or (height, width, channels) resized to `size` = (height,
    width). Pixel centres are aligned as in `tf.image.resize` (no antialiasing): output pixel i
    samples the input at (i + 0.5) * in/out - 0.5. 'nearest' copies pixels (any dtype);
    'bilinear' interpolates, keeping float dtypes and rounding integer images back to their
    dtype (an interpolation never leaves the range of its inputs)."""
    array = np.asarray(array)
    _check_numeric(array, "array")
    if array.ndim not in (2, 3) or 0 in array.shape[:2]:
        raise ValueError(f"resize: array must be an image (height, width) or (height, width, "
                         f"channels), got shape {array.shape}")
    if method not in METHODS:
        raise ValueError(f"resize: method must be one of {METHODS}, got {method!r}")
    height, width = _size(size, "size")
    if method == "nearest":
        return array[_nearest(array.shape[0], height)][:, _nearest(array.shape[1], width)]
    work = array if array.dtype.kind == "f" else array.astype(np.float32)
    out = _linear(_linear(work, height, axis=0), width, axis=1)
    return out if array.dtype.kind == "f" else np.rint(out).astype(array.dtype)


def _size(size, what):
    """(height, width) as two positive ints."""
    try:
        height, width = (int(s) for s in size)
        ok = height == tuple(size)[0] and width == tuple(size)[1] and height > 0 and width > 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{what} must be (height, width), two positive integers, got {size!r}")
    return height, width


def _source(n_in, n_out):
    """Input coordinate sampled by each output pixel (half-pixel centres)."""
    return (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5


def _nearest(n_in, n_out):
    return np.minimum(np.floor(_source(n_in, n_out) + 0.5).astype(np.intp), n_in - 1)


def _linear(array, n_out, axis):
    """Linear interpolation of `array` along `axis` to `n_out` samples."""
    n_in = array.shape[axis]
    src = np.clip(_source(n_in, n_out), 0, n_in - 1)
    low = np.floor(src).astype(np.intp)
    high = np.minimum(low + 1, n_in - 1)
    shape = [1] * array.ndim
    shape[axis] = n_out
    frac = (src - low).astype(array.dtype).reshape(shape)
    a, b = np.take(array, low, axis=axis), np.take(array, high, axis=axis)
    return a + (b - a) * frac


# ---- files ------------------------------------------------------------------------------------
def load(path, mode=None, dtype="uint8"):
    """The image file at `path` as an array: (height, width) in mode 'L' (grayscale),
    (height, width, 3) in 'RGB', (height, width, 4) in 'RGBA'; `mode=None` keeps the file's
    own (palette images become RGB/RGBA). dtype 'uint8' gives 0..255, 'float32'/'float64'
    values in [0, 1]."""
    if mode not in MODES:
        raise ValueError(f"load: mode must be one of {MODES}, got {mode!r}")
    if str(dtype) not in LOAD_DTYPES:
        raise ValueError(f"load: dtype must be one of {LOAD_DTYPES}, got {dtype!r}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no image file {path!r}")
    pixels = _backend().read(path, mode)
    return pixels if str(dtype) == "uint8" else to_float(pixels, dtype)


def save(path, array, quality=None):
    """Write `array` (uint8 0..255, or floats in [0, 1]) to `path`: (height, width) or
    (height, width, 1) grayscale, (height, width, 3) RGB, (height, width, 4) RGBA; the format
    comes from the extension (.png, .jpg/.jpeg, .bmp, .tif). JPEG is lossy: `quality` 1..95.
    The file is written under a temporary name in the same folder, then renamed: it appears
    complete or not at all."""
    path = os.fspath(path)
    file_format = FORMATS.get(os.path.splitext(path)[1].lower())
    if file_format is None:
        raise ValueError(f"save: cannot tell the image format of {path!r}: the name must end "
                         f"with one of {', '.join(FORMATS)}")
    pixels = _as_pixels(np.asarray(array))
    if file_format == "JPEG" and pixels.ndim == 3 and pixels.shape[2] == 4:
        raise ValueError(f"save: JPEG has no alpha channel; cannot write an RGBA image to "
                         f"{path!r} (drop the 4th channel or save as .png)")
    options = {} if quality is None or file_format != "JPEG" else {"quality": int(quality)}
    backend = _backend()
    with atomic_path(path) as tmp:
        backend.write(tmp, pixels, file_format, options)


def _as_pixels(array):
    """uint8 (height, width) or (height, width, 3|4) from what `save` accepts."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) \
            or 0 in array.shape:
        raise ValueError(f"save: array must be (height, width), (height, width, 1), "
                         f"(height, width, 3) or (height, width, 4), got shape {array.shape}")
    if array.dtype == np.uint8:
        return array
    if array.dtype.kind != "f":
        raise TypeError(f"save: array must be uint8 (0..255) or float (0..1), got dtype "
                        f"{array.dtype}; convert it with to_uint8")
    if not np.isfinite(array).all():
        raise ValueError("save: a float image must hold values in [0, 1], got NaN or inf")
    if array.min() < 0 or array.max() > 1:
        raise ValueError("save: a float image must hold values in [0, 1], got range "
                         f"[{array.min()}, {array.max()}]; use to_uint8 for 0..255")
    return to_uint8(array, 255)


# ---- decoders: Pillow, else imageio -----------------------------------------------------------
def _backend():
    try:
        from PIL import Image
        return _PillowBackend(Image)
    except ImportError:
        pass
    try:
        import imageio.v3 as iio
        return _ImageioBackend(iio)
    except ImportError:
        raise ImportError(_INSTALL_HINT) from None


class _PillowBackend:
    def __init__(self, Image):
        self.Image = Image

    def read(self, path, mode):
        try:
            with self.Image.open(path) as img:
                img.load()
                return np.asarray(img.convert(mode or _native_mode(img)))
        except (OSError, SyntaxError, ValueError) as err:
            raise ValueError(f"load: cannot read {path!r} as an image: {err}") from None

    def write(self, path, pixels, file_format, options):
        self.Image.fromarray(pixels).save(path, format=file_format, **options)


def _native_mode(img):
    """'L', 'RGB' or 'RGBA': the closest of the three to the file's own mode."""
    if img.mode in ("L", "RGB", "RGBA"):
        return img.mode
    if img.mode in ("1", "I", "I;16", "F"):
        return "L"
    return "RGBA" if "A" in img.mode or "transparency" in img.info else "RGB"


class _ImageioBackend:
    def __init__(self, iio):
        self.iio = iio

    def read(self, path, mode):
        try:
            pixels = np.asarray(self.iio.imread(path))
        except Exception as err:  # imageio's plugins raise many kinds of errors
            raise ValueError(f"load: cannot read {path!r} as an image: {err}") from None
        if pixels.dtype != np.uint8:
            top = np.iinfo(pixels.dtype).max if pixels.dtype.kind in "ui" else 1.0
            pixels = to_uint8(pixels, 255 / top)  # 16-bit or float images to 8 bits
        return _convert(pixels, mode)

    def write(self, path, pixels, file_format, options):
        self.iio.imwrite(path, pixels, extension="." + file_format.lower(), **options)


def _convert(pixels, mode):
    """uint8 pixels (height, width[, 1|2|3|4]) in `mode` as Pillow's `convert` makes them
    (ITU-R 601-2 luma for 'L'); `mode=None`: L, RGB or RGBA, whichever loses nothing."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    channels = pixels.shape[2]
    gray, alpha = channels in (1, 2), channels in (2, 4)
    mode = mode or ("L" if channels == 1 else "RGBA" if alpha else "RGB")
    if mode == "L":
        if gray:
            return pixels[:, :, 0]
        rgb = pixels[:, :, :3].astype(np.uint32)
        return ((rgb @ np.array([19595, 38470, 7471], np.uint32) + 0x8000) >> 16) \
            .astype(np.uint8)
    rgb = np.repeat(pixels[:, :, :1], 3, axis=2) if gray else pixels[:, :, :3]
    if mode == "RGB":
        return rgb
    opaque = np.full(rgb.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([rgb, pixels[:, :, -1:] if alpha else opaque], axis=2)


# The names of imageio, which the book's program uses (`imageio.imread`, `imageio.imwrite`).
imread = load
imwrite = save

__all__ = ["load", "save", "resize", "to_float", "to_uint8", "imread", "imwrite"]
