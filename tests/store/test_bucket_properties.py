"""Property test: random interleavings of put, get, rm, time passing and gc on the local backend keep the
virtual-bucket invariants."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bucket_support import DAY, REGIONS, Clock, make_store
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from skyctl.errors import UserError
from skyctl.state import dispose_engines, read_session, store_repo
from skyctl.store import buckets, gc, objects, reads

KEYS = ["a", "b/c"]
OPS = st.lists(st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), st.sampled_from(REGIONS), st.binary(max_size=64)),
    st.tuples(st.just("get"), st.sampled_from(KEYS), st.sampled_from(REGIONS)),
    st.tuples(st.just("rm"), st.sampled_from(KEYS)),
    st.tuples(st.just("wait"), st.sampled_from([0.0, 3600.0, 2 * DAY, 10 * DAY, 40 * DAY, 200 * DAY])),
    st.tuples(st.just("gc")),
), min_size=4, max_size=25)


def _check_invariants(store, name: str, root: Path, latest: dict[str, bytes], after_gc: bool) -> None:
    """Visible keys are exactly the ones put and not removed; each keeps a ready copy (a live one right
    after gc); the bytes on disk are exactly those of the ready copies: none missing, no orphans."""
    now = store.clock()
    with read_session(store.engine) as s:
        bucket = store_repo.find_bucket(s, name)
        visible = store_repo.newest_under_prefix(s, bucket.id, "")
        assert {o.key for o in visible} == set(latest)
        ready = {o.key: store_repo.replicas_of(s, [o.id]) for o in visible}
    for key, reps in ready.items():
        assert reps, f"{key} lost its last copy"
        if after_gc:
            assert any(r.expires_at is None or r.expires_at > now for r in reps), f"{key}: no live copy"
    expected = {(r.region, r.physical_key) for reps in ready.values() for r in reps}
    on_disk = {(p.relative_to(root).parts[0], "/".join(p.relative_to(root).parts[2:]))
               for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts}
    assert on_disk == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, base=st.sampled_from(["first-write", "none"]),
       policy=st.sampled_from(["t-even", "fixed-ttl"]))
@example(ops=[("put", "a", REGIONS[0], b"x"), ("get", "a", REGIONS[1]), ("wait", 200 * DAY), ("gc",),
              ("get", "a", REGIONS[2])], base="none", policy="t-even")
def test_random_histories_keep_the_invariants(ops, base: str, policy: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        clock = Clock()
        store = make_store(home, "local", clock)
        name = "prop"
        ttl = 3 * DAY if policy == "fixed-ttl" else None
        buckets.make_bucket(store, name, ",".join(REGIONS), policy, ttl, "local", base)
        latest: dict[str, bytes] = {}
        base_ids: set[int] = set()
        src, out = home / "src", home / "out"
        for op in ops:
            if op[0] == "put":
                _, key, region, data = op
                src.write_bytes(data)
                objects.put(store, src, f"{name}/{key}", region)
                latest[key] = data
            elif op[0] == "get":
                _, key, region = op
                if key in latest:
                    assert reads.get(store, f"{name}/{key}", out, region).size == len(latest[key])
                    assert out.read_bytes() == latest[key]
                else:
                    try:
                        reads.get(store, f"{name}/{key}", out, region)
                        raise AssertionError("read a removed object")
                    except UserError:
                        pass
            elif op[0] == "rm" and op[1] in latest:
                objects.rm(store, f"{name}/{op[1]}")
                del latest[op[1]]
            elif op[0] == "wait":
                clock.advance(op[1])
            elif op[0] == "gc":
                gc.gc(store)
            with read_session(store.engine) as s:
                base_ids |= {r.id or 0 for r in store_repo.replicas_in_status(s, "ready") if r.is_base}
            _check_invariants(store, name, home / "buckets", latest, after_gc=op[0] == "gc")
        with read_session(store.engine) as s:  # a base copy is only ever removed with its version
            for r in store_repo.replicas_in_status(s, "gone"):
                if r.id in base_ids:
                    assert store_repo.get_object(s, r.object_id).status in ("superseded", "deleted")
        dispose_engines()
