"""Word statistics and n-gram text generation (book, chapter "ChatGPT – partie 1",
§2 "Statistique et linguistique"): counting words, their ranking and the Zipf–Mandelbrot law
f_i = a / (i + b)^c (§2.1), co-occurrences of consecutive words (§2.2), softmax with a
temperature (§2.3) and sentences generated word after word from bi-grams and tri-grams (§2.4).

    words = stats.words(text, lower=True, min_length=2)
    table = stats.ngram_table(words, n=2)
    stats.generate(table, "the", 10)                    # greedy, as the book's
    stats.generate(table, "the", 10, strategy="temperature", k=20, temperature=0.5, seed=0)
"""
import re
from collections import Counter, defaultdict
from typing import NamedTuple

import numpy as np

from ..proba import softmax  # σ_T(X) (§2.3): one softmax for the whole library

#: A word: letters or digits, with inner apostrophes or hyphens kept ("country's", "well-known").
WORD_PATTERN = r"[^\W_]+(?:['’-][^\W_]+)*"

STRATEGIES = ("greedy", "weighted", "temperature")


# ---- counting ---------------------------------------------------------------------------------
def _text(text, name="text"):
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    return text


def _positive_int(value, name, least=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < least:
        raise ValueError(f"{name} must be >= {least}, got {value}")
    return int(value)


def words(text, lower=False, min_length=1, pattern=WORD_PATTERN):
    """The words of `text` in order (§3.1: words are separated by spaces; punctuation is not
    part of a word). The book's Reuters statistics keep words "de deux lettres ou plus" in
    lower case: `lower=True, min_length=2`."""
    _positive_int(min_length, "min_length")
    found = re.findall(pattern, _text(text))
    if lower:
        found = [w.lower() for w in found]
    return [w for w in found if len(w) >= min_length]


def word_counts(text_or_words, lower=False, min_length=1):
    """Counter word -> number of occurrences, from a text or from a list of words."""
    _positive_int(min_length, "min_length")
    if isinstance(text_or_words, str):
        return Counter(words(text_or_words, lower, min_length))
    items = list(text_or_words)
    if not all(isinstance(w, str) for w in items):
        raise TypeError("text_or_words must be a str or a sequence of str")
    return Counter(w.lower() if lower else w for w in items if len(w) >= min_length)


def char_counts(text, ignore_whitespace=False):
    """Counter character -> number of occurrences."""
    chars = _text(text)
    return Counter(c for c in chars if not (ignore_whitespace and c.isspace()))


def ranking(counts, n=None):
    """The (word, count) pairs by decreasing count (rank 1 first); ties keep the order in which
    the words were first counted. `n`: only the n most frequent."""
    if not isinstance(counts, Counter):
        counts = Counter(dict(counts))
    return counts.most_common(None if n is None else _positive_int(n, "n"))


def frequencies(counts, n=None):
    """The frequencies f_i = count_i / total of the ranked words (§2.1), as an array, rank 1
    first; the total counts every word, also those beyond the n kept."""
    values = np.array([c for _, c in ranking(counts)], dtype=float)
    total = values.sum()
    if total <= 0:
        raise ValueError("counts must hold at least one occurrence")
    return (values / total)[:n]


# ---- Zipf–Mandelbrot --------------------------------------------------------------------------
class ZipfFit(NamedTuple):
    """f(i) = a / (i + b)^c with the book's names (§2.1): `a` the scale, `b` the shift of the
    rank, `c` the exponent (≈ 1). Calling it evaluates f at the ranks given."""
    a: float
    b: float
    c: float

    def __call__(self, ranks):
        return zipf_mandelbrot(ranks, self.a, self.b, self.c)


def zipf_mandelbrot(ranks, a, b, c):
    """The Zipf–Mandelbrot law f_i = a / (i + b)^c (§2.1, e.g. a = 0.1, b = 1.5, c = 0.95 for
    the Reuters dispatches)."""
    r = np.asarray(ranks, dtype=float)
    if np.any(r + b <= 0):
        raise ValueError(f"ranks + b must be > 0, got b = {b} and ranks down to {r.min()}")
    return a / (r + b) ** c


def _loglog_lstsq(log_f, ranks, b):
    """For a fixed shift b, the least-squares line ln f = ln a - c ln(i + b): (a, c, SSE)."""
    X = np.column_stack([np.ones_like(ranks), -np.log(ranks + b)])
    coef, *_ = np.linalg.lstsq(X, log_f, rcond=None)
    residual = log_f - X @ coef
    return float(np.exp(coef[0])), float(coef[1]), float(residual @ residual)


def zipf_fit(values, ranks=None, b_max=100.0):
    """Fit f_i = a / (i + b)^c to frequencies (or counts) `values` ranked 1, 2, … (or at
    `ranks`) by least squares on ln f_i (the log-log scale of §2.1): for each b the line
    ln f = ln a - c ln(i + b) is exact least squares, and b in (-min rank, b_max] minimises the
    residual (a grid, then a bounded Brent search). Returns ZipfFit(a, b, c)."""
    from scipy.optimize import minimize_scalar
    f = np.asarray(values, dtype=float).reshape(-1)
    r = np.arange(1, len(f) + 1, dtype=float) if ranks is None else \
        np.asarray(ranks, dtype=float).reshape(-1)
    if len(f) < 3 or r.shape != f.shape:
        raise ValueError(f"values must hold at least 3 numbers, with one rank each; got "
                         f"{len(f)} values and {len(r)} ranks")
    if np.any(f <= 0) or not np.all(np.isfinite(f)):
        raise ValueError("values must be finite and > 0 (drop the words never seen)")
    lo = -r.min() + 1e-6 * max(1.0, r.min())
    if b_max <= lo:
        raise ValueError(f"b_max must be > {lo:g}, got {b_max}")
    log_f = np.log(f)

    def sse(b):
        return _loglog_lstsq(log_f, r, b)[2]

    grid = lo + (b_max - lo) * np.linspace(0.0, 1.0, 201) ** 3
    best = int(np.argmin([sse(b) for b in grid]))
    bracket = (grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)])
    b = float(minimize_scalar(sse, bounds=bracket, method="bounded",
                              options={"xatol": 1e-10}).x)
    a, c, _ = _loglog_lstsq(log_f, r, b)
    return ZipfFit(a, b, c)


def plot_zipf(values, fit=None, n=None, loglog=True, file=None, show=False):
    """The frequencies (or counts) by rank, and the fitted law when `fit` is given
    (True: fit them here), in log-log scale as the book's figure of §2.1."""
    from ..plot import finish, pyplot
    f = np.asarray(values, dtype=float).reshape(-1)[:n]
    if len(f) == 0:
        raise ValueError("values must hold at least one number")
    ranks = np.arange(1, len(f) + 1)
    fig, ax = pyplot().subplots(figsize=(6, 4.5))
    ax.plot(ranks, f, "o", markersize=3, label="occurrences")
    if fit is True:
        fit = zipf_fit(f)
    if fit is not None:
        ax.plot(ranks, fit(ranks), label=f"a/(i+b)^c, a={fit.a:.3g}, b={fit.b:.3g}, "
                                         f"c={fit.c:.3g}")
        ax.legend()
    if loglog:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel("rang")
    ax.set_ylabel("fréquence")
    return finish(fig, file, show)


# ---- softmax and temperature (§2.3) -----------------------------------------------------------
def _temperature(temperature):
    T = float(temperature)
    if not T > 0 or not np.isfinite(T):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    return T


def apply_temperature(probabilities, temperature, mode="book"):
    """Temperature applied to probabilities p (frequencies normalised to sum 1) before a
    random choice. mode 'book' (§2.3): softmax_T(p), the frequencies taken as the logits,
    as the book's example X = (2, 5, 25, 3, 14, 4)/53; mode 'power': p_i^(1/T) renormalised,
    i.e. softmax_T(ln p), where T = 1 gives p back."""
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 1 or len(p) == 0 or np.any(p < 0) or not np.all(np.isfinite(p)):
        raise ValueError("probabilities must be a non-empty vector of finite numbers >= 0")
    if mode == "book":
        return softmax(p / p.sum(), temperature)
    if mode == "power":
        with np.errstate(divide="ignore"):
            return softmax(np.log(p), temperature)
    raise ValueError(f"mode must be 'book' or 'power', got {mode!r}")


# ---- n-grams (§2.2, §2.4) ---------------------------------------------------------------------
def _word_list(text_or_words):
    if isinstance(text_or_words, str):
        return text_or_words.split()
    seq = list(text_or_words)
    if not all(isinstance(w, str) for w in seq):
        raise TypeError("words must be a str or a sequence of str")
    return seq


def ngram_counts(words_, n=2):
    """Counter of the n-grams: tuples of n consecutive words (n = 2: the co-occurrences of
    §2.2, bi-grams; n = 3: tri-grams, §2.4)."""
    seq = _word_list(words_)
    n = _positive_int(n, "n")
    return Counter(zip(*(seq[i:] for i in range(n))))


def ngram_table(words_, n=2):
    """dict context -> Counter of the next word, the context being the n - 1 previous words as
    a tuple: table[("the",)]["company"] is the co-occurrence of (the, company)."""
    n = _positive_int(n, "n", least=2)
    table = defaultdict(Counter)
    for gram, count in ngram_counts(words_, n).items():
        table[gram[:-1]][gram[-1]] += count
    return dict(table)


def conditional_probabilities(table):
    """dict context -> dict next word -> P(next | context) = count / total of the context;
    the probabilities of each context sum to 1."""
    out = {}
    for context, nexts in table.items():
        total = sum(nexts.values())
        out[context] = {w: c / total for w, c in nexts.items()}
    return out


def next_word_candidates(table, context, k=None):
    """The k most frequent next words after `context` (a tuple, a list or a str of the last
    words) and their probabilities among all successors, most probable first."""
    key = _context(context, _order(table))
    nexts = table.get(key)
    if not nexts:
        return [], np.zeros(0)
    total = sum(nexts.values())
    top = nexts.most_common(None if k is None else _positive_int(k, "k"))
    return [w for w, _ in top], np.array([c / total for _, c in top])


def _order(table):
    """The context length n - 1 of an n-gram table."""
    if not isinstance(table, dict) or not table:
        raise ValueError("table must be a non-empty dict made by ngram_table(words, n)")
    return len(next(iter(table)))


def _context(context, order):
    seq = _word_list(context) if not isinstance(context, tuple) else list(context)
    if len(seq) < order:
        raise ValueError(f"the context needs the last {order} word(s), got {seq!r}")
    return tuple(seq[len(seq) - order:])


def choose_next(candidates, probabilities, strategy="greedy", temperature=1.0, rng=None,
                mode="book"):
    """One next word among the candidates (most probable first): 'greedy' the first; 'weighted'
    at random in proportion to the frequencies (§2.3, "company" twice as likely as "dollar");
    'temperature' at random with the probabilities apply_temperature(p, T, mode)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if not candidates:
        raise ValueError("no candidate to choose from")
    if strategy == "greedy":
        return candidates[0]
    p = np.asarray(probabilities, dtype=float)
    p = p / p.sum() if strategy == "weighted" else apply_temperature(p, temperature, mode)
    rng = np.random.default_rng(rng)
    return candidates[int(rng.choice(len(candidates), p=p))]


def generate(table, start, length, strategy="greedy", k=10, temperature=1.0, seed=None,
             mode="book"):
    """A sentence of `length` words beginning with `start`, each next word chosen from the
    n-gram `table` among the k most probable (§2.2–2.4): greedy gives the book's "the company
    said it has been made by the company"; the random strategies are reproducible for a given
    `seed`. Stops early at a context never followed by a word."""
    _temperature(temperature)
    sentence = _word_list(start)
    order = _order(table)
    _context(sentence, order)
    length = _positive_int(length, "length")
    rng = np.random.default_rng(seed)
    while len(sentence) < length:
        candidates, p = next_word_candidates(table, sentence[-order:], k)
        if not candidates:
            break
        sentence.append(choose_next(candidates, p, strategy, temperature, rng, mode))
    return " ".join(sentence)


# French names used in the book
loi_de_zipf_mandelbrot = zipf_mandelbrot
mots = words
generer = generate
