"""A stand-in for the REST service: the functions of `dashboard.client`, answering with small
hand-made values that are easy to find again in the charts (`test_api_types.py` checks that
they fit the service's response models).

Suite `fake` has two runs. `attn2` (2 layers x 2 heads) forms an induction head, L1H1, in a
phase window from step 20 to step 80; `attn1` (1 layer x 2 heads) has no window. In the period
sweep and the offsets, L1H1 is high at every period and L0H1 is a positional shortcut: it
attends to q - 3, so it scores at period 4 and offset 3 only. Every run
has a step every 100 tokens. A text is "tokenised" into words; its per-token loss drops on the
second copy of a passage after the window, and ablating L1H1 undoes exactly that drop.

`training = "attn2"` makes attn2 a run in training: the status lists it, and its metrics are
the trainer's live ones only. `analysed = False` leaves every run with live metrics only;
`measured = False` leaves them with no metrics at all. `add_replicate()` adds `attn2-seed1`,
attn2 trained again with train.seed 1 (`--seeds`), and the report's Seeds section (attn2's
third seed still waiting).
"""

from __future__ import annotations

import itertools
import re

from dashboard.client import ServiceError

SUITE = "fake"
STEPS = [0, 10, 20, 40, 80, 160]
TOKENS_PER_STEP = 100
WINDOW = (20, 80)
N_CTX = 8
REPLICATE = "attn2-seed1"  # attn2 with train.seed 1, in the suite after `add_replicate()`
HELDOUT = {
    "attn2": [6.0, 5.5, 5.0, 4.2, 3.9876, 3.9],
    "attn1": [6.0, 5.6, 5.2, 4.9, 4.7654, 4.7],
    REPLICATE: [6.0, 5.4, 5.1, 4.4, 4.0123, 3.95],
}
ICL = {
    "attn2": [0.05, 0.04, -0.1, -0.6, -0.9, -0.9512],
    "attn1": [0.05, 0.03, 0.0, -0.1, -0.15, -0.1687],
    REPLICATE: [0.06, 0.05, -0.02, -0.3, -0.85, -0.9345],
}
# the wide ICL score (512 contexts), drawn instead once a run is fully analysed
ICL_WIDE = {
    "attn2": [0.01, 0.0, -0.12, -0.55, -0.81, -0.8234],
    "attn1": [0.01, 0.0, -0.02, -0.08, -0.1, -0.1123],
    REPLICATE: [0.02, 0.01, -0.03, -0.25, -0.8, -0.8456],
}
INDUCTION_PEAK = 0.8312  # L1H1's prefix-matching score at the last step
SEED_NUMBERS = {  # the report's numbers of attn2 and its replicate
    "attn2": {"induction_step": 40, "phase_start": 20, "phase_end": 80, "peak_prefix_matching": 0.831},
    REPLICATE: {"induction_step": 80, "phase_start": 40, "phase_end": 160, "peak_prefix_matching": 0.7777},
}
INDUCTION_COPYING = 0.7123
ALIGNMENT = 0.9321  # L1H1's stored cosine with the reversed before-and-after vector
PROJECTION = 0.8123  # the share of the before-and-after change L1H1's ablation undoes
THRESHOLD = 0.3
SHAPES = {"attn2": (2, 2), "attn1": (1, 2), REPLICATE: (2, 2)}
PERIODS = [2, 3, 4]  # training.core.analysis.shortcuts' sweeps for N_CTX = 8
OFFSETS = [1, 2, 3, 4, 5]
INDUCTION_BY_PERIOD = [0.8123, 0.7456, 0.6389]  # L1H1 at the last step
SHORTCUT_PEAK = 0.9712  # L0H1 at period 4 and at offset 3
# attn2's local learning coefficient at steps 10, 40, 80, 160 (attn1 has none: a 404)
LLC_MEAN, LLC_STD = [20.5, 35.25, 61.75, 58.125], [0.5, 0.75, 1.25, 1.0]
LLC_SETTINGS = {"epsilon": 0.003, "gamma": 100.0, "nbeta": 30.0, "chains": 2, "draws": 3, "burnin": 1, "batch_size": 4}
PROGRESS = {"step": 120, "steps": 500, "tokens_per_s": 12345.0, "elapsed_s": 60.0, "eta_s": 190.0}
DOWN = ServiceError(
    "The inductionscope service is not reachable at http://localhost:8000 (ConnectError). "
    "Start it from the repository root with `.venv/bin/uvicorn backend.main:app`, or set INDUCTIONSCOPE_API to its address.",
    unreachable=True,
)


def _metric(name, label, stage, low=None, high=None, axes=("layer", "head")):
    return {
        "name": name,
        "axes": list(axes),
        "label": label,
        "low": low,
        "high": high,
        "meaning": f"what {label} measures",
        "section": "Model analysis table",
        "stage": stage,
        "per_head": list(axes) == ["layer", "head"],
    }


REGISTRY = [
    _metric("eval_loss", "held-out loss", "live", 0.0, axes=()),
    _metric("icl_score", "ICL score", "live", axes=()),
    _metric("prefix_matching", "prefix matching", "live", 0.0, 1.0),
    _metric("previous_token", "previous token", "live", 0.0, 1.0),
    _metric("duplicate_token", "duplicate token", "live", 0.0, 1.0),
    _metric("copying", "copying", "analysis", -1.0, 1.0),
    _metric("eigenvalue_positivity", "OV eigenvalue positivity", "analysis", -1.0, 1.0),
    _metric("logit_attribution", "direct logit attribution", "analysis"),
    _metric("prefix_by_period", "prefix matching by repeat period", "analysis", 0.0, 1.0, ("layer", "head", "period")),
    _metric("offset_attention", "attention to a fixed offset", "analysis", 0.0, 1.0, ("layer", "head", "offset")),
    *(
        _metric(f"ablation_{tag}_delta_{what}", f"{label} ablation: Δ {what}", "ablation")
        for tag, label in (("mean", "mean"), ("pp", "pattern-preserving"))
        for what in ("loss", "icl")
    ),
]
LIVE = [m["name"] for m in REGISTRY if m["per_head"] and m["stage"] == "live"]


def _at(values: list[float], n: int) -> list[float]:
    """The first n values, the last one repeated for steps added by a test."""
    return [values[min(i, len(values) - 1)] for i in range(n)]


def _grid(run: str, i: int, value) -> list[list[float | None]]:
    n_layers, n_heads = SHAPES[run]
    return [[value(layer, head, i) for head in range(n_heads)] for layer in range(n_layers)]


def _prefix(layer: int, head: int, i: int) -> float:
    return round(INDUCTION_PEAK * i / (len(STEPS) - 1), 4) if (layer, head) == (1, 1) else 0.03 + 0.001 * head


def _copying(layer: int, head: int, i: int) -> float:
    return INDUCTION_COPYING if (layer, head) == (1, 1) and i == len(STEPS) - 1 else -0.2 + 0.1 * layer


def _ablation(layer: int, head: int, i: int) -> float | None:
    if i % 2:
        return None  # ablated at every other snapshot only
    return 0.4321 if (layer, head) == (1, 1) and i >= 3 else 0.01


PER_HEAD = {
    "prefix_matching": _prefix,
    "previous_token": lambda la, h, i: 0.5 if (la, h) == (0, 0) else 0.1,
    "duplicate_token": lambda la, h, i: 0.05,
    "copying": _copying,
    "eigenvalue_positivity": lambda la, h, i: 0.1 * i,
    "logit_attribution": lambda la, h, i: 0.01 * h,
    **{m["name"]: _ablation for m in REGISTRY if m["stage"] == "ablation"},
}


def _by_period(layer: int, head: int, i: int) -> list[float]:
    if (layer, head) == (1, 1):
        return [round(v * i / (len(STEPS) - 1), 4) for v in INDUCTION_BY_PERIOD]
    if (layer, head) == (0, 1):
        return [0.0 if p != 4 else SHORTCUT_PEAK for p in PERIODS]
    return [0.02] * len(PERIODS)


def _by_offset(layer: int, head: int, i: int) -> list[float]:
    if (layer, head) == (0, 1):
        return [0.0 if k != 3 else SHORTCUT_PEAK for k in OFFSETS]
    return [0.3, 0.1, 0.05, 0.05, 0.05] if (layer, head) == (0, 0) else [0.1] * len(OFFSETS)


PROFILES = {"prefix_by_period": ("period", PERIODS, _by_period), "offset_attention": ("offset", OFFSETS, _by_offset)}


def _best(grids: list[list[list[float | None]]]) -> dict:
    """What the service's `best_heads` holds: per snapshot, the largest value and its head."""
    values, heads = [], []
    for grid in grids:
        cells = [(v, f"L{la}H{h}") for la, row in enumerate(grid) for h, v in enumerate(row) if v is not None]
        best = max(cells, default=(None, None), key=lambda c: c[0])
        values.append(best[0]), heads.append(best[1])
    return {"values": values, "heads": heads}


def _not_found(detail: str) -> ServiceError:
    return ServiceError(f"The service answered 404: {detail}", status=404, detail=detail)


class FakeService:
    """Answers like the service; set `down` to make every call fail, or trim the data for empty states."""

    def __init__(self):
        self.down: ServiceError | None = None
        self.suite_names = [SUITE]
        self.runs = ["attn2", "attn1"]
        self.steps = list(STEPS)
        self.analysed = True
        self.measured = True
        self.training: str | None = None
        self.missing_heads: set[int] = set()  # steps whose head table answers 404
        self.llc_runs = {"attn2"}  # runs whose LLC the analysis estimated
        self.old_before_after = False  # a before-and-after table written before projections
        self.profiled = True  # False: the runs were analysed before the period sweep and the offsets existed
        self.ablations = True  # False: analysed without ablations (an imported model above 5 M parameters)
        self.calls: list[tuple] = []

    def add_replicate(self) -> None:
        self.runs.append(REPLICATE)

    def _call(self, name: str, *args) -> None:
        self.calls.append((name, *args))
        if self.down is not None:
            raise self.down

    def reachable(self) -> bool:
        self.calls.append(("reachable",))
        return self.down is None

    def _stages(self, run: str) -> list[str]:
        if not self.measured:
            return []
        live = run == self.training or not self.analysed
        return ["live" if live else "full"] * len(self.steps)

    def _full(self, run: str) -> bool:
        stages = self._stages(run)
        return bool(stages) and "live" not in stages

    # ---- stored ------------------------------------------------------------------------------
    def registry(self):
        self._call("registry")
        return {"metrics": REGISTRY, "induction_threshold": THRESHOLD}

    def suites(self):
        self._call("suites")
        analysed = any(self._full(r) for r in self.runs)
        return [{"name": s, "runs": self.runs, "analysed": analysed} for s in self.suite_names]

    def suite(self, name):
        self._call("suite", name)
        if name not in self.suite_names:
            raise _not_found(f"no suite named {name!r}")
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
                    for s, h in zip(self.steps, _at(HELDOUT[run], len(self.steps)))
                ],
                "analysed_steps": self.steps if self._full(run) else [],
                "live_steps": self.steps if self.measured else [],
                "error": None,
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
        return {"name": name, "data": data, "runs": runs}

    suite_fresh = suite

    def status(self, name):
        self._call("status", name)
        training = [
            {
                "run": self.training,
                **PROGRESS,
                "updated_s_ago": 1.5,
                "best_head": "L1H1",
                "best_score": INDUCTION_PEAK,
            }
        ]
        return {
            "suite": name,
            "training": training if self.training else [],
            "runs": {r: "training" if r == self.training else "complete" for r in self.runs},
        }

    def phase(self, run):
        if run == "attn2" and len(self.steps) >= 5:
            return {
                "found": True,
                "reason": "",
                "start_step": WINDOW[0],
                "end_step": WINDOW[1],
                "icl_fraction": 0.91,
                "tokens_per_step": TOKENS_PER_STEP,
            }
        return {
            "found": False,
            "reason": "max prefix-matching score never exceeds 0.3 (peak 0.06)",
            "start_step": None,
            "end_step": None,
            "icl_fraction": None,
            "tokens_per_step": TOKENS_PER_STEP,
        }

    def _head_metrics(self, run: str) -> dict[str, list]:
        stages = self._stages(run)
        names = PER_HEAD if stages and "live" not in stages else LIVE
        return {name: [_grid(run, i, PER_HEAD[name]) for i in range(len(stages))] for name in names}

    def run_metrics(self, suite, run, max_points=400):
        self._call("run_metrics", suite, run)
        stages = self._stages(run)
        n = len(stages)
        head_metrics = self._head_metrics(run)
        return {
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
                "train_loss": [h + 0.1 for h in _at(HELDOUT[run], len(self.steps))],
                "heldout_loss": _at(HELDOUT[run], len(self.steps)),
            },
            "analysed": self._full(run),
            "live": "live" in stages,
            "steps": self.steps[:n],
            "tokens_seen": [s * TOKENS_PER_STEP for s in self.steps[:n]],
            "stages": stages,
            "icl_score": _at(ICL[run], n),
            "icl_wide": _at(ICL_WIDE[run], n) if self._full(run) else [None] * n,
            "icl_late": 6,
            "icl_early": 1,
            "icl_width": 1,
            "eval_loss": _at(HELDOUT[run], n),
            "loss_by_position": [
                [round(6.0 - 0.1 * i - (0.2 * p if i >= 3 else 0.0), 4) for p in range(N_CTX)] for i in range(n)
            ],
            "head_metrics": head_metrics,
            "best_heads": {name: _best(grids) for name, grids in head_metrics.items()},
            "composition": {"q": [], "k": [], "v": []},
            "phase": self.phase(run) if n else None,
            "progress": {"run": run, **PROGRESS, "updated": 1.7e9} if run == self.training else None,
            "ablations": self.ablations,
            "source": "",
        }

    def llc(self, suite, run):
        self._call("llc", suite, run)
        if run not in self.llc_runs:
            return None  # the client's answer to the service's 404
        steps = [s for s in self.steps if s > 0][: len(LLC_MEAN)]
        n = len(steps)
        return {
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
        }

    def heads(self, suite, run, step):
        self._call("heads", suite, run, step)
        if step in self.missing_heads or not self.measured:
            raise _not_found(f"snapshot {suite}/{run} step {step} has no metrics yet")
        i = self.steps.index(step)
        n_layers, n_heads = SHAPES[run]
        head_metrics = self._head_metrics(run)
        heads = [
            {
                "layer": la,
                "head": h,
                "label": f"L{la}H{h}",
                "scores": {name: grids[i][la][h] for name, grids in head_metrics.items()},
            }
            for la in range(n_layers)
            for h in range(n_heads)
        ]
        return {
            "suite": suite,
            "run": run,
            "step": step,
            "tokens_seen": step * TOKENS_PER_STEP,
            "stage": self._stages(run)[i],
            "icl_score": _at(ICL[run], i + 1)[i],
            "eval_loss": _at(HELDOUT[run], i + 1)[i],
            "heads": heads,
            "profiles": self._profiles(run, i),
            "composition_q": [],
            "composition_k": [],
            "composition_v": [],
        }

    def _profiles(self, run: str, i: int) -> dict:
        """As the service: stored by the full analysis (every snapshot of a run in training is live here)."""
        if not self.profiled or self._stages(run)[i] != "full":
            return {}
        return {
            name: {"axis": axis, "coords": coords, "values": _grid(run, i, f)}
            for name, (axis, coords, f) in PROFILES.items()
        }

    def pca(self, suite, components=2):
        self._call("pca", suite)
        analysed = [run for run in self.runs if self._full(run)]
        if not analysed:
            raise _not_found(
                f"suite {suite!r} has no pca table yet: it is written when the first run has been analysed"
            )
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
        return {
            "suite": suite,
            "components": components,
            "explained_variance": [0.6123, 0.2046],
            "n_tokens": 256,
            "runs": runs,
            "note": "PCA over per-token losses",
        }

    def before_after(self, suite):
        self._call("before_after", suite)
        if not any(self._full(run) for run in self.runs):
            raise _not_found(f"suite {suite!r} has no before-and-after table yet")
        runs = {}
        if self._full("attn2") and len(self.steps) >= 5:
            runs["attn2"] = {
                "before_step": WINDOW[0],
                "after_step": WINDOW[1],
                "loss_change": -0.7654,
                "mode": "pattern_preserving",
                "alignment": [[0.05, -0.02], [0.11, ALIGNMENT]],
                "projection": [[0.02, -0.01], [0.06, PROJECTION]],
                "induction_heads": [[1, 1]],
                "induction_projection": 0.8456,
                "induction_alignment": 0.9412,
                "note": "projection and cosine with the reversed before-and-after vector",
            }
            if self.old_before_after:
                runs["attn2"] = {k: runs["attn2"][k] for k in ("before_step", "after_step", "loss_change", "alignment")}
                runs["attn2"] |= {"mode": "mean", "projection": None, "induction_heads": [], "note": "cosine"}
                runs["attn2"] |= {"induction_projection": None, "induction_alignment": None}
        return {"suite": suite, "runs": runs}

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
        return {
            "suite": suite,
            "generated": "2026-01-01T00:00:00+00:00",
            "passed": 1,
            "failed": 1,
            "waiting": 1,
            "claims": claims,
            "runs": runs,
            "seeds": {"attn2": self._seed_spread()} if REPLICATE in self.runs else {},
            "markdown": "# Claims report: suite `fake`",
        }

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

    # ---- computed ----------------------------------------------------------------------------
    @staticmethod
    def tokenize(text: str) -> list[str]:
        return ["<|bos|>", *re.findall(r"\s+|\w+|[^\w\s]", text)]

    @staticmethod
    def repeat_of(tokens: list[str]) -> list[int | None]:
        """Per context index i: where token i + 1 followed an earlier copy of token i, or None."""
        last, out = {}, []
        for i, pair in enumerate(itertools.pairwise(tokens)):
            out.append(last.get(pair))
            last[pair] = i + 1
        return out

    def _losses(self, tokens: list[str], step: int) -> list[float]:
        """Loss of token i + 1: 4.0, or 1.0 after the window when (token i, token i + 1) occurred before."""
        return [
            1.0 if source is not None and step >= WINDOW[1] else 4.0 - 0.001 * step for source in self.repeat_of(tokens)
        ]

    def _check_length(self, tokens: list[str]) -> None:
        if len(tokens) > 64:
            detail = (
                f"text is {len(tokens)} tokens long after tokenisation (with BOS); the model's context is 64 tokens"
            )
            raise ServiceError(f"The service answered 422: {detail}", status=422, detail=detail)

    @staticmethod
    def _ids(tokens: list[str]) -> list[int]:
        # One id per distinct token string (str hash() is salted per process: ids could collide).
        return [list(dict.fromkeys(tokens)).index(t) for t in tokens]

    def attention(self, suite, run, step, text, *, layers=None, heads=None):
        self._call("attention", suite, run, step, text, tuple(layers or ()), tuple(heads or ()))
        tokens = self.tokenize(text)
        self._check_length(tokens)
        n = len(tokens)
        patterns = [
            {
                "layer": la,
                "head": h,
                "label": f"L{la}H{h}",
                "pattern": [[1.0] if q == 0 else [0.0] * (q - 1) + [0.25, 0.75] for q in range(n)],
                "packed": None,
            }
            for la in (layers or [0])
            for h in (heads or [0])
        ]
        loss = self._losses(tokens, step)
        preds = [[{"token_id": r, "token": f"tok{r}", "prob": 0.5 / (r + 1)} for r in range(5)] for _ in range(n)]
        return {
            "suite": suite,
            "run": run,
            "step": step,
            "token_ids": self._ids(tokens),
            "tokens": tokens,
            "patterns": patterns,
            "loss": loss,
            "mean_loss": sum(loss) / max(len(loss), 1),
            "top_predictions": preds,
        }

    def losses(self, suite, run, step, text, baseline_step=None):
        self._call("losses", suite, run, step, text, baseline_step)
        tokens = self.tokenize(text)
        self._check_length(tokens)
        ids = self._ids(tokens)
        loss = self._losses(tokens, step)
        baseline = {"baseline_step": None, "baseline_loss": None, "loss_change": None, "baseline_mean_loss": None}
        if baseline_step is not None:
            before = self._losses(tokens, baseline_step)
            baseline = {
                "baseline_step": baseline_step,
                "baseline_loss": before,
                "loss_change": [y - x for x, y in zip(before, loss)],
                "baseline_mean_loss": sum(before) / max(len(before), 1),
            }
        return {
            **baseline,
            "suite": suite,
            "run": run,
            "step": step,
            "token_ids": ids,
            "tokens": tokens,
            "loss": loss,
            "mean_loss": sum(loss) / max(len(loss), 1),
            "earlier": [next((k for k in range(j - 1, -1, -1) if ids[k] == ids[j]), None) for j in range(len(ids))],
            "repeat_of": self.repeat_of(tokens),
        }

    def ablation(self, suite, run, step, heads, *, mode="mean", text=None):
        self._call("ablation", suite, run, step, tuple(map(tuple, heads)), mode, text)
        tokens = self.tokenize(text or "a b a b")
        clean = self._losses(tokens, step)
        undo = [b - a for a, b in zip(clean, self._losses(tokens, WINDOW[0]))]  # L1H1 removed: back to before
        # other heads: a small change on the tokens the phase change barely moved
        ablated = [c + (u if tuple(heads[0]) == (1, 1) else 0.01 * (u < 1)) for c, u in zip(clean, undo)]
        return {
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
            "icl_late": 6,
            "icl_early": 1,
            "icl_width": 1,
            "clean_icl": None,
            "ablated_icl": None,
            "delta_icl": None,
            "loss_clean": clean,
            "loss_ablated": ablated,
            "tokens": tokens,
        }

    def prefix_matching(self, suite, run, step, *, seed=None, n_sequences=None):
        self._call("prefix_matching", suite, run, step)
        grid = _grid(run, self.steps.index(step), _prefix)
        return {
            "suite": suite,
            "run": run,
            "step": step,
            "seed": seed or 0,
            "n_sequences": n_sequences or 10,
            "n_random": 25,
            "n_repeats": 4,
            "scores": grid,
            "analysis_seed": 0,
            "stored": grid,
        }

    def logit_attribution(self, suite, run, step, text):
        self._call("logit_attribution", suite, run, step, text)
        tokens = self.tokenize(text)
        n_layers, n_heads = SHAPES[run]
        return {
            "suite": suite,
            "run": run,
            "step": step,
            "token_ids": [0] * len(tokens),
            "tokens": tokens,
            "logits": [1.0] * (len(tokens) - 1),
            "contributions": [[[0.1] * n_heads for _ in range(n_layers)] for _ in tokens[1:]],
        }
