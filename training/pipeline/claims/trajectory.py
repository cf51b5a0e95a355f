"""Claim (d): per-token-loss trajectories turn in the window; the 1-layer one does not.

Olsson et al. 2022, "Argument 1": each snapshot's losses on a fixed set of held-out tokens form
a vector; a joint PCA over every run's snapshots draws each run as a trajectory, and models that
form induction heads turn sharply during the phase change. The big initial fall of the loss
would dominate the first component, so each run's snapshots enter the PCA only once its loss
has made most of that fall (`settled`). We fit our own PCA (numpy) on the runs' stored
`per_token_loss` arrays, not the suite's `pca.json`, which keeps every snapshot.

The turn of a run in its window (snapshots s..e): the displacement from s to e orthogonal to
the direction it moved in over the same number of snapshots before s, in units of the run's
snapshot-to-snapshot jitter (the median norm of the trajectory's second differences, / sqrt 6:
the size of one snapshot's noise if the path were straight). A multi-layer run passes when it
turns by more than `MIN_TURN` jitters and by `RATIO` times as much as the 1-layer run over the
same steps (whose turn counts as at least 1 jitter, its noise level).
"""

from __future__ import annotations

import numpy as np

from training.core.artifacts.records import Claim
from training.pipeline.claims.common import Runs, claim
from training.pipeline.claims.runs import RunData
from training.pipeline.claims.stats import SEED, Estimate, above, combine, interval, nearest

COMPONENTS = 3  # principal components the trajectories are drawn in
SETTLED = 0.8  # a run enters the PCA once its loss has made this share of its initial fall
MIN_TURN = 3.0  # jitters: a run turns when its orthogonal displacement is larger than this
RATIO = 3.0  # and the multi-layer run's turn is this many times the 1-layer run's (at least 1)
SAMPLES = 100  # bootstrap resamples of the tokens (each refits the PCA: tens of ms on a suite)


def settled(per_token_loss: np.ndarray, until: int | None = None) -> int:
    """The first snapshot at which the mean loss (over many tokens: not smoothed, which would
    blur the steep start) has made `SETTLED` of its initial fall: from the first snapshot to
    its lowest point up to snapshot `until` (a multi-layer run's window start: the phase
    change's own fall is not part of the transient; None: all snapshots)."""
    loss = np.nanmean(per_token_loss, axis=1)
    drop = loss[0] - np.nanmin(loss[: None if until is None else until + 1])
    return int(np.flatnonzero(loss <= loss[0] - SETTLED * drop)[0]) if drop > 0 else 0


def pca_coords(rows: np.ndarray, weights: np.ndarray, k: int = COMPONENTS) -> np.ndarray:
    """Coordinates of `rows` (snapshot, token) on their top `k` principal components, with the
    tokens counted `weights` times (a bootstrap resample); from the rows' Gram matrix, since
    there are far fewer snapshots than tokens."""
    centred = (rows - rows.mean(0)).astype(np.float32)  # each token about its mean over rows
    gram = (centred * weights.astype(np.float32)) @ centred.T  # (row, row)
    values, vectors = np.linalg.eigh(gram.astype(np.float64))
    top = np.argsort(values)[::-1][: min(k, len(values))]
    return vectors[:, top] * np.sqrt(np.clip(values[top], 0, None))  # (row, component)


def jitter(coords: np.ndarray) -> float:
    """The median norm of the trajectory's second differences over sqrt(6): for a straight path
    with independent noise of size sigma at each snapshot, sigma."""
    if len(coords) < 3:
        return float("nan")
    second = coords[2:] - 2 * coords[1:-1] + coords[:-2]
    return float(np.median(np.linalg.norm(second, axis=1)) / np.sqrt(6))


def turn(coords: np.ndarray, before: int, start: int, end: int) -> float:
    """The displacement from `start` to `end` orthogonal to the direction from `before` to
    `start`, in units of `jitter(coords)`."""
    u, v = coords[start] - coords[before], coords[end] - coords[start]
    norm = np.linalg.norm(u)
    if norm == 0:
        return float("nan")
    orthogonal = v - (v @ u) / norm**2 * u
    return float(np.linalg.norm(orthogonal) / jitter(coords))


def _segments(run: RunData, controls: Runs, cut: dict[str, int]) -> dict | None:
    """Snapshot indices (before, start, end) of the run's window and, at the nearest steps, of
    each control, all after the transient; None if the run's own do not fit."""
    window = run.rise()
    if window is None:
        return None
    start, end = window
    before = max(cut[run.name], start - (end - start))
    if before >= start:
        return None
    out = {run.name: (before, start, end)}
    targets = [run.steps[before], run.steps[start], run.steps[end]]
    for c in controls:
        b, s, e = nearest(c.steps, targets)
        b = max(b, cut[c.name])
        if b < s < e:
            out[c.name] = (b, s, e)
    return out


def turns(runs: Runs, segments: dict, cut: dict[str, int], weights: np.ndarray) -> dict:
    """{multi run: {run: turn}} for the segments of each multi-layer run's window (its own and
    its controls'), in one joint PCA of every run's settled snapshots, tokens weighted by
    `weights`."""
    rows = np.concatenate([r.per_token_loss[cut[r.name] :] for r in runs])
    coords, offset, paths = pca_coords(rows, weights), 0, {}
    for r in runs:
        n = len(r.steps) - cut[r.name]
        paths[r.name] = coords[offset : offset + n]
        offset += n
    return {
        name: {
            other: turn(paths[other], *(i - cut[other] for i in segment))
            for other, segment in segs.items()
        }
        for name, segs in segments.items()
    }


def turn_samples(runs: Runs, segments: dict, cut: dict[str, int]) -> dict:
    """{multi run: {run: (sample,) turns}}: on the full tokens first, then on each bootstrap
    resample of the tokens (the PCA refitted every time)."""
    n_tokens = runs[0].per_token_loss.shape[1]
    rng = np.random.default_rng(SEED)
    weights = [np.ones(n_tokens)]
    for _ in range(SAMPLES):
        weights.append(np.bincount(rng.integers(0, n_tokens, n_tokens), minlength=n_tokens))
    samples = [turns(runs, segments, cut, w.astype(float)) for w in weights]
    return {
        name: {other: np.array([t[name][other] for t in samples]) for other in segs}
        for name, segs in segments.items()
    }


def _estimate(values: np.ndarray) -> Estimate:
    return Estimate(float(values[0]), *interval(values[1:]))


def _run_row(run: RunData, single: Runs, segments: dict | None, values: dict) -> tuple:
    if segments is None:
        if run.rise() is None:
            return {"reason": "no prefix-matching rise"}, "fail", "no prefix-matching rise"
        reason = "its window starts inside the transient"
        return {"reason": reason}, "inconclusive", reason
    own = values[run.name]
    row = {"segment_steps": [int(run.steps[i]) for i in segments[run.name]]}
    row["turn"] = _estimate(own)
    verdicts = [above(row["turn"], MIN_TURN)]
    b, s, e = row["segment_steps"]
    text = f"turns {row['turn']} jitters in its window (steps {s}-{e}, against {b}-{s} before)"
    row["controls"] = {}
    for c in single:
        if c.name not in segments:
            verdicts.append("inconclusive")
            text += f"; {c.name}: its snapshots there are inside its transient"
            continue
        control = _estimate(values[c.name])
        ratio = _estimate(own / np.maximum(values[c.name], 1.0))  # a control below the noise
        # does not turn at all: floored at 1 jitter, it cannot blow the ratio up
        row["controls"][c.name] = {"turn": control, "ratio": ratio}
        verdicts.append(above(ratio, RATIO))
        text += f"; {c.name} over the same steps {control}, ratio {ratio}"
    return row, combine(verdicts), text


def claim_d(multi: Runs, single: Runs) -> Claim:
    """(d) Each multi-layer run's trajectory turns in its window by more than `MIN_TURN`
    jitters and by more than `RATIO` times the 1-layer run's over the same steps."""
    pool = [r for r in [*multi, *single] if r.per_token_loss is not None]
    rows, verdicts, texts = {}, [], []
    if len({r.per_token_loss.shape[1] for r in pool}) == 1:
        cut = {r.name: settled(r.per_token_loss, (r.rise() or (None,))[0]) for r in pool}
        controls = [c for c in single if c in pool]
        segments = {r.name: _segments(r, controls, cut) for r in multi if r in pool}
        measured = {name: segs for name, segs in segments.items() if segs is not None}
        values = turn_samples(pool, measured, cut) if measured else {}
        for r in multi:
            if r.name not in segments:
                rows[r.name], verdict, text = {"reason": "no per-token loss"}, "inconclusive", ""
            else:
                row = _run_row(r, controls, segments[r.name], values.get(r.name, {}))
                rows[r.name], verdict, text = row
            verdicts.append(verdict)
            texts.append(f"{r.name}: {text or rows[r.name]['reason']}")
    details = "; ".join(texts) or "no per-token losses on one common set of tokens"
    if texts:
        details += (
            f" (joint PCA, {COMPONENTS} components, of each run's snapshots from the one at "
            f"which it has made {SETTLED:.0%} of its initial loss fall, up to its window; "
            "resampled: the per-token-loss tokens, PCA refitted)"
        )
    text = (
        "The per-token-loss trajectory of multi-layer models turns in the phase-change window; "
        "the 1-layer model's does not."
    )
    status = combine(verdicts) if multi and single and texts else "n/a"
    return claim("d", text, status, details, runs=rows)
