"""Chapitres « Convolution : une dimension », « Convolution » et « Convolution avec Python » :
convolution 1D et 2D (le motif est retourné), modes 'same'/'full'/'valid', pooling, corrélation
(radar), filtres d'images, et la couche de convolution des réseaux (une corrélation).

Usage : python 09_convolution.py [dossier_figures]
"""
import numpy as np

import deepmath as dm
from deepmath import image, signal
from deepmath.datasets import book
from deepmath.plot import plot_convolution, plot_pooling
from _common import compare, figures_dir, saved, truncate

out = figures_dir()

# Convolution : une dimension (f * g)(n) = Σ f(n − k) g(k)
compare("[1, 0, 3, 5, 1] * [1, 2, 3]", signal.convolution([1, 0, 3, 5, 1], [1, 2, 3]),
        "[2 6 11 20 17]")
compare("mode 'full'", signal.convolve([1, 0, 3, 5, 1], [1, 2, 3], "full"), "[1 2 6 11 20 17 3]")
compare("corrélation", signal.correlation([1, 0, 3, 5, 1], [1, 2, 3]), "[2 10 21 16 7]")
compare("produit de polynômes", signal.polynomial_product([1, 2, 3, 4], [5, 6, 7]),
        "[5 16 34 52 45 28]")
compare("f(n) − f(n−1) pour les carrés", signal.convolve([1, 4, 9, 16], [1, -1]), "[1 3 5 7]")

# Radar : le pic de la corrélation donne le retard de l'écho
recu, impulsion = signal.radar_signal(n=1000, pulse_length=100, delay=350, seed=3)
compare("pic de la corrélation 'same' (centre de l'écho)",
        int(np.argmax(signal.correlate(recu, impulsion, "same"))), "400")
compare("début de l'écho", signal.find_delay(recu, impulsion), "350", source="retard simulé")

# Convolution en deux dimensions (§1.1 et §1.2 de « Convolution avec Python »)
A = np.array([[2, 1, 3, 0], [1, 1, 0, 5], [3, 3, 1, 0], [2, 0, 0, 2]])
M = np.array([[1, 0, 2], [2, 1, 0], [1, 0, 3]])
B = signal.convolve2d(A, M)
compare("A * M, mode 'same', 2e ligne", B[1], "[7 17 19 16]")
compare("A * M, mode 'valid'", signal.convolve2d(A, M, "valid").tolist(), "[[17 19] [12 11]]")
flou = signal.convolve2d(np.arange(1, 26).reshape(5, 5), signal.get_kernel("flou"))
compare("flou (moyenne 3×3), 1re ligne", truncate(flou[0], 2), "(1.77, 3, 3.66, 4.33, 3.11)")

# Pooling (§1.4) : max et moyenne sur des blocs 2×2
P = np.array([[16, 23, 22, 21, 12, 13], [0, 5, 18, 2, 17, 15],
              [10, 20, 4, 9, 7, 8], [11, 14, 1, 19, 6, 3]])
compare("max pooling", signal.max_pooling(P, 2).tolist(), "[[23 22 17] [20 19 8]]")
compare("average pooling", signal.average_pooling(P, 2).tolist(),
        "[[11 15.75 14.25] [13.75 8.25 6]]")

# Couche de convolution (Keras, deepmath.conv2d) : une corrélation, le motif n'est pas retourné
x = dm.tensor(A[None, :, :, None], dtype="float64")
w = dm.tensor(M[::-1, ::-1, None, None].copy(), dtype="float64")   # motif retourné
couche = dm.conv2d(x, w, padding="same").numpy()[0, :, :, 0]
compare("conv2d avec le motif retourné = A * M", np.array_equal(couche, B), "True",
        source="définition")

# Partie A-E : une image (un chiffre dessiné), le motif « relief », l'image après/avant
chiffres, _ = book.chiffres_synthetiques(1, seed=3)
image.save(out / "09_chiffre.png", chiffres[0])
apres = signal.filter_image(out / "09_chiffre.png", out / "09_chiffre_relief.png", "relief")
compare("image filtrée", (apres.shape, str(apres.dtype)), "28 × 28 pixels de 0 à 255",
        source="Partie E")

# Figures : avant/après convolution avec le motif, et pooling
fig = plot_convolution(chiffres[0], signal.apply_kernel(chiffres[0].astype(float), "flou"),
                       kernel=signal.get_kernel("flou"), fmt="{:.2f}", file=out / "09_flou.png")
saved(fig, out / "09_flou.png")
fig = plot_convolution(A, B, kernel=M, file=out / "09_convolution.png")
saved(fig, out / "09_convolution.png")
fig = plot_pooling(P, size=2, file=out / "09_max_pooling.png")
saved(fig, out / "09_max_pooling.png")
fig = plot_pooling(P, size=2, mode="average", file=out / "09_average_pooling.png")
saved(fig, out / "09_average_pooling.png")
