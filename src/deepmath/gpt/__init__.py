"""A GPT trained with deepmath's kernels (book, "ChatGPT – partie 2"): the model, nanoGPT's
training recipe, resumable checkpoints, sampling, `python -m deepmath.gpt train|sample`,
Hugging Face GPT-2 checkpoints (`load_gpt2`, `save_gpt2`) and attention inspection (matrix,
head view, self-contained HTML)."""
from .hf import generate_text, load_gpt2, read_safetensors, save_gpt2, write_safetensors
from .inspect import attention, head_view_html, plot_attention_matrix, plot_head_view
from .model import GPT, GPTConfig
from .train import (Trainer, TrainConfig, estimate_loss, get_batch, learning_rate,
                    make_optimizer, train_step)

__all__ = ["GPT", "GPTConfig", "Trainer", "TrainConfig", "attention", "estimate_loss",
           "generate_text", "head_view_html", "plot_attention_matrix", "plot_head_view",
           "get_batch", "learning_rate", "load_gpt2", "make_optimizer", "read_safetensors",
           "save_gpt2", "train_step", "write_safetensors"]
