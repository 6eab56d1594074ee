"""The main job: `python -m deepmath` (or `deepmath`) trains the book's MNIST CNN (chapter
"Convolution avec tensorflow/keras", §1.3: Conv2D 32 → Conv2D 16 → Flatten → Dense 10, Adam,
batch 32) on deepmath's Keras-compatible API, then prints its test accuracy, the time per epoch
and a few predictions "Attendu 7 - Prédit 7 (97%)".

MNIST comes from the cache (or is downloaded); when neither is possible the job says so in one
line and trains on the book's synthetic digits instead, so it also runs on an offline machine."""
import argparse
import sys
import time

import numpy as np

import deepmath as dm
from deepmath import datasets
from deepmath.callbacks import Callback
from deepmath.keras.layers import Conv2D, Dense, Flatten, Input
from deepmath.keras.models import Sequential
from deepmath.utils import to_categorical

DATASETS = ("mnist", "fashion_mnist", "synthetic")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m deepmath", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, default="mnist",
                        help="training data (default mnist; synthetic: generated digits)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs (default 3; book: 5)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--threads", type=int, help="kernel threads (default: all cores)")
    parser.add_argument("--samples", type=int, help="use only the first N training images")
    parser.add_argument("--plot", metavar="FILE", help="write training curves and predictions")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu",
                        help="where to train (gpu: needs CuPy and an NVIDIA GPU)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="fit's progress display, as Keras (default 1: a progress bar)")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "threads", "samples"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    return args


def load_images(dataset, seed, samples=None):
    """`(x_train, y_train), (x_test, y_test)` as uint8 images and integer labels, and the name
    of what was loaded; MNIST or Fashion-MNIST fall back to synthetic digits when unavailable.
    `samples`: keep only the first training images."""
    if dataset != "synthetic":
        try:
            (x, y), test = getattr(datasets, dataset).load_data()
            return ((x[:samples], y[:samples]), test), dataset
        except datasets.DatasetUnavailable as err:
            print(f"{err} Training on synthetic digits instead.")
    return datasets.book.load_data(n_train=samples or 60000, seed=seed), "synthetic digits"


def prepare(images, labels):
    """The book's preprocessing: (N, 28, 28, 1) floats in [0, 1], one-hot labels."""
    x = images.reshape(len(images), 28, 28, 1).astype(np.float32) / 255
    return x, to_categorical(labels, num_classes=10)


def book_cnn():
    """The book's MNIST network: 130 394 weights."""
    model = Sequential([Input(shape=(28, 28, 1)),
                        Conv2D(32, kernel_size=3, padding="same", activation="relu"),
                        Conv2D(16, kernel_size=3, padding="same", activation="relu"),
                        Flatten(),
                        Dense(10, activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


class EpochTimer(Callback):
    """Wall time of each epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def predictions_text(labels, probs):
    """The book's caption for each image: "Attendu 7 - Prédit 7 (97%)"."""
    predicted = probs.argmax(axis=1)
    return [f"Attendu {y} - Prédit {p} ({round(100 * row[p])}%)"
            for y, p, row in zip(labels, predicted, probs)]


def write_plot(file, history, images, labels, probs):
    from deepmath import plot
    plot.plot_training_summary(history, images, labels, probs, file=file)
    print(f"training curves and predictions written to {file}")


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        dm.set_num_threads(args.threads)
    dm.utils.set_random_seed(args.seed)
    ((x_train, y_train), (x_test, y_test)), source = load_images(args.dataset, args.seed,
                                                                 args.samples)
    try:
        model = book_cnn().to(args.device)
    except dm.GPUUnavailableError as err:
        print(f"deepmath: {err}", file=sys.stderr)
        return 2
    where = "GPU" if args.device == "gpu" else f"{dm.get_num_threads()} threads"
    print(f"deepmath {dm.__version__} ({where}): the book's CNN on {source}, "
          f"{len(x_train)} training and {len(x_test)} test images")
    model.summary()
    timer = EpochTimer()
    history = model.fit(*prepare(x_train, y_train), batch_size=args.batch_size,
                        epochs=args.epochs, verbose=args.verbose, callbacks=[timer])
    x, y = prepare(x_test, y_test)
    loss, accuracy = model.evaluate(x, y, batch_size=256, verbose=0)
    probs = model.predict(x[:8], verbose=0)
    print(f"test loss {loss:.4f}, test accuracy {100 * accuracy:.2f}%")
    print(f"time per epoch {np.median(timer.seconds):.1f} s "
          f"({len(x_train) / np.median(timer.seconds):.0f} images/s)")
    for line in predictions_text(y_test[:8], probs):
        print(line)
    if args.plot:
        write_plot(args.plot, history, x_test[:12], y_test[:12],
                   model.predict(x[:12], verbose=0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
