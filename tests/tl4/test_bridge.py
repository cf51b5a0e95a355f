"""A snapshot as a TransformerLens 4 TransformerBridge equals the training model, for every
architecture option (run in `.venv-tl4/`: `make test-tl4`)."""

import itertools
from importlib.metadata import version

import pytest
import torch

from tests.models import random_model as shared_random_model
from training import load_bridge
from training.core.artifacts import schema
from training.core.artifacts.records import Manifest, SnapshotEntry
from training.core.bridge import bridge_from_model, neox_to_adjacent
from training.core.model import Transformer

OPTIONS = [
    dict(n_layers=n, attn_only=a, layernorm=ln, positional=pos, smeared_keys=sm)
    for n, a, ln, pos, sm in itertools.product(
        [1, 2], [True, False], [True, False], ["standard", "shortformer", "rotary"], [False, True]
    )
] + [
    dict(n_layers=3, attn_only=True, layernorm=True, positional="shortformer", smeared_keys=True, qk_pos_layers=1),
    dict(n_layers=2, attn_only=False, layernorm=False, positional="shortformer", smeared_keys=False, qk_pos_layers=1),
    dict(n_layers=3, attn_only=False, layernorm=True, positional="rotary", smeared_keys=True, qk_pos_layers=1),
    dict(n_layers=2, attn_only=True, layernorm=True, positional="rotary", smeared_keys=False, qk_pos_layers=1),
]


def random_model(**options) -> Transformer:
    return shared_random_model(**options).eval()


TOKENS = torch.randint(0, 40, (3, 24), generator=torch.Generator().manual_seed(1))


def test_this_environment_has_transformer_lens_4_and_the_pinned_torch():
    assert version("transformer-lens").startswith("4.")
    assert torch.__version__.split("+")[0] == "2.13.0"


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_bridge_logits_and_patterns_equal_training_model(options):
    model = random_model(**options)
    bridge = bridge_from_model(model)
    with torch.no_grad():
        logits, patterns = model(TOKENS, return_patterns=True)
        bridge_logits, cache = bridge.run_with_cache(TOKENS)
    assert (logits - bridge_logits).abs().max().item() <= 1e-4
    for layer, pattern in enumerate(patterns):
        assert torch.allclose(pattern, cache[f"blocks.{layer}.attn.hook_pattern"], atol=1e-5)


def test_bridge_keeps_its_hooks_after_reset_hooks_and_with_run_with_hooks():
    model = random_model(n_layers=2, positional="rotary", qk_pos_layers=1, smeared_keys=True)
    bridge = bridge_from_model(model)
    bridge.reset_hooks()
    seen = []
    with torch.no_grad():
        out = bridge.run_with_hooks(TOKENS, fwd_hooks=[("blocks.1.attn.hook_pattern", lambda x, hook: seen.append(x))])
    assert torch.allclose(out, model(TOKENS), atol=1e-4)
    assert len(seen) == 1


def test_a_zero_ablated_head_changes_the_bridge_as_it_changes_the_training_model():
    # The hooks act on the real computation: zeroing head 1 of layer 1 through hook_z moves the
    # logits by exactly what removing that head's output (W_O rows) does in the training model.
    model = random_model(n_layers=2, positional="rotary", qk_pos_layers=1)
    bridge = bridge_from_model(model)

    def ablate(z, hook):
        z[:, :, 1] = 0.0
        return z

    with torch.no_grad():
        ablated = bridge.run_with_hooks(TOKENS, fwd_hooks=[("blocks.1.attn.hook_z", ablate)])
        model.blocks[1].attn.W_O[1] = 0.0
        expected = model(TOKENS)
    assert (ablated - expected).abs().max().item() <= 1e-4
    assert (ablated - bridge(TOKENS)).abs().max().item() > 1e-3  # it did change something


def test_neox_pairs_become_adjacent_pairs():
    assert neox_to_adjacent(8).tolist() == [0, 4, 1, 5, 2, 6, 3, 7]


def write_run(root, model: Transformer, step: int = 5):
    """A one-snapshot run folder, written through the schema as the trainer writes it."""
    run = root / "suite" / "run"
    sha = schema.atomic_write_safetensors(schema.snapshot_path(run, step), model.state_dict())
    entry = SnapshotEntry(step, 40 * step, 3.0, 3.1, 1.0, schema.snapshot_name(step), sha)
    cfg = model.cfg
    fields = {f: getattr(cfg, f) for f in cfg.__dataclass_fields__}
    schema.write_manifest(run, Manifest("suite", "run", "complete", fields, {}, {}, 40, [entry]))
    return run


def test_load_bridge_reads_a_stored_snapshot(tmp_path):
    model = random_model(n_layers=2, positional="rotary", qk_pos_layers=1, smeared_keys=True)
    run = write_run(tmp_path, model)
    for step in (5, "latest"):
        bridge = load_bridge(run, step)
        with torch.no_grad():
            assert (bridge(TOKENS) - model(TOKENS)).abs().max().item() <= 1e-4


def test_load_bridge_names_a_missing_step(tmp_path):
    run = write_run(tmp_path, random_model(n_layers=1))
    with pytest.raises(schema.ArtifactError, match="no snapshot at step 7"):
        load_bridge(run, 7)
