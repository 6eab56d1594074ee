"""Shared machinery of the data-set loaders: the cache folder, checksummed downloads written
atomically, and the errors a missing, truncated or malformed file raises.

Cache: ``$DEEPMATH_DATA`` or ``~/.deepmath/datasets``, one sub-folder per data set (``mnist/``,
``cifar10/``...). A download streams into a temporary file beside its target, is checked
against the size and SHA-256 stored in the loader's ``FILES`` table, and only then is renamed
(``os.replace``) into place: an interrupted or corrupt download never leaves a file that a
later call would load. ``$DEEPMATH_DATASETS_URL`` (or a loader's ``BASE_URL``) points the
downloads at a mirror.
"""
import codecs
import hashlib
import http.client
import io
import os
import pickle
import tempfile
import urllib.request
import zlib
import zipfile
from pathlib import Path

import numpy as np

CHUNK = 1 << 16
TIMEOUT = 30.0  # seconds without data before a download is abandoned


class DatasetFileError(ValueError):
    """A data file is corrupt, truncated or not in the expected format; `path` names it."""

    def __init__(self, path, problem):
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")


class DatasetDownloadError(OSError):
    """A data file could not be downloaded (no network, server down, connection dropped)."""


DatasetUnavailable = DatasetDownloadError  # the name `python -m deepmath` catches


def cache_dir():
    """The root of the data-set cache: ``$DEEPMATH_DATA`` or ``~/.deepmath/datasets``."""
    root = os.environ.get("DEEPMATH_DATA")
    return Path(root).expanduser() if root else Path.home() / ".deepmath" / "datasets"


def dataset_dir(name, data_dir=None):
    """The folder holding data set `name`'s files: `data_dir` when given, else its cache
    sub-folder."""
    if data_dir is None:
        return cache_dir() / name
    if not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"data_dir must be a folder path (str or os.PathLike), "
                        f"got {type(data_dir).__name__}")
    return Path(data_dir).expanduser()


def base_url(default):
    """The URL folder downloads come from: ``$DEEPMATH_DATASETS_URL`` when set, else
    `default`; always ends with '/'."""
    url = os.environ.get("DEEPMATH_DATASETS_URL") or default
    return url if url.endswith("/") else url + "/"


def file_digest(path, algorithm="sha256"):
    """Hex digest of the file at `path`, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _progbar(total, verbose):
    if not verbose:
        return None
    from ..progbar import Progbar  # the bar `fit` prints, counting bytes here
    return Progbar(total, verbose=1, interval=0.5, unit_name="B")


def _stream(response, out, url, verbose):
    """Copy `response` into the open file `out`, returning (bytes, sha256 digest, md5 digest);
    a body shorter than its Content-Length is an error."""
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    bar = _progbar(total, verbose)
    hashes = hashlib.sha256(), hashlib.md5()
    done = 0
    for chunk in iter(lambda: response.read(CHUNK), b""):
        out.write(chunk)
        for h in hashes:
            h.update(chunk)
        done += len(chunk)
        if bar is not None:
            bar.update(done, finalize=False)
    if total is not None and done != total:
        raise DatasetDownloadError(f"the download of {url} stopped after {done} of {total} "
                                   f"bytes (connection dropped); nothing was saved")
    if bar is not None:
        bar.update(done, finalize=True)
    return done, hashes[0].hexdigest(), hashes[1].hexdigest()


def _check(url, size, digests, expected):
    """Compare a download's (size, sha256, md5) with `expected` = (size or None,
    "sha256" or "md5", hex digest)."""
    want_size, algorithm, want = expected
    if want_size is not None and size != want_size:
        raise DatasetFileError(url, f"downloaded {size} bytes, expected {want_size}; "
                                    f"nothing was saved")
    got = digests[0] if algorithm == "sha256" else digests[1]
    if got != want.lower():
        raise DatasetFileError(url, f"{algorithm} checksum mismatch (got {got}, expected "
                                    f"{want}); the file is corrupt or not the published one, "
                                    f"nothing was saved")


def download(url, dest, expected, verbose=1, timeout=TIMEOUT):
    """Download `url` to `dest`, streamed and verified against `expected` = (size or None,
    "sha256" | "md5", hex digest), written to a temporary file in `dest`'s folder and renamed
    into place only once verified. Network failures raise DatasetDownloadError (chained to
    urllib's), a wrong size or checksum DatasetFileError; neither leaves a file behind."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    result = _stream(response, out, url, verbose)
            except (OSError, http.client.HTTPException) as exc:
                if isinstance(exc, DatasetDownloadError):
                    raise
                raise DatasetDownloadError(f"cannot download {url}: "
                                           f"{getattr(exc, 'reason', exc)}") from exc
        _check(url, result[0], result[1:], expected)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def ensure_files(name, files, url, data_dir=None, verbose=1):
    """Paths of data set `name`'s `files` (a table {file name: (size, algorithm, digest)}) in
    its folder, downloading from the URL folder `url` those that are missing. Offline, one
    sentence says which files to place in which folder."""
    folder = dataset_dir(name, data_dir)
    paths = {fname: folder / fname for fname in files}
    missing = [fname for fname, path in paths.items() if not path.is_file()]
    for fname in missing:
        try:
            download(url + fname, paths[fname], files[fname], verbose=verbose)
        except DatasetDownloadError as exc:
            still = [f for f in missing if not paths[f].is_file()]
            raise DatasetDownloadError(
                f"The {name} files are missing and could not be downloaded ({exc}); "
                f"place {', '.join(still)} (from {url}) in {folder}, or set DEEPMATH_DATA "
                f"to use another cache folder.") from exc
    return paths


def read_bytes(path, opener=open):
    """The whole content of `path` opened with `opener` (e.g. gzip.open); a truncated or
    corrupt compressed file raises DatasetFileError."""
    try:
        with opener(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise DatasetFileError(path, f"cannot be read ({exc}): truncated or corrupt") from exc


def _numpy_array_globals():
    """The few callables a pickled numpy array refers to, by (module, name)."""
    reconstruct = np.zeros(1).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): codecs.encode}
    scalar = np.int64(0).__reduce__()[0]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[module, "_reconstruct"] = reconstruct
        allowed[module, "scalar"] = scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[module, "_frombuffer"] = frombuffer
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds only plain containers, numbers, strings and numpy arrays:
    a data file cannot run code by naming other callables."""
    _allowed = None

    def find_class(self, module, name):
        if _ArrayUnpickler._allowed is None:
            _ArrayUnpickler._allowed = _numpy_array_globals()
        try:
            return _ArrayUnpickler._allowed[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def safe_unpickle(data, path, encoding="ASCII"):
    """Unpickle `data` (bytes read from `path`) allowing only data and numpy arrays."""
    try:
        return _ArrayUnpickler(io.BytesIO(data), encoding=encoding).load()
    except Exception as exc:  # a malformed pickle raises many kinds of errors
        raise DatasetFileError(path, f"not a valid data pickle ({exc})") from exc


def _read_npy(data, where):
    """The array stored in the .npy bytes `data` (object arrays through the safe unpickler)."""
    fp = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fp)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(fp)
    except ValueError as exc:
        raise DatasetFileError(where, f"not a .npy array ({exc})") from exc
    body = data[fp.tell():]
    if dtype.hasobject:
        array = safe_unpickle(body, where)
        if not isinstance(array, np.ndarray) or array.shape != shape:
            raise DatasetFileError(where, f"pickled content is not the {shape} array its "
                                          f"header announces")
        return array
    count = int(np.prod(shape, dtype=np.int64))
    if len(body) != count * dtype.itemsize:
        raise DatasetFileError(where, f"{len(body)} data bytes for a {dtype} array of shape "
                                      f"{shape}, expected {count * dtype.itemsize}")
    return np.frombuffer(body, dtype).reshape(shape, order="F" if fortran else "C").copy()


def read_npz(path, keys):
    """{key: array} for the arrays `keys` of the .npz file at `path`; any other content is
    ignored, a missing key or a malformed array raises DatasetFileError."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = [k for k in keys if k + ".npy" not in names]
            if missing:
                raise DatasetFileError(path, f"missing arrays {missing} (found "
                                             f"{sorted(names)})")
            return {k: _read_npy(archive.read(k + ".npy"), f"{path}!{k}") for k in keys}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, OSError, EOFError) as exc:
        raise DatasetFileError(path, f"not a readable .npz archive ({exc})") from exc
