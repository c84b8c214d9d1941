"""`mb` and `ls`: create a virtual bucket (and its physical bucket in every region) and list buckets or
objects with their replicas."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from skyctl.errors import UserError, did_you_mean
from skyctl.state import read_session, store_repo, write_session
from skyctl.state.store_tables import Replica, VBucket
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
        bucket = store_repo.find_bucket(s, name)
        if bucket is not None and (bucket.status == "ready" or
                                   any(getattr(bucket, k) != v for k, v in wanted.items())):
            raise UserError("a virtual bucket with this name already exists", field="NAME", value=name,
                            fix="pick another name, or `skyctl store ls` to see it")
        if bucket is None:
            bucket = store_repo.insert(s, VBucket(name=name, created_at=now, status="pending", **wanted))
    physical = store.backend(bucket)
    for region in region_list:
        physical.ensure(region)
    with write_session(store.engine) as s:
        get_bucket(s, name, ready=False).status = "ready"
    return describe(store, name)


def _info(store: Store, bucket: VBucket, objects: int, nbytes: int) -> BucketInfo:
    physical = store.backend(bucket)
    return BucketInfo(name=bucket.name, regions=list(bucket.regions), policy=bucket.policy,
                      ttl_s=bucket.ttl_s, backend=bucket.backend, base_region=bucket.base_mode,
                      status=bucket.status, objects=objects, bytes=nbytes,
                      physical_buckets={r: physical.location(r) for r in bucket.regions})


def describe(store: Store, name: str) -> BucketInfo:
    with read_session(store.engine) as s:
        bucket = get_bucket(s, name, ready=False)
        n, nbytes = store_repo.object_counts(s, bucket.id).get(bucket.id or 0, (0, 0))
    return _info(store, bucket, n, nbytes)


def list_buckets(store: Store) -> list[BucketInfo]:
    with read_session(store.engine) as s:
        buckets = store_repo.all_buckets(s)
        counts = store_repo.object_counts(s)
    return [_info(store, b, *counts.get(b.id or 0, (0, 0))) for b in buckets]


def list_objects(store: Store, target: str) -> list[dict[str, Any]]:
    """Newest ready version of each key under the prefix, with every ready replica and its expiry."""
    name, prefix = parse_target(target, need_key=False)
    now = store.clock()
    with read_session(store.engine) as s:
        bucket = get_bucket(s, name)
        objs = store_repo.newest_under_prefix(s, bucket.id or 0, prefix)
        reps = store_repo.replicas_of(s, [o.id or 0 for o in objs])
    by_obj: dict[int, list[Replica]] = {}
    for r in sorted(reps, key=lambda r: r.region):
        by_obj.setdefault(r.object_id, []).append(r)
    return [{"key": o.key, "version": o.version, "size": o.size, "sha256": o.sha256,
             "base_region": o.base_region, "modified": o.ready_at,
             "replicas": [{"region": r.region, "base": r.is_base, "ttl_s": r.ttl_s,
                           "storage_start": r.storage_start, "expires_at": r.expires_at,
                           "expired": not is_live(r, now)} for r in by_obj.get(o.id or 0, [])]}
            for o in objs]
