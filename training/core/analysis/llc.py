"""The local learning coefficient (LLC) of a model at its weights, estimated with devinterp.

Definition (Lau et al. 2023, "Quantifying degeneracy in singular models via the learning
coefficient"; followed over training by Hoogland et al. 2024, "The developmental landscape of
in-context learning", whose 2-layer attention-only language model passes through stages that the
LLC marks):

    LLC(w*) = n*beta * (E_w[L_n(w)] - L_n(w*))

where L_n is the mean next-token loss (nats per token) on n training tokens, and the expectation
is over the tempered posterior localized at the weights w*,
p(w) ~ exp(-n*beta L_n(w) - gamma/2 |w - w*|^2), sampled by SGLD chains that start at w*. A
regular model at a minimum has LLC = d/2 (d parameters); degenerate directions (symmetries,
parameters the loss does not see) lower it, so the LLC counts the "effective" parameters.

devinterp (`devinterp.slt.sampling.sample`, version 2.0.1) runs the chains and records the loss
of every SGLD step's batch and L_n(w*); the estimate is made from those. Where we differ:
- devinterp 2.0.1's `compute_llc` averages every step, burn-in included; we leave the burn-in
  steps out of the mean (as Lau et al. do), so the estimate is made where the chains have mixed.
  The whole trace, burn-in included, is returned so that one can see that they have.
- The chains cycle through a fixed set of `cfg.batches` batches, the same for every chain, and
  L_n(w*) is measured on exactly those batches: the batch-to-batch noise of the loss then
  cancels between the two terms instead of adding to the estimate.
The standard deviation is over chains (ddof 0, as devinterp's `llc_std`).
"""

from __future__ import annotations

import contextlib
import gc
import io
import random
import re
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn

from training.core.config import LLCConfig
from training.core.model import next_token_loss

LossFn = Callable[[nn.Module, Int[Tensor, "batch pos"]], Float[Tensor, "batch pos-1"]]


@dataclass(frozen=True)
class LLCEstimate:
    """One model's LLC: mean and spread over chains, and what each chain saw."""

    mean: float  # NaN when every chain diverged
    std: float  # over the chains that did not diverge (0 with one)
    per_chain: Float[np.ndarray, "chain"]  # NaN for a chain that diverged
    init_loss: float  # L_n(w*), nats per token, on the batches the chains cycle through
    loss_trace: Float[np.ndarray, "chain step"]  # each SGLD step's batch loss, burn-in included
    burnin: int  # the first `burnin` steps of the trace are not in the estimate

    @property
    def diverged(self) -> int:
        return int(np.isnan(self.per_chain).sum())


class _Plain(nn.Module):
    """The model with no `cfg` attribute: devinterp takes any module whose `cfg` has `n_heads`
    for a TransformerLens model and calls it with TransformerLens-only arguments."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor) -> Tensor:
        return self.model(tokens)


def next_token_losses(model: nn.Module, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos-1"]:
    """The training loss, per token (what `training.pipeline.train` averages)."""
    return next_token_loss(model(tokens), tokens)


@contextlib.contextmanager
def _rng_kept() -> Iterator[None]:
    """devinterp seeds the global torch, numpy and Python RNGs; put them back afterwards."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng():
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """devinterp runs a full garbage collection before and after every chain: ~0.3 s each with
    torch, TransformerLens and datasets imported (their ~500k objects). Frozen, a collection
    skips the objects that existed before sampling and still frees the chains' own."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def estimate_llc(
    model: nn.Module,
    sequences: Int[Tensor, "n pos"],
    cfg: LLCConfig,
    *,
    loss_fn: LossFn = next_token_losses,
) -> LLCEstimate:
    """The LLC of `model` at its current weights (left unchanged), on `sequences`.

    The chains cycle through the first `cfg.batches * cfg.batch_size` sequences in a shuffled
    order fixed by `cfg.seed` (the same for every chain; chain c's noise is seeded `seed + c`).
    `loss_fn(model, tokens)` gives the per-token loss, (batch, pos - 1); its mean over the batch
    is L_n. A chain whose loss turns NaN or infinite stops and counts as diverged.
    """
    from datasets import Dataset
    from devinterp.slt.llc import compute_llc
    from devinterp.slt.sampling import sample

    n = cfg.batches * cfg.batch_size
    if sequences.ndim != 2 or len(sequences) < n or sequences.shape[1] < 2:
        raise ValueError(f"need at least {n} sequences of 2+ tokens, got shape {tuple(sequences.shape)}")
    dataset = Dataset.from_dict({"input_ids": sequences[:n].numpy()}).with_format("torch")
    was_training = model.training
    with (
        tempfile.TemporaryDirectory(prefix="llc-") as tmp,
        _rng_kept(),
        _gc_frozen(),
        contextlib.redirect_stderr(io.StringIO()),  # one progress bar per chain
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.simplefilter("always")
        tree = sample(
            model=_Plain(model),
            dataset=dataset,
            observables={},
            lr=cfg.epsilon,
            n_beta=cfg.nbeta,
            localization=cfg.gamma,
            num_chains=cfg.chains,
            num_draws=cfg.draws,
            num_burnin_steps=cfg.burnin,
            batch_size=cfg.batch_size,
            num_init_loss_batches=cfg.batches,
            init_seed=cfg.seed,
            device=str(next(model.parameters()).device),
            output_path=Path(tmp) / "samples.zarr",
            loss_fn=loss_fn,
        )
        summary = compute_llc(tree)
        trace = summary["loss_trace"].values.astype(np.float64)  # (chain, step)
        init_loss = float(summary["init_loss"])
    model.train(was_training)
    failed = {int(c) for w in caught for c in re.findall(r"Chain (\d+) failed", str(w.message))}
    post = trace[:, cfg.burnin :]
    per_chain = cfg.nbeta * (post.mean(axis=1) - init_loss)
    per_chain[[c in failed or not np.isfinite(post[c]).all() for c in range(cfg.chains)]] = np.nan
    ok = per_chain[~np.isnan(per_chain)]
    return LLCEstimate(
        mean=float(ok.mean()) if len(ok) else float("nan"),
        std=float(ok.std()) if len(ok) else float("nan"),
        per_chain=per_chain,
        init_loss=init_loss,
        loss_trace=trace,
        burnin=cfg.burnin,
    )
