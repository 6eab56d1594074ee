"""The book's data sets: MNIST, Fashion-MNIST, CIFAR-10 and IMDB loaded from their canonical
files (cached in `DEEPMATH_DATA`, default ~/.deepmath/datasets; downloaded, checksummed and
written atomically when missing), and the data the book generates itself
(`deepmath.datasets.book`, with synthetic MNIST-like digits)."""
from . import book, cifar10, fashion_mnist, imdb, mnist
from ._files import DatasetDownloadError, DatasetFileError, DatasetUnavailable, cache_dir

__all__ = ["book", "cifar10", "fashion_mnist", "imdb", "mnist", "DatasetDownloadError",
           "DatasetFileError", "DatasetUnavailable", "cache_dir"]
