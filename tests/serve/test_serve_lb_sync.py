"""The load balancer against a real SQLite state database: the ready set and weights it reads, keeping
the last-known set when the database is unreadable, request counts landing in `serve_request_count`,
the API key from the service row, and the `python -m skyctl.serve.load_balancer` process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import threading
from pathlib import Path

import httpx
import pytest
from serve_lb_db import add_replica, make_service, set_status
from serve_lb_harness import free_port, upstreams, wait_until

from skyctl.serve.load_balancer import lb_command
from skyctl.serve.load_balancer.policies import LeastLoad
from skyctl.serve.load_balancer.proxy import LoadBalancerApp, key_digest
from skyctl.serve.load_balancer.server import LoadBalancerServer
from skyctl.serve.load_balancer.sync import DbStore, Syncer
from skyctl.state import get_engine, read_session, serve_repo

pytestmark = pytest.mark.usefixtures("serve_home")


def test_sync_reads_ready_set_policy_and_capacity_weights(tmp_path: Path) -> None:
    sid = make_service(tmp_path)
    r1 = add_replica(sid, "http://127.0.0.1:9001", "H100")
    r2 = add_replica(sid, "http://127.0.0.1:9002", "L4")
    add_replica(sid, "http://127.0.0.1:9003", "L4", status="STARTING")
    app = LoadBalancerApp(LeastLoad())
    syncer = Syncer(app, DbStore(sid))
    asyncio.run(syncer.sync_once())
    assert app.policy.name == "instance_aware_least_load"
    assert [(b.replica_id, b.endpoint, b.weight) for b in app.policy.backends] == \
        [(r1, "http://127.0.0.1:9001", 10), (r2, "http://127.0.0.1:9002", 2)]
    set_status(sid, r1, "NOT_READY")
    asyncio.run(syncer.sync_once())
    assert [b.replica_id for b in app.policy.backends] == [r2]


def test_unreadable_database_keeps_last_known_set_and_counts(tmp_path: Path, caplog) -> None:
    sid = make_service(tmp_path)
    add_replica(sid, "http://127.0.0.1:9001")
    engine = get_engine()
    app = LoadBalancerApp(LeastLoad())
    syncer = Syncer(app, DbStore(sid, engine))
    asyncio.run(syncer.sync_once())
    db = Path(engine.url.database)
    engine.dispose()
    moved = tmp_path / "moved"
    moved.mkdir()
    for f in db.parent.glob("state.db*"):
        f.rename(moved / f.name)
    db.mkdir()  # a directory where the database was: every connect fails
    for _ in range(3):
        app.counter.hit()
        asyncio.run(syncer.sync_once())
    assert syncer.failing
    assert [b.endpoint for b in app.policy.backends] == ["http://127.0.0.1:9001"]
    assert sum("keeping the last-known 1 replica" in r.message for r in caplog.records) == 1
    db.rmdir()
    for f in moved.iterdir():
        f.rename(db.parent / f.name)
    add_replica(sid, "http://127.0.0.1:9002")
    asyncio.run(syncer.sync_once())
    assert not syncer.failing and len(app.policy.backends) == 2
    with read_session(engine) as s:
        assert serve_repo.request_count(s, sid, 0) == 3  # counts held back while the DB was away


def run_in_thread(server: LoadBalancerServer) -> threading.Thread:
    thread = threading.Thread(target=asyncio.run, args=(server.serve(),), daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), what="load balancer start")
    return thread


def test_server_routes_from_db_counts_requests_and_checks_api_key(tmp_path: Path) -> None:
    sid = make_service(tmp_path, api_key_sha256=key_digest("k1"), policy="round_robin")
    with upstreams("a", "b") as [(a, a_url), (b, b_url)]:
        add_replica(sid, a_url)
        add_replica(sid, b_url)
        port = free_port()
        server = LoadBalancerServer(DbStore(sid), "127.0.0.1", port, sync_interval_s=0.1)
        thread = run_in_thread(server)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                assert client.get("/v1/models").status_code == 401
                ok = {"Authorization": "Bearer k1"}
                replies = [client.get("/", headers=ok).json()["replica"] for _ in range(6)]
                assert sorted(replies) == ["a"] * 3 + ["b"] * 3 and a.hits == b.hits == 3
        finally:
            server.stop()
            thread.join(timeout=15)
        assert not thread.is_alive()
    with read_session() as s:
        assert serve_repo.request_count(s, sid, 0) == 6  # 401s are not demand


def test_module_process_serves_and_exits_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    sid = make_service(tmp_path, lb_port=port)
    log = tmp_path / "load_balancer.log"
    with upstreams("a") as [(a, url)]:
        add_replica(sid, url)
        cmd = lb_command(sid)
        assert cmd[-2:] == ["--service-id", str(sid)] and lb_command(sid, 5)[-2:] == ["--port", "5"]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            def answers() -> bool:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/x", timeout=1).status_code == 201
                except httpx.TransportError:
                    assert proc.poll() is None, log.read_text()
                    return False
            wait_until(answers, timeout_s=30, what="load balancer process serving")
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0 and a.hits >= 1
        finally:
            if proc.poll() is None:
                proc.kill()
    text = log.read_text()
    assert "ready replicas: #1 " + url in text and "load balancer stopped" in text
    with read_session() as s:
        assert serve_repo.request_count(s, sid, 0) >= 1
