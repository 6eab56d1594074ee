"""One round of bench/training.py: train one model on one library in this process, print JSON.

    python bench/_training_child.py MODEL LIBRARY --epochs N --seed S --threads T [--samples N]

MODEL is `mlp` or `cnn`, LIBRARY `deepmath`, `tensorflow` (tf.keras) or `torch` (eager). The
process pins its threads (`_harness.prepare`), loads the data, builds the model with the
round's initial weights (Keras' glorot_uniform drawn by numpy from `--seed`, zero biases: the
same starting point for every library), trains `--epochs` epochs of batch 32, timing each, then
evaluates on the test set. It prints one JSON line on stdout: seconds per epoch, test accuracy
and memory (see `memory_snapshot`). bench/training.py starts one such process per round.
"""
import argparse
import contextlib
import gzip
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

import _harness

MNIST_DIR = _harness.BENCH_DIR.parent.parent / "shared" / "data" / "mnist"
N_TRAIN, N_TEST, BATCH = 8000, 2000, 32
MODELS = ("mlp", "cnn")
LIBRARIES = ("deepmath", "tensorflow", "torch")


# ---- data ------------------------------------------------------------------------------------

def read_idx(path):
    """The array of an IDX file of unsigned bytes (MNIST's format), gzipped or not."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (magic {raw[:4].hex()})")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {data.size} bytes of data for shape {shape}")
    return data.reshape(shape)


def mnist_files():
    """(images, labels) paths of the MNIST test set beside the checkout, or None when absent."""
    for suffix in (".gz", ""):
        images = MNIST_DIR / f"t10k-images-idx3-ubyte{suffix}"
        labels = MNIST_DIR / f"t10k-labels-idx1-ubyte{suffix}"
        if images.exists() and labels.exists():
            return images, labels
    return None


def data_source():
    """Where the data comes from, in words (for the results file)."""
    files = mnist_files()
    if files:
        return f"MNIST test set {files[0].parent}: first {N_TRAIN} images train, last {N_TEST} test"
    return f"synthetic (MNIST absent from {MNIST_DIR}): seeded digit-shaped random data"


def synthetic(n, rng):
    """Digit-shaped stand-in for MNIST: a fixed random pattern per class plus noise."""
    patterns = np.random.default_rng(0).random((10, 28, 28))
    labels = rng.integers(0, 10, n)
    images = 0.6 * patterns[labels] + 0.4 * rng.random((n, 28, 28))
    return (images * 255).astype(np.uint8), labels.astype(np.uint8)


def load_data(samples=None):
    """(x_train, y_train, labels_train, x_test, y_test, labels_test): x float32 in [0, 1] of
    shape (n, 28, 28), y one-hot float32, labels integers. `samples` trims the training set."""
    files = mnist_files()
    if files:
        images, labels = read_idx(files[0]), read_idx(files[1])
        if images.shape[0] < N_TRAIN + N_TEST or images.shape[1:] != (28, 28):
            raise ValueError(f"{files[0]}: shape {images.shape}, expected "
                             f"({N_TRAIN + N_TEST}, 28, 28)")
    else:
        images, labels = synthetic(N_TRAIN + N_TEST, np.random.default_rng(1))
    x = images.astype(np.float32) / 255
    labels = labels.astype(np.int64)
    y = np.eye(10, dtype=np.float32)[labels]
    train = slice(0, samples or N_TRAIN)
    test = slice(len(x) - N_TEST, len(x))
    return x[train], y[train], labels[train], x[test], y[test], labels[test]


# ---- initial weights, Keras layout -----------------------------------------------------------

def glorot_uniform(rng, shape):
    """Keras' default kernel initializer: U(-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def initial_weights(model, seed):
    """[kernel, bias, ...] in Keras' layout (Dense (in, out), Conv2D (kh, kw, cin, cout))."""
    rng = np.random.default_rng(seed)
    shapes = {"mlp": [(784, 8), (8, 8), (8, 10)],
              "cnn": [(3, 3, 1, 32), (3, 3, 32, 16), (28 * 28 * 16, 10)]}[model]
    weights = []
    for shape in shapes:
        weights += [glorot_uniform(rng, shape), np.zeros(shape[-1], np.float32)]
    return weights


# ---- Keras API: deepmath and tf.keras --------------------------------------------------------

def keras_namespace(library):
    """(Sequential, layers module, its name): tf.keras, deepmath.keras when importable, else
    deepmath.models and deepmath.layers."""
    if library == "tensorflow":
        from tensorflow import keras
        return keras.Sequential, keras.layers, "tensorflow.keras"
    try:
        from deepmath import keras
        return keras.Sequential, keras.layers, "deepmath.keras"
    except ImportError:
        from deepmath import layers
        from deepmath.models import Sequential
        return Sequential, layers, "deepmath.models, deepmath.layers"


def keras_model(library, model, weights):
    """The book's model, compiled as the book does (Keras' default 'sgd' and 'adam')."""
    Sequential, layers, _ = keras_namespace(library)
    if model == "mlp":
        net = Sequential([layers.Input(shape=(784,)),
                          layers.Dense(8, activation="sigmoid"),
                          layers.Dense(8, activation="sigmoid"),
                          layers.Dense(10, activation="softmax")])
        optimizer = "sgd"    # learning rate 0.01
    else:
        net = Sequential([layers.Input(shape=(28, 28, 1)),
                          layers.Conv2D(32, 3, padding="same", activation="relu"),
                          layers.Conv2D(16, 3, padding="same", activation="relu"),
                          layers.Flatten(),
                          layers.Dense(10, activation="softmax")])
        optimizer = "adam"   # learning rate 0.001, epsilon 1e-7
    net.set_weights(weights)
    net.compile(loss="categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return net


def keras_run(library, model, data, epochs, seed, on_start):
    """Epoch times and test accuracy of `fit(..., epochs=1)` called `epochs` times."""
    if library == "tensorflow":
        from tensorflow import keras
        keras.utils.set_random_seed(seed)
    else:
        import deepmath
        deepmath.manual_seed(seed)
    x, y, _, x_test, y_test, _ = data
    shape = (-1, 784) if model == "mlp" else (-1, 28, 28, 1)
    x, x_test = x.reshape(shape), x_test.reshape(shape)
    net = keras_model(library, model, initial_weights(model, seed))
    on_start()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        net.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
        seconds.append(time.perf_counter() - start)
    loss, accuracy = net.evaluate(x_test, y_test, batch_size=BATCH, verbose=0)
    return seconds, float(accuracy), float(loss)


# ---- PyTorch eager ---------------------------------------------------------------------------

def torch_model(model, weights):
    """The same network in PyTorch (NCHW, logits out), holding the same initial weights."""
    import torch
    from torch import nn
    if model == "mlp":
        net = nn.Sequential(nn.Linear(784, 8), nn.Sigmoid(), nn.Linear(8, 8), nn.Sigmoid(),
                            nn.Linear(8, 10))
        params = [w.T for w in weights[0::2]]
    else:
        net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
                            nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(),
                            nn.Flatten(), nn.Linear(28 * 28 * 16, 10))
        k1, k2, dense = weights[0::2]
        # Keras flattens (h, w, c), torch (c, h, w): reorder the dense kernel's rows to match.
        dense = dense.reshape(28, 28, 16, 10).transpose(2, 0, 1, 3).reshape(-1, 10)
        params = [k1.transpose(3, 2, 0, 1), k2.transpose(3, 2, 0, 1), dense.T]
    layers = [m for m in net if isinstance(m, (nn.Linear, nn.Conv2d))]
    with torch.no_grad():
        for layer, kernel, bias in zip(layers, params, weights[1::2]):
            layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
            layer.bias.copy_(torch.from_numpy(bias))
    return net


def torch_run(model, data, epochs, seed, on_start):
    """Epoch times and test accuracy of the plain PyTorch training loop."""
    import torch
    import torch.nn.functional as F
    torch.manual_seed(seed)
    x, _, labels, x_test, _, labels_test = data
    if model == "mlp":
        x, x_test = x.reshape(-1, 784), x_test.reshape(-1, 784)
    else:  # NCHW, from the same (n, 28, 28) images
        x, x_test = x[:, None], x_test[:, None]
    x, x_test = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(x_test.copy())
    labels, labels_test = torch.from_numpy(labels), torch.from_numpy(labels_test)
    net = torch_model(model, initial_weights(model, seed))
    optimizer = (torch.optim.SGD(net.parameters(), lr=0.01) if model == "mlp" else
                 torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7))
    on_start()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        net.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), BATCH):
            batch = order[i:i + BATCH]
            optimizer.zero_grad()
            loss = F.cross_entropy(net(x[batch]), labels[batch])
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(x_test[i:i + BATCH]) for i in range(0, len(x_test), BATCH)])
        loss = F.cross_entropy(logits, labels_test).item()
        accuracy = (logits.argmax(1) == labels_test).double().mean().item()
    return seconds, accuracy, loss


# ---- memory ----------------------------------------------------------------------------------

def memory_snapshot():
    """{'rss': VmRSS, 'hwm': VmHWM} of this process in MB, from /proc/self/status (Linux)."""
    values = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key[2:].lower()] = int(value.split()[0]) / 1024  # kB -> MB
    except OSError:
        pass
    return values


def reset_peak():
    """Reset VmHWM to the current RSS (`echo 5 > /proc/self/clear_refs`, Linux >= 4.0); False
    when the kernel refuses, and then the peak after training may date from before it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class MemoryProbe:
    """RSS just before training (`start`, called after the setup) and the peaks after."""

    def __init__(self):
        self.before = {}
        self.peak_reset = False

    def start(self):
        self.before = memory_snapshot()
        self.peak_reset = reset_peak()

    def result(self):
        after = memory_snapshot()
        ru_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
        peak = max(ru_maxrss, self.before.get("hwm", 0.0), after.get("hwm", 0.0))
        increase = None
        if "rss" in self.before and "hwm" in after:
            exact = self.peak_reset or after["hwm"] > self.before["hwm"]
            increase = after["hwm"] - self.before["rss"] if exact else None
        return {"peak_rss_mb": peak, "ru_maxrss_mb": ru_maxrss,
                "rss_before_fit_mb": self.before.get("rss"),
                "hwm_before_fit_mb": self.before.get("hwm"),
                "hwm_after_fit_mb": after.get("hwm"), "rss_after_fit_mb": after.get("rss"),
                "peak_reset": self.peak_reset, "training_increase_mb": increase}


# ---- entry point -----------------------------------------------------------------------------

def run(model, library, epochs, seed, threads, samples=None):
    """One round: the dict printed as JSON."""
    info = _harness.prepare(library, threads)
    if library != "torch":
        info["api"] = keras_namespace(library)[2]
    data = load_data(samples)
    probe = MemoryProbe()
    if library == "torch":
        seconds, accuracy, loss = torch_run(model, data, epochs, seed, probe.start)
    else:
        seconds, accuracy, loss = keras_run(library, model, data, epochs, seed, probe.start)
    return {"model": model, "library": library, "seed": seed, "info": info,
            "train_samples": len(data[0]), "test_samples": len(data[3]),
            "epoch_seconds": seconds, "test_accuracy": accuracy, "test_loss": loss,
            "memory": probe.result()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=MODELS)
    parser.add_argument("library", choices=LIBRARIES)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=_harness.default_threads())
    parser.add_argument("--samples", type=int, help="training samples (default all 8000)")
    opts = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # library prints must not spoil the JSON line
        result = run(opts.model, opts.library, opts.epochs, opts.seed, opts.threads,
                     opts.samples)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
