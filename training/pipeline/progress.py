"""How a run's training is shown while it runs: a tqdm bar on a terminal, a log line every ~10 s
otherwise, and `progress.json` in the run folder every ~2 s, which the service reads to show
what is training (step, rate, ETA)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from training.core.artifacts import schema
from training.core.artifacts.records import RunProgress


class Progress:
    """tqdm on a terminal, plain log lines (every ~10 s) otherwise; and `progress.json` in the
    run folder every ~2 s, which the service reads to show what is training."""

    WRITE_EVERY_S = 2.0

    def __init__(self, total: int, start: int, label: str, log, run_path: Path | None = None, show: bool = True):
        self.tty = show and sys.stderr.isatty()
        self.log, self.label, self.last, self.last_write = log, label, 0.0, 0.0
        self.run_path, self.start = run_path, start
        self.t0 = time.perf_counter()
        if self.tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, desc=label, unit="step", dynamic_ncols=True)

    def update(self, step: int, total: int, loss: float, elapsed: float, tokens_per_step: int) -> None:
        tokens_per_s = tokens_per_step * step / max(elapsed, 1e-9)
        now = time.monotonic()
        if self.tty:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens_per_s / 1000:.1f}k", refresh=False)
        elif now - self.last > 10 or step == total:
            self.last = now
            self.log(f"{self.label}: step {step}/{total} loss {loss:.3f} {tokens_per_s / 1000:.1f}k tokens/s")
        if self.run_path is not None and (now - self.last_write > self.WRITE_EVERY_S or step == total):
            self.last_write = now
            # The recent rate (since this process started), not the run's average: a resumed
            # run or a busy machine changes it.
            recent = (step - self.start) / max(time.perf_counter() - self.t0, 1e-9)
            schema.write_progress(
                self.run_path,
                RunProgress(
                    run=self.label,
                    step=step,
                    steps=total,
                    tokens_per_s=round(recent * tokens_per_step, 1),
                    elapsed_s=round(elapsed, 2),
                    eta_s=round((total - step) / max(recent, 1e-9), 1),
                    updated=time.time(),
                ),
            )

    def close(self) -> None:
        if self.tty:
            self.bar.close()
