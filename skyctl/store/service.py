"""The store's shared context and the metadata rules every operation uses (which copies are live, how a
delete is announced and finished); the queries themselves are in `skyctl.state.store_repo`.

`Store` bundles what an operation needs: the state engine, an injectable clock (so TTL and gc tests run
on virtual time), the price tables, a backend per bucket, and the gc grace period. Operations live in
`buckets` (mb, ls), `objects` (put, get, rm) and `gc`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from skyctl.errors import UserError, did_you_mean
from skyctl.state import get_engine, store_repo, write_session
from skyctl.state.store_tables import Replica, VBucket
from skyctl.store import DEFAULT_GRACE_S
from skyctl.store.backends import Backend, open_backend
from skyctl.store.policy import Candidate, Policy, Prices, read_history


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

    def policy(self, bucket: VBucket, s: Session | None = None, dst: str | None = None) -> Policy:
        """The bucket's policy; for t-evict, with the read history of `dst` loaded through `s`."""
        history = {}
        if bucket.policy == "t-evict" and s is not None and dst is not None:
            history[dst] = read_history(store_repo.reads_by(s, bucket.id or 0, dst))
        return Policy(bucket.policy, self.pricing(), tuple(bucket.regions), bucket.ttl_s, history)


def open_store(**kwargs: Any) -> Store:
    """The store over the configured state database (`SKYCTL_HOME` / `SKYCTL_DB_URL`)."""
    return Store(engine=get_engine(), **kwargs)


def get_bucket(s: Session, name: str, *, ready: bool = True) -> VBucket:
    bucket = store_repo.find_bucket(s, name)
    if bucket is None:
        hint = did_you_mean(name, [b.name for b in store_repo.all_buckets(s)])
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


def is_live(replica: Replica, now: float) -> bool:
    return replica.status == "ready" and (replica.expires_at is None or replica.expires_at > now)


def live_replicas(s: Session, object_id: int, now: float) -> list[Replica]:
    """Ready, unexpired replicas. If every ready copy has expired (no base region), the one that
    expired last becomes permanent, so an object always keeps a readable copy."""
    ready = store_repo.replicas_of(s, [object_id])
    live = [r for r in ready if is_live(r, now)]
    if ready and not live:
        keep = max(ready, key=lambda r: (r.expires_at or 0.0, r.id or 0))
        keep.ttl_s, keep.expires_at = -1.0, None
        live = [keep]
    return live


def candidates(replicas: Iterable[Replica], exclude_region: str) -> list[Candidate]:
    return [Candidate(r.region, r.expires_at) for r in replicas if r.region != exclude_region]


def mark_deleting(replicas: Iterable[Replica], now: float) -> list[int]:
    """First half of a delete: announce it (and end the storage interval) before touching the bytes."""
    ids = []
    for r in replicas:
        r.status, r.storage_end = "deleting", now
        ids.append(r.id or 0)
    return ids


def finish_deletes(store: Store, bucket: VBucket, replica_ids: list[int]) -> int:
    """Second half of a write-ahead delete: the rows are already `deleting`; remove the bytes, then
    mark them `gone` and record the DELETE requests. Idempotent, so gc can redo it after a crash."""
    if not replica_ids:
        return 0
    with write_session(store.engine) as s:
        doomed = store_repo.replicas_by_id(s, replica_ids, "deleting")
        rows = [(r.id, r.region, r.physical_key) for r in doomed]
    backend = store.backend(bucket)
    for _, region, key in rows:
        backend.delete(region, key)
    now = store.clock()
    with write_session(store.engine) as s:
        for replica in store_repo.replicas_by_id(s, [rid for rid, _, _ in rows], "deleting"):
            replica.status = "gone"
            store_repo.record_request(s, bucket.id or 0, replica.object_id, replica.region, "DELETE", 0, now)
    return len(rows)


def place_bytes(store: Store, backend: Backend, rep: Replica, src: Path) -> None:
    """Write a pending replica's bytes; if that fails the row (and a pending object) is marked failed at
    once rather than left for gc."""
    try:
        backend.put_file(rep.region, rep.physical_key, src, store.clock())
    except BaseException:
        with write_session(store.engine) as s:
            row = store_repo.get_replica(s, rep.id)
            if row is not None and row.status == "pending":
                row.status, row.storage_end = "failed", store.clock()
                obj = store_repo.get_object(s, row.object_id)
                if obj is not None and obj.status == "pending":
                    obj.status = "failed"
        raise


def make_ready(row: Replica, now: float) -> None:
    """The bytes are durable: the copy is visible and starts paying storage (and its TTL) now."""
    row.status, row.storage_start = "ready", now
    row.expires_at = now + row.ttl_s if row.ttl_s >= 0 else None
