"""Fashion-MNIST (Zalando's clothes, 10 classes), MNIST's drop-in replacement:
`fashion_mnist.load_data()` as in `tensorflow.keras.datasets`, read from the same four IDX
files (see `deepmath.datasets.mnist`) as Keras downloads them."""
from . import _files
from .mnist import load_idx_dataset

BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
# (size, algorithm, digest) of the published files (tensorflow_datasets' url_checksums; Keras'
# copies are the same files as Zalando's)
FILES = {
    "train-images-idx3-ubyte.gz": (26421880, "sha256", "3aede38d61863908ad78613f6a32ed27"
                                   "1626dd12800ba2636569512369268a84"),
    "train-labels-idx1-ubyte.gz": (29515, "sha256", "a04f17134ac03560a47e3764e11b92fc"
                                   "97de4d1bfaf8ba1a3aa29af54cc90845"),
    "t10k-images-idx3-ubyte.gz": (4422102, "sha256", "346e55b948d973a97e58d2351dde16a4"
                                  "84bd415d4595297633bb08f03db6a073"),
    "t10k-labels-idx1-ubyte.gz": (5148, "sha256", "67da17c76eaffca5446c3361aaab5c3c"
                                  "d6d1c2608764d35dfb1850b086bf8dd5"),
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")


def load_data(data_dir=None, verbose=1):
    """Fashion-MNIST as Keras returns it: ``(x_train, y_train), (x_test, y_test)``, images
    uint8 (60000, 28, 28) / (10000, 28, 28), labels uint8 in 0..9 (see CLASS_NAMES).
    `data_dir`: the folder of the four IDX ``.gz`` files (default: the ``fashion_mnist``
    folder of the cache); missing ones are downloaded and checked."""
    return load_idx_dataset("fashion_mnist", FILES, _files.base_url(BASE_URL), data_dir,
                            verbose)
