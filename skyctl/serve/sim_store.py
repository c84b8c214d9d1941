"""`MemoryStore`: the controller's rows in memory, for `skyctl serve simulate`.

Same contract as `SqlStore` (controller_store.py): rows are copied in and out, so the controller sees only
what it saved, and a new `Controller` over the same store starts from exactly what the old one persisted
(the restart test relies on it). One service per store; nothing is ever deleted.

Rows here are `PlainRow`s, not the SQLModel table classes: the same fields, defaults and the two methods
the controller calls (`model_dump`, `model_copy`), without SQLAlchemy's attribute instrumentation, which
cost more than the whole rest of a simulated tick.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from skyctl.serve.controller_store import RowFields, Snapshot
from skyctl.serve.status import ReplicaStatus
from skyctl.spec import ServiceSpec
from skyctl.state.serve_tables import ReplicaRecord, ServiceRecord, ServiceVersion

_FAILED = frozenset(s.value for s in ReplicaStatus if s.failed)
FAILURES_KEPT = 20  # as serve_repo.ended_failures
QPS = 0.0  # no load balancer counts requests in a simulation


class PlainRow:
    """A table row as a plain object: the table model's fields (`plain_twin`), no ORM, no validation.

    `model_dump()` is cached until the next attribute change, as the controller dumps every open row at
    every flush to find the changed ones; the dict it returns is shared: read it, do not change it."""

    __slots__ = ("__dict__", "_dump")
    _fields: ClassVar[frozenset[str]] = frozenset()
    _defaults: ClassVar[dict[str, Any]] = {}
    _factories: ClassVar[dict[str, Callable[[], Any]]] = {}

    def __init__(self, **values: Any) -> None:
        unknown = values.keys() - self._fields
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {sorted(unknown)}")
        missing = self._fields - self._defaults.keys() - self._factories.keys() - values.keys()
        if missing:
            raise TypeError(f"{type(self).__name__} needs field(s) {sorted(missing)}")
        attrs = self.__dict__
        attrs.update(self._defaults)
        for name, factory in self._factories.items():
            attrs[name] = factory()
        attrs.update(values)
        self._dump: dict[str, Any] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._fields:
            self.__dict__[name] = value
            value, name = None, "_dump"
        object.__setattr__(self, name, value)

    def model_dump(self) -> dict[str, Any]:
        if self._dump is None:
            self._dump = dict(self.__dict__)
        return self._dump

    def model_copy(self) -> Any:
        """A shallow copy, as pydantic's `model_copy()`."""
        out = object.__new__(type(self))
        out.__dict__.update(self.__dict__)
        object.__setattr__(out, "_dump", self._dump)
        return out


def plain_twin(model: type) -> type[PlainRow]:
    """A `PlainRow` class with `model`'s fields and defaults (read from the model, so they cannot drift)."""
    defaults, factories = {}, {}
    for name, info in model.model_fields.items():  # type: ignore[attr-defined]
        if info.default_factory is not None:
            factories[name] = info.default_factory
        elif not info.is_required():
            defaults[name] = info.default
    return type(f"Plain{model.__name__}", (PlainRow,), {
        "_fields": frozenset(model.model_fields), "_defaults": defaults,  # type: ignore[attr-defined]
        "_factories": factories, "__doc__": f"{model.__name__} without the ORM (sim_store.plain_twin)."})


PlainReplica = plain_twin(ReplicaRecord)
PlainService = plain_twin(ServiceRecord)


class MemoryStore:
    def __init__(self, name: str, spec: ServiceSpec, *, now: float, service_id: int = 1) -> None:
        """What `serve up` writes: the service row and version 1 of `spec`."""
        self.service: ServiceRecord = PlainService(  # type: ignore[assignment]
            id=service_id, name=name, status="CONTROLLER_INIT", created_at=now)
        self._versions = {1: ServiceVersion(service_id=service_id, version=1, spec=spec.to_dict(),
                                            spec_hash=spec.version, replica_digest=spec.replica_digest,
                                            created_at=now)}
        self._rows: dict[int, ReplicaRecord] = {}  # every row ever, by replica id
        self._open: set[int] = set()
        self._ever_ready: set[int] = set()  # versions with a replica READY once
        self._failed: dict[int, list[int]] = {}  # version -> ids of ended failed rows, ascending

    # -- the ControllerStore protocol
    def load(self, service_id: int, now: float, qps_window: float, *, with_clouds: bool) -> Snapshot | None:
        svc = self.service
        if service_id != svc.id or svc.down_at is not None:
            return None
        version = svc.current_version
        rows = [self._rows[i].model_copy() for i in sorted(self._open)]
        failures = [self._rows[i].model_copy() for i in self.failed_ids(version)]
        clouds = {r.cloud for r in self._rows.values() if r.cloud} if with_clouds else None
        return Snapshot(svc, rows, failures, version in self._ever_ready, QPS, clouds)

    def version(self, service_id: int, number: int) -> ServiceVersion | None:
        return self._versions.get(number) if service_id == self.service.id else None

    def save_rows(self, rows: Iterable[ReplicaRecord]) -> None:
        for row in rows:
            self._put(row.model_copy())

    def new_replica(self, service_id: int, fields: RowFields) -> ReplicaRecord:
        svc = self.service
        row: ReplicaRecord = PlainReplica(service_id=svc.id, replica_id=svc.next_replica_id,  # type: ignore
                                          **fields(svc))
        svc.next_replica_id += 1
        self._put(row.model_copy())
        return row

    def update_service(self, service_id: int, **fields: Any) -> None:
        for name, value in fields.items():
            setattr(self.service, name, value)

    def prune_request_counts(self, service_id: int, before: float) -> None:
        """No load balancer in a simulation: there are no request counts to prune."""

    # -- for the simulator's measurements
    def rows(self) -> list[ReplicaRecord]:
        """Every row ever written, by replica id (the stored objects: read, do not change)."""
        return [self._rows[i] for i in sorted(self._rows)]

    def open_rows(self) -> list[ReplicaRecord]:
        return [self._rows[i] for i in sorted(self._open)]

    def row(self, replica_id: int) -> ReplicaRecord:
        """The stored row (read, do not change)."""
        return self._rows[replica_id]

    def failed_ids(self, version: int) -> list[int]:
        """Ids of the newest FAILURES_KEPT ended failures of `version`, newest first (as serve_repo)."""
        return self._failed.get(version, [])[:-FAILURES_KEPT - 1:-1]

    def _put(self, row: ReplicaRecord) -> None:
        self._rows[row.replica_id] = row
        rid, failed = row.replica_id, self._failed.setdefault(row.version, [])
        at = bisect.bisect_left(failed, rid)
        listed = at < len(failed) and failed[at] == rid
        if row.ended_at is None:
            self._open.add(rid)
        else:
            self._open.discard(rid)
        if row.ended_at is not None and row.status in _FAILED:
            if not listed:
                failed.insert(at, rid)
        elif listed:
            del failed[at]
        if row.ready_at is not None:
            self._ever_ready.add(row.version)
