"""Measurements that need their own inputs or hooks: the prefix-matching score on fresh
sequences, and the loss and ICL score with heads ablated. Both use the analysis functions and
the run's analysis settings, so with the analysis defaults they reproduce the stored values."""

from __future__ import annotations

import dataclasses

import torch

from backend.errors import InputError, UnavailableError
from backend.models import AblationRequest, AblationResponse, PrefixMatchingRequest, PrefixMatchingResponse
from backend.services.convert import floats, scalar
from backend.services.inputs import check_heads, encode, token_strings
from backend.services.probes import TextLimits
from backend.services.store import ArtifactStore, LoadedSnapshot
from training.analysis import attribution, loss, scores
from training.analyze import analysis_config
from training.config import AnalysisConfig
from training.schema import head_label


def _analysis_config(snap: LoadedSnapshot) -> AnalysisConfig:
    try:
        return analysis_config(snap.manifest)
    except (TypeError, ValueError) as e:  # ConfigError is a ValueError
        raise UnavailableError(
            f"the analysis settings in {snap.manifest.get('suite')}/{snap.run}/manifest.json do not load: {e}"
        ) from None


def _inputs(store: ArtifactStore, suite: str, snap: LoadedSnapshot, cfg: AnalysisConfig):
    try:
        return store.run_inputs(suite, snap, cfg)
    except ValueError as e:  # e.g. too few token types for the prefix-matching sequences
        if isinstance(e, (InputError, UnavailableError)):
            raise
        raise InputError(f"cannot build the analysis inputs for {suite}/{snap.run}: {e}") from None


def prefix_matching(
    store: ArtifactStore, suite: str, run: str, step: str, req: PrefixMatchingRequest
) -> PrefixMatchingResponse:
    """`scores.prefix_matching_scores` on `scores.prefix_matching_sequences` drawn with `seed`,
    built exactly as `training.analyze.run_inputs` builds the analysis's own."""
    snap = store.snapshot(suite, run, step)
    analysis = _analysis_config(snap)
    cfg = dataclasses.replace(
        analysis,
        prefix_seed=analysis.prefix_seed if req.seed is None else req.seed,
        prefix_sequences=analysis.prefix_sequences if req.n_sequences is None else req.n_sequences,
    )
    inputs = _inputs(store, suite, snap, cfg)
    with snap.lock, torch.no_grad():
        values = scores.prefix_matching_scores(
            snap.model, inputs.prefix_tokens, n_random=inputs.prefix_random, n_repeats=cfg.prefix_repeats
        )
    metrics = store.metrics(suite, run)
    stored = None
    if metrics is not None and snap.step in metrics.steps and "prefix_matching" in metrics.arrays:
        stored = floats(metrics.arrays["prefix_matching"][metrics.steps.index(snap.step)])
    return PrefixMatchingResponse(
        suite=suite,
        run=run,
        step=snap.step,
        seed=cfg.prefix_seed,
        n_sequences=cfg.prefix_sequences,
        n_random=inputs.prefix_random,
        n_repeats=cfg.prefix_repeats,
        scores=floats(values),
        analysis_seed=analysis.prefix_seed,
        stored=stored,
    )


def ablation(
    store: ArtifactStore, suite: str, run: str, step: str, req: AblationRequest, limits: TextLimits
) -> AblationResponse:
    """Loss and ICL score with the heads ablated together (`attribution.ablate_heads_loss`),
    against the clean run, on the text or, by default, the run's held-out evaluation contexts."""
    snap = store.snapshot(suite, run, step)
    heads = check_heads(snap, req.heads)
    cfg = _analysis_config(snap)
    inputs = _inputs(store, suite, snap, cfg)
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
    late, early, width = inputs.icl_late, inputs.icl_early, inputs.icl_width
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
