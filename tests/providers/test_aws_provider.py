"""AWS specifics against moto's server: what goes on the wire, preemption codes, error mapping through the
fault proxy, retries, adoption by a fresh provider, and more than one region."""

from __future__ import annotations

import base64
import uuid

import pytest
from harness_aws import (
    REGIONS,
    direct_ec2,
    exhaust_spot,
    fault_proxy,
    live_ids,
    make_provider,
    preempt_instance,
)

from providers.aws.images import NAME_PATTERNS
from providers.base import (
    CapacityError,
    LaunchSpec,
    ProviderAuthError,
    ProviderUserError,
    QuotaError,
    State,
    TransientError,
)

ZONE = "eu-central-1a"


def spec(svc: str, replica: str = "1", **kw) -> LaunchSpec:
    return LaunchSpec(service=svc, replica_id=replica, idempotency_key=f"{svc}-{replica}", zone=ZONE, **kw)


@pytest.fixture
def svc() -> str:
    name = f"aws-{uuid.uuid4().hex[:6]}"
    yield name
    provider = make_provider()
    provider.terminate([i.id for i in provider.list(name) if i.state.live])


def described(instance_id: str) -> dict:
    (reservation,) = direct_ec2(ZONE[:-1]).describe_instances(InstanceIds=[instance_id])["Reservations"]
    return reservation["Instances"][0]


def test_launch_request_on_the_wire(svc: str) -> None:
    p = make_provider()
    inst = p.launch(spec(svc, spot=True, setup="echo setting-up", run="replica-agent serve --port 8000",
                         ports=[8000], disk_size_gb=200, accelerators={"A10G": 1}, envs={"HF_TOKEN": "x"}))
    raw = described(inst.id)
    assert raw["InstanceType"] == "g5.xlarge" == inst.instance_type  # cheapest 1x A10G in the catalog there
    assert raw["InstanceLifecycle"] == "spot" and raw["Placement"]["AvailabilityZone"] == ZONE
    image = direct_ec2("eu-central-1").describe_images(ImageIds=[raw["ImageId"]])["Images"][0]
    assert image["Name"].startswith("Deep Learning")  # the default image is a DLAMI (moto's copy)
    tags = {t["Key"]: t["Value"] for t in raw["Tags"]}
    assert tags["skyctl-idempotency-key"] == f"{svc}-1" and tags["skyctl-port"] == "8000"
    assert float(tags["skyctl-price"]) == inst.price_per_hour == p.price("g5.xlarge", spot=True, zone=ZONE)
    data = direct_ec2("eu-central-1").describe_instance_attribute(InstanceId=inst.id, Attribute="userData")
    script = base64.b64decode(data["UserData"]["Value"]).decode()
    assert "echo setting-up" in script and "replica-agent serve --port 8000" in script
    assert "pip install --quiet 'skyctl[agent]" in script and "export HF_TOKEN=x" in script
    volume_id = raw["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    volume = direct_ec2("eu-central-1").describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    assert volume["Size"] == 200
    assert inst.endpoint and inst.endpoint.endswith(":8000")


def test_image_id_overrides_the_default(svc: str) -> None:
    ami = direct_ec2("eu-central-1").describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["amzn2-ami-hvm-*"]}])["Images"][0]["ImageId"]
    inst = make_provider().launch(spec(svc, image_id=ami, instance_type="g5.2xlarge"))
    assert described(inst.id)["ImageId"] == ami and inst.instance_type == "g5.2xlarge"
    assert NAME_PATTERNS  # the fallback patterns exist for regions without the SSM parameter


def test_preemption_codes_and_other_endings(svc: str) -> None:
    p = make_provider()
    killed = p.launch(spec(svc, "1", spot=True))
    stopped = p.launch(spec(svc, "2", spot=True))
    od = p.launch(spec(svc, "3"))
    preempt_instance(killed.id, "eu-central-1")
    preempt_instance(stopped.id, "eu-central-1", stop=True)
    direct_ec2("eu-central-1").terminate_instances(InstanceIds=[od.id])  # someone else, not skyctl
    now = p.status([killed.id, stopped.id, od.id])
    assert (now[killed.id].state, now[killed.id].reason) == (State.PREEMPTED,
                                                             "Server.SpotInstanceTermination")
    assert (now[stopped.id].state, now[stopped.id].reason) == (State.PREEMPTED, "Server.SpotInstanceShutdown")
    assert (now[od.id].state, now[od.id].reason) == (State.FAILED, "Client.UserInitiatedShutdown")
    assert stopped.id in live_ids(svc)  # a stopped spot instance still holds its disk...
    p.terminate([killed.id, stopped.id, od.id])
    assert live_ids(svc) == []  # ...so terminate deletes it, and it still reads PREEMPTED
    assert p.status([stopped.id])[stopped.id].state == State.PREEMPTED


def test_throttling_is_retried_with_backoff_then_gives_up(svc: str) -> None:
    p = make_provider()
    proxy = fault_proxy()
    proxy.fail({"Action": "RunInstances"}, "RequestLimitExceeded", status=503, times=2)
    inst = p.launch(spec(svc))
    assert proxy.seen["RunInstances"] == 3 and inst.state in (State.PENDING, State.RUNNING)
    assert proxy.seen["DescribeInstances"] == 3  # each attempt first looks for the key's instance
    proxy.fail({"Action": "DescribeInstances"}, "InternalError", status=500)
    with pytest.raises(TransientError) as err:
        p.list(svc)
    assert err.value.retryable and err.value.code == "InternalError"
    assert proxy.seen["DescribeInstances"] == 3 + 4  # FAST_RETRY allows four attempts in all
    proxy.reset()


@pytest.mark.parametrize(("code", "kind", "expect"), [
    ("VcpuLimitExceeded", QuotaError, "Running On-Demand instances vCPUs"),
    ("MaxSpotInstanceCountExceeded", QuotaError, "All Spot Instance Requests vCPUs"),
    ("AuthFailure", ProviderAuthError, "aws configure"),
    ("InvalidAMIID.NotFound", ProviderUserError, "image_id"),
])
def test_errors_map_to_the_taxonomy(svc: str, code: str, kind: type, expect: str) -> None:
    p = make_provider()
    fault_proxy().fail({"Action": "RunInstances"}, code)
    with pytest.raises(kind) as err:
        p.launch(spec(svc))
    assert expect in str(err.value) and err.value.code == code and not err.value.marks_location
    assert fault_proxy().seen["RunInstances"] == 1  # answers, not accidents: never retried
    assert p.list(svc) == []


def test_capacity_in_one_zone_only(svc: str) -> None:
    p = make_provider()
    exhaust_spot(ZONE)
    with pytest.raises(CapacityError) as err:
        p.launch(spec(svc, spot=True))
    assert err.value.location.zone == ZONE and err.value.code == "InsufficientInstanceCapacity"
    assert p.launch(spec(svc, "2")).zone == ZONE  # on-demand in the same zone is unaffected


def test_a_fresh_provider_adopts_by_key_and_terminate_is_write_ahead(svc: str) -> None:
    first = make_provider()
    inst = first.launch(spec(svc, spot=True))
    second = make_provider()  # as a restarted controller would: nothing shared but the cloud
    assert second.launch(spec(svc, spot=True)).id == inst.id
    assert fault_proxy().seen["RunInstances"] == 0  # found by its tag, not launched again
    (listed,) = second.list(svc)
    assert (listed.idempotency_key, listed.replica_id, listed.spot) == (f"{svc}-1", "1", True)
    second.terminate([inst.id, "i-0123456789abcdef0"])
    tags = {t["Key"]: t["Value"] for t in described(inst.id)["Tags"]}
    assert tags["skyctl-stop"] == "requested"  # so the gone spot instance reads TERMINATED, not PREEMPTED
    assert first.status([inst.id])[inst.id].state == State.TERMINATED


def test_list_spans_regions_and_bad_places_are_user_errors(svc: str) -> None:
    p = make_provider(regions=("eu-central-1", "us-east-1"))
    a = p.launch(spec(svc, "1"))
    b = p.launch(LaunchSpec(service=svc, replica_id="2", idempotency_key=f"{svc}-2", zone="us-east-1b"))
    assert {(i.id, i.region) for i in p.list(svc)} == {(a.id, "eu-central-1"), (b.id, "us-east-1")}
    with pytest.raises(ProviderUserError) as err:
        p.launch(LaunchSpec(service=svc, replica_id="3", idempotency_key="k3", zone="ap-south-1a"))
    assert err.value.field == "zone" and "eu-central-1, us-east-1" in str(err.value)
    with pytest.raises(ProviderUserError) as err:
        p.launch(LaunchSpec(service=svc, replica_id="3", idempotency_key="k3", zone=ZONE,
                            accelerators={"H100": 8}))
    assert err.value.field == "accelerators"
    p.terminate([a.id, b.id])
    assert {i.state for i in p.list(svc)} == {State.TERMINATED}
    assert REGIONS == ("eu-central-1",)
