"""The fake's token routes (backend/api/routes/tokens.py): a text's per-token losses (computed
on demand) and the suite's stored before-and-after table."""

from __future__ import annotations

from backend import models
from tests.dashboard.fakes.base import FakeState
from tests.dashboard.fakes.data import ALIGNMENT, PROJECTION, WINDOW, answer, not_found
from tests.dashboard.fakes.text import check_length, ids, repeat_of, token_losses, tokenize


class TokenRoutes(FakeState):
    def losses(self, suite, run, step, text, baseline_step=None):
        self._call("losses", suite, run, step, text, baseline_step)
        tokens = tokenize(text)
        check_length(tokens)
        token_ids = ids(tokens)
        loss = token_losses(tokens, step)
        baseline = {}  # the model's defaults: null
        if baseline_step is not None:
            before = token_losses(tokens, baseline_step)
            baseline = {
                "baseline_step": baseline_step,
                "baseline_loss": before,
                "loss_change": [y - x for x, y in zip(before, loss)],
                "baseline_mean_loss": sum(before) / max(len(before), 1),
            }
        earlier = [
            next((k for k in range(j - 1, -1, -1) if token_ids[k] == token_ids[j]), None) for j in range(len(tokens))
        ]
        return answer(
            models.LossesResponse,
            {
                **baseline,
                "suite": suite,
                "run": run,
                "step": step,
                "token_ids": token_ids,
                "tokens": tokens,
                "loss": loss,
                "mean_loss": sum(loss) / max(len(loss), 1),
                "earlier": earlier,
                "repeat_of": repeat_of(tokens),
            },
        )

    def before_after(self, suite):
        self._call("before_after", suite)
        if not any(self._full(run) for run in self.runs):
            raise not_found(f"suite {suite!r} has no before-and-after table yet")
        runs = {}
        if self._full("attn2") and len(self.steps) >= 5:
            window = {"before_step": WINDOW[0], "after_step": WINDOW[1], "loss_change": -0.7654}
            alignment = [[0.05, -0.02], [0.11, ALIGNMENT]]
            if self.old_before_after:  # written before projections: the model's defaults fill the rest
                runs["attn2"] = {**window, "mode": "mean", "alignment": alignment, "note": "cosine"}
            else:
                runs["attn2"] = {
                    **window,
                    "mode": "pattern_preserving",
                    "alignment": alignment,
                    "projection": [[0.02, -0.01], [0.06, PROJECTION]],
                    "induction_heads": [[1, 1]],
                    "induction_projection": 0.8456,
                    "induction_alignment": 0.9412,
                    "note": "projection and cosine with the reversed before-and-after vector",
                }
        return answer(models.BeforeAfterResponse, {"suite": suite, "runs": runs})
