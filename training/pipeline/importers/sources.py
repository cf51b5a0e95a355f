"""What is on disk: a checkpoint series recognised from its folder layout.

    hf-trainer   a Hugging Face `Trainer` output folder: `checkpoint-N/` each with config.json,
                 model.safetensors (or pytorch_model.bin) and trainer_state.json (steps from its
                 `global_step`, tokens from `num_input_tokens_seen`, the loss from `log_history`)
    revisions    a folder of downloaded revisions: `stepN/` (Pythia, PolyPythias) or
                 `checkpoint-N/` (CRFM GPT-2) with config.json and weights, no trainer state
    tl-series    TransformerLens state dicts `NAME_N.pth` (or .pt, .safetensors) with one JSON
                 config file (HookedTransformerConfig's fields) beside them

`detect(path)` reads only names and small JSON files; every checkpoint is read later, one at a
time (`Series.load`). A folder that is none of these is refused with what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from torch import Tensor
from transformer_lens import HookedTransformerConfig

from training.core.adapters import huggingface, transformer_lens
from training.core.adapters.hooked import AdapterError
from training.core.checkpoints import CheckpointError, has_weights, read_hf_folder, read_json, read_state

Kind = Literal["hf-trainer", "revisions", "tl-series"]
REVISION_RE = re.compile(r"(?:step|checkpoint-)(\d+)")
TL_FILE_RE = re.compile(r".*?_(\d+)\.(pth|pt|safetensors)")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")  # not our layout: Hugging Face's


class SourceError(ValueError):
    """A source that is not a checkpoint series we can read; the message names the path and what to do."""


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: Path  # a checkpoint folder (Hugging Face) or a state-dict file (TransformerLens)
    tokens_seen: int | None = None


@dataclass(frozen=True)
class Series:
    """A recognised checkpoint series: its checkpoints in step order and what they share."""

    kind: Kind
    root: Path
    checkpoints: list[Checkpoint]
    config: dict[str, Any]  # the first checkpoint's config.json, or the TransformerLens config file
    config_path: Path
    tokenizer_dirs: list[Path]  # where a tokenizer may be, in order
    log_history: list[dict] = field(default_factory=list)  # hf-trainer: the Trainer's log

    def hooked_config(self) -> HookedTransformerConfig:
        """The architecture every checkpoint must have; AdapterError naming the field if unsupported."""
        where = str(self.config_path)
        try:
            if self.kind == "tl-series":
                return transformer_lens.config_from_dict(self.config, where)
            return huggingface.hooked_config(self.config)
        except AdapterError as e:
            raise AdapterError(f"{where}: {e}") from None

    def load(self, checkpoint: Checkpoint) -> tuple[HookedTransformerConfig, dict[str, Tensor]]:
        """(config, HookedTransformer state dict) of one checkpoint; raises CheckpointError or
        AdapterError naming its path."""
        if self.kind == "tl-series":
            return self.hooked_config(), {k: v.float() for k, v in read_state(checkpoint.path).items()}
        config, state = read_hf_folder(checkpoint.path)
        try:
            return huggingface.convert(config, state)
        except AdapterError as e:
            raise AdapterError(f"{checkpoint.path}: {e}") from None


def detect(path: Path | str) -> Series:
    """The checkpoint series at `path`, recognised from its layout (see the module docstring)."""
    root = Path(path)
    if not root.exists():
        raise SourceError(f"{root}: no such folder")
    if not root.is_dir():
        raise SourceError(f"{root}: not a folder; give the folder that holds the checkpoints")
    entries = sorted(root.iterdir())
    if not entries:
        raise SourceError(f"{root}: the folder is empty; point at a folder of checkpoints ({_EXPECTED})")
    folders = {int(m.group(1)): p for p in entries if p.is_dir() and (m := REVISION_RE.fullmatch(p.name))}
    if folders:
        return _hf_series(root, folders)
    files = {int(m.group(1)): p for p in entries if p.is_file() and (m := TL_FILE_RE.fullmatch(p.name))}
    if files:
        return _tl_series(root, files)
    if has_weights(root):
        raise SourceError(
            f"{root} is one checkpoint, not a series; give the folder that holds its revisions "
            "(stepN/ or checkpoint-N/ folders)"
        )
    raise SourceError(f"{root}: no recognisable checkpoints; expected {_EXPECTED}")


_EXPECTED = (
    "checkpoint-N/ folders (a Trainer output_dir or CRFM revisions), stepN/ folders (Pythia revisions), "
    "or NAME_N.pth files with a config .json (TransformerLens)"
)


def _hf_series(root: Path, folders: dict[int, Path]) -> Series:
    usable = {n: p for n, p in folders.items() if has_weights(p)}
    if not usable:
        first = folders[min(folders)]
        raise SourceError(
            f"{first}: no model.safetensors or pytorch_model.bin in any of the {len(folders)} checkpoint folders "
            f"under {root}; is the download complete?"
        )
    states = {n: p / "trainer_state.json" for n, p in usable.items() if (p / "trainer_state.json").is_file()}
    kind: Kind = "hf-trainer" if states else "revisions"
    checkpoints, history = [], []
    for n in sorted(usable):
        step, tokens = n, None
        if n in states:
            state = _read(states[n])
            step = int(state.get("global_step", n))
            tokens = int(state["num_input_tokens_seen"]) if state.get("num_input_tokens_seen") else None
            if len(state.get("log_history", [])) >= len(history):  # cumulative: the latest holds all
                history = state.get("log_history", [])
        checkpoints.append(Checkpoint(step, usable[n], tokens))
    first = checkpoints[0].path
    config_path = first / "config.json"
    return Series(
        kind=kind,
        root=root,
        checkpoints=sorted(checkpoints, key=lambda c: c.step),
        config=_read(config_path),
        config_path=config_path,
        tokenizer_dirs=[first, root, checkpoints[-1].path],
        log_history=[h for h in history if isinstance(h, dict)],
    )


def _tl_series(root: Path, files: dict[int, Path]) -> Series:
    configs = sorted(
        p for p in root.glob("*.json") if p.is_file() and p.name not in ("tokenizer.json", "vocab.json")
    )  # not our layout
    configs = [p for p in configs if p.name != "tokenizer_config.json" and p.name != "special_tokens_map.json"]
    if len(configs) != 1:
        found = ", ".join(p.name for p in configs) or "none"
        raise SourceError(
            f"{root}: a TransformerLens series needs exactly one config .json (HookedTransformerConfig's "
            f"fields) beside its NAME_N.pth files; found {found}"
        )
    checkpoints = [Checkpoint(n, p) for n, p in sorted(files.items())]
    return Series("tl-series", root, checkpoints, _read(configs[0]), configs[0], [root])


def _read(path: Path) -> dict:
    try:
        return read_json(path)
    except CheckpointError as e:
        raise SourceError(str(e)) from None
