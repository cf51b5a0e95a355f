"""`python -m training import`: series recognised from their layout, written as a suite the
analysis reads, and bad sources refused with the path named and nothing written."""

from __future__ import annotations

import json

import pytest
import torch

from tests.training import hf_runs
from training.core.artifacts import schema
from training.pipeline.cli import main

TL_CONFIG = {  # an attention-only model with shortformer positions, as the developmental-landscape suites
    "n_layers": 2,
    "d_model": 32,
    "n_heads": 2,
    "d_head": 16,
    "n_ctx": hf_runs.N_CTX,
    "d_vocab": hf_runs.VOCAB + 2,
    "attn_only": True,
    "positional_embedding_type": "shortformer",
    "normalization_type": "LN",
    "seed": 5,  # bookkeeping: accepted
}


@pytest.fixture
def tokenizer_dir(tmp_path):
    folder = tmp_path / "tok"
    hf_runs.tokenizer(folder)
    return folder


@pytest.fixture
def probe_file(tmp_path):
    return hf_runs.probe_text(tmp_path / "probe.txt", n=60)


def _tl_series(folder, steps=(0, 10, 20)):
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TL_CONFIG))
    hf_runs.tokenizer(folder)
    models = {}
    for i, step in enumerate(steps):
        torch.manual_seed(i)
        model = HookedTransformer(HookedTransformerConfig(**{k: v for k, v in TL_CONFIG.items() if k != "seed"}))
        torch.save(model.state_dict(), folder / f"attn2_{step}.pth")
        models[step] = model.eval()
    return models


def _revisions(folder, arch="gpt_neox", steps=(0, 5)):
    folder.mkdir()
    for step in steps:
        model = hf_runs.model(arch, seed=step)
        model.save_pretrained(str(folder / f"step{step}"))
        hf_runs.tokenizer(folder / f"step{step}", bos=False)
    return folder


def test_a_transformer_lens_series_imports_and_its_snapshots_equal_the_source_models(tmp_path, probe_file):

    models = _tl_series(tmp_path / "tl")
    out = tmp_path / "art"
    args = [
        "import",
        str(tmp_path / "tl"),
        "--suite",
        "tl",
        "--run",
        "attn2",
        "--out",
        str(out),
        "--text",
        str(probe_file),
    ]
    assert main([*args, "--no-analyze"]) == 0
    run_path = out / "tl" / "attn2"
    manifest = schema.read_manifest(run_path)
    assert [s.step for s in manifest.snapshots] == [0, 10, 20]
    assert manifest.model["hooked"]["positional_embedding_type"] == "shortformer"
    tokens = torch.randint(0, hf_runs.VOCAB, (2, hf_runs.N_CTX))
    for entry in manifest.snapshots:
        converted = schema.load_models(run_path, manifest, entry, hooked=False).fast
        with torch.no_grad():
            logits, patterns = converted(tokens, return_patterns=True)
            want, cache = models[entry.step].run_with_cache(tokens)
        assert (logits - want).abs().max() < 1e-4
        assert (patterns[1] - cache["blocks.1.attn.hook_pattern"]).abs().max() < 1e-4


def test_revisions_are_imported_in_step_order_with_the_model_tokenizer_and_no_bos(tmp_path, probe_file):
    _revisions(tmp_path / "pythia", steps=(0, 5, 10))
    out = tmp_path / "art"
    assert main(["import", str(tmp_path / "pythia"), "--suite", "py", "--out", str(out), "--text", str(probe_file),
                 "--every", "2", "--no-analyze"]) == 0  # fmt: skip
    manifest = schema.read_manifest(out / "py" / "pythia")
    assert [s.step for s in manifest.snapshots] == [0, 10]  # every 2nd, and the last
    info = json.loads((out / "py" / "data" / "data.json").read_text())
    assert info["bos_token"] is None and info["separator"] == "eos"
    heldout = schema.read_npy(out / "py" / "data" / "heldout.npy")
    assert heldout[0] != 0  # no BOS in front of the text: the model has none
    assert schema.tokenizer_path(out / "py").exists()


def _assert_refused(capsys, out, args, *needles):
    assert main(args) == 2
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err
    assert "Traceback" not in err
    assert not out.exists() or not any(out.iterdir()), list(out.rglob("*"))


def test_an_empty_folder_is_refused(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "art"
    _assert_refused(capsys, out, ["import", str(tmp_path / "empty"), "--suite", "s", "--out", str(out)],
                    str(tmp_path / "empty"), "empty")  # fmt: skip


def test_a_folder_without_recognisable_checkpoints_is_refused(tmp_path, capsys):
    (tmp_path / "misc").mkdir()
    (tmp_path / "misc" / "notes.txt").write_text("hello")
    out = tmp_path / "art"
    _assert_refused(capsys, out, ["import", str(tmp_path / "misc"), "--suite", "s", "--out", str(out)],
                    "no recognisable checkpoints", "stepN/")  # fmt: skip


def test_an_unsupported_architecture_is_refused_naming_the_field(tmp_path, capsys):
    folder = _revisions(tmp_path / "revs", steps=(1,))
    config = json.loads((folder / "step1" / "config.json").read_text())
    (folder / "step1" / "config.json").write_text(json.dumps(config | {"model_type": "llama"}))
    out = tmp_path / "art"
    _assert_refused(capsys, out, ["import", str(folder), "--suite", "s", "--out", str(out)],
                    "model_type", "'llama' is not supported", str(folder / "step1" / "config.json"))  # fmt: skip


def test_a_truncated_checkpoint_stops_the_import_and_nothing_is_written(tmp_path, capsys, probe_file):
    folder = _revisions(tmp_path / "revs", steps=(1, 2, 3))
    weights = folder / "step3" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    out = tmp_path / "art"
    _assert_refused(capsys, out, ["import", str(folder), "--suite", "s", "--out", str(out), "--text", str(probe_file)],
                    str(weights), "truncated", "nothing was written")  # fmt: skip


def test_a_checkpoint_that_needs_code_to_unpickle_is_refused(tmp_path, capsys, probe_file):
    from tests.training.core.test_checkpoints import _RunsCode

    _tl_series(tmp_path / "tl", steps=(0,))
    marker = tmp_path / "pwned"
    torch.save({"embed.W_E": torch.zeros(1), "x": _RunsCode(marker)}, tmp_path / "tl" / "attn2_5.pth")
    out = tmp_path / "art"
    _assert_refused(capsys, out, ["import", str(tmp_path / "tl"), "--suite", "s", "--out", str(out),
                                  "--text", str(probe_file)],
                    "attn2_5.pth", "arbitrary unpickling")  # fmt: skip
    assert not marker.exists()


def test_a_missing_tokenizer_is_refused_with_what_to_do(tmp_path, capsys):
    folder = tmp_path / "revs"
    folder.mkdir()
    hf_runs.model("gpt2").save_pretrained(str(folder / "checkpoint-10"))
    out = tmp_path / "art"
    _assert_refused(capsys, out, ["import", str(folder), "--suite", "s", "--out", str(out)],
                    "no tokenizer found in", str(folder / "checkpoint-10"), "--tokenizer")  # fmt: skip
