"""Write the Keras 3 fixtures of tests/test_saving.py (run by hand, not by the tests):

    python tests/data/keras/make_fixtures.py     (with Keras 3 and h5py installed)

Each model NAME is saved as NAME.weights.h5 (Keras 3 layout), NAME.keras, NAME.h5 (legacy
full model; the MLP's with its training config) and, for the MLP, NAME_legacy_weights.h5
(Keras 2's weights-only layout), with NAME_inputs.npy and Keras' predictions on them,
NAME_expected.npy.
"""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402
from keras.src.legacy.saving import legacy_h5_format  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def mlp(rng):
    model = keras.Sequential([keras.Input((4,)), layers.Dense(5, activation="relu"),
                              layers.Dense(3, activation="softmax")], name="mlp")
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    x = rng.normal(size=(32, 4)).astype("float32")
    model.fit(x, np.eye(3)[rng.integers(0, 3, 32)], epochs=2, batch_size=8, verbose=0)
    return model, rng.normal(size=(5, 4)).astype("float32")


def cnn(rng):
    """12x12 inputs so that the flattened map is 2x2x2: the channels-last order matters."""
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(2, 3),
        layers.AveragePooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.25),
        layers.Dense(3, activation="softmax")], name="cnn")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = rng.normal(size=(32, 12, 12, 1)).astype("float32")
    model.fit(x, rng.integers(0, 3, 32), epochs=2, batch_size=8, verbose=0)
    return model, rng.normal(size=(5, 12, 12, 1)).astype("float32")


def embed(rng):
    """Functional, not compiled, random weights (LayerNormalization's not 1 and 0)."""
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    x = layers.Embedding(10, 4)(tokens)
    x = layers.LayerNormalization()(x)
    x = layers.Reshape((24,))(x)
    x = layers.Dense(3)(x)
    out = layers.Activation("softmax")(x)
    model = keras.Model(tokens, out, name="embed")
    model.set_weights([rng.normal(size=w.shape).astype("float32")
                       for w in model.get_weights()])
    return model, rng.integers(0, 10, size=(5, 6)).astype("int32")


def batchnorm(rng):
    """Trained a few steps: BatchNormalization's moving statistics are not 0 and 1."""
    inputs = keras.Input((4,), name="features")
    x = layers.Dense(8)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    out = layers.Dense(2)(x)
    model = keras.Model(inputs, out, name="bn")
    model.compile(optimizer="adam", loss="mse")
    x = (3.0 + 2.0 * rng.normal(size=(64, 4))).astype("float32")
    model.fit(x, rng.normal(size=(64, 2)), epochs=3, batch_size=8, verbose=0)
    return model, (3.0 + 2.0 * rng.normal(size=(5, 4))).astype("float32")


def save_legacy_weights(model, path):
    """Keras 2's weights-only .h5 (Keras 3 no longer writes it through save_weights)."""
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def without_optimizer(model):
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    return clone


def main():
    keras.utils.set_random_seed(1234)
    for build in (mlp, cnn, embed, batchnorm):
        rng = np.random.default_rng(7)
        model, inputs = build(rng)
        name = model.name
        base = os.path.join(HERE, name)
        model.save(base + ".keras")
        keras.saving.save_model(model, base + ".h5", include_optimizer=name == "mlp")
        if name == "mlp":  # with the optimizer's variables, which a weights reader skips
            model.save_weights(base + ".weights.h5")
            save_legacy_weights(model, base + "_legacy_weights.h5")
        else:  # without them: smaller files
            without_optimizer(model).save_weights(base + ".weights.h5")
        np.save(base + "_inputs.npy", inputs)
        np.save(base + "_expected.npy", model.predict(inputs, verbose=0))
        print(name, "ok", file=sys.stderr)


if __name__ == "__main__":
    main()
