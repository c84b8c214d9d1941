"""Crash safety and concurrency of virtual buckets, with real processes and threads, on both backends.

A crash is a real `os._exit` in a child process at the worst moment (half the bytes written, or the
upload done but not yet moved into place); concurrent readers are real threads and real processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from bucket_support import REGIONS, Clock, fresh_name, make_store, s3_env
from sqlmodel import col, select

from skyctl.errors import UserError
from skyctl.state import dispose_engines, read_session
from skyctl.state.store_tables import Replica, StoredObject, Transfer
from skyctl.store import buckets, gc, objects, reads

A, B, C = REGIONS
SUPPORT = str(Path(__file__).parent)
GRACE = 3600.0
START = 1_000_000.0

# Crash points: local dies half-way through writing the temporary file; S3 dies after the temporary
# upload, before the server-side copy to the real key.
_CRASH = {
    "local": """
        import shutil
        def half(fin, fout, length=0):
            data = fin.read()
            fout.write(data[: len(data) // 2])
            fout.flush()
            os._exit(9)
        shutil.copyfileobj = half
    """,
    "s3": """
        from skyctl.store.backends import s3
        real = s3.S3Backend._call
        def call(self, what, region, fn, *a, **k):
            if what == "copy":
                os._exit(9)
            return real(self, what, region, fn, *a, **k)
        s3.S3Backend._call = call
    """,
}


def _script(home: Path, kind: str, body: str, crash: bool = False) -> str:
    """A child program: a store on the same files and virtual start time, then `body`."""
    head = f"""
        import os, sys
        sys.path.insert(0, {SUPPORT!r})
        from pathlib import Path
        from bucket_support import Clock, make_store
        from skyctl.store import objects, reads
    """
    tail = f"store = make_store(Path({str(home)!r}), {kind!r}, Clock({START!r}))\n"
    crash_patch = textwrap.dedent(_CRASH[kind]) if crash else ""
    return textwrap.dedent(head) + crash_patch + tail + textwrap.dedent(body)


def _child(home: Path, kind: str, body: str, crash: bool) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _script(home, kind, body, crash)], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(params=["local", "s3"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def setup(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SKYCTL_HOME", str(tmp_path))
    for k, v in s3_env().items() if kind == "s3" else ():
        monkeypatch.setenv(k, v)  # inherited by the child processes too
    clock = Clock(START)
    store = make_store(tmp_path, kind, clock, grace_s=GRACE)
    name = fresh_name()
    buckets.make_bucket(store, name, ",".join(REGIONS), backend=kind)
    yield store, clock, name
    dispose_engines()


def _rows(store, key: str) -> list[Replica]:
    with read_session(store.engine) as s:
        return list(s.exec(select(Replica).join(StoredObject, col(StoredObject.id) == Replica.object_id)
                           .where(StoredObject.key == key).order_by(col(Replica.id))))


def _temp_count(store, name: str, kind: str, region: str, tmp_path: Path) -> int:
    if kind == "local":
        return len(list((tmp_path / "buckets" / region / ".tmp").iterdir()))
    backend = store.backend_for(kind, name)
    listing = backend._client(region).list_objects_v2(Bucket=backend.physical_bucket(region),
                                                      Prefix=".skyctl-tmp/")
    return listing.get("KeyCount", 0)


def test_interrupted_put_is_never_visible_and_gc_cleans_it(setup, kind: str, tmp_path: Path) -> None:
    store, clock, name = setup
    (tmp_path / "v1").write_bytes(b"version one")
    objects.put(store, tmp_path / "v1", f"{name}/k", A)
    (tmp_path / "v2").write_bytes(b"2" * 100_000)
    r = _child(tmp_path, kind, f"objects.put(store, Path({str(tmp_path / 'v2')!r}), {name + '/k'!r}, {A!r})",
               crash=True)
    assert r.returncode == 9, r.stderr
    out = tmp_path / "out"
    assert reads.get(store, f"{name}/k", out, A).version == 1 and out.read_bytes() == b"version one"
    [obj] = buckets.list_objects(store, name)
    assert obj["version"] == 1
    pending = [x for x in _rows(store, "k") if x.status == "pending"]
    assert len(pending) == 1 and _temp_count(store, name, kind, A, tmp_path) == 1
    assert not store.backend_for(kind, name).exists(A, pending[0].physical_key)

    clock.advance(GRACE / 2)  # the upload might still be running: leave it alone
    report = gc.gc(store)
    assert report.failed_pending == [] and report.temp_removed == 0
    clock.advance(GRACE)
    report = gc.gc(store)
    assert [e["version"] for e in report.failed_pending] == [2] and report.temp_removed == 1
    assert _temp_count(store, name, kind, A, tmp_path) == 0
    assert [x.status for x in _rows(store, "k")] == ["ready", "gone"]
    with read_session(store.engine) as s:
        assert s.exec(select(StoredObject.status).where(StoredObject.version == 2)).one() == "failed"


def test_interrupted_first_put_leaves_no_object(setup, kind: str, tmp_path: Path) -> None:
    store, _, name = setup
    (tmp_path / "f").write_bytes(b"z" * 50_000)
    r = _child(tmp_path, kind, f"objects.put(store, Path({str(tmp_path / 'f')!r}), {name + '/k'!r}, {B!r})",
               crash=True)
    assert r.returncode == 9, r.stderr
    assert buckets.list_objects(store, name) == []
    with pytest.raises(UserError, match="no such object"):
        reads.get(store, f"{name}/k", tmp_path / "out", B)
    assert not (tmp_path / "out").exists()


def test_interrupted_copy_is_invisible_holds_the_claim_and_is_retried_after_gc(setup, kind: str,
                                                                              tmp_path: Path) -> None:
    store, clock, name = setup
    (tmp_path / "f").write_bytes(b"payload" * 1000)
    objects.put(store, tmp_path / "f", f"{name}/k", A)
    r = _child(tmp_path, kind, f"reads.get(store, {name + '/k'!r}, Path({str(tmp_path / 'o1')!r}), {B!r})",
               crash=True)
    assert r.returncode == 9, r.stderr
    assert not (tmp_path / "o1").exists()
    assert [x.status for x in _rows(store, "k")] == ["ready", "pending"]
    res = reads.get(store, f"{name}/k", tmp_path / "o2", B)  # served from A; the claim is held
    assert (res.source_region, res.copied) == (A, False)
    assert (tmp_path / "o2").read_bytes() == b"payload" * 1000
    clock.advance(GRACE + 1)
    assert len(gc.gc(store).failed_pending) == 1
    res = reads.get(store, f"{name}/k", tmp_path / "o3", B)
    assert res.copied and [x.status for x in _rows(store, "k")] == ["ready", "gone", "ready"]


def test_concurrent_thread_gets_copy_once(setup, tmp_path: Path) -> None:
    store, _, name = setup
    data = bytes(range(256)) * 4000
    (tmp_path / "f").write_bytes(data)
    objects.put(store, tmp_path / "f", f"{name}/k", A)
    n = 6
    barrier = threading.Barrier(n)
    results: list[reads.GetResult] = []
    errors: list[BaseException] = []

    def read(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(reads.get(store, f"{name}/k", tmp_path / f"out{i}", C))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=read, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(r.copied for r in results) == 1
    assert [x.region for x in _rows(store, "k")] == [A, C]
    assert all((tmp_path / f"out{i}").read_bytes() == data for i in range(n))


@pytest.mark.slow  # four interpreters on a 2-core box
def test_concurrent_process_gets_copy_once(setup, kind: str, tmp_path: Path) -> None:
    store, _, name = setup
    data = b"q" * 200_000
    (tmp_path / "f").write_bytes(data)
    objects.put(store, tmp_path / "f", f"{name}/k", A)
    go = tmp_path / "go"
    body = f"""
        import time
        for _ in range(600):  # wait (bounded) for the start signal so the readers really overlap
            if Path({str(go)!r}).exists():
                break
            time.sleep(0.01)
        res = reads.get(store, {name + '/k'!r}, Path({str(tmp_path)!r}) / f"out{{os.getpid()}}", {B!r})
        print(int(res.copied))
    """
    code = _script(tmp_path, kind, body)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _, e in outs]
    assert sum(int(o.strip()) for o, _ in outs) == 1
    assert [x.region for x in _rows(store, "k")] == [A, B]
    assert all(p.read_bytes() == data for p in tmp_path.glob("out*"))
    with read_session(store.engine) as s:
        assert sum(t.replicated for t in s.exec(select(Transfer))) == 1


def test_racing_puts_keep_the_highest_version(setup, kind: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """v1 starts first but finishes after v2: v2 stays visible and v1's bytes are removed."""
    store, _, name = setup
    release, started = threading.Event(), threading.Event()
    real = store.backend_for

    def gated(kind: str, vbucket: str):
        be = real(kind, vbucket)
        put_file = be.put_file

        def slow_put(region: str, key: str, src: Path, now: float) -> None:
            if src.read_bytes() == b"one":
                started.set()
                assert release.wait(timeout=60)
            put_file(region, key, src, now)

        be.put_file = slow_put  # type: ignore[method-assign]
        return be

    monkeypatch.setattr(store, "backend_for", gated)
    store._backends.clear()
    (tmp_path / "one").write_bytes(b"one")
    (tmp_path / "two").write_bytes(b"two")
    first: list[objects.PutResult] = []
    t = threading.Thread(target=lambda: first.append(objects.put(store, tmp_path / "one", f"{name}/k", A)))
    t.start()
    assert started.wait(timeout=60)
    assert objects.put(store, tmp_path / "two", f"{name}/k", B).version == 2
    release.set()
    t.join(timeout=60)
    assert first[0].version == 1
    assert reads.get(store, f"{name}/k", tmp_path / "out", C).version == 2
    assert (tmp_path / "out").read_bytes() == b"two"
    with read_session(store.engine) as s:
        statuses = dict(s.exec(select(StoredObject.version, StoredObject.status)).all())
    assert statuses == {1: "superseded", 2: "ready"}
    v1 = _rows(store, "k")[0]
    assert v1.region == A and v1.status == "gone" and not real(kind, name).exists(A, v1.physical_key)
