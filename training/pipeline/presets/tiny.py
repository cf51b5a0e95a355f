"""`tiny`: the whole suite in well under a minute on 2 CPU cores, for tests and CI.

Same five runs as `default`, shrunk: it checks that every architecture option trains, snapshots
and analyses end to end. Too short to form induction heads on text; no claims are expected to pass.
"""

from training.core.config import LLCConfig, ModelConfig
from training.pipeline.config import AnalysisConfig, DataConfig, Preset, RunSpec, TrainConfig

PRESET = Preset(
    name="tiny",
    description="Smoke-test suite: 5 tiny models, 150 steps each on 300 k characters of stdlib code.",
    data=DataConfig(
        source="stdlib",
        vocab_size=384,  # small BPE: trains in about a second
        max_chars=300_000,  # about 40 stdlib files: enough for a held-out split
    ),
    model=ModelConfig(n_layers=2, d_model=32, n_heads=2, d_head=16, n_ctx=64),
    train=TrainConfig(
        steps=150,
        batch_size=8,
        lr=3e-3,
        warmup_steps=10,
        log_snapshots=20,  # 44 distinct snapshot steps: at least 40, as for real suites
        linear_snapshots=30,
        eval_sequences=8,
        resume_every=25,
    ),
    runs=(
        RunSpec("attn1", {"n_layers": 1}, "1-layer attention-only"),
        RunSpec("attn2", {"n_layers": 2}, "2-layer attention-only"),
        RunSpec("attn3", {"n_layers": 3}, "3-layer attention-only"),
        RunSpec("smeared1", {"n_layers": 1, "smeared_keys": True}, "1-layer attention-only, smeared keys"),
        RunSpec("mlp2", {"n_layers": 2, "attn_only": False}, "2-layer with MLPs"),
    ),
    # Lighter than the paper's settings so that CI analyses the suite in seconds.
    analysis=AnalysisConfig(eval_sequences=16, pca_tokens=256, ablation_every=4, composition_baseline_samples=20),
    # The LLC pipeline end to end in about a second: 5 snapshots per run, chains of 10 steps.
    llc=LLCConfig(runs=("attn2", "attn1"), every=10, draws=8, burnin=2, batch_size=2, batches=4),
)
