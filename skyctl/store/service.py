"""The store's shared context and the metadata queries every operation uses.

`Store` bundles what an operation needs: the state engine, an injectable clock (so TTL and gc tests run
on virtual time), the price tables, a backend per bucket, and the gc grace period. Operations live in
`buckets` (mb, ls), `objects` (put, get, rm) and `gc`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from skyctl.errors import UserError, did_you_mean
from skyctl.state import get_engine, write_session
from skyctl.state.store_tables import Replica, RequestRecord, StoredObject, VBucket
from skyctl.store import DEFAULT_GRACE_S
from skyctl.store.backends import Backend, open_backend
from skyctl.store.policy import Candidate, Policy, Prices


def _load_prices() -> Prices:
    from skyctl.store.pricing import load_pricing

    return load_pricing()


@dataclass
class Store:
    engine: Engine
    clock: Callable[[], float] = time.time
    prices: Prices | None = None
    backend_for: Callable[[str, str], Backend] = open_backend  # (kind, vbucket) -> Backend
    grace_s: float = DEFAULT_GRACE_S
    _backends: dict[str, Backend] = field(default_factory=dict, repr=False)

    def pricing(self) -> Prices:
        if self.prices is None:
            self.prices = _load_prices()
        return self.prices

    def backend(self, bucket: VBucket) -> Backend:
        if bucket.name not in self._backends:
            self._backends[bucket.name] = self.backend_for(bucket.backend, bucket.name)
        return self._backends[bucket.name]

    def policy(self, bucket: VBucket) -> Policy:
        return Policy(bucket.policy, self.pricing(), tuple(bucket.regions), bucket.ttl_s)


def open_store(**kwargs: Any) -> Store:
    """The store over the configured state database (`SKYCTL_HOME` / `SKYCTL_DB_URL`)."""
    return Store(engine=get_engine(), **kwargs)


def get_bucket(s: Session, name: str, *, ready: bool = True) -> VBucket:
    bucket = s.exec(select(VBucket).where(VBucket.name == name)).first()
    if bucket is None:
        names = s.exec(select(VBucket.name)).all()
        hint = did_you_mean(name, names)
        raise UserError("no such virtual bucket", field="VBUCKET", value=name,
                        fix=hint or "create it with `skyctl store mb NAME --regions ...`")
    if ready and bucket.status != "ready":
        raise UserError("the virtual bucket was not fully created", field="VBUCKET", value=name,
                        fix="re-run the same `skyctl store mb` command to finish it")
    return bucket


def check_region(bucket: VBucket, region: str) -> str:
    if region not in bucket.regions:
        hint = did_you_mean(region, bucket.regions)
        fix = (hint + " " if hint else "") + "use one of " + ", ".join(bucket.regions)
        raise UserError(f"region is not one of bucket {bucket.name}'s regions", field="--region",
                        value=region, fix=fix)
    return region


def newest_ready(s: Session, bucket_id: int, key: str) -> StoredObject | None:
    return s.exec(select(StoredObject).where(StoredObject.bucket_id == bucket_id, StoredObject.key == key,
                                             StoredObject.status == "ready")
                  .order_by(col(StoredObject.version).desc())).first()


def ready_replicas(s: Session, object_id: int) -> list[Replica]:
    return list(s.exec(select(Replica).where(Replica.object_id == object_id, Replica.status == "ready")
                       .order_by(col(Replica.id))))


def is_live(replica: Replica, now: float) -> bool:
    return replica.status == "ready" and (replica.expires_at is None or replica.expires_at > now)


def live_replicas(s: Session, object_id: int, now: float) -> list[Replica]:
    """Ready, unexpired replicas. If every ready copy has expired (no base region), the one that
    expired last becomes permanent, so an object always keeps a readable copy."""
    ready = ready_replicas(s, object_id)
    live = [r for r in ready if is_live(r, now)]
    if ready and not live:
        keep = max(ready, key=lambda r: (r.expires_at or 0.0, r.id or 0))
        keep.ttl_s, keep.expires_at = -1.0, None
        s.add(keep)
        live = [keep]
    return live


def candidates(replicas: Iterable[Replica], exclude_region: str) -> list[Candidate]:
    return [Candidate(r.region, r.expires_at) for r in replicas if r.region != exclude_region]


def record_request(s: Session, bucket_id: int, object_id: int | None, region: str, op: str, nbytes: int,
                   at: float) -> None:
    s.add(RequestRecord(bucket_id=bucket_id, object_id=object_id, region=region, op=op, bytes=nbytes, at=at))


def finish_deletes(store: Store, bucket: VBucket, replica_ids: list[int]) -> int:
    """Second half of a write-ahead delete: the rows are already `deleting`; remove the bytes, then
    mark them `gone` and record the DELETE requests. Idempotent, so gc can redo it after a crash."""
    if not replica_ids:
        return 0
    with write_session(store.engine) as s:
        rows = [(r.id, r.region, r.physical_key) for r in
                s.exec(select(Replica).where(col(Replica.id).in_(replica_ids), Replica.status == "deleting"))]
    backend = store.backend(bucket)
    for _, region, key in rows:
        backend.delete(region, key)
    now = store.clock()
    with write_session(store.engine) as s:
        for rid, region, _ in rows:
            replica = s.get(Replica, rid)
            if replica is not None and replica.status == "deleting":
                replica.status = "gone"
                s.add(replica)
                record_request(s, bucket.id or 0, replica.object_id, region, "DELETE", 0, now)
    return len(rows)


def mark_deleting(s: Session, replicas: Iterable[Replica], now: float) -> list[int]:
    """First half of a delete: announce it (and end the storage interval) before touching the bytes."""
    ids = []
    for r in replicas:
        r.status, r.storage_end = "deleting", now
        s.add(r)
        ids.append(r.id or 0)
    return ids
