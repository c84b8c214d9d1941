"""`put`, `get` and `rm` of virtual objects.

Every change is write-ahead: a `pending` replica row is committed before its bytes are written and turns
`ready` only once they are durable, so an interrupted put or copy is never visible (gc fails the stale
row and removes its temporary data). A remote read claims the copy into the reader's region by inserting
the pending row; the partial unique index on (object, region) lets only one concurrent reader win, the
others just stream from the source.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from skyctl.errors import Failure, UserError
from skyctl.state import write_session
from skyctl.state.store_tables import Replica, StoredObject, Transfer, VBucket
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
    mark_deleting,
    newest_ready,
    ready_replicas,
    record_request,
)

READ_ATTEMPTS = 3  # a concurrent overwrite can delete the bytes a reader picked; it then looks again


@dataclass
class PutResult:
    bucket: str
    key: str
    version: int
    region: str
    size: int
    sha256: str
    base_region: str | None
    ttl_s: float
    expires_at: float | None
    superseded_replicas: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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


def _digest(path: Path) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def put(store: Store, src: Path, target: str, region: str) -> PutResult:
    """Write-local: the new version lands in `region`; older versions' replicas are then removed."""
    name, key = parse_target(target, need_key=True)
    if not src.is_file():
        raise UserError("no such file", field="FILE", value=str(src), fix="give the path of a readable file")
    size, sha = _digest(src)
    now = store.clock()
    with write_session(store.engine) as s:
        bucket = get_bucket(s, name)
        check_region(bucket, region)
        last = s.exec(select(func.max(StoredObject.version)).where(
            StoredObject.bucket_id == bucket.id, StoredObject.key == key)).one()
        base = bucket.base_mode == "first-write"
        obj = StoredObject(bucket_id=bucket.id or 0, key=key, version=(last or 0) + 1, size=size, sha256=sha,
                           base_region=region if base else None, created_at=now)
        s.add(obj)
        s.flush()
        ttl = -1.0 if base else store.policy(bucket).lone_ttl(region)
        rep = Replica(object_id=obj.id or 0, bucket_id=bucket.id or 0, region=region, physical_key="",
                      size=size, origin="put", is_base=base, ttl_s=ttl, created_at=now)
        s.add(rep)
        s.flush()
        rep.physical_key = physical_key(key, obj.version, rep.id or 0)
    backend = store.backend(bucket)
    _place(store, backend, rep, src)
    done = store.clock()
    with write_session(store.engine) as s:
        row, o = s.get(Replica, rep.id), s.get(StoredObject, obj.id)
        if row is None or o is None or row.status != "pending" or o.status != "pending":
            lost = True
        else:
            lost = False
            _ready(row, done)
            o.status, o.ready_at = "ready", done
            record_request(s, bucket.id or 0, o.id, region, "PUT", size, done)
            s.add_all([row, o])
            s.flush()
            doomed = _supersede(s, bucket.id or 0, key, done)
    if lost:
        backend.delete(region, rep.physical_key)
        raise Failure(f"{name}/{key} was removed (or its upload timed out) while it was being written")
    finish_deletes(store, bucket, doomed)
    return PutResult(bucket=name, key=key, version=obj.version, region=region, size=size, sha256=sha,
                     base_region=obj.base_region, ttl_s=ttl, expires_at=row.expires_at,
                     superseded_replicas=len(doomed))


def _place(store: Store, backend: Any, rep: Replica, src: Path) -> None:
    """Write the bytes; if that fails the row is marked failed at once rather than waiting for gc."""
    try:
        backend.put_file(rep.region, rep.physical_key, src, store.clock())
    except BaseException:
        with write_session(store.engine) as s:
            row = s.get(Replica, rep.id)
            if row is not None and row.status == "pending":
                row.status, row.storage_end = "failed", store.clock()
                s.add(row)
            obj = s.get(StoredObject, row.object_id) if row is not None else None
            if obj is not None and obj.status == "pending":
                obj.status = "failed"
                s.add(obj)
        raise


def _ready(row: Replica, now: float) -> None:
    row.status, row.storage_start = "ready", now
    row.expires_at = now + row.ttl_s if row.ttl_s >= 0 else None


def _supersede(s: Any, bucket_id: int, key: str, now: float) -> list[int]:
    """Keep only the newest ready version of `key`; start deleting the replicas of the others."""
    newest = newest_ready(s, bucket_id, key)
    older = list(s.exec(select(StoredObject).where(
        StoredObject.bucket_id == bucket_id, StoredObject.key == key, StoredObject.status == "ready",
        StoredObject.id != (newest.id if newest else None))))
    for o in older:
        o.status = "superseded"
        s.add(o)
    reps = s.exec(select(Replica).where(col(Replica.object_id).in_([o.id for o in older]),
                                        col(Replica.status).in_(["pending", "ready"]))).all()
    return mark_deleting(s, reps, now)


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


def _get_once(store: Store, name: str, key: str, out: Path, region: str) -> GetResult:
    now = store.clock()
    with write_session(store.engine) as s:
        bucket = get_bucket(s, name)
        check_region(bucket, region)
        obj = newest_ready(s, bucket.id or 0, key)
        if obj is None:
            raise UserError("no such object", field="TARGET", value=f"{name}/{key}",
                            fix=f"list the bucket with `skyctl store ls {name}`")
        live = live_replicas(s, obj.id or 0, now)
        if not live:
            raise Failure(f"{name}/{key} v{obj.version} has no readable replica; run `skyctl store gc`")
        policy = store.policy(bucket)
        src_region = cheapest_source(store.pricing(), [r.region for r in live], region)
        source = next(r for r in live if r.region == src_region)
        claim, stale = None, []
        if src_region != region and policy.copies_on_read:
            # An expired copy here that gc has not removed yet would hold the claim slot: drop it now.
            stale = mark_deleting(s, [r for r in ready_replicas(s, obj.id or 0)
                                      if r.region == region and not is_live(r, now)], now)
            claim = _claim(s, obj, region, policy.ttl(region, candidates(live, region), now), now)
    finish_deletes(store, bucket, stale)
    backend = store.backend(bucket)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            backend.get_file(source.region, source.physical_key, tmp)
        except BaseException:
            if claim is not None:
                _abandon(store, claim)
            raise
        if claim is not None:
            _place(store, backend, claim, tmp)
        result = _complete_get(store, bucket, obj, source, claim, region, out)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def _claim(s: Any, obj: StoredObject, region: str, ttl: float, now: float) -> Replica | None:
    """Insert the pending copy row; None if another reader already holds (or finished) this copy."""
    rep = Replica(object_id=obj.id or 0, bucket_id=obj.bucket_id, region=region, physical_key="",
                  size=obj.size, origin="copy", ttl_s=ttl, created_at=now)
    try:
        with s.begin_nested():
            s.add(rep)
            s.flush()
    except IntegrityError:
        return None
    rep.physical_key = physical_key(obj.key, obj.version, rep.id or 0)
    s.add(rep)
    return rep


def _abandon(store: Store, claim: Replica) -> None:
    with write_session(store.engine) as s:
        row = s.get(Replica, claim.id)
        if row is not None and row.status == "pending":
            row.status, row.storage_end = "failed", store.clock()
            s.add(row)


def _complete_get(store: Store, bucket: VBucket, obj: StoredObject, source: Replica, claim: Replica | None,
                  region: str, out: Path) -> GetResult:
    """Record the read (GET, transfer), make the copy visible, or push back a local hit's expiry."""
    now = store.clock()
    bid = bucket.id or 0
    copied, orphan = False, False
    ttl, expires = None, None
    with write_session(store.engine) as s:
        record_request(s, bid, obj.id, source.region, "GET", obj.size, now)
        if claim is not None:
            row = s.get(Replica, claim.id)
            orphan = row is None or row.status != "pending"
            if row is not None and not orphan:
                _ready(row, now)
                s.add(row)
                copied, ttl, expires = True, row.ttl_s, row.expires_at
                record_request(s, bid, obj.id, region, "PUT", obj.size, now)
        if source.region != region:
            s.add(Transfer(bucket_id=bid, object_id=obj.id or 0, src=source.region, dst=region,
                           bytes=obj.size, at=now, replicated=copied))
        else:
            local = s.get(Replica, source.id)
            if local is not None and local.status == "ready" and local.expires_at is not None:
                others = [r for r in live_replicas(s, obj.id or 0, now) if r.id != local.id]
                if others:
                    local.ttl_s = store.policy(bucket).ttl(region, candidates(others, region), now)
                local.expires_at = now + local.ttl_s if local.ttl_s >= 0 else None
                s.add(local)
            if local is not None:
                ttl, expires = local.ttl_s, local.expires_at
    if orphan and claim is not None:
        store.backend(bucket).delete(claim.region, claim.physical_key)
    return GetResult(bucket=bucket.name, key=obj.key, version=obj.version, region=region,
                     source_region=source.region, hit=source.region == region, copied=copied, ttl_s=ttl,
                     expires_at=expires, size=obj.size, path=str(out))


def rm(store: Store, target: str) -> dict[str, Any]:
    """Remove every version of a key: rows first (`deleted`/`deleting`), then the bytes."""
    name, key = parse_target(target, need_key=True)
    now = store.clock()
    with write_session(store.engine) as s:
        bucket = get_bucket(s, name)
        objs = list(s.exec(select(StoredObject).where(StoredObject.bucket_id == bucket.id,
                                                      StoredObject.key == key,
                                                      col(StoredObject.status).in_(["pending", "ready"]))))
        if not any(o.status == "ready" for o in objs):
            raise UserError("no such object", field="TARGET", value=target,
                            fix=f"list the bucket with `skyctl store ls {name}`")
        for o in objs:
            o.status = "deleted"
            s.add(o)
        reps = s.exec(select(Replica).where(col(Replica.object_id).in_([o.id for o in objs]),
                                            col(Replica.status).in_(["pending", "ready"]))).all()
        regions = sorted({r.region for r in reps if r.status == "ready"})
        doomed = mark_deleting(s, reps, now)
    finish_deletes(store, bucket, doomed)
    return {"bucket": name, "key": key, "versions": len(objs), "replicas_deleted": len(doomed),
            "regions": regions}
