"""The contract harness for `gcp`: GCPProvider through google-cloud-compute against the in-repo fake
Compute Engine server (`providers.fakes.gce`), started once per test session on 127.0.0.1."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from providers.base import Instance
from providers.fakes.gce import FakeGCE
from providers.fakes.server import FakeServer
from providers.gcp import GCPProvider
from providers.retry import RetryPolicy

if TYPE_CHECKING:
    from provider_harness import Harness

NAME = "gcp"
PROJECT = "skyctl-test"
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, max_total=1.0)


@cache
def fake_gce() -> FakeServer:
    """One fake per session (a daemon thread; it dies with the interpreter)."""
    return FakeServer(FakeGCE()).start()


def provider(root: Path, **options: object) -> GCPProvider:
    return GCPProvider(root, project=PROJECT, endpoint=fake_gce().url, regions=["us-central1"],
                       zones=["us-central1-a", "us-central1-b", "us-central1-c"],
                       retry=FAST_RETRY, **options)  # type: ignore[arg-type]


def hook(path: str, **body: object) -> dict:
    reply = httpx.post(f"{fake_gce().url}/_fake/{path}", json=body, timeout=5)
    reply.raise_for_status()
    return reply.json()


def leftovers(service: str) -> list[str]:
    """VM names carrying the service's label, read from the fake's REST API, not through the provider."""
    url = f"{fake_gce().url}/compute/v1/projects/{PROJECT}/aggregated/instances"
    flt = f'labels.skyctl-service = "{service}"'
    items = httpx.get(url, params={"filter": flt}, timeout=5).json()["items"]
    return sorted(i["name"] for scoped in items.values() for i in scoped.get("instances", []))


def build(tmp_path: Path) -> Harness:
    from provider_harness import Harness  # here: provider_harness imports this module to discover it

    hook("reset")
    gcp = provider(tmp_path / "gcp-ledger")

    def preempt(inst: Instance) -> None:
        hook("preempt", zone=inst.zone, name=inst.id)

    return Harness(name=NAME, provider=gcp, preempt=preempt,
                   exhaust_spot=lambda zone: hook("capacity", zone=zone, spot=True),
                   leftovers=leftovers, serves_http=False,
                   throttle=lambda n: hook("throttle", count=n, status=429)["pending"])
