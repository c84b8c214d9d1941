"""Fast-forward in `skyctl serve simulate` (sim_skip.py) changes no result: a run that skips the ticks
that provably change nothing equals a tick-by-tick run, READY and $/h per tick, cost and every row, for
every controller policy, on a hand-made trace with calm spans, capacity drops and an outage. A skipped
tick is either not run at all or (for an autoscaler that cannot say it is quiet) runs only the autoscaler's
decision step, undone by a restart when it decides something."""

from __future__ import annotations

import math

import numpy as np
import pytest

from providers.base import LaunchSpec, State
from skyctl.clock import VirtualClock
from skyctl.serve.sim_cloud import SimCloud
from skyctl.serve.simulate import CONTROLLER_POLICIES, Setup, run_window

ZONES = ("us-east-1a", "us-east-2a", "us-west-2a")
N = 480


def calm_then_stormy() -> np.ndarray:
    """3 per zone, except: zone a drops to 1 (ticks 100-160), zone b to 0 (200-260), every zone to 0
    (300-330, an outage no policy rides out on spot), zone c to 1 from 400 on."""
    cap = np.full((len(ZONES), N), 3, dtype=np.int64)
    cap[0, 100:160] = 1
    cap[1, 200:260] = 0
    cap[:, 300:330] = 0
    cap[2, 400:] = 1
    return cap


@pytest.mark.parametrize("policy", CONTROLLER_POLICIES)
def test_fast_forward_equals_tick_by_tick(policy: str) -> None:
    setup = Setup(hours=N * 30 / 3600, repeats=1)
    cap = calm_then_stormy()
    slow = run_window(policy, ZONES, cap, setup, fast_forward=False)
    fast = run_window(policy, ZONES, cap, setup)
    assert slow.ticks_run == N
    assert (fast.ready == slow.ready).all()
    assert (fast.rate == slow.rate).all()
    assert fast.events == slow.events
    assert (fast.cost, fast.preemptions, fast.ondemand_hours) == (slow.cost, slow.preemptions,
                                                                  slow.ondemand_hours)
    # calm spans skipped (skyctl's hedge autoscaler runs its decision step there: it cannot say it is quiet)
    assert fast.ticks_run < N / 2, "the calm spans were not skipped"
    if policy != "ondemand":
        assert slow.preemptions > 0  # the trace really makes the policy react


def test_fast_forward_with_restarts_equals_tick_by_tick() -> None:
    """A restart inside a span that would be skipped: the tick before it runs in full."""
    setup = Setup(hours=N * 30 / 3600, repeats=1)
    cap = calm_then_stormy()
    slow = run_window("spothedge", ZONES, cap, setup, fast_forward=False)
    fast = run_window("spothedge", ZONES, cap, setup, restart_at=(50, 180, 420))
    assert fast.events == slow.events
    assert (fast.ready == slow.ready).all()
    assert fast.ticks_run < N / 2


def test_next_change_is_the_next_cold_start_end_or_capacity_drop() -> None:
    clock = VirtualClock(1000.0)
    cloud = SimCloud({"z-a": [2, 2, 2, 1, 1, 0], "z-b": [5] * 6}, clock=clock, tick_seconds=30,
                     cold_start=120)
    assert cloud.next_change() == math.inf  # nothing live: no drop can preempt anything
    spec = {"service": "s", "spot": True, "zone": "z-a"}
    cloud.launch(LaunchSpec(replica_id="1", idempotency_key="k1", **spec))
    assert cloud.next_change() == 1000 + 120  # its cold start ends before z-a drops below 1 (tick 5)
    cloud.launch(LaunchSpec(replica_id="2", idempotency_key="k2", **spec))
    assert cloud.next_change() == 1000 + 3 * 30  # two live: capacity 1 at tick 3 comes first
    clock.advance(3 * 30)
    assert [i.state for i in cloud.list("s")] == [State.PENDING, State.PREEMPTED]  # the newest went
    assert cloud.next_change() == 1000 + 120
    clock.advance(30)
    assert cloud.next_change() == 1000 + 5 * 30
    clock.advance(10 * 30)
    assert cloud.next_change() == math.inf  # preempted at tick 5; past the trace's end its last value holds
