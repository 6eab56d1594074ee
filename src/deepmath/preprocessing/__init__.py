"""Data preparation as Keras' `keras.preprocessing`: images from files and folders."""
from . import image
from .image import (ImageDataGenerator, array_to_img, img_to_array, load_img, save_img)

__all__ = ["image", "ImageDataGenerator", "array_to_img", "img_to_array", "load_img",
           "save_img"]
