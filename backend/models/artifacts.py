"""Response models of the routes that serve stored artifacts: suites, curves, head tables, PCA,
the claims report, and the error body every route shares."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Floats = list[float | None]
Grid = list[list[float | None]]  # [layer][head]
Grid4 = list[list[list[list[float | None]]]]  # [layer_from][head_from][layer_to][head_to]


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
    analysed_steps: list[int]
    error: str | None = Field(None, description="why the run's files cannot be read (status 'unreadable')")


class SuiteDetail(BaseModel):
    name: str
    data: dict[str, Any] = Field(description="data source and token counts (document lists left out)")
    runs: list[RunInfo]


class PhaseWindow(BaseModel):
    found: bool
    reason: str
    start_step: int | None = None
    end_step: int | None = None
    icl_fraction: float | None = None
    tokens_per_step: int | None = None


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


class Claim(BaseModel):
    id: str
    claim: str
    status: Literal["pass", "fail", "n/a"]
    details: str
    numbers: dict[str, Any]


class ReportResponse(BaseModel):
    suite: str
    generated: str
    passed: int
    failed: int
    claims: list[Claim]
    runs: dict[str, Any]
    markdown: str | None = Field(description="report.md, as `python -m training report` prints it")


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


class Ablations(BaseModel):
    mean_delta_loss: list[Grid]
    mean_delta_icl: list[Grid]
    pattern_preserving_delta_loss: list[Grid]
    pattern_preserving_delta_icl: list[Grid]


class RunMetricsResponse(BaseModel):
    suite: str
    run: str
    status: str
    n_layers: int
    n_heads: int
    train_loss: TrainLoss
    snapshots: SnapshotLosses = Field(description="every snapshot in the manifest")
    analysed: bool = Field(
        description="False until `python -m training analyze` has run; the lists below are then empty"
    )
    steps: list[int] = Field(description="analysed snapshots: the first axis of every list below")
    tokens_seen: list[int]
    icl_score: Floats = Field(
        description="loss at context index icl_late minus at icl_early (each averaged over ±icl_width indices); negative = in-context learning"
    )
    icl_late: int | None
    icl_early: int | None
    icl_width: int | None
    eval_loss: Floats
    loss_by_position: list[Floats] = Field(description="[snapshot][context index]")
    prefix_matching: list[Grid]
    previous_token: list[Grid]
    duplicate_token: list[Grid]
    copying: list[Grid]
    eigenvalue_positivity: list[Grid]
    logit_attribution: list[Grid]
    composition: Composition
    ablation: Ablations
    phase: PhaseWindow | None = Field(description="the detected phase-change window, from analysis/phase.json")


class HeadScores(BaseModel):
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


class HeadTable(BaseModel):
    suite: str
    run: str
    step: int
    tokens_seen: int
    icl_score: float | None
    eval_loss: float | None
    heads: list[HeadScores]
    composition_q: Grid4
    composition_k: Grid4
    composition_v: Grid4
