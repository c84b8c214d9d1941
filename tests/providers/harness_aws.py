"""The `aws` harness: the real AWSProvider and boto3 against moto's server on 127.0.0.1, via a fault proxy.

One ThreadedMotoServer and one proxy serve the whole test session (started on first use, stopped at
exit); each harness clears the proxy's rules. Because the server runs in this process, a preemption is
injected the only way moto allows: its EC2 backend is told to terminate the instance and its state
reason is overwritten with `Server.SpotInstanceTermination`, which is what EC2 reports when it takes a
spot instance back. Spot capacity is exhausted by a proxy rule answering RunInstances for that zone and
market with `InsufficientInstanceCapacity`.
"""

from __future__ import annotations

import atexit
import functools
import logging
from pathlib import Path
from typing import Any

from aws_fault_proxy import FaultProxy

from providers.aws import AWSProvider
from providers.base import TAG_SERVICE, Instance
from providers.retry import RetryPolicy

NAME = "aws"
REGIONS = ("eu-central-1",)  # three zones, as the contract suite expects of locations()
CREDS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_total=1.0)
SPOT_REASON = "Server.SpotInstanceTermination"


@functools.cache
def moto_url() -> str:
    """moto's own address (tests that go around the proxy: leftovers, behind-the-back changes)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    atexit.register(server.stop)
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


@functools.cache
def fault_proxy() -> FaultProxy:
    proxy = FaultProxy(moto_url())
    atexit.register(proxy.close)
    return proxy


@functools.cache
def session() -> Any:
    """One boto3 session for all providers of the test run: its loader caches the parsed EC2 model."""
    import boto3

    return boto3.Session(**CREDS)


@functools.cache
def direct_ec2(region: str) -> Any:
    """A boto3 client straight to moto, bypassing the provider and the proxy."""
    return session().client("ec2", region_name=region, endpoint_url=moto_url())


def make_provider(**options: Any) -> AWSProvider:
    fault_proxy().reset()
    opts: dict[str, Any] = dict(regions=REGIONS, endpoint_url=fault_proxy().url, session=session(),
                                retry=FAST_RETRY)
    return AWSProvider(**{**opts, **options})


def preempt_instance(instance_id: str, region: str, *, stop: bool = False) -> None:
    """What EC2 does on a spot interruption: terminate (or stop) with the spot reason code."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends
    from moto.ec2.models.instances import StateReason

    inst = ec2_backends[DEFAULT_ACCOUNT_ID][region].get_instance(instance_id)
    inst.stop() if stop else inst.terminate()
    code = "Server.SpotInstanceShutdown" if stop else SPOT_REASON
    inst.state_reason = StateReason(f"{code}: Spot instance interruption", code)


def live_ids(service: str) -> list[str]:
    """Instances of `service` that still run (or could), as moto sees them, in every harness region."""
    out = []
    for region in REGIONS:
        pages = direct_ec2(region).get_paginator("describe_instances").paginate(Filters=[
            {"Name": f"tag:{TAG_SERVICE}", "Values": [service]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}])
        out += [i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]]
    return out


def exhaust_spot(zone: str) -> None:
    fault_proxy().fail({"Action": "RunInstances", "Placement.AvailabilityZone": zone,
                        "InstanceMarketOptions.MarketType": "spot"}, "InsufficientInstanceCapacity",
                       message=f"We currently do not have sufficient capacity in the Availability Zone "
                               f"you requested ({zone}).")


def build(tmp_path: Path) -> Any:
    from provider_harness import Harness  # here, not at the top: provider_harness imports this module

    provider = make_provider()

    def preempt(inst: Instance) -> None:
        preempt_instance(inst.id, inst.region)

    def throttle(n: int) -> int:
        proxy = fault_proxy()
        if n:
            proxy.fail({"Action": "DescribeInstances"}, "RequestLimitExceeded", status=503, times=n)
        return sum(r.times or 0 for r in proxy.rules if r.code == "RequestLimitExceeded")

    return Harness(name=NAME, provider=provider, preempt=preempt, exhaust_spot=exhaust_spot,
                   leftovers=live_ids, serves_http=False, throttle=throttle)
