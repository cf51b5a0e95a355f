"""Live metrics in someone else's loop: the Trainer callback and the plain watcher write the live
tier the service serves while the run trains, and never change the user's training."""

from __future__ import annotations

import pytest
import torch
from fastapi.testclient import TestClient
from transformers import TrainerCallback

from backend.core.config import Settings
from backend.main import create_app
from tests.training import hf_runs
from training.core.artifacts import schema
from training.pipeline.hf_callback import InductionScopeCallback
from training.pipeline.watch import Watcher

STEPS, SAVE_EVERY = 12, 4
# Dropout on: a random number drawn by the watcher would change the masks and so the weights
DROPOUT = {"resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1}


class _AskTheService(TrainerCallback):
    """After each save (after the watcher's), what the service says about the run."""

    def __init__(self, root):
        self.root, self.seen = root, []

    def on_save(self, args, state, control, **kwargs):
        with TestClient(create_app(Settings(artifacts_dir=self.root, torch_threads=0))) as client:
            body = client.get("/suites/live/runs/gpt2/metrics").json()
        self.seen.append((state.global_step, body["status"], body["steps"], body["stages"]))


def test_the_callback_serves_live_curves_while_training_and_leaves_the_run_unchanged(tmp_path):
    root = tmp_path / "art"
    probe = hf_runs.probe_text(tmp_path / "probe.txt", n=60)
    watched = InductionScopeCallback(root, "live", "gpt2", text=str(probe), log=lambda *_: None)
    service = _AskTheService(root)
    run = dict(steps=STEPS, save_every=SAVE_EVERY, **DROPOUT)
    with_callback = hf_runs.train("gpt2", tmp_path / "a", callbacks=[watched, service], **run)
    without = hf_runs.train("gpt2", tmp_path / "b", **run)

    # the service served the live curves as they were written, the run still training
    assert [s[0] for s in service.seen] == [4, 8, 12]
    for step, status, steps, stages in service.seen:
        assert status == "training" and steps[-1] == step and set(stages) == {"live"}
    manifest = schema.read_manifest(root / "live" / "gpt2")
    assert manifest.status == "complete" and [s.step for s in manifest.snapshots] == [4, 8, 12]
    assert manifest.snapshots[-1].tokens_seen == STEPS * 32 * hf_runs.N_CTX  # from the Trainer's count
    # the final weights are those of the same run without the callback, bit for bit
    a, b = with_callback.model.state_dict(), without.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _hooked_transformer():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    torch.manual_seed(2)
    cfg = HookedTransformerConfig(
        n_layers=2, d_model=32, n_heads=4, d_head=8, n_ctx=hf_runs.N_CTX, d_vocab=hf_runs.VOCAB + 2,
        attn_only=True, positional_embedding_type="shortformer",
    )  # fmt: skip
    return HookedTransformer(cfg)


@pytest.mark.parametrize("arch", ["gpt2", "gpt_neox", "hooked"])
def test_a_watcher_snapshot_draws_no_random_numbers_makes_no_gradients_and_restores_the_mode(tmp_path, arch):
    probe = hf_runs.probe_text(tmp_path / "probe.txt", n=60)
    model = (_hooked_transformer() if arch == "hooked" else hf_runs.model(arch, seed=2)).train()
    watcher = Watcher(
        tmp_path / "art", "w", arch.replace("_", "-"), hf_runs.tokenizer(), text=str(probe), log=lambda *_: None
    )
    rng = torch.get_rng_state()
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    metrics = watcher.snapshot(model, 10, train_loss=3.0)
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(weights[k], v) for k, v in model.state_dict().items())
    assert metrics["prefix_matching"].shape == (2, 4)
    model.eval()
    watcher.snapshot(model, 20)
    assert not model.training  # the mode it was in, whichever
    watcher.close()
    index = schema.read_metrics_index(tmp_path / "art" / "w" / arch.replace("_", "-"))
    assert index.steps == [10, 20] and index.stages == ["live", "live"]
