"""deepmath.text.tokenizers: the book's chapter "ChatGPT – partie 1", §3 "Tokens" (line numbers
refer to book/deepmath-book.txt)."""
import random
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from deepmath.text import tokenizers
from deepmath.text.tokenizers import (BPE_PATTERN, BPETokenizer, CharTokenizer, Tokenizer,
                                      WordTokenizer)

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / \
    "tinyshakespeare.txt"

BOOK_TEXT = "ab ab abc dbac bacde"                                # line 8732


# ---- a naive BPE, straight from the book's algorithm (lines 8719-8726) -------------------------
def naive_bpe(text, num_merges=None):
    """Rescan the whole text at every merge. Tokens are ids (two merges may spell the same
    string); returns (merges as id pairs, vocabulary strings, final token ids of the text)."""
    vocab = sorted(set(text))
    chunks = [[vocab.index(c) for c in chunk] for chunk in re.findall(BPE_PATTERN, text)]
    merges = []
    while num_merges is None or len(merges) < num_merges:
        counts, first, position = Counter(), {}, 0
        for chunk in chunks:
            for pair in zip(chunk, chunk[1:]):
                counts[pair] += 1
                first.setdefault(pair, position)
                position += 1
            position += 1
        if not counts:
            break
        best = max(counts, key=lambda p: (counts[p], -first[p]))
        if counts[best] < 2:
            break
        new = len(vocab)
        vocab.append(vocab[best[0]] + vocab[best[1]])
        merges.append(best)
        chunks = [sequential_merge(chunk, best, new) for chunk in chunks]
    return merges, vocab, [i for chunk in chunks for i in chunk]


def sequential_merge(chunk, pair, new):
    """Replace the pair, left to right, without overlap."""
    out, i = [], 0
    while i < len(chunk):
        if i + 1 < len(chunk) and (chunk[i], chunk[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(chunk[i])
            i += 1
    return out


def random_text(rng, alphabet="aab bc\n.", length=60):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, length)))


# ---- characters -------------------------------------------------------------------------------
def test_char_tokenizer_sorted_characters_and_round_trip():
    tok = CharTokenizer("hello world")
    assert tok.vocab == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.vocab_size == len(tok) == 8
    assert tok.encode("hello") == [3, 2, 4, 4, 5]
    assert tok.stoi["w"] == 7 and tok.itos[0] == " "
    assert tok.decode(tok.encode("world hello")) == "world hello"
    assert tok.decode(np.array([3, 2])) == "he"


def test_char_tokenizer_errors():
    tok = CharTokenizer("abc")
    with pytest.raises(ValueError, match=r"'z' at position 2"):
        tok.encode("abzc")
    with pytest.raises(ValueError, match=r"ids\[1\] = 3 is out of range for vocab_size 3"):
        tok.decode([0, 3])
    with pytest.raises(TypeError, match=r"ids\[0\] must be an integer"):
        tok.decode(["a"])
    with pytest.raises(TypeError, match="text must be a str"):
        tok.encode(b"abc")
    with pytest.raises(ValueError, match="must not be empty"):
        CharTokenizer("")


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="shared/data/text absent")
def test_char_tokenizer_shakespeare_has_nanogpt_65_characters():
    text = SHAKESPEARE.read_text(encoding="utf-8")
    tok = CharTokenizer(text)
    assert tok.vocab_size == 65                      # nanoGPT's shakespeare_char: vocab size 65
    assert tok.vocab[:2] == ["\n", " "]
    ids = tok.encode(text[:5000])
    assert tok.decode(ids) == text[:5000]


# ---- words ------------------------------------------------------------------------------------
def test_word_tokenizer_words_punctuation_and_frequency_order():
    text = "le chat mange, le chien dort. le chat dort !"
    tok = WordTokenizer(text)
    assert tokenizers.split_words("le chat mange, le chien.") == \
        ["le", "chat", "mange", ",", "le", "chien", "."]
    assert tok.vocab[:3] == ["le", "chat", "dort"]  # counts 3, 2, 2 (ties: first appearance)
    assert tok.vocab_size == len(set(tokenizers.split_words(text)))
    ids = tok.encode("le chien mange.")
    assert [tok.vocab[i] for i in ids] == ["le", "chien", "mange", "."]
    assert tok.decode(ids) == "le chien mange."
    assert tok.decode(tok.encode(text)) == "le chat mange, le chien dort. le chat dort!"
    with pytest.raises(ValueError, match="word 'souris' is not in the vocabulary"):
        tok.encode("le chat souris")


def test_word_tokenizer_max_size_and_unknown_token():
    tok = WordTokenizer("The cat, the cat and the dog", max_size=3, lower=True)
    assert tok.vocab == ["<unk>", "the", "cat"]
    assert tok.unk_id == 0
    assert tok.encode("The bird saw the cat") == [1, 0, 0, 1, 2]
    assert WordTokenizer("a b", max_size=10).vocab == ["<unk>", "a", "b"]
    with pytest.raises(ValueError, match="max_size must be >= 2"):
        WordTokenizer("a b", max_size=1)
    with pytest.raises(TypeError, match="max_size must be an integer"):
        WordTokenizer("a b", max_size=2.5)
    with pytest.raises(ValueError, match="at least one word"):
        WordTokenizer("   ")


# ---- BPE: the book's example ------------------------------------------------------------------
def test_bpe_book_example_merges_and_codes():
    tok = BPETokenizer.train(BOOK_TEXT)
    # lines 8742-8764: fusion 1 (a, b), 3 times; fusion 2 (b, a), tied with (a, c) at 2 and
    # first in the text; fusion 3 (ba, c); then no pair occurs twice (line 8766)
    assert tok.merges == [("a", "b"), ("b", "a"), ("ba", "c")]
    assert tok.fusions == tok.merges
    assert tok.vocab == [" ", "a", "b", "c", "d", "e", "ab", "ba", "bac"]
    # line 8768: [ab], [ab], [ab, c], [d, bac], [bac, d, e]
    assert tok.tokenize(BOOK_TEXT) == ["ab", " ", "ab", " ", "ab", "c", " ", "d", "bac", " ",
                                       "bac", "d", "e"]
    # line 8770: [6], [6], [6,3], [4,8], [8,4,5] with the book's tokens numbered from 1 over
    # [a, b, c, d, e, ab, ba, bac]; here ids start at 0 but the space takes id 0, so the
    # numbers agree once the spaces are dropped
    ids = tok.encode(BOOK_TEXT)
    assert [i for i in ids if i != tok.vocab.index(" ")] == [6, 6, 6, 3, 4, 8, 8, 4, 5]
    assert tok.decode(ids) == BOOK_TEXT


def test_bpe_stopping_rules():
    assert BPETokenizer.train(BOOK_TEXT, num_merges=1).merges == [("a", "b")]
    assert len(BPETokenizer.train(BOOK_TEXT, num_merges=50).merges) == 3   # no pair twice
    assert BPETokenizer.train(BOOK_TEXT, num_merges=0).vocab_size == 6
    tok = BPETokenizer.train(BOOK_TEXT, vocab_size=8)
    assert tok.vocab_size == 8 and tok.merges == [("a", "b"), ("b", "a")]
    with pytest.raises(ValueError, match="vocab_size must be >= the 6 characters"):
        BPETokenizer.train(BOOK_TEXT, vocab_size=5)
    with pytest.raises(ValueError, match="not both"):
        BPETokenizer.train(BOOK_TEXT, num_merges=2, vocab_size=8)
    with pytest.raises(ValueError, match="num_merges must be >= 0"):
        BPETokenizer.train(BOOK_TEXT, num_merges=-1)
    with pytest.raises(TypeError, match="num_merges must be an integer"):
        BPETokenizer.train(BOOK_TEXT, num_merges=2.0)


def test_bpe_tie_break_is_first_occurrence_in_text():
    # (b, a) and (a, b) both occur twice: the one seen first in the text wins
    assert BPETokenizer.train("ba ab ab ba", num_merges=1).merges == [("b", "a")]
    assert BPETokenizer.train("xab ba ab ba", num_merges=1).merges == [("a", "b")]
    # inside one word: (a, c) at position 0 before (c, a)
    assert BPETokenizer.train("aca aca", num_merges=1).merges == [("a", "c")]
    # overlapping pairs count each position: "aaa" holds (a, a) twice
    assert BPETokenizer.train("aaa", num_merges=1).merges == [("a", "a")]
    assert BPETokenizer.train("aaa").tokenize("aaaa") == ["aa", "aa"]
    # pairs never span two words, nor a word and its punctuation
    assert BPETokenizer.train("a.a.a.a. a.").merges == []
    assert BPETokenizer.train("a.. a..").merges == [(".", ".")]


@pytest.mark.parametrize("seed", range(6))
def test_bpe_agrees_with_naive_reference(seed):
    rng = random.Random(seed)
    for _ in range(40):
        text = random_text(rng, alphabet=rng.choice(["aab bc\n.", "abcd ", "xy yx\n\n", "aaa a"]))
        num = rng.choice([None, 1, 3, 10])
        merges, vocab, ids = naive_bpe(text, num)
        tok = BPETokenizer.train(text, num_merges=num)
        assert tok.merges == [(vocab[a], vocab[b]) for a, b in merges], text
        assert tok.vocab == vocab
        assert tok.encode(text) == ids, text
        assert tok.decode(ids) == text


def test_bpe_encode_new_text_matches_replaying_merges():
    rng = random.Random(7)
    tok = BPETokenizer.train(random_text(rng, "abcab  c", 400), num_merges=12)
    for _ in range(50):
        text = random_text(rng, "abc ", 40)
        ids = []
        for chunk in re.findall(BPE_PATTERN, text):
            symbols = [tok.vocab.index(c) for c in chunk]
            for rank, (a, b) in enumerate(tok._pair_ids):
                symbols = sequential_merge(symbols, (a, b), len(tok.alphabet) + rank)
            ids += symbols
        assert tok.encode(text) == ids
        assert tok.decode(ids) == text


def test_bpe_errors():
    tok = BPETokenizer.train(BOOK_TEXT)
    with pytest.raises(ValueError, match=r"'z' at position 3"):
        tok.encode("ab z")
    with pytest.raises(ValueError, match=r"'\\n' at position 2"):     # not in the alphabet
        tok.encode("ab\nab")
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([9])
    with pytest.raises(ValueError, match="one-dimensional"):
        tok.decode(np.zeros((2, 2), dtype=int))
    with pytest.raises(TypeError, match="sequence of integers"):
        tok.decode("ab")
    with pytest.raises(ValueError, match="must not be empty"):
        BPETokenizer.train("")
    with pytest.raises(ValueError, match="distinct single characters"):
        BPETokenizer(["a", "a"], [])
    with pytest.raises(ValueError, match="out of range"):
        BPETokenizer(["a", "b"], [(0, 2)])


# ---- saving -----------------------------------------------------------------------------------
def test_save_load_every_tokenizer(tmp_path):
    text = "le chat, le chien et le chat.\n"
    for tok in (CharTokenizer(text), WordTokenizer(text, max_size=4),
                BPETokenizer.train(text, num_merges=5)):
        path = tmp_path / f"{type(tok).__name__}.json"
        tok.save(path)
        again = Tokenizer.load(path)
        assert type(again) is type(tok)
        assert again.vocab == tok.vocab
        assert again.encode(text) == tok.encode(text)
        assert type(tok).load(str(path)).vocab == tok.vocab
    assert sorted(p.name for p in tmp_path.iterdir()) == \
        ["BPETokenizer.json", "CharTokenizer.json", "WordTokenizer.json"]    # no temp left
    with pytest.raises(ValueError, match="holds a CharTokenizer, not a BPETokenizer"):
        BPETokenizer.load(tmp_path / "CharTokenizer.json")
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="does not hold a saved tokenizer"):
        Tokenizer.load(tmp_path / "other.json")


# ---- real data --------------------------------------------------------------------------------
@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="shared/data/text absent")
def test_bpe_tinyshakespeare_1000_merges():
    text = SHAKESPEARE.read_text(encoding="utf-8")
    start = time.perf_counter()
    tok = BPETokenizer.train(text, num_merges=1000)
    trained = time.perf_counter() - start
    ids = tok.encode(text)
    print(f"\nBPE on tinyshakespeare ({len(text)} characters): 1000 merges in {trained:.2f} s, "
          f"encode in {time.perf_counter() - start - trained:.2f} s, {len(ids)} tokens")
    assert tok.vocab_size == 65 + 1000
    assert tok.decode(ids) == text
    # the first merge is the most frequent pair of consecutive characters inside a chunk
    pairs = Counter(p for chunk in re.findall(BPE_PATTERN, text) for p in zip(chunk, chunk[1:]))
    assert tok.merges[0] == pairs.most_common(1)[0][0]
    # more merges, fewer tokens: 1000 merges take the text below half its characters
    fewer = BPETokenizer.train(text, num_merges=100).encode(text)
    assert len(ids) < len(fewer) < len(text) and len(ids) < len(text) / 1.8
    # on a prefix the fast training equals the naive one, merge for merge
    merges, vocab, naive_ids = naive_bpe(text[:3000], 40)
    small = BPETokenizer.train(text[:3000], num_merges=40)
    assert small.merges == [(vocab[a], vocab[b]) for a, b in merges]
    assert small.encode(text[:3000]) == naive_ids
