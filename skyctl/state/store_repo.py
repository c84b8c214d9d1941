"""Queries over the virtual-bucket tables, so that `skyctl.store` never builds SQL itself.

Every function takes an open session (from `read_session`/`write_session`) and returns table rows; rows
loaded through a session are tracked, so callers change them by assigning attributes and the session
writes them at commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from skyctl.state.store_tables import Replica, RequestRecord, StoredObject, Transfer, VBucket

Row = TypeVar("Row", bound=SQLModel)


def insert(s: Session, row: Row) -> Row:
    """Add a new row and flush it, so its id is known inside the transaction."""
    s.add(row)
    s.flush()
    return row


def insert_unless_taken(s: Session, row: Row) -> Row | None:
    """Insert under a savepoint; None if a unique index says the slot is already taken (the claim)."""
    try:
        with s.begin_nested():
            s.add(row)
            s.flush()
    except IntegrityError:
        return None
    return row


def get_replica(s: Session, replica_id: int | None) -> Replica | None:
    return s.get(Replica, replica_id)


def get_object(s: Session, object_id: int | None) -> StoredObject | None:
    return s.get(StoredObject, object_id)


# Buckets

def find_bucket(s: Session, name: str) -> VBucket | None:
    return s.exec(select(VBucket).where(VBucket.name == name)).first()


def all_buckets(s: Session) -> list[VBucket]:
    return list(s.exec(select(VBucket).order_by(col(VBucket.name))))


def object_counts(s: Session, bucket_id: int | None = None) -> dict[int, tuple[int, int]]:
    """{bucket id: (ready objects, their bytes)}."""
    q = (select(StoredObject.bucket_id, func.count(), func.coalesce(func.sum(StoredObject.size), 0))
         .where(StoredObject.status == "ready").group_by(col(StoredObject.bucket_id)))
    if bucket_id is not None:
        q = q.where(StoredObject.bucket_id == bucket_id)
    return {b: (n, int(total)) for b, n, total in s.exec(q)}


# Objects

def last_version(s: Session, bucket_id: int, key: str) -> int:
    v = s.exec(select(func.max(StoredObject.version)).where(StoredObject.bucket_id == bucket_id,
                                                             StoredObject.key == key)).one()
    return v or 0


def newest_ready(s: Session, bucket_id: int, key: str) -> StoredObject | None:
    return s.exec(select(StoredObject).where(StoredObject.bucket_id == bucket_id, StoredObject.key == key,
                                             StoredObject.status == "ready")
                  .order_by(col(StoredObject.version).desc())).first()


def versions(s: Session, bucket_id: int, key: str, statuses: Iterable[str]) -> list[StoredObject]:
    q = select(StoredObject).where(StoredObject.bucket_id == bucket_id, StoredObject.key == key,
                                   col(StoredObject.status).in_(list(statuses)))
    return list(s.exec(q.order_by(col(StoredObject.version))))


def newest_under_prefix(s: Session, bucket_id: int, prefix: str) -> list[StoredObject]:
    """The newest ready version of every key starting with `prefix`, by key."""
    newest = (select(StoredObject.key, func.max(StoredObject.version).label("v"))
              .where(StoredObject.bucket_id == bucket_id, StoredObject.status == "ready",
                     col(StoredObject.key).startswith(prefix, autoescape=True))
              .group_by(col(StoredObject.key)).subquery())
    return list(s.exec(select(StoredObject)
                       .join(newest, (col(StoredObject.key) == newest.c.key) &
                             (col(StoredObject.version) == newest.c.v))
                       .where(StoredObject.bucket_id == bucket_id).order_by(col(StoredObject.key))))


def objects_by_id(s: Session, ids: Iterable[int]) -> dict[int, StoredObject]:
    return {o.id or 0: o for o in s.exec(select(StoredObject).where(col(StoredObject.id).in_(list(ids))))}


# Replicas

def replicas_of(s: Session, object_ids: Iterable[int], statuses: Iterable[str] = ("ready",)) -> list[Replica]:
    return list(s.exec(select(Replica).where(col(Replica.object_id).in_(list(object_ids)),
                                             col(Replica.status).in_(list(statuses)))
                       .order_by(col(Replica.id))))


def replicas_by_id(s: Session, ids: Iterable[int], status: str) -> list[Replica]:
    return list(s.exec(select(Replica).where(col(Replica.id).in_(list(ids)), Replica.status == status)))


def expired_replicas(s: Session, now: float) -> list[Replica]:
    """Ready, non-base copies whose expiry has passed."""
    return list(s.exec(select(Replica).where(Replica.status == "ready", col(Replica.is_base).is_(False),
                                             col(Replica.expires_at).is_not(None),
                                             col(Replica.expires_at) <= now)))


def replicas_in_status(s: Session, status: str, created_before: float | None = None) -> list[Replica]:
    q = select(Replica).where(Replica.status == status)
    if created_before is not None:
        q = q.where(col(Replica.created_at) <= created_before)
    return list(s.exec(q.order_by(col(Replica.id))))


# Usage records (what the cost report reads)

def record_request(s: Session, bucket_id: int, object_id: int | None, region: str, op: str, nbytes: int,
                   at: float, client_region: str | None = None) -> None:
    s.add(RequestRecord(bucket_id=bucket_id, object_id=object_id, region=region, op=op, bytes=nbytes, at=at,
                        client_region=client_region))


def reads_by(s: Session, bucket_id: int, client_region: str) -> list[tuple[int, int, float]]:
    """(object id, bytes, time) of every GET that a reader in `client_region` made, oldest first."""
    q = (select(RequestRecord.object_id, RequestRecord.bytes, RequestRecord.at)
         .where(RequestRecord.bucket_id == bucket_id, RequestRecord.op == "GET",
                RequestRecord.client_region == client_region)
         .order_by(col(RequestRecord.at), col(RequestRecord.id)))
    return [(o or 0, b, at) for o, b, at in s.exec(q)]


def record_transfer(s: Session, bucket_id: int, object_id: int, src: str, dst: str, nbytes: int, at: float,
                    replicated: bool) -> None:
    s.add(Transfer(bucket_id=bucket_id, object_id=object_id, src=src, dst=dst, bytes=nbytes, at=at,
                   replicated=replicated))
