"""A run's manifest, its progress, and its snapshots: read, checked, and loaded as models.

The manifest lists every snapshot with its SHA-256 and is rewritten last after each one, so a
reader that lists snapshots through it never sees a half-written one. `load_models` is the one
way a snapshot becomes a model: the trainer's `Transformer`, the TransformerLens
`HookedTransformer` built from it, or both (the analysis and the service use both).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.core.artifacts import files, layout
from training.core.artifacts.errors import ArtifactError
from training.core.artifacts.records import (
    SCHEMA_VERSION,
    Manifest,
    RecordError,
    RunProgress,
    SnapshotEntry,
    from_json,
    to_json,
)
from training.core.config import ModelConfig


def read_record(cls: type, path: Path) -> Any:
    """The JSON file at `path` as a `cls` record (see `records`); ArtifactError naming the file and
    the field if it is missing, corrupt or does not fit."""
    try:
        return from_json(cls, files.read_json(path), str(path))
    except RecordError as e:
        raise ArtifactError(str(e)) from None


def read_manifest(run_path: Path) -> Manifest:
    """The run's manifest, every field checked; a snapshot's file name can never point elsewhere."""
    path = layout.manifest_path(run_path)
    raw = files.read_json(path)
    if not isinstance(raw, dict) or raw.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(f"{path}: unknown schema version")
    try:
        manifest = from_json(Manifest, raw, str(path))
    except RecordError as e:
        raise ArtifactError(str(e)) from None
    for i, s in enumerate(manifest.snapshots):
        if s.file != layout.snapshot_name(s.step):
            raise ArtifactError(f"{path}: field 'snapshots[{i}].file' should be {layout.snapshot_name(s.step)!r}")
    return manifest


def write_manifest(run_path: Path, manifest: Manifest) -> None:
    files.atomic_write_json(layout.manifest_path(run_path), to_json(manifest))


def write_progress(run_path: Path, progress: RunProgress) -> None:
    files.atomic_write_json(layout.progress_path(run_path), to_json(progress))


def read_progress(run_path: Path) -> RunProgress | None:
    """The training progress of a run, or None if it has none (never trained by this code)."""
    path = layout.progress_path(run_path)
    return read_record(RunProgress, path) if path.exists() else None


def model_config(manifest: Manifest) -> ModelConfig:
    """The run's model config; ArtifactError naming the manifest if its `model` does not fit."""
    try:
        return ModelConfig(**manifest.model)
    except (TypeError, ValueError) as e:  # an unknown field, or a value ModelConfig rejects
        where = f"{manifest.suite}/{manifest.run}/{layout.MANIFEST}"
        raise ArtifactError(f"{where}: field 'model' does not load: {e}") from None


def write_snapshot(run_path: Path, step: int, state: dict) -> str:
    """Write one snapshot's weights; returns the SHA-256 its manifest entry records."""
    return files.atomic_write_safetensors(layout.snapshot_path(run_path, step), state, {"step": str(step)})


def write_train_loss(run_path: Path, losses) -> None:
    """The per-step training loss so far (float32), rewritten with each snapshot."""
    files.atomic_write_npy(layout.train_loss_path(run_path), losses)


def read_train_loss(run_path: Path):
    return files.read_npy(layout.train_loss_path(run_path))


def read_snapshot(run_path: Path, entry: SnapshotEntry, *, verify: bool = True) -> dict:
    """Load one snapshot's tensors (torch) given its manifest entry; checks the sha256."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = layout.snapshot_path(run_path, entry.step)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"missing snapshot file {path}") from None
    if verify and hashlib.sha256(data).hexdigest() != entry.sha256:
        raise ArtifactError(f"corrupt snapshot file {path}: sha256 does not match the manifest")
    try:
        return load(data)
    except (SafetensorError, ValueError) as e:
        raise ArtifactError(f"corrupt snapshot file {path}: {e}") from None


def find_snapshot(manifest: Manifest, step: int | str) -> SnapshotEntry:
    """The manifest entry for `step` (an int, or "latest")."""
    snaps = manifest.snapshots
    if not snaps:
        raise ArtifactError(f"run {manifest.run!r} has no snapshots yet")
    if step == "latest":
        return snaps[-1]
    try:
        step = int(step)
    except (TypeError, ValueError):
        raise ArtifactError(f"invalid step {step!r}: use an integer or 'latest'") from None
    entry = manifest.entry(step)
    if entry is None:
        raise ArtifactError(f"run {manifest.run!r} has no snapshot at step {step}")
    return entry


@dataclass(frozen=True)
class SnapshotModels:
    """One snapshot as models: `fast` is what the metric registry's `Probe` measures (the
    trainer's `Transformer` in eval mode, or for an imported run its `HookedAdapter`), `hooked`
    the TransformerLens 3 model of the same weights (None when not asked for)."""

    entry: SnapshotEntry
    fast: Any
    hooked: Any | None


def load_models(run_path: Path, manifest: Manifest, entry: SnapshotEntry, *, hooked: bool = True) -> SnapshotModels:
    """The one snapshot loader: weights checked against the manifest, built into what `Probe`
    measures and, if `hooked`, a HookedTransformer: for our runs the training model and its
    conversion, for an imported run (`training.core.adapters`) its converted HookedTransformer.
    ArtifactError if the file is missing or corrupt or the weights do not fit the manifest."""
    from training.core import adapters  # imported here: the adapters read this package

    state = read_snapshot(run_path, entry)
    path = layout.snapshot_path(run_path, entry.step)
    try:
        fast = adapters.for_probe(manifest.model, state, str(path))
    except RuntimeError as e:
        raise ArtifactError(f"snapshot file {path} does not fit the manifest's model: {e}") from None
    if not hooked:
        return SnapshotModels(entry, fast, None)
    if adapters.is_converted(manifest.model):
        return SnapshotModels(entry, fast, fast.as_hooked())
    from training.core.hooked import hooked_from_state

    return SnapshotModels(entry, fast, hooked_from_state(model_config(manifest), state))


def load_snapshot(run_dir: Path | str, step: int | str, *, with_tokenizer: bool) -> tuple[ModelConfig, dict, Any]:
    """What building a snapshot into any model needs: (model config, state dict, the suite's
    Hugging Face tokenizer or None), for `step` (an int, or "latest"). Shared by the
    TransformerLens 3 (`hooked.load_hooked`) and 4 (`bridge.load_bridge`) loaders."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    state = read_snapshot(run_dir, find_snapshot(manifest, step))
    tok = None
    if with_tokenizer and layout.hf_tokenizer_dir(run_dir.parent).exists():
        from training.core.tokenizer import load_hf  # the tokenizer module reads this one

        tok = load_hf(run_dir.parent)
    return model_config(manifest), state, tok


def special_tokens(suite_path: Path) -> tuple[int | None, int]:
    """(BOS, start token) of the suite's model: what a text is preceded by (None: nothing, a
    model without a BOS) and what opens a prefix-matching sequence. Our suites: our BOS for
    both; an imported model's (`data.json`'s `bos_token`, `start_token`): its own BOS, or for a
    model without one a common token of its probe text."""
    from training.core.tokenizer import BOS_ID

    path = layout.data_path(suite_path, layout.DATA_INFO)
    info = files.read_json(path) if path.exists() else {}
    bos, start = info.get("bos_token", BOS_ID), info.get("start_token", BOS_ID)
    for name, value in (("bos_token", bos), ("start_token", start)):
        if isinstance(value, bool) or not (isinstance(value, int) or (value is None and name == "bos_token")):
            raise ArtifactError(f"{path}: field {name!r} should be an integer, got {value!r}")
    return bos, start
