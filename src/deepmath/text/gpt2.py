"""GPT-2's tokenizer: byte-level BPE (book, chapter "ChatGPT – partie 1", §3 "Tokens": GPT-2
has N = 50 257 tokens, 256 bytes + 50 000 merges + "<|endoftext|>", §3.4).

    tok = GPT2Tokenizer.from_directory("gpt2/")     # encoder.json + vocab.bpe (OpenAI's names)
    tok.encode("Hello world")                       # [15496, 995]
    tok.decode([15496, 995])                        # "Hello world"

The text is cut into pre-tokens by GPT-2's regular expression (`pretokenize`), each pre-token's
UTF-8 bytes are written as printable characters (`bytes_to_unicode`: a space becomes "Ġ", the
book's "_"), and the BPE merges are applied by rank. Python's `re` lacks `\\p{L}`/`\\p{N}`: the
letter and number classes are built once from `unicodedata`, so no dependency is needed.
"""
import functools
import json
import os
import re
import sys
import unicodedata

from .tokenizers import (Tokenizer, _text, _count, check_ids, learn_merges, merge_by_rank,
                         word_table)

ENDOFTEXT = "<|endoftext|>"

#: OpenAI's file names, then Hugging Face's, for (vocabulary, merges).
FILE_NAMES = (("encoder.json", "vocab.bpe"), ("vocab.json", "merges.txt"))

#: Unicode's White_Space property: what `\s` matches in GPT-2's pattern (`regex` module).
WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + \
    "\u2028\u2029\u202f\u205f\u3000"


# ---- bytes as printable characters ------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def _byte_map():
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in set(printable)]
    return tuple((b, chr(b)) for b in printable) + \
        tuple((b, chr(256 + n)) for n, b in enumerate(others))


def bytes_to_unicode():
    """GPT-2's map byte -> character: printable bytes ("!"…"~", "¡"…"¬", "®"…"ÿ") map to
    themselves, the 68 others to chr(256 + n) in increasing order (the space 0x20 -> "Ġ").
    The dict iterates in GPT-2's order of the 256 first token ids."""
    return dict(_byte_map())


def unicode_to_bytes():
    """The inverse map, character -> byte."""
    return {c: b for b, c in _byte_map()}


# ---- pre-tokenisation -------------------------------------------------------------------------
def _char_class(keep):
    """A `re` character class (without brackets) of the code points c with keep(c)."""
    ranges, start = [], None
    for i in range(sys.maxunicode + 2):
        inside = i <= sys.maxunicode and keep(chr(i))
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            ranges.append(f"\\U{start:08x}-\\U{i - 1:08x}" if i - 1 > start
                          else f"\\U{start:08x}")
            start = None
    return "".join(ranges)


@functools.lru_cache(maxsize=None)
def gpt2_pattern():
    """GPT-2's pre-tokenisation pattern
    `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`
    compiled for Python's `re`, with \\p{L}, \\p{N} (Unicode general categories L*, N*, from
    `unicodedata`) and \\s (Unicode White_Space) written as explicit classes."""
    L = _char_class(lambda c: unicodedata.category(c)[0] == "L")
    N = _char_class(lambda c: unicodedata.category(c)[0] == "N")
    S = "".join(f"\\U{ord(c):08x}" for c in WHITESPACE)
    return re.compile(rf"'s|'t|'re|'ve|'m|'ll|'d| ?[{L}]+| ?[{N}]+| ?[^{S}{L}{N}]+"
                      rf"|[{S}]+(?![^{S}])|[{S}]+")


def pretokenize(text):
    """The pieces GPT-2 cuts `text` into before BPE, e.g. "I'm here  now" ->
    ["I", "'m", " here", " ", " now"] (a space stays glued to the start of the next word)."""
    return gpt2_pattern().findall(_text(text))


# ---- the tokenizer ----------------------------------------------------------------------------
class GPT2Tokenizer(Tokenizer):
    """GPT-2's byte-level BPE. `encoder`: token string (bytes written with `bytes_to_unicode`)
    -> id; `merges`: the merged pairs of strings, by rank; `special_tokens`: strings encoded as
    one id each when `allowed_special` (by default "<|endoftext|>" when the encoder has it)."""

    def __init__(self, encoder, merges, special_tokens=None):
        if not isinstance(encoder, dict) or not encoder:
            raise TypeError("encoder must be a non-empty dict token -> id")
        self.encoder = {_text(k, "encoder key"): _count(v, f"encoder[{k!r}]")
                        for k, v in encoder.items()}
        self.vocab = [None] * (max(self.encoder.values()) + 1)
        for token, i in self.encoder.items():
            if self.vocab[i] is not None:
                raise ValueError(f"encoder gives id {i} to both {self.vocab[i]!r} and {token!r}")
            self.vocab[i] = token
        self.merges = [tuple(p) for p in merges]
        self.ranks = {}
        for rank, p in enumerate(self.merges):        # a repeated pair keeps its first rank
            self.ranks.setdefault(p, (rank, p[0] + p[1]))
        if special_tokens is None:
            special_tokens = [ENDOFTEXT] if ENDOFTEXT in self.encoder else []
        missing = [s for s in special_tokens if s not in self.encoder]
        if missing:
            raise ValueError(f"special_tokens {missing} are not in the encoder")
        self.special_tokens = list(special_tokens)
        self._special_re = re.compile("|".join(map(re.escape, sorted(
            self.special_tokens, key=len, reverse=True)))) if self.special_tokens else None
        self.byte_encoder, self.byte_decoder = bytes_to_unicode(), unicode_to_bytes()
        self._cache = {}

    # -- files --
    @classmethod
    def from_files(cls, vocab_json, merges_txt, special_tokens=None):
        """Read GPT-2's `encoder.json` (or `vocab.json`) and `vocab.bpe` (or `merges.txt`)."""
        for path in (vocab_json, merges_txt):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"GPT-2 tokenizer file not found: {os.fspath(path)}")
        with open(vocab_json, encoding="utf-8") as f:
            encoder = json.load(f)
        with open(merges_txt, encoding="utf-8") as f:
            lines = f.read().split("\n")
        merges = []
        for n, line in enumerate(lines, 1):
            if not line or (n == 1 and line.startswith("#version")):
                continue
            pair = line.split()
            if len(pair) != 2:
                raise ValueError(f"{merges_txt}, line {n}: expected two tokens, got {line!r}")
            merges.append(tuple(pair))
        return cls(encoder, merges, special_tokens)

    @classmethod
    def from_directory(cls, path, special_tokens=None):
        """From a directory holding encoder.json + vocab.bpe, or vocab.json + merges.txt."""
        for names in FILE_NAMES:
            files = [os.path.join(path, name) for name in names]
            if all(os.path.isfile(f) for f in files):
                return cls.from_files(*files, special_tokens=special_tokens)
        wanted = " or ".join(" + ".join(names) for names in FILE_NAMES)
        raise FileNotFoundError(f"no GPT-2 tokenizer files ({wanted}) in {os.fspath(path)}")

    def save_files(self, directory):
        """Write vocab.json and merges.txt (GPT-2's formats) into `directory`."""
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(self.encoder, f, ensure_ascii=False)
        with open(os.path.join(directory, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in self.merges))

    @classmethod
    def train(cls, text, num_merges, special_tokens=(ENDOFTEXT,)):
        """Learn `num_merges` byte-level merges on `text` with the book's BPE (§3.4) over GPT-2's
        pre-tokens: ids 0-255 are the bytes (in `bytes_to_unicode` order), then one id per new
        token, then the special tokens, as in GPT-2's files."""
        chunks, freqs = word_table(pretokenize(text))
        words = [list(chunk.encode("utf-8")) for chunk in chunks]
        pairs = learn_merges(words, freqs, 256, _count(num_merges, "num_merges"))
        strings = [c for _, c in sorted(_byte_map())]           # by byte value
        for a, b in pairs:
            strings.append(strings[a] + strings[b])
        encoder = {c: i for i, (_, c) in enumerate(_byte_map())}
        for token in strings[256:] + list(special_tokens):
            encoder.setdefault(token, len(encoder))
        return cls(encoder, [(strings[a], strings[b]) for a, b in pairs], list(special_tokens))

    # -- encoding --
    def bpe(self, piece):
        """The BPE tokens (strings) of one pre-token, given as bytes-as-characters (cached)."""
        tokens = self._cache.get(piece)
        if tokens is None:
            tokens = self._cache[piece] = merge_by_rank(piece, self.ranks)
        return tokens

    def _encode_ordinary(self, text, ids):
        enc, bmap = self.encoder, self.byte_encoder
        for piece in pretokenize(text):
            for token in self.bpe("".join(bmap[b] for b in piece.encode("utf-8"))):
                try:
                    ids.append(enc[token])
                except KeyError:
                    raise ValueError(f"token {token!r} (of {piece!r}) is not in the encoder: "
                                     "the vocabulary lacks one of its bytes or merges") from None

    def encode(self, text, allowed_special=True):
        """Token ids of `text`; with `allowed_special`, each special token ("<|endoftext|>")
        in the text is one id, otherwise it is encoded as ordinary text."""
        text, ids, start = _text(text), [], 0
        if allowed_special and self._special_re is not None:
            for m in self._special_re.finditer(text):
                self._encode_ordinary(text[start:m.start()], ids)
                ids.append(self.encoder[m.group()])
                start = m.end()
        self._encode_ordinary(text[start:], ids)
        return ids

    def tokenize(self, text):
        """The token strings of `text` (a space shows as "Ġ")."""
        return [self.vocab[i] for i in self.encode(text)]

    def decode_bytes(self, ids):
        """The bytes the ids stand for."""
        out = []
        for k, i in enumerate(check_ids(ids, self.vocab_size)):
            token = self.vocab[i]
            if token is None:
                raise ValueError(f"ids[{k}] = {i} is not a token of this vocabulary")
            out.append(token)
        try:
            return bytes(self.byte_decoder[c] for c in "".join(out))
        except KeyError as e:
            raise ValueError(f"token character {e.args[0]!r} stands for no byte") from None

    def decode(self, ids, errors="replace"):
        """The text of the ids; bytes that are not valid UTF-8 (a character cut between two
        tokens) become "\ufffd" with errors="replace", as GPT-2 does."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)

    @property
    def eot_token(self):
        """Id of "<|endoftext|>" (50256 for GPT-2)."""
        return self.encoder[ENDOFTEXT]

    def _state(self):
        return {"encoder": self.encoder, "merges": [list(p) for p in self.merges],
                "special_tokens": self.special_tokens}

    @classmethod
    def _from_state(cls, state):
        return cls(state["encoder"], state["merges"], state["special_tokens"])
