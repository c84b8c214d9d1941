"""The virtual-bucket rules, run against the local backend and against moto's S3 server.

Prices (bucket_support.TablePrices): storage 0.02 $/GB-month everywhere; A<->B 0.02 $/GB, A/B->C 0.09,
C->A/B 0.12. So T_even(A->B) = 30 days, T_even(C->A) = 180 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from bucket_support import DAY, REGIONS, Clock, fresh_name, make_store, s3_env
from sqlmodel import col, select

from skyctl.errors import UserError
from skyctl.state import dispose_engines, read_session, store_repo, write_session
from skyctl.state.store_tables import Replica, RequestRecord, StoredObject, Transfer
from skyctl.store import buckets, gc, objects, reads
from skyctl.store.service import Store

A, B, C = REGIONS
T_EVEN_AB = 30 * DAY


@dataclass
class Env:
    store: Store
    clock: Clock
    home: Path
    kind: str
    name: str = ""

    def mb(self, policy: str = "t-even", base: str = "first-write", ttl: float | None = None) -> str:
        self.name = fresh_name()
        buckets.make_bucket(self.store, self.name, ",".join(REGIONS), policy, ttl, self.kind, base)
        return self.name

    def put(self, key: str, data: bytes, region: str) -> objects.PutResult:
        src = self.home / "upload.bin"
        src.write_bytes(data)
        return objects.put(self.store, src, f"{self.name}/{key}", region)

    def get(self, key: str, region: str) -> tuple[reads.GetResult, bytes]:
        out = self.home / "download.bin"
        res = reads.get(self.store, f"{self.name}/{key}", out, region)
        return res, out.read_bytes()

    def replicas(self, key: str, status: str | None = "ready") -> dict[str, Replica]:
        with read_session(self.store.engine) as s:
            q = select(Replica).join(StoredObject, col(StoredObject.id) == Replica.object_id).where(
                StoredObject.key == key)
            rows = s.exec(q if status is None else q.where(Replica.status == status)).all()
        return {r.region: r for r in rows}

    def has_bytes(self, r: Replica) -> bool:
        bucket = buckets.describe(self.store, self.name)
        return self.store.backend_for(bucket.backend, self.name).exists(r.region, r.physical_key)


@pytest.fixture(params=["local", "s3"])
def env(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SKYCTL_HOME", str(tmp_path))
    for k, v in s3_env().items() if request.param == "s3" else ():
        monkeypatch.setenv(k, v)
    clock = Clock()
    yield Env(make_store(tmp_path, request.param, clock), clock, tmp_path, request.param)
    dispose_engines()


def test_put_lands_in_writer_region_as_permanent_base(env: Env) -> None:
    env.mb()
    res = env.put("a/b.txt", b"x" * 1000, B)
    assert (res.version, res.region, res.base_region, res.ttl_s, res.expires_at) == (1, B, B, -1.0, None)
    reps = env.replicas("a/b.txt")
    assert list(reps) == [B] and reps[B].is_base and reps[B].storage_start == env.clock.t
    assert env.has_bytes(reps[B])
    [obj] = buckets.list_objects(env.store, env.name)
    assert obj["key"] == "a/b.txt" and obj["size"] == 1000 and [r["region"] for r in obj["replicas"]] == [B]


def test_remote_get_copies_with_t_even_ttl_and_records_the_transfer(env: Env) -> None:
    env.mb()
    env.put("k", b"hello" * 200, A)
    env.clock.advance(60)
    res, data = env.get("k", B)
    assert data == b"hello" * 200
    assert (res.hit, res.source_region, res.copied, res.ttl_s) == (False, A, True, pytest.approx(T_EVEN_AB))
    rep = env.replicas("k")[B]
    assert rep.storage_start == env.clock.t and rep.expires_at == pytest.approx(env.clock.t + T_EVEN_AB)
    assert env.has_bytes(rep)
    with read_session(env.store.engine) as s:
        transfers = s.exec(select(Transfer)).all()
        requests = [(r.op, r.region) for r in s.exec(select(RequestRecord).order_by(col(RequestRecord.id)))]
    moved = [(t.src, t.dst, t.bytes, t.replicated, t.at) for t in transfers]
    assert moved == [(A, B, 1000, True, env.clock.t)]
    assert requests == [("PUT", A), ("GET", A), ("PUT", B)]


def test_local_hit_refreshes_expiry_without_a_transfer(env: Env) -> None:
    env.mb()
    env.put("k", b"data", A)
    env.get("k", B)
    env.clock.advance(10 * DAY)
    res, _ = env.get("k", B)
    assert res.hit and not res.copied and res.source_region == B
    assert res.expires_at == pytest.approx(env.clock.t + T_EVEN_AB)
    assert env.replicas("k")[B].expires_at == pytest.approx(env.clock.t + T_EVEN_AB)
    with read_session(env.store.engine) as s:
        assert len(s.exec(select(Transfer)).all()) == 1


def test_reads_the_cheapest_replica_and_sizes_ttl_against_a_surviving_source(env: Env) -> None:
    env.mb()
    env.put("k", b"data", C)  # base in C: C->A costs 0.12, C->B 0.12
    env.get("k", B)  # B now holds a copy (TTL 180 days, sized against C)
    assert env.replicas("k")[B].ttl_s == pytest.approx(180 * DAY)
    res, _ = env.get("k", A)
    assert res.source_region == B  # 0.02 from B beats 0.12 from C
    assert res.ttl_s == pytest.approx(T_EVEN_AB)  # B outlives now + 30 days, so the next miss costs 0.02


def test_expired_replica_is_never_served_and_is_replaced_on_the_next_read(env: Env) -> None:
    env.mb()
    env.put("k", b"data", A)
    env.get("k", B)
    old = env.replicas("k")[B]
    env.clock.advance(T_EVEN_AB + 1)
    res, data = env.get("k", B)
    assert (res.hit, res.source_region, res.copied, data) == (False, A, True, b"data")
    reps = env.replicas("k", status=None)
    assert reps[B].id != old.id and reps[B].status == "ready"
    with read_session(env.store.engine) as s:
        gone = s.get(Replica, old.id)
    assert gone is not None and gone.status == "gone" and gone.storage_end == env.clock.t
    assert not env.has_bytes(gone)


def test_gc_evicts_expired_copies_but_never_the_base(env: Env) -> None:
    env.mb()
    env.put("k", b"data", A)
    env.get("k", B)
    env.get("k", C)
    env.clock.advance(400 * DAY)
    dry = gc.gc(env.store, dry_run=True)
    assert sorted(e["region"] for e in dry.evicted) == [B, C] and dry.dry_run
    assert set(env.replicas("k")) == {A, B, C}
    report = gc.gc(env.store)
    assert sorted(e["region"] for e in report.evicted) == [B, C] and not report.kept_last
    reps = env.replicas("k", status=None)
    assert reps[A].status == "ready" and env.has_bytes(reps[A])
    for r in (reps[B], reps[C]):
        assert r.status == "gone" and r.storage_end == env.clock.t and not env.has_bytes(r)
    assert gc.gc(env.store).evicted == []
    assert env.get("k", A)[1] == b"data"
    with read_session(env.store.engine) as s:
        deletes = s.exec(select(RequestRecord.region).where(RequestRecord.op == "DELETE")).all()
    assert sorted(deletes) == [B, C]


def test_without_base_region_gc_keeps_the_copy_that_expires_last(env: Env) -> None:
    env.mb(base="none")
    put = env.put("k", b"data", A)
    assert put.base_region is None
    assert put.ttl_s == pytest.approx(0.07 / 0.02 * 30 * DAY)  # median egress into A: (0.02, 0.12)
    env.get("k", B)  # TTL 30 days, sized against A
    env.clock.advance(200 * DAY)
    report = gc.gc(env.store)
    assert [e["region"] for e in report.evicted] == [B]
    assert [e["region"] for e in report.kept_last] == [A]
    kept = env.replicas("k")[A]
    assert kept.ttl_s == -1 and kept.expires_at is None and env.has_bytes(kept)
    env.clock.advance(10_000 * DAY)
    assert gc.gc(env.store).evicted == []
    assert env.get("k", C)[1] == b"data"


def test_all_expired_without_gc_the_latest_copy_still_serves(env: Env) -> None:
    env.mb(base="none")
    env.put("k", b"data", A)
    env.clock.advance(10_000 * DAY)
    res, data = env.get("k", A)
    assert data == b"data" and res.hit and res.expires_at is None


def test_overwrite_invalidates_every_replica_of_older_versions(env: Env) -> None:
    env.mb()
    env.put("k", b"old", A)
    env.get("k", B)
    old = env.replicas("k")
    res = env.put("k", b"new!", C)
    assert res.version == 2 and res.superseded_replicas == 2
    for r in old.values():
        assert not env.has_bytes(r)
    [obj] = buckets.list_objects(env.store, env.name)
    assert obj["version"] == 2 and [r["region"] for r in obj["replicas"]] == [C]
    got, data = env.get("k", B)
    assert data == b"new!" and got.version == 2 and got.source_region == C


def test_rm_removes_every_replica_and_its_bytes(env: Env) -> None:
    env.mb()
    env.put("k", b"data", A)
    env.get("k", B)
    reps = env.replicas("k")
    out = objects.rm(env.store, f"{env.name}/k")
    assert out["replicas_deleted"] == 2 and out["regions"] == [A, B]
    assert not any(env.has_bytes(r) for r in reps.values())
    assert buckets.list_objects(env.store, env.name) == []
    with pytest.raises(UserError, match="no such object"):
        env.get("k", A)
    with pytest.raises(UserError, match="no such object"):
        objects.rm(env.store, f"{env.name}/k")


def test_always_evict_never_copies(env: Env) -> None:
    env.mb(policy="always-evict")
    env.put("k", b"data", A)
    for _ in range(2):
        res, _ = env.get("k", B)
        assert not res.copied and res.source_region == A
    assert list(env.replicas("k")) == [A]
    with read_session(env.store.engine) as s:
        assert len(s.exec(select(Transfer).where(col(Transfer.replicated).is_(False))).all()) == 2


def test_fixed_ttl_copy_expires_after_its_ttl(env: Env) -> None:
    env.mb(policy="fixed-ttl", ttl=600)
    env.put("k", b"data", A)
    assert env.get("k", B)[0].ttl_s == 600
    env.clock.advance(599)
    assert gc.gc(env.store).evicted == []
    env.clock.advance(2)
    assert [e["region"] for e in gc.gc(env.store).evicted] == [B]


def test_always_store_keeps_copies_forever(env: Env) -> None:
    env.mb(policy="always-store")
    env.put("k", b"data", A)
    res, _ = env.get("k", B)
    assert res.ttl_s == -1 and res.expires_at is None
    env.clock.advance(3650 * DAY)
    assert gc.gc(env.store).evicted == []
    assert set(env.replicas("k")) == {A, B}


def test_bad_input_names_the_field(env: Env) -> None:
    env.mb()
    with pytest.raises(UserError, match="--region"):
        env.put("k", b"x", "aws:us-east-2")
    with pytest.raises(UserError, match="segment"):
        env.put("../escape", b"x", A)
    with pytest.raises(UserError, match="no such virtual bucket"):
        reads.get(env.store, "nope-bucket/k", env.home / "o", A)
    with pytest.raises(UserError, match="already exists"):
        buckets.make_bucket(env.store, env.name, A, backend=env.kind)
    with pytest.raises(UserError, match="unknown region"):
        buckets.make_bucket(env.store, fresh_name(), "aws:us-east-1,aws:mars-1", backend=env.kind)
    with pytest.raises(UserError, match="fixed-ttl needs"):
        buckets.make_bucket(env.store, fresh_name(), A, "fixed-ttl", backend=env.kind)


def test_interrupted_mb_is_unusable_until_rerun(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    name = fresh_name()
    real = env.store.backend_for

    def failing(kind: str, vbucket: str):
        be = real(kind, vbucket)
        ensure = be.ensure

        def ensure_or_fail(region: str) -> None:
            if region == C:
                raise OSError("disk full")
            ensure(region)

        be.ensure = ensure_or_fail  # type: ignore[method-assign]
        return be

    monkeypatch.setattr(env.store, "backend_for", failing)
    with pytest.raises(OSError):
        buckets.make_bucket(env.store, name, ",".join(REGIONS), backend=env.kind)
    assert buckets.describe(env.store, name).status == "pending"
    env.name = name
    with pytest.raises(UserError, match="not fully created"):
        env.put("k", b"x", A)
    monkeypatch.setattr(env.store, "backend_for", real)
    env.store._backends.clear()
    with pytest.raises(UserError, match="already exists"):  # different settings: not a resume
        buckets.make_bucket(env.store, name, ",".join(REGIONS), "always-store", backend=env.kind)
    assert buckets.make_bucket(env.store, name, ",".join(REGIONS), backend=env.kind).status == "ready"
    assert env.put("k", b"x", A).version == 1


def test_t_evict_starts_at_half_t_even_then_learns_from_the_reads_recorded(env: Env) -> None:
    env.mb(policy="t-evict")
    env.put("k", b"x" * 1024, A)
    assert env.get("k", B)[0].ttl_s == pytest.approx(T_EVEN_AB / 2)  # no history in B yet
    env.put("k2", b"y" * 1024, A)
    with write_session(env.store.engine) as s:  # 1000 earlier reads in B, 2 h apart
        bucket = buckets.describe(env.store, env.name)
        obj = store_repo.newest_ready(s, store_repo.find_bucket(s, bucket.name).id, "k2")
        for i in range(1000):
            store_repo.record_request(s, obj.bucket_id, obj.id, A, "GET", 1024, i * 7200.0, B)
    res, _ = env.get("k2", B)
    assert res.copied and res.ttl_s == pytest.approx(2 * 3600)  # storing 2 h beats re-fetching
