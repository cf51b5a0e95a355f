"""Next-token loss by context position and the in-context-learning (ICL) score.

Context-index convention, used by every function here: per-token losses have shape
`[batch, pos-1]` (`[batch, context]` where they are an input), and index i is the loss of predicting token i+1 from tokens 0..i, i.e. with
i+1 tokens of context. With BOS at position 0, index 0 predicts the first text token from BOS
alone.
"""

from __future__ import annotations

import torch
from jaxtyping import Float, Int
from torch import Tensor
from transformer_lens import HookedTransformer

# Olsson et al. 2022 ("In-context learning", Key Concepts): loss of the 500th token minus the
# loss of the 50th, in 512-token contexts.
PAPER_N_CTX = 512
PAPER_LATE = 500
PAPER_EARLY = 50


def per_token_loss(model: HookedTransformer, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos-1"]:
    """Next-token cross-entropy in nats at every context index; permanent hooks stay active."""
    with torch.no_grad():
        return model(tokens, return_type="loss", loss_per_token=True)


def loss_by_position(per_token_loss: Float[Tensor, "batch context"]) -> Float[Tensor, "context"]:
    """Mean loss over the batch at each context index (see the module docstring)."""
    return per_token_loss.mean(0)


def icl_score(per_token_loss: Float[Tensor, "batch context"], *, late: int, early: int, width: int = 0) -> float:
    """In-context learning score (Olsson et al. 2022, "Key Concepts", "In-context learning").

    Mean over examples of loss[late] - loss[early], at context indices (module docstring). We
    keep the paper's sign: negative means later tokens are predicted better, i.e. the model uses
    its context; more negative is more in-context learning.

    Where we differ: with `width` > 0 each of the two losses is first averaged over the indices
    within `width` of it (clipped to the context). The paper averaged single indices over far
    more examples than we hold out; with a few dozen, one index's loss is too noisy (±0.5 nats
    measured) to place a phase change, and a small window removes most of that noise.
    """
    return icl_by_example(per_token_loss, late=late, early=early, width=width).mean().item()


def icl_by_example(
    per_token_loss: Float[Tensor, "batch context"], *, late: int, early: int, width: int = 0
) -> Float[Tensor, "batch"]:
    """`icl_score` of each example (context) on its own: what a bootstrap over examples
    resamples to put an interval on the ICL score."""
    late_idx, early_idx = icl_indices(per_token_loss.shape[-1], late=late, early=early, width=width)
    return per_token_loss[:, late_idx].mean(-1) - per_token_loss[:, early_idx].mean(-1)


def icl_indices(n: int, *, late: int, early: int, width: int = 0) -> tuple[list[int], list[int]]:
    """The context indices whose losses `icl_by_example` averages: (late ones, early ones), each
    the indices within `width` of `late` / `early`, clipped to the `n` indices of a context."""
    if not 0 <= early < late < n:
        raise ValueError(f"need 0 <= early < late < {n} context indices, got early={early}, late={late}")
    if width < 0:
        raise ValueError(f"width must be >= 0, got {width}")

    def around(i: int) -> list[int]:
        return list(range(max(i - width, 0), min(i + width, n - 1) + 1))

    return around(late), around(early)


def default_icl_indices(n_ctx: int) -> tuple[int, int]:
    """(late, early) context indices: the paper's 500 and 50 of 512, scaled to `n_ctx`.

    Rounded and clamped into 0..n_ctx-2, the context indices a full-length sequence has; with
    n_ctx = 512 this gives (500, 50), which predict the paper's tokens up to an off-by-one that
    its text does not pin down.
    """
    if n_ctx < 3:
        raise ValueError(f"an ICL score needs n_ctx >= 3, got {n_ctx}")
    last = n_ctx - 2
    late = min(max(round(PAPER_LATE * n_ctx / PAPER_N_CTX), 1), last)
    early = min(max(round(PAPER_EARLY * n_ctx / PAPER_N_CTX), 0), late - 1)
    return late, early
