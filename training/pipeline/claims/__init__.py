"""The paper's checkable claims (Olsson et al. 2022), each a pure function of a suite's runs.

`runs.RunData` is what a claim reads about one run (plain arrays). One function per claim takes
the runs of the kinds it needs and returns a `Claim`: "pass", "fail" or "inconclusive" (an
interval straddles a threshold), or "n/a" (no run to test it on), with the numbers it rests on
and their bootstrap intervals (`stats`). Gathering the runs from a suite, deciding which claims
still wait for runs, and writing the report are `training.pipeline.report`'s.

    formation.py   (a) which models form induction heads, (c) the smeared-key model
    phase.py       (b) the loss bump in the window, (g) the ICL gained in it
    trajectory.py  (d) the per-token-loss trajectory's turn
    circuit.py     (e) pattern-preserving ablations, (f) K-composition
    seeds.py       not a claim: each number's spread over the seeds of a run (`--seeds`)
"""

from training.pipeline.claims.circuit import claim_e, claim_f
from training.pipeline.claims.formation import claim_a, claim_c
from training.pipeline.claims.phase import claim_b, claim_g
from training.pipeline.claims.runs import RunData
from training.pipeline.claims.trajectory import claim_d

__all__ = ["RunData", "claim_a", "claim_b", "claim_c", "claim_d", "claim_e", "claim_f", "claim_g"]
