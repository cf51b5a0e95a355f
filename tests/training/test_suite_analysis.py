"""The suite tables: the before-and-after table keeps an entry while its inputs are unchanged."""

import copy

from training.core.artifacts import schema
from training.core.artifacts.records import PhaseWindow
from training.pipeline import analyze_suite
from training.pipeline.analyze import analysis_config


def window(run_path, start: int, end: int) -> dict[str, PhaseWindow]:
    """A hand-set phase window over two of the run's snapshots (the tiny runs have none)."""
    steps = schema.read_metrics_index(run_path).steps
    return {run_path.name: PhaseWindow(True, "test window", steps[start], steps[end])}


def test_before_after_entries_are_kept_while_their_inputs_are_unchanged(tiny_suite, monkeypatch):
    run = tiny_suite / "attn2"
    cfg = analysis_config(schema.read_manifest(run))
    phases = window(run, 2, -1)
    calls = []
    compute = analyze_suite._pp_deltas
    monkeypatch.setattr(analyze_suite, "_pp_deltas", lambda *a: calls.append(1) or compute(*a))

    first = analyze_suite.before_after_table(tiny_suite, phases, cfg)
    entry = first["attn2"]
    manifest = schema.read_manifest(run)
    shas = [schema.find_snapshot(manifest, entry[k]).sha256 for k in ("before_step", "after_step")]
    assert entry["inputs"] == {"version": 1, "settings": cfg.settings_hash(), "snapshots": shas}
    assert len(entry["projection"]) == 2 and calls == [1]

    # the stored table, read back: nothing is ablated again
    assert analyze_suite.before_after_table(tiny_suite, phases, cfg, copy.deepcopy(first)) == first
    assert calls == [1]

    # another window, other settings or another version of the table: computed again
    assert analyze_suite.before_after_table(tiny_suite, window(run, 1, -1), cfg, first)["attn2"] != entry
    other = analysis_config(schema.read_manifest(run), ["analysis.pca_seed=7"])
    assert analyze_suite.before_after_table(tiny_suite, phases, other, first)["attn2"]["inputs"]["settings"] != (
        cfg.settings_hash()
    )
    stale = {"attn2": {**entry, "inputs": {**entry["inputs"], "version": 0}}}
    assert analyze_suite.before_after_table(tiny_suite, phases, cfg, stale) == first
    assert calls == [1, 1, 1, 1]
    # a table that is not a mapping (hand-edited, older) is simply computed again
    assert analyze_suite.before_after_table(tiny_suite, phases, cfg, ["nope"]) == first
