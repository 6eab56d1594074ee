"""Convolution, correlation and pooling, the book's way.

Part II of the book, "Algèbre – Convolution": chapters "Convolution : une dimension",
"Convolution" (two dimensions, image kernels, pooling) and "Convolution avec Python"
(modes, polynomials, radar, template matching).

Conventions (the book's, which are numpy's and scipy's):

* convolution flips the kernel ("on commence par renverser le motif"); correlation does not;
* an even-sized kernel gets a virtual zero *at its start* before flipping, so the output is
  ``full[(len(full) - len(out)) // 2 :]``; modes 'same' / 'full' / 'valid' give exactly
  ``numpy.convolve`` / ``numpy.correlate`` in 1-D and ``scipy.signal.convolve2d`` /
  ``scipy.signal.correlate2d`` (``boundary='fill'``) in 2-D;
* correlation of an even kernel in 'same' mode: ``numpy.correlate`` and ``scipy`` disagree by
  one sample; ``correlate`` follows numpy, ``correlate2d`` follows scipy (the kernel, padded with
  a zero at its start and not flipped, is centred: the book's rule);
* integer (and bool) inputs are computed exactly in int64 (uint8 images do not wrap around,
  unlike numpy), floats in their common dtype (at least float32); complex is refused.

Engines, measured on the development machine (2 threads, medians, ms):

* 1-D: numpy's own correlate loop (C, exact). The native conv2d kernel on a (1, 1, N, 1) input
  is 5-20x slower: N=10^5, M=100 float32: numpy 1.1, tap loop 2.1, native 35.
* 2-D: a loop over the kernel taps, each a vectorised multiply-add over the whole image; it is
  exact for integers and, for 3x3 kernels, bitwise equal to scipy for floats. The native
  ``conv2d_forward`` (float32/float64, im2col + GEMM built for many channels) is slower with a
  single channel except on small outputs, where the Python loop overhead dominates:
  1024² 3x3 float32: taps 3.2, native 16.6, scipy 20.5; 128² 3x3: taps 0.08, native 0.27;
  32² 3x3: taps 0.051, native 0.024. So the native kernel is used for float outputs of at most
  ``NATIVE_MAX_OUTPUT`` values (agreement with scipy ~1e-7 relative in float32), the tap loop
  otherwise. Whole call, 1024² image, 3x3 kernel, 'same': convolve2d 3.3 ms (float32) / 15 ms
  (float64, int64) against scipy.signal.convolve2d 22-24 ms.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .backend._native_import import kernels as _kernels

__all__ = ["MODES", "KERNELS", "KERNEL_ALIASES", "NATIVE_MAX_OUTPUT", "convolve", "correlate",
           "convolve2d", "correlate2d", "max_pooling", "average_pooling", "get_kernel",
           "apply_kernel", "to_uint8", "filter_image", "polynomial_product", "moving_average",
           "radar_signal", "find_delay", "find_pattern", "convolution", "correlation"]

MODES = ("same", "full", "valid")

#: Largest 2-D output (in values) computed by the native kernel rather than the tap loop.
NATIVE_MAX_OUTPUT = 2048

#: The kernels ("motifs") of chapter "Convolution", section 3 "Traitement des images".
KERNELS = {
    "box_blur": np.ones((3, 3)) / 9,                                      # 3.1 Flou
    "gaussian_blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16,    # 3.1 flou gaussien
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),           # 3.2 Piqué
    "vertical_lines": np.array([[-1, 2, -1], [-1, 2, -1], [-1, 2, -1]]),  # 3.3 Verticales
    "horizontal_lines": np.array([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]]),
    "diagonal_lines": np.array([[-1, -1, 2], [-1, 2, -1], [2, -1, -1]]),  # lignes à 45°
    "edges": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),         # 3.4 Bords
    "edges_laplacian": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "edges_diagonal": np.array([[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
    "emboss": np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),             # 3.5 Mise en relief
    "shift_down": np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]]),            # 2.2 Translation
    "shift_right": np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]]),
}
for _k in KERNELS.values():
    _k.flags.writeable = False

#: The book's French names for the kernels above.
KERNEL_ALIASES = {"flou": "box_blur", "flou_gaussien": "gaussian_blur", "pique": "sharpen",
                  "verticales": "vertical_lines", "horizontales": "horizontal_lines",
                  "diagonales": "diagonal_lines", "contour": "edges", "relief": "emboss"}


# ---------------------------------------------------------------------------- input checks

def _as_array(a, name, ndims, fn):
    """`a` as a non-empty real numeric array whose rank is in `ndims`."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{fn}: {name} must be real numbers (bool, integer or float), "
                        f"got dtype {arr.dtype}")
    if arr.ndim not in ndims:
        want = " or ".join(str(d) for d in ndims)
        raise ValueError(f"{fn}: {name} must have {want} dimension(s), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{fn}: {name} is empty (shape {arr.shape})")
    return arr


def _work_dtype(*arrays):
    """int64 for integer/bool inputs (exact), else their common float dtype (>= float32)."""
    if all(a.dtype.kind in "biu" for a in arrays):
        return np.dtype(np.int64)
    return np.result_type(*(a.dtype for a in arrays), np.float32)


def _prepare(x, kernel, ndim, fn):
    x = _as_array(x, "x", (ndim,), fn)
    k = _as_array(kernel, "kernel", (ndim,), fn)
    dt = _work_dtype(x, k)
    return x.astype(dt, copy=False), k.astype(dt, copy=False)


def _check_mode(mode, fn):
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"{fn}: mode must be one of {MODES}, got {mode!r}")


def _pair(v, name, fn):
    """An int or a pair of ints, each >= 1, as a pair."""
    vals = (v, v) if np.ndim(v) == 0 else tuple(v)
    if len(vals) != 2 or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                                 for i in vals):
        raise TypeError(f"{fn}: {name} must be an int or a pair of ints, got {v!r}")
    if min(vals) < 1:
        raise ValueError(f"{fn}: {name} must be >= 1, got {v!r}")
    return int(vals[0]), int(vals[1])


# ---------------------------------------------------------------------------- geometry

def _pads(n, m, mode, same_len, centre_up):
    """(before, after) zero padding of an axis of length n so that the valid correlation with a
    kernel of length m is the `mode` slice of the full one (length n + m - 1).

    'same' keeps `same_len` values starting at (full - same_len) // 2, or rounded up when
    `centre_up` (scipy's correlate2d); 'valid' keeps |n - m| + 1 values from min(n, m) - 1."""
    full = n + m - 1
    if mode == "full":
        length, start = full, 0
    elif mode == "valid":
        length, start = abs(n - m) + 1, min(n, m) - 1
    else:
        length, start = same_len, (full - same_len + centre_up) // 2
    return m - 1 - start, length - n + start


# ---------------------------------------------------------------------------- 1-D

def _correlate1d(x, k, mode, centre_up):
    before, after = _pads(len(x), len(k), mode, max(len(x), len(k)), centre_up)
    return np.correlate(np.pad(x, (before, after)), k, "valid")


def convolve(x, kernel, mode="same"):
    """1-D convolution x * kernel (chapter "Convolution : une dimension"), = numpy.convolve.

    The kernel is flipped; an even kernel gets a zero at its start. 'same': the book's
    truncated product (length max(len x, len kernel)), 'full': the extended product,
    'valid': no virtual zeros. Example: convolve([1, 0, 3, 5, 1], [1, 2, 3]) = [2, 6, 11, 20, 17].
    """
    fn = "convolve"
    _check_mode(mode, fn)
    x, k = _prepare(x, kernel, 1, fn)
    return _correlate1d(x, k[::-1], mode, False)


def correlate(x, kernel, mode="same"):
    """1-D correlation (section "Traitement du signal"): convolution without flipping the
    kernel, = numpy.correlate (real inputs). correlate([1, 0, 3, 5, 1], [1, 2, 3]) =
    [2, 10, 21, 16, 7]."""
    fn = "correlate"
    _check_mode(mode, fn)
    x, k = _prepare(x, kernel, 1, fn)
    return _correlate1d(x, k, mode, len(x) < len(k))


# ---------------------------------------------------------------------------- 2-D

def _taps(x, k, pads):
    """Valid correlation of x zero-padded by pads ((top, bottom), (left, right)) with k."""
    ho = x.shape[0] + sum(pads[0]) - k.shape[0] + 1
    wo = x.shape[1] + sum(pads[1]) - k.shape[1] + 1
    if _kernels is not None and x.dtype in (np.float32, np.float64) \
            and ho * wo <= NATIVE_MAX_OUTPUT:
        y = _kernels.conv2d_forward(np.ascontiguousarray(x)[None, :, :, None],
                                    np.ascontiguousarray(k)[:, :, None, None], None, (1, 1),
                                    pads[0] + pads[1], (1, 1), 0)
        return y[0, :, :, 0]
    xp = np.pad(x, pads)
    out = np.zeros((ho, wo), x.dtype)
    tmp = np.empty_like(out)
    for (a, b), w in np.ndenumerate(k):
        np.multiply(xp[a:a + ho, b:b + wo], w, out=tmp)
        out += tmp
    return out


def _correlate2d(x, k, mode, centre_up, fn):
    if mode == "valid" and not (all(np.greater_equal(x.shape, k.shape))
                                or all(np.less_equal(x.shape, k.shape))):
        raise ValueError(f"{fn}: mode 'valid' needs one of x {x.shape} and kernel {k.shape} "
                         f"at least as large as the other in every dimension")
    pads = tuple(_pads(n, m, mode, n, centre_up) for n, m in zip(x.shape, k.shape))
    return _taps(x, k, pads)


def convolve2d(x, kernel, mode="same"):
    """2-D convolution A * M (chapters "Convolution", "Convolution avec Python"), equal to
    scipy.signal.convolve2d(x, kernel, mode, boundary='fill').

    M is turned around (both axes flipped); even sizes get zeros on the top/left first.
    'same' (size of x), 'full' ("convolution étendue"), 'valid' ("convolution restreinte")."""
    fn = "convolve2d"
    _check_mode(mode, fn)
    x, k = _prepare(x, kernel, 2, fn)
    return _correlate2d(x, k[::-1, ::-1], mode, False, fn)


def correlate2d(x, kernel, mode="same"):
    """2-D correlation ("Corrélation en deux dimensions"): the kernel is not turned around;
    equal to scipy.signal.correlate2d(x, kernel, mode, boundary='fill')."""
    fn = "correlate2d"
    _check_mode(mode, fn)
    x, k = _prepare(x, kernel, 2, fn)
    return _correlate2d(x, k, mode, True, fn)


convolution = convolve
correlation = correlate


# ---------------------------------------------------------------------------- pooling

def _pool(a, size, stride, reduce, fn):
    a = _as_array(a, "a", (2, 3), fn)
    kh, kw = _pair(size, "size", fn)
    sh, sw = (kh, kw) if stride is None else _pair(stride, "stride", fn)
    if kh > a.shape[0] or kw > a.shape[1]:
        raise ValueError(f"{fn}: size {(kh, kw)} is larger than the matrix {a.shape[:2]}")
    windows = sliding_window_view(a, (kh, kw), axis=(0, 1))[::sh, ::sw]
    return reduce(windows, axis=(-2, -1))


def max_pooling(a, size=2, stride=None):
    """Max-pooling (chapter "Convolution", 1.2 Pooling): the maximum of each size x size block.

    a: matrix (n, p) or image (n, p, channels), pooled per channel; stride defaults to size
    (the book's blocks, output n//k x p//k, the remainder dropped); size/stride: int or pair."""
    return _pool(a, size, stride, np.max, "max_pooling")


def average_pooling(a, size=2, stride=None):
    """Average pooling ("pooling en moyenne"): the mean of each block; as max_pooling."""
    return _pool(a, size, stride, np.mean, "average_pooling")


# ---------------------------------------------------------------------------- images

def get_kernel(name):
    """A copy of the named kernel of KERNELS (English name or the book's French one)."""
    if not isinstance(name, str):
        raise TypeError(f"get_kernel: name must be a string, got {type(name).__name__}")
    key = KERNEL_ALIASES.get(name, name)
    if key not in KERNELS:
        raise ValueError(f"get_kernel: unknown kernel {name!r}; known: "
                         f"{sorted(KERNELS) + sorted(KERNEL_ALIASES)}")
    return KERNELS[key].copy()


def apply_kernel(image, kernel, mode="same"):
    """B = A * M for a grayscale (h, w) or a colour (h, w, c) image, channel by channel.

    kernel: a matrix or a name of KERNELS. The result is not clipped (see to_uint8)."""
    fn = "apply_kernel"
    image = _as_array(image, "image", (2, 3), fn)
    m = get_kernel(kernel) if isinstance(kernel, str) else kernel
    if image.ndim == 2:
        return convolve2d(image, m, mode)
    return np.stack([convolve2d(image[:, :, c], m, mode) for c in range(image.shape[2])],
                    axis=-1)


def to_uint8(b):
    """The book's "Partie E": clip to 0..255 then convert to uint8 (truncating, as astype)."""
    b = _as_array(b, "b", (2, 3), "to_uint8")
    return np.clip(b, 0, 255).astype(np.uint8)


_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def filter_image(src, dst, kernel, mode="same"):
    """Read an image, convolve it, clip to 0..255, save it as uint8 ("Traitement d'images").

    src, dst: paths (or file objects) Pillow can read/write; grayscale images stay grayscale,
    others are converted to RGB and convolved per channel. Returns the uint8 array written.
    Needs Pillow (imported here only)."""
    try:
        from PIL import Image
    except ImportError as e:  # pragma: no cover - Pillow is optional
        raise ImportError("filter_image needs Pillow: pip install pillow") from e
    with Image.open(src) as im:
        a = np.asarray(im.convert("L" if im.mode in _GRAY_MODES else "RGB"))
    b = to_uint8(apply_kernel(a, kernel, mode))
    Image.fromarray(b).save(dst)
    return b


# ---------------------------------------------------------------------------- applications

def polynomial_product(p, q):
    """Coefficients of P x Q from those of P and Q (highest degree first): [P] ~* [Q], the
    full convolution ("Convolution et polynômes")."""
    return convolve(p, q, "full")


def moving_average(f, n=3):
    """Moving average over n terms: f * [1/n, ..., 1/n] ("Moyenne mobile"), same length as f."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"moving_average: n must be an int >= 1, got {n!r}")
    return convolve(f, np.full(n, 1.0 / n), "same")


def radar_signal(n=1000, pulse_length=100, delay=350, noise=1.0, seed=0):
    """The book's radar example: (received, pulse). The pulse (a chirp, frequency rising from 0
    to 1/4 per sample) is copied at `delay` into Gaussian noise of standard deviation `noise`."""
    if not 1 <= pulse_length <= n or not 0 <= delay <= n - pulse_length:
        raise ValueError(f"radar_signal: need 1 <= pulse_length <= n and 0 <= delay <= "
                         f"n - pulse_length, got n={n}, pulse_length={pulse_length}, "
                         f"delay={delay}")
    t = np.arange(pulse_length)
    pulse = np.sin(np.pi / 4 * t ** 2 / pulse_length)
    received = noise * np.random.default_rng(seed).standard_normal(n)
    received[delay:delay + pulse_length] += pulse
    return received, pulse


def find_delay(received, pulse):
    """Index where the echo of `pulse` starts in `received`: the peak of their correlation
    (mode 'valid'). The book reads the peak of the 'same' correlation, at the echo's centre:
    start + len(pulse) // 2 (350 -> 400 in its figure)."""
    return int(np.argmax(correlate(received, pulse, "valid")))


def find_pattern(image, pattern):
    """(row, col) of the top-left corner where `pattern` best matches `image`: the peak of the
    2-D correlation ("Corrélation en deux dimensions") of both with their means removed, so
    that bright regions do not win by brightness alone."""
    fn = "find_pattern"
    image = _as_array(image, "image", (2,), fn).astype(np.float64)
    pattern = _as_array(pattern, "pattern", (2,), fn).astype(np.float64)
    if pattern.shape[0] > image.shape[0] or pattern.shape[1] > image.shape[1]:
        raise ValueError(f"{fn}: pattern {pattern.shape} is larger than image {image.shape}")
    h = correlate2d(image - image.mean(), pattern - pattern.mean(), "valid")
    row, col = np.unravel_index(np.argmax(h), h.shape)
    return int(row), int(col)
