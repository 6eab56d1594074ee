"""MNIST, the handwritten digits of the book's chapters « Python : tensorflow avec keras -
partie 2 » (§1 « Reconnaissance de chiffres »: 60 000 training and 10 000 test images of
28×28 grey levels 0..255) and « Convolution avec tensorflow/keras »: `mnist.load_data()` as in
`tensorflow.keras.datasets`.

Read from the four published IDX files (gzip-compressed) of the cvdf mirror of Yann LeCun's
site. An IDX file is a big-endian header (magic number: two zero bytes, the element type 0x08
for unsigned bytes, the number of dimensions; then one uint32 per dimension) followed by the
raw bytes, so the parser checks the magic, the dimensions and the exact size.
"""
import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from . import _files
from ._files import (DatasetDownloadError, DatasetFileError,  # noqa: F401 (re-exported)
                     DatasetUnavailable)

BASE_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"
TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
# (size in bytes, algorithm, digest) of the published files (tensorflow_datasets' url_checksums)
FILES = {
    TRAIN_IMAGES: (9912422, "sha256",
                   "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    TRAIN_LABELS: (28881, "sha256",
                   "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    TEST_IMAGES: (1648877, "sha256",
                  "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    TEST_LABELS: (4542, "sha256",
                  "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
# SHA-256 of the decompressed IDX files: the same data re-compressed (another gzip header)
# still matches these
CONTENT_SHA256 = {
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
IDX_IMAGES, IDX_LABELS = 0x00000803, 0x00000801  # ubyte, 3 dims / ubyte, 1 dim


def read_idx(path, magic, shape_tail=()):
    """The uint8 array stored in the gzip-compressed IDX file `path`, whose magic number must
    be `magic` and whose trailing dimensions must be `shape_tail` (e.g. (28, 28))."""
    data = _files.read_bytes(path, gzip.open)
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    found = int.from_bytes(data[:4], "big")
    if len(data) >= 4 and found != magic:
        raise DatasetFileError(path, f"IDX magic number is 0x{found:08x}, expected "
                                     f"0x{magic:08x}: not an IDX file of this kind")
    if len(data) < header:
        raise DatasetFileError(path, f"{len(data)} bytes is too short for an IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if shape_tail and dims[1:] != tuple(shape_tail):
        raise DatasetFileError(path, f"IDX dimensions {dims}, expected (n, "
                                     f"{', '.join(map(str, shape_tail))})")
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise DatasetFileError(path, f"{len(data)} bytes for IDX dimensions {dims}, expected "
                                     f"{expected}: truncated or padded")
    return np.frombuffer(data, np.uint8, offset=header).reshape(dims).copy()


def read_images_labels(images_path, labels_path, classes=10):
    """(images (n, 28, 28) uint8, labels (n,) uint8) from a pair of IDX files."""
    x = read_idx(images_path, IDX_IMAGES, (28, 28))
    y = read_idx(labels_path, IDX_LABELS)
    if len(x) != len(y):
        raise DatasetFileError(labels_path, f"{len(y)} labels for the {len(x)} images of "
                                            f"{images_path}")
    if y.size and y.max() >= classes:
        raise DatasetFileError(labels_path, f"label {int(y.max())} is not in 0..{classes - 1}")
    return x, y


def load_idx_dataset(name, files, url, data_dir=None, verbose=1):
    """((x_train, y_train), (x_test, y_test)) of an MNIST-like data set (`files`: the four IDX
    files' table, train images, train labels, test images, test labels in that order)."""
    paths = list(_files.ensure_files(name, files, url, data_dir, verbose).values())
    return read_images_labels(paths[0], paths[1]), read_images_labels(paths[2], paths[3])


def verify_content(data_dir=None):
    """Check the decompressed MNIST files in the cache against CONTENT_SHA256 (reads every
    file: use it to validate a copy made by hand); returns the list of files checked."""
    folder = _files.dataset_dir("mnist", data_dir)
    checked = []
    for fname, want in CONTENT_SHA256.items():
        path = folder / fname
        if not path.is_file():
            continue
        got = hashlib.sha256(_files.read_bytes(path, gzip.open)).hexdigest()
        if got != want:
            raise DatasetFileError(path, f"decompressed SHA-256 {got} is not MNIST's {want}")
        checked.append(fname)
    return checked


def _keras_npz(path):
    """Keras' own `mnist.npz` (keys x_train, y_train, x_test, y_test)."""
    arrays = _files.read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
    for split in ("train", "test"):
        x, y = arrays["x_" + split], arrays["y_" + split]
        if x.dtype != np.uint8 or x.shape[1:] != (28, 28) or y.shape != x.shape[:1]:
            raise DatasetFileError(path, f"x_{split} {x.dtype}{x.shape} / y_{split} "
                                         f"{y.shape}: expected uint8 (n, 28, 28) and (n,)")
    return ((arrays["x_train"], arrays["y_train"].astype(np.uint8)),
            (arrays["x_test"], arrays["y_test"].astype(np.uint8)))


def _find_npz(path):
    """`path` as given, else (a relative name, as Keras takes it) in the ``mnist`` folder of
    the cache."""
    for candidate in (path, _files.dataset_dir("mnist") / path):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"path {path}: no such .npz file, here or in "
                            f"{_files.dataset_dir('mnist')} (give the folder of the IDX "
                            f"files to download them)")


def load_data(path=None, data_dir=None, verbose=1):
    """MNIST as Keras returns it: ``(x_train, y_train), (x_test, y_test)``, images uint8
    (60000, 28, 28) and (10000, 28, 28), labels uint8 (60000,) and (10000,).

    `data_dir` (or `path`, Keras' argument) is the folder holding the four IDX ``.gz`` files
    (default: the ``mnist`` folder of the cache, ``$DEEPMATH_DATA``); missing ones are
    downloaded and checked. A `path` naming a ``.npz`` file (as given, or in the cache folder)
    loads Keras' own ``mnist.npz`` instead.
    """
    if path is not None:
        if data_dir is not None:
            raise ValueError("give path or data_dir (the folder of the IDX files), not both")
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        if str(path).endswith(".npz"):
            return _keras_npz(_find_npz(Path(path).expanduser()))
        data_dir = path
    return load_idx_dataset("mnist", FILES, _files.base_url(BASE_URL), data_dir, verbose)

