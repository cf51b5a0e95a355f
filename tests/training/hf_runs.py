"""Tiny Hugging Face models, tokenizers and real `transformers.Trainer` runs, built locally.

The task: contexts of `N_CTX` tokens, each a random segment of `SEGMENT` tokens (drawn from
`VOCAB` token types) repeated to fill the context. Predicting a repeat needs an induction head,
so a 2-layer model forms one within a few hundred steps while a 1-layer model cannot.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

VOCAB = 32  # token types t0 .. t31, plus the specials
N_CTX = 32
SEGMENT = (4, 11)  # segment length range (inclusive, exclusive); a random period leaves no positional shortcut


def tokenizer(folder: Path | None = None, *, bos: bool = True):
    """A word-level fast tokenizer over `t0 .. t{VOCAB-1}`, with `<|endoftext|>` as BOS and
    EOS (GPT-2's convention) or, with `bos` False, as EOS only; saved to `folder` if given."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = "<|endoftext|>"
    vocab = {special: 0, **{f"t{i}": i + 1 for i in range(VOCAB)}, "<unk>": VOCAB + 1}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=special,
        bos_token=special if bos else None,
        unk_token="<unk>",
        pad_token=special,
    )
    if folder is not None:
        fast.save_pretrained(str(folder))
    return fast


def sequences(n: int, seed: int) -> np.ndarray:
    """(n, N_CTX) token ids: position 0 is the special token, then a random segment repeated."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((n, N_CTX), dtype=np.int64)
    for row in rows:
        segment = rng.integers(1, VOCAB + 1, size=rng.integers(*SEGMENT))
        row[1:] = np.resize(segment, N_CTX - 1)
    return rows


def probe_text(path: Path, n: int = 200, seed: int = 99) -> Path:
    """Held-out text of the same task, as words (`t5 t17 ...`), one context per line."""
    tok = tokenizer()
    lines = [" ".join(tok.convert_ids_to_tokens(row[1:].tolist())) for row in sequences(n, seed)]
    path.write_text("\n".join(lines) + "\n")
    return path


def config(arch: str, n_layers: int = 2, **options):
    """A tiny GPT-2 or GPT-NeoX config over the task's vocabulary (eager attention: patterns)."""
    from transformers import GPT2Config, GPTNeoXConfig

    vocab = VOCAB + 2
    if arch == "gpt2":
        kw = dict(n_layer=n_layers, n_embd=64, n_head=4, n_positions=N_CTX, vocab_size=vocab, bos_token_id=0,
                  eos_token_id=0, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # fmt: skip
        return GPT2Config(**(kw | options), attn_implementation="eager")
    kw = dict(num_hidden_layers=n_layers, hidden_size=64, num_attention_heads=4, intermediate_size=256,
              max_position_embeddings=N_CTX, vocab_size=vocab, bos_token_id=0, eos_token_id=0)  # fmt: skip
    return GPTNeoXConfig(**(kw | options), attn_implementation="eager")


def model(arch: str, n_layers: int = 2, seed: int = 0, **options):
    from transformers import GPT2LMHeadModel, GPTNeoXForCausalLM

    torch.manual_seed(seed)
    cls = GPT2LMHeadModel if arch == "gpt2" else GPTNeoXForCausalLM
    return cls(config(arch, n_layers, **options))


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, rows: np.ndarray):
        self.rows = torch.from_numpy(rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):
        return {"input_ids": self.rows[i], "labels": self.rows[i]}


def train(
    arch: str,
    out: Path,
    *,
    n_layers: int = 2,
    steps: int = 300,
    save_every: int = 50,
    callbacks=(),
    seed: int = 0,
    bos: bool = True,
    lr: float = 1e-3,
    batch: int = 32,
    warmup: int = 10,
    **options,
):
    """Train a tiny model with a real `transformers.Trainer` on the repeat task, saving a
    checkpoint (safetensors, trainer_state.json, the tokenizer) every `save_every` steps into
    `out`; returns the trainer. `options` are config fields of the model."""
    from transformers import Trainer, TrainingArguments

    tok = tokenizer(bos=bos)
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=steps,
        save_steps=save_every,
        logging_steps=10,
        per_device_train_batch_size=batch,
        learning_rate=lr,
        warmup_steps=warmup,
        lr_scheduler_type="constant_with_warmup",
        weight_decay=0.0,
        report_to=[],
        use_cpu=True,
        seed=seed,
        data_seed=seed,
        dataloader_num_workers=0,
        disable_tqdm=True,
        include_num_input_tokens_seen=True,
        save_only_model=True,  # no optimizer state: the import reads only the model
    )
    trainer = Trainer(
        model=model(arch, n_layers, seed, **options),
        args=args,
        train_dataset=_Dataset(sequences(steps * batch, seed + 1)),
        processing_class=tok,
        callbacks=list(callbacks),
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only wait on each other (2 shared cores in CI)
    try:
        trainer.train()
    finally:
        torch.set_num_threads(threads)
    return trainer
