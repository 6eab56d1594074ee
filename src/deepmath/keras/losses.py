"""`keras.losses`."""
from ..losses import (BCE, BinaryCrossentropy, CategoricalCrossentropy, Huber, Loss,
                       LossFunctionWrapper, MAE, MAPE, MSE, MSLE, MeanAbsoluteError,
                       MeanAbsolutePercentageError, MeanSquaredError,
                       MeanSquaredLogarithmicError, SparseCategoricalCrossentropy, bce,
                       binary_crossentropy, categorical_crossentropy, deserialize, get, huber,
                       mae, mape, mean_absolute_error,
                       mean_absolute_percentage_error, mean_squared_error,
                       mean_squared_logarithmic_error, mse, msle, serialize,
                       sparse_categorical_crossentropy)

__all__ = ['BCE', 'BinaryCrossentropy', 'CategoricalCrossentropy', 'Huber', 'Loss',
           'LossFunctionWrapper', 'MAE', 'MAPE', 'MSE', 'MSLE', 'MeanAbsoluteError',
           'MeanAbsolutePercentageError', 'MeanSquaredError', 'MeanSquaredLogarithmicError',
           'SparseCategoricalCrossentropy', 'bce', 'binary_crossentropy',
           'categorical_crossentropy', 'deserialize', 'get', 'huber', 'mae',
           'mape', 'mean_absolute_error', 'mean_absolute_percentage_error',
           'mean_squared_error', 'mean_squared_logarithmic_error', 'mse', 'msle', 'serialize',
           'sparse_categorical_crossentropy']
