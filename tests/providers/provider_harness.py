"""One harness per provider so the contract suite runs unchanged against each of them.

A harness builds the provider on fresh state and supplies what only a test can do to it: inject a
preemption, exhaust spot capacity in a zone, list what is still running outside the provider's own
bookkeeping. `sim`, `aws` (moto), `gcp` and `azure` (in-repo fakes) add a builder to `HARNESSES`.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from process_scan import processes_with_env

from providers.base import Instance, Provider
from providers.local import LocalProvider

# A tiny HTTP server on the port the provider hands out, bound to loopback only.
HTTP_RUN = f"exec {sys.executable} -m http.server $SKYCTL_PORT --bind 127.0.0.1"


@dataclass
class Harness:
    name: str
    provider: Provider
    preempt: Callable[[Instance], None]  # take a spot instance back the way this cloud would
    exhaust_spot: Callable[[str], None]  # no more spot capacity in this zone
    leftovers: Callable[[str], list[str]]  # what still runs for a service, seen from outside the provider
    serves_http: bool  # replicas really run `run`, so the endpoint answers
    # Make the next n API calls answer "slow down" (429/503) as this cloud would, and return how many such
    # answers are still pending (throttle(0) just asks); None: the provider has no API to throttle.
    throttle: Callable[[int], int] | None = None


def _local(root: Path) -> Harness:
    provider = LocalProvider(root, grace_seconds=2.0)

    def preempt(inst: Instance) -> None:
        provider.preempt(inst.id)

    return Harness(
        name="local", provider=provider, preempt=preempt,
        exhaust_spot=lambda zone: provider.set_spot_capacity(zone, 0),
        leftovers=lambda service: [str(p) for p in processes_with_env(f"SKYCTL_SERVICE={service}")],
        serves_http=True)


HARNESSES: dict[str, Callable[[Path], Harness]] = {"local": _local}


def _discover() -> None:
    """Each other provider brings its harness in `harness_<name>.py` beside this file: a module with
    `NAME` and `build(tmp_path) -> Harness` (servers it needs are started once per test session)."""
    for path in sorted(Path(__file__).parent.glob("harness_*.py")):
        module = importlib.import_module(path.stem)
        HARNESSES[module.NAME] = module.build


_discover()


@pytest.fixture(params=sorted(HARNESSES))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    h = HARNESSES[request.param](tmp_path)
    yield h
    # Never leave anything behind, even when a test failed half-way.
    h.provider.terminate([i.id for i in h.provider.list() if i.state.live])


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
