"""Threads and build configuration: how many threads the C kernels use, and what was built.

    import deepmath
    deepmath.set_num_threads(2)     # or DEEPMATH_NUM_THREADS=2 before the import
    deepmath.show_config()          # versions, compiler, OpenMP, SIMD, backends, BLAS

The package works without its C extension (deepmath._kernels), on the numpy reference backend:
everything here then still runs and says "native: not built".

Threading policy
----------------
- OpenMP is on by default: the kernels use OpenMP's default team size (OMP_NUM_THREADS, else
  the cores this process may run on), or DEEPMATH_NUM_THREADS (read at import), or
  set_num_threads(n). The count lives in the extension (dm_threads.c) and applies to every
  Python thread. Results are bitwise identical run to run for a fixed count, and the kernels
  written as "one output, one thread, fixed order" (pooling, elementwise) give the same bits
  for any count.
- OpenMP threads sleep as soon as a kernel ends (OMP_WAIT_POLICY=passive). By default GNU
  OpenMP keeps its idle threads spinning for a while (GOMP_SPINCOUNT, 300 000 polls) after
  every parallel region, and OpenBLAS does the same after every numpy BLAS call: in a script
  that alternates numpy and deepmath calls the two pools then fight for the same cores, and on
  a busy machine a spinning thread is scheduled as a CPU hog, so the next parallel region
  waits for its time slice. Measured with bench/bench_mixed.py on the 2-core development
  machine while other processes loaded it (2 threads, medians): ReLU of 1M floats 16 ms per
  call with the runtime's default against 0.17 ms passive, 2x2 max pooling forward + backward
  on (8, 32, 32, 64) 36 ms against 0.34 ms, a loop of (256x256 numpy matmul, ReLU) 78 ms per
  step against 40 ms (the rest is OpenBLAS's own threads, as slow there alone; with
  --threads 1 the same step takes 0.64 ms). A sleeping thread,
  woken by the kernel that needs it, preempts at once; the price is a futex wake-up (a few
  microseconds) per parallel region, which is why kernels run serially below DM_PARALLEL_MIN
  elements and should use one parallel region per call.
  The runtime reads this setting once, when it is loaded, so deepmath sets it in os.environ
  just before importing its extension (the first import of deepmath._kernels in the process
  is this module's: deepmath/__init__.py imports config first), forces the runtime to read
  it, then puts the environment back as it was: child processes and other OpenMP libraries
  loaded later (torch...) keep their own defaults. It is not applied when the user chose
  (any of OMP_WAIT_POLICY, GOMP_SPINCOUNT, KMP_BLOCKTIME set), when DEEPMATH_OMP_WAIT=runtime
  (keep the OpenMP runtime's own default), or when the runtime was already loaded by another
  library that shares it; `wait_policy()` tells what happened and show_config() prints it.
- Freed memory is kept for reuse (glibc only): a training step frees and allocates the same
  arrays of 0.1-10 MiB every step, which glibc's defaults hand back to the OS and fault in
  again, zeroed (~20 % of the GPT step, src/_kernels/dm_malloc.c). deepmath raises glibc's
  mmap and trim thresholds once, at import (mallopt): process-wide, so DEEPMATH_MALLOC=system
  keeps the system's default, as does any MALLOC_* / GLIBC_TUNABLES variable of the user's;
  `malloc_policy()` and show_config() tell which is in force.
- numpy's BLAS is left alone: deepmath does not call BLAS, so the two pools never run at the
  same time, only one after the other; the passive policy keeps deepmath's side of that
  hand-over clean. OpenBLAS's threads spin too, and deepmath cannot change that after numpy
  has loaded it: on a machine other work keeps busy, cap numpy's threads with threadpoolctl
  (`threadpool_limits(1, "blas")`) or OPENBLAS_NUM_THREADS=1, and deepmath's with
  set_num_threads (one thread per idle core).
- Parallel loops hand work out with `schedule(dynamic, chunk)` where each output is computed
  by one thread in a fixed order (pooling): which thread takes a chunk changes no bit, and a
  thread delayed by another process leaves its chunks to the others instead of holding the
  whole kernel up.
"""
import importlib.util
import os
import platform
import sys
import warnings

import numpy as np

from ._version import __version__

# Variables through which a user (or a launcher) already chose how OpenMP threads wait.
_WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")


def _openmp_libraries():
    """Paths of the OpenMP runtimes mapped in this process (Linux), or None where unknown."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "/" in line}
    except OSError:
        return None
    return {p for p in paths if any(name in os.path.basename(p)
                                    for name in ("libgomp", "libomp", "libiomp"))}


def _import_kernels(environ=None):
    """Import deepmath._kernels with OMP_WAIT_POLICY=passive in force while its OpenMP runtime
    loads and reads its settings (see the module docstring). Returns (module or None, error
    text or None, policy dict)."""
    environ = os.environ if environ is None else environ
    choice = environ.get("DEEPMATH_OMP_WAIT", "passive").strip().lower() or "passive"
    user = {k: environ[k] for k in _WAIT_VARIABLES if k in environ}
    policy = {"policy": None, "set_by": None, "effective": None}
    if user:
        policy.update(policy=" ".join(f"{k}={v}" for k, v in user.items()), set_by="user")
    elif choice in ("runtime", "default", "off"):
        policy.update(policy="OpenMP runtime default", set_by="DEEPMATH_OMP_WAIT=" + choice)
    elif choice == "passive":
        policy.update(policy="passive", set_by="deepmath")
    else:
        warnings.warn(f"DEEPMATH_OMP_WAIT={choice!r} is not 'passive' or 'runtime'; "
                      f"using 'passive'", RuntimeWarning, stacklevel=3)
        policy.update(policy="passive", set_by="deepmath")
    apply = policy["set_by"] == "deepmath"
    before = _openmp_libraries() if apply else None
    if apply:
        environ["OMP_WAIT_POLICY"] = "passive"
    try:
        from . import _kernels as module
        # LLVM's libomp reads its settings lazily, at the first OpenMP call: make it now.
        module.max_threads()
        error = None
    except ImportError as exc:  # not compiled (running from source) or failed to load
        module, error = None, f"{type(exc).__name__}: {exc}"
    finally:
        if apply:
            del environ["OMP_WAIT_POLICY"]
    if apply and module is not None and before is not None:
        # In force only if the runtime was loaded by this import, not shared with a library
        # imported earlier (a runtime reads its settings once).
        added = _openmp_libraries() - before
        if added:
            policy["effective"] = True
        elif before and module.openmp_enabled():
            policy["effective"] = False
    return module, error, policy


_kernels, _KERNELS_ERROR, _WAIT_POLICY = _import_kernels()

# Variables through which a user already tuned glibc's allocator.
_MALLOC_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_",
                     "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")
_MALLOC_KEEP = (32 << 20, 256 << 20)   # mmap threshold (glibc's maximum), trim threshold


def _keep_freed_memory(module, environ=None):
    """Apply dm_malloc.c's allocator setting unless the user chose (DEEPMATH_MALLOC=system, or
    glibc's own MALLOC_* variables / GLIBC_TUNABLES); returns what is in force, in words."""
    environ = os.environ if environ is None else environ
    choice = environ.get("DEEPMATH_MALLOC", "keep").strip().lower() or "keep"
    user = [k for k in _MALLOC_VARIABLES if k in environ]
    if module is None:
        return "system default (no extension)"
    if user:
        return "user's " + " ".join(user)
    if choice == "system":
        return "system default (DEEPMATH_MALLOC=system)"
    if choice != "keep":
        warnings.warn(f"DEEPMATH_MALLOC={choice!r} is not 'keep' or 'system'; using 'keep'",
                      RuntimeWarning, stacklevel=3)
    if module.malloc_keep(*_MALLOC_KEEP):
        return (f"keep freed memory (glibc mmap threshold {_MALLOC_KEEP[0] >> 20} MiB, trim "
                f"threshold {_MALLOC_KEEP[1] >> 20} MiB)")
    return "system default (not glibc)"


_MALLOC = _keep_freed_memory(_kernels)


def malloc_policy():
    """How freed array memory is handled: glibc keeps it for reuse (deepmath's default, see
    src/_kernels/dm_malloc.c), or the system's default."""
    return _MALLOC


def wait_policy():
    """How the kernels' OpenMP threads wait between kernels: a dict with `policy` ('passive',
    the user's variables, or 'OpenMP runtime default'), `set_by` ('deepmath', 'user' or
    'DEEPMATH_OMP_WAIT=...') and `effective` (True: applied when the runtime loaded; False: the
    runtime was already loaded by another library, so its own setting stays; None: unknown,
    e.g. not Linux, or not set by deepmath)."""
    return dict(_WAIT_POLICY)

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
        "openmp_wait": wait_policy(),
        "malloc": malloc_policy(),
    }
    if _kernels is not None:
        build = _kernels.build_info()
        info.update(build=build, openmp=build["openmp"], max_threads=_kernels.max_threads(),
                    cpu_features=_kernels.cpu_features(), kernel_paths=_kernels.simd_paths())
        info["backends"].append("native")
    if importlib.util.find_spec("cupy") is not None:  # found, never imported here
        info["backends"].append("cupy")
    return info


def _wait_line(policy):
    """show_config()'s line for wait_policy()."""
    if policy["set_by"] == "deepmath":
        state = {True: "applied when the OpenMP runtime loaded",
                 False: "NOT applied: the OpenMP runtime was loaded before deepmath",
                 None: "set before the OpenMP runtime loaded"}[policy["effective"]]
        return f"passive, set by deepmath ({state}; DEEPMATH_OMP_WAIT=runtime to keep the default)"
    return f"{policy['policy']} (set by {policy['set_by']})"


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
            ("openmp wait", _wait_line(info["openmp_wait"])),
            ("memory", info["malloc"]),
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
