"""Data preparation as Keras' `keras.preprocessing`: images from files and folders."""
from . import dataset, image
from .dataset import ImageDataset, image_dataset_from_directory
from .image import (ImageDataGenerator, array_to_img, img_to_array, load_img, save_img)

__all__ = ["dataset", "image", "ImageDataGenerator", "ImageDataset", "array_to_img",
           "image_dataset_from_directory", "img_to_array", "load_img", "save_img"]
