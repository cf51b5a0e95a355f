"""The suite tokenizer: byte-level BPE trained locally, plain bytes, or a synthetic vocabulary.

One tokenizer per suite, saved as `tokenizer.json` (HF `tokenizers` format) and as a
`save_pretrained` folder that `transformers.AutoTokenizer` loads for TransformerLens. Token id 0
is always `<|bos|>`, which starts every document.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from training.core.artifacts import schema

BOS = "<|bos|>"
BOS_ID = 0


def train_bpe(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Byte-level BPE (GPT-2 style pre-tokenisation), deterministic for a given text order."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def byte_tokenizer() -> Tokenizer:
    """One token per byte (256) plus BOS: a byte-level BPE with no merges."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {BOS: BOS_ID, **{ch: i + 1 for i, ch in enumerate(alphabet)}}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([BOS])
    return tok


def synthetic_tokenizer(n_tokens: int) -> Tokenizer:
    """Word-level vocabulary `t0 ... t{n-1}` for synthetic data (ids 1..n), whitespace-separated."""
    vocab = {BOS: BOS_ID, **{f"t{i}": i + 1 for i in range(n_tokens)}, "<|unk|>": n_tokens + 1}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<|unk|>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_special_tokens([BOS])
    return tok


def save(tok: Tokenizer, suite_path: Path) -> None:
    """Save `tokenizer.json` and the `save_pretrained` folder, atomically."""
    from transformers import PreTrainedTokenizerFast

    schema.atomic_write_bytes(schema.tokenizer_path(suite_path), tok.to_str(pretty=True).encode())
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=BOS, pad_token=BOS)
    out = schema.hf_tokenizer_dir(suite_path)
    tmp = out.with_name(out.name + ".tmp")
    hf.save_pretrained(str(tmp))
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)


def load(suite_path: Path) -> Tokenizer:
    path = schema.tokenizer_path(suite_path)
    if not path.exists():
        raise schema.ArtifactError(f"missing tokenizer {path}")
    return Tokenizer.from_file(str(path))


def load_hf(suite_path: Path):
    """The suite tokenizer as a `transformers` tokenizer (what TransformerLens expects)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(schema.hf_tokenizer_dir(suite_path)))
