"""A GPT trained with deepmath's kernels (book, "ChatGPT – partie 2"): the model, nanoGPT's
training recipe, resumable checkpoints, sampling, and `python -m deepmath.gpt train|sample`."""
from .model import GPT, GPTConfig
from .train import (Trainer, TrainConfig, estimate_loss, get_batch, learning_rate,
                    make_optimizer, train_step)

__all__ = ["GPT", "GPTConfig", "Trainer", "TrainConfig", "estimate_loss", "get_batch",
           "learning_rate", "make_optimizer", "train_step"]
