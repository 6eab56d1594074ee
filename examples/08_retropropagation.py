"""Chapitre « Rétropropagation » : le gradient de l'erreur d'un réseau calculé par
rétropropagation (égal à la dérivée automatique et aux différences finies), puis la descente de
gradient d'un neurone (ronds bleus et carrés rouges), du OU exclusif et d'une fonction marche.

Usage : python 08_retropropagation.py [dossier_figures]
"""
import numpy as np

from deepmath import backprop as bp
from deepmath.datasets import book
from deepmath.plot import plot_classification, plot_history
from _common import compare, figures_dir, saved, truncate

out = figures_dir()

# §1 Un neurone σ(ax + by + c), P0 = (0, 1, −2), δ = 1 (tableau du livre)
X, z = book.ronds_bleus_carres_rouges()          # 10 ronds bleus (z = 0), 10 carrés rouges (1)
neurone = bp.DenseNetwork((2, 1), "sigmoid")
chemin = bp.descente_de_gradient(neurone, [0, 1, -2], X, z, delta=1.0, n_iter=1000)
compare("grad E(P0)", truncate(chemin.grad[0], 3), "(−0.077, 0.192, 0.005)")
compare("P1 = P0 − δ grad E(P0)", truncate(chemin.P[1], 3), "(0.077, 0.807, −2.005)")
compare("E(P0), E(P10), E(P100)", truncate(chemin.E[[0, 10, 100]], 3), "(0.450, 0.205, 0.103)")
compare("P1000", truncate(chemin.P[1000], 3), "(2.032, −3.860, 3.703)")
compare("E(P1000)", truncate(chemin.E[1000], 3), "0.071")
compare("F(1, 1), F(4, 3)", truncate(neurone(chemin.P[1000], [[1, 1], [4, 3]]), 2), "(0.86, 0.56)")

# Rétropropagation = dérivée automatique = différences finies
P = np.array([0.3, -0.7, 1.1])
compare("grad E(0.3, −0.7, 1.1) par rétropropagation", truncate(neurone.gradient(P, X, z), 8),
        f"automatique {truncate(neurone.gradient_autodiff(P, X, z), 8)}, différences finies "
        f"{truncate(neurone.gradient_numeric(P, X, z), 8)}", source="à comparer")

# §2.1 Le OU exclusif : réseau 2-2-1, P0 = (1, 2, −3, −3, −2, 1, 1, 1, −1)
Xo, zo = book.ou_exclusif()
ou_ex = bp.DenseNetwork((2, 2, 1), "sigmoid")
chemin_ou = bp.descente_de_gradient(ou_ex, [1, 2, -3, -3, -2, 1, 1, 1, -1], Xo, zo, delta=1.0,
                                    n_iter=1000)
compare("E(P0), E(P1), E(P2)", truncate(chemin_ou.E[:3], 4), "(0.2961, 0.2935, 0.2911)")
compare("E(P1000)", truncate(chemin_ou.E[1000], 4), "0.0097")
compare("F(0, 0), F(1, 1), F(1, 0), F(0, 1)",
        truncate(ou_ex(chemin_ou.P[1000], Xo), 2), "(0.08, 0.10, 0.89, 0.89)")

# §2.3 Une fonction marche : réseau 1-2-1, 5000 itérations
Xm, zm = book.fonction_marche()
marche = bp.DenseNetwork((1, 2, 1), "sigmoid")
chemin_m = bp.descente_de_gradient(marche, [0, 1, 0, -1, 1, 1, -1], Xm, zm, delta=1.0,
                                   n_iter=5000)
compare("P5000", truncate(chemin_m.P[5000][:3], 3), "(−2.014, 10.996, 3.054, …)")

# Figures : région du neurone appris, région du OU exclusif, erreur au fil des itérations
fig = plot_classification(lambda pts: neurone(chemin.P[1000], pts), xlim=(-0.5, 5.5),
                          ylim=(0, 4.5), points=X, labels=z, file=out / "08_neurone.png")
saved(fig, out / "08_neurone.png")
fig = plot_classification(lambda pts: ou_ex(chemin_ou.P[1000], pts), xlim=(-0.5, 1.5),
                          ylim=(-0.5, 1.5), points=Xo, labels=zo, file=out / "08_ou_exclusif.png")
saved(fig, out / "08_ou_exclusif.png")
fig = plot_history({"loss": chemin_ou.E}, file=out / "08_erreur.png")
saved(fig, out / "08_erreur.png")
