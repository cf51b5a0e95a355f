"""`python -m training verify artifacts/<suite>`: is every file of the suite whole?

Every file of the suite is read. Each is checked against the SHA-256 recorded when it was
written (`checksums.json` in its folder), and, by kind, against what it must hold: every
manifest against its record, every snapshot against the sha256 its manifest lists, every
per-snapshot metrics file and the analysis inputs readable as safetensors, every metrics index
and the arrays it lists (readable, the shape it records, one row per listed step, steps the
manifest knows), the LLC file, the shared data files, the tokenizer and the suite tables.
Returns one problem per broken file, naming it; none means the suite is whole. A file written
before checksums were kept is checked by its kind alone (`Verdict.unrecorded` counts them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from training.core.artifacts import files, schema


@dataclass
class Verdict:
    root: Path
    problems: dict[str, str] = field(default_factory=dict)  # file (relative to root) -> why
    checked: int = 0  # files looked at
    unrecorded: int = 0  # files with no recorded checksum (written by an older version)

    def add(self, path: Path, why: str) -> None:
        self.problems.setdefault(str(Path(path).relative_to(self.root)), why)

    def check(self, path: Path, read) -> object | None:
        """`read()`, or None with the file's problem recorded if it raises ArtifactError."""
        try:
            return read()
        except schema.ArtifactError as e:
            self.add(path, str(e).replace(f"{self.root}/", ""))
        return None


def _safetensors(path: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                f.get_tensor(key)
    except (SafetensorError, OSError, ValueError) as e:
        raise schema.ArtifactError(f"corrupt file {path}: {e}") from None


def verify_run(run_path: Path, v: Verdict) -> None:
    """Check one run's files by kind."""
    manifest = v.check(schema.manifest_path(run_path), lambda: schema.read_manifest(run_path))
    if manifest is None:
        return
    for entry in manifest.snapshots:
        path = schema.snapshot_path(run_path, entry.step)
        if not path.exists():
            v.add(path, f"missing snapshot file {path.relative_to(v.root)}")
        elif files.sha256_file(path) != entry.sha256:
            v.add(path, f"corrupt snapshot file {path.relative_to(v.root)}: sha256 does not match the manifest")
    losses = schema.train_loss_path(run_path)
    if losses.exists() or manifest.snapshots[1:]:
        v.check(losses, lambda: schema.read_npy(losses))
    llc = schema.llc_path(run_path)
    if llc.exists():
        curve = v.check(llc, lambda: schema.read_llc(run_path))
        strays = [p.step for p in curve.points if manifest.entry(p.step) is None] if curve else []
        if strays:
            v.add(llc, f"{llc.relative_to(v.root)}: steps {strays[:3]} are not snapshots")
    for path in sorted((schema.metrics_dir(run_path) / "snapshots").glob("*.safetensors")):
        v.check(path, lambda path=path: _safetensors(path))
    if schema.inputs_path(run_path).exists():
        v.check(schema.inputs_path(run_path), lambda: _safetensors(schema.inputs_path(run_path)))
    index_path = schema.metrics_index_path(run_path)
    if not index_path.exists():
        return
    index = v.check(index_path, lambda: schema.read_metrics_index(run_path))
    if index is None:
        return
    known = {s.step for s in manifest.snapshots}
    unknown = [s for s in index.steps if s not in known]
    if unknown:
        v.add(index_path, f"{index_path.relative_to(v.root)}: steps {unknown[:3]} are not snapshots of the manifest")
    for name, info in index.arrays.items():
        path = schema.metrics_dir(run_path) / info.file
        array = v.check(path, lambda name=name: schema.read_metric(run_path, name, index))
        if array is not None and (list(array.shape) != info.shape or len(array) != len(index.steps)):
            v.add(path, f"{path.relative_to(v.root)}: shape {list(array.shape)}, the index says {info.shape}")


def _checksum_ledgers(suite_path: Path, v: Verdict) -> None:
    """A damaged `checksums.json` is itself a broken file (its folder's files go unchecked)."""
    for ledger in sorted(suite_path.rglob(schema.CHECKSUMS)):
        v.check(ledger, lambda ledger=ledger: schema.read_json(ledger))


def verify_suite(suite_path: Path) -> Verdict:
    """Every problem of the suite (`Verdict.problems`, one per broken file), the number of files
    looked at and of those with no recorded checksum."""
    suite_path = Path(suite_path)
    v = Verdict(suite_path.parent)
    for name in (schema.TRAIN_TOKENS, schema.HELDOUT_TOKENS, schema.TOKEN_COUNTS):
        path = schema.data_path(suite_path, name)
        v.check(path, lambda path=path: schema.read_npy(path))
    v.check(schema.tokenizer_path(suite_path), lambda: schema.read_json(schema.tokenizer_path(suite_path)))
    for run in schema.list_runs(suite_path):
        verify_run(suite_path / run, v)
    readers = {
        schema.phases_path(suite_path): lambda: schema.read_phases(suite_path),
        schema.report_path(suite_path): lambda: schema.read_report(suite_path),
        schema.table_path(suite_path, "pca"): lambda: schema.read_analysis(suite_path, "pca"),
        schema.table_path(suite_path, "before_after"): lambda: schema.read_analysis(suite_path, "before_after"),
    }
    for path, read in readers.items():
        if path.exists():
            v.check(path, read)
    _checksum_ledgers(suite_path, v)
    ledgers: dict[Path, dict] = {}
    for path in sorted(p for p in suite_path.rglob("*") if p.is_file()):
        if any(part.startswith(".") for part in path.relative_to(suite_path).parts) or path.name == schema.CHECKSUMS:
            continue  # temp and lock files; the ledgers were read above
        v.checked += 1
        if path.parent not in ledgers:
            ledgers[path.parent] = files.checksums(path.parent)
        if path.name not in ledgers[path.parent]:
            v.unrecorded += 1
            continue
        why = files.check_file(path, ledgers[path.parent])
        if why is not None:
            v.add(path, f"{path.relative_to(v.root)}: {why}")
    return v
