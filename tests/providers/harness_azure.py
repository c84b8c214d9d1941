"""The contract harness for `azure`: AzureProvider through azure-mgmt-compute against the in-repo fake ARM
server (`providers.fakes.arm`), started once per test session on 127.0.0.1."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from providers.azure import AzureProvider
from providers.base import Instance
from providers.fakes.arm import FakeARM
from providers.fakes.server import FakeServer
from providers.retry import RetryPolicy

if TYPE_CHECKING:
    from provider_harness import Harness

NAME = "azure"
SUBSCRIPTION, GROUP = "00000000-0000-0000-0000-000000000001", "skyctl-test"
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_total=1.0)
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEzLGsKs7N2t0nM0uS5Z0m9F0x6l4m2cTq7Bq3jHk2pW test@skyctl"


@cache
def fake_arm() -> FakeServer:
    """One fake per session (a daemon thread; it dies with the interpreter)."""
    return FakeServer(FakeARM()).start()


def provider(root: Path, **options: object) -> AzureProvider:
    return AzureProvider(root, subscription=SUBSCRIPTION, resource_group=GROUP, endpoint=fake_arm().url,
                         regions=["eastus"], ssh_public_key=SSH_KEY, retry=FAST_RETRY,
                         **options)  # type: ignore[arg-type]


def hook(path: str, **body: object) -> dict:
    reply = httpx.post(f"{fake_arm().url}/_fake/{path}", json=body, timeout=5)
    reply.raise_for_status()
    return reply.json() if reply.content else {}


def leftovers(service: str) -> list[str]:
    """VM names tagged with the service, read from the fake's REST API, not through the provider."""
    url = (f"{fake_arm().url}/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/"
           "Microsoft.Compute/virtualMachines")
    vms = httpx.get(url, params={"api-version": "2024-07-01"}, timeout=5).json()["value"]
    return sorted(vm["name"] for vm in vms if (vm.get("tags") or {}).get("skyctl-service") == service)


def build(tmp_path: Path) -> Harness:
    from provider_harness import Harness  # here: provider_harness imports this module to discover it

    hook("reset")
    azure = provider(tmp_path / "azure-ledger")

    def preempt(inst: Instance) -> None:
        hook("evict", name=inst.id)

    def exhaust_spot(zone: str) -> None:
        region, _, number = zone.rpartition("-")
        hook("capacity", location=region, zone=number, spot=True)

    return Harness(name=NAME, provider=azure, preempt=preempt, exhaust_spot=exhaust_spot,
                   leftovers=leftovers, serves_http=False,
                   throttle=lambda n: hook("throttle", count=n, status=429)["pending"])
