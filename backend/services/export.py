"""A run's stored metrics as CSV (`GET …/metrics?format=csv`), for spreadsheets and R.

The rows are `training.core.science`'s tidy frames, built from the metrics the store already holds:
`kind="heads"` (run, step, tokens, stage, layer, head, metric, value: every per-head metric)
or `kind="curves"` (run, step, tokens, stage, metric, value: the per-snapshot scalars). A run
not measured yet is the header alone.
"""

from __future__ import annotations

from backend.services.store import ArtifactStore
from training.core.science import metrics_frame, run_frame


def metrics_csv(store: ArtifactStore, suite: str, run: str, kind: str) -> str:
    store.manifest(suite, run)  # an unknown suite or run is a 404 here
    metrics = store.metrics(suite, run)
    if metrics is None:  # not measured yet: no rows (and nothing to read)
        frame = metrics_frame(store.run_path(suite, run), kind)
    else:
        frame = run_frame(metrics.index, metrics.arrays, kind)
    return frame.to_csv(index=False, lineterminator="\n")
