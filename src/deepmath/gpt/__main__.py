"""`python -m deepmath.gpt train --text FILE` trains a character-level GPT on a text (90/10
train/validation split, nanoGPT's shakespeare_char recipe by default) and checkpoints it;
`python -m deepmath.gpt sample --checkpoint FILE` continues a prompt with it."""
import argparse
import json
import os
import sys

import numpy as np

from ..text.tokenizers import CharTokenizer
from .model import GPT, GPTConfig
from .train import Trainer, TrainConfig


def encode(tokenizer, text):
    return np.array(tokenizer.encode(text), dtype=np.int64)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m deepmath.gpt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a character-level GPT on a text file")
    train.add_argument("--text", required=True, help="UTF-8 text file")
    train.add_argument("--out", default="gpt.npz", help="checkpoint file (default gpt.npz)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    for name, value in vars(GPTConfig()).items():
        if name not in ("vocab_size", "bias"):
            train.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    for name, value in vars(TrainConfig()).items():
        train.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    sample = sub.add_parser("sample", help="continue a prompt with a trained GPT")
    sample.add_argument("--checkpoint", default="gpt.npz")
    sample.add_argument("--prompt", default="\n")
    sample.add_argument("--max-new-tokens", type=int, default=500)
    sample.add_argument("--temperature", type=float, default=0.8)
    sample.add_argument("--top-k", type=int, default=None)
    sample.add_argument("--greedy", action="store_true")
    sample.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def train(args):
    if not os.path.isfile(args.text):
        raise SystemExit(f"no text file {args.text}")
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    if args.resume:
        trainer = Trainer.load(args.out)
        tokenizer = CharTokenizer("".join(trainer.extra["chars"]))
    else:
        tokenizer = CharTokenizer(text)
        model_cfg = GPTConfig(vocab_size=tokenizer.vocab_size, **{
            k: getattr(args, k) for k in vars(GPTConfig()) if k not in ("vocab_size", "bias")})
        train_cfg = TrainConfig(**{k: getattr(args, k) for k in vars(TrainConfig())})
        trainer = Trainer(GPT(model_cfg, seed=train_cfg.seed), train_cfg,
                          extra={"chars": tokenizer.chars})
    data = encode(tokenizer, text)
    split = int(0.9 * len(data))
    print(f"{len(data)} characters, vocabulary {tokenizer.vocab_size}, "
          f"{trainer.model.num_params() / 1e6:.2f}M parameters")
    trainer.run(data[:split], data[split:], checkpoint=args.out)
    print(f"checkpoint written to {args.out}")
    print(json.dumps(trainer.curve[-1]))


def sample(args):
    trainer = Trainer.load(args.checkpoint)
    chars = trainer.extra.get("chars")
    if not chars:
        raise SystemExit(f"{args.checkpoint} holds no character vocabulary")
    tokenizer = CharTokenizer("".join(chars))
    prompt = encode(tokenizer, args.prompt)[-trainer.model.config.block_size:]
    out = trainer.model.generate(prompt[None, :], args.max_new_tokens, args.temperature,
                                 args.top_k, args.greedy, np.random.default_rng(args.seed))
    print(tokenizer.decode(out[0]))


def main(argv=None):
    args = parse_args(argv)
    try:
        (train if args.command == "train" else sample)(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
