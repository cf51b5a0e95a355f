"""A snapshot's per-token losses on a text, with where each token repeats earlier context, and
the suite's stored before-and-after table. The losses run on the snapshot's plain-torch model
(no hooks, so no lock) with the training package's own loss; the table is read, never rebuilt."""

from __future__ import annotations

import torch

from backend.errors import NotFoundError, UnavailableError
from backend.models import BeforeAfterResponse, BeforeAfterRun, LossesRequest, LossesResponse
from backend.services.convert import floats, scalar
from backend.services.inputs import encode, token_strings
from backend.services.probes import TextLimits
from backend.services.store import ArtifactStore
from training.core.science import next_token_loss


def earlier_occurrences(ids: list[int]) -> list[int | None]:
    """Per position: the latest earlier position holding the same token id, or None."""
    last: dict[int, int] = {}
    out = []
    for position, token in enumerate(ids):
        out.append(last.get(token))
        last[token] = position
    return out


def repeated_context(ids: list[int]) -> list[int | None]:
    """Per context index i (predicting token i + 1): the position k + 1 of the latest earlier
    pair (token k, token k + 1) equal to (token i, token i + 1), k < i, or None. Where it is
    set, an induction head attending from i to k + 1 and copying predicts token i + 1."""
    last: dict[tuple[int, int], int] = {}
    out = []
    for i in range(len(ids) - 1):
        pair = (ids[i], ids[i + 1])
        out.append(last.get(pair))
        last[pair] = i + 1
    return out


def token_losses(snap, tokens: torch.Tensor) -> torch.Tensor:
    """(pos-1,) per-token losses of one sequence on the snapshot's plain-torch model."""
    with torch.inference_mode():
        logits = snap.plain(tokens[None])  # (1, pos, d_vocab)
        return next_token_loss(logits.float(), tokens[None])[0]


def losses(
    store: ArtifactStore, suite: str, run: str, step: str, req: LossesRequest, limits: TextLimits
) -> LossesResponse:
    """The loss of every token of the text at one snapshot (context index i: predicting token
    i + 1), and which tokens repeat earlier context."""
    snap = store.snapshot(suite, run, step)
    tokens = encode(
        store, suite, snap, text=req.text, tokens=req.tokens, max_chars=limits.max_chars, max_tokens=limits.max_tokens
    )
    loss = token_losses(snap, tokens)
    baseline = {}
    if req.baseline_step is not None:  # the same text at another snapshot, and the change
        other = store.snapshot(suite, run, str(req.baseline_step))
        before = token_losses(other, tokens)
        baseline = {
            "baseline_step": other.step,
            "baseline_loss": floats(before),
            "loss_change": floats(loss - before),
            "baseline_mean_loss": scalar(before.mean()),
        }
    ids = tokens.tolist()
    return LossesResponse(
        **baseline,
        suite=suite,
        run=run,
        step=snap.step,
        token_ids=ids,
        tokens=token_strings(store, suite, ids),
        loss=floats(loss),
        mean_loss=scalar(loss.mean()),
        earlier=earlier_occurrences(ids),
        repeat_of=repeated_context(ids),
    )


def before_after(store: ArtifactStore, suite: str) -> BeforeAfterResponse:
    """`analysis/before_after.json`: per run with a phase window, the loss change across it and
    each head's ablation (pattern-preserving; mean in older tables) against it, by projection and
    by cosine, and the induction heads' joint ablation."""
    try:
        table = store.analysis(suite, "before_after")
    except NotFoundError:
        raise NotFoundError(
            f"suite {suite!r} has no before-and-after table yet: it is written with the suite's phase and PCA "
            "tables, as soon as the first run has been trained and analysed"
        ) from None
    try:
        runs = {
            run: BeforeAfterRun(
                before_step=r["before_step"],
                after_step=r["after_step"],
                loss_change=None if r.get("loss_change") is None else scalar(r["loss_change"]),
                mode=r.get("mode", "mean"),
                alignment=floats(r["alignment"]),  # NaN (a head whose ablation changes nothing) -> null
                projection=None if r.get("projection") is None else floats(r["projection"]),
                induction_heads=r.get("induction_heads", []),
                induction_projection=None
                if r.get("induction_projection") is None
                else scalar(r["induction_projection"]),
                induction_alignment=None if r.get("induction_alignment") is None else scalar(r["induction_alignment"]),
                note=r.get("note", ""),
            )
            for run, r in table.items()
        }
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise UnavailableError(
            f"{suite}/analysis/before_after.json does not have the expected fields ({e!r})"
        ) from None
    return BeforeAfterResponse(suite=suite, runs=runs)
