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

SCHEMA_VERSION = 1
NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
MANIFEST = "manifest.json"


class ArtifactError(ValueError):
    """A bad suite/run name, or a missing or corrupt artifact; the message names it."""


def check_name(kind: str, name: str) -> str:
    """Validate a suite or run name (`[a-z0-9][a-z0-9_-]*`, at most 64 chars); return it."""
    if not isinstance(name, str) or len(name) > 64 or not NAME_RE.fullmatch(name):
        raise ArtifactError(f"invalid {kind} name {name!r}: use lowercase letters, digits, '_' and '-', starting with a letter or digit")
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


# ---- atomic writes ---------------------------------------------------------------------------


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)  # no fsync: os.replace is atomic against a killed process, which is the
            # failure we guard against; fsync per snapshot costs more than the training step
        os.replace(tmp, path)
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


def read_snapshot(run_path: Path, entry: dict, *, verify: bool = True) -> dict:
    """Load one snapshot's tensors (torch) given its manifest entry; checks the sha256."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    path = Path(run_path) / "snapshots" / entry["file"]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"missing snapshot file {path}") from None
    if verify and hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ArtifactError(f"corrupt snapshot file {path}: sha256 does not match the manifest")
    try:
        return load(data)
    except (SafetensorError, ValueError) as e:
        raise ArtifactError(f"corrupt snapshot file {path}: {e}") from None


def read_manifest(run_path: Path) -> dict:
    manifest = read_json(Path(run_path) / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(f"{Path(run_path) / MANIFEST}: unknown schema version")
    return manifest


def write_manifest(run_path: Path, manifest: dict) -> None:
    atomic_write_json(Path(run_path) / MANIFEST, {**manifest, "schema_version": SCHEMA_VERSION})


def find_snapshot(manifest: dict, step: int | str) -> dict:
    """The manifest entry for `step` (an int, or "latest")."""
    snaps = manifest.get("snapshots", [])
    if not snaps:
        raise ArtifactError(f"run {manifest.get('run')!r} has no snapshots yet")
    if step == "latest":
        return snaps[-1]
    try:
        step = int(step)
    except (TypeError, ValueError):
        raise ArtifactError(f"invalid step {step!r}: use an integer or 'latest'") from None
    for entry in snaps:
        if entry["step"] == step:
            return entry
    raise ArtifactError(f"run {manifest.get('run')!r} has no snapshot at step {step}")


def list_suites(root: Path | str) -> list[str]:
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and NAME_RE.fullmatch(p.name) and tokenizer_path(p).exists())


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
#    artifacts/<suite>/analysis/{pca,phase,before_after,report}.json, report.md

METRICS_INDEX = "index.json"


def metrics_dir(run_path: Path) -> Path:
    return Path(run_path) / "metrics"


def metrics_snapshot_path(run_path: Path, step: int) -> Path:
    return metrics_dir(run_path) / "snapshots" / snapshot_name(step)


def analysis_dir(suite_path: Path) -> Path:
    return Path(suite_path) / "analysis"


def read_metrics_index(run_path: Path) -> dict:
    """The run's metrics index (`steps`, `settings`, `arrays`, `scalars`); ArtifactError if none."""
    return read_json(metrics_dir(run_path) / METRICS_INDEX)


def read_metric(run_path: Path, name: str) -> np.ndarray:
    """One stacked metric array, first axis = the index's `steps`."""
    index = read_metrics_index(run_path)
    if name not in index["arrays"]:
        raise ArtifactError(f"run {Path(run_path).name!r} has no metric {name!r}")
    return read_npy(metrics_dir(run_path) / index["arrays"][name]["file"])


def read_analysis(suite_path: Path, name: str) -> Any:
    """A suite-level analysis table: "pca", "phase", "before_after" or "report"."""
    if name not in ("pca", "phase", "before_after", "report"):
        raise ArtifactError(f"unknown analysis table {name!r}")
    return read_json(analysis_dir(suite_path) / f"{name}.json")
