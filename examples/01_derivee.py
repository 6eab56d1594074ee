"""Chapitre « Dérivée » : dérivée numérique et automatique, tangente, calcul approché,
graphe de calcul de cos(2x²) et méthode de Newton (∛100, minimum de x² − sin x + 1).

Usage : python 01_derivee.py [dossier_figures]
"""
from fractions import Fraction

import numpy as np

import deepmath as dm
from deepmath import calculus as calc
from deepmath.plot import plot_tangent
from _common import compare, figures_dir, saved, truncate

out = figures_dir()

# §1 Dérivée : (x²)' = 2x en x = 1, et la tangente à √x en 1 est y = x/2 + 1/2 (ligne 300)
compare("f(x) = x², f'(1)", round(calc.derivee(lambda x: x ** 2, 1.0), 8), "2")
pente, ordonnee, _ = calc.tangente(np.sqrt, 1)
compare("tangente à √x en 1 : pente, ordonnée", (round(pente, 6), round(ordonnee, 6)),
        "y = x/2 + 1/2")

# §2 Calcul approché : √1.1 ≃ 1 + 0.1/2 (ligne 272)
compare("calcul approché de √1.1", round(calc.calcul_approche(np.sqrt, 1, 1.1), 6), "1.05")

# §3 Graphe de calcul et dérivée automatique : F(x) = cos(2x²), F'(3) = −12 sin 18 (ligne 555)
x = dm.tensor(3.0, requires_grad=True)
y = dm.cos(2 * x ** 2)
print(dm.graph.explain(y))         # valeurs, dérivées locales [·] et dérivées {{·}}
y.backward()
compare("F'(3) par le graphe de calcul", round(float(x.grad), 6),
        f"-12 sin(18) = {-12 * np.sin(18):.6f}")

# §4 Dérivée seconde : f(x) = x³ − 2x² + 2, f''(x) = 6x − 4 (lignes 1038-1044)
compare("f''(1) pour x³ − 2x² + 2", round(calc.derivee_seconde(lambda t: t ** 3 - 2 * t ** 2 + 2,
                                                                1.0), 4), "2")

# §5 Méthode de Newton pour ∛100 : f(x) = x³ − 100, x0 = 10 (lignes 1110-1122)
exact = calc.newton(lambda t: t ** 3 - 100, lambda t: 3 * t ** 2, Fraction(10), n_iter=2)
compare("x2 exact", exact[2], "262/49")
xs = calc.newton(lambda t: t ** 3 - 100, lambda t: 3 * t ** 2, 10.0, n_iter=6)
compare("Newton x3", xs[3], "4.7305…")
compare("Newton ∛100 (x6)", xs[6], "4.641588833612…")
compare("∛100 à 30 décimales", calc.nth_root(100, 3, digits=30),
        "4.641588833612778892410076350919…")

# §5 Minimum de g(x) = x² − sin x + 1 : Newton sur g'(x) = 2x − cos x (lignes 1175-1189)
ls = calc.newton(lambda t: 2 * t - np.cos(t), lambda t: 2 + np.sin(t), 0.0, n_iter=4)
compare("x2", truncate(ls[2], 10), "0.4506266930…")
compare("ℓ = x4", truncate(ls[4], 10), "0.4501836112")
compare("g(ℓ)", truncate(ls[4] ** 2 - np.sin(ls[4]) + 1, 10), "0.7675344248")

# Figures : tangentes
fig = plot_tangent(np.sqrt, 1.0, xlim=(0.01, 4), file=out / "01_tangente_racine.png")
saved(fig, out / "01_tangente_racine.png")
fig = plot_tangent(lambda t: np.cos(2 * t ** 2), 0.5, xlim=(-1.5, 1.5),
                   file=out / "01_tangente_cos.png")
saved(fig, out / "01_tangente_cos.png")
