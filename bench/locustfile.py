"""The load test's users (locust): each behaves like a dashboard open on one run of a suite.

    LOAD_SUITE=default .venv/bin/locust -f bench/locustfile.py DashboardUser --host http://127.0.0.1:8000

`bench/load_test.py` runs it headless against a service it starts: `DashboardUser` for the
long form (a random mix until the run time is up), `RoundsUser` for the short form in
`make test` (each route in turn, LOAD_ROUNDS times). Each user picks a run of the suite and three
of its checkpoints (first, middle, latest) and calls the routes a dashboard calls:
- GET  …/metrics?max_points=400 (every curve of the run; the Phase change page);
- POST …/attention, one head, on a short passage written twice (the Attention page), drawn from
  a seeded pool of texts, so that some repeat (the service's response cache) and most do not;
- POST …/prefix-matching, with the analysis seed or a fresh one (the Heads page);
- POST …/ablation of one head, on a text (the Ablations page) or, one in five, on the run's
  held-out evaluation contexts.
Every answer other than a 200 is a failure. Requests are named by route (`metrics`,
`attention`, ...), so locust's statistics come per route. The texts are short enough for the `tiny` suite's 64-token context.
"""

from __future__ import annotations

import itertools
import os
import random

import gevent
from locust import FastHttpUser, between, constant, task
from locust.exception import StopUser

SUITE = os.environ.get("LOAD_SUITE", "default")
SEED = int(os.environ.get("LOAD_SEED", "0"))
ROUNDS = int(os.environ.get("LOAD_ROUNDS", "1"))  # RoundsUser only
NAMES = ["x", "y", "total", "count", "items", "value", "key", "path", "data", "result"]
CALLS = ["len", "sorted", "str", "int", "list", "f", "g", "max", "min", "sum"]
USER_IDS = itertools.count()  # per-user seeds: the same choices on every run of the test


def passage(rng: random.Random) -> str:
    """A one-line statement written twice: on the second copy an induction head has work to do."""
    line = f"{rng.choice(NAMES)} = {rng.choice(CALLS)}({rng.choice(NAMES)}, {rng.randrange(10)})\n"
    return line + line


class Requests(FastHttpUser):
    """What a user asks: on start, the suite; then the four routes (the users below mix them)."""

    abstract = True

    def on_start(self) -> None:
        self.rng = random.Random(SEED * 1000 + next(USER_IDS))
        with self.client.get(f"/suites/{SUITE}", name="suite", catch_response=True) as r:
            if r.status_code != 200:
                r.failure(f"suite {SUITE!r}: {r.status_code}")
                raise StopUser()
            runs = [run for run in r.json()["runs"] if run["status"] != "unreadable" and run["live_steps"]]
        if not runs:
            raise RuntimeError(f"suite {SUITE!r} has no run with measured snapshots")
        run = self.rng.choice(runs)
        steps = [s["step"] for s in run["snapshots"]]
        self.run_name = run["name"]
        self.steps = sorted({steps[0], steps[len(steps) // 2], steps[-1]})
        self.shape = (run["model"].get("n_layers", 1), run["model"].get("n_heads", 1))
        self.texts = [passage(random.Random(SEED * 100 + i)) for i in range(40)]  # the same pool for every user

    def _snapshot(self) -> str:
        return f"/suites/{SUITE}/runs/{self.run_name}/snapshots/{self.rng.choice(self.steps)}"

    def _head(self) -> tuple[int, int]:
        return self.rng.randrange(self.shape[0]), self.rng.randrange(self.shape[1])

    def metrics(self) -> None:
        self.client.get(f"/suites/{SUITE}/runs/{self.run_name}/metrics?max_points=400", name="metrics")

    def attention(self) -> None:
        layer, head = self._head()
        body = {"text": self.rng.choice(self.texts), "layers": [layer], "heads": [head]}
        self.client.post(f"{self._snapshot()}/attention", json=body, name="attention")

    def prefix_matching(self) -> None:
        body = {} if self.rng.random() < 0.5 else {"seed": self.rng.randrange(1000), "n_sequences": 10}
        self.client.post(f"{self._snapshot()}/prefix-matching", json=body, name="prefix-matching")

    def ablation(self) -> None:
        body = {"heads": [list(self._head())], "mode": self.rng.choice(["mean", "pattern_preserving"])}
        # The Ablations page ablates on your text; one in five on the run's held-out evaluation
        # contexts instead, the heaviest request of the mix (default suite: 32 x 256 tokens).
        if self.rng.random() < 0.8:
            body["text"] = self.rng.choice(self.texts)
        self.client.post(f"{self._snapshot()}/ablation", json=body, name="ablation")


class DashboardUser(Requests):
    """A random mix of the four routes, with a short pause between requests, until locust's run
    time is up (`bench/load_test.py`'s long form)."""

    wait_time = between(0.05, 0.3)  # a person clicks far slower: this is the heavy end
    tasks = {Requests.metrics: 3, Requests.attention: 4, Requests.prefix_matching: 2, Requests.ablation: 2}


class RoundsUser(Requests):
    """The same requests, each route in turn, LOAD_ROUNDS times; the last user to finish ends
    the test. The short form in `make test` uses it: it ends when the work is done, so a busy
    machine makes it slower, never incomplete."""

    wait_time = constant(0)
    finished = 0  # users done, over all of them

    def on_start(self) -> None:
        super().on_start()
        self.rounds = 0

    @task
    def one_round(self) -> None:
        for request in (self.metrics, self.attention, self.prefix_matching, self.ablation):
            request()
        self.rounds += 1
        if self.rounds < ROUNDS:
            return
        RoundsUser.finished += 1
        if RoundsUser.finished == self.environment.parsed_options.num_users:
            gevent.spawn(self.environment.runner.quit)  # from outside this user, which quit() stops
        raise StopUser()
