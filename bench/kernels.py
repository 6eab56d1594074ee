#!/usr/bin/env python
"""The kernel benchmarks: GEMM, conv2d, pooling, attention and the fused elementwise kernels,
deepmath vs numpy and PyTorch, written to bench/results/kernels.json.

    python bench/kernels.py             # all kernel benchmarks, full settings
    python bench/kernels.py --quick     # smoke run
    python bench/kernels.py --only gemm conv:conv3x3_28x28_1to32

Every option of bench/run.py applies (see bench/README.md)."""
import sys

import run

KERNEL_BENCHMARKS = ("gemm", "conv", "pool", "attention", "fused")


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--only" not in argv:
        present = [name for name in KERNEL_BENCHMARKS if name in run.discover()]
        if not present:
            print("no kernel benchmark found in bench/", file=sys.stderr)
            return 2
        argv += ["--only"] + present
    if "--save-as" not in argv:
        argv += ["--save-as", "kernels"]
    return run.main(argv)


if __name__ == "__main__":
    sys.exit(main())
