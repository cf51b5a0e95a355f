"""Weight-based head scores: copying, OV eigenvalue positivity, composition.

Pure functions of a `HookedTransformer`'s weights; nothing is run on tokens. Matrices use
TransformerLens' row-vector convention (a residual vector x is read as x @ W_V @ W_O), so the
paper's W_U W_O W_V W_E is our W_E W_V W_O W_U; transposing changes no score here.

The "direct path" of a head is token -> embedding -> the head's OV circuit -> unembedding,
ignoring positions, the other heads and MLPs. LayerNorm enters it through its fixed linear part
only: centring (LN, LNPre) and the gain `w` (LN), for `blocks.{L}.ln1` on the way in and
`ln_final` on the way out. The data-dependent scale 1/sigma (a positive number per position)
is dropped: the copying score is unchanged by any positive factor per token, the eigenvalue
positivity by one common factor, so the latter assumes the scale is similar across tokens. LN
biases are dropped (they do not depend on the head's input). TransformerLens' `fold_ln` and
`center_writing_weights`, as used on the papers' models, build the same linear part into the
weights.
"""

from __future__ import annotations

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor, nn
from transformer_lens import FactoredMatrix, HookedTransformer


def frozen_ln(x: Float[Tensor, "... d_model"], ln: nn.Module | None, normalization: str | None) -> Tensor:
    """LayerNorm's linear part on row vectors: centre (LN, LNPre), then the gain `w` (LN, RMS)."""
    if normalization in ("LN", "LNPre"):
        x = x - x.mean(-1, keepdim=True)
    if normalization in ("LN", "RMS"):
        x = x * ln.w
    return x


def direct_path_unembed(model: HookedTransformer) -> Float[Tensor, "d_model d_vocab"]:
    """W_U with `ln_final`'s linear part in front: head output (row) -> logits."""
    eye = torch.eye(model.cfg.d_model, dtype=model.W_U.dtype, device=model.W_U.device)
    ln = getattr(model, "ln_final", None)
    return frozen_ln(eye, ln, model.cfg.normalization_type) @ model.W_U


def direct_path_embed(model: HookedTransformer, layer: int) -> Float[Tensor, "d_vocab d_model"]:
    """W_E with `blocks.{layer}.ln1`'s linear part applied: token -> the head's input (row)."""
    ln = getattr(model.blocks[layer], "ln1", None)
    return frozen_ln(model.W_E, ln, model.cfg.normalization_type)


def copying_score(
    model: HookedTransformer,
    *,
    tokens: Int[Tensor, "token"] | None = None,
    chunk_size: int = 256,
) -> Float[Tensor, "layer head"]:
    """Copying score of each head's direct path (Olsson et al. 2022, "Model Analysis Table", "Copying").

    On a sample S of token types (`tokens`; all of the vocabulary if None), for each t in S:
    logits_S = e_t W_V W_O W_U restricted to the columns of S, with the LayerNorm treatment of
    the module docstring. Mean-centre over S, apply ReLU, and take
    ratio(t) = relu_logit[t] / sum_S(relu_logit) (0 if every logit equals the mean): the share of
    the head's positive logit boost among the sampled tokens that goes to the very token it
    attends to. The score is 2 * mean_t ratio(t) - 1, in [-1, 1]: 1 for a head that only raises
    the attended token's logit, -1 for one that never raises it above the mean.

    The paper scores random tokens *among each other*, which sets the scale: over a 50-token
    sample a head that mostly copies scores well above 0, a random head about -0.9. Over the
    whole 1024-token vocabulary the same copying head's boost is spread over hundreds of tokens
    above the mean and even a clear copier scored near -1 (issue 12), hence the sample. Mean
    subtraction, ReLU and ratio are our reading of the paper's evaluator; the map 2r - 1 is ours.
    """
    d_vocab = model.cfg.d_vocab
    tokens = torch.arange(d_vocab, device=model.W_E.device) if tokens is None else tokens.to(model.W_E.device)
    unembed = direct_path_unembed(model)[:, tokens]  # (d_model, |S|)
    position = torch.arange(len(tokens), device=tokens.device)  # t's column among S
    scores = []
    with torch.no_grad():
        for layer in range(model.cfg.n_layers):
            embed = direct_path_embed(model, layer)
            ratio_sum = torch.zeros(model.cfg.n_heads, dtype=unembed.dtype, device=unembed.device)
            for chunk, where in zip(tokens.split(chunk_size), position.split(chunk_size)):
                ov = torch.einsum("td,hde,hem->htm", embed[chunk], model.W_V[layer], model.W_O[layer])
                logits = ov @ unembed  # (head, token, |S|)
                boost = torch.relu(logits - logits.mean(-1, keepdim=True))
                own = boost.gather(-1, where.expand(model.cfg.n_heads, -1)[..., None])[..., 0]
                total = boost.sum(-1)
                ratio = torch.where(total > 0, own / total.clamp_min(1e-30), torch.zeros_like(own))
                ratio_sum += ratio.sum(-1)
            scores.append(2 * ratio_sum / len(tokens) - 1)
    return torch.stack(scores)


def copying_sample(d_vocab: int, n_tokens: int, seed: int, exclude: tuple[int, ...] = ()) -> Int[Tensor, "token"]:
    """The copying score's random sample: `n_tokens` distinct token types (all of them if the
    vocabulary is smaller), drawn with `seed`, never one of `exclude` (BOS and the like)."""
    allowed = torch.tensor([t for t in range(d_vocab) if t not in set(exclude)])
    order = torch.randperm(len(allowed), generator=torch.Generator().manual_seed(seed))
    return allowed[order[: min(n_tokens, len(allowed))]].sort().values


def ov_eigenvalue_positivity(model: HookedTransformer) -> Float[Tensor, "layer head"]:
    """Sum(lambda) / sum(|lambda|) over eigenvalues of each head's full OV circuit.

    Elhage et al. 2021, "Copying / Primitive Retrieval" (used by Olsson et al. 2022 for copying):
    the full OV circuit W_E W_V W_O W_U (d_vocab x d_vocab, direct path of the module docstring)
    is a copying map when its eigenvalues are mostly positive. Its nonzero eigenvalues are those
    of the d_head x d_head product W_O W_U W_E W_V (eig(AB) = eig(BA) apart from zeros), which
    is what we decompose. Complex eigenvalues come in conjugate pairs; the numerator uses real
    parts, the denominator absolute values. +1: a positive multiple of an identity (copying);
    -1: a negative one (anti-copying); 0 if every eigenvalue is 0.
    """
    unembed = direct_path_unembed(model)
    scores = []
    with torch.no_grad():
        for layer in range(model.cfg.n_layers):
            embed = direct_path_embed(model, layer)
            circuit = FactoredMatrix(embed @ model.W_V[layer], model.W_O[layer] @ unembed)
            eigenvalues = circuit.eigenvalues.to(torch.complex128)  # (head, d_head)
            total = eigenvalues.abs().sum(-1)
            ratio = eigenvalues.real.sum(-1) / total.clamp_min(1e-30)
            scores.append(torch.where(total > 0, ratio, torch.zeros_like(ratio)).to(model.W_U.dtype))
    return torch.stack(scores)


def paired_composition_scores(
    w_a: Float[Tensor, "*#pair d_model d_model"], w_b: Float[Tensor, "*#pair d_model d_model"]
) -> Float[Tensor, ...]:
    """||W_A W_B||_F / (||W_A||_F ||W_B||_F), pairs broadcast (Elhage et al. 2021, "Composition")."""
    product = w_a @ w_b
    return product.norm(dim=(-2, -1)) / (w_a.norm(dim=(-2, -1)) * w_b.norm(dim=(-2, -1)))


def random_composition_baseline(d_model: int, d_head: int, *, samples: int, seed: int) -> float:
    """Mean composition score of random Gaussian matrices shaped like a head's OV and QK.

    Both matrices are products of i.i.d. Gaussian factors (d_model x d_head)(d_head x d_model), so
    they have the rank of a real head's circuit; the score does not depend on the Gaussian's
    scale. Monte-Carlo estimate with `samples` pairs from a generator seeded with `seed`.
    """
    generator = torch.Generator().manual_seed(seed)

    def draw() -> Tensor:
        a = torch.randn(samples, d_model, d_head, generator=generator, dtype=torch.float64)
        return a @ torch.randn(samples, d_head, d_model, generator=generator, dtype=torch.float64)

    return paired_composition_scores(draw(), draw()).mean().item()


def qk_match_positivity(model: HookedTransformer) -> Float[Tensor, "layer_from head_from layer_to head_to"]:
    """The sign of K-composition: does a later head attend where an earlier head's token
    *matches* its own? (Olsson et al. 2022, the induction head's QK circuit; Elhage et al. 2021,
    "Induction heads", eigenvalue analysis of the K-composition term.)

    For an earlier head A and a later head B, the term of B's attention score from a query token
    t to a key position whose A-output carries token s is M[t, s] = q_t W_Q^B (k_s)^T with
    q_t = e_t through B's ln1 (direct path) and k_s = (e_s through A's ln1) W_V^A W_O^A through
    B's ln1, then W_K^B: M = Q K^T, (d_vocab, d_vocab) of rank <= d_head. Its eigenvalue
    positivity sum(lambda) / sum(|lambda|) is +1 when B attends where s = t (a match, what an
    induction head does with a previous-token head as A), -1 when it avoids matches. The nonzero
    eigenvalues of Q K^T are those of K^T Q (d_head x d_head), which is what is computed.
    LayerNorm scales are frozen as in the other direct-path scores. NaN where B is not later.
    """
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    norm = model.cfg.normalization_type
    out = torch.full((n_layers, n_heads, n_layers, n_heads), torch.nan)
    with torch.no_grad():
        for l_to in range(1, n_layers):
            ln_to = getattr(model.blocks[l_to], "ln1", None)
            q = direct_path_embed(model, l_to) @ model.W_Q[l_to]  # (head, d_vocab, d_head)
            for l_from in range(l_to):
                ov = direct_path_embed(model, l_from) @ (
                    model.W_V[l_from] @ model.W_O[l_from]
                )  # (head, vocab, d_model)
                k = frozen_ln(ov, ln_to, norm)[:, None] @ model.W_K[l_to][None]  # (from, to, d_vocab, d_head)
                small = k.transpose(-2, -1) @ q[None]  # (from, to, d_head, d_head)
                eig = torch.linalg.eigvals(small.double())
                out[l_from, :, l_to, :] = (eig.real.sum(-1) / eig.abs().sum(-1).clamp_min(1e-30)).float().cpu()
    return out


def composition_scores(
    model: HookedTransformer, *, baseline_samples: int = 100, seed: int = 0
) -> dict[str, Float[Tensor, "layer_from head_from layer_to head_to"]]:
    """Q-, K- and V-composition scores minus a random baseline (Elhage et al. 2021, "Composition").

    score(A, B) = ||W_A W_B||_F / (||W_A||_F ||W_B||_F), with W_A = W_V W_O of the earlier head
    and, for the later head, W_B = W_Q W_K^T ("q": the earlier head writes what the later one's
    queries read), W_K W_Q^T ("k": what its keys read) or W_V W_O ("v"). These are
    TransformerLens' `HookedTransformer.all_composition_scores` (raw weights; LayerNorm gains
    and biases are not included), computed on the d_model x d_model products instead of through
    SVDs, which gives the same norms. As Elhage et al. suggest, we subtract the expected score
    of random matrices of the same shapes (`random_composition_baseline`), so 0 means "no more
    aligned than chance" and scores can be negative. Entries with layer_to <= layer_from are
    NaN (TransformerLens sets them to 0, which would read as "exactly at baseline" here).
    """
    n_layers, n_heads = model.cfg.n_layers, model.cfg.n_heads
    baseline = random_composition_baseline(model.cfg.d_model, model.cfg.d_head, samples=baseline_samples, seed=seed)
    layers = torch.arange(n_layers, device=model.W_O.device)
    later = (layers[:, None, None, None] < layers[None, None, :, None]).expand(-1, n_heads, -1, n_heads)

    def flat(w: Tensor) -> Tensor:
        return einops.rearrange(w, "l h i j -> (l h) i j")

    with torch.no_grad():
        ov = flat(model.W_V @ model.W_O)  # (layer*head, d_model, d_model), earlier head writes
        rights = {
            "q": flat(model.W_Q @ model.W_K.transpose(-2, -1)),
            "k": flat(model.W_K @ model.W_Q.transpose(-2, -1)),
            "v": ov,
        }
        scores = {}
        for mode, right in rights.items():
            pairs = paired_composition_scores(ov[:, None], right[None, :])  # (from, to)
            pairs = einops.rearrange(pairs, "(l1 h1) (l2 h2) -> l1 h1 l2 h2", h1=n_heads, h2=n_heads)
            scores[mode] = torch.where(later, pairs - baseline, torch.nan)
    return scores
