"""`keras.metrics`."""
from ..metrics import (Accuracy, BinaryAccuracy, BinaryCrossentropy, CategoricalAccuracy,
                        CategoricalCrossentropy, Mean, MeanAbsoluteError,
                        MeanAbsolutePercentageError, MeanMetricWrapper, MeanSquaredError,
                        MeanSquaredLogarithmicError, Metric, Precision, Recall,
                        RootMeanSquaredError, SparseCategoricalAccuracy,
                        SparseCategoricalCrossentropy, SparseTopKCategoricalAccuracy,
                        TopKCategoricalAccuracy, accuracy, binary_accuracy,
                        categorical_accuracy, get, serialize, sparse_categorical_accuracy,
                        sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)

__all__ = ['Accuracy', 'BinaryAccuracy', 'BinaryCrossentropy', 'CategoricalAccuracy',
           'CategoricalCrossentropy', 'Mean', 'MeanAbsoluteError',
           'MeanAbsolutePercentageError', 'MeanMetricWrapper', 'MeanSquaredError',
           'MeanSquaredLogarithmicError', 'Metric', 'Precision', 'Recall',
           'RootMeanSquaredError', 'SparseCategoricalAccuracy', 'SparseCategoricalCrossentropy',
           'SparseTopKCategoricalAccuracy', 'TopKCategoricalAccuracy', 'accuracy',
           'binary_accuracy', 'categorical_accuracy', 'get', 'serialize',
           'sparse_categorical_accuracy', 'sparse_top_k_categorical_accuracy',
           'top_k_categorical_accuracy']
