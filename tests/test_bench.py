"""bench/run.py runs end to end: a quick autodiff run exits 0, prints its table, writes its JSON.

Nothing here asserts a timing (DESIGN.md: never timed assertions in tests). torch and
TensorFlow are peers only: the run must succeed with or without them.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "bench" / "run.py"
CASES = ("scalar_graph_100", "mlp_step")

pytestmark = pytest.mark.skipif(not RUN.exists(), reason="bench/ is not beside tests/ (sdist?)")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The completed `run.py --quick --only autodiff` process and its results folder.

    TensorFlow is left out: its import alone takes seconds in each of the run's processes."""
    out = tmp_path_factory.mktemp("bench-results")
    command = [sys.executable, str(RUN), "--quick", "--only", "autodiff",
               "--libraries", "deepmath", "numpy", "torch", "--out", str(out)]
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    return proc, out


def test_quick_run_exits_cleanly(quick_run):
    proc, _ = quick_run
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_results_json_written(quick_run):
    proc, out = quick_run
    assert proc.returncode == 0, proc.stderr
    assert len(list(out.glob("autodiff-*.json"))) == 1
    run = json.loads((out / "latest.json").read_text())
    for key in ("schema", "created", "settings", "machine", "deepmath", "benchmarks"):
        assert key in run
    assert run["machine"]["versions"]["deepmath"]
    assert "deepmath" in run["deepmath"]["show_config"]
    cases = run["benchmarks"]["autodiff"]["cases"]
    assert set(cases) == set(CASES)
    for case in cases.values():
        assert case["libraries"][0] == "deepmath"
        assert case["stats"]["deepmath"]["median_ms"] > 0
        assert case["check"]["reference"] == "deepmath"
        assert {r["library"] for r in case["rounds"]} == set(case["libraries"])
        assert set(case["ratios"]) == set(case["libraries"][1:])
    assert "numpy" in cases["mlp_step"]["libraries"]


def test_summary_table_lists_cases(quick_run):
    proc, _ = quick_run
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout
    assert "median ms" in table
    for case in CASES:
        assert any(case in line and "deepmath" in line for line in table.splitlines())


def test_outputs_that_differ_are_reported():
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import _harness
    finally:
        sys.path.pop(0)
    same = {"g": [1.0, 2.0]}
    assert _harness.compare_outputs(same, {"g": [1.0, 2.0 + 1e-9]}, rtol=1e-6, atol=0) == []
    problems = _harness.compare_outputs(same, {"g": [1.0, 2.1]}, rtol=1e-6, atol=0)
    assert len(problems) == 1 and problems[0].startswith("g:")
    assert _harness.compare_outputs(same, {}, rtol=1e-6, atol=0) == ["g: missing"]
