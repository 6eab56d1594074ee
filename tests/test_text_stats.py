"""deepmath.text.stats: the book's chapter "ChatGPT – partie 1", §2 (line numbers refer to
book/deepmath-book.txt)."""
import re
import string
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from deepmath.text import stats

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / \
    "tinyshakespeare.txt"

CORPUS = ("the cat sat on the mat . the cat ate the fish . the dog sat on the cat . "
          "a dog ate the fish . the cat sat .")


# ---- counting ---------------------------------------------------------------------------------
def test_words_split_on_spaces_and_punctuation():
    text = "The country's oil import bill, however, fell 23 pct -- in the first quarter."
    assert stats.words(text) == ["The", "country's", "oil", "import", "bill", "however", "fell",
                                 "23", "pct", "in", "the", "first", "quarter"]
    # the book's Reuters words: lower case, two letters or more (lines 8480, 9110)
    assert stats.words("I saw a well-known Cat, a cat!", lower=True, min_length=2) == \
        ["saw", "well-known", "cat", "cat"]


def test_word_and_char_counts_and_ranking():
    counts = stats.word_counts(CORPUS)
    assert counts["the"] == 8 and counts["cat"] == 4 and counts["fish"] == 2
    assert stats.ranking(counts, 2) == [("the", 8), ("cat", 4)]
    assert stats.word_counts(["A", "a", "b"], lower=True) == Counter({"a": 2, "b": 1})
    chars = stats.char_counts("abba c")
    assert chars == Counter({"a": 2, "b": 2, " ": 1, "c": 1})
    assert " " not in stats.char_counts("abba c", ignore_whitespace=True)
    f = stats.frequencies(counts)
    assert f.sum() == pytest.approx(1.0)
    assert f[0] == pytest.approx(8 / sum(counts.values()))
    assert np.all(np.diff(f) <= 0)


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="no ../shared/data/text/tinyshakespeare.txt")
def test_tinyshakespeare_counts_match_an_independent_split():
    text = SHAKESPEARE.read_text()
    # independent reference: keep letters, digits, ' and -, split, cut at '' / -- and strip
    kept = "".join(c if c in string.ascii_letters + string.digits + "'-" else " " for c in text)
    reference = [p.strip("'-") for w in kept.split() for p in re.split(r"['-]{2,}", w)]
    reference = [p for p in reference if p]
    found = stats.words(text)
    assert found == reference
    assert len(found) == 202859
    counts = stats.word_counts(found, lower=True)
    assert stats.ranking(counts, 3) == [("the", 6287), ("and", 5688), ("to", 4771)]
    assert counts["king"] == 887
    assert sum(stats.char_counts(text).values()) == len(text) == 1115394


# ---- Zipf–Mandelbrot --------------------------------------------------------------------------
def test_zipf_fit_recovers_the_books_parameters():
    ranks = np.arange(1, 501)
    f = stats.zipf_mandelbrot(ranks, 0.1, 1.5, 0.95)      # the Reuters fit, line 8505
    fit = stats.zipf_fit(f)
    assert fit.a == pytest.approx(0.1, rel=1e-5)
    assert fit.b == pytest.approx(1.5, rel=1e-5)
    assert fit.c == pytest.approx(0.95, rel=1e-5)
    np.testing.assert_allclose(fit(ranks), f, rtol=1e-5)


def test_zipf_fit_with_noise_and_other_parameters():
    rng = np.random.default_rng(0)
    ranks = np.arange(1, 2001)
    f = stats.zipf_mandelbrot(ranks, 250.0, 4.0, 1.2) * np.exp(rng.normal(0, 0.02, len(ranks)))
    fit = stats.zipf_fit(f)
    assert fit.c == pytest.approx(1.2, rel=0.03)
    assert fit.b == pytest.approx(4.0, rel=0.15)
    # least squares in log-log: no b does better than the fitted one
    log_f = np.log(f)
    best = np.sum((log_f - np.log(fit(ranks))) ** 2)
    for b in (fit.b * 0.9, fit.b * 1.1):
        X = np.column_stack([np.ones(len(ranks)), -np.log(ranks + b)])
        coef, *_ = np.linalg.lstsq(X, log_f, rcond=None)
        assert best <= np.sum((log_f - X @ coef) ** 2)


def test_zipf_errors_and_plot(tmp_path):
    with pytest.raises(ValueError, match="values"):
        stats.zipf_fit([1.0, 0.5])
    with pytest.raises(ValueError, match="> 0"):
        stats.zipf_fit([1.0, 0.5, 0.0])
    with pytest.raises(ValueError, match="b"):
        stats.zipf_mandelbrot([1, 2], 1.0, -1.0, 1.0)
    f = stats.zipf_mandelbrot(np.arange(1, 101), 0.1, 1.5, 0.95)
    fig = stats.plot_zipf(f, fit=True, file=tmp_path / "zipf.png")
    assert (tmp_path / "zipf.png").stat().st_size > 0
    assert fig.axes[0].get_xscale() == "log" and len(fig.axes[0].lines) == 2


# ---- softmax and temperature ------------------------------------------------------------------
def test_softmax_books_example():
    # line 9235: x = (2.2, -1.1, 3.3, 0.44) -> σ(x) = (0.237, 0.008, 0.713, 0.040)
    s = stats.softmax([2.2, -1.1, 3.3, 0.44])
    # the book truncates to three decimals (0.00875 printed 0.008)
    np.testing.assert_allclose(np.floor(s * 1000) / 1000, [0.237, 0.008, 0.713, 0.040])
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 10.0]])
    e = np.exp(x / 0.5)
    np.testing.assert_allclose(stats.softmax(x, 0.5), e / e.sum(axis=1, keepdims=True))


def test_temperature_on_the_books_distribution():
    # line 8580: X = (2, 5, 25, 3, 14, 4) / 53, the frequencies taken as logits (line 8566)
    X = np.array([2, 5, 25, 3, 14, 4]) / 53
    np.testing.assert_allclose(stats.apply_temperature(X, 0.3), stats.softmax(X, 0.3))
    cold, near, warm, hot = (stats.apply_temperature(X, T) for T in (0.1, 0.2, 1, 5))
    assert cold.argmax() == 2 and cold[2] > X[2] + 0.1          # T = 0.1 reinforces the max
    assert np.abs(near - X).max() < 0.1                         # T = 0.2 ≈ the distribution
    assert np.ptp(warm) < 0.1 and np.ptp(hot) < 0.02            # T = 1, 5: almost uniform
    # 'power': p^(1/T) renormalised, T = 1 gives p back
    np.testing.assert_allclose(stats.apply_temperature(X, 1, mode="power"), X)
    p = X ** 2 / np.sum(X ** 2)
    np.testing.assert_allclose(stats.apply_temperature(X, 0.5, mode="power"), p)


@pytest.mark.parametrize("T", [0, -1, float("nan"), float("inf")])
def test_temperature_must_be_positive(T):
    with pytest.raises(ValueError, match="temperature"):
        stats.softmax([1.0, 2.0], T)
    with pytest.raises(ValueError, match="temperature"):
        stats.generate(stats.ngram_table(CORPUS), "the", 5, strategy="temperature",
                       temperature=T)


def test_apply_temperature_errors():
    with pytest.raises(ValueError, match="mode"):
        stats.apply_temperature([0.5, 0.5], 1.0, mode="logits")
    with pytest.raises(ValueError, match="probabilities"):
        stats.apply_temperature([0.5, -0.5], 1.0)


# ---- n-grams and generation -------------------------------------------------------------------
def test_bigram_and_trigram_tables():
    w = CORPUS.split()
    assert stats.ngram_counts(w, 2)[("the", "cat")] == 4
    table = stats.ngram_table(w, 2)
    assert table[("the",)] == Counter({"cat": 4, "fish": 2, "mat": 1, "dog": 1})
    probs = stats.conditional_probabilities(table)
    for context, nexts in probs.items():
        assert sum(nexts.values()) == pytest.approx(1.0)
    assert probs[("the",)]["cat"] == pytest.approx(4 / 8)
    tri = stats.ngram_table(w, 3)
    assert tri[("cat", "sat")] == Counter({"on": 1, ".": 1})
    for nexts in stats.conditional_probabilities(tri).values():
        assert sum(nexts.values()) == pytest.approx(1.0)
    words, p = stats.next_word_candidates(table, "the", k=2)
    assert words == ["cat", "fish"] and np.allclose(p, [4 / 8, 2 / 8])


def test_greedy_generation_follows_the_largest_cooccurrence():
    table = stats.ngram_table(CORPUS, 2)
    assert stats.generate(table, "the", 6) == "the cat sat on the cat"
    tri = stats.ngram_table(CORPUS, 3)
    assert stats.generate(tri, "a dog", 5) == "a dog ate the fish"
    assert stats.generate(table, "fish", 1) == "fish"


def test_random_generation_is_reproducible_and_uses_only_seen_pairs():
    table = stats.ngram_table(CORPUS, 2)
    for strategy in ("weighted", "temperature"):
        a = stats.generate(table, "the", 12, strategy=strategy, k=3, temperature=2.0, seed=7)
        b = stats.generate(table, "the", 12, strategy=strategy, k=3, temperature=2.0, seed=7)
        assert a == b
        seq = a.split()
        for w1, w2 in zip(seq, seq[1:]):
            assert table[(w1,)][w2] > 0
    draws = {stats.generate(table, "the", 8, strategy="weighted", seed=s) for s in range(20)}
    assert len(draws) > 1
    # a very low temperature is greedy (line 8590: T = 0.001 always gives the same sentence)
    for mode in ("book", "power"):
        cold = stats.generate(table, "the", 6, strategy="temperature", temperature=1e-3,
                              seed=3, mode=mode)
        assert cold == stats.generate(table, "the", 6)


def test_weighted_choice_frequencies():
    rng = np.random.default_rng(0)
    picks = Counter(stats.choose_next(["company", "dollar"], [2, 1], "weighted", rng=rng)
                    for _ in range(3000))
    assert picks["company"] / 3000 == pytest.approx(2 / 3, abs=0.03)   # line 8539


def test_generation_errors():
    table = stats.ngram_table(CORPUS, 3)
    with pytest.raises(ValueError, match="context"):
        stats.generate(table, "the", 5)
    with pytest.raises(ValueError, match="strategy"):
        stats.generate(table, "the cat", 5, strategy="best")
    with pytest.raises(ValueError, match="table"):
        stats.generate({}, "the", 5)
    with pytest.raises(ValueError, match="length"):
        stats.generate(table, "the cat", 0)
    with pytest.raises(ValueError, match="n"):
        stats.ngram_table(CORPUS, 1)
    with pytest.raises(TypeError, match="text"):
        stats.words(3)
    with pytest.raises(TypeError, match="words"):
        stats.ngram_counts([1, 2, 3])
