"""Chapitre « Python : numpy et matplotlib avec deux variables » : tableaux, aplatissement,
grille (meshgrid), graphe et lignes de niveau, avec les tenseurs de deepmath, qui donnent en
plus les dérivées partielles en chaque point de la grille.

Usage : python 04_deux_variables.py [dossier_figures]
"""
import numpy as np

import deepmath as dm
from deepmath.datasets import book
from deepmath.plot import plot_level_lines, plot_surface
from _common import compare, figures_dir, saved

out = figures_dir()

# §1.1 Un tableau de deux lignes et trois colonnes
A = dm.tensor([[1, 2, 3], [4, 5, 6]], dtype="float64")
compare("taille de A", A.shape, "(2, 3)")
compare("sqrt(A), 2e ligne", np.round(dm.sqrt(A).numpy()[1], 8),
        "[2. 2.23606798 2.44948974]")

# §1.2 Conversion tableau-vecteur : aplatissement et redimensionnement
X = dm.flatten(A)
compare("A aplati", X.numpy(), "[1 2 3 4 5 6]")
compare("X.reshape((3, 2))", X.reshape((3, 2)).numpy().tolist(), "[[1 2] [3 4] [5 6]]")


# §1.3 Grille et valeurs de f(x, y) = y³ + 2y² − x² (début du chapitre)
def f(x, y):
    return y ** 3 + 2 * y ** 2 - x ** 2


VX = np.linspace(0, 2, 5)
GX, GY = np.meshgrid(VX, VX)
x = dm.tensor(GX, dtype="float64", requires_grad=True)
y = dm.tensor(GY, dtype="float64", requires_grad=True)
Z = f(x, y)
dm.sum(Z).backward()               # dérivées partielles en chaque point de la grille
compare("f(2, 2) (dernier point de la grille)", float(Z.numpy()[-1, -1]), "8 + 8 − 4 = 12",
        source="calcul")
compare("∂f/∂x et ∂f/∂y en (2, 2)", (float(x.grad[-1, -1]), float(y.grad[-1, -1])),
        "(−2x, 3y² + 4y) = (−4, 20)", source="exact")

# Données de deux variables (« keras partie 2 », §4) : grille 25 × 25 de [−4, 4]², z = x cos y
entree, sortie = book.donnees_deux_variables()
compare("entrée, sortie", (entree.shape, sortie.shape), "625 points (x, y) et leurs z",
        source="livre, grille 25 × 25")

# §3 Graphes (selle de cheval x² − y²) et lignes de niveau
fig = plot_surface(lambda a, b: a ** 2 - b ** 2, xlim=(-2, 2), ylim=(-2, 2), n=20,
                   file=out / "04_selle.png")
saved(fig, out / "04_selle.png")
fig = plot_surface(book.two_variable_function, xlim=(-4, 4), ylim=(-4, 4), n=25,
                   file=out / "04_x_cos_y.png")
saved(fig, out / "04_x_cos_y.png")
fig = plot_level_lines(f, xlim=(-3, 3), ylim=(-3, 2), levels=np.arange(-5, 5, 1),
                       file=out / "04_niveaux.png")
saved(fig, out / "04_niveaux.png")
