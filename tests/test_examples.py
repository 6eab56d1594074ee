"""Run every example script of examples/ headless and check the book's numbers it prints.

Each script prints lines "label: computed value (source : book value)"; the checks below read
the computed part only (the book's part is printed beside it), either as a substring or as the
list of numbers it contains. Line numbers refer to shared/book/deepmath-book.txt.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
LINE = re.compile(r"^(?P<label>.*?[^ ]): (?P<value>.*?) \((?P<source>[^():]*) : (?P<book>.*)\)$")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")

# script: ({label: expected computed value (str: substring, list: its numbers)},
#          number of figures drawn by the plot functions)
EXPECTED = {
    "01_derivee.py": ({
        "calcul approché de √1.1": [1.05],                                       # line 272
        "F'(3) par le graphe de calcul": [round(-12 * np.sin(18), 6)],            # line 555
        "x2 exact": "262/49",                                                     # line 1114
        "Newton x3": "4.7305",                                                    # line 1119
        "Newton ∛100 (x6)": "4.641588833612",                                     # line 1122
        "∛100 à 30 décimales": "4.641588833612778892410076350919",                # line 1127
        "x2": "0.4506266930",                                                     # line 1181
        "ℓ = x4": "0.4501836112",                                                 # line 1183
        "g(ℓ)": "0.7675344248",                                                   # line 1189
    }, 2),
    "02_une_variable.py": ({
        "X*Y terme à terme": [10, 22, 36, 52],
        "1/X": [1, 0.5, 0.33333333, 0.25],
        "somme, min, max": [10, 1, 4],
        "linspace(0, 1, num=12)[1]": [0.09090909],
        "f'(x) = −2x exp(−x²) en x = 1": [round(-2 / np.e, 6)],
    }, 2),
    "03_plusieurs_variables.py": ({
        "point critique (x0, y0)": [3.33, 2.66],                                  # line 1638
        "z0 = f(x0, y0)": [21.33],                                             # line 1640
        "grille 100×100 sur [0, 6]² : (x, y), z": [2.91, 2.97, 7.84],        # line 1681
        "tranche x = 0 : y0": [2.45],                                          # line 1689
        "tranche y = y0 : x1": [2.84],                                            # line 1689
        "tranches : z": [7.84],
    }, 3),
    "04_deux_variables.py": ({
        "taille de A": [2, 3],
        "sqrt(A), 2e ligne": [2, 2.23606798, 2.44948974],
        "A aplati": [1, 2, 3, 4, 5, 6],
        "∂f/∂x et ∂f/∂y en (2, 2)": [-4, 20],
        "entrée, sortie": [625, 2, 625, 1],
    }, 3),
    "05_reseau_de_neurones.py": ({
        "F(1.77, 75)": [0.17],                                                    # line 2353
        "F(1.67, 64)": [0.72],
        "table de OU exclusif": [0, 1, 1, 0],
        "OU exclusif par le modèle Keras": [0, 1, 1, 0],
        "couche cachée en (4, 7), sortie": [1, 2, 1],                             # line 2525
        "neurones du triangle": [4],
        "OU appris": [0, 1, 1, 1],
    }, 2),
    "06_gradient.py": ({
        "grad f(2, 1) automatique": [4, 12],                                      # line 3491
        "grad de x² + y² + z² + t² en (1, −2, 3, 0.5)": [2, -4, 6, 1],            # line 3493
        "∂F/∂x(3, 2)": [round(12 / (18 + np.sin(2)), 10)],                        # line 3813
        "∂F/∂y(3, 2)": [round((9 + np.cos(2)) / (18 + np.sin(2)), 10)],
        "GradientTape": [round(12 / (18 + np.sin(2)), 10),
                         round((9 + np.cos(2)) / (18 + np.sin(2)), 10)],
    }, 2),
    "07_descente_de_gradient.py": ({
        "P1, grad f(P1), f(P1)": [1.2, -0.2, 2.4, -1.2, 1.56],                    # line 4302
        "P5": [0.15552, -0.00032],
        "f(a2)": [1.5184],                                                     # line 4353
        "(a1, b1), E(a1, b1)": [1.44, 1.4, 18.96],                    # line 4540
        "(a100, b100)": [0.501, 2.99],                                  # line 4552
        "(a, b, c) du plan": [-1.22, 0.77, 2.33],                                 # line 4635
        "z(1, 1)": [1.88],                                                        # line 4637
    }, 3),
    "08_retropropagation.py": ({
        "grad E(P0)": [-0.077, 0.192, 0.005],                                     # line 5039
        "P1 = P0 − δ grad E(P0)": [0.077, 0.807, -2.005],                         # line 5035
        "E(P0), E(P10), E(P100)": [0.450, 0.205, 0.103],
        "P1000": [2.032, -3.860, 3.703],                                          # line 5078
        "F(1, 1), F(4, 3)": [0.86, 0.56],                                         # line 5085
        "E(P0), E(P1), E(P2)": [0.2961, 0.2935, 0.2911],                          # line 5125
        "F(0, 0), F(1, 1), F(1, 0), F(0, 1)": [0.08, 0.10, 0.89, 0.89],           # line 5148
        "P5000": [-2.014, 10.996, 3.054],                                         # line 5240
    }, 3),
    "09_convolution.py": ({
        "[1, 0, 3, 5, 1] * [1, 2, 3]": [2, 6, 11, 20, 17],                        # line 6363
        "mode 'full'": [1, 2, 6, 11, 20, 17, 3],                                  # line 7203
        "corrélation": [2, 10, 21, 16, 7],                                        # line 7304
        "produit de polynômes": [5, 16, 34, 52, 45, 28],                          # line 7258
        "pic de la corrélation 'same' (centre de l'écho)": [400],                 # line 7310
        "A * M, mode 'valid'": [17, 19, 12, 11],                                  # line 7074
        "flou (moyenne 3×3), 1re ligne": [1.77, 3, 3.66, 4.33, 3.11],             # line 6686
        "max pooling": [23, 22, 17, 20, 19, 8],                                   # line 7103
        "average pooling": [11, 15.75, 14.25, 13.75, 8.25, 6],                    # line 7119
        "conv2d avec le motif retourné = A * M": "True",
    }, 4),
    "10_probabilites.py": ({
        "softmax(3, 1, 8, 6, 0)": [0.0059, 0.0008, 0.8746, 0.1184, 0.0003],       # line 8073
        "rang du maximum": [3],
        "erreur quadratique moyenne": [0.08],                                     # line 8108
        "erreur absolue moyenne": [0.24],                                         # line 8122
        "erreur logarithmique moyenne": [0.060],                                  # line 8140
        "entropie croisée binaire": [0.17],                                       # line 8160
        "espérance": [176.4],                                                     # line 8252
        "variance": [61.04],                                                      # line 8257
        "écart-type": [7.8],                                                      # line 8261
        "intervalle [μ − 2σ, μ + 2σ]": [161, 192],                                # line 8267
        "tailles centrées réduites (3 premières)": [-0.56, -1.46, 1.36],          # line 8275
    }, 2),
}

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="examples/ is not beside the tests")


def _scripts():
    return sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")) \
        if EXAMPLES.is_dir() else []


def _run(script, tmp_path):
    env = dict(os.environ, MPLBACKEND="Agg")
    out = tmp_path / "figures"
    done = subprocess.run([sys.executable, str(EXAMPLES / script), str(out)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout, out


def _computed(stdout):
    """{label: computed value} of every "label: value (source : book)" line."""
    found = {}
    for line in stdout.splitlines():
        match = LINE.match(line)
        if match:
            found[match["label"]] = match["value"]
    return found


def test_every_script_is_checked():
    assert _scripts() == sorted(EXPECTED)


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example_prints_the_books_numbers_and_writes_figures(script, tmp_path):
    stdout, out = _run(script, tmp_path)
    computed = _computed(stdout)
    expected, n_figures = EXPECTED[script]
    for label, value in expected.items():
        assert label in computed, f"{script}: no line '{label}: …' in\n{stdout}"
        if isinstance(value, str):
            assert value in computed[label], f"{script}: {label}: {computed[label]!r}"
        else:
            numbers = [float(n) for n in NUMBER.findall(computed[label])]
            assert len(numbers) == len(value) and np.allclose(numbers, value, rtol=0,
                                                                atol=1e-9), \
                f"{script}: {label}: {computed[label]!r}, expected {value}"
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) >= n_figures, f"{script} wrote {[p.name for p in pngs]}"
    for png in pngs:
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 100, png.name
    reported = [line.split("figure : ", 1)[1] for line in stdout.splitlines()
                if line.startswith("figure : ")]
    assert len(reported) == n_figures and all((tmp_path / r).is_file() for r in reported)


def test_default_output_folder_is_figures(tmp_path):
    """Without an argument a script writes into ./figures of the working directory."""
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, str(EXAMPLES / "01_derivee.py")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "figures").glob("*.png"))) == 2
