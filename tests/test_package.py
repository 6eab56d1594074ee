"""The package's namespace: every sub-module reachable as `deepmath.<name>`, loaded lazily."""
import subprocess
import sys

import pytest

import deepmath as dm


@pytest.mark.parametrize("name", dm._SUBMODULES)
def test_submodules_load_on_first_use(name):
    module = getattr(dm, name)
    assert module.__name__ == f"deepmath.{name}"
    assert name in dir(dm)


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dm.nope


def test_import_does_not_load_plotting_nor_the_keras_api():
    code = ("import sys, deepmath; "
            "print(sorted(m for m in ('matplotlib', 'deepmath.keras', 'deepmath.gpt', "
            "'deepmath.datasets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
