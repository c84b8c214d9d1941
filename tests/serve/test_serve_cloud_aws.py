"""`skyctl serve up` of `examples/serve/aws-spot.yaml` against moto's EC2 server on 127.0.0.1 (through the
standard AWS_ENDPOINT_URL): the controller launches tagged spot instances spread over zones, `serve
status` shows them with their zones and catalog prices, and `serve down` leaves no instance running.

moto's instances run nothing, so replicas stop at STARTING (launched, probe not answered): that is as far
as the fake allows."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_cli_helpers import Cli
from serve_helpers import wait_for

pytest.importorskip("boto3")
ROOT = Path(__file__).resolve().parents[2]
SERVICE = "agent-aws"


@pytest.fixture
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _instances(url: str) -> list[dict]:
    import boto3

    found = []
    for region in ("us-east-1", "us-west-2"):
        ec2 = boto3.client("ec2", region_name=region, endpoint_url=url, aws_access_key_id="testing",
                           aws_secret_access_key="testing")
        pages = ec2.describe_instances(Filters=[{"Name": "tag:skyctl-service", "Values": [SERVICE]}])
        found += [i for r in pages["Reservations"] for i in r["Instances"]]
    return found


@pytest.mark.slow
def test_serve_up_and_down_on_moto(tmp_path: Path, moto_url: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "SKYCTL_HOME": str(home), "AWS_ENDPOINT_URL": moto_url,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1",
           "SKYCTL_SERVE_TICK_SECONDS": "0.5", "SKYCTL_SERVE_PROBE_INTERVAL_SECONDS": "1"}
    env.pop("SKYCTL_DB_URL", None)
    cli = Cli(home, env)
    try:
        cli.run("serve", "up", str(ROOT / "examples" / "serve" / "aws-spot.yaml"), "--detach")
        # min 2 + 1 over-provisioned spot, plus on-demand cover while no spot replica is READY.
        wait_for(lambda: sum(i["State"]["Name"] == "running" for i in _instances(moto_url)) >= 3, 60,
                 "three running instances in moto")
        svc = cli.service(SERVICE)
        spot = [r for r in svc["replicas"] if r["spot"]]
        assert len(spot) == 3
        assert all(r["cloud"] == "aws" and r["region"] in ("us-east-1", "us-west-2") for r in spot)
        assert len({r["zone"] for r in spot}) == 3  # dynamic_fallback: one spot replica per zone
        assert all(r["status"] in ("PROVISIONING", "STARTING") for r in svc["replicas"])
        assert all(r["price_per_hour"] and r["price_per_hour"] < 1.0 for r in spot)  # catalog spot, L4
        launched = _instances(moto_url)
        assert {t["Key"] for i in launched for t in i.get("Tags", [])} >= {"skyctl-service", "skyctl-replica"}
        assert sum(i.get("InstanceLifecycle") == "spot" for i in launched) == 3
    finally:
        cli.run("serve", "down", "--all", check=False)
    assert not [i for i in _instances(moto_url) if i["State"]["Name"] not in ("terminated", "shutting-down")]
    assert cli.json("serve", "status") == []
