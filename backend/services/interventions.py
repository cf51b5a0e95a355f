"""Measurements that need their own inputs or hooks: the prefix-matching score on fresh
sequences, and the loss and ICL score with heads ablated. Both use the analysis functions and
the run's analysis settings, so with the analysis defaults they reproduce the stored values."""

from __future__ import annotations

import torch

from backend.errors import InputError, UnavailableError
from backend.models import AblationRequest, AblationResponse, PrefixMatchingRequest, PrefixMatchingResponse
from backend.services.convert import floats, scalar
from backend.services.inputs import check_heads, encode, token_strings
from backend.services.probes import TextLimits
from backend.services.store import ArtifactStore
from training.core.science import attribution, head_label, loss, scores


def _settings(store: ArtifactStore, suite: str, run: str) -> tuple:
    inputs = store.inputs(suite, run)
    s = inputs.settings
    try:
        icl = (int(s["icl_late"]), int(s["icl_early"]), int(s["icl_width"]))
        prefix = {
            k: s[k] for k in ("prefix_seed", "prefix_sequences", "prefix_random", "prefix_repeats", "prefix_exclude")
        }
    except (KeyError, TypeError, ValueError) as e:
        raise UnavailableError(f"the stored analysis settings of {suite}/{run} lack a field: {e}") from None
    return inputs, icl, prefix


def prefix_matching(
    store: ArtifactStore, suite: str, run: str, step: str, req: PrefixMatchingRequest
) -> PrefixMatchingResponse:
    """`scores.prefix_matching_scores` on the run's stored prefix-matching sequences, or on
    `scores.prefix_matching_sequences` drawn with another `seed` or count, built with the
    stored settings exactly as the analysis builds its own."""
    snap = store.snapshot(suite, run, step)
    inputs, _, prefix = _settings(store, suite, run)
    seed = prefix["prefix_seed"] if req.seed is None else req.seed
    n_sequences = prefix["prefix_sequences"] if req.n_sequences is None else req.n_sequences
    n_random, n_repeats = prefix["prefix_random"], prefix["prefix_repeats"]
    if seed == prefix["prefix_seed"] and n_sequences == prefix["prefix_sequences"]:
        tokens = inputs.prefix_tokens
    else:
        try:
            tokens = scores.prefix_matching_sequences(
                store.token_counts(suite),
                n_sequences=n_sequences,
                n_random=n_random,
                n_repeats=n_repeats,
                exclude_fraction=prefix["prefix_exclude"],
                bos_token=store.special_tokens(suite)[1],
                seed=seed,
            )
        except ValueError as e:  # e.g. too few token types for the sequences
            raise InputError(f"cannot build prefix-matching sequences for {suite}/{run}: {e}") from None
    # On the plain-torch model, as the trainer and the analysis measure it: the same values.
    with torch.no_grad():
        patterns = snap.plain(tokens, return_patterns=True)[1]
    values = torch.stack([scores.prefix_matching_score(p, n_random=n_random, n_repeats=n_repeats) for p in patterns])
    metrics = store.metrics(suite, run)
    stored = None
    if metrics is not None and snap.step in metrics.steps and "prefix_matching" in metrics.arrays:
        stored = floats(metrics.arrays["prefix_matching"][metrics.steps.index(snap.step)])
    return PrefixMatchingResponse(
        suite=suite,
        run=run,
        step=snap.step,
        seed=seed,
        n_sequences=n_sequences,
        n_random=n_random,
        n_repeats=n_repeats,
        scores=floats(values),
        analysis_seed=prefix["prefix_seed"],
        stored=stored,
    )


def ablation(
    store: ArtifactStore, suite: str, run: str, step: str, req: AblationRequest, limits: TextLimits
) -> AblationResponse:
    """Loss and ICL score with the heads ablated together (`attribution.ablate_heads_loss`),
    against the clean run, on the text or, by default, the run's held-out evaluation contexts."""
    snap = store.snapshot(suite, run, step)
    heads = check_heads(snap, req.heads, max_heads=limits.max_ablation_heads)
    inputs, (late, early, width), _ = _settings(store, suite, run)
    strings = None
    if req.text is None and req.tokens is None:
        tokens, kind = inputs.eval_tokens, "heldout"
    else:
        one = encode(
            store,
            suite,
            snap,
            text=req.text,
            tokens=req.tokens,
            max_chars=limits.max_chars,
            max_tokens=limits.max_tokens,
        )
        tokens, kind = one[None], "text" if req.text is not None else "tokens"
        strings = token_strings(store, suite, one.tolist())
    with snap.lock, torch.no_grad():
        clean = loss.per_token_loss(snap.model, tokens)  # (batch, pos-1)
        ablated = attribution.ablate_heads_loss(snap.model, tokens, heads, mode=req.mode)
    icl_ok = late < clean.shape[-1]  # a short text has no loss at the late index
    clean_icl = loss.icl_score(clean, late=late, early=early, width=width) if icl_ok else None
    ablated_icl = loss.icl_score(ablated, late=late, early=early, width=width) if icl_ok else None
    return AblationResponse(
        suite=suite,
        run=run,
        step=snap.step,
        mode=req.mode,
        heads=[head_label(layer, head) for layer, head in heads],
        input=kind,
        n_sequences=tokens.shape[0],
        clean_loss=scalar(clean.mean()),
        ablated_loss=scalar(ablated.mean()),
        delta_loss=scalar((ablated - clean).mean()),
        icl_late=late,
        icl_early=early,
        icl_width=width,
        clean_icl=None if clean_icl is None else scalar(clean_icl),
        ablated_icl=None if ablated_icl is None else scalar(ablated_icl),
        delta_icl=None if clean_icl is None else scalar(ablated_icl - clean_icl),
        loss_clean=floats(loss.loss_by_position(clean)),
        loss_ablated=floats(loss.loss_by_position(ablated)),
        tokens=strings,
    )
