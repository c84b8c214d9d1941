"""`gc`: evict expired replicas, fail stale pending writes, finish interrupted deletes, drop old temporary
data. Safe to run from cron and concurrently with reads and writes.

Never evicted: a base copy, a permanent (ttl -1) copy, or the last ready copy of an object; when every
copy of an object has expired (no base region), the one that expired last is kept and made permanent.
Pending rows and temporary data count as abandoned only after the grace period, so a slow upload that is
still running is left alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from sqlmodel import Session

from skyctl.state import read_session, store_repo, write_session
from skyctl.state.store_tables import Replica, StoredObject, VBucket
from skyctl.store.service import Store, finish_deletes, mark_deleting


@dataclass
class GcReport:
    dry_run: bool
    now: float
    evicted: list[dict[str, Any]] = field(default_factory=list)
    kept_last: list[dict[str, Any]] = field(default_factory=list)
    failed_pending: list[dict[str, Any]] = field(default_factory=list)
    finished_deletes: int = 0
    temp_removed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _describe(r: Replica, obj: StoredObject, bucket: VBucket) -> dict[str, Any]:
    return {"bucket": bucket.name, "key": obj.key, "version": obj.version, "region": r.region,
            "size": r.size, "status": r.status, "expires_at": r.expires_at, "created_at": r.created_at}


Plan = tuple[list[Replica], list[Replica], list[Replica], list[Replica]]


def _plan(s: Session, now: float, grace_s: float) -> Plan:
    """(expired replicas to evict, last copies to keep forever, stale pending rows, stuck deletes)."""
    evict, keep = [], []
    by_obj: dict[int, list[Replica]] = {}
    for r in store_repo.expired_replicas(s, now):
        by_obj.setdefault(r.object_id, []).append(r)
    for object_id, reps in by_obj.items():
        if len(reps) == len(store_repo.replicas_of(s, [object_id])):  # nothing else would survive:
            last = max(reps, key=lambda r: (r.expires_at or 0.0, r.id or 0))  # keep the one that expired last
            keep.append(last)
            reps = [r for r in reps if r is not last]
        evict.extend(reps)
    stale = store_repo.replicas_in_status(s, "pending", created_before=now - grace_s)
    stuck = store_repo.replicas_in_status(s, "deleting")
    return evict, keep, stale, stuck


def gc(store: Store, dry_run: bool = False) -> GcReport:
    now = store.clock()
    report = GcReport(dry_run=dry_run, now=now)
    session = read_session if dry_run else write_session
    with session(store.engine) as s:
        evict, keep, stale, stuck = _plan(s, now, store.grace_s)
        buckets = {b.id or 0: b for b in store_repo.all_buckets(s)}
        objs = store_repo.objects_by_id(s, {r.object_id for r in [*evict, *keep, *stale]})
        report.evicted = [_describe(r, objs[r.object_id], buckets[r.bucket_id]) for r in evict]
        report.kept_last = [_describe(r, objs[r.object_id], buckets[r.bucket_id]) for r in keep]
        report.failed_pending = [_describe(r, objs[r.object_id], buckets[r.bucket_id]) for r in stale]
        report.finished_deletes = len(stuck)
        if dry_run:
            return report
        for r in keep:
            r.ttl_s, r.expires_at = -1.0, None
        mark_deleting([*evict, *stale], now)  # a stale put's bytes may exist: it died after writing
        for r in stale:
            if objs[r.object_id].status == "pending":
                objs[r.object_id].status = "failed"
    by_bucket: dict[int, list[int]] = {}
    for r in [*evict, *stale, *stuck]:
        by_bucket.setdefault(r.bucket_id, []).append(r.id or 0)
    for bid, ids in by_bucket.items():
        finish_deletes(store, buckets[bid], ids)
    for bucket in buckets.values():
        backend = store.backend(bucket)
        for region in bucket.regions:
            report.temp_removed += backend.clean_temp(region, now - store.grace_s)
    return report
