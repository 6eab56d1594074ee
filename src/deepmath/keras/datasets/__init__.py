"""`tensorflow.keras.datasets` over `deepmath.datasets`: `from deepmath.keras.datasets import
mnist` then `mnist.load_data()`, as the book writes it."""
import sys

from ...datasets import cifar10, fashion_mnist, imdb, mnist

for _module in (cifar10, fashion_mnist, imdb, mnist):  # `import deepmath.keras.datasets.mnist`
    sys.modules[f"{__name__}.{_module.__name__.rsplit('.', 1)[1]}"] = _module

__all__ = ["cifar10", "fashion_mnist", "imdb", "mnist"]
