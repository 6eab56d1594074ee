"""The book's module keras_facile (chapter "Python : tensorflow avec keras - partie 1", §2-4):
set the weights of one neuron by hand, print them, evaluate a network on one input, draw the
function of one, two or three variables it computes, and build the network of the universal
approximation theorem (chapter "Réseau de neurones", §5).

    from deepmath.facile import *        # also gives Sequential, Input, Dense, heaviside, np
    modele = Sequential()
    modele.add(Input(shape=(1,)))
    modele.add(Dense(2, activation='relu'))
    modele.add(Dense(1, activation='relu'))
    definir_poids(modele, 0, 0, 1, -1)   # couche 0, neurone 0 : coefficient 1, biais -1
    definir_poids(modele, 0, 1, -0.5, 1)
    definir_poids(modele, 1, 0, [1, 1], 0)
    evaluation(modele, 3)                # 2.0
    affichage_evaluation_une_var(modele, -2, 3)

The functions use only what every Keras model has (`modele.layers[i].get_weights()`,
`set_weights`, `modele.predict`). Drawing needs matplotlib; each drawing function also takes
`file=` (write the figure there) and `show=` and returns the figure.
"""
import numpy as np

from . import ops
from .layers import Dense, Input
from .plot import finish, pyplot

__all__ = ["Sequential", "Input", "Dense", "heaviside", "np", "definir_poids", "affiche_poids",
           "poids_a_zeros", "evaluation", "calcul_approximation",
           "affichage_evaluation_une_var", "affichage_approximation",
           "affichage_evaluation_deux_var_3d", "affichage_evaluation_deux_var_2d",
           "affichage_evaluation_trois_var", "get_weights_grad"]


def __getattr__(name):
    # Sequential is loaded on first use: the functions here work on any Keras-like model.
    if name == "Sequential":
        from .models import Sequential
        return Sequential
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def heaviside(x):
    """The step H(x) = 1 if x ≥ 0, 0 otherwise (H(0) = 1), as an activation:
    `Dense(1, activation=heaviside)` (no quotes)."""
    return ops.heaviside(x)


# ---- weights ----------------------------------------------------------------------------------
def _dense_weights(modele, couche):
    """(layer, kernel (n_in, n_out), bias (n_out,)) of layer number `couche`."""
    layers = modele.layers
    if not -len(layers) <= couche < len(layers):
        raise IndexError(f"layer {couche} does not exist: the model has {len(layers)} layers "
                         f"(0 to {len(layers) - 1})")
    layer = layers[couche]
    weights = layer.get_weights()
    if len(weights) != 2 or np.ndim(weights[0]) != 2:
        raise ValueError(f"layer {couche} ({layer.name}) is not a Dense layer with a bias: its "
                         f"weights have shapes {[np.shape(w) for w in weights]}")
    return layer, weights[0], weights[1]


def definir_poids(modele, couche, rang, coeff, biais):
    """Set the weights of neuron `rang` of layer `couche`: its coefficients (a number for one
    input, a list or vector [a1, a2, …] for several) and its bias (a number)."""
    layer, kernel, bias = _dense_weights(modele, couche)
    n_in, n_out = kernel.shape
    if not 0 <= rang < n_out:
        raise IndexError(f"layer {couche} has {n_out} neurons (rang 0 to {n_out - 1}), got "
                         f"rang={rang}")
    coeff = np.ravel(np.asarray(coeff, dtype=np.float64))
    if coeff.size != n_in:
        raise ValueError(f"each neuron of layer {couche} has {n_in} inputs: give {n_in} "
                         f"coefficient(s), got {coeff.size}")
    kernel[:, rang] = coeff
    bias[rang] = biais
    layer.set_weights([kernel, bias])


def affiche_poids(modele, couche=None):
    """Print the weights of layer `couche` neuron by neuron (every Dense layer when None)."""
    numbers = range(len(modele.layers)) if couche is None else [couche]
    for number in numbers:
        if couche is None and len(modele.layers[number].get_weights()) != 2:
            continue
        _, kernel, bias = _dense_weights(modele, number)
        n_in, n_out = kernel.shape
        print("\n\n===== Couche numéro", number, "=====")
        print("Nombre de neurones :", n_out)
        print("Nombre d'entrées par neurones :", n_in)
        print("Nombre de poids par neurones :", n_in + 1, "\n")
        for i in range(n_out):
            print("    --- Neurone numéro", i, "---")
            print("    Coefficients", kernel[:, i])
            print("    Biais", bias[i])


def poids_a_zeros(modele, couche):
    """Set every weight of layer `couche` to zero (new layers start with random weights)."""
    layer = modele.layers[couche]
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


# ---- evaluation -------------------------------------------------------------------------------
def _predict(modele, x):
    return np.asarray(modele.predict(np.asarray(x, dtype=np.float32), verbose=0))


def evaluation(modele, *entree):
    """F(entree), the network's output for one input: `evaluation(modele, 3)`,
    `evaluation(modele, [2.0, 1.0])` or `evaluation(modele, 2.0, 1.0)`. A number when the
    network has one output neuron, else the vector of its outputs."""
    if not entree:
        raise TypeError("evaluation needs an input: evaluation(modele, x) or "
                        "evaluation(modele, [x, y])")
    x = entree[0] if len(entree) == 1 else list(entree)
    sortie = _predict(modele, np.reshape(np.asarray(x, dtype=np.float32), (1, -1)))[0]
    return float(sortie.reshape(-1)[0]) if sortie.size == 1 else sortie


def calcul_approximation(modele, f, a, b, n):
    """Set the weights of `modele` (layer 0: 2n neurons with activation heaviside, layer 1:
    one linear neuron) so that it approaches f on [a, b] by a staircase (book, chapter
    "Réseau de neurones", §5.2-5.4): [a, b] is cut into n intervals [x_i, x_(i+1)]; neurons 2i
    and 2i+1 are the steps H(x - x_i) and H(x_(i+1) - x), whose sum is 2 on the interval and 1
    elsewhere; the output neuron weighs both by f(x_i) and subtracts Σ f(x_i), so
    F(x) = f(x_i) on [x_i, x_(i+1)]. (The book writes the steps H(x/x_i - 1) and
    H(-x/x_(i+1) + 1), the same functions when a > 0; these also hold for a ≤ 0.)"""
    layer0, kernel0, _ = _dense_weights(modele, 0)
    layer1, kernel1, _ = _dense_weights(modele, 1)
    if kernel0.shape != (1, 2 * n) or kernel1.shape != (2 * n, 1):
        raise ValueError(f"calcul_approximation with n={n} needs Dense(2n={2 * n}) on an input "
                         f"of dimension 1, then Dense(1); the layers have kernels "
                         f"{kernel0.shape} and {kernel1.shape}")
    if not a < b:
        raise ValueError(f"calcul_approximation: need a < b, got a={a}, b={b}")
    x = np.linspace(a, b, n + 1)
    heights = np.array([f(t) for t in x[:-1]], dtype=np.float64)
    layer0.set_weights([np.tile([[1.0, -1.0]], (1, n)),
                        np.column_stack([-x[:-1], x[1:]]).ravel()])
    layer1.set_weights([np.repeat(heights, 2)[:, None], np.array([-heights.sum()])])


def get_weights_grad(modele, entree, sortie):
    """The gradient of the compiled loss on (entree, sortie) with respect to the weights, as a
    list of arrays in the order of `modele.get_weights()` (book, chapter "Python : tensorflow
    avec keras - partie 2", §3.8): one step of gradient descent by hand is then
    `[w - delta * g for w, g in zip(modele.get_weights(), gradient)]`. The forward pass runs
    in inference mode (no dropout); every weight must be trainable."""
    from . import losses
    from .autograd import gradients
    if getattr(modele, "loss", None) is None:
        raise RuntimeError("get_weights_grad: compile the model with a loss first, e.g. "
                           "modele.compile(loss='mse', optimizer='sgd')")
    weights = modele.trainable_weights
    if len(weights) != len(modele.get_weights()):
        raise ValueError("get_weights_grad: some weights are not trainable, so the gradient "
                         "cannot have the structure of get_weights()")
    prediction = modele(np.asarray(entree, dtype=np.float32), training=False)
    loss = losses.get(modele.loss)(np.asarray(sortie), prediction)
    grads = gradients(loss, weights)
    return [np.zeros_like(w.data) if g is None else np.array(g) for w, g in zip(weights, grads)]


# ---- drawings ---------------------------------------------------------------------------------
def _outputs(modele, columns, rang):
    """Neuron `rang`'s output at the points whose coordinates are `columns`."""
    sortie = _predict(modele, np.column_stack([np.ravel(c) for c in columns]))
    if not 0 <= rang < sortie.shape[1]:
        raise IndexError(f"the network has {sortie.shape[1]} output(s), got rang={rang}")
    return sortie[:, rang].reshape(np.shape(columns[0]))


def affichage_evaluation_une_var(modele, a, b, rang=0, num=100, file=None, show=True):
    """Graph of the function x ↦ F(x) on [a, b] (output neuron `rang`)."""
    x = np.linspace(a, b, num)
    plt = pyplot()
    fig = plt.figure()
    plt.plot(x, _outputs(modele, [x], rang))
    fig.tight_layout()
    return finish(fig, file, show)


def affichage_approximation(modele, f, a, b, rang=0, num=100, file=None, show=True):
    """Graph of f (red) and of the network's F (blue) on [a, b]."""
    x = np.linspace(a, b, num)
    plt = pyplot()
    fig = plt.figure()
    plt.plot(x, [f(t) for t in x], color="red")
    plt.plot(x, _outputs(modele, [x], rang), color="blue", linewidth=2)
    fig.tight_layout()
    return finish(fig, file, show)


def affichage_evaluation_deux_var_3d(modele, xmin, xmax, ymin, ymax, rang=0, num=20, file=None,
                                     show=True):
    """Surface z = F(x, y) over [xmin, xmax] × [ymin, ymax]."""
    X, Y = np.meshgrid(np.linspace(xmin, xmax, num), np.linspace(ymin, ymax, num))
    Z = _outputs(modele, [X, Y], rang)
    plt = pyplot()
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    ax.set_xlabel("axe x")
    ax.set_ylabel("axe y")
    ax.set_zlabel("axe z")
    ax.plot_surface(X, Y, Z)
    fig.tight_layout()
    return finish(fig, file, show)


def affichage_evaluation_deux_var_2d(modele, xmin, xmax, ymin, ymax, rang=0, num=30,
                                     niveaux=10, file=None, show=True):
    """Level lines of F(x, y) over [xmin, xmax] × [ymin, ymax], coloured."""
    X, Y = np.meshgrid(np.linspace(xmin, xmax, num), np.linspace(ymin, ymax, num))
    Z = _outputs(modele, [X, Y], rang)
    plt = pyplot()
    fig = plt.figure()
    plt.contourf(X, Y, Z, niveaux, cmap="hot")
    plt.colorbar()
    plt.axis("equal")
    fig.tight_layout()
    return finish(fig, file, show)


def affichage_evaluation_trois_var(modele, xmin, xmax, ymin, ymax, zmin, zmax, rang=0, num=10,
                                   file=None, show=True):
    """Points (x, y, z) of a grid of the box, coloured by F(x, y, z)."""
    X, Y, Z = np.meshgrid(np.linspace(xmin, xmax, num), np.linspace(ymin, ymax, num),
                          np.linspace(zmin, zmax, num))
    S = _outputs(modele, [X, Y, Z], rang)
    plt = pyplot()
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    ax.set_xlabel("axe x")
    ax.set_ylabel("axe y")
    ax.set_zlabel("axe z")
    points = ax.scatter(X.ravel(), Y.ravel(), Z.ravel(), c=S.ravel(), cmap="hot")
    fig.colorbar(points)
    fig.tight_layout()
    return finish(fig, file, show)
