"""SimProvider semantics beyond the shared contract: trace-driven preemption, capacity, cold start, prices."""

from __future__ import annotations

import pytest

from providers.base import CapacityError, LaunchSpec, ProviderUserError, State
from providers.sim import PREEMPTION_REASON, SimProvider, catalog_prices, region_of
from skyctl.clock import VirtualClock


def _spec(replica: str, *, spot: bool = True, zone: str | None = "a-1a", service: str = "svc") -> LaunchSpec:
    return LaunchSpec(service=service, replica_id=replica, idempotency_key=f"{service}-{replica}", spot=spot,
                      zone=zone)


def _sim(capacity: dict[str, list[int]], **kw) -> tuple[SimProvider, VirtualClock]:
    clock = VirtualClock(1000.0)
    return SimProvider(capacity, clock=clock, **kw), clock


def test_capacity_drop_preempts_newest_first_at_the_tick_start() -> None:
    sim, clock = _sim({"a-1a": [3, 3, 1, 3], "a-1b": [3, 3, 3, 3]})
    ids = [sim.launch(_spec(str(i))).id for i in range(3)]
    clock.advance(15)
    other = sim.launch(_spec("x", zone="a-1b")).id
    clock.advance(50)  # now in tick 2 (t = 65 s): capacity 1 in a-1a
    states = sim.status([*ids, other])
    assert [states[i].state for i in ids] == [State.PENDING, State.PREEMPTED, State.PREEMPTED]
    assert states[ids[2]].reason == PREEMPTION_REASON and states[ids[2]].ended_at == 1060.0
    assert states[other].state is State.PENDING  # other zones untouched
    clock.advance(30)  # tick 3: capacity back to 3, nothing comes back by itself
    assert sum(i.state.live for i in sim.list("svc")) == 2
    assert sim.spot_capacity("a-1a") == 3


def test_a_dip_between_two_calls_still_preempts() -> None:
    sim, clock = _sim({"a-1a": [2, 2, 0, 2, 2]})
    a = sim.launch(_spec("1")).id
    clock.advance(4 * 30)  # jump over the dip at tick 2 in one go
    inst = sim.status([a])[a]
    assert inst.state is State.PREEMPTED and inst.ended_at == 1000.0 + 2 * 30


def test_full_zone_raises_capacity_error_across_services_and_on_demand_still_launches() -> None:
    sim, _ = _sim({"a-1a": [1], "b-2a": [5]})
    sim.launch(_spec("1", service="one"))
    with pytest.raises(CapacityError) as err:
        sim.launch(_spec("1", service="two"))
    assert err.value.location.zone == "a-1a" and err.value.marks_location
    assert sim.list("two") == []
    od = sim.launch(_spec("2", spot=False, service="two"))
    assert od.zone == "a-1a" and not od.spot
    # no zone given: the cheapest zone that still has room
    assert sim.launch(_spec("3", zone=None, service="two")).zone == "b-2a"


def test_cold_start_then_running_and_ready() -> None:
    sim, clock = _sim(None, cold_start=120.0)
    inst = sim.launch(_spec("1", zone="sim-a"))
    assert inst.state is State.PENDING and not sim.ready(inst.id)
    clock.advance(119.9)
    assert not sim.ready(inst.id)
    clock.advance(0.1)
    assert sim.ready(inst.id) and sim.status([inst.id])[inst.id].state is State.RUNNING
    sim.terminate([inst.id])
    assert not sim.ready(inst.id) and not sim.ready("nope")
    assert sim.status([inst.id])[inst.id].ended_at == 1120.0


def test_idempotent_launch_returns_the_same_instance_even_after_it_ended() -> None:
    sim, _ = _sim(None)
    first = sim.launch(_spec("1", zone="sim-b"))
    sim.preempt(first.id)
    again = sim.launch(_spec("1", zone="sim-b"))
    assert again.id == first.id and again.state is State.PREEMPTED and again.reason == "sim-preempt"
    assert len(sim.list("svc")) == 1


def test_returned_instances_are_copies() -> None:
    sim, _ = _sim(None)
    inst = sim.launch(_spec("1", zone="sim-a"))
    inst.state, inst.tags["x"] = State.TERMINATED, "y"
    seen = sim.list("svc")[0]
    assert seen.state is State.PENDING and "x" not in seen.tags


def test_override_below_live_count_preempts_now_and_none_restores_the_trace() -> None:
    sim, clock = _sim({"a-1a": [2] * 10})
    ids = [sim.launch(_spec(str(i))).id for i in range(2)]
    clock.advance(10)
    sim.set_spot_capacity("a-1a", 1)
    assert [sim.status(ids)[i].state for i in ids] == [State.PENDING, State.PREEMPTED]
    assert sim.status(ids)[ids[1]].ended_at == 1010.0
    sim.set_spot_capacity("a-1a", None)
    assert sim.spot_capacity("a-1a") == 2
    sim.launch(_spec("2"))


def test_capacity_past_the_end_of_the_trace_holds_the_last_value() -> None:
    sim, clock = _sim({"a-1a": [0, 2]}, start_tick=1)
    clock.advance(10_000)
    assert sim.spot_capacity("a-1a") == 2


def test_prices_default_to_three_times_spot_and_follow_the_table() -> None:
    sim, _ = _sim({"a-1a": [1], "b-2a": [1]}, spot_prices={"a-1a": 2.0})
    assert sim.price(None, spot=True, zone="a-1a") == 2.0 and sim.price(None, spot=False, zone="a-1a") == 6.0
    assert sim.price(None, spot=True, zone="b-2a") == 1.0 and sim.price(None, spot=False, zone="b-2a") == 3.0
    assert sim.launch(_spec("1", spot=False, zone="a-1a")).price_per_hour == 6.0


def test_catalog_prices_for_a_known_gpu_and_nothing_for_an_unknown_one() -> None:
    spot, od = catalog_prices(["us-central1-a", "mars-1a"], "A100-40GB", 8)
    assert set(spot) == {"us-central1-a"} and 0 < spot["us-central1-a"] < od["us-central1-a"]
    assert catalog_prices(["us-central1-a"], "NoSuchGPU", 1) == ({}, {})


def test_locations_and_regions() -> None:
    sim, _ = _sim({"us-east-1f": [1], "us-central1-a": [1]}, cloud="aws")
    assert [str(loc) for loc in sim.locations(spot=True)] == ["aws/us-east-1/us-east-1f",
                                                              "aws/us-central1/us-central1-a"]
    assert region_of("sim-a") == "sim" and region_of("local") == "local"


def test_bad_input_names_the_field() -> None:
    sim, _ = _sim(None)
    with pytest.raises(ProviderUserError) as err:
        sim.launch(LaunchSpec(service="s", replica_id="1", idempotency_key="k", region="mars"))
    assert err.value.field == "region" and "sim" in err.value.fix
    with pytest.raises(ProviderUserError) as err:
        sim.preempt("sim-404")
    assert err.value.field == "instance_id"
    od = sim.launch(_spec("1", spot=False, zone="sim-a"))
    with pytest.raises(ProviderUserError):
        sim.preempt(od.id)
    with pytest.raises(ProviderUserError):
        SimProvider({})
