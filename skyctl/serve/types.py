"""The plain data passed between the controller's parts: what autoscalers see and decide, and what placers
choose from. Kept apart so the autoscalers and placers are pure functions of these values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from providers.base import Location
from skyctl.serve.status import ReplicaStatus
from skyctl.spec import Resources


@dataclass(frozen=True)
class ReplicaView:
    """One replica as autoscalers see it (built from its row each decision)."""

    replica_id: int
    version: int
    status: ReplicaStatus
    spot: bool
    accelerator: str | None = None
    accelerator_count: float = 0
    location: Location | None = None
    launched_at: float | None = None
    ready_at: float | None = None
    purpose: str = "target"


@dataclass(frozen=True)
class ScaleUp:
    """Launch one replica of the latest version. `spot` None means the spec's own `use_spot`;
    `purpose` is recorded on the row for the cost report (target, overprovision, fallback, base_ondemand)."""

    spot: bool | None = None
    purpose: str = "target"


@dataclass(frozen=True)
class ScaleDown:
    """Drain and terminate this replica."""

    replica_id: int
    reason: str = "scale down"


Decision = ScaleUp | ScaleDown


@dataclass(frozen=True)
class Candidate:
    """A location a replica can launch in, with the machine and the prices there."""

    location: Location
    resources: Resources  # the spec candidate it came from (accelerator, cpus, use_spot ...)
    instance_type: str | None
    spot_price: float | None  # $/h, None when there is no spot offer there
    ondemand_price: float | None

    def price(self, spot: bool) -> float | None:
        return self.spot_price if spot else self.ondemand_price


@dataclass(frozen=True)
class Excluded:
    """A location the launch plan left out, and why (shown by `serve validate`)."""

    where: str
    reason: str


class Placer(Protocol):
    """Chooses where the next replica goes and learns from how launches and replicas fare.

    `choose` returns candidates in order of preference; the replica manager tries them in turn and moves on
    only on a `CapacityError`. Events feed the placer's state, which `dump`/`load` persist in the database.
    """

    def choose(self, *, spot: bool, live_spot: list[Location], now: float) -> list[Candidate]: ...

    def on_launched(self, location: Location, *, spot: bool, now: float) -> None: ...

    def on_capacity_error(self, location: Location, *, spot: bool, now: float) -> None: ...

    def on_preempted(self, location: Location, *, now: float) -> None: ...

    def on_ready(self, location: Location, *, spot: bool, seconds_to_ready: float, now: float) -> None: ...

    def dump(self) -> dict[str, Any]: ...

    def load(self, state: dict[str, Any]) -> None: ...
