"""The paper's checkable claims (Olsson et al. 2022), each a pure function of a suite's runs.

`runs.RunData` is what a claim reads about one run (plain arrays); `checks` holds one function
per claim, (a)-(g), that takes the runs of the kinds it needs and returns a `Claim` with its
status and the numbers it rests on. Gathering the runs from a suite, deciding which claims are
still waiting for runs, and writing the report are `training.report`'s.
"""

from training.claims.checks import claim_a, claim_b, claim_c, claim_d, claim_e, claim_f, claim_g
from training.claims.runs import RunData

__all__ = ["RunData", "claim_a", "claim_b", "claim_c", "claim_d", "claim_e", "claim_f", "claim_g"]
