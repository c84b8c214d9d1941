"""`skyctl serve simulate` on small hand-made traces whose right placement and fallback are known: the real
controller (autoscaler, placer, replica manager) ticks on a virtual clock against the `sim` provider."""

from __future__ import annotations

import numpy as np
import pytest

from skyctl.serve.simulate import Setup, run_window

ZONES = ("us-east-1a", "us-east-2a", "us-west-2a")
SETUP = Setup(target=3, hours=1, repeats=1)


def trace(n: int, caps: dict[int, list[tuple[int, int, int]]]) -> np.ndarray:
    """(zones, n) capacity: `caps[zone] = [(from_tick, to_tick, value), ...]` on top of 2 everywhere."""
    out = np.full((len(ZONES), n), 2, dtype=np.int64)
    for z, spans in caps.items():
        for a, b, v in spans:
            out[z, a:b] = v
    return out


def run_start(tick: int) -> float:
    from skyctl.serve.simulate import START, TICK_SECONDS

    return START + tick * TICK_SECONDS


def live(run, *, spot: bool | None = None) -> list[tuple]:
    """(replica id, zone, spot) of rows still alive at the end of the run."""
    alive = {"PENDING", "PROVISIONING", "STARTING", "READY", "NOT_READY"}
    return [(e[0], e[3], e[2]) for e in run.events if e[1] in alive and (spot is None or e[2] == spot)]


@pytest.mark.parametrize("policy", ["spothedge", "skyctl"])
def test_zone_drops_to_zero_replicas_move_to_the_other_zones(policy: str) -> None:
    # 3 per zone: the 4 spot replicas fit in the two zones left (with 2 each, SpotHedge's rule breaks the
    # price tie between them the same way every time and never tries the second: see docs/serve-simulate.md)
    cap = trace(240, {0: [(60, 240, 0)], 1: [(0, 240, 3)], 2: [(0, 240, 3)]})
    run = run_window(policy, ZONES, cap, SETUP)
    spot = live(run, spot=True)
    assert spot and all(zone != ZONES[0] for _, zone, _ in spot), spot
    assert run.preemptions >= 1
    assert (run.ready[-60:] >= 3).all()  # back at target well before the end
    assert not live(run, spot=False)  # on-demand cover, if any, was released again


@pytest.mark.parametrize("policy", ["spothedge", "skyctl"])
def test_all_spot_gone_falls_back_to_ondemand_up_to_target_then_releases(policy: str) -> None:
    out_from, out_to = 40, 160
    cap = trace(320, {z: [(out_from, out_to, 0)] for z in range(3)})
    run = run_window(policy, ZONES, cap, SETUP)
    # during the outage, after one cold start, on-demand alone keeps the target READY ...
    cold = SETUP.cold_ticks
    assert (run.ready[out_from + cold + 1:out_to] >= 3).all()
    od_rows = [e for e in run.events if not e[2] and e[5] >= run_start(out_from)]  # not the start's cover
    assert len(od_rows) == 3 and {e[4] for e in od_rows} == {"fallback"}
    # ... and every on-demand replica is released once spot is back and READY
    assert not live(run, spot=False)
    ended = max(e[8] for e in od_rows)
    start = min(e[6] for e in od_rows)
    assert ended - start > (out_to - out_from - cold) * 30
    assert len(live(run, spot=True)) >= 4  # target + extra spot again (skyctl sizes the extra up)
    all_od = [e for e in run.events if not e[2]]
    assert run.ondemand_hours == pytest.approx(sum(e[8] - e[6] for e in all_od) / 3600)


def test_ondemand_policy_is_the_cost_baseline() -> None:
    run = run_window("ondemand", ZONES, trace(120, {}), SETUP)
    assert run.cost == pytest.approx(run.ondemand_cost) and run.availability == 1.0
    assert run.preemptions == 0 and run.ondemand_hours == pytest.approx(3 * 120 * 30 / 3600)
    assert (run.ready[SETUP.cold_ticks:] == 3).all() and (run.ready[:SETUP.cold_ticks] == 0).all()


def test_spothedge_spreads_one_spot_replica_per_zone_first() -> None:
    cap = trace(60, {})
    run = run_window("spothedge", ZONES, cap, SETUP)
    zones = [zone for _, zone, _ in live(run, spot=True)]
    assert len(zones) == 4 and set(zones) == set(ZONES)  # the 4th goes to the cheapest zone again
    # 4 spot at 1 for 60 ticks, plus (SpotHedge's rule) 3 on-demand at 3 covering them until READY
    # (launched at tick 0, released at the tick 4 decision, billed 5 ticks), vs 3 on-demand for 60 ticks
    assert run.cost / run.ondemand_cost == pytest.approx((4 * 60 + 3 * 3 * 5) / (3 * 3 * 60))


def test_round_robin_walks_on_and_even_spread_waits_in_its_zone() -> None:
    cap = trace(120, {0: [(30, 120, 0)]})
    rr = run_window("round_robin", ZONES, cap, SETUP)
    es = run_window("even_spread", ZONES, cap, SETUP)
    assert all(zone != ZONES[0] for _, zone, _ in live(rr, spot=True)) and len(live(rr, spot=True)) == 4
    # even spread keeps asking the zone with the fewest replicas: the empty one, which has no capacity
    failed_in_a = [e for e in es.events if e[1] == "FAILED_PROVISION" and e[3] == ZONES[0]]
    assert len(failed_in_a) > 10 and len(live(es, spot=True)) < 4
    assert not live(rr, spot=False) and not live(es, spot=False)  # neither ever uses on-demand


def test_optimal_on_a_flat_trace_is_three_spot_replicas() -> None:
    run = run_window("optimal", ZONES, trace(120, {}), SETUP)
    assert run.availability == 1.0 and run.ondemand_hours == 0
    assert run.cost == pytest.approx(3 * 120 * 30 / 3600)
