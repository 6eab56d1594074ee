"""GEMM kernels (src/_kernels/dm_gemm.c, gemm.pxi) against NumPy, and the dense op's gradients."""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import deepmath as dm
from deepmath.backend import gemm as G
from deepmath.ops.dense import dense

from gradcheck import check_grad

K = pytest.importorskip("deepmath._kernels")

ACTS = [None, "relu", "sigmoid", "tanh", "gelu", "gelu_tanh"]
DTYPES = [np.float32, np.float64]
# odd sizes around the tile (12x32, 6x16, 6x8, portable 4x8) and block (KC=256, MC=144/72) sizes
SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 9), (6, 16, 1), (7, 17, 5), (13, 33, 257), (37, 5, 300),
          (64, 64, 64), (97, 130, 64), (145, 40, 513), (150, 300, 260), (200, 1, 700),
          (1, 300, 280)]


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def close(got, want, dtype, k=1):
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    scale = np.sqrt(max(k, 1))
    np.testing.assert_allclose(got, want, rtol=rtol * scale, atol=rtol * scale * 4)


@pytest.fixture(autouse=True)
def _threads():
    n = dm.get_num_threads()
    yield
    dm.set_num_threads(n)


def check_transposes(a, b, dtype):
    """gemm of a (m, k) and b (k, n), given as is or transposed (flag or view), vs float64."""
    want = a.astype(np.float64) @ b.astype(np.float64)
    for ta in (False, True):
        for tb in (False, True):
            A = np.ascontiguousarray(a.T) if ta else a
            B = np.ascontiguousarray(b.T) if tb else b
            got = K.gemm(A, B, transa=ta, transb=tb)
            assert got.dtype == dtype and got.shape == want.shape
            close(got, want, dtype, a.shape[1])
    # transposed views are read in place (no flag needed)
    got = K.gemm(np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T)
    close(got, want, dtype, a.shape[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_gemm_shapes_and_transposes(m, n, k, dtype):
    rng = np.random.default_rng(m * 1000 + n * 10 + k)
    check_transposes(rand(rng, (m, k), dtype), rand(rng, (k, n), dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_exhaustive_small_shapes(dtype):
    """Every m, n up to 20 with small k and all transposes: the small path's kernel choices
    (packed or in-place A and B) must agree. Regression: a transposed A with lda = 6 was taken
    for a packed panel while B was read in place (m=6, n=17, k=2 gave wrong numbers)."""
    rng = np.random.default_rng(5)
    for k in (1, 2, 3, 5, 8, 17):
        for m in range(1, 21):
            for n in range(1, 21):
                check_transposes(rand(rng, (m, k), dtype), rand(rng, (k, n), dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_row_strides_alpha_beta(dtype):
    rng = np.random.default_rng(1)
    m, n, k = 29, 41, 35
    big_a, big_b = rand(rng, (m, k + 7), dtype), rand(rng, (k, n + 3), dtype)
    a, b = big_a[:, 2:k + 2], big_b[:, :n]           # lda > k, ldb > n, read in place
    big_c = rand(rng, (m, n + 5), dtype)
    c = big_c[:, 1:n + 1]
    c0 = c.copy()
    want = 0.5 * (a.astype(np.float64) @ b) - 2.0 * c0
    out = K.gemm(a, b, alpha=0.5, beta=-2.0, c=c)
    assert out is c
    close(c, want, dtype, k)
    assert np.array_equal(big_c[:, 0], big_c[:, 0])  # untouched border
    # beta = 0 ignores c's old values, even NaN
    c[...] = np.nan
    K.gemm(a, b, c=c)
    close(c, a.astype(np.float64) @ b, dtype, k)
    # non-unit column stride: copied
    close(K.gemm(big_a[:, ::2], big_b[: (k + 8) // 2]),
          big_a[:, ::2].astype(np.float64) @ big_b[: (k + 8) // 2], dtype, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (7, 17, 5), (64, 48, 300), (150, 70, 90)])
def test_gemm_bias_activation_epilogue(m, n, k, act, dtype):
    rng = np.random.default_rng(3)
    a, b, bias = rand(rng, (m, k), dtype), rand(rng, (k, n), dtype), rand(rng, (n,), dtype)
    got = K.gemm(a, b, bias=bias, act=act)
    z = a.astype(np.float64) @ b + bias
    want = G.activation_reference(z, act)
    close(got, want, dtype, k)
    # alpha/beta with the epilogue: act(alpha*ab + beta*c + bias)
    c = rand(rng, (m, n), dtype)
    want = G.activation_reference(2 * (a.astype(np.float64) @ b) + 0.5 * c + bias, act)
    close(K.gemm(a, b, alpha=2.0, beta=0.5, c=c.copy(), bias=bias, act=act), want, dtype, k)


def test_gemm_k_zero_and_empty():
    a, b = np.ones((3, 0), np.float32), np.ones((0, 4), np.float32)
    assert np.array_equal(K.gemm(a, b), np.zeros((3, 4), np.float32))
    bias = np.array([-1, 0, 1, 2], np.float32)
    assert np.array_equal(K.gemm(a, b, bias=bias, act="relu"), np.tile([0, 0, 1, 2], (3, 1)))
    assert K.gemm(np.ones((0, 5)), np.ones((5, 4))).shape == (0, 4)
    assert K.matmul(np.ones((0, 5)), np.ones((5, 4))).shape == (0, 4)
    assert np.array_equal(K.matmul(np.ones((2, 0), np.float32), np.ones((0, 3), np.float32)),
                          np.zeros((2, 3), np.float32))
    assert K.matmul(np.ones((0, 2, 3)), np.ones((3, 4))).shape == (0, 2, 4)


def test_gemm_errors():
    f = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        K.gemm(f, f)
    with pytest.raises(TypeError, match="int64"):
        K.gemm(np.ones((3, 4), np.int64), f.T)
    with pytest.raises(TypeError, match="complex"):
        K.gemm(np.ones((3, 4), complex), f.T)
    with pytest.raises(TypeError):
        K.gemm(f, np.ones((4, 3)))  # float32 with float64
    with pytest.raises(ValueError, match="2-D"):
        K.gemm(np.ones(4, np.float32), f)
    with pytest.raises(ValueError, match="activation"):
        K.gemm(f, f.T, act="swish")
    with pytest.raises(ValueError, match="bias"):
        K.gemm(f, f.T, bias=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="c has shape"):
        K.gemm(f, f.T, c=np.ones((3, 4), np.float32))
    with pytest.raises(ValueError):
        K.gemm(f, f.T, c=np.ones((3, 3), np.float32)[:, ::-1])


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)),
                                   ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)),
                                   ((2, 1, 4, 3), (1, 5, 3, 2)), ((7, 2, 3), (7, 3, 6)),
                                   ((4, 1, 6, 6), (3, 6, 17)), ((3,), (2, 3, 4)),
                                   ((2, 2, 3), (3,)), ((200, 3, 5), (200, 5, 4))])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_like_numpy(sa, sb, dtype):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    a, b = rand(rng, sa, dtype), rand(rng, sb, dtype)
    got, want = K.matmul(a, b), np.matmul(a, b)
    assert got.shape == want.shape and got.dtype == want.dtype
    close(got, want, dtype, a.shape[-1])


def test_matmul_views_promotion_and_errors():
    rng = np.random.default_rng(5)
    a = rand(rng, (6, 40, 30), np.float32)
    b = rand(rng, (6, 50, 40), np.float32)
    for x, y in [(a[:, ::-1], b.swapaxes(1, 2)[:, :30, :20]), (a[::2, :, 1:], b[::2, 1:30]),
                 (a.swapaxes(1, 2), np.asfortranarray(b[0].T))]:
        close(K.matmul(x, y), np.matmul(x, y), np.float32, 40)
    mixed = K.matmul(a[0].T, b[0].T.astype(np.float64))
    assert mixed.dtype == np.float64
    close(mixed, a[0].T @ b[0].T.astype(np.float64), np.float64, 40)
    assert K.matmul(a[0].tolist(), a[0].T.tolist()).dtype == np.float64
    with pytest.raises(TypeError, match="int"):
        K.matmul(np.ones((2, 2), np.int32), np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match="complex"):
        K.matmul(np.ones((2, 2), complex), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 3\)"):
        K.matmul(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="broadcast"):
        K.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 4)))
    with pytest.raises(ValueError):
        K.matmul(np.float64(2.0), np.ones(3))


def test_huge_dims_do_not_overflow():
    # (1, 2**31 + 8) zero-stride operands: shapes are checked in int64 before any copy
    x = np.lib.stride_tricks.as_strided(np.ones(1, np.float32), (1, 2**31 + 8), (4, 0))
    with pytest.raises(ValueError, match="2147483656"):
        K.gemm(x, np.ones((3, 1), np.float32))
    with pytest.raises(ValueError, match="2147483656"):
        K.matmul(x, np.ones((3, 1), np.float32))
    # an index past 2**31 elements inside one matrix: A (2, 2**30 + 3) read with lda > 2**31
    big = np.lib.stride_tricks.as_strided(np.ones(4, np.float32), (3, 2**31 + 8), (0, 0))
    with pytest.raises(ValueError):
        K.gemm(big, np.ones((2, 2), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_reproducible(dtype):
    rng = np.random.default_rng(7)
    a, b = rand(rng, (203, 301), dtype), rand(rng, (301, 157), dtype)
    bias = rand(rng, (157,), dtype)
    dm.set_num_threads(1)
    one = K.gemm(a, b, bias=bias, act="gelu")
    dm.set_num_threads(2)
    two = K.gemm(a, b, bias=bias, act="gelu")
    again = K.gemm(a, b, bias=bias, act="gelu")
    assert one.tobytes() == two.tobytes() == again.tobytes()  # one thread per element of C
    # 203·301·157 and 160·40·50·30 (batch) are above DM_GEMM_PARALLEL_MIN (2^23): threaded paths
    x, y = rand(rng, (160, 40, 50), dtype), rand(rng, (160, 50, 30), dtype)
    dm.set_num_threads(1)
    one = K.matmul(x, y)
    dm.set_num_threads(2)
    assert one.tobytes() == K.matmul(x, y).tobytes()


def has_cpu(*features):
    return all(K.cpu_features().get(f, False) for f in features)


@pytest.mark.parametrize("kernel,name", [("portable", "portable"), ("avx2", "avx2+fma")])
def test_forced_kernel_in_subprocess(kernel, name):
    """The portable C micro-kernel (other CPUs) and the AVX2 one (CPUs without AVX-512) on the
    same checks, forced by environment."""
    import os
    import subprocess
    import sys
    if kernel == "avx2" and not has_cpu("avx2", "fma"):
        pytest.skip("no AVX2+FMA on this CPU")
    code = (
        "import numpy as np; from deepmath import _kernels as K\n"
        f"assert K.gemm_kernel_name() == {name!r}, K.gemm_kernel_name()\n"
        "rng = np.random.default_rng(0)\n"
        "for m, n, k in [(1, 1, 1), (5, 9, 3), (37, 70, 300), (150, 130, 270), (32, 8, 784),\n"
        "                (784, 8, 32), (32, 784, 8), (32, 10, 300), (2, 100, 64)]:\n"
        "    for dt in (np.float32, np.float64):\n"
        "        a = rng.standard_normal((k, m)).astype(dt); b = rng.standard_normal((k, n)).astype(dt)\n"
        "        bias = rng.standard_normal(n).astype(dt)\n"
        "        want = np.tanh(a.T.astype(np.float64) @ b + bias)\n"
        "        got = K.gemm(a, b, transa=True, bias=bias, act='tanh')\n"
        "        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)\n"
        "        got = K.matmul(a.T.copy(), b)\n"
        "        np.testing.assert_allclose(got, a.T.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)\n"
        "print('ok')\n")
    env = dict(os.environ, DEEPMATH_GEMM_KERNEL=kernel)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ok" in out.stdout


@pytest.mark.skipif(os.environ.get("DEEPMATH_GEMM_KERNEL") is not None,
                    reason="already under a forced kernel")
def test_this_module_under_forced_avx2():
    """Every check of this file again on the AVX2 kernels, where the default is AVX-512."""
    import subprocess
    import sys
    if K.gemm_kernel_name() != "avx512":
        pytest.skip("the default kernel is already AVX2 or portable")
    env = dict(os.environ, DEEPMATH_GEMM_KERNEL="avx2")
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          __file__], env=env, capture_output=True, text=True, timeout=600,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


BITS_CASES = [  # (m, n, k, transa, transb): odd edges of 12x32 and 6x16 tiles, KC = 256 blocks
    (1, 1, 1, 0, 0), (13, 33, 257, 0, 0), (13, 33, 257, 1, 1), (37, 70, 300, 1, 0),
    (145, 40, 513, 0, 1), (150, 300, 260, 0, 0), (150, 300, 260, 1, 1), (97, 130, 64, 1, 0),
    (11, 65, 31, 0, 0), (25, 97, 700, 0, 1), (300, 47, 129, 1, 0), (203, 157, 301, 0, 0),
    (768, 128, 384, 0, 0), (384, 768, 128, 1, 0), (768, 384, 128, 0, 1), (600, 40, 300, 0, 0),
    (32, 10, 3136, 0, 0), (784, 8, 32, 1, 0), (32, 784, 8, 0, 0), (3, 100, 300, 0, 0)]


def _operands(rng, m, n, k, ta, tb):
    """float32 A (m×k, stored k×m when ta), B (k×n, stored n×k when tb), bias (n,), C (m×n)."""
    return (rand(rng, (k, m) if ta else (m, k), np.float32),
            rand(rng, (n, k) if tb else (k, n), np.float32),
            rand(rng, (n,), np.float32), rand(rng, (m, n), np.float32))


def _bits_outputs(threads):
    """Products of BITS_CASES with alpha, beta, bias and activations, as one list."""
    dm.set_num_threads(threads)
    rng = np.random.default_rng(11)
    outs = []
    for m, n, k, ta, tb in BITS_CASES:
        a, b, bias, c = _operands(rng, m, n, k, ta, tb)
        outs.append(K.gemm(a, b, transa=bool(ta), transb=bool(tb)))
        outs.append(K.gemm(a, b, transa=bool(ta), transb=bool(tb), alpha=0.7, beta=1.3,
                           c=c.copy(), bias=bias, act="relu"))
        outs.append(K.gemm(a, b, transa=bool(ta), transb=bool(tb), bias=bias, act="gelu"))
    return outs


def _avx2_outputs(tmp_path, outputs):
    """The arrays `outputs` (an expression over this module as T) computed in a subprocess
    forced onto the AVX2 kernel, as a loaded .npz; skips on a CPU without the AVX-512 one."""
    import subprocess
    import sys
    if K.gemm_kernel_name() != "avx512":
        pytest.skip("no AVX-512 kernel on this CPU")
    here = os.path.dirname(os.path.abspath(__file__))
    code = (f"import sys; sys.path.insert(0, {here!r})\n"
            "import numpy as np, test_kernels_gemm as T\n"
            "assert T.K.gemm_kernel_name() == 'avx2+fma'\n"
            f"np.savez({str(tmp_path / 'avx2.npz')!r}, {outputs})\n")
    env = dict(os.environ, DEEPMATH_GEMM_KERNEL="avx2")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return np.load(tmp_path / "avx2.npz")


def test_avx512_bits_like_avx2(tmp_path):
    """Each element of C is the same FMA chain (p = 0..k-1 in KC blocks) and epilogue in the
    12x32 AVX-512 kernel as in the 6x16 AVX2 one: identical bits, for 1, 2 and 3 threads."""
    ref = _avx2_outputs(tmp_path, "*T._bits_outputs(1), *T._bits_outputs(2)")
    mine = _bits_outputs(1) + _bits_outputs(2)
    assert len(ref.files) == len(mine)
    for i, got in enumerate(mine):
        want = ref[f"arr_{i}"]
        assert got.tobytes() == want.tobytes(), (BITS_CASES[i // 3 % len(BITS_CASES)], i)
    for i, got in enumerate(_bits_outputs(3)):  # any thread count: the 1-thread AVX2 bits
        assert got.tobytes() == ref[f"arr_{i}"].tobytes(), (BITS_CASES[i // 3], i)


NARROW_CASES = [(m, n, k, ta, tb) for n in (9, 15, 16) for m in (12, 24, 25, 840, 1000)
                for k in (1, 96, 288, 840) for ta in (0, 1) for tb in (0, 1)]


def _narrow_outputs(threads):
    """The AVX-512 narrow tiles' shapes (9 <= n <= 16, m >= 12: 12..24-row tiles of one zmm a
    row, gemm_small_s_avx512_n16), and the k <= 8 and dot-path ones beside them: every
    activation with a bias, beta 0 and 1 (and alpha), as one list."""
    dm.set_num_threads(threads)
    rng = np.random.default_rng(12)
    outs = []
    for m, n, k, ta, tb in NARROW_CASES:
        a, b, bias, c = _operands(rng, m, n, k, ta, tb)
        outs.append(K.gemm(a, b, transa=bool(ta), transb=bool(tb)))
        for i, act in enumerate(ACTS):
            outs.append(K.gemm(a, b, transa=bool(ta), transb=bool(tb), bias=bias, act=act))
            outs.append(K.gemm(a, b, transa=bool(ta), transb=bool(tb), alpha=0.5 + 0.1 * i,
                               beta=1.0, c=c.copy(), bias=bias, act=act))
    return outs


def test_avx512_narrow_bits_like_avx2(tmp_path):
    """The narrow AVX-512 tiles (R×16, one zmm accumulator a row) sum each element with the
    same FMA chain, KC blocks and epilogue as the AVX2 6×16 tiles: identical bits, for 1 and
    2 threads (m·n·k >= 2^23: rows shared by the threads)."""
    ref = _avx2_outputs(tmp_path, "*T._narrow_outputs(1)")
    per = 1 + 2 * len(ACTS)
    for threads in (1, 2):
        mine = _narrow_outputs(threads)
        assert len(ref.files) == len(mine)
        for i, got in enumerate(mine):
            assert got.tobytes() == ref[f"arr_{i}"].tobytes(), (NARROW_CASES[i // per], i % per,
                                                                threads)


def test_kernel_info():
    assert K.gemm_kernel_name() in ("avx512", "avx2+fma", "portable")
    assert K.fma_peak_gflops(0.01) > 0


@settings(max_examples=40, deadline=None)
@given(m=st.integers(1, 70), n=st.integers(1, 70), k=st.integers(1, 300),
       batch=st.lists(st.integers(1, 3), max_size=2), ta=st.booleans(), tb=st.booleans(),
       dtype=st.sampled_from(DTYPES))
def test_hypothesis_matmul(m, n, k, batch, ta, tb, dtype):
    rng = np.random.default_rng(m + 100 * n + 10000 * k)
    a = rand(rng, tuple(batch) + ((k, m) if ta else (m, k)), dtype)
    b = rand(rng, ((n, k) if tb else (k, n)), dtype)
    a = a.swapaxes(-1, -2) if ta else a
    b = b.T if tb else b
    close(K.matmul(a, b), np.matmul(a.astype(np.float64), b), dtype, k)


# ---- backend tables and the dense op ----------------------------------------------------------

@pytest.mark.parametrize("act", ACTS)
def test_dense_native_matches_reference(act):
    rng = np.random.default_rng(11)
    x, w, b = rand(rng, (4, 5, 30), np.float32), rand(rng, (30, 20), np.float32), \
        rand(rng, (20,), np.float32)
    ref = G.dense_forward_reference(x, w, b, act)
    out = G.dense_forward_native(x, w, b, act)
    close(out, ref, np.float32, 30)
    saved = G.dense_forward_reference(x, w, b, None) if act in G.SAVES_PREACT else ref
    g = rand(rng, ref.shape, np.float32)
    for got, want in zip(G.dense_backward_native(x, w, saved, g, act),
                         G.dense_backward_reference(x, w, saved, g, act)):
        close(got, want, np.float32, 40)


@pytest.mark.parametrize("act", ACTS)
def test_dense_gradients(act):
    rng = np.random.default_rng(13)
    x, w, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(5)
    check_grad(lambda x, w, b: dense(x, w, b, activation=act), x, w, b)
    x3 = rng.standard_normal((2, 3, 4))
    check_grad(lambda x, w: dense(x, w, activation=act), x3, w)


def test_dense_errors_and_forward_value():
    x = dm.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="aligned"):
        dense(x, dm.tensor(np.ones((4, 2), np.float32)))
    with pytest.raises(ValueError, match="activation"):
        dense(x, dm.tensor(np.ones((3, 2), np.float32)), activation="swish")
    y = dense(x, dm.tensor(np.ones((3, 2), np.float32)), dm.tensor(np.array([-5, 1], np.float32)),
              "relu")
    assert y.dtype == np.float32
    assert np.array_equal(y.data, [[0, 4], [0, 4]])


# ---- skinny and small products (dm_gemm.c, "float32 small and skinny products") ---------------
# The AVX2 float32 paths: tiles of 1..8 rows × 8..64 columns with B in place or packed, the
# transposed-A path (n <= 16), the small-k path (k <= 8) and the dot path (n <= 12, A not
# transposed, k >= 16). Sizes around their thresholds, every transpose, the epilogue.

def close_strict(got, want, k):
    """float32 against the float64 product of the same float32 inputs: rtol 1e-5."""
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.sqrt(max(k, 1)))


SKINNY = [  # (m, n, k): the dense layer of a small step, its two gradients, the shapes
    (32, 8, 784), (784, 8, 32), (32, 784, 8), (32, 10, 3136), (64, 64, 64), (1, 128, 784),
    (2, 128, 784), (3, 100, 300), (4, 70, 257), (7, 50, 100), (8, 128, 784), (16, 512, 512),
    (25, 40, 300), (64, 1, 784), (64, 2, 100), (64, 3, 17), (13, 5, 16), (9, 11, 15),
    (33, 12, 520), (33, 13, 520), (17, 16, 33), (17, 17, 33), (100, 9, 8), (70, 30, 1),
    (65, 3, 5), (5, 1000, 7), (600, 20, 9), (200, 15, 40), (31, 24, 64), (6, 40, 65)]


@pytest.mark.parametrize("m,n,k", SKINNY)
def test_skinny_shapes_all_transposes(m, n, k):
    rng = np.random.default_rng(m * 7 + n * 11 + k)
    a, b = rand(rng, (m, k), np.float32), rand(rng, (k, n), np.float32)
    want = a.astype(np.float64) @ b.astype(np.float64)
    for ta in (False, True):
        for tb in (False, True):
            A = np.ascontiguousarray(a.T) if ta else a
            B = np.ascontiguousarray(b.T) if tb else b
            got = K.gemm(A, B, transa=ta, transb=tb)
            assert got.dtype == np.float32
            close_strict(got, want, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_skinny_threshold_sweep(dtype):
    """Every m <= 9 and n <= 17 around the tile widths, k around 8 (small-k), 16 (dot) and
    256 (KC), all transposes; float64 takes its old path and must stay as exact as before."""
    rng = np.random.default_rng(21)
    for k in (7, 8, 9, 15, 16, 17, 255, 257):
        for m in (1, 2, 3, 4, 5, 6, 7, 8, 9, 24, 25):
            for n in (1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 33, 65):
                a, b = rand(rng, (m, k), dtype), rand(rng, (k, n), dtype)
                want = a.astype(np.float64) @ b.astype(np.float64)
                for ta in (False, True):
                    for tb in (False, True):
                        got = K.gemm(np.ascontiguousarray(a.T) if ta else a,
                                     np.ascontiguousarray(b.T) if tb else b,
                                     transa=ta, transb=tb)
                        if dtype == np.float32:
                            close_strict(got, want, k)
                        else:
                            close(got, want, dtype, k)


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("m,n,k", [(32, 8, 784), (784, 8, 32), (32, 784, 8), (32, 10, 300),
                                   (5, 13, 40), (2, 100, 64), (19, 3, 600), (40, 17, 5)])
def test_skinny_epilogue(m, n, k, act):
    """bias + activation and alpha/beta with c, on every path (transposes included)."""
    rng = np.random.default_rng(m + n + k)
    a, b = rand(rng, (m, k), np.float32), rand(rng, (k, n), np.float32)
    bias, c0 = rand(rng, (n,), np.float32), rand(rng, (m, n), np.float32)
    ab = a.astype(np.float64) @ b.astype(np.float64)
    for ta in (False, True):
        for tb in (False, True):
            A = np.ascontiguousarray(a.T) if ta else a
            B = np.ascontiguousarray(b.T) if tb else b
            got = K.gemm(A, B, transa=ta, transb=tb, bias=bias, act=act)
            close_strict(got, G.activation_reference(ab + bias, act), k)
            got = K.gemm(A, B, transa=ta, transb=tb, alpha=-0.5, beta=2.0, c=c0.copy(),
                         bias=bias, act=act)
            close_strict(got, G.activation_reference(-0.5 * ab + 2.0 * c0 + bias, act), k)


@pytest.mark.parametrize("m,n,k", [(32, 8, 784), (30, 10, 300), (9, 3, 20), (784, 8, 32),
                                   (32, 784, 8), (3, 40, 100), (20, 17, 9)])
def test_skinny_strided_views_stay_in_bounds(m, n, k):
    """Row-strided A, B and C (lda > k, ldb > n, ldc > n) are read in place; the columns of
    the wider C outside the view are never written, NaN in C is ignored when beta == 0."""
    rng = np.random.default_rng(3 * m + n)
    big_a, big_b = rand(rng, (m, k + 5), np.float32), rand(rng, (k, n + 3), np.float32)
    a, b = big_a[:, 1:k + 1], big_b[:, 2:n + 2]
    big_c = np.full((m, n + 6), 7.0, np.float32)
    c = big_c[:, 3:n + 3]
    c[...] = np.nan
    bias = rand(rng, (n,), np.float32)
    out = K.gemm(a, b, c=c, bias=bias, act="relu")
    assert out is c
    close_strict(c, G.activation_reference(a.astype(np.float64) @ b + bias, "relu"), k)
    assert (big_c[:, :3] == 7).all() and (big_c[:, n + 3:] == 7).all()
    # transposed operands given as views of wider arrays
    at, bt = rand(rng, (k, m + 4), np.float32)[:, 2:m + 2], rand(rng, (n, k + 9), np.float32)[:, :k]
    close_strict(K.gemm(at, bt, transa=True, transb=True), at.T.astype(np.float64) @ bt.T, k)


def test_skinny_paths_bitwise_like_blocked_path():
    """The new float32 paths sum every element exactly as the blocked path: a block of a
    large product equals, bit for bit, the small product of the same rows and columns (the
    dot path, n <= 12 with A not transposed and k >= 16, is left out: it has its own order)."""
    rng = np.random.default_rng(4)
    dm.set_num_threads(1)
    for k in (300, 8):
        m = 600 if k == 300 else 9000  # m·min(k, 256)·4 bytes > 256 KiB: the blocked path
        a, b = rand(rng, (m, k), np.float32), rand(rng, (k, 40), np.float32)
        bias = rand(rng, (40,), np.float32)
        for ta in (False, True):
            for tb in (False, True):
                A = np.ascontiguousarray(a.T) if ta else a
                B = np.ascontiguousarray(b.T) if tb else b
                full = K.gemm(A, B, transa=ta, transb=tb, bias=bias, act="relu")
                for i0, i1, j0, j1 in [(0, 32, 0, 8), (5, 37, 3, 11), (100, 101, 0, 40),
                                       (7, 9, 1, 40), (0, 600, 20, 36), (3, 27, 0, 13),
                                       (50, 834 if k == 8 else 530, 30, 40)]:
                    if not ta and j1 - j0 <= 12 and k >= 16:
                        continue
                    As = A[:, i0:i1] if ta else A[i0:i1]
                    Bs = B[j0:j1] if tb else B[:, j0:j1]
                    part = K.gemm(np.ascontiguousarray(As), np.ascontiguousarray(Bs),
                                  transa=ta, transb=tb, bias=bias[j0:j1], act="relu")
                    assert part.tobytes() == full[i0:i1, j0:j1].tobytes(), (k, ta, tb, i0, j0)


def test_dot_path_reproducible_rows_and_threads():
    """The dot path's order depends on the product's n and k only: any block of rows, and
    any thread count, gives the same bits."""
    rng = np.random.default_rng(8)
    a, b = rand(rng, (3000, 300), np.float32), rand(rng, (300, 10), np.float32)
    bt = np.ascontiguousarray(b.T)
    dm.set_num_threads(1)
    one = K.matmul(a, b)
    one_t = K.gemm(a, bt, transb=True)
    assert one.tobytes() == one_t.tobytes()  # B transposed in place or packed: same sums
    close_strict(one, a.astype(np.float64) @ b, 300)
    assert K.matmul(a[17:50], b).tobytes() == one[17:50].tobytes()
    dm.set_num_threads(2)  # 3000·300·10 > 2^23: rows shared by the two threads
    assert K.matmul(a, b).tobytes() == one.tobytes()


def test_skinny_float64_unaffected():
    rng = np.random.default_rng(9)
    for m, n, k in [(32, 8, 784), (784, 8, 32), (32, 784, 8), (32, 10, 3136), (1, 128, 784)]:
        a, b = rand(rng, (m, k), np.float64), rand(rng, (k, n), np.float64)
        np.testing.assert_allclose(K.gemm(a, b), a @ b, rtol=1e-12, atol=1e-12 * k)
        np.testing.assert_allclose(K.gemm(np.ascontiguousarray(a.T), b, transa=True), a @ b,
                                   rtol=1e-12, atol=1e-12 * k)


def test_skinny_no_read_past_the_end():
    """Every operand ends where a PROT_NONE page begins: a kernel reading one float too far
    (a full-width load of a narrow panel, a row past m) would crash the subprocess."""
    import subprocess
    import sys
    if not sys.platform.startswith("linux"):
        pytest.skip("mmap/mprotect guard pages: Linux only")
    code = r'''
import ctypes, mmap
import numpy as np
from deepmath import _kernels as K
libc = ctypes.CDLL(None, use_errno=True)
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
keep = []
def at_end(x):
    """a copy of x whose last byte is the last byte before a PROT_NONE page"""
    n = x.nbytes
    pages = (n + mmap.PAGESIZE - 1) // mmap.PAGESIZE + 1
    buf = mmap.mmap(-1, pages * mmap.PAGESIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    guard = base + (pages - 1) * mmap.PAGESIZE
    assert libc.mprotect(guard, mmap.PAGESIZE, 0) == 0
    off = (pages - 1) * mmap.PAGESIZE - n
    y = np.frombuffer(buf, dtype=x.dtype, count=x.size, offset=off).reshape(x.shape)
    y[...] = x
    keep.append(buf)
    return y
rng = np.random.default_rng(0)
for m, n, k in [(32, 8, 784), (784, 8, 32), (32, 784, 8), (32, 10, 3136), (7, 3, 9), (5, 13, 7),
                (3, 5, 17), (1, 1, 1), (2, 70, 300), (9, 17, 5), (64, 1, 100), (13, 12, 16),
                (13, 33, 40), (25, 47, 70), (12, 65, 300), (30, 97, 260)]:
    for ta in (0, 1):
        for tb in (0, 1):
            a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
            b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
            bias = rng.standard_normal(n).astype(np.float32)
            A, B, BIAS = at_end(a), at_end(b), at_end(bias)
            C = at_end(np.zeros((m, n), np.float32))
            K.gemm(A, B, transa=bool(ta), transb=bool(tb), bias=BIAS, act="relu", c=C,
                   beta=0.5)
            want = np.maximum((a.T if ta else a).astype(np.float64) @ (b.T if tb else b) + bias, 0)
            np.testing.assert_allclose(C, want, rtol=1e-5, atol=1e-5 * np.sqrt(k))
print("ok")
'''
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ok" in out.stdout


def test_gemm_binding_arguments():
    """The binding's fast checks accept what the slow ones did: scalars of any numeric type,
    activations by name or code, strided bias; and still name what is wrong."""
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    want = a.astype(np.float64) @ b
    for alpha in (2, 2.0, np.float32(2), np.float64(2), "2"):
        np.testing.assert_allclose(K.gemm(a, b, alpha=alpha), 2 * want)
    c = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(K.gemm(a, b, beta=np.int64(3), c=c), want + 3)
    for act in (None, 0, "linear", 1, "relu", True):
        K.gemm(a, b, act=act)
    with pytest.raises(TypeError, match="bias must be a numpy.ndarray"):
        K.gemm(a, b, bias=[1, 2, 3, 4])
    np.testing.assert_allclose(K.gemm(a, b, bias=np.arange(8, dtype=np.float32)[::2]),
                               want + [0, 2, 4, 6])
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 3\).*transb=False"):
        K.gemm(a, b.T)
    with pytest.raises(ValueError, match="activation"):
        K.gemm(a, b, act=np.int64(1))
    with pytest.raises(TypeError, match="c must be"):
        K.gemm(a, b, c=[[0.0] * 4] * 2)
    with pytest.raises(ValueError, match="c has shape"):
        K.gemm(a, b, c=np.ones(8, np.float32))
