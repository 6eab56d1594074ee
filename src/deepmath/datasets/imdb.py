"""IMDB movie reviews (25 000 for training, 25 000 for testing, labelled 0 negative /
1 positive), the data of the book's chapter « Python : tensorflow avec keras - partie 2 »
(§5 « Reconnaissance de texte »): `imdb.load_data()` and `imdb.get_word_index()` as in
`tensorflow.keras.datasets`.

Read from Keras' published ``imdb.npz`` (x_train / x_test: object arrays of lists of word
ranks, 1 the most frequent word; y_train / y_test: integer labels) and
``imdb_word_index.json`` (word -> rank). The object arrays of an ``.npz`` are pickles: they
are loaded by an unpickler that builds nothing but data and numpy arrays.
"""
import json
import os
from pathlib import Path

import numpy as np

from . import _files
from ._files import DatasetFileError

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
ARCHIVE, WORD_INDEX = "imdb.npz", "imdb_word_index.json"
# (size, algorithm, digest): the digests Keras publishes for these files (md5 is the
# only one published for the word index)
FILES = {
    ARCHIVE: (17464789, "sha256",
              "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
    WORD_INDEX: (1641221, "md5", "bfafd718b763782e994055a2d397834f"),
}
KEYS = ("x_train", "y_train", "x_test", "y_test")


def _sequences(x, where):
    """Check that `x` is a 1-D array of sequences of non-negative ints."""
    if x.ndim != 1 or not all(isinstance(s, (list, tuple, np.ndarray)) for s in x):
        raise DatasetFileError(where, f"expected a 1-D array of word-rank lists, got "
                                      f"{x.dtype} {x.shape}")
    for s in x:
        if any(not isinstance(w, (int, np.integer)) or w < 0 for w in s):
            raise DatasetFileError(where, "a review holds something other than a word rank "
                                          "(non-negative int)")
    return x


def read_archive(path):
    """(x_train, y_train, x_test, y_test) of Keras' imdb.npz at `path`, checked."""
    arrays = _files.read_npz(path, KEYS)
    for split in ("train", "test"):
        x = _sequences(arrays["x_" + split], f"{path}!x_{split}")
        y = arrays["y_" + split]
        if y.shape != x.shape or not np.issubdtype(y.dtype, np.integer):
            raise DatasetFileError(f"{path}!y_{split}", f"{y.dtype} {y.shape} labels for "
                                                        f"{len(x)} reviews")
    return tuple(arrays[k] for k in KEYS)


def _locate(path, canonical, data_dir, verbose):
    """The file for Keras' `path` argument: an absolute path as given, else a name in the
    ``imdb`` folder of the cache (or `data_dir`); the canonical file is downloaded if
    missing."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name or path, got {type(path).__name__}")
    p = Path(path).expanduser()
    target = p if p.is_absolute() else _files.dataset_dir("imdb", data_dir) / p
    if target.is_file():
        return target
    if target.name != canonical:
        raise FileNotFoundError(f"path {target}: no such file (only {canonical} is "
                                f"downloaded)")
    files = {canonical: FILES[canonical]}
    return _files.ensure_files("imdb", files, _files.base_url(BASE_URL), target.parent,
                               verbose)[canonical]


def _check_int(name, value, minimum, optional=False):
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int{' or None' if optional else ''}, "
                        f"got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _shuffled(x, y, rng):
    order = np.arange(len(x))
    rng.shuffle(order)
    return x[order], y[order]


def _object_array(seqs):
    """A 1-D object array of lists (even when all lists have the same length)."""
    out = np.empty(len(seqs), dtype=object)
    out[:] = seqs
    return out


def encode(x_train, y_train, x_test, y_test, num_words=None, skip_top=0, maxlen=None,
           seed=113, start_char=1, oov_char=2, index_from=3):
    """Keras' transformation of the raw reviews: shuffle each split with
    ``RandomState(seed)``, shift ranks by `index_from`, prepend `start_char`, drop reviews of
    `maxlen` words or more, replace ranks outside [skip_top, num_words) by `oov_char` (or drop
    them when oov_char is None)."""
    rng = np.random.RandomState(seed)
    (x_train, y_train), (x_test, y_test) = (_shuffled(x_train, y_train, rng),
                                            _shuffled(x_test, y_test, rng))
    head = [] if start_char is None else [start_char]
    splits = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        seqs = [head + [int(w) + index_from for w in s] for s in x]
        if maxlen:
            keep = np.array([len(s) < maxlen for s in seqs], dtype=bool)
            seqs, y = [s for s, k in zip(seqs, keep) if k], y[keep]
        splits.append((seqs, y))
    if maxlen and not (splits[0][0] and splits[1][0]):
        raise ValueError(f"maxlen={maxlen}: after keeping the reviews shorter than maxlen, "
                         f"no review was left; increase maxlen")
    if not num_words:
        num_words = max((max(s) for seqs, _ in splits for s in seqs if s), default=0)
    if oov_char is not None:
        def clip(s):
            return [w if skip_top <= w < num_words else oov_char for w in s]
    else:
        def clip(s):
            return [w for w in s if skip_top <= w < num_words]
    return tuple((_object_array([clip(s) for s in seqs]), y) for seqs, y in splits)


def load_data(path=ARCHIVE, num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1,
              oov_char=2, index_from=3, *, data_dir=None, verbose=1):
    """IMDB as Keras returns it: ``(x_train, y_train), (x_test, y_test)``, x an object array
    of lists of ints (word ranks shifted by `index_from`, `start_char` first, `oov_char` for
    words outside [skip_top, num_words)), y the 0/1 labels; reviews of `maxlen` words or more
    are dropped; each split is shuffled with `seed`. `path`: Keras' file name in the ``imdb``
    folder of the cache (or `data_dir`), or an absolute path."""
    _check_int("num_words", num_words, 1, optional=True)
    _check_int("skip_top", skip_top, 0)
    _check_int("maxlen", maxlen, 1, optional=True)
    _check_int("seed", seed, 0)
    _check_int("start_char", start_char, 0, optional=True)
    _check_int("oov_char", oov_char, 0, optional=True)
    _check_int("index_from", index_from, 0)
    arrays = read_archive(_locate(path, ARCHIVE, data_dir, verbose))
    return encode(*arrays, num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                  start_char=start_char, oov_char=oov_char, index_from=index_from)


def get_word_index(path=WORD_INDEX, *, data_dir=None, verbose=1):
    """The dict word -> rank (1: the most frequent word) of the IMDB reviews; a review's
    value v in load_data() is the word of rank v - index_from."""
    where = _locate(path, WORD_INDEX, data_dir, verbose)
    try:
        index = json.loads(_files.read_bytes(where).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetFileError(where, f"not a JSON word index ({exc})") from exc
    if not isinstance(index, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in index.items()):
        raise DatasetFileError(where, "expected a JSON object mapping words to integer ranks")
    return index
