"""deepmath.gpt.hf: safetensors parsing against the format spec, Hugging Face GPT-2 directories
loaded into GPT and checked against an independent numpy forward of GPT-2, export, errors."""
import json
import math
import struct

import numpy as np
import pytest
from scipy.special import erf

from deepmath.gpt import GPT, GPTConfig
from deepmath.gpt.hf import (generate_text, load_gpt2, read_safetensors, save_gpt2,
                             write_safetensors)
from deepmath.text.gpt2 import GPT2Tokenizer

TEXT = ("The dog is black. The cat is white. The child sits on the bed, the cat sits on the "
        "floor. Deep Math: the dog, the cat and the child. ") * 3
N_EMBD, N_LAYER, N_HEAD, N_POS, EPS = 32, 2, 4, 16, 1e-4


# ---- a small random GPT-2 checkpoint in Hugging Face's layout ---------------------------------
@pytest.fixture(scope="module")
def tokenizer():
    return GPT2Tokenizer.train(TEXT, 24)


def hf_config(vocab_size, activation="gelu_new"):
    """config.json as transformers writes it for GPT2LMHeadModel."""
    return {"activation_function": activation, "architectures": ["GPT2LMHeadModel"],
            "attn_pdrop": 0.1, "bos_token_id": vocab_size - 1, "embd_pdrop": 0.1,
            "eos_token_id": vocab_size - 1, "initializer_range": 0.02,
            "layer_norm_epsilon": EPS, "model_type": "gpt2", "n_ctx": N_POS, "n_embd": N_EMBD,
            "n_head": N_HEAD, "n_inner": None, "n_layer": N_LAYER, "n_positions": N_POS,
            "reorder_and_upcast_attn": False, "resid_pdrop": 0.1, "scale_attn_by_inverse_layer_idx":
            False, "scale_attn_weights": True, "summary_activation": None,
            "summary_first_dropout": 0.1, "summary_proj_to_labels": True,
            "summary_type": "cls_index", "summary_use_proj": True, "use_cache": True,
            "vocab_size": vocab_size}


def hf_weights(vocab_size, seed=0):
    """Random GPT-2 tensors under HF's names (no "transformer." prefix, as the `gpt2` hub file),
    Conv1D kernels (n_in, n_out), with the old causal-mask buffers."""
    rng = np.random.default_rng(seed)
    c = N_EMBD

    def r(*shape, scale=0.3, mean=0.0):
        return (mean + scale * rng.standard_normal(shape)).astype(np.float32)

    w = {"wte.weight": r(vocab_size, c), "wpe.weight": r(N_POS, c),
         "ln_f.weight": r(c, mean=1.0), "ln_f.bias": r(c)}
    for i in range(N_LAYER):
        p = f"h.{i}."
        w.update({p + "ln_1.weight": r(c, mean=1.0), p + "ln_1.bias": r(c),
                  p + "attn.c_attn.weight": r(c, 3 * c), p + "attn.c_attn.bias": r(3 * c),
                  p + "attn.c_proj.weight": r(c, c), p + "attn.c_proj.bias": r(c),
                  p + "ln_2.weight": r(c, mean=1.0), p + "ln_2.bias": r(c),
                  p + "mlp.c_fc.weight": r(c, 4 * c), p + "mlp.c_fc.bias": r(4 * c),
                  p + "mlp.c_proj.weight": r(4 * c, c, scale=0.15), p + "mlp.c_proj.bias": r(c),
                  p + "attn.bias": np.tril(np.ones((N_POS, N_POS), np.float32))[None, None],
                  p + "attn.masked_bias": np.array(-1e4, np.float32)})
    return w


def make_checkpoint(directory, tokenizer, weights=None, config=None, assemble=False):
    """Write config.json, model.safetensors and vocab.json + merges.txt into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    weights = hf_weights(tokenizer.vocab_size) if weights is None else weights
    (directory / "config.json").write_text(json.dumps(config or hf_config(tokenizer.vocab_size)))
    path = directory / "model.safetensors"
    if assemble:
        path.write_bytes(assemble_safetensors(weights))
    else:
        write_safetensors(path, weights, {"format": "pt"})
    tokenizer.save_files(directory)
    return weights


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tokenizer):
    directory = tmp_path_factory.mktemp("gpt2")
    return directory, make_checkpoint(directory, tokenizer)


# ---- safetensors assembled byte by byte from the format spec ----------------------------------
ST_FORMATS = {"F32": "f", "F64": "d", "F16": "e", "I64": "q"}


def assemble_safetensors(tensors, reverse=True):
    """<u64 header length> <JSON header> <little-endian data>, data laid out in reverse name
    order (the parser must follow data_offsets, not the header's order), no header padding."""
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name in sorted(tensors, reverse=reverse):
        a = np.asarray(tensors[name])
        code = {np.float32: "F32", np.float64: "F64", np.float16: "F16",
                np.int64: "I64"}[a.dtype.type]
        values = struct.pack(f"<{a.size}{ST_FORMATS[code]}", *a.ravel().tolist())
        header[name] = {"dtype": code, "shape": list(a.shape),
                        "data_offsets": [len(data), len(data) + len(values)]}
        data += values
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_read_hand_assembled_file_all_dtypes(tmp_path):
    # BF16 is the high half of a float32: 1.5 = 0x3FC00000 -> 0x3FC0, -2.0 -> 0xC000, 0.15625 ->
    # 0x3E20; F16 of 0.5 is 0x3800, of -3.25 is 0xC280 (IEEE half).
    data = (struct.pack("<2f", 1.0, -2.5) + struct.pack("<3H", 0x3FC0, 0xC000, 0x3E20) +
            struct.pack("<2H", 0x3800, 0xC280) + struct.pack("<q", -7) + struct.pack("<d", math.pi))
    header = {"a": {"dtype": "F32", "shape": [2, 1], "data_offsets": [0, 8]},
              "b": {"dtype": "BF16", "shape": [3], "data_offsets": [8, 14]},
              "c": {"dtype": "F16", "shape": [2], "data_offsets": [14, 18]},
              "d": {"dtype": "I64", "shape": [], "data_offsets": [18, 26]},
              "e": {"dtype": "F64", "shape": [1, 1], "data_offsets": [26, 34]},
              "empty": {"dtype": "F32", "shape": [0, 3], "data_offsets": [34, 34]},
              "__metadata__": {"format": "pt", "note": "spec"}}
    text = json.dumps(header).encode()
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    t, meta = read_safetensors(path, with_metadata=True)
    assert meta == {"format": "pt", "note": "spec"}
    assert sorted(t) == ["a", "b", "c", "d", "e", "empty"]
    np.testing.assert_array_equal(t["a"], [[1.0], [-2.5]])
    np.testing.assert_array_equal(t["b"], [1.5, -2.0, 0.15625])
    np.testing.assert_array_equal(t["c"], [0.5, -3.25])
    assert t["b"].dtype == t["c"].dtype == np.float32 and t["a"].dtype == np.float32
    assert t["d"].shape == () and t["d"] == -7 and t["d"].dtype == np.int64
    assert t["e"].dtype == np.float64 and t["e"][0, 0] == math.pi
    assert t["empty"].shape == (0, 3)


def test_writer_follows_the_format(tmp_path):
    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([3, -1]),
               "h": np.array([0.5, 2.0], np.float16), "big": np.arange(3, dtype=">f8")}
    path = tmp_path / "w.safetensors"
    write_safetensors(path, tensors, {"format": "pt"})
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    assert n % 8 == 0 and len(raw) == 8 + n + 24 + 16 + 4 + 24
    header = json.loads(raw[8:8 + n])
    assert header["__metadata__"] == {"format": "pt"}
    assert header["w"] == {"dtype": "F32", "shape": [2, 3],
                           "data_offsets": [header["w"]["data_offsets"][0],
                                            header["w"]["data_offsets"][0] + 24]}
    assert header["i"]["dtype"] == "I64" and header["h"]["dtype"] == "F16"
    b, e = header["big"]["data_offsets"]
    assert struct.unpack("<3d", raw[8 + n + b:8 + n + e]) == (0.0, 1.0, 2.0)   # little-endian
    back = read_safetensors(path)
    for k, v in tensors.items():
        np.testing.assert_array_equal(back[k], v)
    assert back["h"].dtype == np.float32
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]             # no temp left


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match="tensors must be a dict"):
        write_safetensors(tmp_path / "a", [np.zeros(2)])
    with pytest.raises(TypeError, match="complex128"):
        write_safetensors(tmp_path / "a", {"z": np.zeros(2, complex)})
    with pytest.raises(ValueError, match="__metadata__"):
        write_safetensors(tmp_path / "a", {"__metadata__": np.zeros(2)})
    with pytest.raises(TypeError, match="metadata"):
        write_safetensors(tmp_path / "a", {"x": np.zeros(2)}, {"n": 1})
    assert list(tmp_path.iterdir()) == []


def _file(tmp_path, header, data):
    text = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


@pytest.mark.parametrize("header, data, problem", [
    (GOOD, b"\0" * 4, "truncated"),
    (b'{"a": {"dtype": ', b"", "JSON"),
    (b"[1, 2]", b"", "not an object"),
    ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "needs 12"),
    ({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8, "dtype 'Q7'"),
    ({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8, "shape"),
    ({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, b"\0" * 8, "data_offsets"),
    ({"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8, "needs 'dtype'"),
    ({**GOOD, "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8,
     "overlap"),
    ({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"\0" * 8, "unindexed"),
    (GOOD, b"\0" * 12, "after the last tensor"),
    ({**GOOD, "__metadata__": {"format": 1}}, b"\0" * 8, "__metadata__"),
    (b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": {}}', b"\0" * 8,
     "repeated key 'a'"),
])
def test_corrupt_files_raise_valueerror_naming_file(tmp_path, header, data, problem):
    path = _file(tmp_path, header, data)
    with pytest.raises(ValueError, match=problem) as e:
        read_safetensors(path)
    assert str(path) in str(e.value)


def test_truncated_header_and_tiny_file(tmp_path, checkpoint):
    raw = (checkpoint[0] / "model.safetensors").read_bytes()
    for cut in (3, 8, 100, len(raw) - 1):
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match=str(path).replace(".", r"\.") + ".*truncated"):
            read_safetensors(path)
    with pytest.raises(FileNotFoundError, match="nothere.safetensors"):
        read_safetensors(tmp_path / "nothere.safetensors")


# ---- an independent numpy GPT-2 ---------------------------------------------------------------
def reference_logits(w, ids, activation="gelu_new", eps=EPS):
    """GPT-2's forward pass in float64 numpy from HF's tensors, one sequence (T,) -> (T, V)."""
    w = {k: np.asarray(v, np.float64) for k, v in w.items()}
    t, c, h = len(ids), N_EMBD, N_HEAD
    d = c // h

    def ln(x, p):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w[p + ".weight"] + w[p + ".bias"]

    def conv1d(x, p):
        return np.einsum("ti,io->to", x, w[p + ".weight"]) + w[p + ".bias"]

    def gelu(x):
        if activation == "gelu":
            return 0.5 * x * (1 + erf(x / math.sqrt(2)))
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))

    x = w["wte.weight"][ids] + w["wpe.weight"][:t]
    for i in range(N_LAYER):
        p = f"h.{i}."
        q, k, v = np.split(conv1d(ln(x, p + "ln_1"), p + "attn.c_attn"), 3, axis=-1)
        q, k, v = (a.reshape(t, h, d) for a in (q, k, v))
        scores = np.einsum("thd,shd->hts", q, k) / math.sqrt(d)
        scores = np.where(np.tril(np.ones((t, t), bool)), scores, -np.inf)
        att = np.exp(scores - scores.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        y = np.einsum("hts,shd->thd", att, v).reshape(t, c)
        x = x + conv1d(y, p + "attn.c_proj")
        x = x + conv1d(gelu(conv1d(ln(x, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    return np.einsum("tc,vc->tv", ln(x, "ln_f"), w["wte.weight"])


def test_load_matches_reference_forward(checkpoint, tokenizer):
    directory, weights = checkpoint
    model, tok = load_gpt2(directory, dtype=np.float64)
    assert model.config == GPTConfig(vocab_size=tokenizer.vocab_size, block_size=N_POS,
                                     n_layer=N_LAYER, n_head=N_HEAD, n_embd=N_EMBD, dropout=0.0,
                                     activation="gelu_tanh", layer_norm_epsilon=EPS)
    assert not model.training
    assert tok.encoder == tokenizer.encoder and tok.merges == tokenizer.merges
    ids = tok.encode("The cat sits on the bed.")
    assert 4 < len(ids) <= N_POS
    expected = reference_logits(weights, ids)
    assert np.abs(expected).max() > 1.0                           # a non-trivial check
    np.testing.assert_allclose(model(np.array([ids])).data[0], expected, atol=1e-5, rtol=0)
    model32, _ = load_gpt2(directory)
    assert model32.params["transformer.wte.weight"].dtype == np.float32
    np.testing.assert_allclose(model32(np.array([ids])).data[0], expected, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("activation", ["gelu", "gelu_new"])
def test_hand_assembled_checkpoint_with_prefix_and_tied_head(tmp_path, tokenizer, activation):
    weights = hf_weights(tokenizer.vocab_size, seed=1)
    stored = {"transformer." + k: v for k, v in weights.items()}    # GPT2LMHeadModel's names
    stored["lm_head.weight"] = weights["wte.weight"].copy()
    make_checkpoint(tmp_path, tokenizer, stored, hf_config(tokenizer.vocab_size, activation),
                    assemble=True)
    model, tok = load_gpt2(tmp_path, dtype=np.float64)
    assert model.config.activation == {"gelu": "gelu", "gelu_new": "gelu_tanh"}[activation]
    ids = tok.encode("the dog and the cat")
    np.testing.assert_allclose(model(np.array([ids])).data[0],
                               reference_logits(weights, ids, activation), atol=1e-5, rtol=0)


def test_sharded_checkpoint(tmp_path, tokenizer):
    weights = make_checkpoint(tmp_path, tokenizer)
    (tmp_path / "model.safetensors").unlink()
    names = sorted(weights)
    shards = {"model-00001-of-00002.safetensors": names[::2],
              "model-00002-of-00002.safetensors": names[1::2]}
    for shard, keys in shards.items():
        write_safetensors(tmp_path / shard, {k: weights[k] for k in keys})
    index = {"metadata": {}, "weight_map": {k: s for s, keys in shards.items() for k in keys}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    model, tok = load_gpt2(tmp_path, dtype=np.float64)
    ids = tok.encode("the bed")
    np.testing.assert_allclose(model(np.array([ids])).data[0], reference_logits(weights, ids),
                               atol=1e-5, rtol=0)
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model-00002-of-00002"):
        load_gpt2(tmp_path)


def test_generate_text_greedy_and_sampled(checkpoint):
    directory, weights = checkpoint
    model, tok = load_gpt2(directory)
    prompt = "The dog is"
    text = generate_text(model, tok, prompt, max_new_tokens=6, greedy=True)
    assert text.startswith(prompt)
    assert text == generate_text(model, tok, prompt, max_new_tokens=6, greedy=True)
    ids = tok.encode(prompt)
    out = model.generate(np.array([ids]), 6, greedy=True)
    assert text == tok.decode(out[0].tolist())
    ref = reference_logits(weights, out[0, :-1])                 # each token the argmax
    np.testing.assert_array_equal(out[0, len(ids):], ref[len(ids) - 1:].argmax(-1))
    out = model.generate(np.array([ids]), 20, greedy=True)       # runs past block_size = 16
    assert out.shape == (1, len(ids) + 20) and out.min() >= 0 and out.max() < tok.vocab_size
    np.testing.assert_array_equal(out, model.generate(np.array([ids]), 20, greedy=True))
    a = generate_text(model, tok, prompt, 8, temperature=0.8, top_k=5, seed=3)
    assert a == generate_text(model, tok, prompt, 8, temperature=0.8, top_k=5, seed=3)
    assert generate_text(model, tok, "", 3, greedy=True) != ""   # starts from <|endoftext|>
    long_prompt = "the cat " * 20                                # more than block_size tokens
    assert generate_text(model, tok, long_prompt, 2, greedy=True).startswith(long_prompt)


def test_save_gpt2_round_trip(tmp_path, checkpoint):
    model, tok = load_gpt2(checkpoint[0])
    save_gpt2(model, tmp_path / "out", tok)
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["activation_function"] == "gelu_new" and config["n_positions"] == N_POS
    assert config["layer_norm_epsilon"] == EPS and config["model_type"] == "gpt2"
    assert config["eos_token_id"] == tok.eot_token
    names = set(read_safetensors(tmp_path / "out" / "model.safetensors"))
    assert "h.1.mlp.c_proj.weight" in names and "wte.weight" in names
    again, tok2 = load_gpt2(tmp_path / "out")
    assert again.config == model.config and tok2.encoder == tok.encoder
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(again.params[name].data, value)
    ids = np.array([tok.encode("the child")])
    np.testing.assert_array_equal(again(ids).data, model(ids).data)
    fresh = GPT(GPTConfig(vocab_size=300, block_size=8, n_layer=1, n_head=2, n_embd=8,
                          activation="gelu"), seed=5)
    save_gpt2(fresh, tmp_path / "nocab")
    with pytest.raises(FileNotFoundError, match="tokenizer"):
        load_gpt2(tmp_path / "nocab")
    assert json.loads((tmp_path / "nocab" / "config.json").read_text())[
        "activation_function"] == "gelu"


def test_save_gpt2_rejects_bad_input(tmp_path, tokenizer):
    with pytest.raises(TypeError, match="model must be a deepmath GPT"):
        save_gpt2({"wte": 1}, tmp_path)
    model = GPT(GPTConfig(vocab_size=300, block_size=8, n_layer=1, n_head=2, n_embd=8))
    with pytest.raises(TypeError, match="tokenizer must be a GPT2Tokenizer"):
        save_gpt2(model, tmp_path, tokenizer="gpt2")
    nobias = GPT(GPTConfig(vocab_size=300, block_size=8, n_layer=1, n_head=2, n_embd=8,
                           bias=False))
    with pytest.raises(ValueError, match="bias=False"):
        save_gpt2(nobias, tmp_path)


# ---- errors on bad checkpoints ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["config.json", "model.safetensors", "vocab.json"])
def test_missing_files(tmp_path, tokenizer, name):
    make_checkpoint(tmp_path, tokenizer)
    (tmp_path / name).unlink()
    with pytest.raises(FileNotFoundError, match=name.replace(".", r"\.")):
        load_gpt2(tmp_path)
    with pytest.raises(FileNotFoundError, match="directory"):
        load_gpt2(tmp_path / "absent")


def _broken(tmp_path, tokenizer, edit=None, config=None):
    weights = hf_weights(tokenizer.vocab_size)
    if edit:
        edit(weights)
    make_checkpoint(tmp_path, tokenizer, weights, config)
    return tmp_path


def test_wrong_shapes_name_the_tensor(tmp_path, tokenizer):
    def transpose(w):
        w["h.1.attn.c_attn.weight"] = w["h.1.attn.c_attn.weight"].T.copy()
    with pytest.raises(ValueError, match=r"'h\.1\.attn\.c_attn\.weight' has shape \(96, 32\)"):
        load_gpt2(_broken(tmp_path / "a", tokenizer, transpose))
    config = hf_config(tokenizer.vocab_size)
    config["n_positions"] = 32
    with pytest.raises(ValueError, match="'wpe.weight' has shape"):
        load_gpt2(_broken(tmp_path / "b", tokenizer, config=config))
    with pytest.raises(ValueError, match=r"missing tensors \['h\.0\.ln_2\.bias'\]"):
        load_gpt2(_broken(tmp_path / "c", tokenizer, lambda w: w.pop("h.0.ln_2.bias")))


def test_untied_head_raises(tmp_path, tokenizer):
    def untie(w):
        w["lm_head.weight"] = w["wte.weight"] + 1e-3
    with pytest.raises(ValueError, match="lm_head.weight differs from wte.weight"):
        load_gpt2(_broken(tmp_path, tokenizer, untie))


@pytest.mark.parametrize("key, value, problem", [
    ("activation_function", "relu", "activation_function 'relu'"),
    ("n_inner", 64, "n_inner=64"),
    ("scale_attn_by_inverse_layer_idx", True, "scale_attn_by_inverse_layer_idx"),
    ("model_type", "gpt_neo", "model_type"),
    ("n_head", 5, "multiple of n_head"),
])
def test_unsupported_config(tmp_path, tokenizer, key, value, problem):
    config = hf_config(tokenizer.vocab_size)
    config[key] = value
    with pytest.raises(ValueError, match=problem):
        load_gpt2(_broken(tmp_path, tokenizer, config=config))


def test_config_not_json_and_missing_keys(tmp_path, tokenizer):
    _broken(tmp_path, tokenizer)
    (tmp_path / "config.json").write_text("{n_embd: 32")
    with pytest.raises(ValueError, match="config.json: invalid JSON"):
        load_gpt2(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"n_embd": 32}))
    with pytest.raises(ValueError, match="config.json lacks"):
        load_gpt2(tmp_path)


# ---- transformers, when installed ------------------------------------------------------------
def test_matches_transformers(tmp_path, checkpoint):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    directory, _ = checkpoint
    model, tok = load_gpt2(directory)
    save_gpt2(model, tmp_path, tok)
    ids = tok.encode("The child sits on the floor.")
    ours = model(np.array([ids])).data[0]
    for path in (directory, tmp_path):
        hf = transformers.GPT2LMHeadModel.from_pretrained(str(path)).eval()
        with torch.no_grad():
            theirs = hf(torch.tensor([ids])).logits[0].numpy()
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=1e-4)
