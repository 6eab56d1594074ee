"""Chapitre « Réseau de neurones » : perceptrons linéaire et affine, portes ET, OU, OU exclusif,
réseaux à deux couches (secteur, triangle), règle de Hebb et approximation d'une fonction par
des marches (théorème d'approximation universelle).

Usage : python 05_reseau_de_neurones.py [dossier_figures]
"""
import numpy as np

from deepmath import perceptron as pc
from deepmath.datasets import book
from deepmath.plot import plot_classification
from _common import compare, figures_dir, saved, truncate

out = figures_dir()
BITS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)

# §1.1 Perceptron linéaire de poids a = 2, b = 3 (activation marche de Heaviside)
F = pc.perceptron_lineaire([2, 3])
compare("F(4, −1), F(−3, 1)", (F(4, -1), F(-3, 1)), "1, 0  (2×4 + 3×(−1) = 5 ≥ 0)")

# §1.2 Perceptron affine a = 85, b = −1, c = −77 avec la fonction σ
F = pc.perceptron_affine([85, -1], -77, activation="sigmoid")
compare("F(1.77, 75)", truncate(F(1.77, 75), 2), "0.17")
compare("F(1.67, 64)", truncate(F(1.67, 64), 2), "0.72")

# §2.1 Portes logiques : OU = (1, 1, −1), ET = (1, 1, −2) ; OU exclusif : deux couches
compare("table de OU", pc.ou()(BITS), "0 1 1 1")
compare("table de ET", pc.et()(BITS), "0 0 0 1")
compare("table de OU exclusif", pc.ou_exclusif()(BITS), "0 1 1 0")
# Le même réseau en modèle Keras (« Python : tensorflow avec keras - partie 1 »)
modele = pc.ou_exclusif().to_keras()
compare("OU exclusif par le modèle Keras", modele.predict(BITS, verbose=0).ravel(), "0 1 1 0")

# §3.1 Réseau : neurones ReLU (2, −1) et (−3, 2), sortie H(4 s1 + 5 s2 − 1)
reseau = pc.Network([pc.Layer.from_neurons([([2, -1], 0), ([-3, 2], 0)], "relu"),
                     pc.Layer.from_neurons([([4, 5], -1)], "heaviside")])
cachee, sortie = reseau.forward(np.array([[4.0, 7.0], [0.1, 0.1]]))
compare("couche cachée en (4, 7), sortie", (cachee[0].tolist(), float(sortie[0, 0])), "(1, 2), 1")

# §3.2 Triangle −x + 2y ≥ 0, x + y − 2 ≥ 0, −y + 3 ≥ 0 : n + 1 = 4 neurones
triangle = pc.convex_polygon([(4 / 3, 2 / 3), (6, 3), (-1, 3)])
compare("neurones du triangle", triangle.n_neurons, "4")
compare("(2, 2) dans le triangle, (0, 0) dehors", (triangle(2, 2), triangle(0, 0)), "1, 0")

# §2.2 Règle de Hebb (apprentissage de OU, δ = 0.25, à partir de P0 = (0, 0, 0))
X = np.column_stack([BITS, np.ones(4)])           # une entrée constante 1 porte le biais
chemin = pc.regle_de_hebb(X, [0, 1, 1, 1], P0=[0, 0, 0], delta=0.25, n_iter=16)
compare("P1 (H(0) = 1 alors que z = 0)", chemin[1].tolist(), "(0, 0, −2δ) = (0, 0, −0.5)",
        source="règle")
compare("OU appris", pc.Perceptron(chemin[-1])(X), "0 1 1 1")

# §5 Approximation de f(x) = cos(2x) + x sin(3x) + √x par des marches, erreur ≤ L(b − a)/n
def f(t):
    return book.one_variable_function(t, shift=0.0)


x = np.linspace(2, 10, 4001)
L = np.max(np.abs(np.gradient(f(x), x)))          # constante de Lipschitz (max de |f'|)
for n in (10, 100):
    erreur = np.max(np.abs(pc.approximate_1d(f, 2, 10, n)(x) - f(x)))
    compare(f"écart maximal avec n = {n} marches", round(erreur, 3),
            f"≤ L(b − a)/n = {L * 8 / n:.3f}", source="théorème 2")

# Figures : régions du OU exclusif et du triangle
fig = plot_classification(pc.ou_exclusif(), xlim=(-1, 2), ylim=(-1, 2), points=BITS,
                          labels=[0, 1, 1, 0], file=out / "05_ou_exclusif.png")
saved(fig, out / "05_ou_exclusif.png")
fig = plot_classification(triangle, xlim=(-2, 7), ylim=(0, 4), file=out / "05_triangle.png")
saved(fig, out / "05_triangle.png")
