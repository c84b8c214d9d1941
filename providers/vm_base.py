"""What the GCP and Azure providers share: catalog-driven placement and prices, the launch protocol over
the ledger (write-ahead record, idempotent create, refused launches leave nothing), the state rule, the
terminate protocol (our stop is recorded before the delete) and retries. The boot script is
`providers.aws.startup.startup_script` (cloud-agnostic).

A subclass supplies only the cloud calls (`_create`, `_seen`, `_delete`), the mapping of SDK exceptions
(`_translate`), its places (`_places`) and the reason a spot VM vanished (`_vanished_reason`).
"""

from __future__ import annotations

import abc
import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from providers.base import Instance, LaunchSpec, Location, Provider, ProviderError, ProviderUserError, State
from providers.retry import DEFAULT_POLICY, RetryPolicy, call_with_retry
from providers.vm_ledger import Ledger, VMRecord
from skyctl.catalog import Offering, gpu_family, load_catalog
from skyctl.home import skyctl_home

T = TypeVar("T")
DEFAULT_PORT = 8080  # where `run` serves on a cloud VM when the spec names no port
OURS = "terminated"  # `stop_reason` written before we delete


@dataclass
class Seen:
    """A VM as the cloud shows it now. `state` is PENDING, RUNNING, STOPPED (exists, not running) or FAILED
    (provisioning failed); `ours_stopped` is our stop marker found on the VM itself (another host's
    terminate); `reason` is the cloud's own word for a VM that is not running."""

    id: str
    service: str
    replica_id: str
    state: State
    spot: bool
    region: str
    zone: str
    instance_type: str | None
    tags: dict[str, str] = field(default_factory=dict)
    host: str | None = None
    reason: str | None = None
    ours_stopped: bool = False


class CloudVMProvider(Provider):
    """Template for a VM cloud; see the module docstring for the hooks."""

    name: str

    def __init__(self, root: Path | None = None, *, clock: Callable[[], float] = time.time,
                 regions: Iterable[str] | None = None, zones: Iterable[str] | None = None,
                 retry: RetryPolicy = DEFAULT_POLICY, sleep: Callable[[float], None] = time.sleep) -> None:
        self.ledger = Ledger(Path(root) if root else skyctl_home() / "clouds" / self.name)
        self.clock, self.retry, self.sleep = clock, retry, sleep
        self.regions = set(regions) if regions else None  # limit placement (config, tests)
        self.zones = set(zones) if zones else None

    # -- hooks ----------------------------------------------------------------------------------------------
    def _places(self) -> list[tuple[str, str, list[Offering]]]:
        """(region, zone, offerings there) for every zone this provider may use."""
        return [(r, z, offers) for r, z, offers in self._all_places()
                if self.zones is None or z in self.zones]

    @abc.abstractmethod
    def _all_places(self) -> list[tuple[str, str, list[Offering]]]:
        """(region, zone, offerings there) for every zone of the catalog's regions."""

    @abc.abstractmethod
    def _create(self, rec: VMRecord, spec: LaunchSpec) -> None:
        """Create the VM named `rec.id` and wait until the cloud accepted or refused it (idempotent)."""

    @abc.abstractmethod
    def _seen(self, service: str | None) -> dict[str, Seen]:
        """Our VMs (by service label/tag) as the cloud lists them now."""

    @abc.abstractmethod
    def _delete(self, rec: VMRecord) -> None:
        """Mark the VM as stopped by us, then delete it; a VM that is already gone is fine."""

    @abc.abstractmethod
    def _translate(self, exc: Exception) -> ProviderError | None:
        """The taxonomy error for an SDK exception, or None to let it propagate."""

    def _vanished_reason(self, rec: VMRecord) -> str:
        return "spot VM gone without a delete from skyctl"

    # -- the Provider interface -----------------------------------------------------------------------------
    def locations(self, *, spot: bool) -> list[Location]:
        return [Location(self.name, region, zone) for region, zone, offers in self._places()
                if any(o.price(spot) is not None for o in offers)]

    def price(self, instance_type: str | None, *, spot: bool, region: str | None = None,
              zone: str | None = None) -> float | None:
        prices = [o.price(spot) for r, z, offers in self._places() for o in offers
                  if (region is None or r == region) and (zone is None or z == zone)
                  and (instance_type is None or o.instance_type == instance_type)]
        return min((p for p in prices if p is not None), default=None)

    def launch(self, spec: LaunchSpec) -> Instance:
        region, zone, offer = self._choose(spec)
        with self.ledger.lock(spec.service):
            rec = self.ledger.by_key(spec.service, spec.idempotency_key)
            if rec and (rec.created or rec.stop_reason):
                return self._one(rec)
            rec = VMRecord(
                id=self.vm_name(spec), service=spec.service, replica_id=spec.replica_id,
                idempotency_key=spec.idempotency_key, spot=spec.spot, region=region, zone=zone,
                instance_type=offer.instance_type, price_per_hour=offer.price(spec.spot),
                launched_at=rec.launched_at if rec else self.clock(),
                port=spec.ports[0] if spec.ports else DEFAULT_PORT, tags=spec.all_tags())
            self.ledger.write(rec)  # write-ahead: a crash from here on leaves a record `list` finds
            try:
                self._call(lambda: self._create(rec, spec))
            except ProviderError as err:
                if not err.retryable:  # refused: the cloud holds nothing for this launch
                    self.ledger.remove(rec)
                raise
            rec.created = True
            self.ledger.write(rec)
            return self._one(rec)

    def list(self, service: str | None = None) -> list[Instance]:
        seen = self._call(lambda: self._seen(service))
        out = [self._resolve(rec, seen.pop(rec.id, None), service) for rec in self.ledger.records(service)]
        for s in seen.values():  # ours by its labels but unknown here: launched elsewhere, adopt it
            rec = VMRecord(id=s.id, service=s.service, replica_id=s.replica_id, idempotency_key="",
                           spot=s.spot, region=s.region, zone=s.zone, instance_type=s.instance_type or "",
                           price_per_hour=self.price(s.instance_type, spot=s.spot, zone=s.zone),
                           launched_at=self.clock(), port=DEFAULT_PORT, tags=s.tags, created=True)
            self.ledger.write(rec)
            out.append(self._resolve(rec, s, service))
        return out

    def terminate(self, ids: Iterable[str]) -> None:
        want = set(ids)
        if not want:
            return
        self.list()  # settles preemptions first and adopts ours launched elsewhere
        for rec in self.ledger.records():
            if rec.id not in want:
                continue
            if rec.stop_reason is None:
                rec.stop_reason = OURS
                self.ledger.write(rec)  # write-ahead: the delete is ours even if we crash mid-call
            self._call(lambda rec=rec: self._delete(rec))
            if State(rec.state).live:
                rec.state, rec.ended_at = State.TERMINATED.value, self.clock()
                self.ledger.write(rec)

    # -- shared internals ----------------------------------------------------------------------------------
    def vm_name(self, spec: LaunchSpec) -> str:
        """A deterministic VM name from the idempotency key: launching twice finds the first VM."""
        digest = hashlib.sha256(spec.idempotency_key.encode()).hexdigest()[:10]
        stem = "".join(c if c.isalnum() else "-" for c in f"{spec.service}-{spec.replica_id}".lower())
        return f"sky-{stem[:40].strip('-')}-{digest}"

    def _choose(self, spec: LaunchSpec) -> tuple[str, str, Offering]:
        """Region, zone and offering (instance type, price) of a launch; bad input names its field."""
        places = self._places()
        zones, regions = sorted({z for _, z, _ in places}), sorted({r for r, _, _ in places})
        if spec.zone is not None and spec.zone not in zones:
            raise ProviderUserError(f"unknown {self.name} zone", provider=self.name, field="zone",
                                    value=spec.zone, fix=_choices("use one of", zones))
        if spec.region is not None and spec.region not in regions:
            raise ProviderUserError(f"unknown {self.name} region", provider=self.name, field="region",
                                    value=spec.region, fix=_choices("use one of", regions))
        fits = [(r, z, o) for r, z, offers in places for o in offers
                if (spec.zone is None or z == spec.zone) and (spec.region is None or r == spec.region)
                and o.price(spec.spot) is not None and self._matches(o, spec)]
        if not fits:
            what = spec.instance_type or ", ".join(f"{n}x{g}" for g, n in spec.accelerators.items()) or "any"
            where = spec.zone or spec.region or self.name
            raise ProviderUserError(f"no {'spot' if spec.spot else 'on-demand'} offering in {where}",
                                    provider=self.name, field="instance_type" if spec.instance_type
                                    else "accelerators", value=what, fix="see `skyctl catalog ls`")
        return min(fits, key=lambda f: (f[2].price(spec.spot), f[1]))

    @staticmethod
    def _matches(o: Offering, spec: LaunchSpec) -> bool:
        if spec.instance_type:
            return o.instance_type == spec.instance_type
        if not spec.accelerators:
            return True  # no machine named: the cheapest GPU offering there
        (gpu, count), *more = spec.accelerators.items()
        return not more and o.gpu in gpu_family(gpu) and o.gpu_count == count

    def _offerings(self) -> list[Offering]:
        return [o for o in load_catalog().offerings
                if o.cloud == self.name and (self.regions is None or o.region in self.regions)]

    def _call(self, fn: Callable[[], T]) -> T:
        def guarded() -> T:
            try:
                return fn()
            except ProviderError:
                raise
            except Exception as exc:
                err = self._translate(exc)
                if err is None:
                    raise
                raise err from exc
        return call_with_retry(guarded, policy=self.retry, sleep=self.sleep)

    def _one(self, rec: VMRecord) -> Instance:
        return next(i for i in self.list(rec.service) if i.id == rec.id)

    def _resolve(self, rec: VMRecord, seen: Seen | None, service: str | None) -> Instance:
        """The state rule: live cloud states pass through; a VM stopped or gone is TERMINATED if we asked,
        PREEMPTED if spot, else STOPPED (exists) or FAILED (gone). Terminal states are written once."""
        state, reason = State(rec.state), rec.reason
        if state.live:
            if seen is None and not rec.created:
                state, reason = ((State.PENDING, None) if self.ledger.busy(rec.service)
                                 else (State.FAILED, "launch interrupted before the cloud accepted it"))
            elif seen is not None and seen.state in (State.PENDING, State.RUNNING, State.FAILED):
                state, reason = seen.state, seen.reason
            elif rec.stop_reason or (seen is not None and seen.ours_stopped):
                state, reason = State.TERMINATED, None
            elif rec.spot:
                state, reason = State.PREEMPTED, (seen.reason if seen else None) or self._vanished_reason(rec)
            elif seen is not None:
                state, reason = State.STOPPED, seen.reason
            else:
                state, reason = State.FAILED, "VM deleted outside skyctl"
            if not state.live and state.value != rec.state:
                rec.state, rec.reason, rec.ended_at = state.value, reason, self.clock()
                self.ledger.write(rec)
        host = seen.host if seen else None
        return Instance(
            id=rec.id, service=rec.service, replica_id=rec.replica_id, state=state, spot=rec.spot,
            cloud=self.name, region=rec.region, zone=rec.zone, instance_type=rec.instance_type,
            endpoint=f"http://{host}:{rec.port}" if host else None, price_per_hour=rec.price_per_hour,
            launched_at=rec.launched_at, ended_at=rec.ended_at, reason=reason,
            idempotency_key=rec.idempotency_key or None, tags=dict(rec.tags))


def _choices(prefix: str, names: list[str]) -> str:
    shown = ", ".join(names[:8]) + (f" (and {len(names) - 8} more)" if len(names) > 8 else "")
    return f"{prefix} {shown}"
