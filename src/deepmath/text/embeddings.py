"""Word vectors (book, chapter "ChatGPT – partie 1", §4 "Plongement" and §5 "Réalisation d'un
plongement"; chapter "ChatGPT – partie 2", §2.2 "Retranscription par les moindres carrés").

Layout: a set of word vectors is an array `vectors` of shape (N, n), one row per word, as the
weights of a Keras Embedding layer. The book's embedding matrix A ∈ M_{n,N} has the vectors as
columns: A = vectors.T. The co-occurrence matrix follows the book: column i is the word i,
row j the word that follows it.
"""
from collections import Counter

import numpy as np

from .stats import _positive_int, _word_list


# ---- co-occurrences (§5.2) --------------------------------------------------------------------
def vocabulary(words, size=None):
    """The `size` most frequent words (all without size), most frequent first (§5.2: the
    N = 500 most frequent words of the Reuters corpus are the tokens)."""
    counts = Counter(_word_list(words))
    return [w for w, _ in counts.most_common(None if size is None else
                                              _positive_int(size, "size"))]


def cooccurrence_matrix(words, vocab=None):
    """(M, vocab): M[j, i] = number of times vocab[i] is immediately followed by vocab[j]
    (column i, row j, as the book's table of §5.2). `vocab` defaults to every word, most
    frequent first; pairs with a word outside it are skipped."""
    seq = _word_list(words)
    vocab = vocabulary(seq) if vocab is None else list(vocab)
    index = {w: i for i, w in enumerate(vocab)}
    if len(index) != len(vocab):
        raise ValueError("vocab must not hold the same word twice")
    M = np.zeros((len(vocab), len(vocab)), dtype=np.int64)
    for first, second in zip(seq, seq[1:]):
        if first in index and second in index:
            M[index[second], index[first]] += 1
    return M, vocab


def probability_matrix(M):
    """P with p_ij = M[j, i] / (total of column i): column i holds the probabilities of the
    word following word i, so every column sums to 1 (column-stochastic), except the columns
    of words never followed by a vocabulary word, left at 0 (§5.2)."""
    M = np.asarray(M, dtype=float)
    if M.ndim != 2 or M.shape[0] != M.shape[1] or np.any(M < 0):
        raise ValueError(f"M must be a square matrix of counts >= 0, got shape {M.shape}")
    totals = M.sum(axis=0)
    return np.divide(M, totals, out=np.zeros_like(M), where=totals > 0)


# ---- similarity (§4.1) ------------------------------------------------------------------------
def _vector(x, name):
    v = np.asarray(x, dtype=float)
    if v.ndim not in (1, 2) or v.shape[-1] == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"{name} must be a vector (n,) or rows of vectors (m, n) of finite "
                         f"numbers, got shape {v.shape}")
    return v


def _unit(v, name):
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    if np.any(norm == 0):
        raise ValueError(f"{name} holds a zero vector: its direction is undefined")
    return v / norm


def cosine_similarity(x, y):
    """S_cos(X, Y) = <X|Y> / (||X|| ||Y||) = cos θ (§4.1). x, y: vectors (n,) or rows (m, n)
    (a vector against rows gives one similarity per row; two sets of rows, the (m, m') table)."""
    x, y = _vector(x, "x"), _vector(y, "y")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape} and {y.shape}")
    return _unit(x, "x") @ _unit(y, "y").T


def angle(x, y, degrees=True):
    """The angle θ between x and y, arccos of the cosine similarity (in degrees by default,
    as the book's θ ≈ 57° between _dog and _cat)."""
    theta = np.arccos(np.clip(cosine_similarity(x, y), -1.0, 1.0))
    return np.degrees(theta) if degrees else theta


def euclidean_distance(x, y):
    """||X - Y||, the distance between the points X and Y (§4.1)."""
    x, y = _vector(x, "x"), _vector(y, "y")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x and y must have the same dimension, got {x.shape} and {y.shape}")
    return np.linalg.norm(x - y, axis=-1)


def _lookup(words, vectors):
    words = list(words)
    V = _vector(vectors, "vectors")
    if V.ndim != 2 or len(words) != len(V):
        raise ValueError(f"vectors must be (N, n) with one row per word: {len(words)} words, "
                         f"vectors of shape {V.shape}")
    return {w: i for i, w in enumerate(words)}, V


def _row(index, V, word):
    if word not in index:
        raise KeyError(f"{word!r} is not in the vocabulary")
    return V[index[word]]


def nearest(query, words, vectors, k=5, exclude=()):
    """The k words whose vectors are most similar to `query` (a word or a vector) by cosine
    similarity, as [(word, similarity)…], most similar first; the words in `exclude` (and the
    query word itself) are left out."""
    index, V = _lookup(words, vectors)
    k = _positive_int(k, "k")
    skip = set(exclude)
    if isinstance(query, str):
        skip.add(query)
        query = _row(index, V, query)
    sims = cosine_similarity(query, V)
    order = np.argsort(-sims, kind="stable")
    words = list(words)
    return [(words[i], float(sims[i])) for i in order if words[i] not in skip][:k]


def analogy(a, b, c, words, vectors, k=1, exclude_inputs=True):
    """The words nearest to v_a - v_b + v_c (§4.2, "king - man + woman = queen": a = 'king',
    b = 'man', c = 'woman'), as [(word, similarity)…]. The book notes that the input words must
    be excluded (queen only comes second after king otherwise): `exclude_inputs=True`."""
    index, V = _lookup(words, vectors)
    target = _row(index, V, a) - _row(index, V, b) + _row(index, V, c)
    return nearest(target, words, V, k, exclude=(a, b, c) if exclude_inputs else ())


# ---- projections (§4.2) -----------------------------------------------------------------------
def project_on_line(X, u, normalize=True):
    """π(x) = <x|u>, the coordinate of the orthogonal projection p(x) = <x|u> u of each x on
    the line directed by u (unit; `normalize=True` makes it so, e.g. u = v_animal - v_city)."""
    X, u = _vector(X, "X"), _vector(u, "u")
    if u.ndim != 1 or u.shape[0] != X.shape[-1]:
        raise ValueError(f"u must be a vector of dimension {X.shape[-1]}, got shape {u.shape}")
    if normalize:
        u = _unit(u, "u")
    elif not np.isclose(u @ u, 1.0):
        raise ValueError(f"u must have norm 1 (or pass normalize=True), got {np.sqrt(u @ u)}")
    return X @ u


def project(X, *basis, orthonormalize=False):
    """π(x) = (<x|u>, <x|v>[, <x|w>]) on the plane (or space) of an orthonormal basis u, v[, w]
    (§4.2); e.g. project(X, f1, f3) keeps coordinates 1 and 3. `orthonormalize=True` first
    makes the basis orthonormal (Gram–Schmidt through QR, keeping each vector's direction)."""
    X = _vector(X, "X")
    if not basis:
        raise ValueError("project needs at least one basis vector")
    U = _vector(np.stack([np.asarray(b, dtype=float) for b in basis]), "basis")
    if U.shape[1] != X.shape[-1]:
        raise ValueError(f"the basis vectors must have dimension {X.shape[-1]}, got {U.shape[1]}")
    if orthonormalize:
        Q, R = np.linalg.qr(U.T)
        if np.any(np.isclose(np.diag(R), 0.0)):
            raise ValueError("the basis vectors are not linearly independent")
        U = (Q * np.sign(np.diag(R))).T
    elif not np.allclose(U @ U.T, np.eye(len(U)), atol=1e-8):
        raise ValueError("the basis must be orthonormal (or pass orthonormalize=True)")
    return X @ U.T


def pca_components(X, k=2):
    """(mean, components (k, n), variances (k,)) of the principal component analysis of the
    rows of X, through the SVD of the centred data: the components are the eigenvectors of
    the covariance matrix of the book's `pca` (§4.2) with decreasing eigenvalues (variances).
    Sign convention: each component's entry of largest absolute value is positive."""
    X = _vector(X, "X")
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"X must hold at least 2 rows (m, n), got shape {X.shape}")
    k = _positive_int(k, "k")
    if k > min(X.shape):
        raise ValueError(f"k must be <= min(m, n) = {min(X.shape)}, got {k}")
    mean = X.mean(axis=0)
    _, s, Vt = np.linalg.svd(X - mean, full_matrices=False)
    Vt = Vt[:k]
    signs = np.sign(Vt[np.arange(k), np.abs(Vt).argmax(axis=1)])
    return mean, Vt * signs[:, None], s[:k] ** 2 / (len(X) - 1)


def pca(X, k=2):
    """The rows of X projected on their k first principal components (k = 2: the plane,
    k = 3: space), as the book's `pca(X, k)` (§4.2), with the signs of `pca_components`."""
    mean, components, _ = pca_components(X, k)
    return (np.asarray(X, dtype=float) - mean) @ components.T


# ---- unembedding ("ChatGPT – partie 2", §2.2) -------------------------------------------------
def unembedding(A):
    """B = Aᵀ (A Aᵀ)⁻¹ ∈ M_{N,n} for the embedding matrix A ∈ M_{n,N} of rank n (Proposition 1):
    x = B y is the solution of A x = y of least norm, and A B = I_n."""
    A = np.asarray(A, dtype=float)
    if A.ndim != 2 or A.shape[0] > A.shape[1]:
        raise ValueError(f"A must be a matrix (n, N) with n <= N, got shape {A.shape}")
    if np.linalg.matrix_rank(A) < A.shape[0]:
        raise ValueError(f"A must have rank n = {A.shape[0]} (A Aᵀ invertible), got rank "
                         f"{np.linalg.matrix_rank(A)}")
    return np.linalg.solve(A @ A.T, A).T


# ---- figures ----------------------------------------------------------------------------------
def plot_words(points, words, groups=None, title=None, file=None, show=False):
    """The words at their 2-D or 3-D points (e.g. `pca(vectors, 2)`), labelled, one colour per
    group when `groups` (one label per word) is given, as the book's figures of §4."""
    from ..plot import finish, pyplot
    P = np.asarray(points, dtype=float)
    words = list(words)
    if P.ndim != 2 or P.shape[1] not in (2, 3) or len(P) != len(words):
        raise ValueError(f"points must be (m, 2) or (m, 3) with one row per word: "
                         f"{len(words)} words, points of shape {P.shape}")
    groups = [None] * len(words) if groups is None else list(groups)
    if len(groups) != len(words):
        raise ValueError(f"{len(groups)} groups for {len(words)} words: they must match")
    fig = pyplot().figure(figsize=(7, 6))
    ax = fig.add_subplot(projection="3d" if P.shape[1] == 3 else None)
    for g in dict.fromkeys(groups):
        rows = [i for i, gi in enumerate(groups) if gi == g]
        ax.scatter(*P[rows].T, label=None if g is None else str(g))
    for w, p in zip(words, P):
        ax.text(*p, f" {w}")
    if any(g is not None for g in groups):
        ax.legend()
    if title:
        ax.set_title(title)
    return finish(fig, file, show)


# French names used in the book
similarite_cosinus = cosine_similarity
retranscription = unembedding
matrice_cooccurrence = cooccurrence_matrix
