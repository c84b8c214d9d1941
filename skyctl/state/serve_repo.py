"""Queries over the `skyctl serve` tables, so the controller, the load balancer, the CLI and the cost
report never build SQL themselves.

Every function takes an open session (`read_session`/`write_session`); rows loaded through a session are
tracked, so callers change them by assigning attributes and the session writes them at commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from skyctl.state.serve_tables import ReplicaRecord, RequestCount, ServiceRecord, ServiceVersion

# Statuses of replicas the load balancer may route to.
ROUTABLE = ("READY",)


def live_service(s: Session, name: str) -> ServiceRecord | None:
    """The service of this name that is not torn down, if any."""
    return s.exec(select(ServiceRecord).where(ServiceRecord.name == name,
                                              col(ServiceRecord.down_at).is_(None))).first()


def service_by_id(s: Session, service_id: int) -> ServiceRecord | None:
    return s.get(ServiceRecord, service_id)


def live_services(s: Session) -> list[ServiceRecord]:
    return list(s.exec(select(ServiceRecord).where(col(ServiceRecord.down_at).is_(None))
                       .order_by(ServiceRecord.name)))


def all_services(s: Session) -> list[ServiceRecord]:
    """Every service ever created, torn-down ones included (the cost report's view)."""
    return list(s.exec(select(ServiceRecord).order_by(ServiceRecord.name, ServiceRecord.id)))


def add_version(s: Session, row: ServiceVersion) -> ServiceVersion:
    s.add(row)
    s.flush()
    return row


def version(s: Session, service_id: int, number: int) -> ServiceVersion | None:
    return s.get(ServiceVersion, (service_id, number))


def versions(s: Session, service_id: int) -> list[ServiceVersion]:
    return list(s.exec(select(ServiceVersion).where(ServiceVersion.service_id == service_id)
                       .order_by(ServiceVersion.version)))


def new_replica(s: Session, service: ServiceRecord, **fields: object) -> ReplicaRecord:
    """Allocate the next replica id of `service` and insert its row (the caller holds the write lock)."""
    rid = service.next_replica_id
    service.next_replica_id = rid + 1
    row = ReplicaRecord(service_id=service.id, replica_id=rid, **fields)  # type: ignore[arg-type]
    s.add(service)
    s.add(row)
    s.flush()
    return row


def replica(s: Session, service_id: int, replica_id: int) -> ReplicaRecord | None:
    return s.get(ReplicaRecord, (service_id, replica_id))


def replicas(s: Session, service_id: int, *, statuses: Iterable[str] | None = None) -> list[ReplicaRecord]:
    """Replicas of a service by id, all statuses unless `statuses` narrows them."""
    query = select(ReplicaRecord).where(ReplicaRecord.service_id == service_id)
    if statuses is not None:
        query = query.where(col(ReplicaRecord.status).in_(list(statuses)))
    return list(s.exec(query.order_by(ReplicaRecord.replica_id)))


def all_replicas(s: Session) -> list[ReplicaRecord]:
    return list(s.exec(select(ReplicaRecord).order_by(ReplicaRecord.service_id, ReplicaRecord.replica_id)))


def routable_replicas(s: Session, service_id: int) -> list[ReplicaRecord]:
    """READY replicas of the service's active versions with an endpoint: the load balancer's set."""
    service = s.get(ServiceRecord, service_id)
    if service is None:
        return []
    rows = s.exec(select(ReplicaRecord).where(
        ReplicaRecord.service_id == service_id, col(ReplicaRecord.status).in_(ROUTABLE),
        col(ReplicaRecord.version).in_(list(service.active_versions)),
        col(ReplicaRecord.endpoint).is_not(None)).order_by(ReplicaRecord.replica_id))
    return list(rows)


def add_request_counts(s: Session, service_id: int, counts: Mapping[int, int]) -> None:
    """Add per-second request counts (`{unix_second: n}`); concurrent writers add up, never overwrite."""
    if not counts:
        return
    values = [{"service_id": service_id, "second": sec, "count": n} for sec, n in counts.items()]
    dialect = s.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = maker(RequestCount).values(values)
    stmt = stmt.on_conflict_do_update(index_elements=["service_id", "second"],
                                      set_={"count": RequestCount.count + stmt.excluded.count})
    s.exec(stmt)  # type: ignore[call-overload]


def request_count(s: Session, service_id: int, since: float, until: float | None = None) -> int:
    """Requests received in [since, until) (whole seconds)."""
    query = select(func.coalesce(func.sum(RequestCount.count), 0)).where(
        RequestCount.service_id == service_id, RequestCount.second >= int(since))
    if until is not None:
        query = query.where(RequestCount.second < int(until))
    return int(s.exec(query).one())


def prune_request_counts(s: Session, service_id: int, before: float) -> None:
    """Drop counts older than the autoscaler's window."""
    for row in s.exec(select(RequestCount).where(RequestCount.service_id == service_id,
                                                 RequestCount.second < int(before))):
        s.delete(row)


# -- controller queries (appended by the controller; the functions above are the shared contract) ---------
def update_service(s: Session, service_id: int, **fields: object) -> ServiceRecord | None:
    """Set only these columns of the service row, so concurrent writers of other columns (the CLI's
    `down_requested_at`, `current_version`) are never overwritten by a stale copy."""
    row = s.get(ServiceRecord, service_id)
    if row is None:
        return None
    for name, value in fields.items():
        setattr(row, name, value)
    s.add(row)
    return row


def open_replicas(s: Session, service_id: int) -> list[ReplicaRecord]:
    """Replicas not yet ended: alive ones and ended-in-status ones whose instance may still exist."""
    return list(s.exec(select(ReplicaRecord).where(ReplicaRecord.service_id == service_id,
                                                   col(ReplicaRecord.ended_at).is_(None))
                       .order_by(ReplicaRecord.replica_id)))


def ended_failures(s: Session, service_id: int, version: int, limit: int = 20) -> list[ReplicaRecord]:
    """The most recent ended replicas of `version` in a failed status (fail-fast and `FAILED` status)."""
    failed = ["FAILED", "FAILED_PROVISION", "FAILED_INITIAL_DELAY", "FAILED_PROBING", "FAILED_CLEANUP"]
    return list(s.exec(select(ReplicaRecord).where(
        ReplicaRecord.service_id == service_id, ReplicaRecord.version == version,
        col(ReplicaRecord.ended_at).is_not(None), col(ReplicaRecord.status).in_(failed))
        .order_by(col(ReplicaRecord.replica_id).desc()).limit(limit)))


def ever_ready(s: Session, service_id: int, version: int) -> bool:
    """Whether any replica of this version was ever READY (SkyServe's fail-fast looks at this)."""
    return s.exec(select(ReplicaRecord.replica_id).where(
        ReplicaRecord.service_id == service_id, ReplicaRecord.version == version,
        col(ReplicaRecord.ready_at).is_not(None)).limit(1)).first() is not None
