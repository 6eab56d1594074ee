"""Chapitre « Fonctions de plusieurs variables » : graphe, lignes de niveau, recherche d'un
minimum (sur une grille, au hasard, par les tranches), point critique et régression.

Usage : python 03_plusieurs_variables.py [dossier_figures]
"""
import numpy as np

from deepmath import calculus as calc
from deepmath.plot import lignes_de_niveau, plot_surface
from _common import compare, figures_dir, saved, truncate

out = figures_dir()


# §1.3 Graphe de f(x, y) = x exp(−x² − y²) : f(1, 0) = 1/e
def f(x, y):
    return x * np.exp(-x ** 2 - y ** 2)


compare("f(1, 0)", round(float(f(1.0, 0.0)), 6), f"1/e = {1 / np.e:.6f}")


# §2.3 Somme des carrés des distances à A(1, 2), B(3, 5), C(6, 1) :
# f(x, y) = 3x² + 3y² − 20x − 16y + 76, minimum en (10/3, 8/3), valeur 64/3
def carres(x, y):
    return (x - 1) ** 2 + (y - 2) ** 2 + (x - 3) ** 2 + (y - 5) ** 2 + (x - 6) ** 2 + (y - 1) ** 2


critique = calc.point_critique(carres, (0.0, 0.0))
compare("point critique (x0, y0)", truncate(critique.point, 2),
        "(10/3, 8/3) ≃ (3.33, 2.66)")
compare("z0 = f(x0, y0)", truncate(critique.value, 2), "64/3 ≃ 21.33")


# §2.4 g(x, y) = MA + MB + MC : trois recherches d'un minimum
def g(x, y):
    return (np.hypot(x - 1, y - 2) + np.hypot(x - 3, y - 5) + np.hypot(x - 6, y - 1))


grille = calc.recherche_grille(g, [(0, 6), (0, 6)], n=100)
compare("grille 100×100 sur [0, 6]² : (x, y), z",
        (tuple(round(float(c), 2) for c in grille.point), round(grille.value, 2)),
        "(2.91, 2.97), 7.84")
hasard = calc.recherche_hasard(g, [(0, 6), (0, 6)], n=1000, seed=0)
compare("1000 points au hasard : z", round(hasard.value, 2), "7.84")
tranches = calc.recherche_tranche(g, (0.0, 0.0), n_sweeps=10)
compare("tranche x = 0 : y0", round(tranches.visited[1][1], 2), "2.45")
compare("tranche y = y0 : x1", round(tranches.visited[2][0], 2), "2.84")
compare("tranches : z", round(tranches.value, 2), "7.84")

# Dérivées partielles de f(x, y) = x²y en (1, 1) et calcul approché en (1.002, 0.997)
compare("gradient de x²y en (1, 1)", np.round(calc.gradient(lambda x, y: x ** 2 * y, (1, 1)), 6),
        "(2, 1)", source="exact")
compare("calcul approché de 1.002² × 0.997",
        round(calc.calcul_approche(lambda x, y: x ** 2 * y, (1, 1), (1.002, 0.997)), 6),
        "1 + 2 × 0.002 − 0.003 = 1.001", source="exact")

# Figures : graphe, lignes de niveau de f et de g
fig = plot_surface(f, xlim=(-2, 2), ylim=(-2, 2), file=out / "03_graphe.png")
saved(fig, out / "03_graphe.png")
fig = lignes_de_niveau(f, xlim=(-2, 2), ylim=(-2, 2), levels=15, file=out / "03_niveaux.png")
saved(fig, out / "03_niveaux.png")
fig = lignes_de_niveau(g, xlim=(0, 7), ylim=(0, 7), levels=20, filled=True,
                       file=out / "03_trois_points.png")
saved(fig, out / "03_trois_points.png")
