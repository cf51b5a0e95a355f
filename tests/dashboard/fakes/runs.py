"""The fake's `/suites/{suite}/runs/{run}/…` routes (backend/api/routes/runs.py, llc.py): a
run's curves, one snapshot's head table (every per-head score a `[layer][head]` grid), its LLC.

Every per-head metric of the registry is stored for an analysed run, the live ones only for a
run in training; the maximum over heads is the service's own `best_of`."""

from __future__ import annotations

import numpy as np

from backend import models
from backend.services.metrics import best_of
from tests.dashboard.fakes.base import FakeState
from tests.dashboard.fakes.data import (
    HELDOUT,
    ICL,
    ICL_WIDE,
    LIVE,
    LLC_MEAN,
    LLC_SETTINGS,
    LLC_STD,
    N_CTX,
    PER_HEAD,
    PROFILES,
    PROGRESS,
    SHAPES,
    THRESHOLD,
    TOKENS_PER_STEP,
    answer,
    at,
    grid,
    not_found,
    per_head,
)

ICL_HALF_WIDTH = 0.0512  # the drawn ICL score's 95% interval: value -+ this


def icl_curve(values: list[float], full: bool) -> dict:
    """What the service's `icl` holds: the wide score once analysed, the trainer's live one before."""
    metric, contexts, source = (
        ("icl_wide", 512, "the full analysis") if full else ("icl_live", 128, "the trainer's live score")
    )
    return {
        "metric": metric,
        "contexts": contexts,
        "label": f"ICL score on {contexts} held-out contexts, from {source}",
        "values": values,
        "low": [round(v - ICL_HALF_WIDTH, 4) for v in values],
        "high": [round(v + ICL_HALF_WIDTH, 4) for v in values],
    }


def formed(steps: list[int], prefix: list) -> dict | None:
    """What the service's `formed` holds: the first step whose best head passes THRESHOLD."""
    if not prefix:
        return None
    best = best_of(np.array(prefix, dtype=float))
    for step, value, head in zip(steps, best.values, best.heads):
        if value is not None and value > THRESHOLD:
            layer, h = int(head[1]), int(head[3])
            return {"step": step, "tokens_seen": step * TOKENS_PER_STEP, "layer": layer, "head": h, "label": head,
                    "score": value, "threshold": THRESHOLD}  # fmt: skip
    return None


class RunRoutes(FakeState):
    def _head_metrics(self, run: str) -> dict[str, list]:
        """name -> [snapshot][layer][head], as the store stacks them."""
        stages = self._stages(run)
        names = PER_HEAD if stages and "live" not in stages else LIVE
        return {name: [grid(run, i, per_head(name)) for i in range(len(stages))] for name in names}

    def run_metrics(self, suite, run, max_points=400):
        self._call("run_metrics", suite, run)
        stages = self._stages(run)
        n = len(stages)
        head_metrics = self._head_metrics(run)
        heldout = at(HELDOUT[run], len(self.steps))
        curves = {
            "icl_score": at(ICL[run], n),
            "icl_wide": at(ICL_WIDE[run], n) if self._full(run) else [None] * n,
            "icl_live": at(ICL[run], n),
            "icl": icl_curve(at(ICL_WIDE[run] if self._full(run) else ICL[run], n), self._full(run)) if n else None,
            "formed": formed(self.steps[:n], head_metrics.get("prefix_matching", [])) if n else None,
            "icl_late": 6,
            "icl_early": 1,
            "icl_width": 1,
            "eval_loss": at(HELDOUT[run], n),
            "loss_by_position": [
                [round(6.0 - 0.1 * i - (0.2 * p if i >= 3 else 0.0), 4) for p in range(N_CTX)] for i in range(n)
            ],
        }
        return answer(
            models.RunMetricsResponse,
            {
                "suite": suite,
                "run": run,
                "status": "training" if run == self.training else "complete",
                "n_layers": SHAPES[run][0],
                "n_heads": SHAPES[run][1],
                "train_loss": {
                    "steps": [float(s) for s in range(1, self.steps[-1] + 1, 10)] or [0.0],
                    "values": [6.0 - 0.01 * s for s in range(1, self.steps[-1] + 1, 10)] or [6.0],
                    "bucket": 10,
                },
                "snapshots": {
                    "steps": self.steps,
                    "tokens_seen": [s * TOKENS_PER_STEP for s in self.steps],
                    "train_loss": [h + 0.1 for h in heldout],
                    "heldout_loss": heldout,
                },
                "analysed": self._full(run),
                "live": "live" in stages,
                "steps": self.steps[:n],
                "tokens_seen": [s * TOKENS_PER_STEP for s in self.steps[:n]],
                "stages": stages,
                **curves,
                "head_metrics": head_metrics,
                "best_heads": {
                    name: best_of(np.array(grids, dtype=float)).model_dump() for name, grids in head_metrics.items()
                },
                "composition": {"q": [], "k": [], "v": []},
                "phase": self.phase(run) if n else None,
                "progress": {"run": run, **PROGRESS, "updated": 1.7e9} if run == self.training else None,
                "ablations": self.ablations,
                "source": "",
            },
        )

    def llc(self, suite, run):
        self._call("llc", suite, run)
        if run not in self.llc_runs:
            return None  # the client's answer to the service's 404
        steps = [s for s in self.steps if s > 0][: len(LLC_MEAN)]
        n = len(steps)
        return answer(
            models.LLCResponse,
            {
                "suite": suite,
                "run": run,
                "steps": steps,
                "tokens_seen": [s * TOKENS_PER_STEP for s in steps],
                "mean": LLC_MEAN[:n],
                "std": LLC_STD[:n],
                "per_chain": [[m - s, m + s] for m, s in zip(LLC_MEAN[:n], LLC_STD[:n])],
                "init_loss": [4.0] * n,
                "burnin": LLC_SETTINGS["burnin"],
                "loss_traces": None,
                "settings": {**LLC_SETTINGS, "hash": "0123456789abcdef"},
            },
        )

    def heads(self, suite, run, step):
        self._call("heads", suite, run, step)
        if step in self.missing_heads or not self.measured:
            raise not_found(f"snapshot {suite}/{run} step {step} has no metrics yet")
        i = self.steps.index(step)
        return answer(
            models.HeadTable,
            {
                "suite": suite,
                "run": run,
                "step": step,
                "tokens_seen": step * TOKENS_PER_STEP,
                "stage": self._stages(run)[i],
                "icl_score": at(ICL[run], i + 1)[i],
                "eval_loss": at(HELDOUT[run], i + 1)[i],
                "scores": {name: grids[i] for name, grids in self._head_metrics(run).items()},
                "profiles": self._profiles(run, i),
                "composition_q": [],
                "composition_k": [],
                "composition_v": [],
            },
        )

    def _profiles(self, run: str, i: int) -> dict:
        """As the service: stored by the full analysis (every snapshot of a run in training is live here)."""
        if not self.profiled or self._stages(run)[i] != "full":
            return {}
        return {
            name: {"axis": axis, "coords": coords, "values": grid(run, i, f)}
            for name, (axis, coords, f) in PROFILES.items()
        }
