"""Hugging Face GPT-2 checkpoints in deepmath (book, "ChatGPT – partie 2", §1.3 "GPT2-Small":
the model and its trained weights are public and run completely on a personal computer).

    model, tok = load_gpt2("gpt2/")      # config.json, model.safetensors, vocab.json, merges.txt
    generate_text(model, tok, "The dog is", max_new_tokens=20, greedy=True)
    save_gpt2(model, "export/", tok)     # the same layout, readable by transformers

The weights file is read by `read_safetensors`, a parser of the safetensors format written from
its specification (no dependency): an 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the raw
little-endian byte buffer the offsets index. GPT-2's Conv1D stores its kernels (n_in, n_out),
deepmath's Dense orientation, so the tensors map over by name only, untransposed.
"""
import json
import math
import os
import tempfile

import numpy as np

from ..text.gpt2 import ENDOFTEXT, GPT2Tokenizer
from .model import GPT, GPTConfig

#: safetensors dtype names -> little-endian numpy dtypes ("BF16" is read as uint16, see below).
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
                      "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
                      "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_NUMPY_TO_SAFETENSORS = {np.dtype(v).newbyteorder("="): k for k, v in SAFETENSORS_DTYPES.items()
                         if k not in ("BF16",)}
MAX_HEADER_BYTES = 100_000_000          # the reference implementation's limit

#: config.json's `activation_function` -> GPTConfig.activation, and back.
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}
_HF_ACTIVATION = {"gelu_tanh": "gelu_new", "gelu": "gelu"}

#: GPT-2's causal-mask buffers, saved by old transformers versions: not parameters.
_BUFFERS = (".attn.bias", ".attn.masked_bias")
_PREFIX = "transformer."


# ---- safetensors ------------------------------------------------------------------------------
def read_safetensors(path, with_metadata=False):
    """The tensors of a .safetensors file as {name: numpy array} (F16 and BF16 converted to
    float32); with `with_metadata`, the pair (tensors, the header's "__metadata__" dict).
    A truncated or corrupt file raises ValueError naming the file and the problem."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"safetensors file not found: {path}")
    with open(path, "rb") as f:
        data = f.read()
    entries, metadata, start = _parse_header(data, path)
    tensors = {name: _decode(data, start, info) for name, info in entries.items()}
    return (tensors, metadata) if with_metadata else tensors


def _parse_header(data, path):
    """(entries {name: (dtype, shape, begin, end)}, metadata, buffer start) of a file's bytes,
    every field checked against the format and the file size."""
    def fail(problem):
        raise ValueError(f"{path}: not a valid safetensors file: {problem}")

    if len(data) < 8:
        fail(f"{len(data)} bytes, too short for the 8-byte header length (truncated?)")
    n = int.from_bytes(data[:8], "little")
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        fail(f"header length {n} exceeds the file size {len(data)} (truncated?)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as e:
        fail(f"header is not valid UTF-8 JSON ({e})")
    if not isinstance(header, dict):
        fail(f"header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        fail("__metadata__ must map strings to strings")
    size = len(data) - 8 - n
    entries = {name: _check_entry(name, info, size, fail) for name, info in header.items()}
    _check_layout(entries, size, fail)
    return entries, metadata, 8 + n


def _unique_keys(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"repeated key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _check_entry(name, info, size, fail):
    if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
        fail(f"tensor {name!r} needs 'dtype', 'shape' and 'data_offsets', got {info!r}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    if dtype not in SAFETENSORS_DTYPES:
        fail(f"tensor {name!r} has unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        fail(f"tensor {name!r} has invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2
            and all(type(o) is int for o in offsets) and 0 <= offsets[0] <= offsets[1]):
        fail(f"tensor {name!r} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    if end > size:
        fail(f"tensor {name!r} ends at byte {end} of a {size}-byte buffer (truncated?)")
    nbytes = math.prod(shape) * np.dtype(SAFETENSORS_DTYPES[dtype]).itemsize
    if end - begin != nbytes:
        fail(f"tensor {name!r}: {end - begin} bytes in data_offsets but {dtype} x {shape} "
             f"needs {nbytes}")
    return dtype, tuple(shape), begin, end


def _check_layout(entries, size, fail):
    """The tensors tile the buffer: no overlap, no gap, nothing after the last one."""
    position, previous = 0, None
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda e: e[1][2:]):
        if begin < position:
            fail(f"tensors {previous!r} and {name!r} overlap")
        if begin > position:
            fail(f"{begin - position} unindexed bytes before tensor {name!r}")
        position, previous = end, name
    if position != size:
        fail(f"{size - position} bytes after the last tensor")


def _decode(data, start, entry):
    dtype, shape, begin, end = entry
    raw = np.frombuffer(data, SAFETENSORS_DTYPES[dtype], (end - begin) //
                        np.dtype(SAFETENSORS_DTYPES[dtype]).itemsize, start + begin)
    if dtype == "BF16":         # bfloat16: the high half of a float32
        array = (raw.astype(np.uint32) << 16).view(np.float32)
    elif dtype == "F16":
        array = raw.astype(np.float32)
    else:
        array = raw.astype(raw.dtype.newbyteorder("="))
    return array.reshape(shape)


def write_safetensors(path, tensors, metadata=None):
    """Write {name: array} as a .safetensors file (tensors in name order, header padded with
    spaces to a multiple of 8 bytes); atomic: written under a temporary name, then renamed."""
    if not isinstance(tensors, dict):
        raise TypeError(f"tensors must be a dict name -> array, got {type(tensors).__name__}")
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())):
        raise TypeError("metadata must be a dict of strings to strings")
    header, buffers, offset = {}, [], 0
    for name in sorted(tensors):
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"tensors: invalid tensor name {name!r}")
        array = np.asarray(tensors[name])
        code = _NUMPY_TO_SAFETENSORS.get(array.dtype.newbyteorder("="))
        if code is None:
            raise TypeError(f"tensors[{name!r}]: dtype {array.dtype} has no safetensors type")
        raw = np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        buffers.append(raw)
        offset += len(raw)
    if metadata:
        header = {"__metadata__": dict(metadata), **header}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    _atomic_write(path, [len(text).to_bytes(8, "little"), text, *buffers])


def _atomic_write(path, chunks):
    """Write byte chunks to `path` through a temporary file in the same directory."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---- GPT-2 checkpoints ------------------------------------------------------------------------
def gpt_config_from_hf(hf):
    """GPTConfig from the dict of a transformers GPT-2 config.json."""
    if hf.get("model_type", "gpt2") != "gpt2":
        raise ValueError(f"config.json: model_type is {hf['model_type']!r}, not 'gpt2'")
    missing = [k for k in ("n_embd", "n_layer", "n_head", "vocab_size") if k not in hf]
    if missing or not ("n_positions" in hf or "n_ctx" in hf):
        raise ValueError(f"config.json lacks {missing or ['n_positions']}")
    activation = hf.get("activation_function", "gelu_new")
    if activation not in ACTIVATIONS:
        raise ValueError(f"config.json: activation_function {activation!r} is not supported, "
                         f"only {sorted(ACTIVATIONS)}")
    n_inner = hf.get("n_inner")
    if n_inner is not None and n_inner != 4 * hf["n_embd"]:
        raise ValueError(f"config.json: n_inner={n_inner} is not 4*n_embd, which GPT requires")
    for key, supported in (("scale_attn_weights", True), ("scale_attn_by_inverse_layer_idx",
                                                         False), ("add_cross_attention", False)):
        if hf.get(key, supported) != supported:
            raise ValueError(f"config.json: {key}={hf[key]!r} is not supported")
    return GPTConfig(vocab_size=hf["vocab_size"], block_size=hf.get("n_positions", hf.get("n_ctx")),
                     n_layer=hf["n_layer"], n_head=hf["n_head"], n_embd=hf["n_embd"],
                     dropout=0.0, bias=True, activation=ACTIVATIONS[activation],
                     layer_norm_epsilon=float(hf.get("layer_norm_epsilon", 1e-5)))


def hf_config_from_gpt(config, tokenizer=None):
    """The config.json dict transformers' GPT2LMHeadModel reads for a GPTConfig."""
    if not config.bias:
        raise ValueError("save_gpt2: GPT-2 has biases; a model with bias=False cannot be saved")
    eot = tokenizer.encoder.get(ENDOFTEXT, config.vocab_size - 1) if tokenizer else \
        config.vocab_size - 1
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": config.vocab_size, "n_positions": config.block_size,
            "n_ctx": config.block_size, "n_embd": config.n_embd, "n_layer": config.n_layer,
            "n_head": config.n_head, "n_inner": None,
            "activation_function": _HF_ACTIVATION[config.activation],
            "layer_norm_epsilon": config.layer_norm_epsilon, "resid_pdrop": config.dropout,
            "embd_pdrop": config.dropout, "attn_pdrop": config.dropout,
            "initializer_range": 0.02, "scale_attn_weights": True, "use_cache": True,
            "bos_token_id": eot, "eos_token_id": eot, "tie_word_embeddings": True}


def _require(directory, name):
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"GPT-2 checkpoint file not found: {path}")
    return path


def read_gpt2_weights(directory):
    """All tensors of model.safetensors (or of the shards model.safetensors.index.json lists)."""
    index = os.path.join(directory, "model.safetensors.index.json")
    if not os.path.isfile(os.path.join(directory, "model.safetensors")) and \
            os.path.isfile(index):
        with open(index, encoding="utf-8") as f:
            weight_map = json.load(f).get("weight_map")
        if not isinstance(weight_map, dict):
            raise ValueError(f"{index}: no 'weight_map' object")
        shards = sorted(set(weight_map.values()))
        return {k: v for s in shards for k, v in read_safetensors(_require(directory, s)).items()}
    return read_safetensors(_require(directory, "model.safetensors"))


def gpt_state_from_hf(tensors):
    """deepmath's state dict from HF GPT-2 tensors (names with or without "transformer."): the
    mask buffers dropped, an `lm_head.weight` checked to be tied to (equal to) `wte.weight`."""
    state = {}
    for name, value in tensors.items():
        short = name[len(_PREFIX):] if name.startswith(_PREFIX) else name
        if not short.endswith(_BUFFERS) and short != "lm_head.weight":
            state[_PREFIX + short] = value
    head = tensors.get("lm_head.weight")
    wte = state.get(_PREFIX + "wte.weight")
    if head is not None and (wte is None or head.shape != wte.shape or
                             not np.array_equal(head, wte)):
        raise ValueError("lm_head.weight differs from wte.weight: GPT ties its output "
                         "projection to the token embedding and cannot load an untied head")
    return state


def _check_shapes(model, state):
    params = model.params
    missing = sorted(n[len(_PREFIX):] for n in set(params) - set(state))
    unexpected = sorted(n[len(_PREFIX):] for n in set(state) - set(params))
    if missing or unexpected:
        raise ValueError(f"GPT-2 weights: missing tensors {missing}, unexpected {unexpected}")
    for name, p in params.items():
        if state[name].shape != p.shape:
            raise ValueError(f"GPT-2 weights: tensor {name[len(_PREFIX):]!r} has shape "
                             f"{state[name].shape}, config.json implies {p.shape}")


def load_gpt2(directory, dtype=np.float32):
    """(GPT, GPT2Tokenizer) from a Hugging Face GPT-2 directory: config.json, model.safetensors
    and vocab.json + merges.txt. The model is returned in eval mode."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"GPT-2 checkpoint directory not found: {directory}")
    with open(_require(directory, "config.json"), encoding="utf-8") as f:
        try:
            config = gpt_config_from_hf(json.load(f))
        except json.JSONDecodeError as e:
            raise ValueError(f"{f.name}: invalid JSON ({e})") from None
    state = gpt_state_from_hf(read_gpt2_weights(directory))
    tokenizer = GPT2Tokenizer.from_directory(directory)
    if tokenizer.vocab_size > config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} tokens, more than "
                         f"config.json's vocab_size {config.vocab_size}")
    model = GPT(config, dtype=dtype)
    _check_shapes(model, state)
    model.load_state_dict(state)
    return model.eval(), tokenizer


def save_gpt2(model, directory, tokenizer=None, dtype=np.float32):
    """Write `model` (and `tokenizer`) as a Hugging Face GPT-2 directory: config.json,
    model.safetensors (HF names, weights cast to `dtype`, lm_head tied so not stored) and
    vocab.json + merges.txt; `load_gpt2` and transformers' from_pretrained read it back."""
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a deepmath GPT, got {type(model).__name__}")
    if tokenizer is not None and not isinstance(tokenizer, GPT2Tokenizer):
        raise TypeError(f"tokenizer must be a GPT2Tokenizer, got {type(tokenizer).__name__}")
    config = hf_config_from_gpt(model.config, tokenizer)
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    tensors = {name[len(_PREFIX):]: p.data.astype(dtype) for name, p in model.params.items()}
    write_safetensors(os.path.join(directory, "model.safetensors"), tensors, {"format": "pt"})
    _atomic_write(os.path.join(directory, "config.json"),
                  [json.dumps(config, indent=2).encode("utf-8")])
    if tokenizer is not None:
        tokenizer.save_files(directory)


def generate_text(model, tokenizer, prompt, max_new_tokens=50, temperature=1.0, top_k=None,
                  greedy=False, seed=None):
    """`prompt` followed by `max_new_tokens` generated tokens, as text (`GPT.generate`; `seed`
    fixes the sampling). An empty prompt starts from "<|endoftext|>", as GPT-2's unconditional
    samples; a prompt longer than block_size is conditioned on its last block_size tokens."""
    ids = tokenizer.encode(prompt)
    start = ids if ids or ENDOFTEXT not in tokenizer.encoder else [tokenizer.eot_token]
    if not start:
        raise ValueError("prompt is empty and the tokenizer has no <|endoftext|> to start from")
    out = model.generate(np.array([start[-model.config.block_size:]]), max_new_tokens,
                         temperature=temperature, top_k=top_k, greedy=greedy,
                         rng=np.random.default_rng(seed))
    new = out[0, min(len(start), model.config.block_size):].tolist()
    return tokenizer.decode(ids + new)
