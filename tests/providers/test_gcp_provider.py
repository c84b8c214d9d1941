"""GCP specifics beyond the contract, through the real SDK against the fake Compute Engine server."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from harness_gcp import PROJECT, fake_gce, hook, leftovers, provider

from providers.base import LaunchSpec, ProviderAuthError, QuotaError, State, TransientError
from providers.vm_ledger import VMRecord


def _spec(svc: str, *, spot: bool = True, zone: str = "us-central1-a", **kw: object) -> LaunchSpec:
    return LaunchSpec(service=svc, replica_id="1", idempotency_key=f"{svc}-1-k", spot=spot, zone=zone,
                      run="python3 -m http.server $SKYCTL_PORT", **kw)  # type: ignore[arg-type]


@pytest.fixture
def svc() -> str:
    hook("reset")
    return f"g-{uuid.uuid4().hex[:6]}"


def _body(name: str, zone: str = "us-central1-a") -> dict:
    url = f"{fake_gce().url}/compute/v1/projects/{PROJECT}/zones/{zone}/instances/{name}"
    return httpx.get(url, timeout=5).json()


def test_wire_body_spot_gpu_labels_startup_script(tmp_path: Path, svc: str) -> None:
    gcp = provider(tmp_path)
    inst = gcp.launch(_spec(svc, accelerators={"T4": 1}, tags={"Team": "ML Infra"}, disk_size_gb=200))
    body = _body(inst.id)
    assert body["scheduling"]["provisioningModel"] == "SPOT"
    assert body["scheduling"]["instanceTerminationAction"] == "DELETE"
    assert body["machineType"].endswith("/n1-standard-4")
    assert body["guestAccelerators"][0]["acceleratorType"].endswith("/nvidia-tesla-t4")
    assert body["labels"] == {"skyctl-service": svc, "skyctl-replica": "1", "skyctl-spot": "true",
                              "team": "ml_infra"}  # GCP labels are lowercase [a-z0-9_-]
    assert inst.tags["Team"] == "ML Infra"  # the ledger keeps what the user wrote
    disk = body["disks"][0]["initializeParams"]
    assert disk["diskSizeGb"] == "200" and "deeplearning-platform-release" in disk["sourceImage"]
    script = body["metadata"]["items"][0]
    assert script["key"] == "startup-script" and "python3 -m http.server $SKYCTL_PORT" in script["value"]
    assert inst.endpoint and inst.endpoint.startswith("http://203.0.113.")


def test_idempotent_insert_with_request_id(tmp_path: Path, svc: str) -> None:
    first = provider(tmp_path / "a").launch(_spec(svc))
    # a second controller with an empty ledger retries the same key: same name, no second VM
    again = provider(tmp_path / "b").launch(_spec(svc))
    assert again.id == first.id and leftovers(svc) == [first.id]


def test_throttling_is_retried_then_gives_up(tmp_path: Path, svc: str) -> None:
    gcp = provider(tmp_path)
    hook("throttle", count=2, status=429)
    assert gcp.launch(_spec(svc)).state == State.RUNNING
    assert httpx.get(f"{fake_gce().url}/_fake/stats").json()["failed"] == 2
    hook("throttle", count=50, status=503)
    with pytest.raises(TransientError):
        gcp.list(svc)
    hook("reset")


def test_quota_and_auth_errors(tmp_path: Path, svc: str) -> None:
    gcp = provider(tmp_path)
    hook("capacity", zone="us-central1-b", spot=True, code="QUOTA_EXCEEDED")
    with pytest.raises(QuotaError) as quota:
        gcp.launch(_spec(svc, zone="us-central1-b"))
    assert quota.value.quota == "PREEMPTIBLE_NVIDIA_T4_GPUS" and not quota.value.marks_location
    assert gcp.list(svc) == []
    hook("throttle", count=1, status=403)
    with pytest.raises(ProviderAuthError) as auth:
        gcp.list(svc)
    assert "gcloud auth application-default login" in str(auth.value)


def test_stop_action_preemption_reads_preempted_with_the_operation(tmp_path: Path, svc: str) -> None:
    gcp = provider(tmp_path, spot_termination_action="STOP")
    inst = gcp.launch(_spec(svc))
    hook("preempt", zone=inst.zone, name=inst.id)
    seen = gcp.status([inst.id])[inst.id]
    assert (seen.state, seen.reason) == (State.PREEMPTED, "compute.instances.preempted")
    assert leftovers(svc) == [inst.id]  # STOP keeps the VM (TERMINATED) until we delete it
    gcp.terminate([inst.id])
    assert leftovers(svc) == [] and gcp.status([inst.id])[inst.id].state == State.PREEMPTED


def test_crash_before_insert_then_relaunch_and_adoption(tmp_path: Path, svc: str) -> None:
    gcp = provider(tmp_path / "ledger")
    spec = _spec(svc)
    # a launcher killed between the write-ahead record and the insert: FAILED, and relaunching the key works
    gcp.ledger.write(VMRecord(id=gcp.vm_name(spec), service=svc, replica_id="1",
                              idempotency_key=spec.idempotency_key, spot=True, region="us-central1",
                              zone="us-central1-a", instance_type="n1-standard-4", price_per_hour=0.18816,
                              launched_at=0.0, port=8080))
    assert gcp.list(svc)[0].state == State.FAILED
    inst = gcp.launch(spec)
    assert inst.state == State.RUNNING and leftovers(svc) == [inst.id]
    # a controller on another machine (empty ledger) finds the VM by its labels and can remove it
    other = provider(tmp_path / "elsewhere")
    adopted = other.list(svc)
    assert [(i.id, i.state, i.replica_id, i.spot) for i in adopted] == [(inst.id, State.RUNNING, "1", True)]
    other.terminate([inst.id])
    assert leftovers(svc) == [] and other.status([inst.id])[inst.id].state == State.TERMINATED
