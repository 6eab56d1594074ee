"""Tokenizers (book, chapter "ChatGPT – partie 1", §3 "Tokens": §3.3 "Différents codages",
§3.4 "Algorithme de tokenisation").

A tokenizer turns a text into token ids (`encode`) and back (`decode`); ids run from 0 to
`vocab_size - 1` (the book numbers tokens from 1). Three are built from a training text:

    CharTokenizer(text)                    # one token per character (nanoGPT's shakespeare_char)
    WordTokenizer(text, max_size=500)      # one token per word or punctuation mark, "<unk>"
    BPETokenizer.train(text, num_merges=F) # the book's BPE: F merges ("fusions")

Every tokenizer saves to JSON (`tok.save(path)`) and comes back with `Tokenizer.load(path)`
(or `BPETokenizer.load(path)`). GPT-2's byte-level BPE lives in `deepmath.text.gpt2`.
"""
import heapq
import json
import os
from abc import ABC, abstractmethod
import re
import tempfile
from collections import Counter

import numpy as np

from .stats import WORD_PATTERN

UNK = "<unk>"

#: The BPE's pre-tokenisation: merges happen inside runs of letters/digits, runs of
#: punctuation and runs of whitespace, never across two of them (§3.4: "dans les mots").
BPE_PATTERN = r"\w+|[^\w\s]+|\s+"

#: Words (as `stats.words`) and every other non-space character as a token of its own.
WORD_TOKEN_PATTERN = WORD_PATTERN + r"|\S"

_NO_SPACE_BEFORE = set(".,;:!?)]}%»…")
_NO_SPACE_AFTER = set("([{«")


# ---- checks -----------------------------------------------------------------------------------
def _text(text, name="text"):
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    return text


def _count(value, name, least=0):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < least:
        raise ValueError(f"{name} must be >= {least}, got {value}")
    return int(value)


def check_ids(ids, vocab_size):
    """`ids` as a list of Python ints, each in [0, vocab_size); TypeError/ValueError otherwise."""
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"ids must be a sequence of integers, got {type(ids).__name__}")
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise ValueError(f"ids must be one-dimensional, got shape {ids.shape}")
        ids = ids.tolist()
    out = []
    for k, i in enumerate(ids):
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"ids[{k}] must be an integer, got {type(i).__name__}")
        if not 0 <= i < vocab_size:
            raise ValueError(f"ids[{k}] = {i} is out of range for vocab_size {vocab_size}")
        out.append(int(i))
    return out


def _unknown(char, position):
    return ValueError(f"character {char!r} at position {position} is not in the vocabulary")


# ---- the common interface ---------------------------------------------------------------------
class Tokenizer(ABC):
    """Base class: `encode(text) -> list[int]`, `decode(ids) -> str`, `vocab_size`,
    `save(path)` / `load(path)` (JSON). Subclasses define `_state()` and `_from_state()`."""

    _registry = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Tokenizer._registry[cls.__name__] = cls

    @property
    def vocab_size(self):
        return len(self.vocab)

    @abstractmethod
    def encode(self, text):
        """The token ids of `text`."""

    @abstractmethod
    def decode(self, ids):
        """The text of the token ids."""

    @abstractmethod
    def _state(self):
        """What `save` writes: a JSON-able dict."""

    @classmethod
    @abstractmethod
    def _from_state(cls, state):
        """The tokenizer back from `_state()`."""

    def __len__(self):
        return self.vocab_size

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"

    def save(self, path):
        """Write the tokenizer as JSON: to a temporary file beside `path`, then renamed, so an
        interrupted save never leaves a truncated file."""
        path = os.fspath(path)
        state = {"type": type(self).__name__, **self._state()}
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(state, f, ensure_ascii=False)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    @classmethod
    def load(cls, path):
        """Read a tokenizer written by `save`; `Tokenizer.load` returns whichever kind it is."""
        with open(os.fspath(path), encoding="utf-8") as f:
            state = json.load(f)
        kind = state.pop("type", None) if isinstance(state, dict) else None
        target = Tokenizer._registry.get(kind)
        if target is None:
            raise ValueError(f"{path} does not hold a saved tokenizer (type {kind!r})")
        if not issubclass(target, cls):
            raise ValueError(f"{path} holds a {kind}, not a {cls.__name__}")
        return target._from_state(state)


# ---- characters -------------------------------------------------------------------------------
class CharTokenizer(Tokenizer):
    """One token per character: the vocabulary is the sorted set of the characters of `text`
    (as nanoGPT's shakespeare_char: `stoi`, `itos`)."""

    def __init__(self, text):
        self.vocab = sorted(set(_text(text)))
        if not self.vocab:
            raise ValueError("text must not be empty")
        self.itos = dict(enumerate(self.vocab))
        self.stoi = {c: i for i, c in self.itos.items()}

    chars = property(lambda self: list(self.vocab))

    def encode(self, text):
        stoi = self.stoi
        try:
            return [stoi[c] for c in _text(text)]
        except KeyError:
            position = next(i for i, c in enumerate(text) if c not in stoi)
            raise _unknown(text[position], position) from None

    def decode(self, ids):
        return "".join(self.vocab[i] for i in check_ids(ids, self.vocab_size))

    def _state(self):
        return {"chars": self.vocab}

    @classmethod
    def _from_state(cls, state):
        return cls("".join(state["chars"]))


# ---- words ------------------------------------------------------------------------------------
def split_words(text, lower=False):
    """Words (letters/digits with inner apostrophes or hyphens, as `stats.words`) and every
    other non-space character (punctuation) as separate tokens, in order (§3.1)."""
    found = re.findall(WORD_TOKEN_PATTERN, _text(text))
    return [w.lower() for w in found] if lower else found


class WordTokenizer(Tokenizer):
    """One token per word or punctuation mark. Vocabulary: the words of `text`, most frequent
    first (ties in order of first appearance). With `max_size`, only the `max_size - 1` most
    frequent are kept and id 0 is the unknown token "<unk>", which any other word encodes to;
    without it, an unknown word raises ValueError. `decode` joins words with single spaces."""

    def __init__(self, text, max_size=None, lower=False):
        counts = Counter(split_words(text, lower))
        self.lower, self.max_size = bool(lower), max_size
        if max_size is None:
            self.vocab = [w for w, _ in counts.most_common()]
        else:
            keep = _count(max_size, "max_size", least=2) - 1
            self.vocab = [UNK] + [w for w, _ in counts.most_common(keep) if w != UNK]
        if not self.vocab:
            raise ValueError("text must hold at least one word")
        self.stoi = {w: i for i, w in enumerate(self.vocab)}

    @property
    def unk_id(self):
        """Id of "<unk>", None when the vocabulary has no unknown token."""
        return None if self.max_size is None else 0

    def tokenize(self, text):
        return split_words(text, self.lower)

    def encode(self, text):
        ids = []
        for w in self.tokenize(text):
            i = self.stoi.get(w, self.unk_id)
            if i is None:
                raise ValueError(f"word {w!r} is not in the vocabulary (no {UNK} token: "
                                 "give max_size to map unknown words to it)")
            ids.append(i)
        return ids

    def decode(self, ids):
        out = []
        for w in (self.vocab[i] for i in check_ids(ids, self.vocab_size)):
            if out and w not in _NO_SPACE_BEFORE and out[-1] not in _NO_SPACE_AFTER:
                out.append(" ")
            out.append(w)
        return "".join(out)

    def _state(self):
        return {"vocab": self.vocab, "max_size": self.max_size, "lower": self.lower}

    @classmethod
    def _from_state(cls, state):
        tok = cls.__new__(cls)
        tok.vocab, tok.max_size, tok.lower = state["vocab"], state["max_size"], state["lower"]
        tok.stoi = {w: i for i, w in enumerate(tok.vocab)}
        return tok


# ---- BPE: learning the merges -----------------------------------------------------------------
def _pairs(word):
    return zip(word, word[1:])


def merge_pair(word, a, b, new):
    """`word` (a sequence of symbols) with each occurrence of the pair (a, b), read left to
    right without overlap, replaced by `new`."""
    out, i, n = [], 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


class _PairStats:
    """Counts of adjacent pairs over a table of unique words (with their frequencies), an index
    pair -> words holding it, and a heap giving the most frequent pair. Ties go to the pair that
    occurs first in the text: words are numbered by first appearance, so that is the pair of
    smallest (first word holding it, position in that word)."""

    def __init__(self, words, freqs):
        self.words, self.freqs = words, freqs
        self.count, self.where, self.key, self.heap = Counter(), {}, {}, []
        for wid, word in enumerate(words):
            for p in _pairs(word):
                self.count[p] += freqs[wid]
                self.where.setdefault(p, set()).add(wid)
        for p in self.count:
            self._refresh(p, min(self.where[p]))

    def _refresh(self, p, first_word):
        """Record the tie-break key of p and push its current entry on the heap."""
        word = self.words[first_word]
        pos = next(i for i, q in enumerate(_pairs(word)) if q == p)
        self.key[p] = (first_word, pos)
        heapq.heappush(self.heap, (-self.count[p], first_word, pos, p))

    def best(self):
        """(pair, count) of the most frequent pair, (None, 0) when there is none."""
        heap = self.heap
        while heap:
            c, w, pos, p = heap[0]
            if self.count.get(p) == -c and self.key.get(p) == (w, pos):
                return p, -c
            heapq.heappop(heap)
        return None, 0

    def merge(self, pair, new):
        """Replace `pair` by the symbol `new` in every word holding it; only those words and
        the pairs they hold are visited."""
        touched = {}
        for wid in self.where.pop(pair):
            old, f = self.words[wid], self.freqs[wid]
            word = merge_pair(old, pair[0], pair[1], new)
            self.words[wid] = word
            before, after = Counter(_pairs(old)), Counter(_pairs(word))
            for p, n in before.items():
                self.count[p] -= n * f
                if p not in after and p in self.where:
                    self.where[p].discard(wid)
                touched.setdefault(p, []).append(wid)
            for p, n in after.items():
                self.count[p] += n * f
                self.where.setdefault(p, set()).add(wid)
                touched.setdefault(p, []).append(wid)
        for p, wids in touched.items():
            if self.count[p] <= 0:
                for table in (self.count, self.where, self.key):
                    table.pop(p, None)
            else:
                self._refresh(p, self._first_word(p, wids))

    def _first_word(self, p, changed):
        """The first word holding p, knowing that only the words `changed` changed."""
        first, holders = self.key.get(p, (None,))[0], self.where[p]
        if first is None or first not in holders:   # new pair, or its first word lost it
            return min(holders)
        return min([first] + [w for w in changed if w in holders])


def learn_merges(words, freqs, first_id, num_merges=None, min_count=2):
    """The book's BPE loop (§3.4) on a table of unique words: `words` are lists of symbol ids
    in order of first appearance in the text, `freqs` their numbers of occurrences. Merges the
    most frequent adjacent pair (ties: first occurrence in the text) into the new id
    `first_id + k`, at most `num_merges` times, stopping when the best pair occurs fewer than
    `min_count` times. Returns the merged pairs in order; `words` are merged in place."""
    stats, merges = _PairStats(words, freqs), []
    while num_merges is None or len(merges) < num_merges:
        pair, count = stats.best()
        if pair is None or count < min_count:
            break
        stats.merge(pair, first_id + len(merges))
        merges.append(pair)
    return merges


def merge_by_rank(symbols, ranks):
    """Apply learnt merges to a sequence of symbols: repeatedly merge (everywhere, left to
    right) the adjacent pair of lowest rank. `ranks[(a, b)] = (rank, merged_symbol)`. This
    gives the same result as replaying every merge in its learnt order."""
    symbols = list(symbols)
    while len(symbols) > 1:
        pair = min((p for p in _pairs(symbols) if p in ranks), key=lambda p: ranks[p][0],
                   default=None)
        if pair is None:
            break
        symbols = merge_pair(symbols, pair[0], pair[1], ranks[pair][1])
    return symbols


def word_table(chunks):
    """(unique chunks in order of first appearance, their counts)."""
    counts = Counter(chunks)
    return list(counts), list(counts.values())


# ---- BPE tokenizer ----------------------------------------------------------------------------
class BPETokenizer(Tokenizer):
    """Byte Pair Encoding as the book describes it (§3.4): the initial vocabulary is the sorted
    set of the characters of the text (ids 0…), then each merge ("fusion") adds the token
    made of the most frequent pair of consecutive tokens inside a word. `merges` lists the
    merged pairs (as strings) in order; `vocab` every token, id by id."""

    def __init__(self, alphabet, merges, pattern=BPE_PATTERN):
        self.alphabet = list(alphabet)
        if len(set(self.alphabet)) != len(self.alphabet) or \
                not all(isinstance(c, str) and len(c) == 1 for c in self.alphabet):
            raise ValueError("alphabet must hold distinct single characters")
        self.pattern = pattern
        self._regex = re.compile(pattern)
        self.vocab = list(self.alphabet)
        self.ranks = {}
        self._pair_ids = []
        for rank, pair in enumerate(merges):
            if len(pair) != 2:
                raise ValueError(f"merges[{rank}] must be a pair of token ids, got {pair!r}")
            a, b = check_ids(pair, len(self.vocab))
            new = len(self.vocab)
            self.ranks[(a, b)] = (rank, new)
            self._pair_ids.append((a, b))
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self.stoi = {c: i for i, c in enumerate(self.alphabet)}
        self._cache = {}

    @classmethod
    def train(cls, text, num_merges=None, vocab_size=None, pattern=BPE_PATTERN):
        """Learn the merges on `text`: `num_merges` of them, or as many as make `vocab_size`
        tokens, or (neither given) until no pair occurs twice, as in the book's example."""
        alphabet = sorted(set(_text(text)))
        if not alphabet:
            raise ValueError("text must not be empty")
        if num_merges is not None and vocab_size is not None:
            raise ValueError("give num_merges or vocab_size, not both")
        if vocab_size is not None:
            vocab_size = _count(vocab_size, "vocab_size")
            if vocab_size < len(alphabet):
                raise ValueError(f"vocab_size must be >= the {len(alphabet)} characters of "
                                 f"the text, got {vocab_size}")
            num_merges = vocab_size - len(alphabet)
        elif num_merges is not None:
            num_merges = _count(num_merges, "num_merges")
        stoi = {c: i for i, c in enumerate(alphabet)}
        chunks, freqs = word_table(re.findall(pattern, text))
        words = [[stoi[c] for c in chunk] for chunk in chunks]
        merges = learn_merges(words, freqs, len(alphabet), num_merges)
        return cls(alphabet, merges, pattern)

    @property
    def merges(self):
        """The merged pairs in order, as (left token, right token) strings."""
        return [(self.vocab[a], self.vocab[b]) for a, b in self._pair_ids]

    fusions = merges

    def _encode_chunk(self, chunk, offset):
        ids = self._cache.get(chunk)
        if ids is None:
            try:
                symbols = [self.stoi[c] for c in chunk]
            except KeyError:
                k = next(k for k, c in enumerate(chunk) if c not in self.stoi)
                raise _unknown(chunk[k], offset + k) from None
            ids = self._cache[chunk] = merge_by_rank(symbols, self.ranks)
        return ids

    def tokenize(self, text):
        """The tokens (strings) of `text`."""
        return [self.vocab[i] for i in self.encode(text)]

    def encode(self, text):
        ids, end = [], 0
        for m in self._regex.finditer(_text(text)):
            if m.start() != end:                         # text the pattern skipped
                raise _unknown(text[end], end)
            ids.extend(self._encode_chunk(m.group(), m.start()))
            end = m.end()
        if end != len(text):
            raise _unknown(text[end], end)
        return ids

    def decode(self, ids):
        return "".join(self.vocab[i] for i in check_ids(ids, self.vocab_size))

    def _state(self):
        return {"alphabet": self.alphabet, "merges": [list(p) for p in self._pair_ids],
                "pattern": self.pattern}

    @classmethod
    def _from_state(cls, state):
        return cls(state["alphabet"], state["merges"], state["pattern"])
