"""EC2's two-minute spot interruption notice, read from the control plane: boto3 -> fault proxy -> moto.

moto creates no spot request for RunInstances with spot market options (real EC2 does), so the notice
is given the way `preempt_instance` injects a preemption: in moto's backend, a spot request is made to
point at our instance and its status code is set as EC2 sets it during the notice. DescribeSpotInstance-
Requests then answers with it on the wire, filtered by instance id, exactly as EC2 would.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from harness_aws import direct_ec2, fault_proxy, make_provider, preempt_instance

from providers.aws.notices import is_interruption
from providers.base import LaunchSpec, State

ZONE = "eu-central-1a"
REGION = ZONE[:-1]
NOTICE = "marked-for-termination"
NOTICE_MESSAGE = "Spot Instance is marked for termination"
DESCRIBE_SPOT = "DescribeSpotInstanceRequests"


def spec(svc: str, replica: str, *, spot: bool) -> LaunchSpec:
    return LaunchSpec(service=svc, replica_id=replica, idempotency_key=f"{svc}-{replica}", zone=ZONE,
                      spot=spot, instance_type="g5.xlarge", image_id="ami-12345678", run="serve")


def announce(instance_id: str, code: str = NOTICE, message: str = NOTICE_MESSAGE) -> str:
    """What EC2 does when it decides to interrupt: the instance's spot request changes its status."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[DEFAULT_ACCOUNT_ID][REGION]
    (req,) = direct_ec2(REGION).request_spot_instances(InstanceCount=1, LaunchSpecification={
        "ImageId": "ami-12345678", "InstanceType": "g5.xlarge"})["SpotInstanceRequests"]
    model = backend.spot_instance_requests[req["SpotInstanceRequestId"]]
    backend.terminate_instances([model.instance.id])  # the request's own instance: not ours, not needed
    model.instance = backend.get_instance(instance_id)
    model._status_code, model.status_message = code, message
    return model.id


@pytest.fixture
def svc() -> str:
    name = f"notice-{uuid.uuid4().hex[:6]}"
    yield name
    provider = make_provider()
    provider.terminate([i.id for i in provider.list(name) if i.state.live])


def test_notice_shows_on_the_live_spot_instance_only(svc: str) -> None:
    p = make_provider()
    noticed, calm = p.launch(spec(svc, "1", spot=True)), p.launch(spec(svc, "2", spot=True))
    ondemand = p.launch(spec(svc, "3", spot=False))
    assert {i.warning for i in p.list(svc)} == {None}
    announce(noticed.id)

    fault_proxy().reset()
    listed = {i.id: i for i in p.list(svc)}
    assert fault_proxy().seen[DESCRIBE_SPOT] == 1  # one call for the region, not one per instance
    assert listed[noticed.id].warning == f"{NOTICE}: {NOTICE_MESSAGE}"
    assert listed[noticed.id].state is State.RUNNING  # still running out its two minutes
    assert listed[calm.id].warning is None and listed[ondemand.id].warning is None
    assert p.status([noticed.id])[noticed.id].warning == f"{NOTICE}: {NOTICE_MESSAGE}"
    assert listed[noticed.id].to_dict()["warning"] == f"{NOTICE}: {NOTICE_MESSAGE}"

    preempt_instance(noticed.id, REGION)  # the two minutes are up
    gone = p.status([noticed.id])[noticed.id]
    assert gone.state is State.PREEMPTED and gone.reason == "Server.SpotInstanceTermination"
    assert gone.warning is None  # a notice is about a live instance


def test_capacity_reclaim_code_is_a_notice_and_a_users_stop_is_not(svc: str) -> None:
    p = make_provider()
    reclaimed, stopped = p.launch(spec(svc, "1", spot=True)), p.launch(spec(svc, "2", spot=True))
    # EC2 sets this at once for instances that terminate on interruption, while they still run
    announce(reclaimed.id, "instance-terminated-no-capacity", "")
    announce(stopped.id, "instance-stopped-by-user", "User initiated stop")
    listed = {i.id: i for i in p.list(svc)}
    assert listed[reclaimed.id].warning == "instance-terminated-no-capacity"
    assert listed[stopped.id].warning is None


def test_no_spot_instance_no_extra_call_and_terminate_does_not_ask(svc: str) -> None:
    p = make_provider()
    ondemand = p.launch(spec(svc, "1", spot=False))
    fault_proxy().reset()
    assert [i.id for i in p.list(svc)] == [ondemand.id]
    spot = p.launch(spec(svc, "2", spot=True))
    announce(spot.id)
    fault_proxy().reset()
    p.terminate([spot.id])
    assert fault_proxy().seen["TerminateInstances"] == 1 and fault_proxy().seen[DESCRIBE_SPOT] == 0
    ended = p.status([spot.id])[spot.id]
    assert ended.state is State.TERMINATED and ended.warning is None  # ours: no notice to act on


def test_unreadable_notices_leave_the_listing_intact(svc: str, caplog: pytest.LogCaptureFixture) -> None:
    p = make_provider()
    spot = p.launch(spec(svc, "1", spot=True))
    announce(spot.id)
    fault_proxy().fail({"Action": DESCRIBE_SPOT}, "UnauthorizedOperation", status=403,
                       message="You are not authorized to perform this operation.")
    with caplog.at_level(logging.WARNING, logger="skyctl.providers.aws"):
        for _ in range(2):
            (inst,) = p.list(svc)
            assert inst.id == spot.id and inst.state is State.RUNNING and inst.warning is None
    assert len([r for r in caplog.records if "spot interruption notices" in r.message]) == 1  # not per tick
    fault_proxy().reset()
    assert p.list(svc)[0].warning == f"{NOTICE}: {NOTICE_MESSAGE}"


@pytest.mark.parametrize(("code", "notice"), [
    ("fulfilled", False), ("marked-for-termination", True), ("marked-for-stop", True),
    ("instance-terminated-by-price", True), ("instance-stopped-no-capacity", True),
    ("instance-terminated-by-user", False), ("spot-instance-terminated-by-user", False),
    ("request-canceled-and-instance-running", False), ("", False)])
def test_interruption_codes(code: str, notice: bool) -> None:
    assert is_interruption(code) is notice
