"""A long series analysed by several processes at once (issue 24): torchrun ranks each measure a
share of every run's snapshots, rank 0 stacks and builds the suite tables once; the result equals
a single-process analysis."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np

from tests.conftest import REPO
from tests.training.pipeline.test_distributed import launcher, writes
from training.core.artifacts import schema

RUNS = ("attn2", "attn1")


def unanalysed_copy(suite, dest):
    """The suite's data and two runs' snapshots, with no metrics and no suite tables."""
    ignore = shutil.ignore_patterns(
        "resume", "metrics", "analysis", *(r for r in schema.list_runs(suite) if r not in RUNS)
    )
    return shutil.copytree(suite, dest / suite.name, ignore=ignore)


def analyse(suite, processes: int, writes_log=None) -> subprocess.CompletedProcess:
    command, env = launcher(suite, processes, writes_log)  # one thread per process, both ways
    return subprocess.run(
        [*command, "analyze", str(suite)], cwd=REPO, env=env, capture_output=True, text=True, timeout=1200
    )


def test_two_ranks_analyse_a_suite_exactly_as_one_process_does(tiny_suite, tmp_path):
    one = unanalysed_copy(tiny_suite, tmp_path / "one")
    two = unanalysed_copy(tiny_suite, tmp_path / "two")
    single = analyse(one, 1)
    assert single.returncode == 0, single.stderr[-3000:]
    log = tmp_path / "writes"
    launched = analyse(two, 2, writes_log=log)
    assert launched.returncode == 0, launched.stderr[-3000:]
    for run in RUNS:
        a, b = schema.read_metrics_index(one / run), schema.read_metrics_index(two / run)
        assert a.steps == b.steps and a.stages == b.stages and a.complete
        assert a.scalars == b.scalars and a.arrays.keys() == b.arrays.keys()
        for name in a.arrays:  # every measured number, bit for bit
            assert np.array_equal(
                schema.read_metric(one / run, name, a), schema.read_metric(two / run, name, b), equal_nan=True
            ), name
        llc = [json.loads(schema.llc_path(s / run).read_text()) for s in (one, two)]
        for curve in llc:  # the estimates and their traces, not how long each took
            for point in curve["points"]:
                point.pop("seconds")
        assert llc[0] == llc[1] and len(llc[0]["points"]) >= 2
    assert schema.read_phases(one) == schema.read_phases(two)
    for table in ("pca", "before_after"):
        assert schema.read_analysis(one, table) == schema.read_analysis(two, table)
    # each rank measured a share; rank 0 alone stacked the runs and wrote the suite tables
    # (folders aside: rank 1 creates a run's metrics folder when it comes first)
    rank0, rank1 = ({path for event, path in writes(log, rank) if event != "os.mkdir"} for rank in (0, 1))
    for run in RUNS:
        folder = str(schema.metrics_snapshot_path(two / run, 0).parent)
        share = {p for p in rank1 if p.startswith(folder)}
        assert len(share) >= 5, f"rank 1 measured none of {run}'s snapshots"
        assert str(schema.metrics_dir(two / run) / schema.METRICS_INDEX) in rank0
        assert not any(p.startswith(str(schema.metrics_dir(two / run))) and not p.startswith(folder) for p in rank1)
    assert not any(p.startswith(str(schema.analysis_dir(two))) for p in rank1)
