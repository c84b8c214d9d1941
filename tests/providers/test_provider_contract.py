"""The provider contract, run against every harness in `provider_harness.HARNESSES`.

The same assertions on every provider prove the state mapping and the error taxonomy are consistent, so
the controller can be written once against `providers.base`.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from provider_harness import HTTP_RUN, Harness, harness, wait_for

from providers.base import (
    TAG_REPLICA,
    TAG_SERVICE,
    TAG_SPOT,
    CapacityError,
    Instance,
    LaunchSpec,
    ProviderUserError,
    State,
)

__all__ = ["harness"]  # the fixture, imported so pytest finds it without a conftest


def _spec(service: str, replica: str, *, spot: bool, zone: str | None) -> LaunchSpec:
    return LaunchSpec(service=service, replica_id=replica, idempotency_key=f"{service}-{replica}-k",
                      spot=spot, zone=zone, run=HTTP_RUN, tags={"team": "infra"})


def _states(h: Harness, ids: list[str]) -> dict[str, State]:
    return {i: inst.state for i, inst in h.provider.status(ids).items()}


def _reachable(inst: Instance) -> bool:
    try:
        return httpx.get(inst.endpoint, timeout=1.0).status_code == 200
    except httpx.TransportError:
        return False


def test_lifecycle_spot_and_on_demand(harness: Harness) -> None:
    h, svc = harness, f"svc-{uuid.uuid4().hex[:6]}"
    zones = [loc.zone for loc in h.provider.locations(spot=True)]
    assert len(zones) >= 3
    launched = [h.provider.launch(_spec(svc, "1", spot=True, zone=zones[0])),
                h.provider.launch(_spec(svc, "2", spot=True, zone=zones[1])),
                h.provider.launch(_spec(svc, "3", spot=False, zone=zones[2]))]
    other = h.provider.launch(_spec(f"{svc}-other", "1", spot=False, zone=zones[0]))
    ids = [i.id for i in launched]
    assert len(set(ids)) == 3 and other.id not in ids

    # list by service tag returns exactly those three, with our tags and the requested placement
    listed = {i.id: i for i in h.provider.list(svc)}
    assert set(listed) == set(ids)
    for inst, zone, spot, rid in zip(launched, zones, (True, True, False), "123", strict=True):
        seen = listed[inst.id]
        assert (seen.zone, seen.spot, seen.replica_id, seen.service) == (zone, spot, rid, svc)
        assert seen.tags[TAG_SERVICE] == svc and seen.tags[TAG_REPLICA] == rid
        assert seen.tags[TAG_SPOT] == str(spot).lower() and seen.tags["team"] == "infra"
        assert seen.price_per_hour == h.provider.price(seen.instance_type, spot=spot, zone=zone)
    assert listed[ids[0]].price_per_hour < listed[ids[2]].price_per_hour  # spot is cheaper

    wait_for(lambda: set(_states(h, ids).values()) == {State.RUNNING}, what="all RUNNING")
    as_json = json.loads(json.dumps(h.provider.status([ids[2]])[ids[2]].to_dict()))
    assert (as_json["state"], as_json["spot"], as_json["service"]) == ("running", False, svc)
    if h.serves_http:
        for inst in h.provider.status(ids).values():
            wait_for(lambda inst=inst: _reachable(inst), what=f"{inst.endpoint} answering")

    # the same idempotency key returns the instance already started, not a second one
    again = h.provider.launch(_spec(svc, "1", spot=True, zone=zones[0]))
    assert again.id == ids[0]
    assert sorted(i.id for i in h.provider.list(svc)) == sorted(ids)

    # a preemption hits only its own instance and reads PREEMPTED, not TERMINATED
    h.preempt(launched[0])
    assert _states(h, ids) == {ids[0]: State.PREEMPTED, ids[1]: State.RUNNING, ids[2]: State.RUNNING}
    assert h.provider.status([ids[0]])[ids[0]].reason

    # terminate is idempotent and ignores unknown ids
    for _ in range(2):
        h.provider.terminate([*ids, "no-such-instance"])
    assert _states(h, ids) == {ids[0]: State.PREEMPTED, ids[1]: State.TERMINATED, ids[2]: State.TERMINATED}
    assert not any(i.state.live for i in h.provider.list(svc))
    assert h.leftovers(svc) == []
    assert h.provider.status([other.id])[other.id].state == State.RUNNING  # other services untouched
    h.provider.terminate([other.id])
    assert h.leftovers(f"{svc}-other") == []


def test_capacity_error_marks_location_and_next_zone_works(harness: Harness) -> None:
    h, svc = harness, f"cap-{uuid.uuid4().hex[:6]}"
    zones = [loc.zone for loc in h.provider.locations(spot=True)]
    h.exhaust_spot(zones[0])
    with pytest.raises(CapacityError) as err:
        h.provider.launch(_spec(svc, "1", spot=True, zone=zones[0]))
    assert err.value.marks_location and not err.value.retryable
    assert err.value.location is not None and err.value.location.zone == zones[0]
    assert h.provider.list(svc) == []  # a refused launch leaves no instance behind
    moved = h.provider.launch(_spec(svc, "1", spot=True, zone=zones[1]))
    on_demand = h.provider.launch(_spec(svc, "2", spot=False, zone=zones[0]))  # on-demand unaffected
    assert {moved.zone, on_demand.zone} == {zones[1], zones[0]}
    h.provider.terminate([moved.id, on_demand.id])
    assert h.leftovers(svc) == []


def test_bad_zone_is_a_user_error_that_marks_nothing(harness: Harness) -> None:
    with pytest.raises(ProviderUserError) as err:
        harness.provider.launch(_spec("svc", "1", spot=True, zone="mars-1a"))
    assert err.value.field == "zone" and err.value.value == "mars-1a"
    assert err.value.exit_code == 2 and not err.value.marks_location
    assert "mars-1a" in str(err.value) and err.value.fix


def test_check_and_locations(harness: Harness) -> None:
    ok, reason = harness.provider.check()
    assert ok, reason
    locs = harness.provider.locations(spot=False)
    assert locs and all(loc.cloud and loc.region and loc.zone for loc in locs)
    assert len({str(loc) for loc in locs}) == len(locs)


def test_crash_between_launch_and_record_then_reconcile(harness: Harness) -> None:
    """The controller wrote two replica rows (with their keys), launched both, and died before recording
    the instance ids. After a restart only the cloud knows them: `list` must find them by tag with their
    keys, relaunching a recorded key adopts its instance, and an unrecorded one is removed as ours."""
    h, svc = harness, f"crash-{uuid.uuid4().hex[:6]}"
    zone = h.provider.locations(spot=False)[0].zone
    for replica in ("1", "2"):
        h.provider.launch(_spec(svc, replica, spot=False, zone=zone))  # the ids are lost with the crash
    found = {i.idempotency_key: i for i in h.provider.list(svc) if i.state.live}
    assert set(found) == {f"{svc}-1-k", f"{svc}-2-k"}
    assert {i.replica_id for i in found.values()} == {"1", "2"}
    adopted = h.provider.launch(_spec(svc, "1", spot=False, zone=zone))
    assert adopted.id == found[f"{svc}-1-k"].id
    orphan = found[f"{svc}-2-k"].id
    h.provider.terminate([orphan])
    assert h.provider.status([orphan])[orphan].state == State.TERMINATED
    assert [i.id for i in h.provider.list(svc) if i.state.live] == [adopted.id]
    h.provider.terminate([adopted.id])
    assert h.leftovers(svc) == []


def test_throttling_is_retried(harness: Harness) -> None:
    """A cloud answering "slow down" twice costs a short wait, never an error or a lost instance."""
    if harness.throttle is None:
        pytest.skip(f"{harness.name} has no API that throttles")
    service = f"svc-{uuid.uuid4().hex[:8]}"
    inst = harness.provider.launch(_spec(service, "1", spot=False, zone=None))
    assert harness.throttle(2) == 2
    assert [i.id for i in harness.provider.list(service)] == [inst.id]
    assert harness.throttle(0) == 0  # both refusals were met, and retried
    harness.provider.terminate([inst.id])
    harness.provider.terminate([inst.id])
    assert not [i for i in harness.provider.list(service) if i.state.live]
