"""Azure specifics beyond the contract, through the real SDK against the fake ARM server."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import httpx
import pytest
from harness_azure import GROUP, SUBSCRIPTION, fake_arm, hook, leftovers, provider

from providers.base import (
    CapacityError,
    LaunchSpec,
    ProviderAuthError,
    ProviderUserError,
    QuotaError,
    State,
    TransientError,
)


def _spec(svc: str, *, spot: bool = True, zone: str = "eastus-1", **kw: object) -> LaunchSpec:
    return LaunchSpec(service=svc, replica_id="1", idempotency_key=f"{svc}-1-k", spot=spot, zone=zone,
                      run="python3 -m http.server $SKYCTL_PORT", **kw)  # type: ignore[arg-type]


@pytest.fixture
def svc() -> str:
    hook("reset")
    return f"a-{uuid.uuid4().hex[:6]}"


def _vm(name: str) -> dict:
    url = (f"{fake_arm().url}/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/"
           f"Microsoft.Compute/virtualMachines/{name}")
    return httpx.get(url, timeout=5).json()


def test_wire_body_spot_zone_image_custom_data(tmp_path: Path, svc: str) -> None:
    inst = provider(tmp_path).launch(_spec(svc, zone="eastus-2", accelerators={"T4": 1}, image_id="a:b:c"))
    vm = _vm(inst.id)
    props = vm["properties"]
    spot = (props["priority"], props["evictionPolicy"], props["billingProfile"]["maxPrice"])
    assert spot == ("Spot", "Delete", -1)
    assert vm["zones"] == ["2"] and vm["location"] == "eastus"
    assert props["hardwareProfile"]["vmSize"] == "Standard_NC4as_T4_v3"
    image = props["storageProfile"]["imageReference"]
    assert image == {"publisher": "a", "offer": "b", "sku": "c", "version": "latest"}
    script = base64.b64decode(props["osProfile"]["customData"]).decode()
    assert "python3 -m http.server $SKYCTL_PORT" in script
    assert vm["tags"]["skyctl-service"] == svc and inst.state == State.RUNNING
    with pytest.raises(ProviderUserError) as bad:
        provider(tmp_path).launch(_spec(f"{svc}-x", image_id="ubuntu"))
    assert bad.value.field == "image_id"


def test_same_name_put_is_idempotent_across_ledgers(tmp_path: Path, svc: str) -> None:
    first = provider(tmp_path / "a").launch(_spec(svc))
    again = provider(tmp_path / "b").launch(_spec(svc))
    assert again.id == first.id and leftovers(svc) == [first.id]


def test_async_allocation_failure_leaves_no_vm_and_sync_sku_error(tmp_path: Path, svc: str) -> None:
    az = provider(tmp_path)
    hook("capacity", location="eastus", zone="1", spot=True)  # async ZonalAllocationFailed
    with pytest.raises(CapacityError) as cap:
        az.launch(_spec(svc))
    assert cap.value.code == "ZonalAllocationFailed" and cap.value.location.zone == "eastus-1"
    assert leftovers(svc) == [] and az.list(svc) == []  # the Failed VM Azure keeps was deleted
    hook("capacity", location="eastus", zone="2", spot=None, code="SkuNotAvailable")
    with pytest.raises(CapacityError) as sku:
        az.launch(_spec(svc, zone="eastus-2", spot=False))
    assert sku.value.code == "SkuNotAvailable"
    hook("capacity", location="eastus", zone="3", spot=True, code="QuotaExceeded")
    with pytest.raises(QuotaError) as quota:
        az.launch(_spec(svc, zone="eastus-3"))
    assert quota.value.quota == "standardNCASv3_T4Family" and not quota.value.marks_location


def test_throttling_retried_auth_error_explained(tmp_path: Path, svc: str) -> None:
    az = provider(tmp_path)
    hook("throttle", count=2, status=429)
    assert az.launch(_spec(svc)).state == State.RUNNING
    assert httpx.get(f"{fake_arm().url}/_fake/stats").json()["failed"] == 2
    hook("throttle", count=50, status=500)
    with pytest.raises(TransientError):
        az.list(svc)
    hook("reset")
    hook("throttle", count=1, status=401)
    with pytest.raises(ProviderAuthError) as auth:
        az.list(svc)
    assert "az login" in str(auth.value)


def test_deallocate_eviction_reads_preempted(tmp_path: Path, svc: str) -> None:
    az = provider(tmp_path, eviction_policy="Deallocate")
    inst = az.launch(_spec(svc))
    hook("evict", name=inst.id)
    seen = az.status([inst.id])[inst.id]
    assert seen.state == State.PREEMPTED and seen.reason == "eviction (PowerState/deallocated)"
    assert leftovers(svc) == [inst.id]
    az.terminate([inst.id])
    assert leftovers(svc) == [] and az.status([inst.id])[inst.id].state == State.PREEMPTED

