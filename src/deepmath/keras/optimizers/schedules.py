"""`keras.optimizers.schedules`."""
from ...schedules import (CosineDecay, ExponentialDecay, InverseTimeDecay,
                          LearningRateSchedule, PiecewiseConstantDecay, PolynomialDecay,
                          deserialize, serialize)

__all__ = ["CosineDecay", "ExponentialDecay", "InverseTimeDecay", "LearningRateSchedule",
           "PiecewiseConstantDecay", "PolynomialDecay", "deserialize", "serialize"]
