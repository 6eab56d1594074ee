"""`keras.preprocessing`."""
from . import image
from ...preprocessing.dataset import image_dataset_from_directory

__all__ = ["image", "image_dataset_from_directory"]
