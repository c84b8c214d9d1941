"""The replica state machine (brief §2.5), as functions over a replica row.

Each function changes the row in memory and returns what the controller must do or tell others about
(terminate the instance, tell the placer of a preemption or of a READY replica). The controller writes the
row before acting on an `Terminate` (write-ahead), then reports the outcome with `terminated`.

    PENDING -> PROVISIONING -> STARTING -> READY <-> NOT_READY
    exits: SHUTTING_DOWN -> TERMINATED, PREEMPTED, FAILED (the app exited), FAILED_PROVISION,
           FAILED_INITIAL_DELAY, FAILED_PROBING, FAILED_CLEANUP (terminate failed; retried until it works)

A spot replica whose instance carries the cloud's preemption notice (`Instance.warning`) becomes
PREEMPTED at once, like a scale-down victim that is not ours to keep: PREEMPTED is never routed, so the
load balancer drops it; it is no longer alive, so the autoscaler replaces it; the placer hears of the
preemption now. Its row stays open (`ended_at` None) while it drains, then its instance is terminated,
unless the cloud takes it first.
"""

from __future__ import annotations

from dataclasses import dataclass

from providers.base import Instance, Location, State
from skyctl.serve.config import ControllerConfig
from skyctl.serve.prober import ProbeResult
from skyctl.serve.status import ALIVE, ReplicaStatus
from skyctl.serve.types import Candidate
from skyctl.spec import ReadinessProbe
from skyctl.state.serve_tables import ReplicaRecord

S = ReplicaStatus
PROBED = (S.STARTING, S.READY, S.NOT_READY)


@dataclass(frozen=True)
class Terminate:
    """Terminate the row's instance (its status is already written)."""


@dataclass(frozen=True)
class Preempted:
    location: Location
    notice: bool = False  # announced by the cloud; the instance still runs (the replacement can start now)


@dataclass(frozen=True)
class Ready:
    location: Location
    spot: bool
    seconds_to_ready: float


Event = Terminate | Preempted | Ready


_BY_VALUE = {s.value: s for s in ReplicaStatus}  # a StrEnum member hashes and compares as its value


def status(row: ReplicaRecord) -> ReplicaStatus:
    """The row's status as the enum: a dict lookup, as `ReplicaStatus(value)` is slow for a tick's hot path
    (an unknown value still raises the enum's ValueError)."""
    found = _BY_VALUE.get(row.status)
    return found if found is not None else ReplicaStatus(row.status)


def location(row: ReplicaRecord) -> Location | None:
    return Location(row.cloud, row.region or "", row.zone) if row.cloud else None


def start_launch(row: ReplicaRecord, candidate: Candidate, now: float) -> None:
    """Before `provider.launch`: the row says where, so reconciliation knows which provider to ask."""
    loc = candidate.location
    row.status = S.PROVISIONING
    row.cloud, row.region, row.zone = loc.cloud, loc.region, loc.zone
    row.instance_type = candidate.instance_type
    row.accelerator = candidate.resources.accelerator
    row.accelerator_count = candidate.resources.accelerator_count
    row.price_per_hour = candidate.price(row.spot)
    row.ondemand_price_per_hour = candidate.ondemand_price
    row.launch_started_at = row.launch_started_at or now
    row.launch_attempts += 1


def record_instance(row: ReplicaRecord, inst: Instance, now: float) -> None:
    """The provider accepted the launch (or reconciliation found the instance): billing starts now."""
    row.instance_id = inst.id
    row.endpoint = inst.endpoint or row.endpoint
    row.cloud, row.region, row.zone = inst.cloud, inst.region, inst.zone
    row.instance_type = inst.instance_type or row.instance_type
    if row.price_per_hour is None:
        row.price_per_hour = inst.price_per_hour
    row.launched_at = row.launched_at or now
    row.failure = None


def fail_provision(row: ReplicaRecord, message: str, now: float) -> None:
    row.status = S.FAILED_PROVISION
    row.failure = message
    row.ended_at = now


def mark_scale_down(row: ReplicaRecord, now: float, drain_seconds: float, reason: str) -> None:
    """Write-ahead of the terminate: only a replica that may be serving traffic is drained."""
    serving = status(row) in (S.READY, S.NOT_READY)
    row.status = S.SHUTTING_DOWN
    row.scale_down_at = now
    row.drain_until = now + (drain_seconds if serving else 0.0)
    row.failure = reason


def step(row: ReplicaRecord, inst: Instance | None, result: ProbeResult | None, now: float,
         probe: ReadinessProbe, config: ControllerConfig) -> list[Event]:
    """Advance a launched row from what the provider says of its instance and the latest probe result.

    `inst` is None when the provider no longer lists the row's instance. Rows without an instance id
    (PENDING, or PROVISIONING before the launch returned) are the controller's to launch, not this.
    """
    current = status(row)
    if row.instance_id is None or row.ended_at is not None:
        return []
    if current in ALIVE:
        return _step_alive(row, current, inst, result, now, probe, config)
    if inst is not None and inst.state.live:
        if current in (S.SHUTTING_DOWN, S.PREEMPTED) and now < (row.drain_until or 0.0):
            return []
        return [Terminate()]
    _end(row, current, inst, now)
    return []


def terminated(row: ReplicaRecord, now: float, error: str | None) -> None:
    """The outcome of a terminate: the row ends, or becomes FAILED_CLEANUP (retried, never forgotten)."""
    if error is not None:
        if status(row) is not S.FAILED_CLEANUP:
            row.failure = "; ".join(p for p in (row.failure, f"terminate failed: {error}") if p)
        row.status = S.FAILED_CLEANUP
        return
    _end(row, status(row), None, now)


def _end(row: ReplicaRecord, current: ReplicaStatus, inst: Instance | None, now: float) -> None:
    if current in (S.SHUTTING_DOWN, S.FAILED_CLEANUP):
        if inst is not None and inst.state is State.PREEMPTED:
            row.status, row.preempted = S.PREEMPTED, True
        else:
            row.status = S.TERMINATED
    row.ended_at = now


def _step_alive(row: ReplicaRecord, current: ReplicaStatus, inst: Instance | None,
                result: ProbeResult | None, now: float, probe: ReadinessProbe,
                config: ControllerConfig) -> list[Event]:
    loc = location(row)
    if inst is None or inst.state is State.PREEMPTED or (inst.state is State.TERMINATED and row.spot):
        # Gone without our asking: for spot that is a preemption, whatever the cloud calls it.
        if not row.spot:
            row.status, row.ended_at = S.TERMINATED, now
            row.failure = "the instance disappeared from the provider without a terminate request"
            return []
        row.status, row.preempted, row.ended_at = S.PREEMPTED, True, now
        row.failure = (inst.reason if inst else None) or "spot instance reclaimed by the cloud"
        return [Preempted(loc)] if loc else []
    if inst.state is State.TERMINATED:
        row.status, row.ended_at = S.TERMINATED, now
        row.failure = "the instance was terminated outside the controller"
        return []
    if inst.state is State.FAILED:
        row.status, row.user_app_failed = S.FAILED, True
        row.failure = inst.reason or "the replica's program exited"
        return [Terminate()]
    if inst.warning and row.spot:
        return _noticed(row, current, inst.warning, now, config)
    if inst.endpoint and row.endpoint != inst.endpoint:
        row.endpoint = inst.endpoint
    if current is S.PROVISIONING and inst.state is State.RUNNING:
        current = row.status = S.STARTING
    events: list[Event] = []
    if result is not None and current in PROBED:
        events += _probed(row, current, result, now, config)
        current = status(row)
    if (current in (S.PROVISIONING, S.STARTING) and row.ready_at is None and row.launched_at is not None
            and now - row.launched_at > probe.initial_delay_seconds):
        row.status = S.FAILED_INITIAL_DELAY
        row.failure = (f"not READY within initial_delay_seconds={probe.initial_delay_seconds:g}"
                       + (f" (last probe: {result.detail})" if result and result.detail else ""))
        events.append(Terminate())
    return events


def _noticed(row: ReplicaRecord, current: ReplicaStatus, warning: str, now: float,
             config: ControllerConfig) -> list[Event]:
    """The cloud will take this spot instance back soon: stop routing to it and replace it now rather
    than when it is gone. A replica that may be serving drains its in-flight requests first (the cloud
    may end it sooner: the row then just ends); one that never served is terminated at once."""
    serving = current in (S.READY, S.NOT_READY)
    row.status, row.preempted = S.PREEMPTED, True
    row.scale_down_at = now
    row.drain_until = now + (config.drain_seconds if serving else 0.0)
    row.failure = f"preemption notice: {warning}"
    loc = location(row)
    events: list[Event] = [Preempted(loc, notice=True)] if loc else []
    return events if row.drain_until > now else [*events, Terminate()]


def _probed(row: ReplicaRecord, current: ReplicaStatus, result: ProbeResult, now: float,
            config: ControllerConfig) -> list[Event]:
    if result.ok:
        first = row.ready_at is None
        row.status, row.last_ready_at, row.not_ready_since = S.READY, now, None
        if current is not S.READY:
            row.failure = None
        if first:
            row.ready_at = now
            loc = location(row)
            if loc is not None:
                return [Ready(loc, row.spot, now - (row.launched_at or now))]
        return []
    if current is S.READY:
        row.status, row.not_ready_since = S.NOT_READY, now
        row.failure = f"readiness probe failed: {result.detail}"
    elif current is S.NOT_READY:
        row.failure = f"readiness probe failed: {result.detail}"
        if now - (row.not_ready_since or now) >= config.probe_failure_timeout_seconds:
            row.status = S.FAILED_PROBING
            row.failure = (f"readiness probe failing for {now - (row.not_ready_since or now):.0f}s "
                           f"(last: {result.detail})")
            return [Terminate()]
    return []
