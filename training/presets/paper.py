"""`paper`: as close to the paper's small models as one GPU allows (Olsson et al. 2022).

The paper's small models: 1-6 layers, attention-only and with MLPs, d_model 768, 12 heads of
64, context 8192 trained with shortformer positions, a 2^16-token vocabulary, natural language
with ~10% code. Here: the same shapes at context 512 (the paper's ICL score indices, 50 and 500,
then apply as they are), a 16,384-token BPE, and batches of 32 x 512. Meant for
`--device cuda` and a larger corpus, e.g. `--set data.source=hf:NAME`.
"""

from training.config import DataConfig, ModelConfig, Preset, RunSpec, TrainConfig

PRESET = Preset(
    name="paper",
    description="The paper's small-model shapes (d768, 12 heads, shortformer, ctx 512): for a GPU.",
    data=DataConfig(source="stdlib", vocab_size=16_384, max_chars=200_000_000),
    model=ModelConfig(n_layers=2, d_model=768, n_heads=12, d_head=64, n_ctx=512, positional="shortformer"),
    train=TrainConfig(
        steps=50_000,
        batch_size=32,
        lr=1e-3,
        warmup_steps=1_000,
        schedule="cosine",
        log_snapshots=40,
        linear_snapshots=60,
        eval_sequences=64,
        resume_every=1_000,
        threads=8,
    ),
    runs=(
        RunSpec("attn1", {"n_layers": 1}, "1-layer attention-only"),
        RunSpec("attn2", {"n_layers": 2}, "2-layer attention-only"),
        RunSpec("attn3", {"n_layers": 3}, "3-layer attention-only"),
        RunSpec("attn6", {"n_layers": 6}, "6-layer attention-only"),
        RunSpec("smeared1", {"n_layers": 1, "smeared_keys": True}, "1-layer smeared keys"),
        RunSpec("mlp2", {"n_layers": 2, "attn_only": False}, "2-layer with MLPs"),
        RunSpec("mlp6", {"n_layers": 6, "attn_only": False}, "6-layer with MLPs"),
    ),
)
