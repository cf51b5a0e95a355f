"""`python -m training verify artifacts/<suite>`: is every file of the suite whole?

Checks every manifest (against its record), every snapshot file against the sha256 its
manifest lists, the training-loss array, every metrics index and the arrays it lists (readable,
the shape it records, one row per listed step, steps the manifest knows), the LLC file (its
record, steps the manifest knows), the shared data files, and the suite tables. Returns the
problems, one line each naming the file; none means the suite is whole.
"""

from __future__ import annotations

from pathlib import Path

from training.core.artifacts import schema


def _check(problems: list[str], root: Path, fn) -> object | None:
    try:
        return fn()
    except schema.ArtifactError as e:
        problems.append(str(e).replace(f"{root}/", ""))
    return None


def verify_run(run_path: Path, root: Path, problems: list[str]) -> int:
    """Check one run; returns the number of files looked at."""
    manifest = _check(problems, root, lambda: schema.read_manifest(run_path))
    if manifest is None:
        return 1
    checked = 1
    for entry in manifest.snapshots:
        path = run_path / "snapshots" / entry.file
        checked += 1
        if not path.exists():
            problems.append(f"missing snapshot file {path.relative_to(root)}")
        elif schema.sha256_file(path) != entry.sha256:
            problems.append(f"corrupt snapshot file {path.relative_to(root)}: sha256 does not match the manifest")
    losses = run_path / "train_loss.npy"
    if losses.exists() or manifest.snapshots[1:]:
        checked += 1
        _check(problems, root, lambda: schema.read_npy(losses))
    if schema.llc_path(run_path).exists():
        checked += 1
        curve = _check(problems, root, lambda: schema.read_llc(run_path))
        strays = [p.step for p in curve.points if manifest.entry(p.step) is None] if curve else []
        if strays:
            problems.append(f"{schema.llc_path(run_path).relative_to(root)}: steps {strays[:3]} are not snapshots")
    if not (schema.metrics_dir(run_path) / schema.METRICS_INDEX).exists():
        return checked
    index = _check(problems, root, lambda: schema.read_metrics_index(run_path))
    checked += 1
    if index is None:
        return checked
    known = {s.step for s in manifest.snapshots}
    unknown = [s for s in index.steps if s not in known]
    if unknown:
        where = (schema.metrics_dir(run_path) / schema.METRICS_INDEX).relative_to(root)
        problems.append(f"{where}: steps {unknown[:3]} are not snapshots of the manifest")
    for name, info in index.arrays.items():
        checked += 1
        array = _check(problems, root, lambda name=name: schema.read_metric(run_path, name, index))
        if array is not None and (list(array.shape) != info.shape or len(array) != len(index.steps)):
            path = (schema.metrics_dir(run_path) / info.file).relative_to(root)
            problems.append(f"{path}: shape {list(array.shape)}, the index says {info.shape}")
    return checked


def verify_suite(suite_path: Path) -> tuple[list[str], int]:
    """(problems, number of files checked) for the whole suite."""
    suite_path = Path(suite_path)
    root, problems, checked = suite_path.parent, [], 0
    for name in ("train.npy", "heldout.npy", "token_counts.npy"):
        path = schema.data_dir(suite_path) / name
        checked += 1
        _check(problems, root, lambda path=path: schema.read_npy(path))
    checked += 1
    _check(problems, root, lambda: schema.read_json(schema.tokenizer_path(suite_path)))
    for run in schema.list_runs(suite_path):
        checked += verify_run(suite_path / run, root, problems)
    adir = schema.analysis_dir(suite_path)
    readers = {
        "phase.json": lambda: schema.read_phases(suite_path),
        "report.json": lambda: schema.read_report(suite_path),
        "pca.json": lambda: schema.read_analysis(suite_path, "pca"),
        "before_after.json": lambda: schema.read_analysis(suite_path, "before_after"),
    }
    for name, read in readers.items():
        if (adir / name).exists():
            checked += 1
            _check(problems, root, read)
    return problems, checked
