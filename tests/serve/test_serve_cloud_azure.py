"""`skyctl serve up` of `examples/serve/azure-spot.yaml` against the in-repo fake Azure Resource Manager on
127.0.0.1 (SKYCTL_AZURE_ENDPOINT): `skyctl check` finds Azure enabled from a service principal and a
subscription in the environment, the controller creates tagged Spot VMs spread over availability zones
at catalog prices (with the user's SSH key from a temporary HOME), and `serve down` leaves no VM in the
fake (asked directly).

The fake's VMs run nothing, so replicas stop at PROVISIONING/STARTING: as far as the fake allows."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from serve_cli_helpers import Cli
from serve_helpers import wait_for

from providers.fakes.arm import FakeARM
from providers.fakes.server import FakeServer

pytest.importorskip("azure.mgmt.compute")
ROOT = Path(__file__).resolve().parents[2]
SERVICE = "agent-azure"
SUBSCRIPTION = "00000000-0000-4000-8000-0000000000e2"
REGIONS = ("eastus", "westus2")
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE2eE e2e@skyctl"


@pytest.fixture
def arm() -> Iterator[str]:
    server = FakeServer(FakeARM()).start()
    yield server.url
    server.stop()


def _vms(url: str) -> list[dict]:
    """Every VM of the service in the subscription, as the fake's list_all shows it."""
    resp = httpx.get(f"{url}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Compute/virtualMachines",
                     params={"api-version": "2024-07-01"}, timeout=10)
    resp.raise_for_status()
    return [vm for vm in resp.json()["value"] if (vm.get("tags") or {}).get("skyctl-service") == SERVICE]


def _running(url: str, vm: dict) -> bool:
    resp = httpx.get(f"{url}{vm['id']}/instanceView", params={"api-version": "2024-07-01"}, timeout=10)
    return "PowerState/running" in {s["code"] for s in resp.json()["statuses"]}


def azure_env(tmp_path: Path) -> dict[str, str]:
    """A service principal and subscription in the environment; the user's SSH key under a fresh HOME."""
    home = tmp_path / "user"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(SSH_KEY + "\n")
    return {"HOME": str(home), "AZURE_TENANT_ID": "11111111-1111-4111-8111-111111111111",
            "AZURE_CLIENT_ID": "22222222-2222-4222-8222-222222222222",
            "AZURE_CLIENT_SECRET": "not-a-secret",
            "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION}


@pytest.mark.slow
def test_serve_up_and_down_on_fake_arm(tmp_path: Path, arm: str) -> None:
    state = tmp_path / "skyctl"
    state.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GOOGLE_", "CLOUDSDK_", "SKYCTL_", "AWS_", "AZURE_"))}
    env.update(azure_env(tmp_path), SKYCTL_HOME=str(state), SKYCTL_AZURE_ENDPOINT=arm,
               SKYCTL_SERVE_TICK_SECONDS="0.5", SKYCTL_SERVE_PROBE_INTERVAL_SECONDS="1")
    cli = Cli(state, env)
    azure = next(c for c in cli.json("check") if c["cloud"] == "azure")
    assert azure["enabled"] and azure["source"] == "environment" and SUBSCRIPTION in azure["credentials"]
    try:
        cli.run("serve", "up", str(ROOT / "examples" / "serve" / "azure-spot.yaml"), "--detach")
        # min 2 + 1 over-provisioned spot, plus on-demand cover while no spot replica is READY.
        wait_for(lambda: sum(_running(arm, vm) for vm in _vms(arm)) >= 3, 60,
                 "three running VMs in the fake")
        svc = cli.service(SERVICE)
        spot = [r for r in svc["replicas"] if r["spot"]]
        assert len(spot) == 3
        assert all(r["cloud"] == "azure" and r["region"] in REGIONS for r in spot)
        spread = {r["region"] for r in spot}  # checked after teardown (see the end)
        assert all(r["status"] in ("PROVISIONING", "STARTING") for r in svc["replicas"])
        prices = {"eastus": 0.062699, "westus2": 0.061595}  # the catalog's NC4as_T4_v3 spot prices
        assert all(r["price_per_hour"] == prices[r["region"]] for r in spot)
        vms = _vms(arm)
        props = [vm["properties"] for vm in vms]
        assert {p["hardwareProfile"]["vmSize"] for p in props} == {"Standard_NC4as_T4_v3"}
        assert all({"skyctl-service", "skyctl-replica"} <= set(vm["tags"]) for vm in vms)
        spot_vms = [vm for vm in vms if vm["properties"].get("priority") == "Spot"]
        assert len(spot_vms) == 3 and sorted((vm["location"], vm["zones"][0]) for vm in spot_vms) == sorted(
            (r["region"], r["zone"].rsplit("-", 1)[1]) for r in spot)
        assert all(p["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["keyData"] == SSH_KEY
                   for p in props)
        assert all("replica_agent" in base64.b64decode(p["osProfile"]["customData"]).decode() for p in props)
    finally:
        cli.run("serve", "down", "--all", check=False)
    assert _vms(arm) == []
    assert cli.json("serve", "status") == []
    # Azure's catalog rows are regional, so the plan's locations are regions while replicas record the
    # VM's zone (eastus-1): placers still see one spot replica per region (`LaunchPlan.locate`).
    assert spread == set(REGIONS)
