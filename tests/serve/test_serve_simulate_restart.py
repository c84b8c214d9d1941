"""A controller restart in the middle of a simulated run changes no decision that follows: a new
`Controller` over the same store (autoscaler and placer state loaded from the service row, replica rows
from the store) must produce exactly the rows and READY counts of an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest

from skyctl.serve.simulate import Setup, run_window

ZONES = ("us-east-1a", "us-east-2a", "us-west-2a")


def volatile_trace(n: int, seed: int) -> np.ndarray:
    """Capacity 0-3 per zone, changing every 10 ticks (a 300 s trace point), at random."""
    rng = np.random.default_rng(seed)
    points = rng.choice([0, 1, 2, 3], size=(len(ZONES), n // 10 + 1), p=[0.3, 0.2, 0.2, 0.3])
    return np.repeat(points, 10, axis=1)[:, :n]


@pytest.mark.parametrize("policy", ["spothedge", "skyctl", "round_robin"])
def test_restart_mid_run_changes_no_decision(policy: str) -> None:
    cap = volatile_trace(400, seed=7)
    setup = Setup(hours=400 * 30 / 3600, repeats=1)
    straight = run_window(policy, ZONES, cap, setup)
    restarted = run_window(policy, ZONES, cap, setup, restart_at=(57, 133, 250))
    assert straight.preemptions > 3  # the trace really makes the policy react
    assert restarted.events == straight.events
    assert (restarted.ready == straight.ready).all()
    assert restarted.cost == straight.cost
