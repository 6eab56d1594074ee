"""The GPT of `deepmath.gpt`: shapes, causality, gradients, training, resumable checkpoints,
sampling and the command line."""
import numpy as np
import pytest

from deepmath.gpt import (GPT, GPTConfig, Trainer, TrainConfig, get_batch, learning_rate,
                          make_optimizer, train_step)
from deepmath.gpt.__main__ import main as gpt_main

TINY = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)


def tiny(seed=0, dtype=np.float32, **kw):
    return GPT(GPTConfig(**{**TINY, **kw}), seed=seed, dtype=dtype)


def tokens(shape, seed=0):
    return np.random.default_rng(seed).integers(0, TINY["vocab_size"], shape)


def test_shapes_and_initial_loss_near_uniform():
    model = tiny()
    idx = tokens((3, 8))
    logits, loss = model(idx, tokens((3, 8), 1))
    assert logits.shape == (3, 8, 11)
    assert abs(float(loss.data) - np.log(11)) < 0.1
    assert model(idx[:, :5]).shape == (3, 5, 11)
    assert model.num_params(non_embedding=False) - model.num_params() == 8 * 16


def test_attention_is_causal():
    model = tiny()
    idx = tokens((1, 8))
    changed = idx.copy()
    changed[0, 5] = (changed[0, 5] + 1) % 11
    a, b = model(idx).data, model(changed).data
    np.testing.assert_array_equal(a[0, :5], b[0, :5])
    assert not np.allclose(a[0, 5:], b[0, 5:])


def test_gradients_match_finite_differences():
    model = tiny(dtype=np.float64, n_layer=1)
    idx, targets = tokens((2, 6)), tokens((2, 6), 1)
    _, loss = model(idx, targets)
    loss.backward()
    rng = np.random.default_rng(0)
    for name in ("transformer.wte.weight", "transformer.h.0.attn.c_attn.weight",
                 "transformer.h.0.ln_1.weight", "transformer.h.0.mlp.c_fc.bias",
                 "transformer.wpe.weight", "transformer.ln_f.bias"):
        p = model.params[name]
        for flat in rng.choice(p.size, 3, replace=False):
            i = np.unravel_index(flat, p.shape)
            old = p.data[i]
            p.data[i] = old + 1e-6
            up = float(model(idx, targets)[1].data)
            p.data[i] = old - 1e-6
            down = float(model(idx, targets)[1].data)
            p.data[i] = old
            assert abs((up - down) / 2e-6 - p.grad.data[i]) < 1e-6 + 1e-4 * abs(p.grad.data[i])


def test_training_learns_a_repeating_text():
    data = np.tile(np.arange(5), 200)
    model = tiny(vocab_size=5)
    cfg = TrainConfig(batch_size=8, max_iters=60, learning_rate=1e-2, warmup_iters=5,
                      lr_decay_iters=60, eval_interval=0)
    opt = make_optimizer(model, cfg)
    rng = np.random.default_rng(0)
    losses = []
    for it in range(cfg.max_iters):
        opt.learning_rate = learning_rate(it, cfg)
        losses.append(train_step(model, opt, *get_batch(data, 8, 8, rng)))
    assert losses[0] > 1.4 and losses[-1] < 0.2
    out = model.generate(np.array([[0, 1, 2]]), 6, greedy=True)
    np.testing.assert_array_equal(out[0], [0, 1, 2, 3, 4, 0, 1, 2, 3])


def test_weight_decay_only_on_matrices():
    model = tiny()
    opt = make_optimizer(model, TrainConfig())
    for name, p in model.named_parameters():
        assert opt._decays(p) == (p.ndim >= 2), name


def test_learning_rate_schedule_is_nanogpts():
    cfg = TrainConfig(learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, lr_decay_iters=2000)
    assert learning_rate(0, cfg) == pytest.approx(1e-3 / 101)
    assert learning_rate(100, cfg) == pytest.approx(1e-3)
    assert learning_rate(1050, cfg) == pytest.approx(5.5e-4)
    assert learning_rate(2000, cfg) == pytest.approx(1e-4)
    assert learning_rate(5000, cfg) == 1e-4


def test_checkpoint_resumes_exactly(tmp_path):
    data = tokens(500, 3)
    cfg = TrainConfig(batch_size=4, max_iters=6, eval_interval=3, eval_iters=2,
                      warmup_iters=2, lr_decay_iters=6)
    straight = Trainer(tiny(), cfg)
    straight.run(data[:400], data[400:], log=None)

    first = Trainer(tiny(), TrainConfig(**{**vars(cfg), "max_iters": 3}))
    first.run(data[:400], data[400:], log=None, checkpoint=tmp_path / "run.npz")
    resumed = Trainer.load(tmp_path / "run.npz")
    assert resumed.it == 3
    resumed.cfg.max_iters = 6
    resumed.run(data[:400], data[400:], log=None)
    for name, p in straight.model.named_parameters():
        np.testing.assert_array_equal(p.data, resumed.model.params[name].data, err_msg=name)
    assert resumed.curve == straight.curve
    assert [f.name for f in tmp_path.iterdir()] == ["run.npz"]   # no temporary left


def test_generate_options_and_errors():
    model = tiny()
    prompt = np.array([[1, 2, 3]])
    greedy = model.generate(prompt, 4, greedy=True)
    np.testing.assert_array_equal(model.generate(prompt, 4, top_k=1,
                                                 rng=np.random.default_rng(5)), greedy)
    a = model.generate(prompt, 12, rng=np.random.default_rng(1))
    b = model.generate(prompt, 12, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1, 15)                     # grows past block_size: context cropped
    with pytest.raises(ValueError, match="temperature"):
        model.generate(prompt, 2, temperature=0)
    with pytest.raises(ValueError, match="top_k"):
        model.generate(prompt, 2, top_k=0)
    with pytest.raises(ValueError, match="context length"):
        model(tokens((1, 9)))
    with pytest.raises(ValueError, match="vocabulary"):
        model(np.array([[1, 11]]))
    with pytest.raises(ValueError, match="integer tokens"):
        model(np.ones((1, 3)))


def test_bad_configs_and_state_dicts(tmp_path):
    with pytest.raises(ValueError, match="multiple of n_head"):
        GPTConfig(n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(dropout=1.0)
    model = tiny()
    state = model.state_dict()
    state["transformer.wte.weight"] = state["transformer.wte.weight"][:5]
    with pytest.raises(ValueError, match="transformer.wte.weight has shape"):
        model.load_state_dict(state)
    with pytest.raises(ValueError, match="missing"):
        model.load_state_dict({})
    with pytest.raises(FileNotFoundError):
        Trainer.load(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a deepmath GPT checkpoint"):
        Trainer.load(tmp_path / "other.npz")


def test_command_line_train_then_sample(tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("to be or not to be, that is the question. " * 40, encoding="utf-8")
    ckpt = tmp_path / "gpt.npz"
    assert gpt_main(["train", "--text", str(text), "--out", str(ckpt), "--n-layer", "1",
                     "--n-embd", "16", "--n-head", "2", "--block-size", "16",
                     "--max-iters", "4", "--eval-interval", "2", "--eval-iters", "1",
                     "--batch-size", "4"]) == 0
    assert "val loss" in capsys.readouterr().out
    assert gpt_main(["sample", "--checkpoint", str(ckpt), "--prompt", "to be",
                     "--max-new-tokens", "10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("to be") and len(out.rstrip("\n")) >= 15
    assert gpt_main(["sample", "--checkpoint", str(ckpt), "--prompt", "Z"]) == 1
    assert "character 'Z' at position 0 is not in the vocabulary" in capsys.readouterr().err


def test_attention_maps_are_causal_distributions():
    model = tiny()
    idx = tokens((2, 6))
    maps = model.attention_maps(idx)
    assert len(maps) == 2 and maps[0].shape == (2, 2, 6, 6)
    for w in maps:
        np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-12)
        assert np.all(np.triu(w[0, 0], 1) == 0)
    assert model._attention_maps is None and model.training


def test_gelu_tanh_and_layer_norm_epsilon_options():
    a = tiny(activation="gelu")
    b = tiny(activation="gelu_tanh", layer_norm_epsilon=1e-3)
    idx = tokens((1, 5))
    assert not np.allclose(a(idx).data, b(idx).data)
    with pytest.raises(ValueError, match="activation"):
        GPTConfig(activation="relu")
