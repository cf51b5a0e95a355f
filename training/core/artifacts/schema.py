"""The artifact schema: where everything lives under `artifacts/`, and how it is written.

Layout (documented in the README):

    artifacts/<suite>/tokenizer.json              the suite's tokenizer (HF `tokenizers` JSON)
    artifacts/<suite>/hf_tokenizer/               the same, saved with `save_pretrained`
    artifacts/<suite>/data/{train,heldout}.npy    token ids (uint16/int32), shared by every run
    artifacts/<suite>/data/token_counts.npy       training-split frequency of every token id
    artifacts/<suite>/data/data.json              source, files and token counts
    artifacts/<suite>/<run>/manifest.json         configs, code version, one entry per snapshot
    artifacts/<suite>/<run>/train_loss.npy        per-step training loss (float32, full resolution)
    artifacts/<suite>/<run>/snapshots/step_<NNNNNNN>.safetensors
    artifacts/<suite>/<run>/resume/               the latest resume checkpoint (model, optimizer, RNG)

Every file is written atomically (a temp file in the same folder, then `os.replace`), and a
run's manifest is rewritten last after each snapshot, so a reader that lists snapshots through
the manifest never sees a half-written one. Weights are safetensors only; nothing is pickled.
Readers (the analysis package, the REST service) go through the functions here.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from training.core.artifacts.records import (
    SCHEMA_VERSION,
    LLCCurve,
    Manifest,
    MetricsIndex,
    PhaseWindow,
    RecordError,
    Report,
    RunProgress,
    SnapshotEntry,
    from_json,
    to_json,
)
from training.core.config import ModelConfig

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
MANIFEST = "manifest.json"
PROGRESS = "progress.json"


class ArtifactError(ValueError):
    """A bad suite/run name, or a missing or corrupt artifact; the message names it."""


def check_name(kind: str, name: str) -> str:
    """Validate a suite or run name (`[a-z0-9][a-z0-9_-]*`, at most 64 chars); return it."""
    if not isinstance(name, str) or len(name) > 64 or not NAME_RE.fullmatch(name):
        raise ArtifactError(
            f"invalid {kind} name {name!r}: use lowercase letters, digits, '_' and '-', starting with a letter or digit"
        )
    return name


def head_label(layer: int, head: int) -> str:
    """How a head (layer, head) is shown on screen: `L1H3`."""
    return f"L{layer}H{head}"


def suite_dir(root: Path | str, suite: str) -> Path:
    return Path(root) / check_name("suite", suite)


def run_dir(root: Path | str, suite: str, run: str) -> Path:
    return suite_dir(root, suite) / check_name("run", run)


def snapshot_name(step: int) -> str:
    return f"step_{step:07d}.safetensors"


def snapshot_path(run_path: Path, step: int) -> Path:
    return Path(run_path) / "snapshots" / snapshot_name(step)


def tokenizer_path(suite_path: Path) -> Path:
    return Path(suite_path) / "tokenizer.json"


def hf_tokenizer_dir(suite_path: Path) -> Path:
    return Path(suite_path) / "hf_tokenizer"


def data_dir(suite_path: Path) -> Path:
    return Path(suite_path) / "data"


def special_tokens(suite_path: Path) -> tuple[int | None, int]:
    """(BOS, start token) of the suite's model: what a text is preceded by (None: nothing, a
    model without a BOS) and what opens a prefix-matching sequence. Our suites: our BOS for
    both; an imported model's (`data.json`'s `bos_token`, `start_token`): its own BOS, or for a
    model without one a common token of its probe text."""
    from training.core.tokenizer import BOS_ID

    path = data_dir(suite_path) / "data.json"
    info = read_json(path) if path.exists() else {}
    bos, start = info.get("bos_token", BOS_ID), info.get("start_token", BOS_ID)
    for name, value in (("bos_token", bos), ("start_token", start)):
        if isinstance(value, bool) or not (isinstance(value, int) or (value is None and name == "bos_token")):
            raise ArtifactError(f"{path}: field {name!r} should be an integer, got {value!r}")
    return bos, start


# ---- atomic writes ---------------------------------------------------------------------------


def _write(f, data: bytes, path: Path) -> None:
    """Write the bytes meant for `path` to its temp file `f` (tests patch it to fill the disk)."""
    f.write(data)  # no fsync: os.replace is atomic against a killed process, which is the
    # failure we guard against; fsync per snapshot costs more than the training step


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file in the same folder and `os.replace`: a reader sees
    the old file or the new one, never a part. A failed write (a full disk) leaves the old file
    and raises ArtifactError naming the file."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise ArtifactError(f"cannot write {path}: {e.strerror or e}; nothing was changed") from None
    try:
        with os.fdopen(fd, "wb") as f:
            _write(f, data, path)
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise ArtifactError(f"cannot write {path}: {e.strerror or e}; its previous version is intact") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())


def atomic_write_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_safetensors(path: Path, tensors: dict, metadata: dict[str, str] | None = None) -> str:
    """Write torch tensors as safetensors atomically; return the file's sha256."""
    from safetensors.torch import save

    data = save({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, metadata=metadata)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


# ---- reads -----------------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ArtifactError(f"corrupt file {path}: {e}") from None


def read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ArtifactError(f"missing file {path}") from None
    except (ValueError, OSError) as e:
        raise ArtifactError(f"corrupt file {path}: {e}") from None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_record(cls: type, path: Path) -> Any:
    """The JSON file at `path` as a `cls` record (see `training.core.artifacts.records`); ArtifactError naming
    the file and the field if it is missing, corrupt or does not fit."""
    try:
        return from_json(cls, read_json(path), str(path))
    except RecordError as e:
        raise ArtifactError(str(e)) from None


def read_snapshot(run_path: Path, entry: SnapshotEntry, *, verify: bool = True) -> dict:
    """Load one snapshot's tensors (torch) given its manifest entry; checks the sha256."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(run_path) / "snapshots" / entry.file
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


def read_manifest(run_path: Path) -> Manifest:
    """The run's manifest, every field checked; a snapshot's file name can never point elsewhere."""
    path = Path(run_path) / MANIFEST
    raw = read_json(path)
    if not isinstance(raw, dict) or raw.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(f"{path}: unknown schema version")
    return _manifest(raw, path)


def _manifest(raw: dict, path: Path) -> Manifest:
    try:
        manifest = from_json(Manifest, raw, str(path))
    except RecordError as e:
        raise ArtifactError(str(e)) from None
    for i, s in enumerate(manifest.snapshots):
        if s.file != snapshot_name(s.step):
            raise ArtifactError(f"{path}: field 'snapshots[{i}].file' should be {snapshot_name(s.step)!r}")
    return manifest


def model_config(manifest: Manifest) -> ModelConfig:
    """The run's model config; ArtifactError naming the manifest if its `model` does not fit."""
    try:
        return ModelConfig(**manifest.model)
    except (TypeError, ValueError) as e:  # an unknown field, or a value ModelConfig rejects
        where = f"{manifest.suite}/{manifest.run}/manifest.json"
        raise ArtifactError(f"{where}: field 'model' does not load: {e}") from None


def write_manifest(run_path: Path, manifest: Manifest) -> None:
    atomic_write_json(Path(run_path) / MANIFEST, to_json(manifest))


def write_progress(run_path: Path, progress: RunProgress) -> None:
    atomic_write_json(Path(run_path) / PROGRESS, to_json(progress))


def read_progress(run_path: Path) -> RunProgress | None:
    """The training progress of a run, or None if it has none (never trained by this code)."""
    path = Path(run_path) / PROGRESS
    return read_record(RunProgress, path) if path.exists() else None


def load_snapshot(run_dir: Path | str, step: int | str, *, with_tokenizer: bool) -> tuple[ModelConfig, dict, Any]:
    """What building a snapshot into any model needs: (model config, state dict, the suite's
    Hugging Face tokenizer or None), for `step` (an int, or "latest"). Shared by the
    TransformerLens 3 (`hooked.load_hooked`) and 4 (`bridge.load_bridge`) loaders."""
    run_dir = Path(run_dir)
    manifest = read_manifest(run_dir)
    state = read_snapshot(run_dir, find_snapshot(manifest, step))
    tok = None
    if with_tokenizer and hf_tokenizer_dir(run_dir.parent).exists():
        from training.core.tokenizer import load_hf  # the tokenizer module reads this one

        tok = load_hf(run_dir.parent)
    return model_config(manifest), state, tok


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


def list_suites(root: Path | str) -> list[str]:
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and NAME_RE.fullmatch(p.name) and tokenizer_path(p).exists()
    )


def list_runs(suite_path: Path) -> list[str]:
    suite_path = Path(suite_path)
    if not suite_path.is_dir():
        return []
    return sorted(p.name for p in suite_path.iterdir() if NAME_RE.fullmatch(p.name) and (p / MANIFEST).exists())


# ---- analysis outputs ------------------------------------------------------------------------
#
#    artifacts/<suite>/<run>/metrics/snapshots/step_<NNNNNNN>.safetensors   one snapshot's metrics
#    artifacts/<suite>/<run>/metrics/<name>.npy        a metric stacked over analysed snapshots
#    artifacts/<suite>/<run>/metrics/index.json        steps, settings, array names/axes (last)
#    artifacts/<suite>/<run>/metrics/llc.json          the LLC over training (its own settings)
#    artifacts/<suite>/analysis/{pca,phase,before_after,report}.json, report.md

METRICS_INDEX = "index.json"


def metrics_dir(run_path: Path) -> Path:
    return Path(run_path) / "metrics"


def metrics_snapshot_path(run_path: Path, step: int) -> Path:
    return metrics_dir(run_path) / "snapshots" / snapshot_name(step)


def analysis_dir(suite_path: Path) -> Path:
    return Path(suite_path) / "analysis"


def read_metrics_index(run_path: Path) -> MetricsIndex:
    """The run's metrics index; ArtifactError if there is none or it does not fit."""
    return read_record(MetricsIndex, metrics_dir(run_path) / METRICS_INDEX)


def write_metrics_index(run_path: Path, index: MetricsIndex) -> None:
    atomic_write_json(metrics_dir(run_path) / METRICS_INDEX, to_json(index))


def read_metric(run_path: Path, name: str, index: MetricsIndex | None = None) -> np.ndarray:
    """One stacked metric array, first axis = the index's `steps`."""
    index = index or read_metrics_index(run_path)
    if name not in index.arrays:
        raise ArtifactError(f"run {Path(run_path).name!r} has no metric {name!r}")
    return read_npy(metrics_dir(run_path) / index.arrays[name].file)


LLC = "llc.json"


def llc_path(run_path: Path) -> Path:
    return metrics_dir(run_path) / LLC


def read_llc(run_path: Path) -> LLCCurve:
    """The run's LLC over training; ArtifactError if it has none or the file does not fit."""
    return read_record(LLCCurve, llc_path(run_path))


def write_llc(run_path: Path, curve: LLCCurve) -> None:
    atomic_write_json(llc_path(run_path), to_json(curve))


def read_phases(suite_path: Path) -> dict[str, PhaseWindow]:
    """`analysis/phase.json`: the phase window (or why there is none) of every analysed run."""
    path = analysis_dir(suite_path) / "phase.json"
    try:
        return from_json(dict[str, PhaseWindow], read_json(path), str(path))
    except RecordError as e:
        raise ArtifactError(str(e)) from None


def write_phases(suite_path: Path, phases: dict[str, PhaseWindow]) -> None:
    atomic_write_json(analysis_dir(suite_path) / "phase.json", to_json(phases))


def read_report(suite_path: Path) -> Report:
    return read_record(Report, analysis_dir(suite_path) / "report.json")


def write_report(suite_path: Path, report: Report, markdown: str) -> None:
    atomic_write_json(analysis_dir(suite_path) / "report.json", to_json(report))
    atomic_write_bytes(analysis_dir(suite_path) / "report.md", markdown.encode())


def read_analysis(suite_path: Path, name: str) -> Any:
    """A suite-level analysis table as stored: "pca" or "before_after" (plain JSON)."""
    if name not in ("pca", "before_after"):
        raise ArtifactError(f"unknown analysis table {name!r}")
    return read_json(analysis_dir(suite_path) / f"{name}.json")


# ---- what an analysis measures on ------------------------------------------------------------
#
#    artifacts/<suite>/<run>/metrics/inputs.safetensors   evaluation contexts and prefix-matching
#                                                          sequences, with the resolved settings

INPUTS = "inputs.safetensors"


def write_analysis_inputs(run_path: Path, tensors: dict, settings: dict[str, Any]) -> None:
    """Store the token sets a run is measured on, and the settings they were built with, so
    that readers (the service) use exactly the analysis's inputs without rebuilding them."""
    atomic_write_safetensors(metrics_dir(run_path) / INPUTS, tensors, {"settings": json.dumps(settings)})


def read_analysis_inputs(run_path: Path) -> tuple[dict, dict[str, Any]]:
    """(tensors, settings) as `write_analysis_inputs` stored them; ArtifactError if absent."""
    from safetensors import SafetensorError, safe_open

    path = metrics_dir(run_path) / INPUTS
    if not path.exists():
        raise ArtifactError(f"missing file {path}: the run has no analysis inputs yet")
    try:
        with safe_open(str(path), framework="pt") as f:
            settings = json.loads(f.metadata()["settings"])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise ArtifactError(f"corrupt file {path}: {e}") from None
    return tensors, settings
