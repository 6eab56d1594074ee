"""Chapitre « Descente de gradient » : la suite P_(k+1) = P_k − δ grad f(P_k), régression
linéaire et plan par descente, descente stochastique pour un cercle, et moment (momentum).

Usage : python 07_descente_de_gradient.py [dossier_figures]
"""
import numpy as np

from deepmath import descent as D
from deepmath.datasets import book
from deepmath.plot import plot_descent, plot_regression_lines
from _common import compare, figures_dir, saved, truncate


def f(a, b):
    return a ** 2 + 3 * b ** 2


out = figures_dir()

# §1.2 f(a, b) = a² + 3b² à partir de P0 = (2, 1), pas δ = 0.2 (tableau du livre)
r = D.descente_gradient(lambda p: f(*p), [2, 1], step=0.2, n_iter=20,
                        grad=lambda p: np.array([2 * p[0], 6 * p[1]]))
compare("P1, grad f(P1), f(P1)", (np.round(r.points[1], 6).tolist(),
                                   np.round(r.gradients[1], 6).tolist(),
                                   round(float(r.values[1]), 4)),
        "(1.2, −0.2), (2.4, −1.2), 1.56")
compare("P5", np.round(r.points[5], 5).tolist(), "(0.15552, −0.00032)")
compare("f(P20)", f"{r.values[20]:.4g}", "5.34e-9")

# Une variable : f(a) = a² + 1 à partir de a0 = 2, δ = 0.2 (dérivée automatique)
r1 = D.descente_gradient(lambda a: a ** 2 + 1, 2.0, step=0.2, n_iter=10)
compare("f(a2)", round(float(r1.values[2]), 4), "1.5184")
compare("f(a10)", round(float(r1.values[10]), 4), "1.0001")

# §2.2 Régression linéaire par les points (0, 3), (2, 4), (6, 6) : P0 = (0, 1), δ = 0.02
x, y = [0, 2, 6], [3, 4, 6]
droites = D.fit_line_descent(x, y, n_iter=100)
compare("(a1, b1), E(a1, b1)", (np.round(droites.points[1], 3).tolist(),
                                round(float(droites.values[1]), 2)), "(1.44, 1.4), 18.96")
compare("(a100, b100)", (round(float(droites.x[0]), 3), round(float(droites.x[1]), 2)),
        "(0.501, 2.99)")
compare("droite exacte (a, b)", np.round(D.regression_lineaire(x, y), 6).tolist(),
        "y = 0.5x + 3", source="formule directe")

# §2.4 Plan z = ax + by + c par cinq points, δ = 0.01, 3000 itérations
pts = np.array([(1, 0, 0), (0, 1, 5), (2, 1, 1), (1, 2, 0), (2, 2, 3)], dtype=float)
plan = D.fit_plane_descent(*pts.T, step=0.01, n_iter=3000)
compare("(a, b, c) du plan", truncate(plan.x, 2), "(−1.22, 0.77, 2.33)")
compare("z(1, 1)", truncate(plan.x.sum(), 2), "17/9 ≃ 1.88")

# §3.3 Cercle passant au mieux par des points bruités : descente stochastique (un point par pas)
cx, cy = book.cercle_bruite(n=100, center=(1, 2), radius=3, seed=1).T
cercle = D.fit_circle_descent(cx, cy, start=(1, 1, 1), step=0.001, batch_size=1, seed=0, epochs=2)
compare("centre et rayon après 2 époques", np.round(np.abs(cercle.x), 2).tolist(),
        "centre (1, 2), rayon 3", source="données")

# §4 Moment : la même descente sur f(a, b), δ = 0.05 et μ = 0.7
lente = D.descente_gradient(lambda p: f(*p), [2, 1], step=0.05, n_iter=30)
moment = D.descente_gradient(lambda p: f(*p), [2, 1], step=0.05, n_iter=30, momentum=0.7)
compare("f(P30) sans / avec moment", (f"{lente.values[-1]:.2e}", f"{moment.values[-1]:.2e}"),
        "le moment accélère la descente", source="§4")

# Figures : points de la descente sur les lignes de niveau, droites de régression successives
fig = plot_descent(r.points, f=f, xlim=(-2.5, 2.5), ylim=(-1.5, 1.5), file=out / "07_descente.png")
saved(fig, out / "07_descente.png")
fig = plot_descent(moment.points, f=f, xlim=(-2.5, 2.5), ylim=(-1.5, 1.5),
                   file=out / "07_moment.png")
saved(fig, out / "07_moment.png")
fig = plot_regression_lines(x, y, droites.points[[0, 1, 2, 5, 10, 100]],
                            file=out / "07_regression.png")
saved(fig, out / "07_regression.png")
