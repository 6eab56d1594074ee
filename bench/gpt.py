#!/usr/bin/env python
"""The GPT of issue 7 against PyTorch eager, on nanoGPT's shakespeare_char CPU recipe
(4 layers, 4 heads, 128 embedding, context 64, batch 12, no biases as nanoGPT's train.py,
AdamW 1e-3 β₂ 0.99, clip 1.0).

    python bench/gpt.py                  # ms per training step, deepmath vs torch, 3 rounds
    python bench/gpt.py --train          # + the full 2 000-iteration run (val loss), deepmath
                                         #   and torch from the same weights and batches

Each (library, round) runs in its own process (this file with --child), rounds alternating
A B A B; a round times `--steps` steps after 3 warm-up ones on the same random batches.
Results: bench/results/gpt.json (the training curve included with --train).
"""
import argparse
import datetime
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
OUT = BENCH_DIR / "results" / "gpt.json"
TEXT = BENCH_DIR.parents[1] / "shared" / "data" / "text" / "tinyshakespeare.txt"
CONFIG = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, vocab_size=65,
              bias=False)
MODEL_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "bias")
TARGET_RATIO = 0.6     # deepmath's step time / torch's, at most
TARGET_VAL_LOSS = 1.88


def batches(n, seed=0):
    rng = np.random.default_rng(seed)
    shape = (CONFIG["batch_size"], CONFIG["block_size"])
    return [(rng.integers(0, CONFIG["vocab_size"], shape),
             rng.integers(0, CONFIG["vocab_size"], shape)) for _ in range(n)]


def deepmath_step():
    from deepmath.gpt import GPT, GPTConfig, TrainConfig, make_optimizer, train_step
    model = GPT(GPTConfig(vocab_size=CONFIG["vocab_size"],
                          **{k: CONFIG[k] for k in MODEL_KEYS}))
    opt = make_optimizer(model, TrainConfig())
    return lambda x, y: train_step(model, opt, x, y)


def torch_model():
    """The same model in PyTorch eager: pre-LN blocks, fused SDPA, tied head (nanoGPT's)."""
    import torch
    from torch import nn
    from torch.nn import functional as F
    c = CONFIG
    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            e, bias = c["n_embd"], c["bias"]
            self.ln_1, self.ln_2 = nn.LayerNorm(e, bias=bias), nn.LayerNorm(e, bias=bias)
            self.c_attn = nn.Linear(e, 3 * e, bias=bias)
            self.c_proj = nn.Linear(e, e, bias=bias)
            self.fc = nn.Linear(e, 4 * e, bias=bias)
            self.proj = nn.Linear(4 * e, e, bias=bias)

        def forward(self, x):
            b, t, e = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(e, dim=2)
            q, k, v = (z.view(b, t, c["n_head"], e // c["n_head"]).transpose(1, 2)
                       for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.c_proj(y.transpose(1, 2).contiguous().view(b, t, e))
            return x + self.proj(F.gelu(self.fc(self.ln_2(x))))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
            self.wpe = nn.Embedding(c["block_size"], c["n_embd"])
            self.blocks = nn.ModuleList(Block() for _ in range(c["n_layer"]))
            self.ln_f = nn.LayerNorm(c["n_embd"], bias=c["bias"])

        def forward(self, idx, targets):
            x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
            for block in self.blocks:
                x = block(x)
            logits = self.ln_f(x) @ self.wte.weight.T
            return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))

    return Model()


def torch_trainer(model, lr=1e-3):
    """nanoGPT's train.py step: AdamW with decay on matrices only, global-norm clipping."""
    import torch
    params = list(model.parameters())
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99))

    def step(x, y):
        loss = model(torch.from_numpy(x), torch.from_numpy(y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return loss.item()
    return step, opt


def torch_step():
    return torch_trainer(torch_model())[0]


def child(library, steps, threads):
    if library == "torch":
        import torch
        torch.set_num_threads(threads)
        step = torch_step()
    else:
        import deepmath
        deepmath.set_num_threads(threads)
        step = deepmath_step()
    data = batches(steps + 3)
    for x, y in data[:3]:
        step(x, y)
    times = []
    for x, y in data[3:]:
        start = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms": [1000 * t for t in times], "peak_rss_mb": peak_mb}))


def shakespeare():
    """tinyshakespeare as character tokens, split 90/10 (nanoGPT's prepare.py)."""
    from deepmath.text.tokenizers import CharTokenizer
    text = TEXT.read_text(encoding="utf-8")
    tokenizer = CharTokenizer(text)
    data = np.array(tokenizer.encode(text), dtype=np.int64)
    split = int(0.9 * len(data))
    return len(tokenizer.chars), data[:split], data[split:]


def train_run(threads):
    """deepmath's 2 000 iterations on tinyshakespeare (90/10 split, character tokens)."""
    import deepmath
    from deepmath.gpt import GPT, GPTConfig, Trainer, TrainConfig
    deepmath.set_num_threads(threads)
    vocab, train, val = shakespeare()
    model = GPT(GPTConfig(vocab_size=vocab, **{k: CONFIG[k] for k in MODEL_KEYS}))
    trainer = Trainer(model, TrainConfig(eval_interval=250, eval_iters=200))
    start = time.perf_counter()
    curve = trainer.run(train, val, log=lambda line: print(line, flush=True)
                        if line.startswith("step") else None)
    return {"curve": curve, "seconds": time.perf_counter() - start,
            "final_val_loss": curve[-1]["val"], "target_val_loss": TARGET_VAL_LOSS}


def torch_train_run(threads):
    """PyTorch on the very same run: deepmath's initial weights, the same batches and
    evaluation batches (the same seeded NumPy generator, drawn in the same order), the same
    learning-rate schedule. What is left between the two curves is arithmetic."""
    import torch
    from deepmath.gpt import GPT, GPTConfig, TrainConfig
    from deepmath.gpt.train import get_batch, learning_rate
    torch.set_num_threads(threads)
    vocab, train, val = shakespeare()
    init = GPT(GPTConfig(vocab_size=vocab, **{k: CONFIG[k] for k in MODEL_KEYS})).state_dict()
    CONFIG["vocab_size"] = vocab
    model = torch_model()
    load_deepmath_weights(model, init)
    step, opt = torch_trainer(model)
    cfg = TrainConfig(eval_interval=250, eval_iters=200)
    rng, curve = np.random.default_rng(cfg.seed), []
    start = time.perf_counter()
    for it in range(cfg.max_iters + 1):
        if it % cfg.eval_interval == 0 or it == cfg.max_iters:
            with torch.no_grad():
                losses = {name: float(np.mean([
                    model(*(torch.from_numpy(a) for a in get_batch(
                        data, CONFIG["block_size"], cfg.batch_size, rng))).item()
                    for _ in range(cfg.eval_iters)])) for name, data in (("train", train),
                                                                          ("val", val))}
            curve.append({"iter": it, **losses})
            print(f"torch step {it}: train loss {losses['train']:.4f}, val loss "
                  f"{losses['val']:.4f}", flush=True)
        if it == cfg.max_iters:
            break
        for group in opt.param_groups:
            group["lr"] = learning_rate(it, cfg)
        step(*get_batch(train, CONFIG["block_size"], cfg.batch_size, rng))
    return {"curve": curve, "seconds": time.perf_counter() - start,
            "final_val_loss": curve[-1]["val"]}


def load_deepmath_weights(model, state):
    """deepmath's GPT state (nanoGPT names, Dense kernels (n_in, n_out)) into torch_model()."""
    import torch
    names = {"transformer.wte.weight": "wte.weight", "transformer.wpe.weight": "wpe.weight",
             "transformer.ln_f.weight": "ln_f.weight", "transformer.ln_f.bias": "ln_f.bias"}
    for i in range(CONFIG["n_layer"]):
        for ours, theirs in (("ln_1", "ln_1"), ("ln_2", "ln_2"), ("attn.c_attn", "c_attn"),
                             ("attn.c_proj", "c_proj"), ("mlp.c_fc", "fc"),
                             ("mlp.c_proj", "proj")):
            for kind in ("weight", "bias"):
                names[f"transformer.h.{i}.{ours}.{kind}"] = f"blocks.{i}.{theirs}.{kind}"
    target = model.state_dict()
    with torch.no_grad():
        for ours, value in state.items():
            value = torch.from_numpy(np.ascontiguousarray(value))
            linear = value.ndim == 2 and ".h." in ours           # a Dense kernel: transposed
            target[names[ours]].copy_(value.T if linear else value)
    assert len(state) == len(target), (sorted(state), sorted(target))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--train", action="store_true")
    parser.add_argument("--child", choices=("deepmath", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.steps, args.threads)
    try:
        import torch  # noqa: F401
        libraries = ("deepmath", "torch")
    except ImportError:
        libraries = ("deepmath",)
    runs = {lib: [] for lib in libraries}
    for r in range(args.rounds):
        for lib in libraries:
            print(f"gpt step: {lib}, round {r + 1}/{args.rounds}", flush=True)
            out = subprocess.run([sys.executable, __file__, "--child", lib, "--steps",
                                  str(args.steps), "--threads", str(args.threads)],
                                 capture_output=True, text=True, check=True)
            runs[lib].append(json.loads(out.stdout.strip().splitlines()[-1]))
    result = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
              "config": CONFIG, "threads": args.threads, "libraries": {}}
    for lib, rounds in runs.items():
        ms = [t for run in rounds for t in run["ms"]]
        result["libraries"][lib] = {"median_ms": float(np.median(ms)),
                                    "round_medians_ms": [float(np.median(r["ms"]))
                                                         for r in rounds],
                                    "peak_rss_mb": max(r["peak_rss_mb"] for r in rounds)}
        print(f"{lib:9s} median {np.median(ms):7.1f} ms/step  peak RSS "
              f"{result['libraries'][lib]['peak_rss_mb']:.0f} MB")
    if "torch" in runs:
        ratio = result["libraries"]["deepmath"]["median_ms"] / \
            result["libraries"]["torch"]["median_ms"]
        result["deepmath_over_torch"] = ratio
        print(f"deepmath / torch step time: {ratio:.2f} (target <= {TARGET_RATIO})")
    if args.train:
        result["training"] = train_run(args.threads)
        print(f"validation loss after 2000 iterations: {result['training']['final_val_loss']:.4f}"
              f" (target <= {TARGET_VAL_LOSS}), {result['training']['seconds']:.0f} s")
        if "torch" in runs:
            result["training_torch"] = torch_train_run(args.threads)
            print(f"torch, same initial weights and batches: validation loss "
                  f"{result['training_torch']['final_val_loss']:.4f}, "
                  f"{result['training_torch']['seconds']:.0f} s")
    OUT.parent.mkdir(exist_ok=True)
    tmp = OUT.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
