"""Read-only queries of the cost report: everything it needs, read in ONE transaction.

Controllers and the store keep writing while a cron job reports; reading services, replicas and store
records in separate transactions could pair a replica with a service row from a different moment. All
queries here run inside one `read_session`, which on SQLite (WAL) is one snapshot from its first read.

Store requests and transfers can be many rows (one per GET), so they are summed per UTC day in SQL;
replica intervals and stored copies are returned row by row (the report splits them across days).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Integer, cast, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from skyctl.errors import Failure
from skyctl.state.db import db_url, read_session
from skyctl.state.serve_tables import ReplicaRecord, ServiceRecord
from skyctl.state.store_tables import Replica, RequestRecord, Transfer, VBucket

DAY_S = 86400


@dataclass(frozen=True)
class StoredCopy:
    """One physical copy's billable storage interval; `end` None while the copy is still stored."""

    bucket: str
    region: str
    size: int
    start: float
    end: float | None


@dataclass(frozen=True)
class TransferSum:
    """Cross-region bytes of one bucket from `src` to `dst` on one UTC day (days since the epoch)."""

    bucket: str
    src: str
    dst: str
    day: int
    count: int
    bytes: int


@dataclass(frozen=True)
class RequestSum:
    """Requests of one kind charged in one region of a bucket on one UTC day."""

    bucket: str
    region: str
    op: str
    day: int
    count: int
    bytes: int


@dataclass(frozen=True)
class Snapshot:
    """What the report reads, all from one transaction. Rows are detached copies, safe to keep."""

    services: list[ServiceRecord]
    replicas: list[ReplicaRecord]
    stored: list[StoredCopy]
    transfers: list[TransferSum]
    requests: list[RequestSum]
    service_names: list[str]  # every service name ever created, for "did you mean" on --service


def read_snapshot(since: float, until: float, *, service: str | None = None, include_store: bool = True,
                  engine: Engine | None = None) -> Snapshot:
    """Services (all, or those named `service`) with the replicas billed in [since, until), and the
    store's usage in that window."""
    try:
        return _read(since, until, service, include_store, engine)
    except SQLAlchemyError as e:
        url = engine.url.render_as_string(hide_password=True) if engine is not None else db_url()
        raise Failure(f"cannot read the state database at {url}: {str(e).splitlines()[0]}") from e


def _read(since: float, until: float, service: str | None, include_store: bool,
          engine: Engine | None) -> Snapshot:
    with read_session(engine) as s:
        names = list(s.exec(select(ServiceRecord.name).distinct().order_by(col(ServiceRecord.name))))
        q = select(ServiceRecord).order_by(col(ServiceRecord.name), col(ServiceRecord.id))
        if service is not None:
            q = q.where(ServiceRecord.name == service)
        services = list(s.exec(q))
        replicas = _replicas(s, [sv.id for sv in services if sv.id is not None], since, until)
        if not include_store:
            return Snapshot(services, replicas, [], [], [], names)
        return Snapshot(services, replicas, _stored(s, since, until), _transfers(s, since, until),
                        _requests(s, since, until), names)


def _replicas(s: Session, service_ids: list[int], since: float, until: float) -> list[ReplicaRecord]:
    """Replicas launched before `until` and not ended by `since` (open intervals included)."""
    if not service_ids:
        return []
    q = (select(ReplicaRecord)
         .where(col(ReplicaRecord.service_id).in_(service_ids), col(ReplicaRecord.launched_at).is_not(None),
                col(ReplicaRecord.launched_at) < until,
                col(ReplicaRecord.ended_at).is_(None) | (col(ReplicaRecord.ended_at) > since))
         .order_by(col(ReplicaRecord.service_id), col(ReplicaRecord.replica_id)))
    return list(s.exec(q))


def _stored(s: Session, since: float, until: float) -> list[StoredCopy]:
    q = (select(VBucket.name, Replica.region, Replica.size, Replica.storage_start, Replica.storage_end)
         .join(VBucket, col(VBucket.id) == col(Replica.bucket_id))
         .where(col(Replica.storage_start).is_not(None), col(Replica.storage_start) < until,
                col(Replica.storage_end).is_(None) | (col(Replica.storage_end) > since))
         .order_by(col(VBucket.name), col(Replica.region), col(Replica.id)))
    return [StoredCopy(b, r, size, start, end) for b, r, size, start, end in s.exec(q)]


def _day(s: Session, at: object) -> object:
    """Whole UTC days since the epoch. SQLite's CAST truncates; PostgreSQL's rounds, so it gets floor()."""
    if s.get_bind().dialect.name == "sqlite":
        return cast(at / DAY_S, Integer)
    return cast(func.floor(at / DAY_S), Integer)


def _transfers(s: Session, since: float, until: float) -> list[TransferSum]:
    day = _day(s, col(Transfer.at)).label("day")
    q = (select(VBucket.name, Transfer.src, Transfer.dst, day, func.count(), func.sum(Transfer.bytes))
         .join(VBucket, col(VBucket.id) == col(Transfer.bucket_id))
         .where(col(Transfer.at) >= since, col(Transfer.at) < until)
         .group_by(col(VBucket.name), col(Transfer.src), col(Transfer.dst), day)
         .order_by(col(VBucket.name), col(Transfer.src), col(Transfer.dst), day))
    return [TransferSum(b, src, dst, int(d), n, int(nbytes or 0)) for b, src, dst, d, n, nbytes in s.exec(q)]


def _requests(s: Session, since: float, until: float) -> list[RequestSum]:
    day = _day(s, col(RequestRecord.at)).label("day")
    q = (select(VBucket.name, RequestRecord.region, RequestRecord.op, day, func.count(),
                func.sum(RequestRecord.bytes))
         .join(VBucket, col(VBucket.id) == col(RequestRecord.bucket_id))
         .where(col(RequestRecord.at) >= since, col(RequestRecord.at) < until)
         .group_by(col(VBucket.name), col(RequestRecord.region), col(RequestRecord.op), day)
         .order_by(col(VBucket.name), col(RequestRecord.region), col(RequestRecord.op), day))
    return [RequestSum(b, r, op, int(d), n, int(nbytes or 0)) for b, r, op, d, n, nbytes in s.exec(q)]
