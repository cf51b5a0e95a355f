"""Response models of the routes that serve stored artifacts: suites, curves, head tables, PCA,
the claims report, and the error body every route shares."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from typing_extensions import TypeAliasType

from training.core.science import Claim, PhaseEnd, PhaseWindow, Replicate, RunProgress, SeedSpread

# Named aliases: each is one schema of `/openapi.json` (`#/components/schemas/Grid`), so the
# generated client types keep the name and the axes instead of a bare nesting of lists.
Floats = TypeAliasType(
    "Floats", Annotated[list[float | None], Field(description="one value per index; null: not measured")]
)
Grid = TypeAliasType("Grid", Annotated[list[list[float | None]], Field(description="[layer][head]")])
Grid4 = TypeAliasType(
    "Grid4",
    Annotated[list[list[list[list[float | None]]]], Field(description="[layer_from][head_from][layer_to][head_to]")],
)


class ErrorResponse(BaseModel):
    detail: str = Field(description="what went wrong, naming the suite, run, step, field or file")
    errors: list[dict[str, Any]] | None = Field(None, description="per-field validation errors (422 only)")


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    artifacts_dir: str
    suites: int
    runs: int
    cached_snapshots: int


# ---- suites ----------------------------------------------------------------------------------


class SuiteSummary(BaseModel):
    name: str
    runs: list[str]
    analysed: bool = Field(description="the suite-level analysis tables (phase, PCA) exist")


class SuiteList(BaseModel):
    suites: list[SuiteSummary]


class SnapshotInfo(BaseModel):
    step: int
    tokens_seen: int
    train_loss: float | None = Field(description="mean training loss of the 20 steps before the snapshot")
    heldout_loss: float | None


class RunInfo(BaseModel):
    name: str
    description: str
    status: str = Field(description="training, complete, ...")
    model: dict[str, Any]
    train: dict[str, Any]
    analysis: dict[str, Any]
    tokens_per_step: int | None
    snapshots: list[SnapshotInfo]
    analysed_steps: list[int] = Field(description="snapshots with the full analysis")
    live_steps: list[int] = Field(description="snapshots with metrics, live or analysed")
    error: str | None = Field(None, description="why the run's files cannot be read (status 'unreadable')")
    replicate: Replicate | None = Field(
        None, description="a seed replicate (`--seeds`): the run it repeats, and its train.seed"
    )


class SuiteDetail(BaseModel):
    name: str
    data: dict[str, Any] = Field(description="data source and token counts (document lists left out)")
    runs: list[RunInfo]


class TrainingStatus(BaseModel):
    """A run that is training now: where it is, how fast, and its best head so far."""

    run: str
    step: int
    steps: int
    tokens_per_s: float
    elapsed_s: float
    eta_s: float = Field(description="seconds left at the recent rate (to `steps`: under the plateau rule, at most)")
    stop: Literal["steps", "plateau"] = Field(
        default="steps",
        description="when the run stops training: after train.steps (steps), or when its phase change is over, "
        "train.steps being the cap (plateau)",
    )
    updated_s_ago: float = Field(description="seconds since the trainer last wrote its progress")
    best_head: str | None = Field(description="the head with the largest live prefix-matching score")
    best_score: float | None


class SuiteStatus(BaseModel):
    suite: str
    training: list[TrainingStatus] = Field(description="runs training now (progress written in the last minute)")
    runs: dict[str, str] = Field(description="every run's status: training, complete, ...")


class PcaRun(BaseModel):
    steps: list[int]
    tokens_seen: list[int]
    coords: list[Floats] = Field(description="[snapshot][component]")
    phase: PhaseWindow | None


class PcaResponse(BaseModel):
    suite: str
    components: int
    explained_variance: Floats
    n_tokens: int
    runs: dict[str, PcaRun]
    note: str


class ReportResponse(BaseModel):
    suite: str
    generated: str
    passed: int
    failed: int
    waiting: int = Field(description="claims whose runs are not trained and analysed yet")
    claims: list[Claim]
    runs: dict[str, Any]
    seeds: dict[str, SeedSpread] = Field(
        default_factory=dict,
        description="per run trained with 2+ seeds (`--seeds`): each seed's numbers and their spread",
    )
    markdown: str | None = Field(description="the report in Markdown, as `python -m training report` prints it")


class MetricInfo(BaseModel):
    """One entry of the metric registry (`training.core.analysis.registry`)."""

    name: str
    axes: list[str] = Field(description="per snapshot: [] scalar, [layer, head] per head, ...")
    label: str
    low: float | None = Field(description="lower end of the value range (null: unbounded)")
    high: float | None
    meaning: str
    section: str = Field(description="where Olsson et al. 2022 (or Elhage et al. 2021) define it")
    stage: Literal["live", "analysis", "ablation"] = Field(
        description="live: measured by the trainer at every snapshot; analysis/ablation: by the analysis"
    )
    per_head: bool


class MetricRegistry(BaseModel):
    metrics: list[MetricInfo]
    induction_threshold: float = Field(description="prefix-matching score above which a head is an induction head")


# ---- a run's curves and a snapshot's head table ----------------------------------------------


class TrainLoss(BaseModel):
    steps: list[float] = Field(description="step of each point (a bucket's mean step when downsampled)")
    values: Floats
    bucket: int = Field(description="training steps averaged into each point (1: full resolution)")


class SnapshotLosses(BaseModel):
    steps: list[int]
    tokens_seen: list[int]
    train_loss: Floats
    heldout_loss: Floats


class Composition(BaseModel):
    q: list[Grid4]
    k: list[Grid4]
    v: list[Grid4]


class BestHeads(BaseModel):
    """Per measured snapshot, the largest value of a per-head metric over heads and its head."""

    values: Floats
    heads: list[str | None]


class IclCurve(BaseModel):
    """The ICL curve a run is drawn with, and its 95% interval: the score on the most held-out
    contexts that every measured snapshot has (the one its phase window reads)."""

    metric: Literal["icl_wide", "icl_live", "icl_score"] = Field(
        description="icl_wide (the full analysis) once every snapshot has it; icl_live (the trainer's, at every "
        "snapshot) while the run trains; icl_score (the evaluation contexts) for runs measured before icl_live existed"
    )
    contexts: int | None = Field(description="held-out contexts the score is the mean over")
    label: str = Field(description="which score this is, in words, for the page to say what it draws")
    values: Floats = Field(description="per measured snapshot (the response's steps)")
    low: Floats = Field(description="95% interval of the mean over contexts (mean -+ 1.96 standard errors)")
    high: Floats


class HeadFormed(BaseModel):
    """The first measured snapshot at which the run's best head passes the induction threshold."""

    step: int
    tokens_seen: int
    layer: int
    head: int
    label: str = Field(description="the head as named on screen, L1H3")
    score: float = Field(description="its prefix-matching score at that snapshot")
    threshold: float


class RunMetricsResponse(BaseModel):
    suite: str
    run: str
    status: str
    n_layers: int
    n_heads: int
    train_loss: TrainLoss
    snapshots: SnapshotLosses = Field(description="every snapshot in the manifest")
    analysed: bool = Field(description="every measured snapshot has the full analysis")
    live: bool = Field(description="some measured snapshots have only the trainer's live metrics so far")
    steps: list[int] = Field(description="measured snapshots: the first axis of every list below")
    tokens_seen: list[int]
    stages: list[Literal["live", "full"]] = Field(
        description="per measured snapshot: live (the registry's live metrics only; others are null) or full"
    )
    icl_score: Floats = Field(
        description="loss at context index icl_late minus at icl_early (each averaged over ±icl_width indices); "
        "negative = in-context learning"
    )
    icl_wide: Floats = Field(
        default_factory=list,
        description="the same score on 512 other held-out contexts (null where only the live metrics are "
        "measured; empty for runs analysed before it existed): the one the claims and the phase window read",
    )
    icl_live: Floats = Field(
        default_factory=list,
        description="the same score on the first of those contexts (as many as `icl.contexts` says while it is "
        "drawn), measured by the trainer at every snapshot (empty for runs measured before it existed): the one "
        "drawn and read for the phase window while a run trains",
    )
    icl: IclCurve | None = Field(None, description="the ICL curve to draw, with its interval; None before any metrics")
    formed: HeadFormed | None = Field(
        None, description="where the best head first passes the induction threshold (raw max prefix-matching score)"
    )
    icl_late: int | None
    icl_early: int | None
    icl_width: int | None
    eval_loss: Floats
    loss_by_position: list[Floats] = Field(description="[snapshot][context index]")
    head_metrics: dict[str, list[Grid]] = Field(
        description="every per-head metric of the registry (GET /registry) that is stored: name -> [snapshot][layer][head]"
    )
    best_heads: dict[str, BestHeads] = Field(description="per per-head metric: its maximum over heads per snapshot")
    composition: Composition
    phase: PhaseWindow | None = Field(
        description="the phase-change window: from the suite's stored phase windows, or detected on the live curves while training"
    )
    progress: RunProgress | None = Field(description="the trainer's progress, while the run trains")
    stop: Literal["steps", "plateau"] = Field(
        default="steps",
        description="when the run stops training: after train.steps (steps), or when its phase change is over, "
        "train.steps being the cap (plateau)",
    )
    phase_end: PhaseEnd | None = Field(
        default=None,
        description="where the plateau rule ended training: finished, or unfinished at its cap (and how far its "
        "max prefix-matching score still rose); None for a fixed budget, or while the run trains",
    )
    ablations: bool = Field(
        default=True,
        description="whether the run's analysis measures the ablation metrics (off by default for imported "
        "models above 5 M parameters: `analysis.ablations`); false: their grids are null by choice, not pending",
    )
    source: str = Field(default="", description="where the run came from: '' (trained here), or an import/watcher kind")


class HeadProfile(BaseModel):
    """One head-by-head metric measured along a third axis at one snapshot: the period sweep of
    the prefix-matching score, the attention to fixed offsets."""

    axis: str = Field(description="the third axis of the registry entry: period, offset")
    coords: list[int] = Field(description="the values along it, as the analysis measured them (periods, offsets)")
    values: list[list[Floats]] = Field(description="[layer][head][coordinate]; null where not measured")


class HeadTable(BaseModel):
    suite: str
    run: str
    step: int
    tokens_seen: int
    stage: Literal["live", "full"]
    icl_score: float | None
    eval_loss: float | None
    scores: dict[str, Grid] = Field(
        description="every per-head metric of the registry stored at this step: name -> [layer][head], the "
        "shape it is stored in (a head is `L{layer}H{head}` on screen)"
    )
    profiles: dict[str, HeadProfile] = Field(
        description="every registry metric with axes (layer, head, X) stored for the run: name -> its values at "
        "this step along X (null at a snapshot with the live metrics only)"
    )
    composition_q: Grid4
    composition_k: Grid4
    composition_v: Grid4


# ---- the local learning coefficient over training ---------------------------------------------


class LLCResponse(BaseModel):
    """A run's local learning coefficient at the snapshots it was estimated at (`metrics/llc.json`,
    written by the analysis; Lau et al. 2023, over training as in Hoogland et al. 2024)."""

    suite: str
    run: str
    steps: list[int] = Field(description="snapshots with an estimate: the first axis of every list below")
    tokens_seen: list[int]
    mean: Floats = Field(description="the LLC estimate: mean over SGLD chains (null: every chain diverged)")
    std: Floats = Field(description="standard deviation over chains: the sampler's spread, not the data's")
    per_chain: list[Floats] = Field(description="[snapshot][chain] (null: the chain diverged)")
    init_loss: list[float] = Field(description="L_n(w*): each snapshot's loss on the batches the chains cycle through")
    burnin: int = Field(description="the first SGLD steps of each chain, left out of the estimate")
    loss_traces: list[list[Floats]] | None = Field(
        description="with traces=true: [snapshot][chain][SGLD step], each step's batch loss, burn-in first "
        "(a trace that is flat after the burn-in: the chain has mixed); else null"
    )
    settings: dict[str, Any] = Field(description="the LLC settings (SGLD epsilon, gamma, nbeta, chains, draws, ...)")
