"""The science floor: everything outside `training` may use of it, in one place.

The REST service (and a notebook) imports `training.core.science` and nothing else of `training`;
import-linter enforces it (`pyproject.toml`). What is here: the artifact schema and its typed
records, loading a snapshot as a model, the suite tokenizer, the metric functions and their
registry, and the stored metrics as data frames (`metrics_frame`, `metrics_dataset`). What is not: the training loop, the analysis runs, data preparation, presets and the
CLI (the orchestration floor), which read and write artifacts through this same schema.
"""

from training.core.allocator import keep_buffers_in_heap
from training.core.analysis import attribution, circuits, llc, loss, registry, scores, shortcuts, trajectory
from training.core.analysis.registry import INDUCTION_THRESHOLD, METRICS, REGISTRY, Metric, best_heads
from training.core.artifacts import schema
from training.core.artifacts.records import (
    Claim,
    LLCCurve,
    LLCPoint,
    Manifest,
    MetricsIndex,
    PhaseEnd,
    PhaseWindow,
    Replicate,
    Report,
    RunProgress,
    SeedResult,
    SeedSpread,
    SnapshotEntry,
    Spread,
)
from training.core.artifacts.schema import ArtifactError, head_label
from training.core.artifacts.schema import model_config as model_config_from_manifest
from training.core.frames import metrics_dataset, metrics_frame, run_frame
from training.core.hooked import hooked_from_state, load_hooked
from training.core.model import Transformer, next_token_loss
from training.core.tokenizer import BOS_ID
from training.core.tokenizer import load as load_tokenizer

__all__ = [
    "BOS_ID",
    "INDUCTION_THRESHOLD",
    "METRICS",
    "REGISTRY",
    "ArtifactError",
    "Claim",
    "LLCCurve",
    "LLCPoint",
    "Manifest",
    "Metric",
    "MetricsIndex",
    "PhaseEnd",
    "PhaseWindow",
    "Replicate",
    "Report",
    "RunProgress",
    "SeedResult",
    "SeedSpread",
    "SnapshotEntry",
    "Spread",
    "Transformer",
    "attribution",
    "best_heads",
    "circuits",
    "head_label",
    "hooked_from_state",
    "keep_buffers_in_heap",
    "llc",
    "load_hooked",
    "load_tokenizer",
    "loss",
    "metrics_dataset",
    "metrics_frame",
    "model_config_from_manifest",
    "next_token_loss",
    "registry",
    "run_frame",
    "schema",
    "scores",
    "shortcuts",
    "trajectory",
]
