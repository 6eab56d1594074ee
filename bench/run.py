#!/usr/bin/env python
"""Time deepmath against numpy, PyTorch and TensorFlow; print ratios and save them as JSON.

    python bench/run.py                      # every bench/bench_*.py, full settings
    python bench/run.py --quick              # smoke run: few repeats, well under a minute
    python bench/run.py --only autodiff      # one benchmark; autodiff:mlp_step for one case

Each (case, library, round) is timed in its own process; rounds alternate between libraries
(A B A B ...); the table gives medians over all rounds and the ratio peer / deepmath. How to
read it and how to add a benchmark: bench/README.md.
"""
import argparse
import datetime
import importlib
import sys
import tempfile
from pathlib import Path

import numpy as np

import _harness

RESULTS_DIR = _harness.BENCH_DIR / "results"
REFERENCE = "deepmath"  # ratios are peer / deepmath; the gradient check compares to deepmath
DEFAULTS = {"full": {"rounds": 5, "repeats": 30}, "quick": {"rounds": 2, "repeats": 5}}
DEFAULT_TOLERANCE = {"rtol": 1e-5, "atol": 1e-8}


class CheckFailed(RuntimeError):
    """Two libraries computed different values or gradients for the same case."""


# ---- what to run -----------------------------------------------------------------------------

def discover():
    """Benchmark name -> module name, for every bench/bench_NAME.py."""
    return {path.stem[len("bench_"):]: path.stem
            for path in sorted(_harness.BENCH_DIR.glob("bench_*.py"))}


def parse_args(argv, names):
    """Command-line options; --rounds and --repeats default from --quick."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, small sizes")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help=f"benchmarks (or NAME:CASE) to run; available: {', '.join(names)}")
    parser.add_argument("--repeats", type=int, help="timed calls per round (after warm-up)")
    parser.add_argument("--rounds", type=int, help="processes per library, alternated")
    parser.add_argument("--threads", type=int, default=_harness.default_threads(),
                        help="threads for every library (default: all usable cores)")
    parser.add_argument("--backend", choices=["numpy", "native", "cupy"],
                        help="deepmath backend (default: deepmath's own default; cupy: the "
                             "GPU, each timed call synchronised)")
    parser.add_argument("--libraries", nargs="+", choices=_harness.LIBRARIES,
                        default=list(_harness.LIBRARIES), help="peers to time (when installed)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the JSON")
    parser.add_argument("--save-as", metavar="NAME",
                        help="also write the whole run to OUT/NAME.json")
    args = parser.parse_args(argv)
    preset = DEFAULTS["quick" if args.quick else "full"]
    args.rounds = args.rounds or preset["rounds"]
    args.repeats = args.repeats or preset["repeats"]
    if min(args.rounds, args.repeats, args.threads) < 1:
        parser.error("--rounds, --repeats and --threads must be >= 1")
    return args


def select(benchmarks, only):
    """[(name, module, cases)] for the benchmarks and cases named in `only` (all if None)."""
    wanted = {}
    for item in only or benchmarks:
        name, _, case = item.partition(":")
        if name not in benchmarks:
            raise SystemExit(f"unknown benchmark {name!r}; available: {', '.join(benchmarks)}")
        wanted.setdefault(name, []).append(case)
    selection = []
    for name, cases in wanted.items():
        module = importlib.import_module(benchmarks[name])
        unknown = [c for c in cases if c and c not in module.CASES]
        if unknown:
            raise SystemExit(f"unknown case(s) {unknown} of {name}; available: {module.CASES}")
        chosen = module.CASES if "" in cases else [c for c in module.CASES if c in cases]
        selection.append((name, module, chosen))
    return selection


def case_libraries(module, case, requested):
    """The libraries to time for a case: deepmath first, then the installed peers."""
    libs = [lib for lib in module.libraries(case)
            if (lib == REFERENCE or lib in requested) and _harness.installed(lib)]
    return sorted(libs, key=lambda lib: lib != REFERENCE)


# ---- measuring -------------------------------------------------------------------------------

def measure_case(module, case, libs, settings, rounds):
    """Alternate rounds over `libs`, one process each; check outputs after round 0.

    Returns (records, check): one record per process, with its raw timings."""
    records, check = [], None
    with tempfile.TemporaryDirectory() as folder:
        for r in range(rounds):
            for lib in libs:
                check_file = Path(folder) / f"{lib}.npz" if r == 0 else None
                result = _harness.measure(module.__name__, case, lib, settings, check_file)
                records.append({"round": r, "library": lib, **result})
            if r == 0:
                check = verify(module, case, libs, folder)
    return records, check


def verify(module, case, libs, folder):
    """Compare every library's first-step outputs with the first library's (deepmath's).

    Raises CheckFailed when they differ beyond the module's TOLERANCE: timings of two
    libraries computing different things mean nothing."""
    outputs = {lib: dict(np.load(Path(folder) / f"{lib}.npz")) for lib in libs}
    reference = outputs[libs[0]]
    tolerance = getattr(module, "TOLERANCE", DEFAULT_TOLERANCE)
    check = {"reference": libs[0], "tolerance": tolerance, "max_difference": {}}
    for lib in libs[1:]:
        problems = _harness.compare_outputs(reference, outputs[lib], **tolerance)
        if problems:
            raise CheckFailed(f"{module.__name__}:{case}: {lib} and {libs[0]} disagree:\n  "
                              + "\n  ".join(problems))
        check["max_difference"][lib] = _harness.max_differences(reference, outputs[lib])
    return check


def statistics(records, libs):
    """Per-library summary over all rounds, and ratios peer / deepmath (overall, per round)."""
    seconds = {lib: [s for r in records if r["library"] == lib for s in r["seconds"]]
               for lib in libs}
    stats = {lib: _harness.summarize(seconds[lib]) for lib in libs}
    ratios = {}
    if libs and libs[0] == REFERENCE:
        round_medians = {}
        for r in records:
            round_medians.setdefault(r["library"], []).append(float(np.median(r["seconds"])))
        ref = round_medians[REFERENCE]
        for lib in libs[1:]:
            ratios[lib] = {
                "ratio": stats[lib]["median_ms"] / stats[REFERENCE]["median_ms"],
                "per_round": [p / d for p, d in zip(round_medians[lib], ref)],
            }
    return stats, ratios


def run_benchmark(name, module, cases, args, settings):
    """Measure every selected case of one benchmark module; its results as a dict."""
    result = {"module": module.__name__, "description": (module.__doc__ or "").split("\n")[0],
              "cases": {}}
    for case in cases:
        libs = case_libraries(module, case, args.libraries)
        print(f"{name}:{case}: {', '.join(libs)} - {args.rounds} rounds of {args.repeats}",
              file=sys.stderr, flush=True)
        records, check = measure_case(module, case, libs, settings, args.rounds)
        stats, ratios = statistics(records, libs)
        result["cases"][case] = {"libraries": libs, "check": check, "stats": stats,
                                 "ratios": ratios, "rounds": records}
    return result


# ---- reporting -------------------------------------------------------------------------------

def table_rows(benchmarks):
    """One row of strings per (benchmark, case, library)."""
    rows = [("benchmark", "case", "library", "median ms", "IQR ms", "min-max ms", "n",
             "peer/deepmath [per round]")]
    for name, bench in benchmarks.items():
        for case, res in bench["cases"].items():
            for lib in res["libraries"]:
                s, ratio = res["stats"][lib], res["ratios"].get(lib)
                if ratio:
                    lo, hi = min(ratio["per_round"]), max(ratio["per_round"])
                    vs = f"{ratio['ratio']:.2f}x [{lo:.2f}-{hi:.2f}]"
                else:
                    vs = "reference" if lib == REFERENCE else ""
                rows.append((name, case, lib, f"{s['median_ms']:.3f}",
                             f"{s['q1_ms']:.3f}-{s['q3_ms']:.3f}",
                             f"{s['min_ms']:.3f}-{s['max_ms']:.3f}", str(s["n"]), vs))
    return rows


def print_table(benchmarks, file=sys.stdout):
    """The summary table, columns aligned; numbers right-aligned."""
    rows = table_rows(benchmarks)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(w) if i < 3 or i == 7 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip(), file=file)
    print("peer/deepmath > 1: deepmath is that many times faster; < 1: slower.", file=file)


def save(run, out, save_as=None):
    """One JSON per benchmark (<name>-<timestamp>.json), latest.json for the whole run, and
    <save_as>.json when asked."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    paths = []
    for name, bench in run["benchmarks"].items():
        path = out / f"{name}-{stamp}.json"
        _harness.write_json(path, dict(run, benchmarks={name: bench}))
        paths.append(path)
    whole = [out / "latest.json"] + ([out / f"{save_as}.json"] if save_as else [])
    for path in whole:
        _harness.write_json(path, run)
    return paths + whole


def main(argv=None):
    """Run the selected benchmarks; exit status 1 if a child or a gradient check fails."""
    benchmarks = discover()
    args = parse_args(argv, list(benchmarks))
    selection = select(benchmarks, args.only)
    settings = {"quick": args.quick, "repeats": args.repeats, "threads": args.threads,
                "backend": args.backend}
    try:
        deepmath = _harness.deepmath_info(args.threads, args.backend)
    except _harness.ChildFailed as exc:
        last = str(exc).strip().splitlines()[-1]
        print(f"error: cannot run deepmath: {last if 'GPUUnavailableError' in last else exc}",
              file=sys.stderr)
        return 2
    machine = _harness.machine_info()
    machine["versions"]["deepmath"] = deepmath["version"]
    run = {
        "schema": "deepmath-bench/1",
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": [sys.executable] + sys.argv,
        "settings": dict(settings, rounds=args.rounds, warmup=_harness.WARMUP,
                         libraries=args.libraries),
        "machine": machine,
        "deepmath": deepmath,
        "benchmarks": {},
    }
    try:
        for name, module, cases in selection:
            run["benchmarks"][name] = run_benchmark(name, module, cases, args, settings)
    except (CheckFailed, _harness.ChildFailed) as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"deepmath {deepmath['version']} ({deepmath['backend']} backend), "
          f"{args.threads} thread(s), {machine['cpu']}")
    print_table(run["benchmarks"])
    for path in save(run, args.out, args.save_as):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
