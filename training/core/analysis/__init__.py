"""Metrics that show induction heads forming: pure functions, no I/O.

Each takes a `transformer_lens.HookedTransformer` (or its activations, or loss values) and
tokens, and returns tensors indexed by (layer, head) where it scores heads. Definitions follow
Olsson et al. 2022, "In-context Learning and Induction Heads", and, for composition, Elhage et
al. 2021, "A Mathematical Framework for Transformer Circuits"; each docstring says where ours
differs.

- `scores`: attention-pattern scores (prefix matching, previous token, duplicate token);
- `shortcuts`: the positional-shortcut controls (prefix matching by repeat period, attention to
  fixed offsets);
- `circuits`: weight-based scores (copying, OV eigenvalue positivity, Q/K/V composition);
- `attribution`: direct logit attribution and head ablations;
- `loss`: loss by context position and the ICL score;
- `trajectory`: joint per-token-loss PCA, the before-and-after vector, phase-change detection;
- `llc`: the local learning coefficient (Lau et al. 2023), estimated with devinterp's SGLD.
"""

from training.core.analysis.attribution import (
    ablate_heads_loss,
    clean_attention_patterns,
    direct_logit_attribution,
    direct_logit_attribution_per_token,
    head_ablation_effects,
)
from training.core.analysis.circuits import (
    composition_scores,
    copying_score,
    ov_eigenvalue_positivity,
    random_composition_baseline,
)
from training.core.analysis.llc import LLCEstimate, estimate_llc
from training.core.analysis.loss import default_icl_indices, icl_score, loss_by_position, per_token_loss
from training.core.analysis.scores import (
    attention_patterns,
    duplicate_token_score,
    head_scores_on_text,
    prefix_matching_score,
    prefix_matching_scores,
    prefix_matching_sequences,
    previous_token_score,
)
from training.core.analysis.shortcuts import offset_attention, period_prefix_score, period_sweep
from training.core.analysis.trajectory import (
    JointPCA,
    PhaseWindow,
    ablation_alignment,
    before_after_vector,
    detect_phase_change,
    joint_pca,
)

__all__ = [
    "JointPCA",
    "LLCEstimate",
    "PhaseWindow",
    "ablate_heads_loss",
    "ablation_alignment",
    "attention_patterns",
    "before_after_vector",
    "clean_attention_patterns",
    "composition_scores",
    "copying_score",
    "default_icl_indices",
    "detect_phase_change",
    "direct_logit_attribution",
    "direct_logit_attribution_per_token",
    "duplicate_token_score",
    "estimate_llc",
    "head_ablation_effects",
    "head_scores_on_text",
    "icl_score",
    "joint_pca",
    "loss_by_position",
    "offset_attention",
    "ov_eigenvalue_positivity",
    "per_token_loss",
    "period_prefix_score",
    "period_sweep",
    "prefix_matching_score",
    "prefix_matching_scores",
    "prefix_matching_sequences",
    "previous_token_score",
    "random_composition_baseline",
]
