"""deepmath.datasets loaders: tiny files written here in each canonical format (IDX .gz,
cifar-10-python.tar.gz, Keras' imdb.npz + json) round-trip with Keras' shapes and dtypes;
corrupt, truncated or wrong-format files raise DatasetFileError naming the file; the real
MNIST test set in ../shared is checked when present."""
import gzip
import io
import json
import pickle
import shutil
import socket
import tarfile
from pathlib import Path

import numpy as np
import pytest

from deepmath.datasets import _files, cifar10, fashion_mnist, imdb, mnist
from deepmath.datasets._files import DatasetFileError

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Every test runs offline: downloads go to a closed local port, the cache to tmp."""
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DEEPMATH_DATASETS_URL", f"http://127.0.0.1:{port}/")
    monkeypatch.setenv("DEEPMATH_DATA", str(tmp_path / "cache"))


# ---------------------------------------------------------------- writers of the formats

def write_idx(path, array, magic=None):
    """`array` (uint8) as a gzip-compressed IDX file."""
    array = np.asarray(array, np.uint8)
    magic = 0x0800 + array.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())
    return path


def mnist_like(folder, n_train=5, n_test=3, seed=0):
    """The four IDX files of a tiny MNIST in `folder`; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)
        arrays.append((x, y))
    return arrays


def cifar_batch(x_rows, labels):
    return pickle.dumps({b"batch_label": b"tiny", b"labels": list(labels), b"data": x_rows,
                         b"filenames": [b"img%d.png" % i for i in range(len(labels))]},
                        protocol=2)


def write_tar(path, members):
    """A tar.gz holding {name: bytes}."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def cifar_like(folder, per_batch=2, seed=1, replace=None):
    """A tiny cifar-10-python.tar.gz (six batches of `per_batch` images); `replace` swaps
    members' contents. Returns (path, rows, labels) of all batches in order."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    members, rows, labels = {}, [], []
    for name in cifar10.TRAIN_BATCHES + (cifar10.TEST_BATCH,):
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, per_batch).tolist()
        members[f"cifar-10-batches-py/{name}"] = cifar_batch(x, y)
        rows.append(x)
        labels.append(y)
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps({b"label_names": []})
    members.update(replace or {})
    return write_tar(folder / cifar10.ARCHIVE, members), rows, labels


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def object_array(seqs):
    out = np.empty(len(seqs), dtype=object)
    out[:] = [list(s) for s in seqs]
    return out


TRAIN = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10]]
TEST = [[11, 1], [2, 3, 4]]


def imdb_like(folder, train=TRAIN, test=TEST):
    folder.mkdir(parents=True, exist_ok=True)
    return write_npz(folder / "imdb.npz", x_train=object_array(train),
                     y_train=np.arange(len(train)) % 2, x_test=object_array(test),
                     y_test=np.arange(len(test)) % 2)


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def flip_middle(path, count=64):
    """Corrupt `count` bytes in the middle of the file."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + count] = bytes(b ^ 0xA5 for b in data[middle:middle + count])
    path.write_bytes(bytes(data))
    return path


def bad_crc(path):
    """Damage only the CRC-32 in the gzip trailer: the data still decompresses."""
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------- cache folder

def test_cache_dir_follows_deepmath_data_and_defaults_to_home(monkeypatch, tmp_path):
    assert _files.cache_dir() == tmp_path / "cache"
    assert _files.dataset_dir("mnist") == tmp_path / "cache" / "mnist"
    assert _files.dataset_dir("mnist", tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv("DEEPMATH_DATA")
    assert _files.cache_dir() == Path.home() / ".deepmath" / "datasets"
    with pytest.raises(TypeError, match="data_dir"):
        _files.dataset_dir("mnist", 3)


def test_base_url_env_override(monkeypatch):
    assert _files.base_url("https://a/b").startswith("http://127.0.0.1:")
    monkeypatch.delenv("DEEPMATH_DATASETS_URL")
    assert _files.base_url("https://a/b") == "https://a/b/"


# ---------------------------------------------------------------- MNIST / Fashion-MNIST

def test_mnist_round_trip_from_cache_folder(tmp_path):
    (xtr, ytr), (xte, yte) = mnist_like(tmp_path / "cache" / "mnist")
    (x_train, y_train), (x_test, y_test) = mnist.load_data(verbose=0)
    assert x_train.shape == (5, 28, 28) and x_test.shape == (3, 28, 28)
    assert x_train.dtype == y_train.dtype == np.uint8 and y_test.shape == (3,)
    np.testing.assert_array_equal(x_train, xtr)
    np.testing.assert_array_equal(y_train, ytr)
    np.testing.assert_array_equal(x_test, xte)
    np.testing.assert_array_equal(y_test, yte)
    x_train[0, 0, 0] ^= 1  # the arrays are writable copies, not views of a buffer


def test_mnist_path_and_data_dir_are_the_folder(tmp_path):
    (xtr, _), _ = mnist_like(tmp_path / "elsewhere")
    for kwargs in ({"path": tmp_path / "elsewhere"}, {"data_dir": str(tmp_path / "elsewhere")}):
        (x_train, _), _ = mnist.load_data(verbose=0, **kwargs)
        np.testing.assert_array_equal(x_train, xtr)
    with pytest.raises(ValueError, match="not both"):
        mnist.load_data(path=tmp_path, data_dir=tmp_path)
    with pytest.raises(TypeError, match="path"):
        mnist.load_data(path=3)


def test_mnist_reads_keras_npz(tmp_path):
    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    write_npz(tmp_path / "mnist.npz", x_train=x, y_train=np.array([3, 4]), x_test=x[:1],
              y_test=np.array([5]))
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=str(tmp_path / "mnist.npz"))
    np.testing.assert_array_equal(x_train, x)
    assert y_train.dtype == np.uint8 and y_train.tolist() == [3, 4] and y_test.tolist() == [5]
    write_npz(tmp_path / "bad.npz", x_train=x, y_train=np.array([3, 4]), x_test=x[:1])
    with pytest.raises(DatasetFileError, match=r"bad\.npz.*y_test"):
        mnist.load_data(path=str(tmp_path / "bad.npz"))
    with pytest.raises(FileNotFoundError, match="nothere.npz"):
        mnist.load_data(path=str(tmp_path / "nothere.npz"))
    (tmp_path / "cache" / "mnist").mkdir(parents=True)
    shutil.copy(tmp_path / "mnist.npz", tmp_path / "cache" / "mnist" / "mnist.npz")
    (x_train, _), _ = mnist.load_data(path="mnist.npz")  # Keras' relative name: in the cache
    np.testing.assert_array_equal(x_train, x)


def test_fashion_mnist_round_trip(tmp_path):
    (xtr, ytr), (xte, _) = mnist_like(tmp_path / "cache" / "fashion_mnist", 4, 2, seed=5)
    (x_train, y_train), (x_test, _) = fashion_mnist.load_data(verbose=0)
    np.testing.assert_array_equal(x_train, xtr)
    np.testing.assert_array_equal(y_train, ytr)
    np.testing.assert_array_equal(x_test, xte)
    assert len(fashion_mnist.CLASS_NAMES) == 10


@pytest.mark.parametrize("damage, message", [
    (lambda d: shutil.copy(d / "train-labels-idx1-ubyte.gz", d / "train-images-idx3-ubyte.gz"),
     "magic number is 0x00000801, expected 0x00000803"),
    (lambda d: truncate(d / "t10k-images-idx3-ubyte.gz"), "truncated or corrupt"),
    (lambda d: (d / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all"),
     "truncated or corrupt"),
    (lambda d: flip_middle(d / "train-images-idx3-ubyte.gz"), "truncated or corrupt"),
    (lambda d: write_idx(d / "train-images-idx3-ubyte.gz", np.zeros((5, 28, 27))),
     r"dimensions \(5, 28, 27\), expected \(n, 28, 28\)"),
    (lambda d: write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(4)),
     "4 labels for the 5 images"),
    (lambda d: write_idx(d / "train-labels-idx1-ubyte.gz", np.full(5, 10)),
     r"label 10 is not in 0\.\.9"),
    (lambda d: bad_crc(d / "t10k-images-idx3-ubyte.gz"), "CRC check failed"),
], ids=["wrong-magic", "truncated-gzip", "not-gzip", "flipped-bytes", "wrong-dims",
        "count-mismatch", "bad-label", "bad-crc"])
def test_mnist_corrupt_files_name_the_file(tmp_path, damage, message):
    folder = tmp_path / "m"
    mnist_like(folder)
    damage(folder)
    with pytest.raises(DatasetFileError, match=message) as info:
        mnist.load_data(data_dir=folder, verbose=0)
    assert str(folder) in str(info.value)


def test_idx_size_must_be_exact(tmp_path):
    header = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (2, 28, 28))
    for extra in (-1, 1):
        path = tmp_path / f"x{extra}.gz"
        with gzip.open(path, "wb") as f:
            f.write(header + bytes(2 * 28 * 28 + extra))
        with pytest.raises(DatasetFileError, match=f"x{extra}.gz: {2 * 784 + 16 + extra} bytes"):
            mnist.read_idx(path, mnist.IDX_IMAGES, (28, 28))
    with gzip.open(tmp_path / "short.gz", "wb") as f:
        f.write(b"\0\0\x08")
    with pytest.raises(DatasetFileError, match="too short for an IDX header"):
        mnist.read_idx(tmp_path / "short.gz", mnist.IDX_IMAGES)


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/data/mnist is absent")
def test_real_mnist_test_set(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in (mnist.TEST_IMAGES, mnist.TEST_LABELS):
        shutil.copy(SHARED_MNIST / name, folder / name)
    x, y = mnist.read_images_labels(folder / mnist.TEST_IMAGES, folder / mnist.TEST_LABELS)
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8 and y.dtype == np.uint8
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first digits
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert x.min() == 0 and x.max() == 255
    # same size as the published files; the decompressed content is MNIST's, byte for byte
    for name in (mnist.TEST_IMAGES, mnist.TEST_LABELS):
        assert (folder / name).stat().st_size == mnist.FILES[name][0]
    assert mnist.verify_content(folder) == [mnist.TEST_IMAGES, mnist.TEST_LABELS]
    write_idx(folder / mnist.TEST_LABELS, y[::-1])
    with pytest.raises(DatasetFileError, match="t10k-labels.*is not MNIST's"):
        mnist.verify_content(folder)


# ---------------------------------------------------------------- CIFAR-10

def test_cifar10_round_trip_channels_last(tmp_path):
    _, rows, labels = cifar_like(tmp_path / "cache" / "cifar10")
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(verbose=0)
    assert x_train.shape == (10, 32, 32, 3) and x_test.shape == (2, 32, 32, 3)
    assert x_train.dtype == y_train.dtype == np.uint8
    assert y_train.shape == (10, 1) and y_test.shape == (2, 1)
    assert x_train.flags.c_contiguous
    train_rows = np.concatenate(rows[:5])
    # one row: the red plane, then green, then blue, each 32x32 row-major
    for i, r, c, ch in [(0, 0, 0, 0), (3, 5, 7, 1), (9, 31, 2, 2), (9, 31, 31, 2)]:
        assert x_train[i, r, c, ch] == train_rows[i, ch * 1024 + r * 32 + c]
    np.testing.assert_array_equal(x_test[1, :, :, 1].ravel(), rows[5][1, 1024:2048])
    assert y_train.ravel().tolist() == sum(labels[:5], [])
    assert y_test.ravel().tolist() == labels[5]


def _evil_pickle():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    return pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2)


@pytest.mark.parametrize("replace, damage, message", [
    (None, truncate, "truncated or corrupt"),
    (None, flip_middle, "truncated or corrupt|not a valid data pickle"),
    (None, bad_crc, "CRC check failed.*truncated or corrupt"),
    ({"cifar-10-batches-py/test_batch": b"garbage"}, None, "not a valid data pickle"),
    ({"cifar-10-batches-py/data_batch_3": cifar_batch(np.zeros((2, 3071), np.uint8), [1, 2])},
     None, r"data_batch_3: b'data' is uint8\(2, 3071\)"),
    ({"cifar-10-batches-py/data_batch_2": cifar_batch(np.zeros((2, 3072), np.uint8), [1])},
     None, r"data_batch_2: b'labels' has shape \(1,\)"),
    ({"cifar-10-batches-py/data_batch_1": cifar_batch(np.zeros((1, 3072), np.uint8), [12])},
     None, r"labels outside 0\.\.9"),
    ({"cifar-10-batches-py/data_batch_4": pickle.dumps([1, 2])}, None, "not a CIFAR batch"),
    ({"cifar-10-batches-py/test_batch": _evil_pickle()}, None,
     "refusing to load _*builtins?_*.print"),
], ids=["truncated", "flipped-bytes", "bad-crc", "garbage", "bad-shape", "label-count", "bad-label",
        "not-dict", "evil"])
def test_cifar10_corrupt_archives(tmp_path, capsys, replace, damage, message):
    path, _, _ = cifar_like(tmp_path, replace=replace)
    if damage:
        damage(path)
    with pytest.raises(DatasetFileError, match=message) as info:
        cifar10.load_data(data_dir=tmp_path, verbose=0)
    assert str(path) in str(info.value)
    assert "pwned" not in capsys.readouterr().out


def test_cifar10_missing_batch_and_not_a_tar(tmp_path):
    batch = cifar_batch(np.zeros((1, 3072), np.uint8), [0])
    write_tar(tmp_path / cifar10.ARCHIVE, {"cifar-10-batches-py/data_batch_1": batch})
    with pytest.raises(DatasetFileError, match="no cifar-10-batches-py/data_batch_2, .*_3"):
        cifar10.load_data(data_dir=tmp_path, verbose=0)
    (tmp_path / cifar10.ARCHIVE).write_bytes(b"\x1f\x8b not really")
    with pytest.raises(DatasetFileError, match="cifar-10-python.tar.gz: cannot be read"):
        cifar10.load_data(data_dir=tmp_path, verbose=0)


# ---------------------------------------------------------------- IMDB

def keras_order(n, rng):
    """The permutation Keras applies: RandomState(seed).shuffle(arange(n))."""
    order = np.arange(n)
    rng.shuffle(order)
    return order


def test_imdb_default_encoding_matches_keras(tmp_path):
    imdb_like(tmp_path / "cache" / "imdb")
    (x_train, y_train), (x_test, y_test) = imdb.load_data()
    rng = np.random.RandomState(113)
    order_train, order_test = keras_order(4, rng), keras_order(2, rng)
    assert x_train.dtype == object and x_train.shape == (4,) and x_test.shape == (2,)
    # start_char 1, ranks shifted by index_from 3; num_words=None keeps ranks < the largest
    # one (14 = 11 + 3 is the largest, so Keras turns it into oov_char 2)
    expected = {tuple(s): [1] + [w + 3 if w + 3 < 14 else 2 for w in s] for s in TRAIN + TEST}
    assert [list(s) for s in x_train] == [expected[tuple(TRAIN[i])] for i in order_train]
    assert [list(s) for s in x_test] == [expected[tuple(TEST[i])] for i in order_test]
    assert y_train.tolist() == (order_train % 2).tolist()
    assert y_test.tolist() == (order_test % 2).tolist()
    assert all(isinstance(w, int) for s in x_train for w in s)


def test_imdb_options(tmp_path):
    path = imdb_like(tmp_path)
    opts = dict(path=str(path), seed=0)
    (x, _), (xt, _) = imdb.load_data(num_words=8, **opts)
    assert all(w == 2 or 1 <= w < 8 for s in list(x) + list(xt) for w in s)
    (x, _), _ = imdb.load_data(num_words=8, oov_char=None, skip_top=5, **opts)
    lengths = {len(s) for s in x}
    assert all(5 <= w < 8 for s in x for w in s) and lengths <= {0, 1, 2}
    (x, y), (xt, yt) = imdb.load_data(start_char=None, index_from=0, num_words=100, **opts)
    assert sorted(map(list, x)) == sorted(TRAIN) and sorted(map(list, xt)) == sorted(TEST)
    # maxlen keeps the reviews strictly shorter than maxlen (start_char included)
    (x, y), (xt, yt) = imdb.load_data(maxlen=4, **opts)
    assert sorted(map(len, x)) == [2, 3] and len(y) == 2 and list(map(len, xt)) == [3]
    with pytest.raises(ValueError, match="maxlen=3.*increase maxlen"):
        imdb.load_data(maxlen=3, **opts)
    # equal lengths still give a 1-D object array of lists
    (x, _), _ = imdb.encode(object_array([[1, 2], [3, 4]]), np.zeros(2), object_array([[5]]),
                            np.zeros(1))
    assert x.dtype == object and x.shape == (2,) and isinstance(x[0], list)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_words": 0}, ValueError, "num_words must be >= 1"),
    ({"num_words": 2.5}, TypeError, "num_words must be an int or None"),
    ({"skip_top": -1}, ValueError, "skip_top"),
    ({"maxlen": "10"}, TypeError, "maxlen"),
    ({"index_from": None}, TypeError, "index_from must be an int, got None"),
    ({"path": 7}, TypeError, "path"),
])
def test_imdb_bad_arguments(tmp_path, kwargs, error, message):
    imdb_like(tmp_path)
    with pytest.raises(error, match=message):
        imdb.load_data(**{"path": str(tmp_path / "imdb.npz"), **kwargs})


def _evil_object_array():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    out = np.empty(1, dtype=object)
    out[0] = Evil()
    return out


@pytest.mark.parametrize("arrays, message", [
    (dict(x_train=object_array(TRAIN), y_train=np.zeros(4), x_test=object_array(TEST)),
     r"missing arrays \['y_test'\]"),
    (dict(x_train=object_array(TRAIN), y_train=np.zeros(3, int), x_test=object_array(TEST),
          y_test=np.zeros(2, int)), r"y_train: int64 \(3,\) labels for 4 reviews"),
    (dict(x_train=object_array([[1, -2]]), y_train=np.zeros(1, int),
          x_test=object_array(TEST), y_test=np.zeros(2, int)), "x_train: a review holds"),
    (dict(x_train=_evil_object_array(), y_train=np.zeros(1, int), x_test=object_array(TEST),
          y_test=np.zeros(2, int)), "refusing to load builtins.print"),
], ids=["missing-key", "label-count", "negative-rank", "evil-pickle"])
def test_imdb_malformed_npz(tmp_path, capsys, arrays, message):
    path = write_npz(tmp_path / "imdb.npz", **arrays)
    with pytest.raises(DatasetFileError, match=message) as info:
        imdb.load_data(path=str(path))
    assert str(path) in str(info.value)
    assert "pwned" not in capsys.readouterr().out


def test_imdb_truncated_and_not_zip(tmp_path):
    path = truncate(imdb_like(tmp_path))
    with pytest.raises(DatasetFileError, match="imdb.npz: not a readable .npz"):
        imdb.load_data(path=str(path))
    path.write_bytes(b"PK\x03\x04 nope")
    with pytest.raises(DatasetFileError, match="imdb.npz"):
        imdb.load_data(path=str(path))


def test_imdb_word_index(tmp_path):
    folder = tmp_path / "cache" / "imdb"
    folder.mkdir(parents=True)
    (folder / "imdb_word_index.json").write_text(json.dumps({"the": 1, "and": 2, "film": 19}))
    index = imdb.get_word_index()
    assert index == {"the": 1, "and": 2, "film": 19}
    # decoding a review as the book does: value v is the word of rank v - index_from
    words = {rank + 3: word for word, rank in index.items()}
    assert [words.get(v, "?") for v in [1, 4, 22, 5]] == ["?", "the", "film", "and"]
    (folder / "imdb_word_index.json").write_text('{"the": "1"}')
    with pytest.raises(DatasetFileError, match="imdb_word_index.json: expected a JSON object"):
        imdb.get_word_index()
    (folder / "imdb_word_index.json").write_text('{"the": 1')
    with pytest.raises(DatasetFileError, match="not a JSON word index"):
        imdb.get_word_index()


def test_other_file_names_are_not_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="only imdb.npz is downloaded"):
        imdb.load_data(path="other.npz")


def test_checksum_tables_are_complete():
    for module in (mnist, fashion_mnist):
        assert sorted(module.FILES) == sorted([mnist.TRAIN_IMAGES, mnist.TRAIN_LABELS,
                                               mnist.TEST_IMAGES, mnist.TEST_LABELS])
    for module in (mnist, fashion_mnist, cifar10, imdb):
        for size, algorithm, digest in module.FILES.values():
            assert algorithm in ("sha256", "md5")
            assert len(digest) == {"sha256": 64, "md5": 32}[algorithm]
            int(digest, 16)


@pytest.mark.parametrize("load, files, folder", [
    (fashion_mnist.load_data, list(fashion_mnist.FILES), "fashion_mnist"),
    (cifar10.load_data, ["cifar-10-python.tar.gz"], "cifar10"),
    (imdb.load_data, ["imdb.npz"], "imdb"),
    (imdb.get_word_index, ["imdb_word_index.json"], "imdb"),
])
def test_offline_error_names_the_files_and_the_cache_folder(tmp_path, load, files, folder):
    with pytest.raises(_files.DatasetDownloadError) as info:
        load(verbose=0)
    message = str(info.value)
    assert all(name in message for name in files)
    assert f"in {tmp_path / 'cache' / folder}, or set DEEPMATH_DATA" in message
    assert not (tmp_path / "cache" / folder).exists() or not any(
        (tmp_path / "cache" / folder).iterdir())
