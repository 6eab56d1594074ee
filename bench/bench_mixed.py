"""numpy BLAS and deepmath kernels alternating in one process, with deepmath's OpenMP wait policy
(OMP_WAIT_POLICY=passive, see deepmath/config.py) and without it (the runtime's spinning default).

Every library gets its own process elsewhere in bench/ because thread pools that spin after a
call slow whatever runs next; a user's script has no such luxury. Each step here is what such a
script does: a 256x256 float32 numpy matmul (OpenBLAS, its own threads) next to a deepmath
kernel call on the same cores:

- `matmul_relu`:    A @ B, then ReLU of 1M floats (deepmath's native relu)
- `matmul_maxpool`: A @ B, then 2x2 max pooling forward + backward on (8, 32, 32, 64)
- `relu_alone`, `maxpool_alone`, `matmul_alone`: each part by itself, for scale.

Case names ending in `_runtime_wait` run with DEEPMATH_OMP_WAIT=runtime: deepmath leaves the
OpenMP runtime's default (GNU OpenMP spins 300 000 polls after each parallel region).

Two ways to run it:

    python bench/run.py --only mixed          # the bench protocol: one table row per case
    python bench/bench_mixed.py [--rounds 5] [--repeats 200] [--threads 2]
                                              # policy vs no policy, A B A B, with ratios

In both, each measurement runs in a fresh process whose environment fixes the policy before
deepmath is imported (a runtime reads it once, when it loads); user settings of
OMP_WAIT_POLICY / GOMP_SPINCOUNT / KMP_BLOCKTIME are removed from that environment.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import _harness

PARTS = {"matmul_relu": ("matmul", "relu"), "matmul_maxpool": ("matmul", "maxpool"),
         "relu_alone": ("relu",), "maxpool_alone": ("maxpool",), "matmul_alone": ("matmul",)}
POLICIES = {"deepmath": {}, "runtime_wait": {"DEEPMATH_OMP_WAIT": "runtime"}}
CASES = [name + ("" if policy == "deepmath" else "_" + policy)
         for name in PARTS for policy in POLICIES]
MATMUL_N, RELU_N, POOL_SHAPE = 256, 1 << 20, (8, 32, 32, 64)
SEED = 0


def libraries(case):
    return ["deepmath"]


def _split(case):
    for policy in POLICIES:
        if policy != "deepmath" and case.endswith("_" + policy):
            return case[:-len(policy) - 1], policy
    return case, "deepmath"


def run_case(case, library, repeats, quick=False):
    """Timings of `repeats` steps, measured in a fresh process with the case's policy."""
    name, policy = _split(case)
    return _run_loop(name, policy, repeats)["seconds"]


def outputs(case, library, quick=False):
    name, _ = _split(case)
    return {k: v for k, v in zip(PARTS[name], _step(name)())}


# ---- the measured process ----------------------------------------------------------------------

def _step(name):
    """A function doing one step of case `name`; returns its results."""
    import deepmath as dm
    bk = dm.get_backend()
    rng = np.random.default_rng(SEED)
    a = rng.standard_normal((MATMUL_N, MATMUL_N)).astype(np.float32)
    b = rng.standard_normal((MATMUL_N, MATMUL_N)).astype(np.float32)
    x = rng.standard_normal(RELU_N).astype(np.float32)
    xp = rng.standard_normal(POOL_SHAPE).astype(np.float32)
    parts = {
        "matmul": lambda: a @ b,
        "relu": lambda: bk.relu(x),
        "maxpool": lambda: bk.max_pool2d_backward(xp.shape, *bk.max_pool2d_forward(xp, 2)[::-1],
                                                  2),
    }
    calls = [parts[p] for p in PARTS[name]]
    return lambda: [f() for f in calls]


def _loop_child(name, repeats, threads):
    import deepmath as dm
    dm.set_num_threads(threads)
    seconds = _harness.time_calls(_step(name), repeats)
    return {"seconds": seconds, "wait_policy": dm.config.wait_policy(),
            "threads": dm.get_num_threads()}


def _run_loop(name, policy, repeats, threads=None):
    """Run case `name` in a new process under `policy`; {"seconds": [...], "wait_policy": {}}."""
    env = dict(os.environ)
    for var in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "DEEPMATH_OMP_WAIT"):
        env.pop(var, None)
    env.update(POLICIES[policy])
    if threads is None:
        threads = int(env.get("DEEPMATH_NUM_THREADS") or _harness.default_threads())
    env.update({var: str(threads) for var in _harness.THREAD_VARIABLES})
    command = [sys.executable, str(Path(__file__).resolve()), "--loop", name, str(repeats),
               str(threads)]
    proc = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr}")
    result = json.loads(lines[-1])
    if policy == "deepmath" and result["wait_policy"]["effective"] is False:
        print("warning: deepmath's wait policy was not applied in the child "
              f"({result['wait_policy']})", file=sys.stderr)
    return result


# ---- standalone comparison ---------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--threads", type=int, default=_harness.default_threads())
    parser.add_argument("--cases", nargs="+", default=list(PARTS), choices=list(PARTS))
    args = parser.parse_args(argv)
    times = {(c, p): [] for c in args.cases for p in POLICIES}
    rounds = {(c, p): [] for c in args.cases for p in POLICIES}
    for _ in range(args.rounds):
        for case in args.cases:
            for policy in POLICIES:  # A B A B
                s = _run_loop(case, policy, args.repeats, args.threads)["seconds"]
                times[case, policy] += s
                rounds[case, policy].append(float(np.median(s)))
    print(f"mixed numpy + deepmath, {args.threads} thread(s), {args.rounds} rounds x "
          f"{args.repeats} steps; median ms per step (IQR)")
    print(f"{'case':<16} {'deepmath policy':>22} {'runtime default':>22}  "
          f"runtime/policy [per round]")
    for case in args.cases:
        cells = []
        for policy in POLICIES:
            q1, med, q3 = np.percentile(times[case, policy], [25, 50, 75]) * 1e3
            cells.append(f"{med:7.3f} ({q1:.3f}-{q3:.3f})")
        ratio = np.median(times[case, "runtime_wait"]) / np.median(times[case, "deepmath"])
        per_round = [r / d for r, d in zip(rounds[case, "runtime_wait"],
                                           rounds[case, "deepmath"])]
        print(f"{case:<16} {cells[0]:>22} {cells[1]:>22}  {ratio:6.2f}x "
              f"[{min(per_round):.2f}-{max(per_round):.2f}]")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--loop":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        print(json.dumps(_loop_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
    else:
        main()
