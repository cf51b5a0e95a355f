"""A small training model with random weights for the architecture tests, shared by the app's
tests and the TransformerLens 4 environment's (`tests/tl4`): torch and `training.core.model` only."""

import torch

from training.core.config import ModelConfig
from training.core.model import Transformer


def random_model(**options) -> Transformer:
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=32, n_heads=2, d_head=8, n_ctx=24, d_vocab=40, smear_init=0.3, **options)
    model = Transformer(cfg)
    with torch.no_grad():  # non-trivial biases, LayerNorm weights and smearing
        for _name, p in model.named_parameters():
            if p.ndim == 1:
                p.normal_(0, 0.3)
    return model
