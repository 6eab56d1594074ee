"""Chapitre « Probabilités » : softmax (et sa température), fonctions d'erreur (quadratique
moyenne, absolue, logarithmique, entropie croisée binaire), espérance, écart-type, loi normale,
centrer-réduire, loi de Bernoulli et dropout.

Usage : python 10_probabilites.py [dossier_figures]
"""
import numpy as np

from deepmath import proba
from deepmath.plot import plot_classification, plot_tangent
from _common import compare, figures_dir, saved

out = figures_dir()

# §1 Softmax : des scores vers des probabilités
s = proba.softmax([3, 1, 8, 6, 0])
compare("softmax(3, 1, 8, 6, 0)", np.round(s, 4).tolist(),
        "(0.0059, 0.0008, 0.8746, 0.1184, 0.0003)")
compare("rang du maximum", proba.argmax(s) + 1, "3")
x = np.array([2, 5, 25, 3, 14, 4]) / 53
compare("température 0.1 puis 1 : probabilité de x3",
        (round(float(proba.softmax(x, 0.1)[2]), 3), round(float(proba.softmax(x, 1)[2]), 3)),
        "une température basse renforce le maximum", source="§ température")

# §2 Fonctions d'erreur
y, y_pred = [1, 2, 5, 1, 3], [1.2, 1.9, 4.5, 1.1, 2.7]
compare("erreur quadratique moyenne", round(proba.erreur_quadratique_moyenne(y, y_pred), 6), "0.08")
compare("erreur absolue moyenne", round(proba.erreur_absolue_moyenne(y, y_pred), 6), "0.24")
compare("erreur logarithmique moyenne",
        f"{proba.erreur_logarithmique_moyenne([1, 5, 10, 100], [2, 4, 8, 105]):.3f}", "0.060")
compare("entropie croisée binaire",
        round(proba.entropie_croisee_binaire([1, 0, 1, 1, 0, 1],
                                             [0.9, 0.2, 0.8, 1.0, 0.1, 0.7]), 2),
        "0.17")

# §3 Espérance, variance, écart-type de dix tailles (en cm)
tailles = [172, 165, 187, 181, 167, 184, 168, 174, 180, 186]
mu, sigma = proba.esperance(tailles), proba.ecart_type(tailles)
compare("espérance", round(mu, 6), "176.4")
compare("variance", round(proba.variance(tailles), 6), "61.04")
compare("écart-type", round(sigma, 1), "7.8")
compare("intervalle [μ − 2σ, μ + 2σ]", (round(mu - 2 * sigma), round(mu + 2 * sigma)), "[161, 192]")
compare("tailles centrées réduites (3 premières)",
        np.round(proba.centrer_reduire(tailles)[:3], 2).tolist(),
        "(−0.56, −1.46, 1.36)")
compare("normalisation min-max de (1, 2, 5)", proba.min_max_scale([1, 2, 5]).tolist(),
        "[0, 0.25, 1]")

# §4 Loi de Bernoulli et dropout (on garde chaque neurone avec probabilité p = 0.8)
tirages = proba.loi_bernoulli(0.8, 100_000, rng=0)
compare("fréquence des 1 sur 100 000 tirages", round(float(tirages.mean()), 2), "p = 0.8",
        source="loi des grands nombres")
garde = proba.dropout_keep(np.ones(10), 0.8, rng=np.random.default_rng(3))
compare("dropout : valeurs gardées", sorted(set(np.round(garde, 6).tolist())), "0 ou 1/p = 1.25")

# Figures : densité de la loi normale N(176.4, 7.8²) (tangente au point d'inflexion μ + σ),
# et le classement par softmax de trois scores affines du plan
fig = plot_tangent(lambda t: proba.loi_normale(t, mu, sigma), mu + sigma, xlim=(150, 205),
                   file=out / "10_loi_normale.png")
saved(fig, out / "10_loi_normale.png")
W = np.array([[1.0, 0.0], [-0.5, 0.8], [-0.5, -0.8]])
fig = plot_classification(lambda p: proba.softmax(p @ W.T), xlim=(-3, 3), ylim=(-3, 3),
                          file=out / "10_softmax.png")
saved(fig, out / "10_softmax.png")
