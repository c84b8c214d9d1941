"""`put` and `rm` of virtual objects.

Write-ahead: a `pending` object and replica row are committed before any byte is written, and turn
`ready` only once the bytes are durable, so an interrupted put is never visible (gc fails the stale row
and removes its temporary data after the grace period). A put supersedes every older version: their
replicas are marked `deleting` in the same transaction that makes the new version visible, then removed.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from skyctl.errors import Failure, UserError
from skyctl.state import store_repo, write_session
from skyctl.state.store_tables import Replica, StoredObject
from skyctl.store.names import parse_target, physical_key
from skyctl.store.service import (
    Store,
    check_region,
    finish_deletes,
    get_bucket,
    make_ready,
    mark_deleting,
    place_bytes,
)


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
        base = bucket.base_mode == "first-write"
        obj = store_repo.insert(s, StoredObject(
            bucket_id=bucket.id or 0, key=key, version=store_repo.last_version(s, bucket.id or 0, key) + 1,
            size=size, sha256=sha, base_region=region if base else None, created_at=now))
        ttl = -1.0 if base else store.policy(bucket, s, region).lone_ttl(region)
        rep = store_repo.insert(s, Replica(object_id=obj.id or 0, bucket_id=bucket.id or 0, region=region,
                                           physical_key="", size=size, origin="put", is_base=base, ttl_s=ttl,
                                           created_at=now))
        rep.physical_key = physical_key(key, obj.version, rep.id or 0)
    backend = store.backend(bucket)
    place_bytes(store, backend, rep, src)
    done = store.clock()
    doomed: list[int] = []
    with write_session(store.engine) as s:
        row, o = store_repo.get_replica(s, rep.id), store_repo.get_object(s, obj.id)
        lost = row is None or o is None or row.status != "pending" or o.status != "pending"
        if row is not None and o is not None and not lost:
            make_ready(row, done)
            o.status, o.ready_at = "ready", done
            store_repo.record_request(s, bucket.id or 0, o.id, region, "PUT", size, done, region)
            doomed = _supersede(s, bucket.id or 0, key, done)
            expires = row.expires_at
    if lost:
        backend.delete(region, rep.physical_key)
        raise Failure(f"{name}/{key} was removed (or its upload outlived the gc grace period) while it was "
                      "being written; put it again")
    finish_deletes(store, bucket, doomed)
    return PutResult(bucket=name, key=key, version=obj.version, region=region, size=size, sha256=sha,
                     base_region=obj.base_region, ttl_s=ttl, expires_at=expires,
                     superseded_replicas=len(doomed))


def _supersede(s: Session, bucket_id: int, key: str, now: float) -> list[int]:
    """Keep only the newest ready version of `key`; start deleting the replicas of the others."""
    newest = store_repo.newest_ready(s, bucket_id, key)
    ready = store_repo.versions(s, bucket_id, key, ["ready"])
    older = [o for o in ready if newest is None or o.id != newest.id]
    for o in older:
        o.status = "superseded"
    return mark_deleting(store_repo.replicas_of(s, [o.id or 0 for o in older], ["pending", "ready"]), now)


def rm(store: Store, target: str) -> dict[str, Any]:
    """Remove every version of a key: rows first (`deleted`/`deleting`), then the bytes."""
    name, key = parse_target(target, need_key=True)
    now = store.clock()
    with write_session(store.engine) as s:
        bucket = get_bucket(s, name)
        objs = store_repo.versions(s, bucket.id or 0, key, ["pending", "ready"])
        if not any(o.status == "ready" for o in objs):
            raise UserError("no such object", field="TARGET", value=target,
                            fix=f"list the bucket with `skyctl store ls {name}`")
        for o in objs:
            o.status = "deleted"
        reps = store_repo.replicas_of(s, [o.id or 0 for o in objs], ["pending", "ready"])
        regions = sorted({r.region for r in reps if r.status == "ready"})
        doomed = mark_deleting(reps, now)
    finish_deletes(store, bucket, doomed)
    return {"bucket": name, "key": key, "versions": len(objs), "replicas_deleted": len(doomed),
            "regions": regions}
