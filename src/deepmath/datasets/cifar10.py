"""CIFAR-10, the 32×32 colour images of the book's chapter « Python : tensorflow avec keras -
partie 2 » (§6 « Reconnaissance d'images »: 50 000 training and 10 000 test images in ten
classes): `cifar10.load_data()` as in `tensorflow.keras.datasets`.

Read straight from the published ``cifar-10-python.tar.gz`` (no extraction to disk): six
pickled batches, ``data_batch_1``..``data_batch_5`` and ``test_batch``, each a dict whose
b"data" is a uint8 (n, 3072) array (one row: the red, green then blue 32×32 planes) and
b"labels" a list of n ints. The pickles are loaded by an unpickler that builds nothing but
data and numpy arrays, and the archive is read in one pass to the end of its gzip stream,
whose CRC then catches a corrupt file.
"""
import gzip
import tarfile
import zlib

import numpy as np

from . import _files
from ._files import DatasetFileError

BASE_URL = "https://www.cs.toronto.edu/~kriz/"
ARCHIVE = "cifar-10-python.tar.gz"
FILES = {ARCHIVE: (170498071, "sha256",
                   "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce")}
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck")


def _batch(data, where):
    """(images (n, 32, 32, 3) uint8, labels (n,) uint8) of one pickled batch."""
    batch = _files.safe_unpickle(data, where, encoding="bytes")
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DatasetFileError(where, "not a CIFAR batch (a dict with b'data' and b'labels')")
    x, y = batch[b"data"], batch[b"labels"]
    if not (isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 2
            and x.shape[1] == 3072):
        raise DatasetFileError(where, f"b'data' is {getattr(x, 'dtype', type(x).__name__)}"
                                      f"{getattr(x, 'shape', '')}, expected uint8 (n, 3072)")
    y = np.asarray(y)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise DatasetFileError(where, f"b'labels' has shape {y.shape} ({y.dtype}), expected "
                                      f"{len(x)} integers")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DatasetFileError(where, f"labels outside 0..9 ({y.min()}..{y.max()})")
    images = np.ascontiguousarray(x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, y.astype(np.uint8)


def _read_batches(path):
    """{batch name: (x, y)} read in one pass over the tar.gz; the gzip stream is then read to
    its end, so that its CRC check catches a corrupt archive."""
    wanted = {f"{FOLDER}/{name}": name for name in TRAIN_BATCHES + (TEST_BATCH,)}
    batches = {}
    try:
        with gzip.open(path, "rb") as stream:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    if member.name in wanted and member.isfile():
                        data = tar.extractfile(member).read()
                        batches[wanted[member.name]] = _batch(data, f"{path}!{member.name}")
            while stream.read(_files.CHUNK):
                pass
    except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
        raise DatasetFileError(path, f"cannot be read ({exc}): truncated or corrupt") from exc
    missing = [f"{FOLDER}/{name}" for name in wanted.values() if name not in batches]
    if missing:
        raise DatasetFileError(path, f"no {', '.join(missing)} in the archive")
    return batches


def read_archive(path):
    """((x_train, y_train), (x_test, y_test)) from a ``cifar-10-python.tar.gz`` at `path`."""
    batches = _read_batches(path)
    x_train = np.concatenate([batches[name][0] for name in TRAIN_BATCHES])
    y_train = np.concatenate([batches[name][1] for name in TRAIN_BATCHES]).reshape(-1, 1)
    x_test, y_test = batches[TEST_BATCH]
    return (x_train, y_train), (x_test, y_test.reshape(-1, 1))


def load_data(data_dir=None, verbose=1):
    """CIFAR-10 as Keras returns it: ``(x_train, y_train), (x_test, y_test)``, images uint8
    channels-last (50000, 32, 32, 3) / (10000, 32, 32, 3), labels uint8 (50000, 1) /
    (10000, 1) in 0..9 (see CLASS_NAMES). `data_dir`: the folder of
    ``cifar-10-python.tar.gz`` (default: the ``cifar10`` folder of the cache); downloaded and
    checked when missing."""
    paths = _files.ensure_files("cifar10", FILES, _files.base_url(BASE_URL), data_dir, verbose)
    return read_archive(paths[ARCHIVE])
