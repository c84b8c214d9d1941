"""`mb` and `ls`: create a virtual bucket (and its physical bucket in every region) and list buckets or
objects with their replicas."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from skyctl.errors import UserError, did_you_mean
from skyctl.state import read_session, write_session
from skyctl.state.store_tables import Replica, StoredObject, VBucket
from skyctl.store.backends import check_backend
from skyctl.store.names import check_bucket_name, parse_target
from skyctl.store.policy import Policy
from skyctl.store.service import Store, get_bucket, is_live

BASE_MODES = ("first-write", "none")


@dataclass
class BucketInfo:
    name: str
    regions: list[str]
    policy: str
    ttl_s: float | None
    backend: str
    base_region: str
    status: str
    objects: int
    bytes: int
    physical_buckets: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_regions(raw: str, known: list[str]) -> list[str]:
    regions = [r.strip() for r in raw.split(",") if r.strip()]
    if not regions:
        raise UserError("no regions given", field="--regions", value=raw,
                        fix="pass a comma-separated list, e.g. aws:us-east-1,aws:us-west-2")
    if len(set(regions)) != len(regions):
        raise UserError("a region is listed twice", field="--regions", value=raw, fix="list each region once")
    for r in regions:
        if r not in known:
            hint = did_you_mean(r, known)
            raise UserError(f"unknown region {r!r}", field="--regions", value=raw,
                            fix=hint or f"regions come from the price tables, e.g. {', '.join(known[:4])}")
    return regions


def make_bucket(store: Store, name: str, regions: str, policy: str = "t-even", ttl_s: float | None = None,
                backend: str = "local", base_region: str = "first-write") -> BucketInfo:
    """Write-ahead: the row is `pending` until every physical bucket exists; re-running finishes it."""
    check_bucket_name(name)
    region_list = parse_regions(regions, list(store.pricing().regions()))
    Policy.check(policy, ttl_s)
    check_backend(backend)
    if base_region not in BASE_MODES:
        raise UserError("unknown base-region mode", field="--base-region", value=base_region,
                        fix="use one of " + ", ".join(BASE_MODES))
    wanted = {"regions": region_list, "policy": policy, "ttl_s": ttl_s, "backend": backend,
              "base_mode": base_region}
    now = store.clock()
    with write_session(store.engine) as s:
        bucket = s.exec(select(VBucket).where(VBucket.name == name)).first()
        if bucket is not None and (bucket.status == "ready" or
                                   any(getattr(bucket, k) != v for k, v in wanted.items())):
            raise UserError("a virtual bucket with this name already exists", field="NAME", value=name,
                            fix="pick another name, or `skyctl store ls` to see it")
        if bucket is None:
            bucket = VBucket(name=name, created_at=now, status="pending", **wanted)
            s.add(bucket)
    physical = store.backend(bucket)
    for region in region_list:
        physical.ensure(region)
    with write_session(store.engine) as s:
        row = get_bucket(s, name, ready=False)
        row.status = "ready"
        s.add(row)
    return describe(store, name)


def _info(store: Store, bucket: VBucket, objects: int, nbytes: int) -> BucketInfo:
    physical = store.backend(bucket)
    return BucketInfo(name=bucket.name, regions=list(bucket.regions), policy=bucket.policy,
                      ttl_s=bucket.ttl_s, backend=bucket.backend, base_region=bucket.base_mode,
                      status=bucket.status, objects=objects, bytes=nbytes,
                      physical_buckets={r: physical.location(r) for r in bucket.regions})


def _counts(s: Any, bucket_id: int | None = None) -> dict[int, tuple[int, int]]:
    q = (select(StoredObject.bucket_id, func.count(), func.coalesce(func.sum(StoredObject.size), 0))
         .where(StoredObject.status == "ready").group_by(col(StoredObject.bucket_id)))
    if bucket_id is not None:
        q = q.where(StoredObject.bucket_id == bucket_id)
    return {b: (n, int(total)) for b, n, total in s.exec(q)}


def describe(store: Store, name: str) -> BucketInfo:
    with read_session(store.engine) as s:
        bucket = get_bucket(s, name, ready=False)
        n, nbytes = _counts(s, bucket.id).get(bucket.id or 0, (0, 0))
    return _info(store, bucket, n, nbytes)


def list_buckets(store: Store) -> list[BucketInfo]:
    with read_session(store.engine) as s:
        buckets = list(s.exec(select(VBucket).order_by(col(VBucket.name))))
        counts = _counts(s)
    return [_info(store, b, *counts.get(b.id or 0, (0, 0))) for b in buckets]


def list_objects(store: Store, target: str) -> list[dict[str, Any]]:
    """Newest ready version of each key under the prefix, with every ready replica and its expiry."""
    name, prefix = parse_target(target, need_key=False)
    now = store.clock()
    with read_session(store.engine) as s:
        bucket = get_bucket(s, name)
        newest = (select(StoredObject.key, func.max(StoredObject.version).label("v"))
                  .where(StoredObject.bucket_id == bucket.id, StoredObject.status == "ready",
                         col(StoredObject.key).startswith(prefix, autoescape=True))
                  .group_by(col(StoredObject.key)).subquery())
        objs = list(s.exec(select(StoredObject).join(newest, (col(StoredObject.key) == newest.c.key) &
                                                     (col(StoredObject.version) == newest.c.v))
                           .where(StoredObject.bucket_id == bucket.id).order_by(col(StoredObject.key))))
        reps = list(s.exec(select(Replica).where(col(Replica.object_id).in_([o.id for o in objs]),
                                                 Replica.status == "ready").order_by(col(Replica.region))))
    by_obj: dict[int, list[Replica]] = {}
    for r in reps:
        by_obj.setdefault(r.object_id, []).append(r)
    return [{"key": o.key, "version": o.version, "size": o.size, "sha256": o.sha256,
             "base_region": o.base_region, "modified": o.ready_at,
             "replicas": [{"region": r.region, "base": r.is_base, "ttl_s": r.ttl_s,
                           "storage_start": r.storage_start, "expires_at": r.expires_at,
                           "expired": not is_live(r, now)} for r in by_obj.get(o.id or 0, [])]}
            for o in objs]
