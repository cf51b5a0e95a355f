"""The JSON the REST service answers with, as the dashboard reads it: one `TypedDict` per
response schema of the service's OpenAPI document, with the schema's name and exactly its fields
(`tests/dashboard/test_api_types.py` checks them against `/openapi.json`).

Plain `TypedDict`s, so the dashboard needs nothing from `backend/` (which imports torch).
Per-head grids are `[layer][head]`; per-token losses are by context index i (the loss of
predicting token i + 1 from tokens 0..i); a value that was not measured is `None`. Fields the
schema marks optional (they have a default) are `NotRequired`: read them with `.get`.
"""

# No `from __future__ import annotations`: TypedDict reads NotRequired from evaluated annotations.
from typing import Any, Literal, NotRequired, TypedDict

Floats = list[float | None]
Grid = list[list[float | None]]  # [layer][head]
Grid4 = list[list[list[list[float | None]]]]  # [layer_from][head_from][layer_to][head_to]
Stage = Literal["live", "full"]  # what was measured at a snapshot: the trainer's live metrics, or everything


class ErrorResponse(TypedDict):
    detail: str
    errors: NotRequired[list[dict[str, Any]] | None]


class HealthResponse(TypedDict):
    status: NotRequired[Literal["ok"]]
    artifacts_dir: str
    suites: int
    runs: int
    cached_snapshots: int


# ---- suites ----------------------------------------------------------------------------------


class SuiteSummary(TypedDict):
    name: str
    runs: list[str]
    analysed: bool


class SuiteList(TypedDict):
    suites: list[SuiteSummary]


class SnapshotInfo(TypedDict):
    step: int
    tokens_seen: int
    train_loss: float | None
    heldout_loss: float | None


class Replicate(TypedDict):
    of: str  # the run this one repeats with another seed (`--seeds`): it is `<of>-seed{index}`
    index: int
    seed: int  # its train.seed


class RunInfo(TypedDict):
    name: str
    description: str
    status: str  # "training", "complete", "unreadable", ...
    model: dict[str, Any]
    train: dict[str, Any]
    analysis: dict[str, Any]
    tokens_per_step: int | None
    snapshots: list[SnapshotInfo]
    analysed_steps: list[int]  # snapshots with the full analysis
    live_steps: list[int]  # snapshots with metrics, live or full
    error: NotRequired[str | None]
    replicate: NotRequired[Replicate | None]  # None: not a seed replicate


class SuiteDetail(TypedDict):
    name: str
    data: dict[str, Any]  # source, tokenizer, vocab_size, token counts, config
    runs: list[RunInfo]


class TrainingStatus(TypedDict):
    run: str
    step: int
    steps: int
    tokens_per_s: float
    elapsed_s: float
    eta_s: float
    updated_s_ago: float
    best_head: str | None  # largest live prefix-matching score
    best_score: float | None


class SuiteStatus(TypedDict):
    suite: str
    training: list[TrainingStatus]  # runs training now
    runs: dict[str, str]  # every run's status: training, complete, interrupted


class PhaseWindow(TypedDict):
    found: bool
    reason: str
    start_step: NotRequired[int | None]
    end_step: NotRequired[int | None]
    icl_fraction: NotRequired[float | None]
    tokens_per_step: NotRequired[int | None]


class PcaRun(TypedDict):
    steps: list[int]
    tokens_seen: list[int]
    coords: list[Floats]  # [snapshot][component]
    phase: PhaseWindow | None


class PcaResponse(TypedDict):
    suite: str
    components: int
    explained_variance: Floats
    n_tokens: int
    runs: dict[str, PcaRun]
    note: str


class Claim(TypedDict):
    id: str
    claim: str
    status: Literal["pass", "fail", "inconclusive", "n/a", "waiting"]
    details: str
    numbers: NotRequired[dict[str, Any]]


class SeedResult(TypedDict):
    run: str
    seed: int
    status: Literal["analysed", "waiting"]
    induction_step: NotRequired[int | None]  # first step the smoothed max prefix-matching score > 0.3
    phase_start: NotRequired[int | None]
    phase_end: NotRequired[int | None]
    peak_prefix_matching: NotRequired[float | None]
    final_icl: NotRequired[float | None]  # mean of the last 5 snapshots
    final_heldout_loss: NotRequired[float | None]
    icl_metric: NotRequired[str | None]


class Spread(TypedDict):
    n: int  # seeds with a value
    mean: NotRequired[float | None]
    min: NotRequired[float | None]
    max: NotRequired[float | None]
    std: NotRequired[float | None]  # with 3+ values


class SeedSpread(TypedDict):
    run: str
    seeds: list[SeedResult]  # the run itself first, then its replicates
    spread: dict[str, Spread]  # by SeedResult field
    icl_metric: NotRequired[str | None]


class ReportResponse(TypedDict):
    suite: str
    generated: str
    passed: int
    failed: int
    waiting: int  # claims whose runs are not trained and analysed yet
    claims: list[Claim]
    runs: dict[str, Any]  # per run: kind, snapshots, peak_prefix_matching, phase
    seeds: NotRequired[dict[str, SeedSpread]]  # runs trained with 2+ seeds
    markdown: str | None


class MetricInfo(TypedDict):
    name: str
    axes: list[str]  # per snapshot: [] scalar, ["layer", "head"] per head, ...
    label: str
    low: float | None  # value range (None: unbounded)
    high: float | None
    meaning: str
    section: str  # where the paper defines it
    stage: Literal["live", "analysis", "ablation"]
    per_head: bool


class MetricRegistry(TypedDict):
    metrics: list[MetricInfo]
    induction_threshold: float


# ---- a run's curves and a snapshot's head table ----------------------------------------------


class TrainLoss(TypedDict):
    steps: list[float]  # a bucket's mean step when downsampled
    values: Floats
    bucket: int


class SnapshotLosses(TypedDict):
    steps: list[int]
    tokens_seen: list[int]
    train_loss: Floats
    heldout_loss: Floats


class Composition(TypedDict):
    q: list[Grid4]  # [snapshot]...
    k: list[Grid4]
    v: list[Grid4]


class BestHeads(TypedDict):
    values: Floats  # per measured snapshot: the largest value over heads
    heads: list[str | None]  # and its head, "L1H0"


class RunProgress(TypedDict):
    run: str
    step: int
    steps: int
    tokens_per_s: float
    elapsed_s: float
    eta_s: float
    updated: float


class RunMetricsResponse(TypedDict):
    suite: str
    run: str
    status: str
    n_layers: int
    n_heads: int
    train_loss: TrainLoss
    snapshots: SnapshotLosses  # every snapshot in the manifest
    analysed: bool  # every measured snapshot has the full analysis
    live: bool  # some measured snapshots have only the live metrics so far
    steps: list[int]  # measured snapshots: the first axis of every list below
    tokens_seen: list[int]
    stages: list[Stage]
    icl_score: Floats  # negative = in-context learning
    icl_wide: NotRequired[Floats]  # on 512 contexts; null where only live metrics are measured
    icl_late: int | None
    icl_early: int | None
    icl_width: int | None
    eval_loss: Floats
    loss_by_position: list[Floats]  # [snapshot][context index]
    head_metrics: dict[str, list[Grid]]  # registry name -> [snapshot][layer][head]
    best_heads: dict[str, BestHeads]
    composition: Composition
    phase: PhaseWindow | None
    progress: RunProgress | None  # while the run trains
    ablations: NotRequired[bool]  # False: the analysis measures no ablations (by choice, not pending)
    source: NotRequired[str]  # "" trained here; "hf-trainer", "revisions", "tl-series", "live": imported/watched


class LLCResponse(TypedDict):
    suite: str
    run: str
    steps: list[int]  # snapshots with an estimate: the first axis of every list below
    tokens_seen: list[int]
    mean: Floats  # the LLC: mean over SGLD chains (None: every chain diverged)
    std: Floats  # over chains
    per_chain: list[Floats]  # [snapshot][chain]
    init_loss: list[float]
    burnin: int
    loss_traces: list[list[Floats]] | None  # [snapshot][chain][SGLD step], with traces=true only
    settings: dict[str, Any]


class HeadScores(TypedDict):
    layer: int
    head: int
    label: str
    scores: dict[str, float | None]  # registry name -> value


class HeadProfile(TypedDict):
    axis: str  # the registry entry's third axis: "period", "offset"
    coords: list[int]  # the values along it (the repeat periods, the offsets k)
    values: list[list[Floats]]  # [layer][head][coordinate]


class HeadTable(TypedDict):
    suite: str
    run: str
    step: int
    tokens_seen: int
    stage: Stage
    icl_score: float | None
    eval_loss: float | None
    heads: list[HeadScores]
    profiles: dict[str, HeadProfile]  # registry name -> a per-head metric along a third axis
    composition_q: Grid4
    composition_k: Grid4
    composition_v: Grid4


class BeforeAfterRun(TypedDict):
    before_step: int
    after_step: int
    loss_change: float | None
    mode: NotRequired[str]  # the ablation compared: "pattern_preserving" (or "mean" in older tables)
    alignment: Grid  # cosine with the reversed before-and-after vector
    projection: NotRequired[Grid | None]  # share of the before-and-after change the head's ablation undoes
    induction_heads: NotRequired[list[list[int]]]  # [[layer, head], ...]
    induction_projection: NotRequired[float | None]  # the same for all induction heads ablated together
    induction_alignment: NotRequired[float | None]
    note: str


class BeforeAfterResponse(TypedDict):
    suite: str
    runs: dict[str, BeforeAfterRun]


# ---- computed on demand ----------------------------------------------------------------------


class TokenPrediction(TypedDict):
    token_id: int
    token: str
    prob: float


class HeadPattern(TypedDict):
    layer: int
    head: int
    label: str
    pattern: list[list[float]] | None  # [query][key], keys 0..query (encoding "json")
    packed: str | None  # encoding "packed": base64 uint16 rows; the client unpacks it into `pattern`


class AttentionResponse(TypedDict):
    suite: str
    run: str
    step: int
    token_ids: list[int]
    tokens: list[str]
    patterns: list[HeadPattern]
    loss: Floats  # by context index: len(tokens) - 1 values
    mean_loss: float | None
    top_predictions: list[list[TokenPrediction]]  # [position]


class LossesResponse(TypedDict):
    suite: str
    run: str
    step: int
    token_ids: list[int]
    tokens: list[str]
    loss: Floats  # by context index
    mean_loss: float | None
    earlier: list[int | None]  # [position]: the latest earlier position of the same token
    repeat_of: list[int | None]  # [context index]: token i + 1 repeats earlier context, copied from there
    baseline_step: NotRequired[int | None]  # when asked for: the other snapshot ...
    baseline_loss: NotRequired[Floats | None]  # ... its per-token loss ...
    loss_change: NotRequired[Floats | None]  # ... and loss minus baseline_loss, per context index
    baseline_mean_loss: NotRequired[float | None]


class PrefixMatchingResponse(TypedDict):
    suite: str
    run: str
    step: int
    seed: int
    n_sequences: int
    n_random: int
    n_repeats: int
    scores: Grid
    analysis_seed: int
    stored: Grid | None


class AblationResponse(TypedDict):
    suite: str
    run: str
    step: int
    mode: Literal["mean", "pattern_preserving"]
    heads: list[str]
    input: Literal["text", "tokens", "heldout"]
    n_sequences: int
    clean_loss: float | None
    ablated_loss: float | None
    delta_loss: float | None
    icl_late: int
    icl_early: int
    icl_width: int
    clean_icl: float | None
    ablated_icl: float | None
    delta_icl: float | None
    loss_clean: Floats  # by context index
    loss_ablated: Floats
    tokens: list[str] | None


class LogitAttributionResponse(TypedDict):
    suite: str
    run: str
    step: int
    token_ids: list[int]
    tokens: list[str]
    logits: Floats
    contributions: list[Grid]  # [position][layer][head]
