"""The fake's `POST …/snapshots/{step}/…` routes (backend/api/routes/snapshots.py), computed on
demand: attention, prefix matching, ablation, logit attribution. Ablating L1H1 undoes exactly
the loss drop the phase change brought."""

from __future__ import annotations

from backend import models
from tests.dashboard.fakes.base import FakeState
from tests.dashboard.fakes.data import SHAPES, WINDOW, answer, grid, per_head
from tests.dashboard.fakes.text import check_length, ids, token_losses, tokenize


class SnapshotRoutes(FakeState):
    def attention(self, suite, run, step, text, *, layers=None, heads=None):
        self._call("attention", suite, run, step, text, tuple(layers or ()), tuple(heads or ()))
        tokens = tokenize(text)
        check_length(tokens)
        n = len(tokens)
        patterns = [
            {
                "layer": la,
                "head": h,
                "label": f"L{la}H{h}",
                "pattern": [[1.0] if q == 0 else [0.0] * (q - 1) + [0.25, 0.75] for q in range(n)],
                "packed": None,  # the client unpacks the packed encoding into `pattern`
            }
            for la in (layers or [0])
            for h in (heads or [0])
        ]
        loss = token_losses(tokens, step)
        preds = [[{"token_id": r, "token": f"tok{r}", "prob": 0.5 / (r + 1)} for r in range(5)] for _ in range(n)]
        return answer(
            models.AttentionResponse,
            {
                "suite": suite,
                "run": run,
                "step": step,
                "token_ids": ids(tokens),
                "tokens": tokens,
                "patterns": patterns,
                "loss": loss,
                "mean_loss": sum(loss) / max(len(loss), 1),
                "top_predictions": preds,
            },
        )

    def ablation(self, suite, run, step, heads, *, mode="mean", text=None):
        self._call("ablation", suite, run, step, tuple(map(tuple, heads)), mode, text)
        tokens = tokenize(text or "a b a b")
        clean = token_losses(tokens, step)
        undo = [b - a for a, b in zip(clean, token_losses(tokens, WINDOW[0]))]  # L1H1 removed: back to before
        # other heads: a small change on the tokens the phase change barely moved
        ablated = [c + (u if tuple(heads[0]) == (1, 1) else 0.01 * (u < 1)) for c, u in zip(clean, undo)]
        icl = {"icl_late": 6, "icl_early": 1, "icl_width": 1, "clean_icl": None, "ablated_icl": None, "delta_icl": None}
        return answer(
            models.AblationResponse,
            {
                "suite": suite,
                "run": run,
                "step": step,
                "mode": mode,
                "heads": [f"L{la}H{h}" for la, h in heads],
                "input": "text",
                "n_sequences": 1,
                "clean_loss": sum(clean) / len(clean),
                "ablated_loss": sum(ablated) / len(ablated),
                "delta_loss": None,
                **icl,
                "loss_clean": clean,
                "loss_ablated": ablated,
                "tokens": tokens,
            },
        )

    def prefix_matching(self, suite, run, step, *, seed=None, n_sequences=None):
        self._call("prefix_matching", suite, run, step)
        scores = grid(run, self.steps.index(step), per_head("prefix_matching"))
        return answer(
            models.PrefixMatchingResponse,
            {
                "suite": suite,
                "run": run,
                "step": step,
                "seed": seed or 0,
                "n_sequences": n_sequences or 10,
                "n_random": 25,
                "n_repeats": 4,
                "scores": scores,
                "analysis_seed": 0,
                "stored": scores,
            },
        )

    def logit_attribution(self, suite, run, step, text):
        self._call("logit_attribution", suite, run, step, text)
        tokens = tokenize(text)
        n_layers, n_heads = SHAPES[run]
        return answer(
            models.LogitAttributionResponse,
            {
                "suite": suite,
                "run": run,
                "step": step,
                "token_ids": [0] * len(tokens),
                "tokens": tokens,
                "logits": [1.0] * (len(tokens) - 1),
                "contributions": [[[0.1] * n_heads for _ in range(n_layers)] for _ in tokens[1:]],
            },
        )
