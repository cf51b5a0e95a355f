"""The metric registry: every measurement stored per snapshot, in one table.

Each `Metric` says what it is (name, axes, label, value range, one-line meaning, the paper's
section) and when it is computed: `live` by the trainer at every snapshot (cheap, on the model
in memory), `analysis` by `python -m training analyze`, `ablation` by the analysis at every
`ablation_every`-th snapshot. The trainer and the analysis store exactly the metrics listed
here (`measure`), the service serves and publishes them (labels, ranges and help texts for the
dashboard), and the tests enumerate them. Adding a per-head metric is its function plus one
entry in `METRICS`.

`Probe` is one snapshot under measurement: the training model (`fast`), the inputs, and what
several metrics share (one forward pass over the evaluation contexts gives the loss and the
attention patterns), each computed once and only if a metric asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from training.core.analysis import attribution, circuits, loss, scores, shortcuts
from training.core.model import Transformer, next_token_loss

Stage = Literal["live", "analysis", "ablation"]
PER_HEAD = ("layer", "head")
ICL_CHUNK = 64  # contexts per forward pass of `icl_wide`: only changes speed
# The live ICL score (`icl_live`, measured by the trainer at every snapshot) reads the first this
# many of the wide score's contexts: on the 32 evaluation contexts the live curve zigzagged by
# 0.1-0.15 nats between snapshots, as much as the effect (issue 26); the noise and the cost of
# other counts are in experiments/LOG.md, round 7. A multiple of ICL_CHUNK, so the wide score
# reuses these contexts' values bit for bit. Changing it changes the metric: raise `icl_live`'s
# version with it.
LIVE_ICL_SEQUENCES = 128
INDUCTION_THRESHOLD = scores.INDUCTION_THRESHOLD


@dataclass(frozen=True)
class ProbeInputs:
    """The fixed token sets a run is measured on (the same for every snapshot), and the
    settings that go with them. Built by the analysis from the suite's held-out data and
    stored with the run (`schema.write_analysis_inputs`)."""

    eval_tokens: Tensor  # (eval_sequences, n_ctx) held-out contexts
    prefix_tokens: Tensor  # (prefix_sequences, 1 + prefix_random * prefix_repeats)
    icl_late: int
    icl_early: int
    icl_width: int
    prefix_random: int
    prefix_repeats: int
    composition_baseline_samples: int = 100
    copying_tokens: Tensor | None = None  # the copying score's sample of token types (None: all)
    # (tokens, scored indices) chunks whose losses form the per-token-loss vector (PCA)
    pca_tokens: tuple[tuple[Tensor, Tensor], ...] = ()
    icl_tokens: Tensor | None = None  # (icl_sequences, n_ctx) held-out contexts for `icl_wide`
    # The positional-shortcut controls (`shortcuts`): (period, random tokens repeated with that
    # period) for the prefix-matching score by period, and the offsets k of the attention to q - k
    period_tokens: tuple[tuple[int, Tensor], ...] = ()
    attention_offsets: tuple[int, ...] = ()


class Probe:
    """One snapshot under measurement; shared intermediate results are computed once.

    `fast` is the snapshot in the training model (`training.core.model.Transformer`): the metrics
    that need only logits or attention patterns run on it (2-3x faster than a
    HookedTransformer on a CPU, and what the trainer has in memory). `hooked` is the same
    weights as a HookedTransformer, built on first use, for the metrics that read other
    activations or hook the forward pass.
    """

    def __init__(self, fast: Transformer, inputs: ProbeInputs, hooked=None):
        self.fast, self.inputs, self._hooked = fast.eval(), inputs, hooked
        self.device = next(fast.parameters()).device  # the trainer's model may be on a GPU

    @cached_property
    def eval_tokens(self) -> Tensor:
        return self.inputs.eval_tokens.to(self.device)

    @cached_property
    def hooked(self):
        if self._hooked is None and hasattr(self.fast, "as_hooked"):  # an adapter (training.core.adapters)
            self._hooked = self.fast.as_hooked()
        if self._hooked is None:
            from training.core.hooked import hooked_from_model

            self._hooked = hooked_from_model(self.fast)
        return self._hooked

    @cached_property
    def _eval_run(self) -> tuple[Tensor, list[Tensor]]:
        x = self.eval_tokens
        with torch.no_grad():
            logits, patterns = self.fast(x, return_patterns=True)
        return next_token_loss(logits, x), patterns

    @property
    def per_token(self) -> Float[Tensor, "batch context"]:
        return self._eval_run[0]

    @property
    def eval_patterns(self) -> list[Tensor]:
        return self._eval_run[1]

    @cached_property
    def prefix_patterns(self) -> list[Tensor]:
        with torch.no_grad():
            return self.fast(self.inputs.prefix_tokens.to(self.device), return_patterns=True)[1]

    @cached_property
    def composition(self) -> dict[str, Tensor]:
        return circuits.composition_scores(self.hooked, baseline_samples=self.inputs.composition_baseline_samples)

    def ablation(self, mode: str) -> dict[str, Tensor]:
        cache = self.__dict__.setdefault("_ablations", {})
        if mode not in cache:
            i = self.inputs
            # on the training model where it is one: the same ablations without TransformerLens
            model = self.fast if isinstance(self.fast, Transformer) else self.hooked
            cache[mode] = attribution.head_ablation_effects(
                model,
                i.eval_tokens,
                mode=mode,
                icl_late=i.icl_late,
                icl_early=i.icl_early,
                icl_width=i.icl_width,
            )
        return cache[mode]

    def _icl_of(self, tokens: Tensor) -> Float[Tensor, "example"]:
        """`loss.icl_by_example` of each context in `tokens`, in chunks of ICL_CHUNK,
        unembedding only the indices it reads."""
        i = self.inputs
        late, early = loss.icl_indices(tokens.shape[1] - 1, late=i.icl_late, early=i.icl_early, width=i.icl_width)
        with torch.no_grad():
            losses = torch.cat([self.fast.losses_at(x.to(self.device), late + early) for x in tokens.split(ICL_CHUNK)])
        return losses[:, : len(late)].mean(-1) - losses[:, len(late) :].mean(-1)

    @cached_property
    def icl_live(self) -> Float[Tensor, "example"]:
        """The ICL score of each of the first LIVE_ICL_SEQUENCES `icl_tokens` contexts."""
        return self._icl_of(self.inputs.icl_tokens[:LIVE_ICL_SEQUENCES])

    def reuse(self, kept: dict[str, Tensor]) -> None:
        """Take what metrics already stored for this snapshot hold instead of computing it again:
        the trainer's live ICL score per context (`icl_live_by_example`) is the first
        LIVE_ICL_SEQUENCES contexts of `icl_wide` (the same chunks: the same values)."""
        if "icl_live_by_example" in kept and "icl_live" not in self.__dict__:
            self.__dict__["icl_live"] = kept["icl_live_by_example"].to(self.device)

    @cached_property
    def icl_wide(self) -> Float[Tensor, "example"]:
        """The ICL score of each of the `icl_tokens` contexts; the first LIVE_ICL_SEQUENCES
        reused from `icl_live` where this snapshot measured it (the same chunks: the same values)."""
        tokens = self.inputs.icl_tokens
        head = self.__dict__.get("icl_live")
        if head is None:
            return self._icl_of(tokens)
        rest = tokens[LIVE_ICL_SEQUENCES:]
        return torch.cat([head, self._icl_of(rest)]) if len(rest) else head

    def pca_losses(self) -> Tensor:
        """The losses at the per-token-loss vector's tokens, unembedding only those."""
        with torch.no_grad():
            return torch.cat(
                [self.fast.losses_at(x.to(self.device), idx).flatten() for x, idx in self.inputs.pca_tokens]
            )


@dataclass(frozen=True)
class Metric:
    """One stored measurement. `axes` are per snapshot (the stacked array adds "snapshot")."""

    name: str
    axes: tuple[str, ...]
    label: str
    low: float | None  # value range, for colour scales (None: unbounded)
    high: float | None
    meaning: str
    section: str  # where the paper (or Elhage et al. 2021) defines it
    stage: Stage
    compute: Callable[[Probe], Tensor]
    # The values along the axes after (layer, head) where they are not 0, 1, ... (the periods, the
    # offsets): they depend on the run's inputs, so the analysis stores them with the array.
    coords: Callable[[ProbeInputs], dict[str, list[int]]] | None = None
    # Raised when the metric's definition changes: the analysis measures a stored value of an
    # older version again (`copying` 1 was today's `copying_ov`)
    version: int = 1

    @property
    def per_head(self) -> bool:
        return self.axes == PER_HEAD

    @property
    def along(self) -> str | None:
        """The third axis of a per-head metric measured along one (`period`, `offset`), else None."""
        return self.axes[2] if len(self.axes) == 3 and self.axes[:2] == PER_HEAD else None


def _icl(p: Probe) -> Tensor:
    i = p.inputs
    return torch.tensor(loss.icl_score(p.per_token, late=i.icl_late, early=i.icl_early, width=i.icl_width))


def _per_layer(patterns: list[Tensor], score: Callable[[Tensor], Tensor]) -> Tensor:
    return torch.stack([score(pattern) for pattern in patterns])  # (layer, head)


def _by_period(p: Probe) -> Tensor:
    """`shortcuts.period_prefix_score` of every head at every period: one forward pass per period."""
    n_layers, n_heads = p.fast.cfg.n_layers, p.fast.cfg.n_heads
    columns = []
    for period, tokens in p.inputs.period_tokens:
        patterns = p.fast(tokens.to(p.device), return_patterns=True)[1]
        columns.append(_per_layer(patterns, lambda pat, period=period: shortcuts.period_prefix_score(pat, period)))
    return torch.stack(columns, dim=-1) if columns else torch.zeros(n_layers, n_heads, 0)  # (layer, head, period)


def _ablation(mode: str, key: str) -> Callable[[Probe], Tensor]:
    return lambda p: p.ablation(mode)[key]


PP = "pattern_preserving"
METRICS: tuple[Metric, ...] = (
    Metric("eval_loss", (), "held-out loss", 0.0, None,
           "mean next-token loss on the held-out evaluation contexts (nats)",
           "Model analysis table", "live", lambda p: p.per_token.mean()),
    Metric("icl_score", (), "ICL score", None, None,
           "loss at a late context index minus at an early one; negative = the model learns in context",
           "In-context learning, key concepts", "live", _icl),
    Metric("icl_by_example", ("example",), "ICL score per context", None, None,
           "the ICL score of each held-out evaluation context: what its confidence interval resamples",
           "In-context learning, key concepts", "live",
           lambda p: loss.icl_by_example(p.per_token, late=p.inputs.icl_late, early=p.inputs.icl_early,
                                         width=p.inputs.icl_width)),
    Metric("icl_live", (), "ICL score (live)", None, None,
           f"the ICL score on the first {LIVE_ICL_SEQUENCES} of the wide score's held-out contexts: measured by the "
           "trainer at every snapshot, the one drawn and read for the phase window while a run trains",
           "In-context learning, key concepts", "live", lambda p: p.icl_live.mean()),
    Metric("icl_live_by_example", ("icl_live_example",), "ICL score per context (live)", None, None,
           "the live ICL score of each of its held-out contexts: what its interval is computed from",
           "In-context learning, key concepts", "live", lambda p: p.icl_live),
    Metric("icl_wide", (), "ICL score (wide)", None, None,
           "the ICL score on many more held-out contexts (512 by default): the one the claims read",
           "In-context learning, key concepts", "analysis", lambda p: p.icl_wide.mean()),
    Metric("icl_wide_by_example", ("icl_example",), "ICL score per context (wide)", None, None,
           "the wide ICL score of each of its held-out contexts: what its confidence interval resamples",
           "In-context learning, key concepts", "analysis", lambda p: p.icl_wide),
    Metric("loss_by_position", ("context_index",), "loss by position", 0.0, None,
           "mean held-out loss at each context index i (predicting token i+1 from tokens 0..i)",
           "Argument 1, loss by token index", "live", lambda p: loss.loss_by_position(p.per_token)),
    Metric("prefix_matching", PER_HEAD, "prefix matching", 0.0, 1.0,
           "attention from a repeated random token to the token that followed its earlier copies",
           "Model analysis table, prefix matching", "live",
           lambda p: _per_layer(p.prefix_patterns, lambda pat: scores.prefix_matching_score(
               pat, n_random=p.inputs.prefix_random, n_repeats=p.inputs.prefix_repeats))),
    Metric("previous_token", PER_HEAD, "previous token", 0.0, 1.0,
           "attention from each held-out token to the one just before it",
           "Key concepts, previous-token heads", "live",
           lambda p: _per_layer(p.eval_patterns, scores.previous_token_score)),
    Metric("duplicate_token", PER_HEAD, "duplicate token", 0.0, 1.0,
           "attention from a held-out token to earlier copies of the same token",
           "Model analysis table, duplicate heads", "live",
           lambda p: _per_layer(p.eval_patterns, lambda pat: scores.duplicate_token_score(pat, p.eval_tokens))),
    Metric("copying", PER_HEAD, "copying", -1.0, 1.0,
           "2s − 1, s the share of repeated random tokens at which the head's output raises the logit of the "
           "token it attends to above the mean logit: +1 always copies, 0 unrelated, −1 always suppresses",
           "Key concepts and Model analysis table, copying", "analysis",
           lambda p: attribution.copying_on_repeats(p.hooked, p.inputs.prefix_tokens,
                                                    first_query=1 + p.inputs.prefix_random),
           version=2),
    Metric("copying_ov", PER_HEAD, "copying (OV weights)", -1.0, 1.0,
           "the head's full OV circuit on 50 random token types, each scored among the 50 (mean-centred, ReLU, "
           "share of the boost on the token itself, as 2r − 1): a weights-only reading, on a harsher scale",
           "Model analysis table, copying (our reading from the weights)", "analysis",
           lambda p: circuits.copying_score(p.hooked, tokens=p.inputs.copying_tokens)),
    Metric("eigenvalue_positivity", PER_HEAD, "OV eigenvalue positivity", -1.0, 1.0,
           "sum of the full OV circuit's eigenvalues over the sum of their magnitudes; +1 = pure copying",
           "Model analysis table, copying (eigenvalues)", "analysis",
           lambda p: circuits.ov_eigenvalue_positivity(p.hooked)),
    Metric("logit_attribution", PER_HEAD, "direct logit attribution", None, None,
           "the head's direct contribution to the correct next token's logit minus the mean logit, on held-out text",
           "Argument 4, direct logit attribution", "analysis",
           lambda p: attribution.direct_logit_attribution(p.hooked, p.inputs.eval_tokens)),
    Metric("prefix_by_period", (*PER_HEAD, "period"), "prefix matching by repeat period", 0.0, 1.0,
           "prefix-matching score on random tokens repeated with period P (attention to q−P+1 and the keys after "
           "earlier copies): an induction head is high at every period, a positional shortcut peaks at one",
           "Model analysis table, prefix matching (swept over the repeat period)", "analysis", _by_period,
           coords=lambda i: {"period": [period for period, _ in i.period_tokens]}),
    Metric("offset_attention", (*PER_HEAD, "offset"), "attention to a fixed offset", 0.0, 1.0,
           "mean attention from each held-out token q to the token k positions back (q−k), for fixed offsets k: "
           "a head that attends by position peaks at its offset whatever the text",
           "Argument 2, smeared keys (our control for a positional shortcut)", "analysis",
           lambda p: _per_layer(p.eval_patterns, lambda pat: shortcuts.offset_attention(pat, p.inputs.attention_offsets)),
           coords=lambda i: {"offset": list(i.attention_offsets)}),
    *(
        Metric(f"composition_{m}", ("layer_from", "head_from", "layer_to", "head_to"),
               f"{m.upper()}-composition", None, None,
               f"how much a later head's W_{m.upper()} reads an earlier head's output, minus a random baseline",
               "Elhage et al. 2021, composition scores", "analysis",
               lambda p, m=m: p.composition[m])
        for m in "qkv"
    ),
    Metric("qk_match", ("layer_from", "head_from", "layer_to", "head_to"), "K-composition match sign", -1.0, 1.0,
           "eigenvalue positivity of a later head's QK circuit from its query token to the token an earlier head "
           "moved: +1 = attends where they match (an induction head reading a previous-token head)",
           "Induction heads' QK circuit (eigenvalues of the K-composition term)", "analysis",
           lambda p: circuits.qk_match_positivity(p.hooked)),
    Metric("per_token_loss", ("token",), "per-token loss", 0.0, None,
           "losses on a fixed set of held-out tokens: the vector whose trajectory the joint PCA draws",
           "Argument 1, per-token loss analysis", "analysis", lambda p: p.pca_losses()),
    *(
        Metric(f"ablation_{tag}_delta_{what}", PER_HEAD, f"{label} ablation: Δ {what.replace('icl', 'ICL')}",
               None, None,
               f"change in held-out {'ICL score' if what == 'icl' else 'loss'} when the head is removed "
               f"({'its output replaced by its mean' if tag == 'mean' else 'attention patterns frozen to clean'})",
               "Argument 5, ablations" if tag == "pp" else "Argument 5, ablations (full)", "ablation",
               _ablation(mode, f"delta_{what}"))
        for mode, tag, label in (("mean", "mean", "mean"), (PP, "pp", "pattern-preserving"))
        for what in ("loss", "icl")
    ),
)  # fmt: skip
REGISTRY: dict[str, Metric] = {m.name: m for m in METRICS}
LIVE = tuple(m.name for m in METRICS if m.stage == "live")


def measure(probe: Probe, stages: Iterable[Stage], *, ablate: bool = True, skip: Iterable[str] = ()) -> dict:
    """Every registered metric of the given stages, as float32 CPU tensors. With `ablate` False
    the ablation metrics are NaN-filled (not measured at this snapshot); `skip` leaves metrics
    out (already measured)."""
    stages, skip = set(stages), set(skip)
    n_layers, n_heads = probe.fast.cfg.n_layers, probe.fast.cfg.n_heads
    out = {}
    with torch.no_grad():
        for metric in METRICS:
            if metric.stage not in stages or metric.name in skip:
                continue
            if metric.stage == "ablation" and not ablate:
                out[metric.name] = torch.full((n_layers, n_heads), float("nan"))
            else:
                out[metric.name] = metric.compute(probe)
    return {k: torch.as_tensor(v).detach().float().cpu() for k, v in out.items()}


def coordinates(inputs: ProbeInputs) -> dict[str, dict[str, list[int]]]:
    """Every registered metric's stored coordinates on these inputs: name -> {axis: values}."""
    return {m.name: m.coords(inputs) for m in METRICS if m.coords is not None}


def versions() -> dict[str, int]:
    """The registered metrics whose definition has changed since they were first stored: name -> version."""
    return {m.name: m.version for m in METRICS if m.version != 1}


def best_heads(grids: np.ndarray) -> tuple[list[float | None], list[list[int] | None]]:
    """Per snapshot, the largest value over heads of a `[snapshot layer head]` stack and the
    (layer, head) that has it; None where a snapshot's grid is all NaN (not measured)."""
    values, heads = [], []
    for grid in np.asarray(grids, dtype=np.float64):
        if np.all(np.isnan(grid)):
            values.append(None)
            heads.append(None)
            continue
        layer, head = np.unravel_index(np.nanargmax(grid), grid.shape)
        values.append(float(grid[layer, head]))
        heads.append([int(layer), int(head)])
    return values, heads


def describe() -> list[dict]:
    """The registry as plain data (what the service publishes)."""
    return [
        {
            "name": m.name,
            "axes": list(m.axes),
            "label": m.label,
            "low": m.low,
            "high": m.high,
            "meaning": m.meaning,
            "section": m.section,
            "stage": m.stage,
            "per_head": m.per_head,
        }
        for m in METRICS
    ]
