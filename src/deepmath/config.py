"""Threads and build configuration: how many threads the C kernels use, and what was built.

    import deepmath
    deepmath.set_num_threads(2)     # or DEEPMATH_NUM_THREADS=2 before the import
    deepmath.show_config()          # versions, compiler, OpenMP, SIMD, backends, BLAS

The package works without its C extension (deepmath._kernels), on the numpy reference backend:
everything here then still runs and says "native: not built".
"""
import importlib.util
import os
import platform
import sys
import warnings

import numpy as np

from ._version import __version__

try:
    from . import _kernels
    _KERNELS_ERROR = None
except ImportError as exc:  # not compiled (running from source) or failed to load
    _kernels = None
    _KERNELS_ERROR = f"{type(exc).__name__}: {exc}"

# Thread count kept here when there is no extension: nothing uses it, but set/get still agree.
_python_threads = 1


def native_available():
    """True if the C kernels (deepmath._kernels) were built and import."""
    return _kernels is not None


def _check_threads(n):
    """`n` as an int >= 1, else TypeError / ValueError."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"number of threads must be an integer, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"number of threads must be >= 1, got {n}")
    return int(n)


def set_num_threads(n):
    """Use `n` threads in the C kernels' parallel loops (same as DEEPMATH_NUM_THREADS=n).

    Results do not depend on `n` (the kernels are bitwise reproducible for any thread count).
    Without the extension the value is only remembered.
    """
    global _python_threads
    n = _check_threads(n)
    if _kernels is None:
        _python_threads = n
    else:
        _kernels.set_num_threads(n)


def get_num_threads():
    """Number of threads the C kernels use (OpenMP's default unless set)."""
    return _python_threads if _kernels is None else _kernels.get_num_threads()


def _threads_from_env(environ=None):
    """DEEPMATH_NUM_THREADS as an int >= 1, or None when unset.

    An invalid value is ignored with a RuntimeWarning, rather than making `import deepmath`
    fail for a typo in the shell.
    """
    value = (os.environ if environ is None else environ).get("DEEPMATH_NUM_THREADS", "").strip()
    if not value:
        return None
    try:
        return _check_threads(int(value))
    except (TypeError, ValueError):
        warnings.warn(f"DEEPMATH_NUM_THREADS={value!r} is not an integer >= 1; ignored "
                      f"(deepmath uses its default thread count)", RuntimeWarning, stacklevel=2)
        return None


def _blas_info():
    """numpy's BLAS and the OpenMP runtimes loaded in this process, via threadpoolctl."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    import numpy.linalg  # noqa: F401  (loads numpy's BLAS if not loaded yet)
    keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer",
            "filepath")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def config_dict():
    """Everything show_config() prints, as a dict."""
    info = {
        "deepmath": __version__,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "python_executable": sys.executable,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "native": _kernels is not None,
        "native_error": _KERNELS_ERROR,
        "build": None,
        "openmp": False,
        "num_threads": get_num_threads(),
        "max_threads": None,
        "cpu_features": None,
        "kernel_paths": [],
        "backends": ["numpy"],
        "blas": _blas_info(),
    }
    if _kernels is not None:
        build = _kernels.build_info()
        info.update(build=build, openmp=build["openmp"], max_threads=_kernels.max_threads(),
                    cpu_features=_kernels.cpu_features(), kernel_paths=_kernels.simd_paths())
        info["backends"].append("native")
    if importlib.util.find_spec("cupy") is not None:  # found, never imported here
        info["backends"].append("cupy")
    return info


def _config_lines(info):
    """The lines of show_config() for a config_dict()."""
    rows = [
        ("python", f"{info['python']} ({info['python_implementation']}, "
                   f"{info['python_executable']})"),
        ("numpy", info["numpy"]),
        ("platform", f"{info['platform']} ({info['machine']})"),
    ]
    build = info["build"]
    if build is None:
        rows += [
            ("native", f"not built ({info['native_error']}); the numpy reference runs instead"),
            ("threads", f"{info['num_threads']} (stored only: no C kernels to use it)"),
            ("cpu simd", "unknown (detected by deepmath._kernels, not built)"),
        ]
    else:
        if build["openmp"]:
            openmp = f"on, OpenMP {build['openmp_version']} (_OPENMP={build['openmp_macro']})"
            threads = f"{info['num_threads']} (OpenMP default {info['max_threads']})"
        else:
            openmp = "off: kernels run on one thread (no OpenMP at build time)"
            threads = f"{info['num_threads']} (stored only: built without OpenMP)"
        simd = [name for name, ok in info["cpu_features"].items() if ok]
        rows += [
            ("native", "built (deepmath._kernels)"),
            ("compiler", build["compiler"]),
            ("command", build["command"]),
            ("flags", f"{build['flags']} | link: {build['link_flags'] or '(none)'}"),
            ("built with", f"numpy {build['numpy_build']}, Cython {build['cython']}"),
            ("openmp", openmp),
            ("threads", threads),
            ("cpu simd", f"{' '.join(simd) or '(none)'} (detected on this CPU)"),
            ("kernel paths", ", ".join(info["kernel_paths"])),
        ]
    rows.append(("backends", ", ".join(info["backends"])))
    if info["blas"] is None:
        rows.append(("blas", "unknown (threadpoolctl not installed)"))
    elif not info["blas"]:
        rows.append(("blas", "none loaded"))
    else:
        for pool in info["blas"]:
            extra = [f"{pool.get('num_threads')} threads"]
            if pool.get("threading_layer"):
                extra.insert(0, pool["threading_layer"])
            name = f"{pool.get('internal_api')} {pool.get('version') or ''}".strip()
            where = os.path.basename(pool.get("filepath") or "")
            key = "blas" if pool["user_api"] == "blas" else f"{pool['user_api']} runtime"
            rows.append((key, f"{name} ({', '.join(extra)}) {where}".strip()))
    width = max(len(k) for k, _ in rows)
    return [f"deepmath {info['deepmath']}"] + [f"  {k:<{width}}  {v}" for k, v in rows]


def show_config(file=None):
    """Print versions, build, OpenMP and threads, SIMD, backends and BLAS (to stdout or `file`)."""
    print("\n".join(_config_lines(config_dict())), file=file or sys.stdout)


_env_threads = _threads_from_env()
if _env_threads is not None:
    set_num_threads(_env_threads)
