"""`get`: read a virtual object from its cheapest live replica, and copy it into the reader's region
under the bucket's policy (SkyStore's replicate-on-read).

A remote read claims the copy by inserting a `pending` replica row for (object, reader region); the
partial unique index lets one concurrent reader win, and the others just stream from the source. The
winner writes the bytes through the backend's atomic put, then marks the row `ready` with the policy's
TTL. The output file is written to a temporary name beside OUT and renamed, so OUT is never partial.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from skyctl.errors import Failure, UserError
from skyctl.state import store_repo, write_session
from skyctl.state.store_tables import Replica, StoredObject, VBucket
from skyctl.store.backends import DataMissing
from skyctl.store.names import parse_target, physical_key
from skyctl.store.policy import cheapest_source
from skyctl.store.service import (
    Store,
    candidates,
    check_region,
    finish_deletes,
    get_bucket,
    is_live,
    live_replicas,
    make_ready,
    mark_deleting,
    place_bytes,
)

READ_ATTEMPTS = 3  # a concurrent overwrite can delete the bytes a reader picked; it then looks again


@dataclass
class GetResult:
    bucket: str
    key: str
    version: int
    region: str
    source_region: str
    hit: bool
    copied: bool  # this read left a replica in `region`
    ttl_s: float | None  # TTL of the local copy (refreshed on a hit, new on a copy)
    expires_at: float | None
    size: int
    path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Plan:
    bucket: VBucket
    obj: StoredObject
    source: Replica
    claim: Replica | None


def get(store: Store, target: str, out: Path, region: str) -> GetResult:
    """Read from the cheapest live replica into `out`; under the policy, leave a copy in `region`."""
    name, key = parse_target(target, need_key=True)
    if out.is_dir():
        out = out / Path(key).name
    if not out.parent.is_dir():
        raise UserError("the output directory does not exist", field="OUT", value=str(out),
                        fix="create the directory or give another path")
    for attempt in range(READ_ATTEMPTS):
        try:
            return _get_once(store, name, key, out, region)
        except DataMissing:
            if attempt == READ_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _plan(store: Store, s: Session, name: str, key: str, region: str, now: float) -> tuple[_Plan, list[int]]:
    """Pick the source and, on a remote read the policy keeps, claim the copy into `region`."""
    bucket = get_bucket(s, name)
    check_region(bucket, region)
    obj = store_repo.newest_ready(s, bucket.id or 0, key)
    if obj is None:
        raise UserError("no such object", field="TARGET", value=f"{name}/{key}",
                        fix=f"list the bucket with `skyctl store ls {name}`")
    live = live_replicas(s, obj.id or 0, now)
    if not live:
        raise Failure(f"{name}/{key} v{obj.version} has no readable replica; run `skyctl store gc`")
    policy = store.policy(bucket, s, region)
    src_region = cheapest_source(store.pricing(), [r.region for r in live], region)
    source = next(r for r in live if r.region == src_region)
    claim, stale = None, []
    ttl = policy.ttl(region, candidates(live, region), now) if src_region != region else 0.0
    if src_region != region and policy.copies_on_read and ttl != 0:  # a learned TTL of 0: do not keep
        # An expired copy here that gc has not removed yet: drop it, a fresh one replaces it.
        stale = mark_deleting([r for r in store_repo.replicas_of(s, [obj.id or 0])
                               if r.region == region and not is_live(r, now)], now)
        claim = store_repo.insert_unless_taken(s, Replica(
            object_id=obj.id or 0, bucket_id=obj.bucket_id, region=region, physical_key="", size=obj.size,
            origin="copy", ttl_s=ttl, created_at=now))
        if claim is not None:
            claim.physical_key = physical_key(obj.key, obj.version, claim.id or 0)
    return _Plan(bucket, obj, source, claim), stale


def _get_once(store: Store, name: str, key: str, out: Path, region: str) -> GetResult:
    with write_session(store.engine) as s:
        plan, stale = _plan(store, s, name, key, region, store.clock())
    finish_deletes(store, plan.bucket, stale)
    backend = store.backend(plan.bucket)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            backend.get_file(plan.source.region, plan.source.physical_key, tmp)
        except BaseException:
            if plan.claim is not None:
                _abandon(store, plan.claim)
            raise
        if plan.claim is not None:
            place_bytes(store, backend, plan.claim, tmp)
        result = _complete(store, plan, region, out)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def _abandon(store: Store, claim: Replica) -> None:
    with write_session(store.engine) as s:
        row = store_repo.get_replica(s, claim.id)
        if row is not None and row.status == "pending":
            row.status, row.storage_end = "failed", store.clock()


def _complete(store: Store, plan: _Plan, region: str, out: Path) -> GetResult:
    """Record the read (GET, transfer), make the copy visible, or push back a local hit's expiry."""
    now = store.clock()
    bucket, obj, source, claim = plan.bucket, plan.obj, plan.source, plan.claim
    bid = bucket.id or 0
    copied, orphan = False, False
    ttl, expires = None, None
    with write_session(store.engine) as s:
        store_repo.record_request(s, bid, obj.id, source.region, "GET", obj.size, now, region)
        if claim is not None:
            row = store_repo.get_replica(s, claim.id)
            orphan = row is None or row.status != "pending"  # rm or gc took it while we copied
            if row is not None and not orphan:
                make_ready(row, now)
                copied, ttl, expires = True, row.ttl_s, row.expires_at
                store_repo.record_request(s, bid, obj.id, region, "PUT", obj.size, now, region)
        if source.region != region:
            store_repo.record_transfer(s, bid, obj.id or 0, source.region, region, obj.size, now, copied)
        else:
            local = store_repo.get_replica(s, source.id)
            if local is not None and local.status == "ready" and local.expires_at is not None:
                others = [r for r in live_replicas(s, obj.id or 0, now) if r.id != local.id]
                if others:  # re-size the TTL against the sources alive now
                    local.ttl_s = store.policy(bucket, s, region).ttl(region, candidates(others, region), now)
                local.expires_at = now + local.ttl_s if local.ttl_s >= 0 else None
            if local is not None:
                ttl, expires = local.ttl_s, local.expires_at
    if orphan and claim is not None:
        store.backend(bucket).delete(claim.region, claim.physical_key)
    return GetResult(bucket=bucket.name, key=obj.key, version=obj.version, region=region,
                     source_region=source.region, hit=source.region == region, copied=copied, ttl_s=ttl,
                     expires_at=expires, size=obj.size, path=str(out))
