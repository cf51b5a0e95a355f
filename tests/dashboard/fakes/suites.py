"""The fake's `/registry` and `/suites…` routes (backend/api/routes/registry.py, suites.py): the
registry itself, the suite and its runs, what trains now, the PCA and the claims report."""

from __future__ import annotations

from backend import models
from backend.services.metrics import metric_registry
from tests.dashboard.fakes.base import FakeState
from tests.dashboard.fakes.data import (
    HELDOUT,
    ICL,
    INDUCTION_PEAK,
    N_CTX,
    PROGRESS,
    REPLICATE,
    SEED_NUMBERS,
    SHAPES,
    TOKENS_PER_STEP,
    answer,
    at,
    not_found,
)


class SuiteRoutes(FakeState):
    def health(self):
        self._call("health")
        counts = {"suites": len(self.suite_names), "runs": len(self.runs), "cached_snapshots": 0}
        return answer(models.HealthResponse, {"status": "ok", "artifacts_dir": "artifacts", **counts})

    def registry(self):
        self._call("registry")
        return metric_registry().model_dump(mode="json")  # the service's own answer

    def suites(self):
        self._call("suites")
        analysed = any(self._full(r) for r in self.runs)
        listing = {"suites": [{"name": s, "runs": self.runs, "analysed": analysed} for s in self.suite_names]}
        return answer(models.SuiteList, listing)["suites"]  # the client's `suites()` unwraps the list

    def suite(self, name):
        self._call("suite", name)
        if name not in self.suite_names:
            raise not_found(f"no suite named {name!r}")
        runs = [
            {
                "name": run,
                "description": f"{SHAPES[run][0]}-layer attention-only",
                "status": "training" if run == self.training else "complete",
                "model": {
                    "n_layers": SHAPES[run][0],
                    "n_heads": SHAPES[run][1],
                    "n_ctx": N_CTX,
                    "attn_only": True,
                    "d_model": 32,
                    "qk_pos_layers": 1,
                },
                "train": {"steps": self.steps[-1]},
                "analysis": {},
                "tokens_per_step": TOKENS_PER_STEP,
                "snapshots": [
                    {"step": s, "tokens_seen": s * TOKENS_PER_STEP, "train_loss": h + 0.1, "heldout_loss": h}
                    for s, h in zip(self.steps, at(HELDOUT[run], len(self.steps)))
                ],
                "analysed_steps": self.steps if self._full(run) else [],
                "live_steps": self.steps if self.measured else [],
                "replicate": {"of": "attn2", "index": 1, "seed": 1} if run == REPLICATE else None,
            }
            for run in self.runs
        ]
        data = {
            "source": "stdlib",
            "tokenizer": "bpe",
            "vocab_size": 384,
            "train_tokens": 52493,
            "heldout_tokens": 1281,
            "config": {"source": "stdlib", "repeat_fraction": 0.25, "repeat_layout": "random", "vocab_size": 384},
        }
        return answer(models.SuiteDetail, {"name": name, "data": data, "runs": runs})

    suite_fresh = suite

    def status(self, name):
        self._call("status", name)
        training = {"run": self.training, **PROGRESS, "updated_s_ago": 1.5, "best_head": "L1H1"}
        return answer(
            models.SuiteStatus,
            {
                "suite": name,
                "training": [{**training, "best_score": INDUCTION_PEAK}] if self.training else [],
                "runs": {r: "training" if r == self.training else "complete" for r in self.runs},
            },
        )

    def pca(self, suite, components=2):
        self._call("pca", suite)
        analysed = [run for run in self.runs if self._full(run)]
        if not analysed:
            raise not_found(f"suite {suite!r} has no pca table yet: it is written when the first run has been analysed")
        runs = {
            run: {
                "steps": self.steps,
                "tokens_seen": [s * TOKENS_PER_STEP for s in self.steps],
                "coords": [
                    [10.0 - i * (3 if run == "attn2" else 1), (i - 2.0) ** 2 if run == "attn2" else 0.5 * i]
                    for i in range(len(self.steps))
                ],
                "phase": self.phase(run),
            }
            for run in analysed
        }
        pca = {"suite": suite, "components": components, "explained_variance": [0.6123, 0.2046], "n_tokens": 256}
        return answer(models.PcaResponse, {**pca, "runs": runs, "note": "PCA over per-token losses"})

    def report(self, suite):
        self._call("report", suite)
        claims = [
            {
                "id": "a",
                "claim": "Induction heads form in multi-layer attention-only models and never in the 1-layer one.",
                "status": "pass",
                "details": "attn2: peak 0.831 (L1H1)",
                "numbers": {"peaks": {"attn2": {"score": INDUCTION_PEAK}}},
            },
            {
                "id": "e",
                "claim": "Ablating the induction head removes most of the ICL score.",
                "status": "fail",
                "details": "removes 41% (needs 50%)",
                "numbers": {"fraction": 0.41},
            },
            {
                "id": "c",
                "claim": "The smeared-key 1-layer model forms induction heads.",
                "status": "n/a",
                "details": "no smeared-key run",
                "numbers": {},
            },
            {
                "id": "g",
                "claim": "The 3-layer model forms induction heads too.",
                "status": "waiting",
                "details": "waiting for attn3",
                "numbers": {},
            },
        ]
        runs = {
            "attn2": {
                "kind": "2L-attn",
                "peak_prefix_matching": {"score": INDUCTION_PEAK, "step": 160, "head": "L1H1"},
            },
            "attn1": {"kind": "1L-attn", "peak_prefix_matching": {"score": 0.0612, "step": 160, "head": "L0H1"}},
        }
        report = {"suite": suite, "generated": "2026-01-01T00:00:00+00:00", "passed": 1, "failed": 1, "waiting": 1}
        return answer(
            models.ReportResponse,
            {
                **report,
                "claims": claims,
                "runs": runs,
                "seeds": {"attn2": self._seed_spread()} if REPLICATE in self.runs else {},
                "markdown": "# Claims report: suite `fake`",
            },
        )

    @staticmethod
    def _seed_spread() -> dict:
        """The report's Seeds section for attn2: two analysed seeds and a third one waiting."""
        analysed = [
            {
                "run": run,
                "seed": seed,
                "status": "analysed",
                **SEED_NUMBERS[run],
                "final_icl": round(sum(ICL[run][-5:]) / 5, 4),
                "final_heldout_loss": HELDOUT[run][-1],
                "icl_metric": "icl_score",
            }
            for seed, run in enumerate(("attn2", REPLICATE))
        ]
        waiting = {"run": "attn2-seed2", "seed": 2, "status": "waiting"}
        spread = {
            field: {"n": 2, "mean": round(sum(v) / 2, 4), "min": min(v), "max": max(v), "std": None}
            for field in ("induction_step", "phase_start", "phase_end", "peak_prefix_matching", "final_icl")
            for v in [[r[field] for r in analysed]]
        }
        spread["final_heldout_loss"] = {"n": 2, "mean": 3.925, "min": 3.9, "max": 3.95, "std": None}
        return {"run": "attn2", "seeds": [*analysed, waiting], "spread": spread, "icl_metric": "icl_score"}
