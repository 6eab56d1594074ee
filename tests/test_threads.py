"""Threading policy (deepmath/config.py): OpenMP wait policy set before the extension loads,
DEEPMATH_NUM_THREADS, set_num_threads reaching the kernels.

Each check runs in a fresh Python process: the OpenMP runtime reads its settings once, when it
loads, so only a new process shows what `import deepmath` does. GNU OpenMP's OMP_DISPLAY_ENV
and OMP_DISPLAY_AFFINITY make the runtime itself print what it uses (the wait policy it read,
the size of each team it starts); those checks skip on other runtimes.
"""
import json
import os
import subprocess
import sys

import pytest

import deepmath as dm

native = pytest.mark.skipif(not dm.config.native_available(), reason="extension not built")
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME", "DEEPMATH_OMP_WAIT",
                  "OMP_DISPLAY_ENV", "OMP_DISPLAY_AFFINITY", "DEEPMATH_NUM_THREADS",
                  "DEEPMATH_MALLOC") + dm.config._MALLOC_VARIABLES


def run_python(code, **env_vars):
    """Run `code` in a new Python with a clean threading environment plus `env_vars`;
    returns (stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}
    env.update(env_vars)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


REPORT = ("import json, os, deepmath as dm; print(json.dumps([dm.config.wait_policy(), "
          "os.environ.get('OMP_WAIT_POLICY'), dm.get_num_threads()]))")


def report(**env_vars):
    out, err = run_python(REPORT, **env_vars)
    policy, env_value, threads = json.loads(out.strip().splitlines()[-1])
    return policy, env_value, threads, out + err


@native
def test_passive_by_default_and_environment_restored():
    policy, env_value, _, text = report(OMP_DISPLAY_ENV="VERBOSE")
    assert policy["policy"] == "passive" and policy["set_by"] == "deepmath"
    assert env_value is None  # put back: child processes and later libraries keep theirs
    if sys.platform.startswith("linux") and dm.config._kernels.openmp_enabled():
        # False would mean: the runtime was loaded before deepmath.config set the variable
        # (deepmath/__init__.py must import .config before anything importing _kernels)
        assert policy["effective"] is True, policy
    if "GOMP_SPINCOUNT = " in text:  # GNU OpenMP printed the settings it read
        assert "GOMP_SPINCOUNT = '0'" in text  # passive: no spinning at all


@native
def test_user_setting_wins():
    policy, env_value, _, text = report(OMP_WAIT_POLICY="active", OMP_DISPLAY_ENV="TRUE")
    assert policy["set_by"] == "user" and "OMP_WAIT_POLICY=active" in policy["policy"]
    assert env_value == "active"
    if "OMP_WAIT_POLICY = " in text:
        assert "OMP_WAIT_POLICY = 'ACTIVE'" in text
    policy, _, _, _ = report(GOMP_SPINCOUNT="1000")
    assert policy["set_by"] == "user" and policy["effective"] is None


@native
def test_opt_out():
    policy, env_value, _, text = report(DEEPMATH_OMP_WAIT="runtime", OMP_DISPLAY_ENV="VERBOSE")
    assert policy["set_by"] == "DEEPMATH_OMP_WAIT=runtime" and env_value is None
    if "GOMP_SPINCOUNT = " in text:  # GNU OpenMP's own default: spin, then sleep
        assert "GOMP_SPINCOUNT = '0'" not in text


def test_bad_opt_out_value_warns():
    out, err = run_python("import warnings; warnings.simplefilter('always'); " + REPORT,
                          DEEPMATH_OMP_WAIT="sometimes")
    if dm.config.native_available():
        assert "DEEPMATH_OMP_WAIT" in err
        assert json.loads(out.strip().splitlines()[-1])[0]["policy"] == "passive"


@pytest.mark.parametrize("value, expected", [("1", 1), ("3", 3)])
def test_deepmath_num_threads_honoured(value, expected):
    _, _, threads, _ = report(DEEPMATH_NUM_THREADS=value)
    assert threads == expected


def test_show_config_prints_wait_policy():
    out, _ = run_python("import deepmath; deepmath.show_config()")
    if dm.config.native_available():
        assert "openmp wait" in out


TEAM = """
import numpy as np, deepmath as dm
from deepmath.backend.pool import NATIVE
dm.set_num_threads({n})
x = np.ones((8, 32, 32, 64), np.float32)   # large enough to run in parallel
y, arg = NATIVE["max_pool2d_forward"](x, 2)
NATIVE["max_pool2d_backward"](x.shape, arg, y, 2)
"""


@native
@pytest.mark.parametrize("n", [1, 2, 3])
def test_set_num_threads_reaches_kernels(n):
    """The runtime itself reports the team size of the kernels' parallel regions."""
    if not dm.config._kernels.openmp_enabled():
        pytest.skip("built without OpenMP")
    out, err = run_python(TEAM.format(n=n), OMP_DISPLAY_AFFINITY="TRUE",
                          OMP_AFFINITY_FORMAT="dmteam %{thread_num} of %{num_threads}")
    lines = [line for line in (out + err).splitlines() if line.startswith("dmteam")]
    if n == 1:
        assert not any(" of " in line and not line.endswith(" of 1") for line in lines)
        return
    if not lines:
        pytest.skip("this OpenMP runtime does not display affinity")
    assert {line.split(" of ")[1] for line in lines} == {str(n)}
    assert len(lines) == n


MALLOC_REPORT = """
import ctypes, deepmath as dm
print(dm.config.malloc_policy())
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
small, big = libc.malloc(64), libc.malloc(1 << 20)   # 1 MiB: glibc's default mmaps it
print(abs(big - small) < (1 << 30))                  # from the heap, beside the small block
"""


@native
@pytest.mark.skipif(not sys.platform.startswith("linux") or
                    not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"),
                    reason="the allocator setting is glibc's")
def test_freed_memory_is_kept_unless_the_user_chose():
    """deepmath raises glibc's mmap/trim thresholds at import; DEEPMATH_MALLOC=system or
    glibc's own variables leave the default, and a bad value warns."""
    out, _ = run_python(MALLOC_REPORT)
    policy, near = out.split("\n")[:2]
    assert policy.startswith("keep freed memory (glibc mmap threshold 32 MiB") and near == "True"
    out, _ = run_python(MALLOC_REPORT, DEEPMATH_MALLOC="system")
    assert out.split("\n")[:2] == ["system default (DEEPMATH_MALLOC=system)", "False"]
    out, _ = run_python(MALLOC_REPORT, MALLOC_TRIM_THRESHOLD_="1000000")
    assert out.startswith("user's MALLOC_TRIM_THRESHOLD_")
    out, err = run_python(MALLOC_REPORT, DEEPMATH_MALLOC="sometimes")
    assert out.startswith("keep freed memory") and "DEEPMATH_MALLOC" in err
    out, _ = run_python("import deepmath as dm; dm.show_config()")
    assert "memory" in out and "keep freed memory" in out
