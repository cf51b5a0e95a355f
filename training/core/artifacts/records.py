"""Typed records of the artifact files: one frozen dataclass per JSON file the suite holds.

`schema` writes and reads every file through these: a writer builds the record and stores
`to_json(record)`, a reader gets it back with `from_json(Record, data, where)`, which checks every
field's type and names the file and the field when one is missing or wrong. The REST service
reads the same records, so a field is defined once, here.

    <run>/manifest.json            Manifest (its `snapshots`: SnapshotEntry; `replicate`: Replicate; `phase_end`: PhaseEnd)
    <run>/progress.json            RunProgress (while a run trains)
    <run>/metrics/index.json       MetricsIndex (its `arrays`: ArrayInfo)
    <run>/metrics/llc.json         LLCCurve (its `points`: LLCPoint)
    <suite>/analysis/phase.json    {run: PhaseWindow}
    <suite>/analysis/report.json   Report (its `claims`: Claim; `seeds`: SeedSpread of SeedResult, Spread)
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

SCHEMA_VERSION = 1


class RecordError(ValueError):
    """A JSON value that does not fit its record; the message names the file and the field."""


# ---- the records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotEntry:
    """One snapshot of a run, as listed in its manifest."""

    step: int
    tokens_seen: int
    train_loss: float | None  # mean training loss of the 20 steps before the snapshot
    heldout_loss: float | None  # on the trainer's held-out batch
    wall_time_s: float  # training time up to the snapshot
    file: str  # step_<NNNNNNN>.safetensors in the run's snapshots/ folder
    sha256: str  # of that file


@dataclass(frozen=True)
class Replicate:
    """A seed replicate (`--seeds`): run `of` trained again, named `<of>-seed{index}`, with
    train.seed `seed` (`of`'s seed + `index`); the same in everything else."""

    of: str
    index: int
    seed: int


@dataclass(frozen=True)
class Manifest:
    """A run: its configs, where its data came from, and its snapshots (written last)."""

    suite: str
    run: str
    status: Literal["training", "complete"]
    model: dict[str, Any]  # ModelConfig fields
    train: dict[str, Any]  # TrainConfig fields
    analysis: dict[str, Any]  # AnalysisConfig fields: the settings `analyze` and the live metrics use
    tokens_per_step: int
    snapshots: list[SnapshotEntry]
    description: str = ""
    preset: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    llc: dict[str, Any] = field(default_factory=dict)  # LLCConfig fields: the LLC's settings ({}: older runs)
    code_version: str = "unknown"
    torch_version: str = ""
    device: str = "cpu"  # where it trained: "cpu", "cuda:0" (rank 0's device in a torchrun launch)
    precision: str = "fp32"  # the training step's arithmetic: "fp32", "tf32" or "bf16" (autocast)
    processes: int = 1  # data-parallel processes (torchrun); train.batch_size is their global batch
    snapshot_steps: list[int] = field(default_factory=list)
    train_time_s: float | None = None
    schema_version: int = SCHEMA_VERSION
    # Seeds (`--seeds`): how many seeds of this run the suite plans, itself and its replicates
    # `<run>-seed{k}` included; on a replicate, the run it repeats (and `seeds` is 1).
    seeds: int = 1
    replicate: Replicate | None = None
    # Where training stopped by the plateau rule (`train.stop = "plateau"`): finished, or cut by
    # its cap while the phase change went on (None: trained for a fixed number of steps).
    phase_end: PhaseEnd | None = None

    def entry(self, step: int) -> SnapshotEntry | None:
        return next((s for s in self.snapshots if s.step == step), None)


@dataclass(frozen=True)
class RunProgress:
    """A training run's progress, rewritten every few seconds while it trains."""

    run: str
    step: int
    steps: int
    tokens_per_s: float
    elapsed_s: float
    eta_s: float
    updated: float  # time.time() of the write: a stale file means the trainer stopped


@dataclass(frozen=True)
class ArrayInfo:
    """One stacked metric array of a run (`metrics/<file>`, first axis = the index's steps).

    `coords` gives the values along an axis where they are not 0, 1, ... (`period`: the repeat
    periods, `offset`: the offsets k), as the analysis measured them."""

    file: str
    shape: list[int]
    axes: list[str]
    coords: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricsIndex:
    """A run's stacked metrics: which snapshots, measured how, in which arrays (written last).

    `stages[i]` says what was measured at `steps[i]`: "live" (the trainer's live metrics only;
    the other arrays hold NaN there) or "full" (the whole analysis)."""

    run: str
    steps: list[int]
    tokens_seen: list[int]
    stages: list[Literal["live", "full"]]
    settings: dict[str, Any]  # resolved analysis settings (icl indices, prefix lengths, hash)
    arrays: dict[str, ArrayInfo]
    scalars: dict[str, list[Any]]  # icl_score, eval_loss, heldout_loss, train_loss, ...

    @property
    def complete(self) -> bool:
        return all(s == "full" for s in self.stages)


@dataclass(frozen=True)
class PhaseWindow:
    """Where the phase change happens, or why none was found (`found` False, `reason`).

    `start_step`/`end_step` bound the rise of the max prefix-matching score; they are set even
    when `found` is False because the ICL score does not follow it. `icl_fraction` is the share
    of the ICL score's range that it falls within the window widened by one snapshot.
    """

    found: bool
    reason: str
    start_step: int | None = None
    end_step: int | None = None
    icl_fraction: float | None = None
    tokens_per_step: int | None = None


@dataclass(frozen=True)
class PhaseEnd:
    """Whether a run's phase change was over when its training stopped (`train.stop = "plateau"`:
    `training.core.analysis.trajectory.phase_over` at each snapshot, on the live curves).

    `finished` False: the run reached its step cap (`train.steps`) with the phase change still
    under way; `final_rise` says how far its smoothed max prefix-matching score still rose over
    its last `stretch_steps` steps. The claims that read such a run are not judged on it."""

    finished: bool
    step: int  # the step it was judged at: the run's last
    reason: str
    cap: int  # the run's step cap (train.steps)
    start_step: int | None = None  # the prefix-matching rise (the phase window), if one was found
    end_step: int | None = None
    final_rise: float | None = None  # smoothed max prefix matching: last value minus the stretch's first
    stretch_steps: int | None = None  # the final stretch `final_rise` is measured over


ClaimStatus = Literal["pass", "fail", "inconclusive", "n/a", "waiting"]


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims tested on the suite: its status and the numbers it rests on.

    "waiting": a run the claim needs is not trained and analysed yet (`details` names it);
    "inconclusive": the data cannot decide it (an interval straddles the threshold)."""

    id: str
    claim: str
    status: ClaimStatus
    details: str
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedResult:
    """One seed of a run trained with several (`--seeds`), as the report's Seeds section gives
    it: None where the run has not reached it (no score above 0.3, no phase window) or is
    "waiting" (planned, training, or not analysed yet)."""

    run: str
    seed: int  # its train.seed
    status: Literal["analysed", "waiting"]
    induction_step: int | None = None  # first step the smoothed max prefix-matching score exceeds 0.3
    phase_start: int | None = None  # the phase window's steps (analysis/phase.json)
    phase_end: int | None = None
    peak_prefix_matching: float | None = None  # the highest score of any head at any snapshot
    final_icl: float | None = None  # the claims' ICL metric, mean of the last 5 snapshots
    final_heldout_loss: float | None = None  # nats, at the last snapshot
    icl_metric: str | None = None  # which ICL metric: "icl_wide" where stored, else "icl_score"


@dataclass(frozen=True)
class Spread:
    """One number over the analysed seeds of a run that has a value for it (`n` of them)."""

    n: int
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    std: float | None = None  # sample standard deviation (n - 1 in the denominator), with 3+ values


@dataclass(frozen=True)
class SeedSpread:
    """A run trained with several seeds: each seed's numbers and their spread, by field name of
    `SeedResult` (`icl_metric`: the seeds' common ICL metric; None if they differ, and then
    `final_icl` has no spread)."""

    run: str
    seeds: list[SeedResult]
    spread: dict[str, Spread]
    icl_metric: str | None = None


@dataclass(frozen=True)
class Report:
    suite: str
    generated: str
    passed: int
    failed: int
    claims: list[Claim]
    runs: dict[str, Any]
    waiting: int = 0
    seeds: dict[str, SeedSpread] = field(default_factory=dict)  # runs trained with 2+ seeds


@dataclass(frozen=True)
class LLCPoint:
    """The local learning coefficient of one snapshot (`training.core.analysis.llc`): the mean and
    spread over SGLD chains, and each chain's loss at every SGLD step so that one can see the
    chains settle (flat after the burn-in) rather than drift or diverge. None: not finite (a
    chain that diverged)."""

    step: int
    tokens_seen: int
    mean: float | None
    std: float | None  # over chains (ddof 0)
    per_chain: list[float | None]
    init_loss: float  # L_n(w*): the snapshot's loss on the batches the chains cycle through
    loss_trace: list[list[float | None]]  # [chain][SGLD step], burn-in steps first
    seconds: float  # wall time of the estimate


@dataclass(frozen=True)
class LLCCurve:
    """A run's LLC over training (`metrics/llc.json`), for the snapshots it was estimated at.

    `settings`: the LLC settings (`training.pipeline.config.LLCConfig`) and their `hash`; a pass with
    other sampler settings estimates every snapshot again."""

    run: str
    settings: dict[str, Any]
    points: list[LLCPoint]


# ---- JSON <-> records ------------------------------------------------------------------------


def to_json(record: Any) -> Any:
    """A record (or a dict/list of records) as plain JSON values."""
    if dataclasses.is_dataclass(record):
        return dataclasses.asdict(record)
    if isinstance(record, dict):
        return {k: to_json(v) for k, v in record.items()}
    if isinstance(record, list | tuple):
        return [to_json(v) for v in record]
    return record


def from_json(cls: type, data: Any, where: str) -> Any:
    """`data` (parsed JSON) as a `cls` record, every field checked; RecordError names `where`
    (the file) and the field otherwise. Unknown keys are ignored (files from newer code load)."""
    return _convert(data, cls, where, "")


def _convert(value: Any, hint: Any, where: str, path: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            _fail(where, path, "an object", value)
        hints = typing.get_type_hints(hint)
        kwargs = {}
        for f in dataclasses.fields(hint):
            sub = f"{path}.{f.name}" if path else f.name
            if f.name in value:
                kwargs[f.name] = _convert(value[f.name], hints[f.name], where, sub)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise RecordError(f"{where}: missing field {sub!r}")
        return hint(**kwargs)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(value, option, where, path)
            except RecordError:
                continue
        _fail(where, path, " or ".join(_name(a) for a in args), value)
    if origin is Literal:
        if value not in args:
            _fail(where, path, "one of " + ", ".join(map(repr, args)), value)
        return value
    if origin is list:
        if not isinstance(value, list):
            _fail(where, path, "a list", value)
        return [_convert(v, args[0], where, f"{path}[{i}]") for i, v in enumerate(value)] if args else value
    if origin is dict:
        if not isinstance(value, dict):
            _fail(where, path, "an object", value)
        return {k: _convert(v, args[1], where, f"{path}.{k}") for k, v in value.items()} if args else value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            _fail(where, path, "a number", value)
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            _fail(where, path, "an integer", value)
        return value
    if hint in (str, bool):
        if not isinstance(value, hint):
            _fail(where, path, _name(hint), value)
        return value
    if hint is dict:
        if not isinstance(value, dict):
            _fail(where, path, "an object", value)
        return value
    raise TypeError(f"records: unsupported field type {hint!r}")  # a bug in a record, not in a file


def _name(hint: Any) -> str:
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _fail(where: str, path: str, expected: str, value: Any) -> typing.NoReturn:
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    raise RecordError(f"{where}: field {path or '(top level)'!r} should be {expected}, got {shown[:60]}")
