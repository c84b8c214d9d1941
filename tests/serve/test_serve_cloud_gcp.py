"""`skyctl serve up` of `examples/serve/gcp-spot.yaml` against the in-repo fake Compute Engine server on
127.0.0.1 (SKYCTL_GCP_ENDPOINT): `skyctl check` finds GCP enabled from an application-default credentials
file in a temporary HOME and the project from GOOGLE_CLOUD_PROJECT, the controller launches labelled spot
VMs spread over zones at catalog prices, and `serve down` leaves no VM in the fake (asked directly).

The fake's VMs run nothing, so replicas stop at PROVISIONING/STARTING: as far as the fake allows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_cli_helpers import Cli
from serve_helpers import wait_for

from providers.fakes.gce import FakeGCE
from providers.fakes.server import FakeServer

pytest.importorskip("google.cloud.compute_v1")
ROOT = Path(__file__).resolve().parents[2]
SERVICE = "agent-gcp"
PROJECT = "skyctl-e2e"
REGIONS = ("us-central1", "us-east1")


@pytest.fixture
def gce() -> Iterator[str]:
    server = FakeServer(FakeGCE()).start()
    yield server.url
    server.stop()


def _instances(url: str) -> list[dict]:
    """Every VM of the service, as the fake's aggregated list shows it (what the SDK would see)."""
    resp = httpx.get(f"{url}/compute/v1/projects/{PROJECT}/aggregated/instances",
                     params={"filter": f'labels.skyctl-service = "{SERVICE}"'}, timeout=10)
    resp.raise_for_status()
    return [i for scoped in resp.json()["items"].values() for i in scoped.get("instances", [])]


def gcp_home(tmp_path: Path) -> dict[str, str]:
    """A user who ran `gcloud auth application-default login`: an ADC file under a fresh HOME."""
    home = tmp_path / "user"
    adc = home / ".config" / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir(parents=True)
    adc.write_text(json.dumps({"type": "authorized_user", "client_id": "e2e.apps.googleusercontent.com",
                               "client_secret": "not-a-secret", "refresh_token": "1//e2e"}))
    return {"HOME": str(home)}


@pytest.mark.slow
def test_serve_up_and_down_on_fake_gce(tmp_path: Path, gce: str) -> None:
    state = tmp_path / "skyctl"
    state.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GOOGLE_", "CLOUDSDK_", "SKYCTL_", "AWS_", "AZURE_"))}
    env.update(gcp_home(tmp_path), SKYCTL_HOME=str(state), SKYCTL_GCP_ENDPOINT=gce,
               GOOGLE_CLOUD_PROJECT=PROJECT, NO_GCE_CHECK="True",
               SKYCTL_SERVE_TICK_SECONDS="0.5", SKYCTL_SERVE_PROBE_INTERVAL_SECONDS="1")
    cli = Cli(state, env)
    gcp = next(c for c in cli.json("check") if c["cloud"] == "gcp")
    assert gcp["enabled"] and gcp["source"] == "file" and PROJECT in gcp["credentials"]
    try:
        cli.run("serve", "up", str(ROOT / "examples" / "serve" / "gcp-spot.yaml"), "--detach")
        # min 2 + 1 over-provisioned spot, plus on-demand cover while no spot replica is READY.
        wait_for(lambda: sum(i["status"] == "RUNNING" for i in _instances(gce)) >= 3, 60,
                 "three RUNNING VMs in the fake")
        svc = cli.service(SERVICE)
        spot = [r for r in svc["replicas"] if r["spot"]]
        assert len(spot) == 3
        assert all(r["cloud"] == "gcp" and r["region"] in REGIONS for r in spot)
        assert len({r["zone"] for r in spot}) == 3  # dynamic_fallback: one spot replica per zone
        assert all(r["status"] in ("PROVISIONING", "STARTING") for r in svc["replicas"])
        assert all(r["price_per_hour"] == 0.28184 for r in spot)  # the catalog's g2-standard-4 spot price
        launched = _instances(gce)
        assert {i["machineType"].rsplit("/", 1)[-1] for i in launched} == {"g2-standard-4"}
        assert all({"skyctl-service", "skyctl-replica"} <= set(i["labels"]) for i in launched)
        assert sum(i["scheduling"]["provisioningModel"] == "SPOT" for i in launched) == 3
        assert all("startup-script" in {m["key"] for m in i["metadata"]["items"]} for i in launched)
    finally:
        cli.run("serve", "down", "--all", check=False)
    assert _instances(gce) == []
    assert cli.json("serve", "status") == []
