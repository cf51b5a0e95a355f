"""`default`: the suite `make up` trains — a phase change on a 2-core CPU.

Every choice below was measured; the numbers are in experiments/LOG.md (and, for the work done
before this code existed, ../shared/EXPERIMENTS.md).
"""

from training.config import DataConfig, ModelConfig, Preset, RunSpec, TrainConfig

PRESET = Preset(
    name="default",
    description="Five small models on this interpreter's standard library source: 1-, 2- and 3-layer attention-only, 1-layer smeared keys, 2-layer with MLPs.",
    data=DataConfig(
        source="stdlib",  # ships with every Python: no download. Code repeats identifiers within
        # a window, which makes induction pay off early (≈10x sooner than Shakespeare, EXPERIMENTS.md)
        vocab_size=1024,  # a BPE token is mostly a whole identifier piece, so a one-token match
        # means something (single bytes recur everywhere); 1024 keeps the unembedding cheap
    ),
    model=ModelConfig(
        n_layers=2,
        d_model=64,  # ~1.8x the tokens/s of d128 at about the same loss per step
        n_heads=4,
        d_head=16,
        n_ctx=256,  # long enough for an ICL score (index 250 vs 25), short enough to be fast
    ),
    train=TrainConfig(
        steps=12_000,
        batch_size=8,  # small batches reach the emergence point in fewer tokens
        lr=3e-3,
        warmup_steps=100,
        log_snapshots=30,
        linear_snapshots=40,  # every 300 steps: the phase change is sampled densely wherever it falls
        eval_sequences=32,
        resume_every=500,
    ),
    runs=(
        RunSpec("attn1", {"n_layers": 1}, "1-layer attention-only (control: cannot form an induction head)"),
        RunSpec("attn2", {"n_layers": 2}, "2-layer attention-only"),
        RunSpec("attn3", {"n_layers": 3}, "3-layer attention-only"),
        RunSpec("smeared1", {"n_layers": 1, "smeared_keys": True}, "1-layer attention-only with smeared keys (paper, Argument 2)"),
        RunSpec("mlp2", {"n_layers": 2, "attn_only": False}, "2-layer with MLPs"),
    ),
)
