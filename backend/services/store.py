"""`ArtifactStore`: read access to ARTIFACTS_DIR through `training.core.artifacts.schema`, with caches.

Names are checked with `schema.check_name` before any path is built, so no request reaches
outside ARTIFACTS_DIR. Manifests, metrics and analysis tables are cached until their file
changes (runs still training or being analysed show up without a restart); loaded snapshots
live in a bounded LRU shared by every request, and so do recent attention answers, as JSON
bytes. A loaded snapshot carries a lock: TransformerLens
adds and removes hooks on the model object during `run_with_cache`/`run_with_hooks`, so two
requests must not run the same model at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformer_lens import HookedTransformer

from backend.errors import NotFoundError, UnavailableError
from backend.services.cache import FileCache, LRUCache
from training.core.science import (
    LLCCurve,
    Manifest,
    MetricsIndex,
    RunProgress,
    SnapshotEntry,
    Transformer,
    load_tokenizer,
    schema,
)


@dataclass
class LoadedSnapshot:
    run: str
    step: int
    manifest: Manifest
    model: HookedTransformer
    lock: threading.Lock
    sha256: str  # of the snapshot file: with (suite, run, step) it names these exact weights
    # The same weights in the training package's plain-torch model (an imported run: its
    # HookedTransformer's adapter, which adds hooks only for the call): requests that need only
    # logits and attention patterns run it concurrently, without the lock.
    plain: Transformer  # or `training.core.adapters.hooked.HookedAdapter`: the same interface

    @property
    def n_ctx(self) -> int:
        return self.model.cfg.n_ctx


@dataclass(frozen=True)
class RunMetrics:
    """A run's stacked metrics (live or analysed): the index and every array it lists (first
    axis = the index's steps)."""

    index: MetricsIndex
    arrays: dict[str, np.ndarray]

    @property
    def steps(self) -> list[int]:
        return self.index.steps


@dataclass(frozen=True)
class AnalysisInputs:
    """What the run is measured on, as the analysis (or the trainer) stored it."""

    eval_tokens: torch.Tensor
    prefix_tokens: torch.Tensor
    settings: dict


class ArtifactStore:
    def __init__(self, root: Path | str, cache_size: int, response_cache_size: int = 64) -> None:
        self.root = Path(root)
        self.snapshots = LRUCache(cache_size)
        # Encoded answers of the attention route, keyed on the snapshot's sha256 and the exact
        # tokens and heads: a dashboard redraws the same text many times.
        self.responses = LRUCache(response_cache_size)
        self._files = FileCache()

    # ---- errors --------------------------------------------------------------------------

    def unavailable(self, error: Exception) -> UnavailableError:
        """An ArtifactError (or a loader's error) as a 503, paths shown relative to the root."""
        return UnavailableError(str(error).replace(f"{self.root}/", "").replace(str(self.root.resolve()) + "/", ""))

    def _read(self, key: tuple, paths: list[Path], load) -> Any:
        try:
            return self._files.get(key, paths, load)
        except schema.ArtifactError as e:
            raise self.unavailable(e) from None

    # ---- suites and runs -----------------------------------------------------------------

    def suites(self) -> list[str]:
        return schema.list_suites(self.root)

    def suite_path(self, suite: str) -> Path:
        try:
            path = schema.suite_dir(self.root, suite)
        except schema.ArtifactError:
            raise NotFoundError(f"no suite named {suite!r}") from None
        if not schema.tokenizer_path(path).is_file():
            raise NotFoundError(f"no suite named {suite!r}")
        return path

    def runs(self, suite: str) -> list[str]:
        return schema.list_runs(self.suite_path(suite))

    def run_path(self, suite: str, run: str) -> Path:
        suite_path = self.suite_path(suite)
        try:
            path = schema.run_dir(self.root, suite, run)
        except schema.ArtifactError:
            raise NotFoundError(f"suite {suite!r} has no run named {run!r}") from None
        if not (path / schema.MANIFEST).is_file():
            raise NotFoundError(f"suite {suite!r} has no run named {run!r}")
        return suite_path / run

    def manifest(self, suite: str, run: str) -> Manifest:
        path = self.run_path(suite, run)
        return self._read(("manifest", suite, run), [path / schema.MANIFEST], lambda: schema.read_manifest(path))

    def progress(self, suite: str, run: str) -> RunProgress | None:
        """The run's training progress (`progress.json`), or None if it has none."""
        path = self.run_path(suite, run) / schema.PROGRESS
        if not path.exists():
            return None
        return self._read(("progress", suite, run), [path], lambda: schema.read_progress(path.parent))

    def entry(self, suite: str, run: str, step: int | str) -> SnapshotEntry:
        """The manifest entry of `step` (an int, a digit string or "latest")."""
        manifest = self.manifest(suite, run)
        if not manifest.snapshots:
            raise NotFoundError(f"run {suite}/{run} has no snapshots yet")
        if step != "latest":
            try:
                step = int(step)
            except ValueError:
                raise NotFoundError(f"run {suite}/{run} has no snapshot at step {step!r}") from None
        try:
            return schema.find_snapshot(manifest, step)
        except schema.ArtifactError:
            raise NotFoundError(f"run {suite}/{run} has no snapshot at step {step}") from None

    # ---- files ---------------------------------------------------------------------------

    def train_loss(self, suite: str, run: str) -> np.ndarray:
        """Training loss at every step (index i: step i + 1), float32."""
        path = schema.train_loss_path(self.run_path(suite, run))
        if not path.exists():
            return np.zeros(0, dtype=np.float32)
        return self._read(("train_loss", suite, run), [path], lambda: schema.read_npy(path))

    def metrics(self, suite: str, run: str) -> RunMetrics | None:
        """The run's stacked metrics, or None if it has not been analysed yet."""
        run_path = self.run_path(suite, run)
        index_path = schema.metrics_index_path(run_path)
        if not index_path.exists():
            return None

        def load() -> RunMetrics:
            index = schema.read_metrics_index(run_path)
            arrays = {name: schema.read_metric(run_path, name, index) for name in index.arrays}
            stale = [name for name, a in arrays.items() if a.shape[:1] != (len(index.steps),)]
            if stale:  # the writer restacks the arrays before it rewrites the index
                raise UnavailableError(
                    f"metrics of {suite}/{run} are being rewritten ({index.arrays[stale[0]].file}); retry in a moment"
                )
            return RunMetrics(index, arrays)

        return self._read(("metrics", suite, run), [index_path], load)

    def analysis(self, suite: str, name: str) -> Any:
        """A suite-level analysis table: "pca" (JSON), "phase" ({run: PhaseWindow}) or "report"
        (Report); NotFoundError if not written yet."""
        suite_path = self.suite_path(suite)
        paths = {"phase": schema.phases_path, "report": schema.report_path}
        path = paths[name](suite_path) if name in paths else schema.table_path(suite_path, name)
        if not path.is_file():
            raise NotFoundError(
                f"suite {suite!r} has no {name} table yet: it is written when the first run has been analysed"
            )
        readers = {"phase": schema.read_phases, "report": schema.read_report}
        read = readers.get(name, lambda p: schema.read_analysis(p, name))
        return self._read(("analysis", suite, name), [path], lambda: read(suite_path))

    def llc(self, suite: str, run: str) -> LLCCurve | None:
        """The run's LLC over training (`metrics/llc.json`), or None if it has none."""
        run_path = self.run_path(suite, run)
        path = schema.llc_path(run_path)
        if not path.exists():
            return None
        return self._read(("llc", suite, run), [path], lambda: schema.read_llc(run_path))

    def report_markdown(self, suite: str) -> str | None:
        suite_path = self.suite_path(suite)
        path = schema.report_path(suite_path, markdown=True)
        return self._read(("report_markdown", suite), [path], lambda: schema.read_report_markdown(suite_path))

    def tokenizer(self, suite: str):
        """The suite tokenizer (`tokenizers.Tokenizer`)."""
        suite_path = self.suite_path(suite)
        return self._read(("tokenizer", suite), [schema.tokenizer_path(suite_path)], lambda: load_tokenizer(suite_path))

    def token_pieces(self, suite: str) -> list[str]:
        """The text of every token id, decoded once per tokenizer (a byte-level piece of a
        multi-byte character shows as U+FFFD)."""
        tok = self.tokenizer(suite)
        path = schema.tokenizer_path(self.suite_path(suite))
        return self._read(
            ("pieces", suite),
            [path],
            lambda: [tok.decode([i], skip_special_tokens=False) for i in range(tok.get_vocab_size())],
        )

    # ---- computed ------------------------------------------------------------------------

    def snapshot(self, suite: str, run: str, step: int | str) -> LoadedSnapshot:
        """The snapshot as a HookedTransformer, loaded once into the LRU cache."""
        run_path = self.run_path(suite, run)
        manifest = self.manifest(suite, run)
        entry = self.entry(suite, run, step)

        def load() -> LoadedSnapshot:
            try:
                models = schema.load_models(run_path, manifest, entry)
            except schema.ArtifactError as e:
                raise self.unavailable(e) from None
            except (RuntimeError, KeyError, ValueError, TypeError) as e:  # a state dict that does not fit
                raise UnavailableError(
                    f"snapshot file {suite}/{run}/snapshots/{entry.file} does not load: {e}"
                ) from None
            # an imported run's adapter shares its model with `hooked`: one lock for both
            lock = getattr(models.fast, "lock", None) or threading.Lock()
            return LoadedSnapshot(run, entry.step, manifest, models.hooked, lock, entry.sha256, models.fast)

        return self.snapshots.get((suite, run, entry.step, entry.sha256), load)

    def inputs(self, suite: str, run: str) -> AnalysisInputs:
        """The run's evaluation contexts, prefix-matching sequences and resolved analysis
        settings, as stored by the trainer or the analysis (never rebuilt here)."""
        run_path = self.run_path(suite, run)
        path = schema.inputs_path(run_path)
        if not path.exists():
            raise UnavailableError(
                f"run {suite}/{run} has no analysis inputs yet: they are written with its first snapshot"
            )

        def load() -> AnalysisInputs:
            tensors, settings = schema.read_analysis_inputs(run_path)
            return AnalysisInputs(tensors["eval_tokens"], tensors["prefix_tokens"], settings)

        return self._read(("inputs", suite, run), [path], load)

    def special_tokens(self, suite: str) -> tuple[int | None, int]:
        """(BOS or None, the prefix-matching sequences' start token) of the suite's model."""
        path = schema.data_path(self.suite_path(suite), schema.DATA_INFO)
        return self._read(("special", suite), [path], lambda: schema.special_tokens(self.suite_path(suite)))

    def token_counts(self, suite: str) -> np.ndarray:
        """Training-split frequency of every token id (the prefix-matching sequences' source)."""
        path = schema.data_path(self.suite_path(suite), schema.TOKEN_COUNTS)
        return self._read(("counts", suite), [path], lambda: schema.read_npy(path))
