"""GEMM float32: deepmath's matmul against numpy (`a @ b`, OpenBLAS) and PyTorch (`torch.mm`).

Cases: square n x n products, n in {32, 64, 128, 256, 512, 1024, 2048}, and the book's skinny
shapes (m x k . k x n): 32x784.784x8 and 32x3136.3136x10 (MNIST dense heads),
768x128.128x384 and 768x128.128x512 (attention projections). deepmath is timed through
`get_backend().matmul`, the function the autodiff op calls (the Cython fast path, no op, no
graph). `--quick` shrinks every dimension to at most 128 (smoke run).

Run through the suite (one process per library, A B A B):
    python bench/run.py --only gemm
Or directly, for GFLOP/s, the measured FMA peak, % of peak for n >= 512 and the OpenBLAS
kernel numpy runs (threadpoolctl), all libraries in this one process:
    python bench/bench_gemm.py [--quick] [--threads N] [--repeats N]
"""
import argparse
import os
import sys

import numpy as np

import _harness

SQUARE = [32, 64, 128, 256, 512, 1024, 2048]
SKINNY = [(32, 784, 8), (32, 3136, 10), (768, 128, 384), (768, 128, 512)]  # (m, k, n)
CASES = [f"square_{n}" for n in SQUARE] + [f"skinny_{m}x{k}x{n}" for m, k, n in SKINNY]
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}  # float32, k up to 3136, different summation orders
SEED = 0
QUICK_MAX = 128


def shape(case, quick=False):
    """(m, k, n) of a case; --quick caps every dimension at QUICK_MAX."""
    kind, dims = case.split("_")
    m, k, n = (int(dims),) * 3 if kind == "square" else map(int, dims.split("x"))
    if quick:
        m, k, n = (min(d, QUICK_MAX) for d in (m, k, n))
    return m, k, n


def flops(case, quick=False):
    m, k, n = shape(case, quick)
    return 2.0 * m * k * n


def inputs(case, quick=False):
    m, k, n = shape(case, quick)
    rng = np.random.default_rng(SEED)
    return (rng.standard_normal((m, k)).astype(np.float32),
            rng.standard_normal((k, n)).astype(np.float32))


# ---- the protocol (bench/README.md) --------------------------------------------------------

def libraries(case):
    return ["deepmath", "numpy", "torch"]


def _step(case, library, quick):
    a, b = inputs(case, quick)
    if library == "deepmath":
        from deepmath.backend import get_backend
        matmul = get_backend().matmul
        a, b = _harness.deepmath_arrays(a, b)
        return lambda: matmul(a, b)
    if library == "numpy":
        return lambda: a @ b
    import torch
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return lambda: torch.mm(ta, tb)


def run_case(case, library, repeats, quick=False):
    step = _step(case, library, quick)
    return _harness.time_calls(step, repeats)


def outputs(case, library, quick=False):
    out = _step(case, library, quick)()
    return {"c": np.array(out.numpy() if hasattr(out, "numpy") else out)}


# ---- standalone: GFLOP/s and % of the FMA peak -------------------------------------------------

def _openblas_architecture():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    found = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} "
             f"({i.get('num_threads')} threads)" for i in threadpool_info()
             if i.get("internal_api") in ("openblas", "mkl", "blis")]
    return "; ".join(found) or "no BLAS found by threadpoolctl"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=_harness.default_threads())
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    for name in _harness.THREAD_VARIABLES:
        os.environ[name] = str(args.threads)
    import deepmath as dm
    from deepmath import _kernels
    dm.set_num_threads(args.threads)
    try:  # numpy (imported by _harness) read OPENBLAS_NUM_THREADS already: set it live
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        pass
    libs = ["deepmath", "numpy"]
    try:
        import torch
        torch.set_num_threads(args.threads)
        libs.append("torch")
    except ImportError:
        pass
    peak = _kernels.fma_peak_gflops(0.5)
    print(f"threads {args.threads}; deepmath kernel {_kernels.gemm_kernel_name()}; "
          f"numpy BLAS: {_openblas_architecture()}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print(f"measured FMA peak: {peak:.1f} GFLOP/s float32 on {args.threads} thread(s)")
    print(f"{'case':24s} " + " ".join(f"{lib + ' ms':>12s} {'GF/s':>7s}" for lib in libs)
          + "  np/dm  torch/dm  dm %peak")
    for case in CASES:
        f = flops(case, args.quick)
        repeats = args.repeats or max(5, min(200, int(2e9 / f)))
        med = {}
        for lib in libs:  # alternate libraries over 3 rounds
            med[lib] = []
        for _ in range(3):
            for lib in libs:
                med[lib] += run_case(case, lib, repeats, args.quick)
        med = {lib: float(np.median(v)) for lib, v in med.items()}
        row = f"{case:24s} " + " ".join(f"{med[lib] * 1e3:12.4f} {f / med[lib] * 1e-9:7.1f}"
                                        for lib in libs)
        row += f"  {med['numpy'] / med['deepmath']:5.2f}"
        row += f"  {med['torch'] / med['deepmath']:8.2f}" if "torch" in med else "         -"
        m, k, n = shape(case, args.quick)
        if min(m, k, n) >= 512:
            row += f"  {f / med['deepmath'] * 1e-9 / peak * 100:7.1f}%"
        print(row, flush=True)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
