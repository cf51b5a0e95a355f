"""`paper`: as close to the paper's small models as one GPU allows (Olsson et al. 2022).

The paper's small models: 1-6 layers, attention-only and with MLPs, d_model 768, 12 heads of
64, context 8192 trained with shortformer positions, a 2^16-token vocabulary, natural language
with ~10% code. Here: the same shapes at context 512 (the paper's ICL score indices, 50 and 500,
then apply as they are), a 16,384-token BPE, batches of 32 x 512, and natural language with 10%
code, streamed from the Hugging Face Hub. Meant for `--device cuda` (README, *Scale*).

Offline, `--set data.source=stdlib` trains on this interpreter's standard library instead
(~4 M tokens: the 819 M-token budget would see it ~200 times), or `data.source=PATH` on a local
folder or `save_to_disk` dataset (`hf:PATH`).
"""

from training.core.config import ModelConfig
from training.pipeline.config import DataConfig, Preset, RunSpec, TrainConfig

PRESET = Preset(
    name="paper",
    description="The paper's small-model shapes (d768, 12 heads, shortformer, ctx 512): for a GPU.",
    data=DataConfig(
        # 90% educational web text, 10% Python (the paper: natural language with ~10% code);
        # both ungated, streamed: only the characters below are read
        source="hf:HuggingFaceFW/fineweb-edu:sample-10BT@0.9+hf:codeparrot/codeparrot-clean@0.1",
        hf_text_field="text,content",  # fineweb calls it text, codeparrot content
        vocab_size=16_384,
        # The token budget, 50,000 steps x 32 x 512 = 819 M tokens, at ~4 characters per token of
        # a 16k BPE: one pass over the corpus, no repeats (held in memory while it is tokenised)
        max_chars=3_400_000_000,
    ),
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
