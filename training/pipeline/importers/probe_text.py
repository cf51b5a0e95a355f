"""Probe inputs in the model's own tokens: its tokenizer, and text encoded with it.

An imported suite is measured on text encoded by the imported model's tokenizer, never ours:
the text the user names (`--text`: a file, a folder of .txt/.md/.py/.jsonl files, or
`hf:PATH` for a dataset saved with `save_to_disk`) or the built-in corpus (this interpreter's
standard library). Documents are joined as the model's own data was: each preceded by its BOS
where the tokenizer has one, otherwise separated by its end-of-text token, otherwise just
concatenated, so that no model sees a BOS it never had. The prefix-matching sequences open with
that BOS, or for a model without one with the most common token of the probe text
(`data.json`'s `start_token`, read by `training.analyze.start_token`).

The probe text is not a split of the model's training data: `data/train.npy` and
`data/heldout.npy` both hold it (the analysis reads the held-out split and the token counts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from training.core.artifacts import schema
from training.core.config import ConfigError
from training.pipeline import data
from training.pipeline.config import DataConfig
from training.pipeline.importers.sources import TOKENIZER_FILES, SourceError

PROBE_CHARS = 2_000_000  # characters of probe text read: ~0.5 M tokens of code, plenty for the probes


def find_tokenizer(dirs: list[Path], override: Path | None = None):
    """The model's tokenizer (a `transformers` fast tokenizer) from `override` (a folder or a
    tokenizer.json) or the first of `dirs` that holds one; SourceError naming where it looked."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    if override is not None:
        if not override.exists():
            raise SourceError(f"--tokenizer {override}: no such file or folder")
        if override.is_file():
            return PreTrainedTokenizerFast(tokenizer_file=str(override))
        dirs = [override]
    for folder in dirs:
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            continue
        try:  # local files only, no remote code: a tokenizer that needs either is refused
            tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        except (OSError, ValueError) as e:
            raise SourceError(f"{folder}: the tokenizer does not load ({str(e).splitlines()[0][:200]})") from None
        if not tok.is_fast:
            raise SourceError(
                f"{folder}: only a fast tokenizer (tokenizer.json) can be stored with the suite"
            )  # not our layout: a tokenizer's own file
        return tok
    looked = ", ".join(str(d) for d in dict.fromkeys(dirs))
    raise SourceError(
        f"no tokenizer found in {looked}: save it with the checkpoints (`tokenizer.save_pretrained(output_dir)`, "
        "or `Trainer(processing_class=tokenizer)`), or pass --tokenizer PATH (a folder or a tokenizer.json)"  # not our layout
    )


def special_ids(tok) -> tuple[int | None, int | None]:
    """(BOS id, end-of-text id) of the tokenizer; None where it has none."""
    return tok.bos_token_id, tok.eos_token_id


def encode_probe_text(tok, source: str | None, max_chars: int = PROBE_CHARS) -> tuple[np.ndarray, dict[str, Any]]:
    """(token stream, what `data.json` records about it): `source` (see the module docstring;
    None: the built-in corpus) encoded with the model's tokenizer."""
    try:
        docs = data.documents(DataConfig(source=source or "stdlib", max_chars=max_chars))
    except ConfigError as e:
        raise SourceError(f"--text: {e}") from None
    if not docs:
        raise SourceError(f"--text {source}: no text in it")
    bos, eos = special_ids(tok)
    backend = tok.backend_tokenizer
    ids: list[np.ndarray] = []
    for encoding, _ in zip(backend.encode_batch([d.text for d in docs], add_special_tokens=False), docs):
        doc = np.asarray(encoding.ids, dtype=np.int64)
        if bos is not None:
            ids += [np.array([bos]), doc]
        elif eos is not None:
            ids += [doc, np.array([eos])]
        else:
            ids.append(doc)
    stream = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
    counts = np.bincount(stream, minlength=len(tok))
    start = bos if bos is not None else int(np.argmax(counts))
    info = {
        "source": source or "stdlib",
        "tokenizer": "imported",
        "vocab_size": len(tok),
        "bos_token": bos,
        "start_token": start,
        "separator": "bos" if bos is not None else "eos" if eos is not None else "none",
        "heldout_tokens": int(len(stream)),
        "train_tokens": int(len(stream)),
        "documents": len(docs),
    }
    return stream, info


def write_probe_data(suite_path: Path, tok, stream: np.ndarray, info: dict[str, Any], n_ctx: int) -> None:
    """The suite's tokenizer files and data folder (data.json last, as `data.prepare_suite_data`)."""
    if len(stream) < n_ctx + 1:
        raise SourceError(
            f"--text {info['source']}: {len(stream)} tokens, fewer than one context of {n_ctx}; give more text"
        )
    dtype = np.uint16 if len(tok) <= 65535 else np.int32
    schema.atomic_write_npy(schema.split_path(suite_path, "heldout"), stream.astype(dtype))
    schema.atomic_write_npy(schema.split_path(suite_path, "train"), stream.astype(dtype))
    counts = np.bincount(stream, minlength=len(tok)).astype(np.int64)
    schema.atomic_write_npy(schema.data_path(suite_path, schema.TOKEN_COUNTS), counts)
    tok.save_pretrained(str(schema.hf_tokenizer_dir(suite_path)))
    schema.record_checksums(schema.hf_tokenizer_dir(suite_path))  # written by transformers
    schema.atomic_write_bytes(schema.tokenizer_path(suite_path), tok.backend_tokenizer.to_str().encode())
    schema.atomic_write_json(schema.data_path(suite_path, schema.DATA_INFO), info)
