"""`keras.preprocessing.image`."""
from ...preprocessing.image import (ImageDataGenerator, array_to_img, img_to_array, load_img,
                                    save_img)

__all__ = ["ImageDataGenerator", "array_to_img", "img_to_array", "load_img", "save_img"]
