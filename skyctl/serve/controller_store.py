"""The controller's state backend: the few reads and writes one tick makes, behind a small protocol.

Production uses `SqlStore` (the service's rows in the database, which is the bus between the CLI, the
controller and the load balancer). The simulator (`skyctl serve simulate`) runs the same controller with
`skyctl.serve.sim_store.MemoryStore`, which keeps the rows in memory: a simulated day is ~3,000 ticks per
run and a SQLite commit per tick would dominate it. Both keep the same contract: what `save_rows` and
`update_service` were given is what the next `load` returns, and rows handed out are the caller's copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from skyctl.state import read_session, write_session
from skyctl.state import serve_repo as repo
from skyctl.state.serve_tables import ReplicaRecord, ServiceRecord, ServiceVersion

RowFields = Callable[[ServiceRecord], dict[str, Any]]  # the new row's columns, given the service row


@dataclass
class Snapshot:
    """What a tick reads first: the service row, its open replica rows and what the autoscaler needs."""

    service: ServiceRecord
    rows: list[ReplicaRecord]  # not yet ended, by replica id
    failures: list[ReplicaRecord]  # recent ended failures of the current version (fail-fast)
    ever_ready: bool  # some replica of the current version was READY once
    qps: float  # requests per second over the window
    clouds: set[str] | None  # every cloud any replica ever used (only when asked for)


class ControllerStore(Protocol):
    def load(self, service_id: int, now: float, qps_window: float, *,
             with_clouds: bool) -> Snapshot | None:
        """The tick's snapshot; None when the service is gone (torn down or never existed)."""

    def version(self, service_id: int, number: int) -> ServiceVersion | None: ...

    def save_rows(self, rows: Iterable[ReplicaRecord]) -> None:
        """Commit these replica rows (inserted or changed) before the side effect they announce."""

    def new_replica(self, service_id: int, fields: RowFields) -> ReplicaRecord:
        """Allocate the next replica id and insert its row; `fields(service)` gives the columns."""

    def update_service(self, service_id: int, **fields: Any) -> None:
        """Set only these columns of the service row."""

    def prune_request_counts(self, service_id: int, before: float) -> None: ...


class SqlStore:
    """The database through `serve_repo`: every call is one short session."""

    def load(self, service_id: int, now: float, qps_window: float, *,
             with_clouds: bool) -> Snapshot | None:
        with read_session() as s:
            svc = repo.service_by_id(s, service_id)
            if svc is None or svc.down_at is not None:
                return None
            rows = repo.open_replicas(s, service_id)
            failures = repo.ended_failures(s, service_id, svc.current_version)
            ever_ready = repo.ever_ready(s, service_id, svc.current_version)
            qps = repo.request_count(s, service_id, now - qps_window, now) / qps_window if qps_window else 0.0
            clouds = {r.cloud for r in repo.replicas(s, service_id) if r.cloud} if with_clouds else None
        return Snapshot(svc, rows, failures, ever_ready, qps, clouds)

    def version(self, service_id: int, number: int) -> ServiceVersion | None:
        with read_session() as s:
            return repo.version(s, service_id, number)

    def save_rows(self, rows: Iterable[ReplicaRecord]) -> None:
        with write_session() as s:
            for row in rows:
                s.merge(row)

    def new_replica(self, service_id: int, fields: RowFields) -> ReplicaRecord:
        with write_session() as s:
            svc = repo.service_by_id(s, service_id)
            if svc is None:
                raise LookupError(f"service {service_id} is gone")
            return repo.new_replica(s, svc, **fields(svc))

    def update_service(self, service_id: int, **fields: Any) -> None:
        with write_session() as s:
            repo.update_service(s, service_id, **fields)

    def prune_request_counts(self, service_id: int, before: float) -> None:
        with write_session() as s:
            repo.prune_request_counts(s, service_id, before)
