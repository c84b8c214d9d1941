"""The `sim` harness: SimProvider on a clock that moves 5 s each time it is read.

The contract suite waits for RUNNING by polling in real time; a stepping virtual clock turns those polls
into simulated seconds, so the 120 s cold start really elapses (about 24 reads) without sleeping. Capacity
is a flat trace of 4 spot replicas per zone; `exhaust_spot` overrides a zone to 0 as a trace drop would.
"""

from __future__ import annotations

from pathlib import Path

from provider_harness import Harness

from providers.base import Instance
from providers.sim import SimProvider
from skyctl.clock import VirtualClock

NAME = "sim"
ZONES = ("us-east-1a", "us-east-1b", "us-west-2a")


class SteppingClock(VirtualClock):
    """Each read advances the clock by `step` seconds."""

    def __init__(self, step: float) -> None:
        super().__init__(0.0)
        self.step = step

    def now(self) -> float:
        return self.advance(self.step)


def build(tmp_path: Path) -> Harness:
    provider = SimProvider({z: [4] * 100 for z in ZONES}, clock=SteppingClock(5.0),
                           spot_prices={"us-east-1a": 0.9, "us-east-1b": 1.0, "us-west-2a": 1.1})

    def preempt(inst: Instance) -> None:
        provider.preempt(inst.id)

    def leftovers(service: str) -> list[str]:
        return [i.id for i in provider.list(service) if i.state.live]  # the sim has no world outside it

    return Harness(name=NAME, provider=provider, preempt=preempt,
                   exhaust_spot=lambda zone: provider.set_spot_capacity(zone, 0),
                   leftovers=leftovers, serves_http=False)
