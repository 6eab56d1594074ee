"""`keras.utils`."""
from ..preprocessing.dataset import image_dataset_from_directory
from ..preprocessing.image import array_to_img, img_to_array, load_img, save_img
from ..progbar import Progbar
from ..utils import normalize, set_random_seed, to_categorical

__all__ = ["Progbar", "array_to_img", "image_dataset_from_directory", "img_to_array",
           "load_img", "normalize", "save_img", "set_random_seed", "to_categorical"]
