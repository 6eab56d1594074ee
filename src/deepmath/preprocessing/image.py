"""Images from files and folders, as Keras' `keras.preprocessing.image` (book, chapter
"Convolution avec tensorflow/keras", §3 "Chat vs chien"):

    train_datagen = ImageDataGenerator(rescale=1./255)
    training_set = train_datagen.flow_from_directory('donnees/train', target_size=(64, 64),
                                                     batch_size=32, class_mode='binary')
    modele.fit(training_set, steps_per_epoch=..., epochs=10)

One class per sub-folder (sorted names: cats → 0, dogs → 1); only one batch of images is read
and resized at a time, so the photos never all sit in memory. Reading and writing image files
needs Pillow (`pip install pillow`); `flow` on arrays does not.
"""
import io
import math
import os

import numpy as np

from ..tensor import get_default_dtype

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
CLASS_MODES = ("categorical", "binary", "sparse", "input", None)


def _pil_image():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading and writing image files needs Pillow: pip install pillow") \
            from None
    return Image


def _check_choice(what, value, choices):
    if value not in choices:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, choices))}; got {value!r}")


# ---- single images ----------------------------------------------------------------------------
def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest"):
    """The image file at `path` as a Pillow image in `color_mode` ('rgb', 'grayscale',
    'rgba'), resized to `target_size` = (height, width) when given."""
    _check_choice("color_mode", color_mode, tuple(_CHANNELS))
    _check_choice("interpolation", interpolation, INTERPOLATIONS)
    Image = _pil_image()
    with open(os.fspath(path), "rb") as f:
        content = f.read()
    try:
        img = Image.open(io.BytesIO(content))
        img.load()
    except Exception as err:
        raise ValueError(f"cannot read {os.fspath(path)!r} as an image: {err}") from None
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif img.mode != color_mode.upper():
        img = img.convert(color_mode.upper())
    if target_size is not None:
        height, width = (int(s) for s in target_size)
        if img.size != (width, height):
            img = img.resize((width, height), getattr(Image.Resampling, interpolation.upper()))
    return img


def img_to_array(img, data_format=None, dtype=None):
    """A Pillow image as a float array (height, width, channels); grayscale gets 1 channel."""
    x = np.asarray(img, dtype=dtype or get_default_dtype())
    if x.ndim == 2:
        x = x[:, :, None]
    elif x.ndim != 3:
        raise ValueError(f"img_to_array: unsupported image array of shape {x.shape}")
    return x.transpose(2, 0, 1) if _channels_first(data_format) else x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """An array (height, width, 1|3|4) as a Pillow image; with `scale`, values are stretched so
    the smallest becomes 0 and the largest 255 (as Keras)."""
    Image = _pil_image()
    x = np.array(x, dtype=dtype or get_default_dtype())
    if x.ndim != 3:
        raise ValueError(f"array_to_img expects one image of rank 3 (height, width, channels), "
                         f"got shape {x.shape}")
    if _channels_first(data_format):
        x = x.transpose(1, 2, 0)
    if scale:
        x -= x.min()
        if x.max() != 0:
            x /= x.max()
        x *= 255
    modes = {4: "RGBA", 3: "RGB", 1: "L"}
    if x.shape[2] not in modes:
        raise ValueError(f"array_to_img: an image has 1, 3 or 4 channels, got {x.shape[2]} "
                         f"(shape {x.shape})")
    if x.shape[2] == 1:
        if x.max() > 255:
            return Image.fromarray(x[:, :, 0].astype(np.int32), "I")
        return Image.fromarray(x[:, :, 0].astype(np.uint8), "L")
    return Image.fromarray(x.astype(np.uint8), modes[x.shape[2]])


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write the array `x` as an image file; the format comes from the name's extension unless
    `file_format` says it. The file appears complete or not at all."""
    img = array_to_img(x, data_format=data_format, scale=scale)
    if file_format is None and isinstance(path, (str, os.PathLike)):
        file_format = os.path.splitext(os.fspath(path))[1][1:]
    if not file_format:
        raise ValueError(f"save_img: cannot tell the image format of {path!r}: give a file name "
                         "ending with .png, .jpg… or file_format=")
    file_format = "jpeg" if file_format.lower() == "jpg" else file_format.lower()
    if img.mode == "RGBA" and file_format == "jpeg":
        img = img.convert("RGB")
    if not isinstance(path, (str, os.PathLike)):
        img.save(path, format=file_format, **kwargs)
        return
    from ..saving.io import atomic_path
    with atomic_path(path) as tmp:
        img.save(tmp, format=file_format, **kwargs)


def _channels_first(data_format):
    _check_choice("data_format", data_format, (None, "channels_last", "channels_first"))
    return data_format == "channels_first"


# ---- the generator --------------------------------------------------------------------------
# Keras' other options, with their defaults (which change nothing): any other value is refused.
_UNSUPPORTED = {"featurewise_center": False, "samplewise_center": False,
                "featurewise_std_normalization": False, "samplewise_std_normalization": False,
                "zca_whitening": False, "zca_epsilon": 1e-6, "rotation_range": 0,
                "width_shift_range": 0.0, "height_shift_range": 0.0, "brightness_range": None,
                "shear_range": 0.0, "zoom_range": 0.0, "channel_shift_range": 0.0,
                "fill_mode": "nearest", "cval": 0.0, "interpolation_order": 1}


class ImageDataGenerator:
    """Batches of images, from arrays (`flow`) or from a folder per class
    (`flow_from_directory`), each image flipped at random if asked, then passed to
    `preprocessing_function`, then multiplied by `rescale` (Keras' order).

    `validation_split` keeps apart the first fraction of each class (of the arrays for
    `flow`): ask for it with `subset='validation'`, the rest with `subset='training'`.
    Keras' geometric augmentations (rotation, shift, zoom…) are not implemented: passing one
    raises an error rather than training silently without it."""

    def __init__(self, rescale=None, horizontal_flip=False, vertical_flip=False,
                 preprocessing_function=None, validation_split=0.0, data_format=None,
                 dtype=None, **options):
        for name, value in options.items():
            if name not in _UNSUPPORTED:
                raise TypeError(f"ImageDataGenerator: unknown option {name!r}")
            if value != _UNSUPPORTED[name]:
                raise NotImplementedError(f"ImageDataGenerator: {name}={value!r} is not "
                                          "supported by deepmath (supported: rescale, "
                                          "horizontal_flip, vertical_flip, "
                                          "preprocessing_function, validation_split)")
        if data_format not in (None, "channels_last"):
            raise ValueError("ImageDataGenerator: deepmath's images are channels_last, got "
                             f"data_format={data_format!r}")
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(f"validation_split must be strictly between 0 and 1, got "
                             f"{validation_split}")
        if preprocessing_function is not None and not callable(preprocessing_function):
            raise TypeError("preprocessing_function must be a function of one image array")
        self.rescale = rescale
        self.horizontal_flip, self.vertical_flip = bool(horizontal_flip), bool(vertical_flip)
        self.preprocessing_function = preprocessing_function
        self.validation_split = float(validation_split or 0.0)
        self.dtype = np.dtype(dtype or get_default_dtype())

    def random_transform(self, x, rng):
        """x (height, width, channels) flipped left-right and/or up-down, each with
        probability 1/2 when enabled."""
        if self.horizontal_flip and rng.random() < 0.5:
            x = x[:, ::-1]
        if self.vertical_flip and rng.random() < 0.5:
            x = x[::-1]
        return x

    def standardize(self, x):
        if self.preprocessing_function is not None:
            x = self.preprocessing_function(x)
        if self.rescale:
            x = x * self.rescale
        return x

    def split(self, subset):
        """The (start, stop) fraction of the samples a subset takes; None for all."""
        _check_choice("subset", subset, (None, "training", "validation"))
        if subset is None:
            return None
        if not self.validation_split:
            raise ValueError(f"subset={subset!r} needs ImageDataGenerator(validation_split=...)")
        return (0.0, self.validation_split) if subset == "validation" \
            else (self.validation_split, 1.0)

    def flow(self, x, y=None, batch_size=32, shuffle=True, sample_weight=None, seed=None,
             subset=None):
        """Batches (x, y) from arrays: x of shape (N, height, width, channels)."""
        return NumpyArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle,
                                  sample_weight=sample_weight, seed=seed, subset=subset)

    def flow_from_directory(self, directory, target_size=(256, 256), color_mode="rgb",
                            classes=None, class_mode="categorical", batch_size=32,
                            shuffle=True, seed=None, follow_links=False, subset=None,
                            interpolation="nearest"):
        """Batches (images, labels) from `directory`/<class>/<image files>; see
        `DirectoryIterator`."""
        return DirectoryIterator(directory, self, target_size=target_size,
                                 color_mode=color_mode, classes=classes,
                                 class_mode=class_mode, batch_size=batch_size, shuffle=shuffle,
                                 seed=seed, follow_links=follow_links, subset=subset,
                                 interpolation=interpolation)


class Iterator:
    """Batches over `n` samples, usable three ways: `len(it)` batches per epoch and `it[i]`
    (a Keras Sequence, what `fit` reads), or `next(it)` forever. The order is shuffled again
    by `on_epoch_end()`, which `fit` calls after each epoch and `next` after the last batch.
    With `seed` the orders (and random flips) repeat from run to run; without it they are drawn
    from NumPy's global generator, which `deepmath.utils.set_random_seed` seeds."""

    def __init__(self, n, batch_size, shuffle, seed):
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.n, self.batch_size = int(n), int(batch_size)
        self.shuffle, self.seed = bool(shuffle), seed
        self._rng = np.random.default_rng(np.random.randint(2 ** 31) if seed is None else seed)
        self.batch_index = 0
        self._set_index_array()

    def _set_index_array(self):
        self.index_array = self._rng.permutation(self.n) if self.shuffle else np.arange(self.n)

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __getitem__(self, idx):
        if not -len(self) <= idx < len(self):
            raise IndexError(f"batch {idx} asked of an iterator of {len(self)} batches")
        idx %= len(self)
        return self._batch(self.index_array[idx * self.batch_size:(idx + 1) * self.batch_size])

    def __iter__(self):
        return self

    def __next__(self):
        if self.batch_index >= len(self):
            self.on_epoch_end()
        batch = self[self.batch_index]
        self.batch_index += 1
        return batch

    def on_epoch_end(self):
        self._set_index_array()
        self.batch_index = 0

    def reset(self):
        self.batch_index = 0

    def _images(self, arrays):
        """Each image array (height, width, channels) transformed and standardized."""
        gen = self.image_data_generator
        return np.stack([gen.standardize(gen.random_transform(x, self._rng)) for x in arrays]) \
            .astype(gen.dtype, copy=False)

    def _batch(self, index):
        raise NotImplementedError


class NumpyArrayIterator(Iterator):
    """`ImageDataGenerator.flow`: batches of x (N, height, width, channels) with y."""

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=False,
                 sample_weight=None, seed=None, subset=None):
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(f"flow: x must be images of rank 4 (N, height, width, channels), "
                             f"got shape {x.shape}")
        y = None if y is None else np.asarray(y)
        sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        for name, other in (("y", y), ("sample_weight", sample_weight)):
            if other is not None and len(other) != len(x):
                raise ValueError(f"flow: x has {len(x)} samples but {name} has {len(other)}")
        split = image_data_generator.split(subset)
        if split is not None:
            cut = int(len(x) * image_data_generator.validation_split)
            part = slice(0, cut) if subset == "validation" else slice(cut, None)
            x, y, sample_weight = (None if a is None else a[part] for a in (x, y, sample_weight))
        if len(x) == 0:
            raise ValueError("flow: no samples" + (f" in subset {subset!r}" if subset else ""))
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.image_data_generator = image_data_generator
        super().__init__(len(x), batch_size, shuffle, seed)

    def _batch(self, index):
        batch = (self._images(self.x[index].astype(self.image_data_generator.dtype)),)
        if self.y is not None:
            batch += (self.y[index],)
        if self.sample_weight is not None:
            batch += (self.sample_weight[index],)
        return batch[0] if len(batch) == 1 else batch


class DirectoryIterator(Iterator):
    """Images of `directory`/<class>/…, one class per sub-folder (sorted names, or `classes`),
    as batches (images, labels); prints "Found N images belonging to K classes." as Keras.

    Labels per `class_mode`: 'categorical' one-hot rows (B, K); 'binary' 0./1. (B,) (two
    classes); 'sparse' class indices (B,); 'input' the images themselves; None no labels
    (batches are the images alone). Attributes as Keras: `class_indices` {name: index},
    `classes` (index of each file), `filenames` (relative to `directory`), `filepaths`,
    `samples` (= `n`), `num_classes`, `batch_size`, `image_shape`."""

    white_list_formats = IMAGE_EXTENSIONS

    def __init__(self, directory, image_data_generator, target_size=(256, 256),
                 color_mode="rgb", classes=None, class_mode="categorical", batch_size=32,
                 shuffle=True, seed=None, follow_links=False, subset=None,
                 interpolation="nearest"):
        _check_choice("color_mode", color_mode, tuple(_CHANNELS))
        _check_choice("class_mode", class_mode, CLASS_MODES)
        _check_choice("interpolation", interpolation, INTERPOLATIONS)
        _pil_image()
        directory = os.fspath(directory)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"flow_from_directory: no folder {directory!r}")
        self.directory, self.image_data_generator = directory, image_data_generator
        self.target_size = tuple(int(s) for s in target_size)
        self.color_mode, self.class_mode, self.interpolation = color_mode, class_mode, \
            interpolation
        self.image_shape = self.target_size + (_CHANNELS[color_mode],)
        names = list(classes) if classes else sorted(
            d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
        if not names:
            raise ValueError(f"flow_from_directory: {directory!r} has no sub-folder; put the "
                             "images of each class in a sub-folder of their own (e.g. "
                             "train/cats, train/dogs)")
        for name in names:
            if not os.path.isdir(os.path.join(directory, name)):
                raise FileNotFoundError(f"flow_from_directory: class {name!r} has no folder "
                                        f"{os.path.join(directory, name)!r}")
        if class_mode == "binary" and len(names) != 2:
            raise ValueError(f"class_mode='binary' needs exactly 2 classes, found {len(names)} "
                             f"in {directory!r}: {names}")
        self.class_indices = {name: i for i, name in enumerate(names)}
        self.num_classes = len(names)
        split = image_data_generator.split(subset)
        self.filenames, labels = [], []
        for name in names:
            files = _image_files(directory, name, follow_links)
            if split is not None:
                files = files[int(split[0] * len(files)):int(split[1] * len(files))]
            self.filenames += files
            labels += [self.class_indices[name]] * len(files)
        self.classes = np.array(labels, dtype=np.int32)
        self.samples = len(self.filenames)
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        if not self.samples:
            raise ValueError(f"flow_from_directory: no image in the sub-folders of "
                             f"{directory!r} (image files end with "
                             f"{', '.join(IMAGE_EXTENSIONS)})")
        self.filepaths = [os.path.join(directory, f) for f in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed)

    labels = property(lambda self: self.classes)

    def _batch(self, index):
        arrays = (img_to_array(load_img(self.filepaths[j], self.color_mode, self.target_size,
                                        self.interpolation), dtype=np.float32) for j in index)
        x = self._images(arrays)
        if self.class_mode is None:
            return x
        if self.class_mode == "input":
            return x, x.copy()
        labels = self.classes[index]
        if self.class_mode == "categorical":
            y = np.zeros((len(index), self.num_classes), dtype=x.dtype)
            y[np.arange(len(index)), labels] = 1
            return x, y
        return x, labels.astype(x.dtype)


def _image_files(directory, class_name, follow_links):
    """Image files under directory/class_name (sub-folders included), sorted, as paths
    relative to `directory`."""
    found = []
    top = os.path.join(directory, class_name)
    for root, dirs, files in os.walk(top, followlinks=follow_links):
        dirs.sort()
        for name in sorted(files):
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(os.path.relpath(os.path.join(root, name), directory))
    return found
