"""Where everything lives under `artifacts/`: every file name of the layout, once.

    artifacts/<suite>/tokenizer.json                  the suite's tokenizer (HF `tokenizers` JSON)
    artifacts/<suite>/hf_tokenizer/                   the same, saved with `save_pretrained`
    artifacts/<suite>/data/{train,heldout}.npy        token ids (uint16/int32), shared by every run
    artifacts/<suite>/data/token_counts.npy           training-split frequency of every token id
    artifacts/<suite>/data/data.json                  source, files and token counts
    artifacts/<suite>/<run>/manifest.json             configs, code version, one entry per snapshot
    artifacts/<suite>/<run>/progress.json             training progress (step, rate, ETA)
    artifacts/<suite>/<run>/train_loss.npy            per-step training loss (float32)
    artifacts/<suite>/<run>/snapshots/step_<NNNNNNN>.safetensors
    artifacts/<suite>/<run>/resume/checkpoint.safetensors   the latest resume point
    artifacts/<suite>/<run>/metrics/snapshots/step_<NNNNNNN>.safetensors   one snapshot's metrics
    artifacts/<suite>/<run>/metrics/inputs.safetensors  the token sets the run is measured on
    artifacts/<suite>/<run>/metrics/<metric>.npy       a metric stacked over analysed snapshots
    artifacts/<suite>/<run>/metrics/index.json         steps, settings, array names/axes (last)
    artifacts/<suite>/<run>/metrics/llc.json           the LLC over training (its own settings)
    artifacts/<suite>/analysis/{phase,pca,before_after,report}.json, report.md
    <every folder>/checksums.json                      the SHA-256 of every file written there

Only this module builds these paths; a test fails if a name of the layout appears as a string
literal in any other module of `training`, `backend` or `dashboard`.
"""

from __future__ import annotations

import re
from pathlib import Path

from training.core.artifacts.errors import ArtifactError

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")

# suite level
TOKENIZER = "tokenizer.json"
HF_TOKENIZER = "hf_tokenizer"
DATA = "data"
TRAIN_TOKENS = "train.npy"
HELDOUT_TOKENS = "heldout.npy"
TOKEN_COUNTS = "token_counts.npy"
DATA_INFO = "data.json"
ANALYSIS = "analysis"
PHASES = "phase.json"
REPORT = "report.json"
REPORT_MARKDOWN = "report.md"
TABLES = {"pca": "pca.json", "before_after": "before_after.json"}  # suite-level analysis tables
# run level
MANIFEST = "manifest.json"
PROGRESS = "progress.json"
TRAIN_LOSS = "train_loss.npy"
SNAPSHOTS = "snapshots"
RESUME = "resume"
RESUME_CHECKPOINT = "checkpoint.safetensors"
METRICS = "metrics"
METRICS_INDEX = "index.json"
INPUTS = "inputs.safetensors"
LLC = "llc.json"
# every folder
CHECKSUMS = "checksums.json"


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
    return Path(run_path) / SNAPSHOTS / snapshot_name(step)


def tokenizer_path(suite_path: Path) -> Path:
    return Path(suite_path) / TOKENIZER


def hf_tokenizer_dir(suite_path: Path) -> Path:
    return Path(suite_path) / HF_TOKENIZER


def data_dir(suite_path: Path) -> Path:
    return Path(suite_path) / DATA


def data_path(suite_path: Path, name: str) -> Path:
    """One of the suite's data files: `train.npy`, `heldout.npy`, `token_counts.npy`, `data.json`."""
    if name not in (TRAIN_TOKENS, HELDOUT_TOKENS, TOKEN_COUNTS, DATA_INFO):
        raise ArtifactError(f"unknown data file {name!r}")
    return data_dir(suite_path) / name


def split_path(suite_path: Path, split: str) -> Path:
    """A split's token ids: "train" or "heldout"."""
    names = {"train": TRAIN_TOKENS, "heldout": HELDOUT_TOKENS}
    if split not in names:
        raise ArtifactError(f"unknown split {split!r}: use 'train' or 'heldout'")
    return data_dir(suite_path) / names[split]


def manifest_path(run_path: Path) -> Path:
    return Path(run_path) / MANIFEST


def progress_path(run_path: Path) -> Path:
    return Path(run_path) / PROGRESS


def train_loss_path(run_path: Path) -> Path:
    return Path(run_path) / TRAIN_LOSS


def resume_path(run_path: Path) -> Path:
    return Path(run_path) / RESUME / RESUME_CHECKPOINT


def metrics_dir(run_path: Path) -> Path:
    return Path(run_path) / METRICS


def metrics_index_path(run_path: Path) -> Path:
    return metrics_dir(run_path) / METRICS_INDEX


def metric_array_name(metric: str) -> str:
    """The file a metric's stacked array is stored in, inside `metrics/`."""
    return f"{metric}.npy"


def metrics_snapshot_path(run_path: Path, step: int) -> Path:
    return metrics_dir(run_path) / SNAPSHOTS / snapshot_name(step)


def inputs_path(run_path: Path) -> Path:
    return metrics_dir(run_path) / INPUTS


def llc_path(run_path: Path) -> Path:
    return metrics_dir(run_path) / LLC


def analysis_dir(suite_path: Path) -> Path:
    return Path(suite_path) / ANALYSIS


def phases_path(suite_path: Path) -> Path:
    return analysis_dir(suite_path) / PHASES


def report_path(suite_path: Path, markdown: bool = False) -> Path:
    return analysis_dir(suite_path) / (REPORT_MARKDOWN if markdown else REPORT)


def table_path(suite_path: Path, name: str) -> Path:
    """A suite-level analysis table: "pca" or "before_after"."""
    if name not in TABLES:
        raise ArtifactError(f"unknown analysis table {name!r}")
    return analysis_dir(suite_path) / TABLES[name]


def is_suite(path: Path) -> bool:
    return path.is_dir() and NAME_RE.fullmatch(path.name) is not None and tokenizer_path(path).exists()


def is_run(path: Path) -> bool:
    return NAME_RE.fullmatch(path.name) is not None and manifest_path(path).exists()


def list_suites(root: Path | str) -> list[str]:
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if is_suite(p)) if root.is_dir() else []


def list_runs(suite_path: Path) -> list[str]:
    suite_path = Path(suite_path)
    return sorted(p.name for p in suite_path.iterdir() if is_run(p)) if suite_path.is_dir() else []
