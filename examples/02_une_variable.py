"""Chapitre « Python : numpy et matplotlib avec une variable » : vecteurs, opérations terme à
terme, application d'une fonction et tracés, ici avec les tenseurs de deepmath, qui calculent
en plus la dérivée de chaque coordonnée (dérivée automatique sur un vecteur).

Usage : python 02_une_variable.py [dossier_figures]
"""
import numpy as np

import deepmath as dm
from deepmath.datasets import book
from deepmath.plot import plot_tangent
from _common import compare, figures_dir, saved

out = figures_dir()

# §1.2 Opérations élémentaires sur un vecteur X = [1 2 3 4]
X = dm.tensor([1.0, 2.0, 3.0, 4.0], dtype="float64")
Y = dm.tensor([10.0, 11.0, 12.0, 13.0], dtype="float64")
compare("2*X", (2 * X).numpy(), "[2 4 6 8]")
compare("X+1", (X + 1).numpy(), "[2 3 4 5]")
compare("X**2", (X ** 2).numpy(), "[1 4 9 16]")
compare("1/X", (1 / X).numpy(), "[1. 0.5 0.33333333 0.25]")
compare("somme, min, max", (float(dm.sum(X)), float(dm.min(X)), float(dm.max(X))), "10, 1, 4")
compare("X*Y terme à terme", (X * Y).numpy(), "[10 22 36 52]")

# §1.1 Subdivision d'un intervalle avec linspace
compare("linspace(0, 1, num=12)[1]", round(float(dm.linspace(0, 1, 12).numpy()[1]), 8),
        "0.09090909")

# §1.5 Application d'une fonction : racine carrée de [0 1 2 3 4 5]
compare("sqrt(X)", np.round(dm.sqrt(dm.tensor([0.0, 1, 2, 3, 4, 5])).numpy(), 6),
        "[0. 1. 1.41421356 1.73205081 2. 2.23606798]")

# §2.1 La courbe de Gauss f(x) = exp(−x²) : valeurs et dérivées sur tout un vecteur à la fois
x = dm.tensor(np.linspace(-3, 3, 7), dtype="float64", requires_grad=True)
f = dm.exp(-x ** 2)
dm.sum(f).backward()               # la somme a pour gradient le vecteur des f'(x_i)
compare("f(0) pour exp(−x²)", float(f.numpy()[3]), "1")
compare("f'(x) = −2x exp(−x²) en x = 1", round(float(x.grad[4]), 6),
        round(-2 * np.exp(-1), 6), source="exact")

# Données d'une variable (« keras partie 2 », §2.1) : f(x) = cos(2x) + x sin(3x) + √x − 2
X_train, Y_train = book.donnees_une_variable()
compare("nombre de points, f(0)", (len(X_train), float(Y_train[0, 0])), "N = 100, f(0) = −1",
        source="formule du livre")

# Figures : la courbe de Gauss avec sa tangente en 1, et la fonction des données
fig = plot_tangent(lambda t: np.exp(-t ** 2), 1.0, xlim=(-3, 3), file=out / "02_gauss.png")
saved(fig, out / "02_gauss.png")
fig = plot_tangent(book.one_variable_function, 2.5, xlim=(0, 5), file=out / "02_donnees.png")
saved(fig, out / "02_donnees.png")
