"""Text for the book's part "ChatGPT": word statistics, tokenizers (characters, words, BPE,
GPT-2's byte-level BPE), embeddings and positional encodings."""
from . import embeddings, gpt2, positional, stats, tokenizers

__all__ = ["embeddings", "gpt2", "positional", "stats", "tokenizers"]
