#!/usr/bin/env python
"""Training speed, accuracy and memory of the book's MNIST MLP and CNN: deepmath vs Keras, PyTorch.

    python bench/training.py                 # both models, 3 rounds per library
    python bench/training.py --quick         # smoke run: 1 round, 2 epochs of 1 000 samples
    python bench/training.py --models cnn --libraries deepmath torch --rounds 5

Each (model, library, round) trains in its own process (bench/_training_child.py), rounds
alternating between libraries (A B C A B C); every library starts a round from the same initial
weights. The first epoch of a round is warm-up, reported apart; the median pools the other
epochs of all rounds. The table sets the ratios beside the targets of issue 4; everything,
raw numbers included, goes to bench/results/training.json. How to read it: bench/README.md.
"""
import argparse
import datetime
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import _harness
import _training_child as child

CHILD = Path(child.__file__).resolve()
OUT = _harness.BENCH_DIR / "results" / "training.json"
REFERENCE = "deepmath"
PEERS = ("torch", "tensorflow")
EPOCHS = {"mlp": 3, "cnn": 2}           # per round, the first one being warm-up
QUICK = {"epochs": 2, "samples": 1000, "rounds": 1}
ROUNDS = 3
# Issue 4, "Speed": peer seconds per epoch / deepmath's, at least.
SPEED_TARGETS = {"mlp": {"torch": 5.0, "tensorflow": 5.0}, "cnn": {"torch": 2.0, "tensorflow": 4.0}}
ACCURACY_POINTS = 1.0                   # |deepmath - Keras| test accuracy, in points
MEMORY_NOTE = ("peak_rss_mb: the process' peak RSS (max of ru_maxrss and VmHWM), imports "
               "included. training_increase_mb: VmHWM after training minus VmRSS just before "
               "the first fit, VmHWM having been reset there (echo 5 > /proc/self/clear_refs); "
               "null where the kernel refused the reset and the peak did not grow.")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['rounds']} round, {QUICK['epochs']} epochs (one warm-up) "
                             f"on {QUICK['samples']} samples")
    parser.add_argument("--epochs", type=int,
                        help="epochs per round, warm-up included (default: mlp 3, cnn 2)")
    parser.add_argument("--rounds", type=int, help=f"processes per library (default {ROUNDS})")
    parser.add_argument("--threads", type=int, default=_harness.default_threads(),
                        help="threads for every library (default: all usable cores)")
    parser.add_argument("--libraries", nargs="+", choices=(REFERENCE,) + PEERS,
                        default=[REFERENCE, *PEERS], help="peers to time (when installed)")
    parser.add_argument("--models", nargs="+", choices=child.MODELS, default=list(child.MODELS))
    parser.add_argument("--out", type=Path, default=OUT, help="the JSON file to write")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (QUICK["rounds"] if args.quick else ROUNDS)
    args.samples = QUICK["samples"] if args.quick else None
    args.epochs = {m: args.epochs or (QUICK["epochs"] if args.quick else EPOCHS[m])
                   for m in args.models}
    if min(args.rounds, args.threads, *args.epochs.values()) < 1:
        parser.error("--rounds, --threads and --epochs must be >= 1")
    return args


# ---- measuring -------------------------------------------------------------------------------

def run_child(model, library, seed, args):
    """One round in a fresh process; the dict it prints."""
    command = [sys.executable, str(CHILD), model, library, "--epochs", str(args.epochs[model]),
               "--seed", str(seed), "--threads", str(args.threads)]
    if args.samples:
        command += ["--samples", str(args.samples)]
    proc = subprocess.run(command, env=_harness.child_environment(args.threads),
                          capture_output=True, text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise _harness.ChildFailed(f"{' '.join(command[1:])} exited with status "
                                   f"{proc.returncode}\n{proc.stderr.strip()[-3000:]}")
    return json.loads(lines[-1])


def measure_model(model, libs, args, errors):
    """Rounds alternating over `libs`; the raw records. A library whose child fails is
    dropped for the remaining rounds and its error kept in `errors`."""
    records, failed = [], set()
    for r in range(args.rounds):
        for lib in libs:
            if lib in failed:
                continue
            print(f"training {model}: {lib}, round {r + 1}/{args.rounds}", file=sys.stderr,
                  flush=True)
            try:
                records.append(dict(run_child(model, lib, r, args), round=r))
            except _harness.ChildFailed as exc:
                failed.add(lib)
                errors.append({"model": model, "library": lib, "round": r, "error": str(exc)})
                print(f"FAILED: {exc}", file=sys.stderr)
    return records


# ---- statistics and targets ------------------------------------------------------------------

def _median(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def model_statistics(records):
    """Per library: epoch times (warm-up apart), accuracy, memory; ratios peer / deepmath."""
    libs = list(dict.fromkeys(r["library"] for r in records))
    stats, round_medians = {}, {}
    for lib in libs:
        mine = [r for r in records if r["library"] == lib]
        timed = [s for r in mine for s in r["epoch_seconds"][1:]]
        round_medians[lib] = {r["round"]: float(np.median(r["epoch_seconds"][1:]))
                              for r in mine if len(r["epoch_seconds"]) > 1}
        stats[lib] = {
            "epoch": _harness.summarize(timed) if timed else None,
            "warmup_s": _median([r["epoch_seconds"][0] for r in mine]),
            "test_accuracy": float(np.mean([r["test_accuracy"] for r in mine])),
            "test_accuracy_per_round": [r["test_accuracy"] for r in mine],
            "test_loss": float(np.mean([r["test_loss"] for r in mine])),
            "peak_rss_mb": _median([r["memory"]["peak_rss_mb"] for r in mine]),
            "training_increase_mb": _median([r["memory"]["training_increase_mb"] for r in mine]),
        }
    ratios = {}
    if REFERENCE in stats and stats[REFERENCE]["epoch"]:
        ref = stats[REFERENCE]["epoch"]["median_ms"]
        for lib in libs:
            if lib != REFERENCE and stats[lib]["epoch"]:
                rounds = round_medians[REFERENCE].keys() & round_medians[lib].keys()
                ratios[lib] = {"ratio": stats[lib]["epoch"]["median_ms"] / ref,
                               "per_round": [round_medians[lib][i] / round_medians[REFERENCE][i]
                                             for i in sorted(rounds)]}
    return {"libraries": libs, "stats": stats, "ratios": ratios}


def targets(results):
    """The issue's targets that this run can check: [{model, check, value, target, met}]."""
    checks = []
    for model, res in results.items():
        stats, ratios = res["stats"], res["ratios"]
        for peer, goal in SPEED_TARGETS[model].items():
            if peer in ratios:
                value = ratios[peer]["ratio"]
                checks.append({"model": model, "check": f"speed vs {peer}", "value": value,
                               "target": f">= {goal:g}x", "met": value >= goal})
        if REFERENCE in stats and "tensorflow" in stats:
            diff = 100 * (stats[REFERENCE]["test_accuracy"] - stats["tensorflow"]["test_accuracy"])
            checks.append({"model": model, "check": "accuracy - Keras (points)", "value": diff,
                           "target": f"within +-{ACCURACY_POINTS:g}",
                           "met": abs(diff) <= ACCURACY_POINTS})
        if model == "cnn" and REFERENCE in stats and "torch" in stats:
            mine, theirs = stats[REFERENCE]["peak_rss_mb"], stats["torch"]["peak_rss_mb"]
            if mine is not None and theirs is not None:
                checks.append({"model": model, "check": "peak RSS MB vs torch", "value": mine,
                               "target": f"<= {theirs:.0f}", "met": mine <= theirs})
    return checks


# ---- reporting -------------------------------------------------------------------------------

def _fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


def table_rows(results):
    rows = [("model", "library", "warm-up s", "median s/epoch", "IQR s", "n",
             "peer/deepmath [per round]", "target", "test acc %", "test loss", "peak RSS MB",
             "train +RSS MB")]
    for model, res in results.items():
        for lib in res["libraries"]:
            s, ratio = res["stats"][lib], res["ratios"].get(lib)
            epoch = s["epoch"]
            if ratio:
                lo, hi = min(ratio["per_round"]), max(ratio["per_round"])
                vs = f"{ratio['ratio']:.2f}x [{lo:.2f}-{hi:.2f}]"
            else:
                vs = "reference" if lib == REFERENCE else "-"
            goal = SPEED_TARGETS[model].get(lib)
            rows.append((model, lib, _fmt(s["warmup_s"], ".3f"),
                         _fmt(epoch and epoch["median_ms"] / 1e3, ".3f"),
                         f"{epoch['q1_ms'] / 1e3:.3f}-{epoch['q3_ms'] / 1e3:.3f}" if epoch else "-",
                         str(epoch["n"]) if epoch else "0", vs,
                         f">= {goal:g}x" if goal else "", f"{100 * s['test_accuracy']:.2f}",
                         f"{s['test_loss']:.4f}",
                         _fmt(s["peak_rss_mb"], ".0f"), _fmt(s["training_increase_mb"], ".1f")))
    return rows


def print_report(run, file=sys.stdout):
    """The table, then each target of the issue with met / NOT MET."""
    rows = table_rows(run["results"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [c.ljust(w) if i in (0, 1, 6, 7) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths))]
        print("  ".join(cells).rstrip(), file=file)
    print("peer/deepmath > 1: deepmath is that many times faster; < 1: slower.", file=file)
    for t in run["targets"]:
        print(f"  {t['model']}: {t['check']}: {t['value']:.2f} (target {t['target']}): "
              f"{'met' if t['met'] else 'NOT MET'}", file=file)
    if run["synthetic_data"]:
        print(f"data: {run['data']}", file=file)
    for e in run["errors"]:
        print(f"FAILED {e['model']} on {e['library']} (round {e['round'] + 1}): "
              f"{e['error'].splitlines()[-1]}", file=file)


def main(argv=None):
    """Measure, print, write the JSON; exit status 1 if a child failed."""
    args = parse_args(argv)
    libs = [REFERENCE] + [lib for lib in PEERS if lib in args.libraries and _harness.installed(lib)]
    try:
        deepmath = _harness.deepmath_info(args.threads)
    except _harness.ChildFailed as exc:
        print(f"error: cannot run deepmath: {exc}", file=sys.stderr)
        return 2
    machine = _harness.machine_info()
    machine["versions"]["deepmath"] = deepmath["version"]
    errors = []
    results = {model: model_statistics(records) | {"rounds": records}
               for model in args.models
               if (records := measure_model(model, libs, args, errors))}
    run = {
        "schema": "deepmath-bench-training/1",
        "created": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": [sys.executable] + sys.argv,
        "settings": {"quick": args.quick, "rounds": args.rounds, "threads": args.threads,
                     "epochs": args.epochs, "warmup_epochs": 1, "batch_size": child.BATCH,
                     "train_samples": args.samples or child.N_TRAIN, "test_samples": child.N_TEST,
                     "libraries": libs, "models": args.models, "memory_note": MEMORY_NOTE},
        "data": child.data_source(),
        "synthetic_data": child.mnist_files() is None,
        "machine": machine,
        "deepmath": deepmath,
        "results": results,
        "targets": targets(results),
        "errors": errors,
    }
    print(f"deepmath {deepmath['version']} ({deepmath['backend']} backend), {args.threads} "
          f"thread(s), {machine['cpu']}; {run['data']}")
    print_report(run)
    _harness.write_json(args.out, run)
    print(f"wrote {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
