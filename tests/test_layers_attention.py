"""MultiHeadAttention against Keras' formula written in numpy (einsum over Keras' weight
layout), its fused and unfused paths, masks, gradients, configs and files."""
import numpy as np
import pytest

from deepmath import saving
from deepmath.layers import Dense, Input, MultiHeadAttention
from deepmath.models import Model


def reference(layer, query, value, key=None, mask=None, causal=False):
    """Keras 3's MultiHeadAttention.call in numpy, float64."""
    key = value if key is None else key
    w = [np.asarray(a, np.float64) for a in layer.get_weights()]
    if not layer.use_bias:                       # kernels only: zero biases in their place
        w = [x for kernel in w for x in (kernel, np.zeros(kernel.shape[1:]))]
        w[-1] = np.zeros(w[-2].shape[-1])
    qk, qb, kk, kb, vk, vb, ok, ob = w
    q = np.einsum("btd,dhk->bhtk", query, qk) + qb[None, :, None]
    k = np.einsum("bsd,dhk->bhsk", key, kk) + kb[None, :, None]
    v = np.einsum("bsd,dhk->bhsk", value, vk) + vb[None, :, None]
    scores = np.einsum("bhtk,bhsk->bhts", q, k) / np.sqrt(layer.key_dim)
    allowed = np.ones(scores.shape[-2:], bool) if mask is None else mask[:, None].astype(bool)
    if causal:
        allowed = allowed & np.tril(np.ones(scores.shape[-2:], bool))
    scores = np.where(allowed, scores, -1e9)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bhts,bhsv,hvo->bto", p, v, ok) + ob, p


def data(shape=(2, 5, 6), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("options", [{}, {"value_dim": 3}, {"output_shape": 7},
                                     {"use_bias": False}])
def test_self_attention_matches_keras_formula(causal, options):
    x = data()
    layer = MultiHeadAttention(num_heads=2, key_dim=4, **options)
    out = layer(x, x, use_causal_mask=causal)
    expected, _ = reference(layer, x.astype(np.float64), x.astype(np.float64), causal=causal)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=2e-5, atol=2e-6)
    assert len(layer.get_weights()) == (8 if options.get("use_bias", True) else 4)


def test_cross_attention_with_key_and_mask():
    q, v, k = data((2, 3, 6), 1), data((2, 5, 4), 2), data((2, 5, 8), 3)
    mask = np.random.default_rng(4).random((2, 3, 5)) > 0.3
    mask[:, :, 0] = True                                   # every query sees something
    layer = MultiHeadAttention(num_heads=3, key_dim=2)
    out, scores = layer(q, v, key=k, attention_mask=mask, return_attention_scores=True)
    expected, probs = reference(layer, q, v, k, mask=mask)
    np.testing.assert_allclose(out.data, expected, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(scores.data, probs, rtol=2e-5, atol=1e-7)
    fused = layer(q, v, key=k, attention_mask=mask)         # the kernel path, same numbers
    np.testing.assert_allclose(fused.data, out.data, rtol=1e-5, atol=1e-6)


def test_gradients_match_finite_differences():
    x = np.random.default_rng(5).normal(size=(1, 4, 3))
    layer = MultiHeadAttention(num_heads=2, key_dim=2, dtype="float64")
    out = layer(x, x, use_causal_mask=True)
    (out * out).sum().backward()
    for weight in layer.trainable_weights:
        i = np.unravel_index(np.argmax(np.abs(weight.grad.data)), weight.shape)
        old = weight.data[i]
        weight.data[i] = old + 1e-6
        up = float((layer(x, x, use_causal_mask=True).data ** 2).sum())
        weight.data[i] = old - 1e-6
        down = float((layer(x, x, use_causal_mask=True).data ** 2).sum())
        weight.data[i] = old
        assert (up - down) / 2e-6 == pytest.approx(weight.grad.data[i], rel=1e-5, abs=1e-8)


def test_dropout_only_in_training():
    x = data()
    layer = MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5)
    inference = layer(x, x).data
    np.testing.assert_allclose(layer(x, x, training=False).data, inference)
    assert not np.allclose(layer(x, x, training=True).data, inference)


def test_functional_model_config_and_file_round_trip(tmp_path):
    inputs = Input(shape=(5, 6))
    attended = MultiHeadAttention(num_heads=2, key_dim=4, name="mha")(inputs, inputs,
                                                                       use_causal_mask=True)
    model = Model(inputs, Dense(3)(attended))
    x = data()
    expected = model.predict(x, verbose=0)
    clone = Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), expected, rtol=1e-6)
    changed = x.copy()
    changed[:, 3:] += 1.0                        # causal: the first 3 outputs do not move
    np.testing.assert_allclose(clone.predict(changed, verbose=0)[:, :3], expected[:, :3],
                               rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m.deepmath")
    loaded = saving.load_model(tmp_path / "m.deepmath")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-6)
    model.compile(loss="mse", optimizer="adam")
    history = model.fit(x, np.zeros((2, 5, 3), np.float32), epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="num_heads"):
        MultiHeadAttention(num_heads=0, key_dim=2)
    with pytest.raises(ValueError, match="dropout"):
        MultiHeadAttention(num_heads=1, key_dim=2, dropout=1.0)
    layer = MultiHeadAttention(num_heads=1, key_dim=2)
    with pytest.raises(ValueError, match="batch, length, features"):
        layer(np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))
    x = data()
    with pytest.raises(ValueError, match="attention_mask must be"):
        MultiHeadAttention(num_heads=1, key_dim=2)(x, x, attention_mask=np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match="must share batch and length"):
        MultiHeadAttention(num_heads=1, key_dim=2)(x, x, key=data((2, 4, 6)))
