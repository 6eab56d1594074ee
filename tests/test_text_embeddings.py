"""deepmath.text.embeddings: chapters "ChatGPT – partie 1" §4–5 and "ChatGPT – partie 2" §2.2
(line numbers refer to book/deepmath-book.txt)."""
import numpy as np
import pytest

from deepmath.text import embeddings as emb

# a hand-made embedding: axes (royalty, male, female, person, fruit)
WORDS = ["king", "queen", "man", "woman", "prince", "princess", "apple", "pear"]
VECTORS = np.array([
    [1.0, 1.0, 0.0, 0.3, 0.0],
    [1.0, 0.0, 1.0, 0.3, 0.0],
    [0.0, 1.0, 0.0, 0.4, 0.0],
    [0.0, 0.0, 1.0, 0.4, 0.0],
    [0.7, 1.0, 0.0, 0.6, 0.0],
    [0.7, 0.0, 1.0, 0.6, 0.0],
    [0.0, 0.0, 0.0, 0.1, 1.0],
    [0.0, 0.0, 0.0, 0.1, 0.9],
])


# ---- co-occurrences ---------------------------------------------------------------------------
def test_probability_matrix_books_example():
    # lines 9085-9093: the tokens le, et, chat, chien; column i = word, row j = next word
    M = np.array([[0, 10, 1, 0], [0, 0, 8, 5], [6, 2, 0, 0], [4, 3, 1, 0]])
    P = emb.probability_matrix(M)
    expected = np.array([[0 / 10, 10 / 15, 1 / 10, 0 / 5], [0 / 10, 0 / 15, 8 / 10, 5 / 5],
                         [6 / 10, 2 / 15, 0 / 10, 0 / 5], [4 / 10, 3 / 15, 1 / 10, 0 / 5]])
    np.testing.assert_allclose(P, expected)             # line 9103
    np.testing.assert_allclose(P.sum(axis=0), 1.0)      # column-stochastic


def test_cooccurrence_matrix_counts_consecutive_pairs():
    text = "le chat et le chien et le chat"
    M, vocab = emb.cooccurrence_matrix(text, vocab=["le", "et", "chat", "chien"])
    expected = np.zeros((4, 4), int)
    for first, second in [("le", "chat"), ("chat", "et"), ("et", "le"), ("le", "chien"),
                          ("chien", "et"), ("et", "le"), ("le", "chat")]:
        expected[vocab.index(second), vocab.index(first)] += 1
    np.testing.assert_array_equal(M, expected)
    assert M[2, 0] == 2                                  # "le chat" twice: column le, row chat
    P = emb.probability_matrix(M)
    assert P[:, 2].sum() == pytest.approx(1.0)
    # a restricted vocabulary (the most frequent words) skips the other pairs
    M2, vocab2 = emb.cooccurrence_matrix(text.split(), vocab=emb.vocabulary(text, 2))
    assert vocab2 == ["le", "chat"] and M2.tolist() == [[0, 0], [2, 0]]   # tie: first seen
    P2 = emb.probability_matrix(M2)
    np.testing.assert_allclose(P2, [[0, 0], [1, 0]])     # chat never followed by le/chat: 0


def test_cooccurrence_errors():
    with pytest.raises(ValueError, match="twice"):
        emb.cooccurrence_matrix("a b", vocab=["a", "a"])
    with pytest.raises(ValueError, match="square"):
        emb.probability_matrix(np.ones((2, 3)))


# ---- similarity -------------------------------------------------------------------------------
def test_cosine_similarity_books_examples():
    # line 8863: X = (2, 3), Y = (4, 4): 5/sqrt(26) ≈ 0.98; distance sqrt(5) ≈ 2.24
    assert emb.cosine_similarity([2, 3], [4, 4]) == pytest.approx(5 / np.sqrt(26))
    assert emb.euclidean_distance([2, 3], [4, 4]) == pytest.approx(np.sqrt(5))
    # line 8904: roi, reine, princesse against Y = (3, 0, 0, 2): 0.98, 0.39, 0.32
    X = np.array([[1, 0, 0, 1], [0, 1, 0, 1], [0, 1, 1, 1]])
    np.testing.assert_allclose(emb.cosine_similarity([3, 0, 0, 2], X), [0.98, 0.39, 0.32],
                               atol=5e-3)
    # line 8872: cos θ ≈ 0.55 is θ ≈ 57°
    assert emb.angle([1, 0], [0.55, np.sqrt(1 - 0.55 ** 2)]) == pytest.approx(56.6, abs=0.1)
    assert emb.angle([1, 0], [0, 2], degrees=False) == pytest.approx(np.pi / 2)


def test_cosine_similarity_against_numpy():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(5, 7)), rng.normal(size=(3, 7))
    ref = (A @ B.T) / np.outer(np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1))
    np.testing.assert_allclose(emb.cosine_similarity(A, B), ref)
    np.testing.assert_allclose(emb.cosine_similarity(3 * A[0], A[0]), 1.0)   # length ignored
    with pytest.raises(ValueError, match="zero vector"):
        emb.cosine_similarity([0, 0], [1, 2])
    with pytest.raises(ValueError, match="same dimension"):
        emb.cosine_similarity([1, 2], [1, 2, 3])


def test_nearest_and_analogy_on_a_hand_made_embedding():
    near = emb.nearest("king", WORDS, VECTORS, k=3)
    unit = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    sims = unit @ unit[0]
    order = [WORDS[i] for i in np.argsort(-sims) if i != 0][:3]
    assert [w for w, _ in near] == order == ["prince", "man", "queen"]
    np.testing.assert_allclose([s for _, s in near], np.sort(sims)[::-1][1:4])
    assert emb.nearest("apple", WORDS, VECTORS, k=1)[0][0] == "pear"
    # king - man + woman = queen (line 9034), the inputs excluded (line 9053)
    best = emb.analogy("king", "man", "woman", WORDS, VECTORS, k=3)
    assert best[0][0] == "queen"
    assert not {"king", "man", "woman"} & {w for w, _ in best}
    target = VECTORS[0] - VECTORS[2] + VECTORS[3]
    assert best[0][1] == pytest.approx(emb.cosine_similarity(target, VECTORS[1]))
    assert emb.analogy("prince", "man", "woman", WORDS, VECTORS)[0][0] == "princess"
    everything = emb.analogy("king", "man", "woman", WORDS, VECTORS, k=8, exclude_inputs=False)
    assert len(everything) == 8


def test_nearest_errors():
    with pytest.raises(KeyError, match="dragon"):
        emb.analogy("dragon", "man", "woman", WORDS, VECTORS)
    with pytest.raises(ValueError, match="one row per word"):
        emb.nearest("king", WORDS[:-1], VECTORS)
    with pytest.raises(ValueError, match="k"):
        emb.nearest("king", WORDS, VECTORS, k=0)


# ---- projections and PCA ----------------------------------------------------------------------
def test_projections():
    X = np.array([[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]])
    u = np.array([3.0, 0.0, 4.0])
    np.testing.assert_allclose(emb.project_on_line(X, u), X @ u / 5)
    with pytest.raises(ValueError, match="norm 1"):
        emb.project_on_line(X, u, normalize=False)
    f1, f3 = np.eye(3)[0], np.eye(3)[2]
    np.testing.assert_allclose(emb.project(X, f1, f3), X[:, [0, 2]])   # line 8992
    with pytest.raises(ValueError, match="orthonormal"):
        emb.project(X, f1, f1 + f3)
    P = emb.project(X, f1, f1 + f3, orthonormalize=True)
    np.testing.assert_allclose(P, X[:, [0, 2]])
    with pytest.raises(ValueError, match="independent"):
        emb.project(X, f1, 2 * f1, orthonormalize=True)


def _book_pca(X, k=2):
    """The book's pca (lines 9004-9012), through the eigenvectors of the covariance."""
    XX = X - X.mean(axis=0)
    d, u = np.linalg.eigh(XX.T @ XX / (XX.shape[0] - 1))
    return XX @ u[:, np.argsort(d)[::-1]][:, :k], np.sort(d)[::-1][:k]


def test_pca_matches_the_books_code_up_to_sign():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 6)) @ np.diag([5, 3, 2, 1, 0.5, 0.1])
    for k in (2, 3):
        ours = emb.pca(X, k)
        ref, variances = _book_pca(X, k)
        for j in range(k):
            assert np.allclose(ours[:, j], ref[:, j]) or np.allclose(ours[:, j], -ref[:, j])
        mean, components, var = emb.pca_components(X, k)
        np.testing.assert_allclose(var, variances)
        np.testing.assert_allclose(components @ components.T, np.eye(k), atol=1e-12)
        big = components[np.arange(k), np.abs(components).argmax(axis=1)]
        assert np.all(big > 0)                                  # the sign convention
    with pytest.raises(ValueError, match="k"):
        emb.pca(X, 7)


# ---- unembedding ------------------------------------------------------------------------------
def test_unembedding_books_example():
    # "ChatGPT – partie 2", lines 9290-9305
    A = np.array([[1, 2, 0, -1], [1, 1, -1, 0]])
    B = emb.unembedding(A)
    np.testing.assert_allclose(B, np.array([[0, 1], [1, 0], [1, -2], [-1, 1]]) / 3, atol=1e-12)
    np.testing.assert_allclose(A @ B, np.eye(2), atol=1e-12)
    x = B @ np.array([2, -1])
    np.testing.assert_allclose(x, np.array([-1, 2, 4, -3]) / 3)


def test_unembedding_is_the_least_norm_solution():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(5, 30))
    B = emb.unembedding(A)
    np.testing.assert_allclose(A @ B, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(B, np.linalg.pinv(A), atol=1e-10)
    y = rng.normal(size=5)
    x = B @ y
    other = x + (np.eye(30) - B @ A) @ rng.normal(size=30)    # another solution of A x = y
    np.testing.assert_allclose(A @ other, y, atol=1e-10)
    assert np.linalg.norm(x) < np.linalg.norm(other)
    with pytest.raises(ValueError, match="rank"):
        emb.unembedding(np.array([[1.0, 2, 3], [2, 4, 6]]))
    with pytest.raises(ValueError, match="n <= N"):
        emb.unembedding(np.ones((3, 2)))


# ---- figures ----------------------------------------------------------------------------------
def test_plot_words_2d_and_3d(tmp_path):
    groups = ["royal"] * 2 + ["person"] * 2 + ["royal"] * 2 + ["fruit"] * 2
    fig = emb.plot_words(emb.pca(VECTORS, 2), WORDS, groups, file=tmp_path / "w2.png")
    assert (tmp_path / "w2.png").stat().st_size > 0
    assert len(fig.axes[0].texts) == len(WORDS) and len(fig.axes[0].collections) == 3
    fig3 = emb.plot_words(emb.pca(VECTORS, 3), WORDS, file=tmp_path / "w3.png")
    assert fig3.axes[0].name == "3d"
    with pytest.raises(ValueError, match="points"):
        emb.plot_words(VECTORS, WORDS)
