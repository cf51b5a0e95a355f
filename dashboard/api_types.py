"""The JSON the REST service answers with, as the dashboard reads it (see `backend/API.md`).

Plain `TypedDict`s, so the dashboard needs nothing from `backend/` (which imports torch).
Per-head grids are `[layer][head]`; per-token losses are by context index i (the loss of
predicting token i + 1 from tokens 0..i); a value that was not measured is `None`.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

Floats = list[float | None]
Grid = list[list[float | None]]  # [layer][head]


class Health(TypedDict):
    status: str
    artifacts_dir: str
    suites: int
    runs: int
    cached_snapshots: int


class SuiteSummary(TypedDict):
    name: str
    runs: list[str]
    analysed: bool


class SnapshotInfo(TypedDict):
    step: int
    tokens_seen: int
    train_loss: float | None
    heldout_loss: float | None


class RunInfo(TypedDict):
    name: str
    description: str
    status: str  # "training", "complete", "unreadable", ...
    model: dict[str, Any]
    train: dict[str, Any]
    analysis: dict[str, Any]
    tokens_per_step: int | None
    snapshots: list[SnapshotInfo]
    analysed_steps: list[int]
    error: str | None


class SuiteDetail(TypedDict):
    name: str
    data: dict[str, Any]  # source, tokenizer, vocab_size, token counts, config
    runs: list[RunInfo]


class PhaseWindow(TypedDict, total=False):
    found: bool
    reason: str
    start_step: int | None
    end_step: int | None
    icl_fraction: float | None
    tokens_per_step: int | None


class TrainLoss(TypedDict):
    steps: list[float]  # a bucket's mean step when downsampled
    values: Floats
    bucket: int


class SnapshotLosses(TypedDict):
    steps: list[int]
    tokens_seen: list[int]
    train_loss: Floats
    heldout_loss: Floats


class Ablations(TypedDict):
    mean_delta_loss: list[Grid]  # [snapshot][layer][head]; None where not ablated
    mean_delta_icl: list[Grid]
    pattern_preserving_delta_loss: list[Grid]
    pattern_preserving_delta_icl: list[Grid]


class RunMetrics(TypedDict):
    suite: str
    run: str
    status: str
    n_layers: int
    n_heads: int
    train_loss: TrainLoss
    snapshots: SnapshotLosses
    analysed: bool
    steps: list[int]  # analysed snapshots: the first axis of every list below
    tokens_seen: list[int]
    icl_score: Floats  # negative = in-context learning
    icl_late: int | None
    icl_early: int | None
    icl_width: int | None
    eval_loss: Floats
    loss_by_position: list[Floats]  # [snapshot][context index]
    prefix_matching: list[Grid]
    previous_token: list[Grid]
    duplicate_token: list[Grid]
    copying: list[Grid]
    eigenvalue_positivity: list[Grid]
    logit_attribution: list[Grid]
    composition: dict[str, list]  # q, k, v: [snapshot][layer_from][head_from][layer_to][head_to]
    ablation: Ablations
    phase: PhaseWindow | None


class HeadScores(TypedDict):
    layer: int
    head: int
    label: str
    prefix_matching: float | None
    previous_token: float | None
    duplicate_token: float | None
    copying: float | None
    eigenvalue_positivity: float | None
    logit_attribution: float | None
    ablation_mean_delta_loss: float | None
    ablation_mean_delta_icl: float | None
    ablation_pattern_preserving_delta_loss: float | None
    ablation_pattern_preserving_delta_icl: float | None


class HeadTable(TypedDict):
    suite: str
    run: str
    step: int
    tokens_seen: int
    icl_score: float | None
    eval_loss: float | None
    heads: list[HeadScores]


class PcaRun(TypedDict):
    steps: list[int]
    tokens_seen: list[int]
    coords: list[Floats]  # [snapshot][component]
    phase: PhaseWindow | None


class Pca(TypedDict):
    suite: str
    components: int
    explained_variance: Floats
    n_tokens: int
    runs: dict[str, PcaRun]
    note: str


class Claim(TypedDict):
    id: str
    claim: str
    status: Literal["pass", "fail", "n/a"]
    details: str
    numbers: dict[str, Any]


class Report(TypedDict):
    suite: str
    generated: str
    passed: int
    failed: int
    claims: list[Claim]
    runs: dict[str, Any]  # per run: kind, snapshots, peak_prefix_matching, phase
    markdown: str | None


class TokenPrediction(TypedDict):
    token_id: int
    token: str
    prob: float


class HeadPattern(TypedDict):
    layer: int
    head: int
    label: str
    pattern: list[list[float]]  # [query][key], keys 0..query


class Attention(TypedDict):
    suite: str
    run: str
    step: int
    token_ids: list[int]
    tokens: list[str]
    patterns: list[HeadPattern]
    loss: Floats  # by context index: len(tokens) - 1 values
    mean_loss: float | None
    top_predictions: list[list[TokenPrediction]]  # [position]


class PrefixMatching(TypedDict):
    suite: str
    run: str
    step: int
    seed: int
    n_sequences: int
    scores: Grid
    stored: Grid | None


class Ablation(TypedDict):
    suite: str
    run: str
    step: int
    mode: Literal["mean", "pattern_preserving"]
    heads: list[str]
    input: Literal["text", "tokens", "heldout"]
    clean_loss: float | None
    ablated_loss: float | None
    delta_loss: float | None
    clean_icl: float | None
    ablated_icl: float | None
    delta_icl: float | None
    loss_clean: Floats  # by context index
    loss_ablated: Floats
    tokens: list[str] | None


class LogitAttribution(TypedDict):
    suite: str
    run: str
    step: int
    token_ids: list[int]
    tokens: list[str]
    logits: Floats
    contributions: list[Grid]  # [position][layer][head]
