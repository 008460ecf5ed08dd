"""The adaptive stopping rule of self-consistency (Aggarwal et al., 2023; its_hub's Beta SC)."""

from __future__ import annotations

from math import comb


def majority_confidence(leader_votes: int, runner_up_votes: int) -> float:
    """P(the leader's share of votes > 1/2) under a Beta(v1 + 1, v2 + 1) posterior.

    At x = 1/2 with integer parameters the Beta CDF equals the lower tail of a fair
    binomial, so no special functions are needed.
    """
    trials = leader_votes + runner_up_votes + 1
    cdf = sum(comb(trials, k) for k in range(runner_up_votes + 1)) / (1 << trials)
    return 1.0 - cdf
