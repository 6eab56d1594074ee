"""Training a GPT as nanoGPT does: random windows of a token array, AdamW with decoupled weight
decay on matrices only, linear warmup then cosine decay of the learning rate, gradient
clipping by global norm, periodic evaluation, and checkpoints that resume a run exactly
(weights, optimizer state, iteration and random generator state, written atomically)."""
import json
import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..optimizers import AdamW
from ..saving.io import atomic_path
from ..tensor import no_grad, run_backward
from .model import GPT, GPTConfig


@dataclass
class TrainConfig:
    """nanoGPT's shakespeare_char CPU recipe by default."""
    batch_size: int = 12
    max_iters: int = 2000
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: int = 2000
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    seed: int = 1337


def learning_rate(it, cfg):
    """Linear warmup to `learning_rate`, cosine decay to `min_lr` at `lr_decay_iters`, then
    constant (nanoGPT's get_lr)."""
    if it < cfg.warmup_iters:
        return cfg.learning_rate * (it + 1) / (cfg.warmup_iters + 1)
    if it > cfg.lr_decay_iters:
        return cfg.min_lr
    ratio = (it - cfg.warmup_iters) / max(cfg.lr_decay_iters - cfg.warmup_iters, 1)
    return cfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (cfg.learning_rate - cfg.min_lr)


def get_batch(data, block_size, batch_size, rng):
    """`batch_size` random windows of `data` (1-D tokens): inputs x and targets y = x shifted
    by one, both (batch_size, block_size) int64."""
    data = np.asarray(data)
    if data.ndim != 1 or len(data) <= block_size:
        raise ValueError(f"get_batch: need a 1-D token array longer than block_size="
                         f"{block_size}, got shape {data.shape}")
    start = rng.integers(0, len(data) - block_size, batch_size)
    window = start[:, None] + np.arange(block_size)
    return data[window].astype(np.int64), data[window + 1].astype(np.int64)


def make_optimizer(model, cfg):
    """AdamW decaying the matrices and embeddings only (not biases, not LayerNorm)."""
    opt = AdamW(learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
                beta_1=cfg.beta1, beta_2=cfg.beta2, epsilon=1e-8,
                global_clipnorm=cfg.grad_clip or None)
    decayed = {id(p) for p in model.decayed()}
    opt.exclude_from_weight_decay(var_list=[p for p in model.parameters()
                                            if id(p) not in decayed])
    return opt


def train_step(model, opt, x, y):
    """One step: forward, backward, clip, AdamW. Returns the loss before the update."""
    _, loss = model(x, y)
    params = model.parameters()
    grads = run_backward([loss], [None], inputs=params)
    opt.apply(grads, params)
    return float(loss.data)


def estimate_loss(model, splits, cfg, rng):
    """Mean loss over `eval_iters` random batches of each split ({'train': tokens, ...})."""
    was_training = model.training
    model.eval()
    out = {}
    with no_grad():
        for name, data in splits.items():
            losses = [float(model(*get_batch(data, model.config.block_size, cfg.batch_size,
                                             rng))[1].data) for _ in range(cfg.eval_iters)]
            out[name] = float(np.mean(losses))
    model.train(was_training)
    return out


class Trainer:
    """A resumable run: `run(train_data, val_data, log)` trains up to `cfg.max_iters`
    iterations; `save(path)` / `Trainer.load(path)` checkpoint everything it needs."""

    def __init__(self, model, cfg, rng=None, opt=None, it=0, curve=None, extra=None):
        self.model, self.cfg = model, cfg
        self.rng = rng if rng is not None else np.random.default_rng(cfg.seed)
        self.opt = opt or make_optimizer(model, cfg)
        self.it, self.curve = it, curve or []
        self.extra = extra or {}    # JSON-able data saved with the run (e.g. the vocabulary)

    def run(self, train_data, val_data=None, log=print, checkpoint=None):
        splits = {"train": train_data} if val_data is None else \
            {"train": train_data, "val": val_data}
        block = self.model.config.block_size
        while True:
            if self._evaluation_due():
                self._evaluate(splits, log, checkpoint)
            if self.it >= self.cfg.max_iters:
                return self.curve
            self.opt.learning_rate = learning_rate(self.it, self.cfg)
            start = time.perf_counter()
            x, y = get_batch(train_data, block, self.cfg.batch_size, self.rng)
            loss = train_step(self.model, self.opt, x, y)
            if log and self.it % 10 == 0:
                log(f"iter {self.it}: loss {loss:.4f}, "
                    f"{1000 * (time.perf_counter() - start):.0f} ms")
            self.it += 1

    def _evaluation_due(self):
        """Every eval_interval iterations and at the end, once per iteration (a resumed run
        does not evaluate again where its checkpoint was written)."""
        every = self.cfg.eval_interval
        if not every or (self.curve and self.curve[-1]["iter"] == self.it):
            return False
        return self.it % every == 0 or self.it >= self.cfg.max_iters

    def _evaluate(self, splits, log, checkpoint):
        losses = estimate_loss(self.model, splits, self.cfg, self.rng)
        self.curve.append({"iter": self.it, **losses})
        if log:
            log(f"step {self.it}: " + ", ".join(f"{k} loss {v:.4f}" for k, v in losses.items()))
        if checkpoint:
            self.save(checkpoint)

    def save(self, path):
        """Weights, optimizer state, iteration, RNG state, configs and curve in one .npz,
        written to a temporary name then renamed."""
        params = self.model.parameters()
        state = self.opt.get_state(params)
        arrays = {f"param/{name}": value for name, value in self.model.state_dict().items()}
        for i, slots in enumerate(state["slots"]):
            for slot, value in slots.items():
                arrays[f"slot/{i}/{slot}"] = value
        meta = {"model": asdict(self.model.config), "train": asdict(self.cfg), "it": self.it,
                "iterations": int(state["iterations"]), "curve": self.curve,
                "rng": self.rng.bit_generator.state, "extra": self.extra}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

    @classmethod
    def load(cls, path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no GPT checkpoint at {path}")
        with np.load(path) as z:
            if "meta" not in z.files:
                raise ValueError(f"{path} is not a deepmath GPT checkpoint (no 'meta' entry)")
            meta = json.loads(bytes(z["meta"]).decode())
            model = GPT(GPTConfig(**meta["model"]))
            model.load_state_dict({k[len("param/"):]: z[k] for k in z.files
                                   if k.startswith("param/")})
            cfg = TrainConfig(**meta["train"])
            trainer = cls(model, cfg, it=meta["it"], curve=meta["curve"],
                          extra=meta.get("extra"))
            params = model.parameters()
            slots = [{} for _ in params]
            for k in z.files:
                if k.startswith("slot/"):
                    _, i, slot = k.split("/", 2)
                    slots[int(i)][slot] = z[k]
        if any(slots):
            trainer.opt.set_state({"iterations": meta["iterations"], "slots": slots}, params)
        trainer.rng.bit_generator.state = meta["rng"]
        return trainer
