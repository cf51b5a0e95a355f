"""The command line: bad input names the culprit, exits 2, and prints no traceback."""

import pytest

from training.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--preset", "nope"], "unknown preset 'nope'"),
        (["train", "--preset", "tiny", "--set", "train.lrr=1"], "unknown key 'train.lrr'"),
        (["train", "--preset", "tiny", "--set", "train.lr=fast"], "train.lr: expected float, got 'fast'"),
        (["train", "--preset", "tiny", "--set", "model.positional=alibi"], "model.positional: 'alibi' is not one of"),
        (["train", "--preset", "tiny", "--set", "model.n_layers=9"], "model.n_layers must be between 1 and 6"),
        (
            ["train", "--preset", "tiny", "--set", "lr=1"],
            "keys look like data.X, model.X, train.X, analysis.X or llc.X",
        ),
        (["train", "--preset", "tiny", "--set", "novalue"], "expected key=value"),
        (["train", "--preset", "tiny", "--runs", "attn9"], "unknown run 'attn9'"),
        (["train", "--preset", "tiny", "--suite", "Bad/Name"], "invalid suite name 'Bad/Name'"),
        (["train", "--preset", "tiny", "--set", "data.source=/no/such/dir"], "data.source: no such file"),
    ],
)
def test_bad_input_is_a_one_line_error_naming_it(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not any(tmp_path.glob("*/*/manifest.json"))  # nothing half-written


def test_list_shows_presets_and_suites(tiny_suite, capsys):
    assert main(["list", "--out", str(tiny_suite.parent)]) == 0
    out = capsys.readouterr().out
    assert "default" in out and "tiny/attn2: complete, 44 snapshots" in out
