"""The glibc heap settings that keep analysis buffers out of per-call mmaps."""

import platform

import pytest
import torch

from training.core.allocator import keep_buffers_in_heap
from training.core.config import ModelConfig
from training.core.model import Transformer


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_settings_take_effect_and_leave_results_unchanged():
    model = Transformer(ModelConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, n_ctx=64, d_vocab=50)).eval()
    tokens = torch.randint(0, 50, (4, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = model(tokens)
        assert keep_buffers_in_heap()
        assert keep_buffers_in_heap()  # idempotent
        torch.testing.assert_close(model(tokens), before, rtol=0, atol=0)
