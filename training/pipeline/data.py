"""Corpora, the suite's tokenised splits, and the batches every run of a suite shares.

Sources (`DataConfig.source`):
- `stdlib`: the Python standard library source of the running interpreter (`.py` files, tests
  and idlelib excluded, sorted by path) — present on every machine, no download;
- a local file or folder: `.txt`, `.md`, `.py`, and `.jsonl` (one document per line, `text` field);
- `hf:NAME[:CONFIG]`: a Hugging Face dataset, streamed (or a `save_to_disk` folder as NAME);
- a mixture of the above, `SOURCE@SHARE+SOURCE@SHARE...`: each source gives that share of
  `max_chars` (e.g. 90% prose and 10% code, as the paper's corpus);
- `synthetic-repeats`: sequences of a random segment repeated to fill the context, generated
  directly as token ids (a controlled task for fast tests).

Documents are split into train and held-out *by document* with a stable hash of the document
name, so adding files to a corpus never moves an existing file across the split.
"""

from __future__ import annotations

import hashlib
import json
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Int
from torch import Tensor

from training.core import tokenizer
from training.core.artifacts import schema
from training.core.config import ConfigError
from training.pipeline.config import DataConfig

TEXT_SUFFIXES = (".txt", ".md", ".py")
STDLIB_EXCLUDE = ("test", "tests", "idlelib", "site-packages", "__pycache__")


@dataclass(frozen=True)
class Document:
    name: str
    text: str


def stdlib_documents() -> Iterator[Document]:
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part in STDLIB_EXCLUDE for part in rel.parts):
            continue
        try:
            yield Document(f"stdlib/{rel.as_posix()}", path.read_text("utf-8"))
        except (UnicodeDecodeError, OSError):
            continue  # a few files are Latin-1 or unreadable; skipping keeps the corpus UTF-8


def local_documents(source: str) -> Iterator[Document]:
    root = Path(source)
    if not root.exists():
        raise ConfigError(f"data.source: no such file or folder {source!r}")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    files = [p for p in files if p.suffix in (*TEXT_SUFFIXES, ".jsonl")]
    if not files:
        raise ConfigError(f"data.source: {source!r} holds no .txt, .md, .py or .jsonl files")
    for path in files:
        name = path.name if root.is_file() else path.relative_to(root).as_posix()
        try:
            text = path.read_text("utf-8")
        except UnicodeDecodeError:
            continue
        if path.suffix != ".jsonl":
            yield Document(name, text)
            continue
        for i, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise ConfigError(f"data.source: {path}:{i + 1} is not valid JSON") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise ConfigError(f"data.source: {path}:{i + 1} has no string 'text' field")
            yield Document(f"{name}#{i}", record["text"])


OFFLINE_HINT = "offline, train on the standard library with --set data.source=stdlib (or a local folder)"


def hf_documents(source: str, cfg: DataConfig) -> Iterator[Document]:
    """Stream a Hugging Face dataset (`hf:NAME[:CONFIG]`); NAME may be a `save_to_disk` folder.

    A record's text is its first string field among `cfg.hf_text_field` (comma-separated:
    "text,content" reads prose sets and code sets, which call it `content`, alike)."""
    import datasets

    spec = source[len("hf:") :]
    name, _, config = spec.partition(":")
    if not name:
        raise ConfigError("data.source: expected hf:NAME[:CONFIG]")
    fields = [f.strip() for f in cfg.hf_text_field.split(",") if f.strip()]
    local = Path(name)
    if local.is_dir() and ((local / "dataset_info.json").exists() or (local / "dataset_dict.json").exists()):
        ds = datasets.load_from_disk(str(local))
        if isinstance(ds, datasets.DatasetDict):
            if cfg.hf_split not in ds:
                raise ConfigError(f"data.hf_split: {cfg.hf_split!r} not in {list(ds)}")
            ds = ds[cfg.hf_split]
    else:
        try:
            ds = datasets.load_dataset(name, config or None, split=cfg.hf_split, streaming=True)
        except Exception as e:  # no network, an unknown or gated dataset: say which, and the way out
            raise ConfigError(
                f"data.source: cannot stream {source!r} ({type(e).__name__}: {e}); {OFFLINE_HINT}"
            ) from None
    records = iter(ds)
    i = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except Exception as e:  # the connection dropped part-way
            raise ConfigError(f"data.source: streaming {source!r} failed at record {i} ({e}); {OFFLINE_HINT}") from None
        text = next((record[f] for f in fields if isinstance(record.get(f), str)), None)
        if text is None:
            raise ConfigError(f"data.hf_text_field: record {i} of {source!r} has no string field {cfg.hf_text_field!r}")
        yield Document(f"{name}#{i}", text)
        i += 1


def mixture(source: str) -> list[tuple[str, float]]:
    """`SOURCE@SHARE+SOURCE@SHARE...` as [(source, share of max_chars)]; one plain source: [(source, 1.0)]."""
    parts = []
    for part in (p.strip() for p in source.split("+")):
        name, _, share = part.rpartition("@")
        try:
            value = float(share)
        except ValueError:  # no share given (an "@" in a path is not one)
            name, value = part, 1.0
        if not name or not value > 0:
            raise ConfigError(f"data.source: {part!r} should be SOURCE or SOURCE@SHARE with SHARE > 0")
        parts.append((name, value))
    total = sum(share for _, share in parts)
    return [(name, share / total) for name, share in parts]


def source_documents(source: str, cfg: DataConfig) -> Iterator[Document]:
    if source == "stdlib":
        return stdlib_documents()
    if source.startswith("hf:"):
        return hf_documents(source, cfg)
    if source == "synthetic-repeats":
        raise ConfigError("data.source: synthetic-repeats cannot be mixed with text sources")
    return local_documents(source)


def documents(cfg: DataConfig) -> list[Document]:
    """The corpus for a text source (or mixture), capped at `cfg.max_chars` characters; each
    source of a mixture gives its share of them."""
    out = []
    for source, share in mixture(cfg.source):
        total, budget = 0, cfg.max_chars * share
        for doc in source_documents(source, cfg):
            if not doc.text.strip():
                continue
            out.append(doc)
            total += len(doc.text)
            if total >= budget:
                break
        if total == 0:
            raise ConfigError(f"data.source: {source!r} yielded no text")
    return out


def is_heldout(name: str, fraction: float) -> bool:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split(docs: list[Document], fraction: float) -> tuple[list[Document], list[Document]]:
    train = [d for d in docs if not is_heldout(d.name, fraction)]
    held = [d for d in docs if is_heldout(d.name, fraction)]
    if not train or not held:  # tiny corpora: hold out the last document
        train, held = docs[:-1] or docs, docs[-1:]
    return train, held


ENCODE_CHUNK = 1024  # documents per encode_batch call: its Encoding objects (offsets, token
# strings) take ~20x the memory of the ids, so a corpus of a billion tokens is encoded in pieces


def encode(tok, docs: list[Document]) -> np.ndarray:
    """Concatenate documents, each preceded by BOS, into one token stream."""
    ids = [np.array([tokenizer.BOS_ID], dtype=np.int64)]
    for start in range(0, len(docs), ENCODE_CHUNK):
        texts = [d.text for d in docs[start : start + ENCODE_CHUNK]]
        for enc in tok.encode_batch(texts, add_special_tokens=False):
            ids.append(np.asarray(enc.ids, dtype=np.int64))
            ids.append(np.array([tokenizer.BOS_ID], dtype=np.int64))
    return np.concatenate(ids)


def synthetic_stream(cfg: DataConfig, n_ctx: int, n_tokens: int, seed: int) -> np.ndarray:
    """Contexts of BOS + a random segment repeated to fill `n_ctx`.

    Each context draws its segment length uniformly from [period/2, 2*period]
    (`data.synthetic_period`), so no fixed positional offset predicts the repeat: only matching
    the current token with an earlier occurrence (an induction head) does.
    """
    rng = np.random.default_rng(seed)
    n_seq = max(1, n_tokens // n_ctx)
    lo, hi = max(2, cfg.synthetic_period // 2), min(2 * cfg.synthetic_period, n_ctx - 1)
    rows = np.empty((n_seq, n_ctx), dtype=np.int64)
    rows[:, 0] = tokenizer.BOS_ID
    for i, period in enumerate(rng.integers(lo, max(lo, hi) + 1, size=n_seq)):
        segment = rng.integers(1, cfg.synthetic_vocab + 1, size=period)
        rows[i, 1:] = np.resize(segment, n_ctx - 1)  # np.resize repeats the segment
    return rows.reshape(-1)


def prepare_suite_data(cfg: DataConfig, n_ctx: int, suite_path: Path, log=print) -> dict:
    """Build (or reuse) the suite's tokenizer and token splits; return the data summary.

    Reuses what is on disk so that every run of a suite, and every rerun, sees the same ids.
    """
    ddir = schema.data_dir(suite_path)
    info_path = ddir / "data.json"
    if info_path.exists() and schema.tokenizer_path(suite_path).exists():
        info = schema.read_json(info_path)
        if info.get("config") != _data_key(cfg, n_ctx):
            raise ConfigError(
                f"suite {suite_path.name!r} was built with other data settings ({info.get('config')}); "
                "use a new suite name (--suite) or delete the suite folder"
            )
        return info
    if cfg.source == "synthetic-repeats":
        tok = tokenizer.synthetic_tokenizer(cfg.synthetic_vocab)
        train_ids = synthetic_stream(cfg, n_ctx, cfg.synthetic_tokens, seed=1)
        held_ids = synthetic_stream(cfg, n_ctx, max(64 * n_ctx, cfg.synthetic_tokens // 20), seed=2)
        train_docs, held_docs = [], []
    else:
        log(f"reading corpus {cfg.source!r}")
        train_docs, held_docs = split(documents(cfg), cfg.heldout_fraction)
        if cfg.tokenizer == "bytes":
            tok = tokenizer.byte_tokenizer()
        else:
            log(f"training a {cfg.vocab_size}-token BPE on {len(train_docs)} documents")
            tok = tokenizer.train_bpe((d.text for d in train_docs), cfg.vocab_size)
        train_ids, held_ids = encode(tok, train_docs), encode(tok, held_docs)
    if len(held_ids) < n_ctx + 1 or len(train_ids) < n_ctx + 1:
        raise ConfigError(f"data.source: {cfg.source!r} is too small for contexts of {n_ctx} tokens")
    vocab = tok.get_vocab_size()
    dtype = np.uint16 if vocab <= 65535 else np.int32
    schema.atomic_write_npy(ddir / "train.npy", train_ids.astype(dtype))
    schema.atomic_write_npy(ddir / "heldout.npy", held_ids.astype(dtype))
    schema.atomic_write_npy(ddir / "token_counts.npy", np.bincount(train_ids, minlength=vocab).astype(np.int64))
    tokenizer.save(tok, suite_path)
    info = {
        "config": _data_key(cfg, n_ctx),
        "source": cfg.source,
        "tokenizer": "synthetic" if cfg.source == "synthetic-repeats" else cfg.tokenizer,
        "vocab_size": vocab,
        "train_tokens": int(len(train_ids)),
        "heldout_tokens": int(len(held_ids)),
        "train_documents": [d.name for d in train_docs],
        "heldout_documents": [d.name for d in held_docs],
        "train_chars": sum(len(d.text) for d in train_docs),
    }
    schema.atomic_write_json(info_path, info)  # written last: marks the data complete
    return info


def _data_key(cfg: DataConfig, n_ctx: int) -> dict:
    return {**schema_dict(cfg), "n_ctx": n_ctx}


def schema_dict(cfg: DataConfig) -> dict:
    import dataclasses

    return dataclasses.asdict(cfg)


def load_split(suite_path: Path, name: str) -> np.ndarray:
    return schema.read_npy(schema.data_dir(suite_path) / f"{name}.npy")


def train_batch(
    stream: np.ndarray,
    step: int,
    *,
    seed: int,
    batch_size: int,
    n_ctx: int,
    repeat_fraction: float = 0.0,
    repeat_layout: str = "half",
) -> Int[Tensor, "batch pos"]:
    """The batch for `step`: random windows drawn by an RNG keyed on (seed, step).

    Keying on the step (not on a running RNG) makes every run of a suite see the same batches
    in the same order, and makes resuming at any step exact with no data state to save.
    With `repeat_fraction` > 0, that share of the windows (drawn by the same RNG) repeats some
    of its own text (`DataConfig.repeat_fraction`, `repeat_layout`): "half", the second half
    is a copy of the first; "random", a segment of random length L in [n_ctx/4, n_ctx/2] is
    copied to a random later offset P in [L, n_ctx - L] (`repeat_segments`).
    """
    rng = np.random.default_rng([seed, step])
    starts = rng.integers(0, len(stream) - n_ctx, size=batch_size)
    batch = np.stack([stream[s : s + n_ctx] for s in starts]).astype(np.int64)
    if repeat_fraction > 0:
        rows = rng.random(batch_size) < repeat_fraction
        if repeat_layout == "half":
            half = n_ctx // 2
            batch[rows, half:] = batch[rows, : n_ctx - half]
        else:
            for row, (source, offset, length) in zip(
                np.flatnonzero(rows), repeat_segments(rng, int(rows.sum()), n_ctx)
            ):
                batch[row, source + offset : source + offset + length] = batch[row, source : source + length]
    return torch.from_numpy(batch)


def repeat_segments(rng: np.random.Generator, n: int, n_ctx: int) -> np.ndarray:
    """(n, 3) random repeats for `repeat_layout="random"`: (source start, offset, length).

    The length L is uniform in [n_ctx/4, n_ctx/2], the offset P (copy start minus source start)
    uniform in [L, n_ctx - L], so the copy never overlaps its source, and the source start
    uniform over the positions that keep the copy inside the context. A fixed offset (the
    "half" layout always copies at n_ctx/2) is a positional shortcut a model can learn instead
    of matching tokens (issue 12: the 1-layer control attended to q-127 regardless of content);
    drawn offsets leave matching as the only rule that works.
    """
    low, high = max(n_ctx // 4, 1), max(n_ctx // 2, 1)
    length = rng.integers(low, high + 1, size=n)
    offset = rng.integers(length, n_ctx - length + 1)
    source = rng.integers(0, n_ctx - offset - length + 1)
    return np.stack([source, offset, length], axis=1)


def eval_batch(stream: np.ndarray, *, n_sequences: int, n_ctx: int, seed: int = 1234) -> Int[Tensor, "batch pos"]:
    """A fixed set of held-out windows, the same for every snapshot and run of a suite."""
    return train_batch(stream, 0, seed=seed, batch_size=n_sequences, n_ctx=n_ctx)
