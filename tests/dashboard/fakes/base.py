"""What every route family of the fake service shares: the suite's state a test changes, the
call log, and which snapshots are measured live or analysed."""

from __future__ import annotations

from tests.dashboard.fakes.data import REPLICATE, STEPS, SUITE, TOKENS_PER_STEP, WINDOW


class FakeState:
    """The suite as a test sets it up; set `down` to make every call fail, or trim the data for empty states."""

    def __init__(self):
        self.down = None  # a ServiceError every call raises
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

    def phase(self, run: str) -> dict:
        """The run's phase window: attn2 has one once its curves reach past it."""
        if run == "attn2" and len(self.steps) >= 5:
            window = {"found": True, "reason": "", "start_step": WINDOW[0], "end_step": WINDOW[1], "icl_fraction": 0.91}
        else:
            window = {"found": False, "reason": "max prefix-matching score never exceeds 0.3 (peak 0.06)"}
        return {**window, "tokens_per_step": TOKENS_PER_STEP}  # checked with the answer that holds it
