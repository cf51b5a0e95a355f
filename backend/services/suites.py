"""Suite-level reads: the list of suites, one suite's runs, the joint PCA, the claims report."""

from __future__ import annotations

from backend.errors import InputError, UnavailableError
from backend.models import (
    HealthResponse,
    PcaResponse,
    PcaRun,
    ReportResponse,
    RunInfo,
    SnapshotInfo,
    SuiteDetail,
    SuiteList,
    SuiteSummary,
)
from backend.services.store import ArtifactStore
from training.core.science import schema


def health(store: ArtifactStore) -> HealthResponse:
    suites = store.suites()
    runs = sum(len(store.runs(s)) for s in suites)
    return HealthResponse(
        artifacts_dir=str(store.root), suites=len(suites), runs=runs, cached_snapshots=len(store.snapshots)
    )


def list_suites(store: ArtifactStore) -> SuiteList:
    return SuiteList(
        suites=[
            SuiteSummary(
                name=s, runs=store.runs(s), analysed=(schema.analysis_dir(store.suite_path(s)) / "phase.json").is_file()
            )
            for s in store.suites()
        ]
    )


def run_info(store: ArtifactStore, suite: str, run: str) -> RunInfo:
    m = store.manifest(suite, run)
    metrics = store.metrics(suite, run)
    return RunInfo(
        name=run,
        description=m.description,
        status=m.status,
        model=m.model,
        train=m.train,
        analysis=m.analysis,
        tokens_per_step=m.tokens_per_step,
        snapshots=[SnapshotInfo(**{k: getattr(s, k) for k in SnapshotInfo.model_fields}) for s in m.snapshots],
        analysed_steps=[s for s, stage in zip(metrics.steps, metrics.index.stages) if stage == "full"]
        if metrics
        else [],
        live_steps=metrics.steps if metrics else [],
        replicate=m.replicate,
    )


def suite_detail(store: ArtifactStore, suite: str) -> SuiteDetail:
    """Every run of the suite; a run whose files cannot be read is listed with its `error`."""
    runs, data = [], {}
    for run in store.runs(suite):
        try:
            runs.append(run_info(store, suite, run))
        except UnavailableError as e:
            runs.append(
                RunInfo(
                    name=run,
                    description="",
                    status="unreadable",
                    model={},
                    train={},
                    analysis={},
                    tokens_per_step=None,
                    snapshots=[],
                    analysed_steps=[],
                    live_steps=[],
                    error=str(e),
                )
            )
            continue
        if not data:  # every run of a suite shares its data; the document lists can be thousands long
            data = {k: v for k, v in store.manifest(suite, run).data.items() if not k.endswith("_documents")}
    return SuiteDetail(name=suite, data=data, runs=runs)


def pca(store: ArtifactStore, suite: str, components: int) -> PcaResponse:
    """The joint PCA of the suite's per-token losses, cut to the first `components` axes."""
    table = store.analysis(suite, "pca")
    stored = table.get("components", 0) if isinstance(table, dict) else 0
    if isinstance(stored, int) and components > stored:
        raise InputError(f"components must be at most {stored}: suite {suite!r} has a {stored}-component PCA")
    try:
        runs = {
            run: PcaRun(
                steps=r["steps"],
                tokens_seen=r["tokens_seen"],
                coords=[c[:components] for c in r["coords"]],
                phase=r.get("phase"),
            )
            for run, r in table["runs"].items()
        }
        return PcaResponse(
            suite=suite,
            components=components,
            explained_variance=table["explained_variance"][:components],
            n_tokens=table.get("n_tokens", 0),
            runs=runs,
            note=table.get("note", ""),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise UnavailableError(f"{suite}/analysis/pca.json does not have the expected fields ({e!r})") from None


def report(store: ArtifactStore, suite: str) -> ReportResponse:
    table = store.analysis(suite, "report")
    return ReportResponse(**schema.to_json(table), markdown=store.report_markdown(suite))
