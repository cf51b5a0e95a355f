"""`ArtifactStore`: read access to ARTIFACTS_DIR through `training.schema`, with caches.

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
from transformer_lens import HookedTransformer

from backend.errors import NotFoundError, UnavailableError
from backend.services.cache import FileCache, LRUCache, file_version
from training import schema
from training.config import AnalysisConfig
from training.model import Transformer


@dataclass
class LoadedSnapshot:
    run: str
    step: int
    manifest: dict
    model: HookedTransformer
    lock: threading.Lock
    sha256: str  # of the snapshot file: with (suite, run, step) it names these exact weights
    # The same weights in the training package's plain-torch model: no hooks, so requests that
    # need only logits and attention patterns run it concurrently, without the lock.
    plain: Transformer

    @property
    def n_ctx(self) -> int:
        return self.model.cfg.n_ctx


@dataclass(frozen=True)
class RunMetrics:
    """A run's stacked analysis: the metrics index and every array it lists (first axis = steps)."""

    index: dict
    arrays: dict[str, np.ndarray]

    @property
    def steps(self) -> list[int]:
        return self.index["steps"]


class ArtifactStore:
    def __init__(self, root: Path | str, cache_size: int, response_cache_size: int = 64) -> None:
        self.root = Path(root)
        self.snapshots = LRUCache(cache_size)
        # Encoded answers of the attention route, keyed on the snapshot's sha256 and the exact
        # tokens and heads: a dashboard redraws the same text many times.
        self.responses = LRUCache(response_cache_size)
        self._inputs = LRUCache(max(2, cache_size))
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

    def manifest(self, suite: str, run: str) -> dict:
        path = self.run_path(suite, run)
        return self._read(
            ("manifest", suite, run), [path / schema.MANIFEST], lambda: checked_manifest(path, f"{suite}/{run}")
        )

    def entry(self, suite: str, run: str, step: int | str) -> dict:
        """The manifest entry of `step` (an int, a digit string or "latest")."""
        manifest = self.manifest(suite, run)
        if not manifest.get("snapshots"):
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
        path = self.run_path(suite, run) / "train_loss.npy"
        if not path.exists():
            return np.zeros(0, dtype=np.float32)
        return self._read(("train_loss", suite, run), [path], lambda: schema.read_npy(path))

    def metrics(self, suite: str, run: str) -> RunMetrics | None:
        """The run's stacked metrics, or None if it has not been analysed yet."""
        run_path = self.run_path(suite, run)
        index_path = schema.metrics_dir(run_path) / schema.METRICS_INDEX
        if not index_path.exists():
            return None

        def load() -> RunMetrics:
            index = schema.read_metrics_index(run_path)
            if not (
                isinstance(index, dict)
                and isinstance(index.get("steps"), list)
                and isinstance(index.get("arrays"), dict)
                and all(isinstance(a, dict) and isinstance(a.get("file"), str) for a in index["arrays"].values())
            ):
                raise UnavailableError(f"{suite}/{run}/metrics/index.json does not have the expected fields")
            arrays = {
                name: schema.read_npy(schema.metrics_dir(run_path) / info["file"])
                for name, info in index["arrays"].items()
            }
            stale = [name for name, a in arrays.items() if a.shape[:1] != (len(index["steps"]),)]
            if stale:  # `analyze` restacks the arrays before it rewrites the index
                raise UnavailableError(
                    f"metrics of {suite}/{run} are being rewritten ({stale[0]}.npy); retry in a moment"
                )
            return RunMetrics(index, arrays)

        return self._read(("metrics", suite, run), [index_path], load)

    def analysis(self, suite: str, name: str) -> Any:
        """A suite-level analysis table ("pca", "phase", "report"); NotFoundError if not written yet."""
        suite_path = self.suite_path(suite)
        path = schema.analysis_dir(suite_path) / f"{name}.json"
        if not path.is_file():
            raise NotFoundError(
                f"suite {suite!r} has no {name} table yet: run `python -m training analyze` (and `report`)"
            )
        return self._read(("analysis", suite, name), [path], lambda: schema.read_analysis(suite_path, name))

    def report_markdown(self, suite: str) -> str | None:
        path = schema.analysis_dir(self.suite_path(suite)) / "report.md"
        return self._read(
            ("report.md", suite), [path], lambda: path.read_text(errors="replace") if path.is_file() else None
        )

    def tokenizer(self, suite: str):
        """The suite tokenizer (`tokenizers.Tokenizer`)."""
        from training import tokenizer

        suite_path = self.suite_path(suite)
        return self._read(("tokenizer", suite), [schema.tokenizer_path(suite_path)], lambda: tokenizer.load(suite_path))

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
        from training.hooked import hooked_from_state, model_config_from_manifest

        run_path = self.run_path(suite, run)
        manifest = self.manifest(suite, run)
        entry = self.entry(suite, run, step)

        def load() -> LoadedSnapshot:
            try:
                state = schema.read_snapshot(run_path, entry)
                cfg = model_config_from_manifest(manifest)
                model = hooked_from_state(cfg, state)
                plain = Transformer(cfg)
                plain.load_state_dict(state)
            except schema.ArtifactError as e:
                raise self.unavailable(e) from None
            except (RuntimeError, KeyError, ValueError, TypeError) as e:  # a state dict that does not fit
                raise UnavailableError(
                    f"snapshot file {suite}/{run}/snapshots/{entry['file']} does not load: {e}"
                ) from None
            return LoadedSnapshot(run, entry["step"], manifest, model, threading.Lock(), entry["sha256"], plain.eval())

        return self.snapshots.get((suite, run, entry["step"], entry["sha256"]), load)

    def run_inputs(self, suite: str, snap: LoadedSnapshot, cfg: AnalysisConfig):
        """`training.analyze.run_inputs` for this suite, context length and analysis settings."""
        from training.analyze import run_inputs

        suite_path = self.suite_path(suite)
        data = schema.data_dir(suite_path)
        version = tuple(file_version(data / f) for f in ("heldout.npy", "token_counts.npy"))
        key = (suite, snap.n_ctx, cfg.settings_hash(), version)
        try:
            return self._inputs.get(key, lambda: run_inputs(suite_path, snap.n_ctx, cfg))
        except schema.ArtifactError as e:
            raise self.unavailable(e) from None


def checked_manifest(run_path: Path, name: str) -> dict:
    """`schema.read_manifest`, plus the fields the service relies on (else UnavailableError)."""
    manifest = schema.read_manifest(run_path)
    model, snaps = manifest.get("model"), manifest.get("snapshots", [])
    ok = isinstance(model, dict) and all(isinstance(model.get(k), int) for k in ("n_layers", "n_heads", "n_ctx"))
    ok = (
        ok
        and isinstance(snaps, list)
        and all(
            isinstance(s, dict)
            and isinstance(s.get("step"), int)
            and isinstance(s.get("file"), str)
            and isinstance(s.get("sha256"), str)
            and isinstance(s.get("tokens_seen"), int)
            and s["file"] == schema.snapshot_name(s["step"])  # a file name can never point elsewhere
            for s in snaps
        )
    )
    if not ok:
        raise UnavailableError(f"{name}/manifest.json does not have the expected fields")
    return manifest
