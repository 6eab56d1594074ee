"""Chapitre « Gradient » : dérivées partielles, gradient, dérivée directionnelle, graphe de
calcul à deux entrées (ln(x²y + sin y)) et champ de gradients orthogonal aux lignes de niveau.

Usage : python 06_gradient.py [dossier_figures]
"""
import math

import numpy as np

import deepmath as dm
from deepmath import calculus as calc
from deepmath.plot import plot_gradient_field
from _common import compare, figures_dir, saved

out = figures_dir()

# §1 Dérivées partielles : f(x, y) = x² exp(3y), ∂f/∂x = 2x exp(3y), ∂f/∂y = 3x² exp(3y)
f = lambda x, y: x ** 2 * np.exp(3 * y)                      # noqa: E731
compare("∂f/∂x en (1, 0)", round(calc.derivee_partielle(f, (1, 0), 0), 8), "2x e^(3y) = 2",
        source="formule du livre")
compare("∂f/∂y en (1, 0)", round(calc.derivee_partielle(f, (1, 0), 1), 8), "3x² e^(3y) = 3",
        source="formule du livre")

# §2 Gradient de f(x, y) = x²y³ en (2, 1) (numérique puis automatique)
g = lambda x, y: x ** 2 * y ** 3                             # noqa: E731
compare("grad f(2, 1) numérique", np.round(calc.gradient(g, (2, 1)), 8), "(4, 12)")
compare("grad f(2, 1) automatique", calc.autodiff_gradient(g, (2, 1)), "(4, 12)")
compare("grad de x² + y² + z² + t² en (1, −2, 3, 0.5)",
        np.round(calc.gradient(lambda *v: sum(t ** 2 for t in v), [1, -2, 3, 0.5]), 8),
        "(2, −4, 6, 1)")

# §2.4 Dérivée directionnelle D_v f = <grad f | v>, v = (3, −2)
compare("D_v f(2, 1), v = (3, −2)", calc.derivee_directionnelle(g, (2, 1), (3, -2), "auto"),
        "3×4 − 2×12 = −12", source="produit scalaire")

# §3 Graphe de calcul de F(x, y) = ln(x²y + sin y) en (3, 2)
x = dm.tensor(3.0, dtype="float64", requires_grad=True)
y = dm.tensor(2.0, dtype="float64", requires_grad=True)
F = dm.log(x ** 2 * y + dm.sin(y))
print(dm.graph.explain(F))         # dérivées locales [·] et dérivées {{·}} sur chaque arête
F.backward()
d = 18 + math.sin(2)
compare("∂F/∂x(3, 2)", round(float(x.grad), 10), f"12/(18 + sin 2) = {12 / d:.10f}")
compare("∂F/∂y(3, 2)", round(float(y.grad), 10),
        f"(9 + cos 2)/(18 + sin 2) = {(9 + math.cos(2)) / d:.10f}")

# Le même calcul avec l'interface de TensorFlow (GradientTape)
a, b = dm.Variable(3.0, dtype="float64"), dm.Variable(2.0, dtype="float64")
with dm.GradientTape() as tape:
    z = dm.log(a ** 2 * b + dm.sin(b))
ga, gb = tape.gradient(z, [a, b])
compare("GradientTape", (round(float(ga), 10), round(float(gb), 10)), "les mêmes",
        source="graphe de calcul")

# Figure : le gradient est orthogonal aux lignes de niveau (f(x, y) = x² + 3y², puis x e^(−x²−y²))
fig = plot_gradient_field(lambda u, v: u ** 2 + 3 * v ** 2, gradient=lambda u, v: (2 * u, 6 * v),
                          xlim=(-2, 2), ylim=(-2, 2), file=out / "06_champ_gradient.png")
saved(fig, out / "06_champ_gradient.png")
fig = plot_gradient_field(lambda u, v: u * np.exp(-u ** 2 - v ** 2), xlim=(-2, 2), ylim=(-2, 2),
                          file=out / "06_champ_gauss.png")
saved(fig, out / "06_champ_gauss.png")
