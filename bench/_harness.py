"""Shared helpers of bench/: timing loops, one process per measurement, thread pinning, statistics.

`bench/run.py` (the parent) never imports a measured library. For every (case, library, round)
it starts this file as a child process:

    python bench/_harness.py --child MODULE CASE LIBRARY --repeats N --threads T [--quick]
                             [--backend numpy|native|cupy] [--check FILE.npz]

The child pins the library's threads, runs `MODULE.run_case(...)` and prints one JSON line on
stdout: {"seconds": [...], "info": {...}}. A fresh process per measurement means no thread pool
left spinning by one library (OpenBLAS, OpenMP) can slow the next one (DESIGN.md, Measuring).

`python bench/_harness.py --info` prints deepmath's version, backend and show_config() as JSON.
"""
import argparse
import contextlib
import importlib
import importlib.metadata
import importlib.util
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
LIBRARIES = ("deepmath", "numpy", "torch", "tensorflow")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "DEEPMATH_NUM_THREADS")
WARMUP = 3  # untimed calls before the timed ones: first-call allocations, caches, lazy imports


# ---- used by the benchmark modules, in the child ---------------------------------------------

def time_calls(fn, repeats, warmup=WARMUP):
    """Seconds taken by each of `repeats` calls of `fn()`, after `warmup` untimed calls.

    The garbage collector stays on: collecting the reference cycles a graph leaves behind is
    part of what a user pays for. On deepmath's GPU backend each call ends with a device
    synchronisation, so the time is the kernels' and not their launch's."""
    sync = _gpu_sync()
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        seconds.append(time.perf_counter() - start)
    return seconds


def deepmath_arrays(*arrays):
    """The arrays where deepmath's selected backend computes: themselves on the CPU, copies
    on the GPU under `--backend cupy` (so kernel benchmarks time the device)."""
    import deepmath as dm
    xp = dm.get_backend().xp
    return tuple(xp.asarray(a) for a in arrays)


def _host(value):
    """A NumPy array of an output: a GPU array (CuPy's `.get()`) is copied back."""
    if hasattr(value, "get") and not isinstance(value, (np.ndarray, dict)):
        return value.get()
    return np.asarray(value)


def _gpu_sync():
    """The device synchronisation when deepmath runs on its GPU backend, else a no-op."""
    dm = sys.modules.get("deepmath")
    if dm is None or dm.get_backend().name != "cupy":
        return lambda: None
    return dm.get_backend().xp.cuda.Device().synchronize


# ---- libraries and threads -------------------------------------------------------------------

def installed(library):
    """True if `library` can be imported here (looked up, not imported)."""
    return importlib.util.find_spec(library) is not None


def default_threads():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def child_environment(threads, backend=None):
    """os.environ with every thread-count variable set to `threads` (and DEEPMATH_BACKEND)."""
    env = dict(os.environ)
    env.update({name: str(threads) for name in THREAD_VARIABLES})
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"  # TensorFlow's start-up chatter, on stderr anyway
    if backend:
        env["DEEPMATH_BACKEND"] = backend
    return env


def prepare(library, threads, backend=None):
    """Import `library` in this (child) process, pin its threads; return its version and threads.

    The environment variables already limit OpenMP and BLAS pools; the frameworks' own pools
    are set here through their APIs, before any computation."""
    if library == "deepmath":
        import deepmath as dm
        if backend:
            dm.set_backend(backend)
        dm.set_num_threads(threads)
        return {"version": dm.__version__, "threads": dm.get_num_threads(),
                "backend": dm.get_backend().name}
    if library == "torch":
        import torch
        torch.set_num_threads(threads)
        return {"version": torch.__version__, "threads": torch.get_num_threads()}
    if library == "tensorflow":
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        return {"version": tf.__version__, "threads": threads}
    if library == "numpy":
        return {"version": np.__version__, "threads": threads}
    raise ValueError(f"unknown library {library!r}; known: {', '.join(LIBRARIES)}")


# ---- the parent's side of a measurement ----------------------------------------------------

class ChildFailed(RuntimeError):
    """A child process exited with an error; the message holds its stderr."""


def run_child(args, env):
    """Run this file with `args` in a new Python process; return the JSON of its last line."""
    command = [sys.executable, str(Path(__file__).resolve())] + [str(a) for a in args]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise ChildFailed(f"{' '.join(command[1:])} exited with status {proc.returncode}\n"
                          f"{proc.stderr.strip()}")
    return json.loads(lines[-1])


def measure(module, case, library, settings, check_file=None):
    """One round: time `case` on `library` in its own process; {"seconds": [...], "info": {}}.

    `settings` holds repeats, threads, quick and backend. With `check_file`, the child first
    saves the case's outputs (values and gradients) there, for the parent to compare."""
    args = ["--child", module, case, library, "--repeats", settings["repeats"],
            "--threads", settings["threads"]]
    if settings["quick"]:
        args.append("--quick")
    if settings["backend"]:
        args += ["--backend", settings["backend"]]
    if check_file:
        args += ["--check", check_file]
    return run_child(args, child_environment(settings["threads"], settings["backend"]))


def deepmath_info(threads, backend=None):
    """deepmath's version, file, backend and show_config() text, from a child process."""
    return run_child(["--info", "--threads", threads] + (["--backend", backend] if backend else []),
                     child_environment(threads, backend))


# ---- checks and statistics -------------------------------------------------------------------

def compare_outputs(reference, other, rtol, atol):
    """Messages for each array of `other` that differs from `reference` (empty: they agree).

    Arrays agree when |other - reference| <= atol + rtol * |reference| everywhere."""
    problems = []
    for name, ref in reference.items():
        if name not in other:
            problems.append(f"{name}: missing")
            continue
        ref, got = np.asarray(ref, dtype=np.float64), np.asarray(other[name], dtype=np.float64)
        if ref.shape != got.shape:
            problems.append(f"{name}: shape {got.shape} instead of {ref.shape}")
        elif not np.allclose(got, ref, rtol=rtol, atol=atol):
            error = np.max(np.abs(got - ref))
            problems.append(f"{name}: max |difference| {error:.3g} (max |value| "
                            f"{np.max(np.abs(ref)):.3g}, rtol={rtol}, atol={atol})")
    return problems


def max_differences(reference, other):
    """Largest |other - reference| for each array name present in both (for the record)."""
    differences = {}
    for name, ref in reference.items():
        ref, got = np.asarray(ref, np.float64), np.asarray(other.get(name, np.nan), np.float64)
        if ref.shape == got.shape:
            differences[name] = float(np.max(np.abs(got - ref), initial=0.0))
    return differences


def summarize(seconds):
    """Median, quartiles, min and max of timings in seconds, returned in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    return {"median_ms": float(median), "q1_ms": float(q1), "q3_ms": float(q3),
            "min_ms": float(ms.min()), "max_ms": float(ms.max()), "n": int(ms.size)}


# ---- the machine and the results file ------------------------------------------------------

def cpu_model():
    """The CPU's name from /proc/cpuinfo, else what `platform` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_version(name):
    """The installed version of a distribution, or None (nothing is imported)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info():
    """CPU, cores, load, OS and the versions of Python and of every library that may be measured.

    A load average near the number of cores means something else was running: expect noise."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": default_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": {name: package_version(name) for name in ("numpy", "torch", "tensorflow")},
    }


def write_json(path, data):
    """Write `data` as JSON to `path` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# ---- the child's side ------------------------------------------------------------------------

def _child(opts):
    """Pin threads, optionally save the case's outputs, time it; return the JSON to print."""
    info = prepare(opts.library, opts.threads, opts.backend)
    module = importlib.import_module(opts.module)
    if opts.check:
        outputs = module.outputs(opts.case, opts.library, opts.quick)
        np.savez(opts.check, **{k: _host(v) for k, v in outputs.items()})
    seconds = module.run_case(opts.case, opts.library, opts.repeats, opts.quick)
    if len(seconds) != opts.repeats or min(seconds) <= 0:
        raise RuntimeError(f"{opts.module}.run_case returned {len(seconds)} timings "
                           f"(min {min(seconds, default=0)}), expected {opts.repeats} positive")
    return {"seconds": [float(s) for s in seconds], "info": info}


def _info(opts):
    """deepmath as the children will see it (same environment, same backend)."""
    import deepmath as dm
    info = prepare("deepmath", opts.threads, opts.backend)
    text = io.StringIO()
    dm.show_config(file=text)
    return dict(info, file=dm.__file__, available_backends=dm.available_backends(),
                show_config=text.getvalue())


def main(argv=None):
    """Entry point of a child process: one JSON line on stdout, everything else on stderr."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("MODULE", "CASE", "LIBRARY"))
    parser.add_argument("--info", action="store_true")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend")
    parser.add_argument("--check")
    opts = parser.parse_args(argv)
    if opts.child:
        opts.module, opts.case, opts.library = opts.child
    with contextlib.redirect_stdout(sys.stderr):  # library prints must not spoil the JSON line
        result = _info(opts) if opts.info else _child(opts)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
