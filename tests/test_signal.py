"""deepmath.signal: the book's numbers (line numbers of deepmath-book.txt), numpy/scipy agreement,
both 2-D engines, pooling, image kernels and pipeline, radar and template matching, errors."""
import numpy as np
import pytest
from scipy import signal as ss

from deepmath import signal as sig

RNG = np.random.default_rng(20261125)

# Book, "Convolution avec Python" 1.1 (line 7040) and 1.2 (line 7074)
A = np.array([[2, 1, 3, 0], [1, 1, 0, 5], [3, 3, 1, 0], [2, 0, 0, 2]])
M = np.array([[1, 0, 2], [2, 1, 0], [1, 0, 3]])
B1 = [[5, 9, 10, 0], [7, 17, 19, 16], [10, 12, 11, 0], [5, 10, 13, 5]]
B2 = [[2, 1, 7, 2, 6, 0], [5, 5, 9, 10, 0, 10], [7, 7, 17, 19, 16, 0],
      [9, 10, 12, 11, 0, 19], [7, 5, 10, 13, 5, 0], [2, 0, 6, 2, 0, 6]]
B3 = [[17, 19], [12, 11]]
# Book, "Convolution avec Python" 1.4 (lines 7103, 7119)
P = np.array([[16, 23, 22, 21, 12, 13], [0, 5, 18, 2, 17, 15],
              [10, 20, 4, 9, 7, 8], [11, 14, 1, 19, 6, 3]])


def _eq(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.array_equal(a, b)


@pytest.fixture(params=["native", "taps"])
def engine(request, monkeypatch):
    """Run a 2-D test on each engine: the native kernel (small float outputs) or the tap loop."""
    if request.param == "native":
        if sig._kernels is None:
            pytest.skip("deepmath._kernels not built")
        monkeypatch.setattr(sig, "NATIVE_MAX_OUTPUT", 10 ** 9)
    else:
        monkeypatch.setattr(sig, "NATIVE_MAX_OUTPUT", -1)
    return request.param


# ---------------------------------------------------------------------------- book, 1-D

def test_book_1d_convolution():
    assert _eq(sig.convolve([1, 0, 3, 5, 1], [1, 2, 3]), [2, 6, 11, 20, 17])        # l. 6363
    assert _eq(sig.convolve([-1, 5, 7, 3, 2], [4, 5]), [-4, 15, 53, 47, 23])        # l. 6375
    assert _eq(sig.convolve([-1, 5, 7, 3, 2], [0, 4, 5]), [-4, 15, 53, 47, 23])     # l. 6369
    assert _eq(sig.convolve([1, 0, 3, 5, 1], [1, 2, 3], "full"),
               [1, 2, 6, 11, 20, 17, 3])                                            # l. 7203
    assert _eq(sig.convolution([1, 0, 3, 5, 1], [1, 2, 3]), [2, 6, 11, 20, 17])     # l. 7192


def test_book_correlation_and_polynomial():
    assert _eq(sig.correlate([1, 0, 3, 5, 1], [1, 2, 3]), [2, 10, 21, 16, 7])       # l. 7304
    assert _eq(sig.correlation([1, 0, 3, 5, 1], [1, 2, 3]), [2, 10, 21, 16, 7])
    assert _eq(sig.polynomial_product([1, 2, 3, 4], [5, 6, 7]),
               [5, 16, 34, 52, 45, 28])                                             # l. 7258
    assert _eq(sig.polynomial_product([1, 2, 3, 4], [5, 6, 7]),
               np.polymul([1, 2, 3, 4], [5, 6, 7]))


def test_book_1d_operations():
    f = np.array([1.0, 4.0, -2.0, 7.0, 3.0])
    assert np.allclose(sig.moving_average(f, 3), np.convolve(f, np.ones(3) / 3, "same"))
    assert _eq(sig.convolve([1, 2, 3, 4], [0, 0, 1]), [0, 1, 2, 3])   # translation, l. 6417
    assert _eq(sig.convolve([1, 2, 3, 4], [3]), [3, 6, 9, 12])        # homothety, l. 6411
    assert _eq(sig.convolve([1, 4, 9, 16], [1, -1]), [1, 3, 5, 7])    # f(n) - f(n-1), l. 6425


# ---------------------------------------------------------------------------- book, 2-D

def test_book_2d_modes(engine):
    for dt in (np.int64, np.float64, np.float32):
        a, m = A.astype(dt), M.astype(dt)
        assert np.array_equal(sig.convolve2d(a, m), B1)                   # mode 'same'
        assert np.array_equal(sig.convolve2d(a, m, "full"), B2)
        assert np.array_equal(sig.convolve2d(a, m, "valid"), B3)


def test_book_2d_examples():
    a = np.array([[2, -1, 7, 3, 0], [2, 0, 0, -2, 1], [-5, 0, -1, -1, 4]])
    m = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    assert _eq(sig.convolve2d(a, m), [[1, -6, 7, 10, 2], [9, 7, 10, 7, 1],
                                      [-3, 0, 0, -8, 0]])                  # l. 6665
    x = np.arange(1, 17).reshape(4, 4)
    down = np.vstack([np.zeros((1, 4), int), x[:3]])                       # l. 6677
    assert _eq(sig.convolve2d(x, sig.get_kernel("shift_down")), down)
    right = np.hstack([np.zeros((4, 1), int), x[:, :3]])                   # l. 6682
    assert _eq(sig.convolve2d(x, sig.get_kernel("shift_right")), right)
    mean = sig.convolve2d(np.arange(1, 26).reshape(5, 5), sig.get_kernel("flou"))
    book = [[1.77, 3, 3.66, 4.33, 3.11], [4.33, 7, 8, 9, 6.33], [7.66, 12, 13, 14, 9.66],
            [11, 17, 18, 19, 13], [8.44, 13, 13.66, 14.33, 9.77]]          # l. 6686, truncated
    assert np.allclose(np.floor(mean * 100 + 1e-9) / 100, book)


def test_book_even_kernel_2d():
    # l. 6643: an even kernel gets zeros on the top/left, then is turned around
    x = RNG.integers(-9, 10, (5, 6))
    k = np.array([[1, 2], [3, 4]])
    k3 = np.zeros((3, 3), int)
    k3[1:, 1:] = k
    assert _eq(sig.convolve2d(x, k), sig.convolve2d(x, k3))


def test_book_pooling():
    assert _eq(sig.max_pooling(P, 2), [[23, 22, 17], [20, 19, 8]])                   # l. 7103
    assert np.allclose(sig.average_pooling(P, 2), [[11, 15.75, 14.25],
                                                   [13.75, 8.25, 6]])                # l. 7119


def test_associativity_of_full_convolution():
    # l. 7078: (A ~* M) ~* N = A ~* (M ~* N)
    n = RNG.integers(-5, 6, (2, 3))
    lhs = sig.convolve2d(sig.convolve2d(A, M, "full"), n, "full")
    assert _eq(lhs, sig.convolve2d(A, sig.convolve2d(M, n, "full"), "full"))


# ---------------------------------------------------------------------------- numpy / scipy

def test_1d_matches_numpy_exactly():
    for _ in range(300):
        n, m = RNG.integers(1, 13, 2)
        x, k = RNG.integers(-50, 51, n), RNG.integers(-50, 51, m)
        for mode in sig.MODES:
            assert _eq(sig.convolve(x, k, mode), np.convolve(x, k, mode)), (n, m, mode)
            assert _eq(sig.correlate(x, k, mode), np.correlate(x, k, mode)), (n, m, mode)


def test_1d_floats_match_numpy():
    x, k = RNG.standard_normal(500), RNG.standard_normal(40)
    for mode in sig.MODES:
        assert np.allclose(sig.convolve(x, k, mode), np.convolve(x, k, mode), atol=1e-12)
        y = sig.correlate(x.astype(np.float32), k.astype(np.float32), mode)
        assert y.dtype == np.float32
        assert np.allclose(y, np.correlate(x, k, mode), rtol=1e-4, atol=1e-4)


def test_2d_matches_scipy_exactly(engine):
    for _ in range(120):
        h, w, kh, kw = RNG.integers(1, 8, 4)
        x, k = RNG.integers(-50, 51, (h, w)), RNG.integers(-50, 51, (kh, kw))
        for mode in sig.MODES:
            for ours, ref in ((sig.convolve2d, ss.convolve2d), (sig.correlate2d, ss.correlate2d)):
                try:
                    expected = ref(x, k, mode)
                except ValueError:       # 'valid' with neither input larger in every dimension
                    with pytest.raises(ValueError, match="valid"):
                        ours(x, k, mode)
                    continue
                assert _eq(ours(x, k, mode), expected), (ours.__name__, mode, x.shape, k.shape)
                got = ours(x.astype(np.float32), k.astype(np.float32), mode)
                assert got.dtype == np.float32
                assert np.allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_2d_large_floats_match_scipy():
    x, k = RNG.standard_normal((97, 130)), RNG.standard_normal((6, 5))
    for mode in sig.MODES:
        assert np.allclose(sig.convolve2d(x, k, mode), ss.convolve2d(x, k, mode), atol=1e-12)
        assert np.allclose(sig.correlate2d(x, k, mode), ss.correlate2d(x, k, mode), atol=1e-12)
    x3 = RNG.standard_normal((200, 200)).astype(np.float32)
    k3 = RNG.standard_normal((3, 3)).astype(np.float32)
    assert np.array_equal(sig.correlate2d(x3, k3), ss.correlate2d(x3, k3, "same"))  # bitwise


def test_commutativity_and_correlation_as_flipped_convolution():
    x, k = RNG.integers(-9, 10, (6, 7)), RNG.integers(-9, 10, (3, 4))
    assert _eq(sig.convolve2d(x, k, "full"), sig.convolve2d(k, x, "full"))
    assert _eq(sig.correlate2d(x, k, "full"), sig.convolve2d(x, k[::-1, ::-1], "full"))


def test_dtypes():
    img = np.full((4, 4), 255, np.uint8)
    out = sig.convolve2d(img, np.ones((3, 3), np.uint8))
    assert out.dtype == np.int64 and out[1, 1] == 9 * 255      # no uint8 wrap-around
    assert _eq(sig.convolve([True, False, True], [True, True]), [1, 1, 1])
    assert sig.convolve2d(img, sig.get_kernel("box_blur")).dtype == np.float64
    assert sig.convolve(np.ones(3, np.float16), np.ones(2, np.float16)).dtype == np.float32


# ---------------------------------------------------------------------------- pooling

def _naive_pool(a, k, s, reduce):
    ho, wo = (a.shape[0] - k) // s + 1, (a.shape[1] - k) // s + 1
    return np.array([[reduce(a[i * s:i * s + k, j * s:j * s + k], axis=(0, 1))
                      for j in range(wo)] for i in range(ho)])


def test_pooling_strides_and_channels():
    a = RNG.integers(0, 256, (9, 11, 3))
    for k, s in ((2, 2), (3, 1), (3, 2), (4, 4)):
        assert _eq(sig.max_pooling(a, k, s), _naive_pool(a, k, s, np.max))
        assert np.allclose(sig.average_pooling(a, k, s), _naive_pool(a, k, s, np.mean))
    assert sig.max_pooling(a[:, :, 0], (3, 2)).shape == (3, 5)
    assert sig.max_pooling(P, 4).shape == (1, 1)                      # remainder dropped


# ---------------------------------------------------------------------------- images

def test_named_kernels_are_the_book_ones():
    assert np.allclose(sig.get_kernel("flou") * 9, np.ones((3, 3)))          # l. 6822
    assert np.allclose(sig.get_kernel("flou_gaussien") * 16, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    assert _eq(sig.get_kernel("pique"), [[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    assert _eq(sig.get_kernel("verticales"), [[-1, 2, -1]] * 3)
    assert _eq(sig.get_kernel("horizontales"), [[-1] * 3, [2] * 3, [-1] * 3])
    assert _eq(sig.get_kernel("diagonales"), [[-1, -1, 2], [-1, 2, -1], [2, -1, -1]])
    assert _eq(sig.get_kernel("contour"), [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    assert _eq(sig.get_kernel("relief"), [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
    k = sig.get_kernel("emboss")
    k[0, 0] = 99                                                          # a copy
    assert sig.KERNELS["emboss"][0, 0] == -2
    for name, kern in sig.KERNELS.items():
        assert kern.shape == (3, 3), name
    # blur and sharpen keep a constant image (inside), edge kernels send it to zero
    flat = np.full((5, 5), 7.0)
    for name in ("box_blur", "gaussian_blur", "sharpen"):
        assert np.allclose(sig.apply_kernel(flat, name, "valid"), 7.0)
    for name in ("vertical_lines", "horizontal_lines", "diagonal_lines", "edges",
                 "edges_laplacian", "edges_diagonal"):
        assert np.allclose(sig.apply_kernel(flat, name, "valid"), 0.0)


def test_apply_kernel_per_channel():
    rgb = RNG.integers(0, 256, (8, 9, 3))
    out = sig.apply_kernel(rgb, "emboss")
    for c in range(3):
        assert _eq(out[:, :, c], ss.convolve2d(rgb[:, :, c], sig.KERNELS["emboss"], "same"))
    assert _eq(sig.to_uint8(np.array([[-5, 0, 300], [12.7, 255, 256]])), [[0, 0, 255],
                                                                          [12, 255, 255]])


def test_filter_image_pipeline(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    gray = RNG.integers(0, 256, (12, 10)).astype(np.uint8)
    rgb = RNG.integers(0, 256, (12, 10, 3)).astype(np.uint8)
    m = sig.KERNELS["emboss"]
    for arr in (gray, rgb):
        src, dst = tmp_path / "in.png", tmp_path / "out.png"
        Image.fromarray(arr).save(src)
        written = sig.filter_image(src, dst, "relief")
        chans = [arr] if arr.ndim == 2 else [arr[:, :, c] for c in range(3)]
        ref = np.stack([ss.convolve2d(ch.astype(int), m, "same", boundary="fill")
                        for ch in chans], axis=-1).squeeze()
        expected = np.clip(ref, 0, 255).astype(np.uint8)    # the book's "Partie E"
        assert _eq(written, expected)
        with Image.open(dst) as im:
            assert _eq(np.asarray(im), expected)


# ---------------------------------------------------------------------------- applications

def test_radar_finds_the_echo():
    f, g = sig.radar_signal(n=1000, pulse_length=100, delay=350, noise=1.0, seed=3)
    assert sig.find_delay(f, g) == 350
    assert int(np.argmax(sig.correlate(f, g, "same"))) == 400      # the book's peak, l. 7310
    f, g = sig.radar_signal(n=600, pulse_length=50, delay=123, noise=0.5, seed=4)
    assert sig.find_delay(f, g) == 123


def test_template_matching_finds_the_pattern():
    image = RNG.integers(0, 256, (120, 150)).astype(float)
    yy, xx = np.mgrid[:20, :20]
    smiley = np.where((yy - 9.5) ** 2 + (xx - 9.5) ** 2 < 81, 255.0, 0.0)   # a disc ...
    smiley[5:8, 5:8] = smiley[5:8, 12:15] = smiley[13:15, 5:15] = 0.0       # ... with a face
    image[37:57, 71:91] = smiley
    assert sig.find_pattern(image, smiley) == (37, 71)
    noisy = image + RNG.normal(0, 40, image.shape)
    assert sig.find_pattern(noisy, smiley) == (37, 71)


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, exc, match", [
    (lambda: sig.convolve([[1, 2]], [1]), ValueError, "x must have 1 dimension"),
    (lambda: sig.convolve2d([1, 2, 3], [[1]]), ValueError, "x must have 2 dimension"),
    (lambda: sig.correlate2d([[1, 2]], [1, 2]), ValueError, "kernel must have 2"),
    (lambda: sig.convolve([1, 2], []), ValueError, "kernel is empty"),
    (lambda: sig.convolve2d(np.zeros((0, 3)), [[1]]), ValueError, "x is empty"),
    (lambda: sig.convolve([1, 2], [1], mode="circular"), ValueError, "mode must be one of"),
    (lambda: sig.correlate2d([[1]], [[1]], mode=None), ValueError, "mode must be one of"),
    (lambda: sig.convolve([1j, 2], [1]), TypeError, "x must be real numbers"),
    (lambda: sig.convolve(["a", "b"], [1]), TypeError, "x must be real numbers"),
    (lambda: sig.convolve2d(np.ones((3, 5)), np.ones((4, 2)), "valid"), ValueError, "valid"),
    (lambda: sig.max_pooling(P, 5), ValueError, "size"),
    (lambda: sig.max_pooling(P, 0), ValueError, "size must be >= 1"),
    (lambda: sig.average_pooling(P, 2.5), TypeError, "size must be an int"),
    (lambda: sig.average_pooling(P, 2, (1, 2, 3)), TypeError, "stride"),
    (lambda: sig.max_pooling([1, 2, 3], 1), ValueError, "a must have 2 or 3"),
    (lambda: sig.get_kernel("blur"), ValueError, "unknown kernel"),
    (lambda: sig.get_kernel(3), TypeError, "name must be a string"),
    (lambda: sig.apply_kernel(np.ones((2, 2, 2, 2)), "flou"), ValueError, "image must have"),
    (lambda: sig.moving_average([1, 2], 0), ValueError, "n must be an int"),
    (lambda: sig.radar_signal(n=10, pulse_length=20), ValueError, "pulse_length"),
    (lambda: sig.find_pattern(np.ones((3, 3)), np.ones((4, 2))), ValueError, "larger"),
])
def test_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
