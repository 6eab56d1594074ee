"""The compiled extension deepmath._kernels and deepmath.config (threads, show_config).

Kernel tests skip when the extension is not built, except under DEEPMATH_REQUIRE_NATIVE=1
(set by .ci/run and cibuildwheel), where a missing extension fails.
"""
import io
import os
import platform
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import deepmath
from deepmath import config

try:
    from deepmath import _kernels
    KERNELS_ERROR = None
except ImportError as exc:
    _kernels = None
    KERNELS_ERROR = f"{type(exc).__name__}: {exc}"

REQUIRE_NATIVE = os.environ.get("DEEPMATH_REQUIRE_NATIVE") == "1"
FLOATS = [np.float32, np.float64]
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6)
# For the hypothesis tests, which cannot take function-scoped fixtures; under
# DEEPMATH_REQUIRE_NATIVE=1 they run, and fail, when the extension is missing.
needs_kernels = pytest.mark.skipif(_kernels is None and not REQUIRE_NATIVE,
                                   reason=f"deepmath._kernels is not importable ({KERNELS_ERROR})")


@pytest.fixture
def kernels():
    """The extension module; skip (or fail under DEEPMATH_REQUIRE_NATIVE=1) when missing."""
    if _kernels is None:
        message = f"deepmath._kernels is not importable ({KERNELS_ERROR})"
        if REQUIRE_NATIVE:
            pytest.fail(message + " and DEEPMATH_REQUIRE_NATIVE=1")
        pytest.skip(message)
    return _kernels


@pytest.fixture
def threads(kernels):
    """The extension, with its thread count restored after the test."""
    before = kernels.get_num_threads()
    yield kernels
    kernels.set_num_threads(before)


def relu_reference(x):
    """ReLU as the kernels define it: NaN kept (as np.maximum), -0.0 -> +0.0."""
    return np.where(x <= 0, x.dtype.type(0), x)


def assert_same(out, ref):
    """Same dtype and shape, NaN at the same places, and the same bits everywhere else."""
    assert out.dtype == ref.dtype and out.shape == ref.shape
    nan = np.isnan(ref)
    np.testing.assert_array_equal(np.isnan(out), nan)
    bits = np.uint32 if out.dtype.itemsize == 4 else np.uint64
    np.testing.assert_array_equal(out[~nan].view(bits), ref[~nan].view(bits))


def random_array(dtype, shape, seed=0):
    """Normal random values of `dtype` with about half of them negative."""
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---- the extension exists and describes itself -------------------------------------------------

def test_extension_imports(kernels):
    assert kernels.__name__ == "deepmath._kernels"
    assert config.native_available()
    assert "native" in config.config_dict()["backends"]


def test_openmp_when_required(kernels):
    """The CI builds with DEEPMATH_FAIL_NO_OPENMP=1: the module it tests must be threaded."""
    if os.environ.get("DEEPMATH_FAIL_NO_OPENMP") != "1":
        pytest.skip("DEEPMATH_FAIL_NO_OPENMP is not set")
    assert kernels.openmp_enabled()
    assert kernels.build_info()["openmp_version"]


def test_build_info(kernels):
    info = kernels.build_info()
    assert set(info) >= {"compiler", "command", "flags", "link_flags", "openmp",
                         "openmp_version", "openmp_macro", "native_arch", "debug",
                         "numpy_build", "cython"}
    assert int(info["numpy_build"].split(".")[0]) >= 2 and int(info["cython"].split(".")[0]) >= 3
    assert info["compiler"] and info["compiler"] != "unknown C compiler"
    assert info["openmp"] is kernels.openmp_enabled()
    assert "fast-math" not in info["flags"]
    assert ("-march=native" in info["flags"]) == info["native_arch"]
    assert (info["openmp_macro"] is not None) == info["openmp"]


def test_cpu_features(kernels):
    features = kernels.cpu_features()
    assert set(features) == {"sse2", "avx", "avx2", "fma", "avx512f", "neon"}
    assert all(isinstance(v, bool) for v in features.values())
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        assert features["sse2"] and not features["neon"]  # SSE2 is part of x86-64
    if machine in ("aarch64", "arm64"):
        assert features["neon"] and not features["avx"]
    assert kernels.simd_paths()[0] == "portable"


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                    reason="compares with /proc/cpuinfo on x86-64 Linux")
def test_cpu_features_match_proc_cpuinfo(kernels):
    with open("/proc/cpuinfo") as f:
        flags = next(line for line in f if line.startswith("flags")).split()
    for name in ("avx", "avx2", "fma", "avx512f"):
        assert kernels.cpu_features()[name] == (name in flags), name


# ---- threads ----------------------------------------------------------------------------------

def test_thread_count_round_trip(threads):
    for n in (1, 2, 3, 1):
        threads.set_num_threads(n)
        assert threads.get_num_threads() == n
        assert config.get_num_threads() == n
    config.set_num_threads(2)
    assert threads.get_num_threads() == 2
    assert threads.max_threads() >= 1


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (10**6, ValueError),
                                        (1.5, TypeError), ("2", TypeError)])
def test_bad_thread_counts(threads, bad, error):
    before = threads.get_num_threads()
    with pytest.raises(error):
        threads.set_num_threads(bad)
    with pytest.raises(error):
        config.set_num_threads(bad)
    assert threads.get_num_threads() == before


def test_config_threads_without_extension(monkeypatch):
    monkeypatch.setattr(config, "_kernels", None)
    monkeypatch.setattr(config, "_python_threads", 1)
    config.set_num_threads(3)
    assert config.get_num_threads() == 3
    with pytest.raises(ValueError):
        config.set_num_threads(0)


def test_threads_from_env():
    assert config._threads_from_env({}) is None
    assert config._threads_from_env({"DEEPMATH_NUM_THREADS": ""}) is None
    assert config._threads_from_env({"DEEPMATH_NUM_THREADS": " 4 "}) == 4
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.warns(RuntimeWarning, match="DEEPMATH_NUM_THREADS"):
            assert config._threads_from_env({"DEEPMATH_NUM_THREADS": bad}) is None


def run_python(code, tmp_path, **env):
    """Run `code` in a fresh interpreter, in an empty directory, importing the deepmath under
    test (installed or not), with extra environment variables."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(deepmath.__file__)))
    path = os.pathsep.join([here] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, **env, "PYTHONPATH": path}, timeout=120)


def test_env_num_threads_at_import(tmp_path):
    result = run_python("import deepmath; print(deepmath.get_num_threads())", tmp_path,
                        DEEPMATH_NUM_THREADS="3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "3"


def test_invalid_env_num_threads_warns_but_imports(tmp_path):
    result = run_python("import deepmath; print('imported')", tmp_path,
                        DEEPMATH_NUM_THREADS="lots")
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout
    assert "RuntimeWarning" in result.stderr and "DEEPMATH_NUM_THREADS='lots'" in result.stderr


# ---- relu kernels -------------------------------------------------------------------------------

@needs_kernels
@settings(deadline=None, max_examples=150)
@given(st.sampled_from(FLOATS).flatmap(lambda dt: hnp.arrays(dt, SHAPES)))
def test_relu_forward_matches_numpy(x):
    y = _kernels.relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    assert_same(y, relu_reference(x))


@needs_kernels
@settings(deadline=None, max_examples=150)
@given(st.data())
def test_relu_backward_matches_numpy(data):
    dtype = data.draw(st.sampled_from(FLOATS))
    shape = data.draw(SHAPES)
    x = data.draw(hnp.arrays(dtype, shape))
    grad = data.draw(hnp.arrays(dtype, shape))
    with np.errstate(invalid="ignore"):  # inf * 0 in the reference
        ref = grad * (x > 0)
    assert_same(_kernels.relu_backward(x, grad), ref)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (1,), (7, 5), (2, 3, 4, 5)])
def test_relu_shapes(kernels, dtype, shape):
    x = random_array(dtype, shape)
    grad = random_array(dtype, shape, seed=1)
    y, dx = kernels.relu_forward(x), kernels.relu_backward(x, grad)
    assert_same(y, relu_reference(x))
    assert_same(dx, grad * (x > 0))
    assert not np.shares_memory(y, x) and not np.shares_memory(dx, grad)


@pytest.mark.parametrize("dtype", FLOATS)
def test_relu_large_uses_threads_and_is_reproducible(threads, dtype):
    n = 4 * threads.PARALLEL_MIN + 3  # above the threshold: the OpenMP loop runs
    x, grad = random_array(dtype, n), random_array(dtype, n, seed=1)
    results = []
    for count in (1, 2):
        threads.set_num_threads(count)
        results.append((threads.relu_forward(x), threads.relu_backward(x, grad)))
    (y1, dx1), (y2, dx2) = results
    assert_same(y1, relu_reference(x))
    assert_same(dx1, grad * (x > 0))
    assert_same(y2, y1)  # bitwise identical for 1 and 2 threads
    assert_same(dx2, dx1)


@pytest.mark.parametrize("dtype", FLOATS)
def test_relu_nan_inf_and_signed_zero(kernels, dtype):
    x = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, -1.0, 2.0], dtype=dtype)
    y = kernels.relu_forward(x)
    assert np.isnan(y[0]) and y[1] == np.inf
    assert list(y[2:]) == [0, 0, 0, 0, 2] and not np.signbit(y[2:]).any()
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    grad = np.array([1, 1, 1, 1, 1, np.inf, np.nan], dtype=dtype)
    dx = kernels.relu_backward(x, grad)
    # NaN x gives mask 0; an infinite or NaN upstream gradient stays NaN where masked.
    assert list(dx[:5]) == [0, 1, 0, 0, 0]
    assert np.isnan(dx[5]) and np.isnan(dx[6])


def non_contiguous_inputs(dtype):
    """Views the kernels must copy first: strided, transposed, reversed, unaligned, byte-swapped."""
    base = random_array(dtype, (6, 10))
    raw = np.zeros(base.nbytes + 1, dtype=np.uint8)
    unaligned = np.frombuffer(raw.data, dtype=dtype, count=base.size, offset=1).reshape(6, 10)
    unaligned[...] = base
    return {"strided": base[:, ::2], "transposed": base.T, "reversed": base[::-1, ::-3],
            "unaligned": unaligned,
            "byteswapped": base.astype(base.dtype.newbyteorder("S"))}


@pytest.mark.parametrize("dtype", FLOATS)
def test_relu_non_contiguous(kernels, dtype):
    for name, x in non_contiguous_inputs(dtype).items():
        before = x.copy()
        y = kernels.relu_forward(x)
        assert y.flags.c_contiguous and y.dtype == np.dtype(dtype), name
        assert_same(y, relu_reference(np.asarray(x, dtype=dtype)))
        grad = np.ones_like(x)
        assert_same(kernels.relu_backward(x, grad), (x > 0).astype(dtype))
        np.testing.assert_array_equal(x, before)  # inputs untouched


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16, np.complex64,
                                   np.complex128, np.bool_, object])
def test_relu_rejects_other_dtypes(kernels, dtype):
    x = np.zeros(4, dtype=dtype)
    name = str(np.dtype(dtype))
    with pytest.raises(TypeError, match=name):
        kernels.relu_forward(x)
    with pytest.raises(TypeError, match=name):
        kernels.relu_backward(x, x)
    with pytest.raises(TypeError, match=name):
        kernels.relu_backward(np.zeros(4), x)


def test_relu_rejects_non_arrays(kernels):
    with pytest.raises(TypeError, match="ndarray"):
        kernels.relu_forward([1.0, -1.0])
    with pytest.raises(TypeError, match="ndarray"):
        kernels.relu_backward(np.zeros(()), 1.0)
    with pytest.raises(TypeError, match="int64"):
        kernels.relu_forward(np.int64(3))


@pytest.mark.parametrize("dtype", FLOATS)
def test_relu_numpy_scalars(kernels, dtype):
    """numpy returns scalars for 0-d results; the kernels take them as 0-d arrays."""
    y = kernels.relu_forward(dtype(-2.0))
    assert isinstance(y, np.ndarray) and y.shape == () and y.dtype == dtype and y == 0
    dx = kernels.relu_backward(dtype(3.0), dtype(0.5))
    assert dx.shape == () and dx.dtype == dtype and dx == 0.5


def test_relu_backward_mismatch(kernels):
    x = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        kernels.relu_backward(x, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(6,\)"):
        kernels.relu_backward(x, np.zeros(6))
    with pytest.raises(ValueError, match="float64.*float32"):
        kernels.relu_backward(x, np.zeros((2, 3), dtype=np.float32))


# ---- show_config ---------------------------------------------------------------------------------

def test_show_config_fields():
    out = io.StringIO()
    config.show_config(file=out)
    text = out.getvalue()
    for field in (f"deepmath {deepmath.__version__}", "python", platform.python_version(),
                  "platform", platform.machine(), "native", "threads", "cpu simd", "backends"):
        assert field in text, field
    assert re.search(rf"^  numpy +{re.escape(np.__version__)}$", text, re.M)
    assert re.search(r"^  backends +numpy", text, re.M)
    info = config.config_dict()
    assert info["deepmath"] == deepmath.__version__ == config.__version__
    assert info["backends"][0] == "numpy"
    if info["native"]:
        for field in ("compiler", info["build"]["compiler"], info["build"]["flags"],
                      "kernel paths", "portable"):
            assert field in text, field
        assert re.search(rf"^  threads +{config.get_num_threads()} ", text, re.M)
        assert re.search(r"^  openmp +on, OpenMP \d", text, re.M) or not info["openmp"]
        assert re.search(r"^  openmp +off", text, re.M) or info["openmp"]
        simd = [name for name, ok in info["cpu_features"].items() if ok]
        assert re.search(rf"^  cpu simd +{' '.join(simd)}", text, re.M)
    if info["blas"] is not None:
        assert "blas" in text


def test_show_config_to_stdout(capsys):
    deepmath.show_config()
    assert capsys.readouterr().out.startswith(f"deepmath {deepmath.__version__}")


def test_show_config_without_extension(monkeypatch):
    monkeypatch.setattr(config, "_kernels", None)
    monkeypatch.setattr(config, "_KERNELS_ERROR", "ImportError: test")
    out = io.StringIO()
    config.show_config(file=out)
    assert re.search(r"^  native +not built \(ImportError: test\)", out.getvalue(), re.M)
    assert "native" not in config.config_dict()["backends"]


def test_package_imports_without_extension(tmp_path):
    """A missing or broken extension leaves a working package on the numpy reference backend."""
    code = ("import sys; sys.modules['deepmath._kernels'] = None\n"
            "import deepmath\n"
            "assert not deepmath.config.native_available()\n"
            "deepmath.set_num_threads(2); assert deepmath.get_num_threads() == 2\n"
            "deepmath.show_config()\n")
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "not built" in result.stdout


def test_config_never_imports_cupy():
    had_cupy = "cupy" in sys.modules
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config.config_dict()
    assert ("cupy" in sys.modules) == had_cupy
