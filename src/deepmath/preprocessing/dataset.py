"""Keras' `image_dataset_from_directory`: a folder of images, one sub-folder per class, as
batches read from disk when asked for (book, chapter "Convolution avec tensorflow/keras", §3
"Chat vs chien": 25 000 photos that need never sit in memory together).

    train = image_dataset_from_directory('donnees/train', image_size=(64, 64), batch_size=32,
                                         label_mode='binary', seed=13)
    modele.fit(train, epochs=10)

Differences from Keras, which returns a `tf.data.Dataset`: the result is a Keras-style
Sequence (`len`, `ds[i]`, iteration), what deepmath's `fit` reads; a shuffled dataset's first
pass follows `file_paths` (already shuffled by Keras' rule), and each later pass a fresh
permutation (Keras shuffles within a buffer of 8 batches). Images are resized by
`deepmath.image.resize` ('bilinear' or 'nearest', pixel centres as `tf.image.resize`).
"""
import math
import os

import numpy as np

from .. import image as image_io
from .image import IMAGE_EXTENSIONS, _check_choice, _image_files

LABEL_MODES = ("int", "categorical", "binary", None)
COLOR_MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
SUBSETS = (None, "training", "validation", "both")


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, verbose=True):
    """An `ImageDataset` of `directory`'s images, as Keras'.

    labels: 'inferred' (class = sub-folder, sorted names or the order of `class_names`), None
    (images only), or a list of integer labels, one per image file of `directory` in sorted
    path order. label_mode: 'int' (int32, shape (B,)), 'categorical' (float32 one-hot (B, K)),
    'binary' (float32 0/1 of shape (B, 1), two classes), None (batches are the images alone).
    Images are float32 (B, height, width, 1|3|4) with values in 0..255. With `validation_split`,
    the file list is shuffled with `seed` (if `shuffle`) and its last fraction is the
    'validation' subset, the rest 'training'; subset='both' returns the two datasets."""
    _check_arguments(labels, label_mode, class_names, color_mode, validation_split, subset,
                     shuffle, seed)
    image_size = image_io._size(image_size, "image_size")
    if labels is None or label_mode is None:
        labels = label_mode = None
    if seed is None:
        seed = int(np.random.randint(1_000_000))
    paths, indices, class_names = _index_directory(os.fspath(directory), labels, class_names,
                                                   follow_links, verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError(f"label_mode='binary' needs exactly 2 classes, got "
                         f"class_names={class_names}")
    if label_mode == "categorical" and indices.max() >= len(class_names):
        raise ValueError(f"label_mode='categorical' needs labels 0..{len(class_names) - 1} "
                         f"(one per class), got a label {indices.max()}")
    if shuffle:
        order = np.random.RandomState(seed).permutation(len(paths))  # Keras' rule
        paths = [paths[i] for i in order]
        indices = None if indices is None else indices[order]
    options = dict(class_names=class_names, label_mode=label_mode, color_mode=color_mode,
                   batch_size=batch_size, image_size=image_size, shuffle=shuffle, seed=seed,
                   interpolation=interpolation)
    if subset is None:
        return ImageDataset(paths, indices, **options)
    cut = len(paths) - int(validation_split * len(paths))
    if cut in (0, len(paths)):
        raise ValueError(f"validation_split={validation_split} of {len(paths)} files leaves "
                         "no training or no validation file")
    parts = {"training": slice(0, cut), "validation": slice(cut, None)}
    datasets = {}
    for name in (("training", "validation") if subset == "both" else (subset,)):
        part = parts[name]
        if verbose:
            print(f"Using {len(paths[part])} files for {name}.")
        datasets[name] = ImageDataset(paths[part], None if indices is None else indices[part],
                                      **options)
    return tuple(datasets.values()) if subset == "both" else datasets[subset]


def _check_arguments(labels, label_mode, class_names, color_mode, validation_split, subset,
                     shuffle, seed):
    if not (labels is None or isinstance(labels, (list, tuple, np.ndarray))
            or (isinstance(labels, str) and labels == "inferred")):
        raise ValueError("labels must be 'inferred' (one class per sub-folder), None (no "
                         "labels) or a list of integer labels, one per image file; got "
                         f"{labels!r}")
    if class_names is not None and not (isinstance(labels, str) and labels == "inferred"):
        raise ValueError("class_names can only be given with labels='inferred' (with a list "
                         "of labels, the class names are the sorted labels)")
    _check_choice("label_mode", label_mode, LABEL_MODES)
    _check_choice("color_mode", color_mode, tuple(COLOR_MODES))
    _check_choice("subset", subset, SUBSETS)
    if validation_split is not None and not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be strictly between 0 and 1, got "
                         f"{validation_split!r}")
    if bool(validation_split) != (subset is not None):
        raise ValueError("subset and validation_split go together: give both or neither "
                         f"(got subset={subset!r}, validation_split={validation_split!r})")
    if validation_split and shuffle and seed is None:
        raise ValueError("validation_split with shuffle=True needs a seed, so that the "
                         "training and validation subsets do not overlap")


def _index_directory(directory, labels, class_names, follow_links, verbose):
    """(file paths, class index of each or None, class names), printing Keras' count."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"image_dataset_from_directory: no folder {directory!r}")
    if isinstance(labels, str):  # 'inferred'
        class_names = _class_folders(directory, class_names)
        files, indices = [], []
        for index, name in enumerate(class_names):
            found = _image_files(directory, name, follow_links)
            files += found
            indices += [index] * len(found)
        indices = np.array(indices, dtype=np.int32)
    else:
        files = _image_files(directory, "", follow_links)
        indices, class_names = _explicit_labels(labels, len(files), directory)
    if verbose:
        print(f"Found {len(files)} files." if indices is None else
              f"Found {len(files)} files belonging to {len(class_names)} classes.")
    if not files:
        raise ValueError(f"No images found in directory {directory!r}. Allowed formats: "
                         f"{', '.join(IMAGE_EXTENSIONS)}")
    return [os.path.join(directory, f) for f in files], indices, class_names


def _class_folders(directory, class_names):
    """The class names: the sorted sub-folders (hidden ones skipped), or `class_names` after
    checking each has its folder."""
    folders = sorted(d for d in os.listdir(directory)
                     if not d.startswith(".") and os.path.isdir(os.path.join(directory, d)))
    if class_names is None:
        return folders
    class_names = list(class_names)
    missing = [name for name in class_names if name not in folders]
    if missing or len(set(class_names)) != len(class_names):
        raise ValueError(f"class_names={class_names} must be distinct sub-folders of "
                         f"{directory!r}, which has {folders}")
    return class_names


def _explicit_labels(labels, n_files, directory):
    """A user's labels as int32 (None stays None) and the class names they imply."""
    if labels is None:
        return None, None
    labels = np.asarray(labels)
    if len(labels) != n_files:
        raise ValueError(f"labels has {len(labels)} entries but {directory!r} holds "
                         f"{n_files} image files")
    if labels.ndim != 1 or (labels.size and (labels.dtype.kind not in "iu" or labels.min() < 0)):
        raise ValueError("labels must be a flat list of non-negative integers, one per file")
    return labels.astype(np.int32), [str(v) for v in sorted(set(labels.tolist()))]


class ImageDataset:
    """Batches (images, labels) of image files, each batch read and resized from disk when
    asked for: `len(ds)` batches per pass, `ds[i]` batch i, `for x, y in ds`, and
    `on_epoch_end()` (called by `fit` and after each full iteration) draws the next pass's
    order when `shuffle`. Attributes as Keras': `class_names`, `file_paths`; also `labels`
    (class index of each file, or None)."""

    def __init__(self, file_paths, labels, class_names=None, label_mode="int",
                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=False,
                 seed=None, interpolation="bilinear"):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        _check_choice("interpolation", interpolation, image_io.METHODS)
        _check_choice("color_mode", color_mode, tuple(COLOR_MODES))
        _check_choice("label_mode", label_mode, LABEL_MODES)
        if (labels is None) != (label_mode is None):
            raise ValueError("label_mode and labels go together: give both or neither")
        self.file_paths, self.labels = list(file_paths), labels
        self.class_names, self.label_mode = class_names, label_mode
        self.color_mode, self.interpolation = color_mode, interpolation
        self.batch_size, self.image_size = int(batch_size), image_io._size(image_size,
                                                                          "image_size")
        self.shuffle = bool(shuffle)
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.file_paths))

    def __len__(self):
        return math.ceil(len(self.file_paths) / self.batch_size)

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"a batch index must be an integer, got {index!r}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch {index} asked of a dataset of {len(self)} batches")
        index %= len(self)
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        x = np.stack([self._read(self.file_paths[i]) for i in rows])
        return x if self.label_mode is None else (x, self._labels(self.labels[rows]))

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
        self.on_epoch_end()

    def on_epoch_end(self):
        if self.shuffle:
            self._order = self._rng.permutation(len(self.file_paths))

    def _read(self, path):
        """One image, float32 (height, width, channels) in 0..255."""
        pixels = image_io.load(path, COLOR_MODES[self.color_mode], dtype="uint8")
        pixels = image_io.resize(pixels.astype(np.float32), self.image_size, self.interpolation)
        return pixels[:, :, None] if pixels.ndim == 2 else pixels

    def _labels(self, indices):
        if self.label_mode == "int":
            return indices
        if self.label_mode == "binary":
            return indices.astype(np.float32)[:, None]
        return np.eye(len(self.class_names), dtype=np.float32)[indices]

    def __repr__(self):
        return (f"ImageDataset({len(self.file_paths)} files, {len(self)} batches of "
                f"{self.batch_size}, image_size={self.image_size}, "
                f"label_mode={self.label_mode!r})")


__all__ = ["image_dataset_from_directory", "ImageDataset"]
