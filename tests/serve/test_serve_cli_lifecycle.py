"""`skyctl serve` end to end through the real CLI: up, status, traffic through the endpoint, preemption
and replacement, logs, a controller killed and restarted by the next command, update, and down leaving
nothing behind."""

from __future__ import annotations

import os
import signal

import httpx
import pytest
from serve_cli_helpers import Cli, cli, http_service_yaml
from serve_helpers import processes_with_env, wait_for

from skyctl.state import dispose_engines, read_session
from skyctl.state import serve_repo as repo

__all__ = ["cli"]

pytestmark = pytest.mark.slow
REPLICA_KEYS = {"id", "status", "cloud", "region", "zone", "spot", "endpoint", "price_per_hour"}


def _ready(svc: dict) -> list[dict]:
    return [r for r in svc["replicas"] if r["status"] == "READY"]


def _controller_pid(cli: Cli, name: str) -> int | None:
    os.environ["SKYCTL_HOME"] = str(cli.home)
    dispose_engines()
    try:
        with read_session() as s:
            row = repo.live_service(s, name)
            return row.controller_pid if row else None
    finally:
        dispose_engines()


def test_up_traffic_preempt_restart_update_down(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYCTL_HOME", str(cli.home))
    spec = cli.write("web.yaml", http_service_yaml("web", replicas=2))
    up = cli.json("serve", "up", str(spec), "--timeout", "60")
    assert up["name"] == "web" and up["endpoint"].startswith("http://127.0.0.1:")

    wait_for(lambda: len(_ready(cli.service("web"))) == 2, 60, "two READY replicas")
    svc = cli.service("web")
    assert svc["status"] == "READY"
    for r in svc["replicas"]:
        assert set(r) >= REPLICA_KEYS
        assert r["cloud"] == "local" and r["spot"] is True and r["zone"] in ("local-a", "local-b")
        assert r["price_per_hour"] == {"local-a": 0.30, "local-b": 0.32}[r["zone"]]
    # Spot placement spreads over the two zones.
    assert {r["zone"] for r in svc["replicas"]} == {"local-a", "local-b"}

    # Traffic through the load balancer reaches the replicas.
    for _ in range(4):
        assert httpx.get(svc["endpoint"] + "/", timeout=10).status_code == 200

    # A preempted spot replica is replaced by a new one that becomes READY.
    victim = svc["replicas"][0]["id"]
    cli.run("serve", "preempt", "web", str(victim))
    wait_for(lambda: any(r["id"] > 2 and r["status"] == "READY" for r in cli.service("web")["replicas"]),
             60, "a replacement replica READY")
    assert all(r["id"] != victim for r in _ready(cli.service("web")))

    # Logs of the controller are there and end without --follow.
    logs = cli.run("serve", "logs", "web", "--controller", "--no-follow")
    assert logs.stdout.strip()

    # kill -9 the controller: the next command restarts it, and no replica is launched twice.
    before = {r["id"] for r in cli.service("web")["replicas"]}
    pid = _controller_pid(cli, "web")
    assert pid
    os.kill(pid, signal.SIGKILL)
    cli.run("serve", "status", "web")  # any serve command restarts a dead controller
    wait_for(lambda: _controller_pid(cli, "web") != pid, 30, "a restarted controller")
    after = cli.service("web")
    assert {r["id"] for r in after["replicas"]} == before
    assert len(_ready(after)) == 2

    # Update: a changed task rolls replicas over to version 2.
    spec2 = cli.write("web2.yaml", http_service_yaml("web", replicas=2, extra_env="FLAVOUR: two"))
    cli.run("serve", "update", "web", str(spec2))
    wait_for(lambda: sum(r["version"] == 2 for r in _ready(cli.service("web"))) == 2, 60,
             "two READY replicas of version 2")
    wait_for(lambda: all(r["version"] == 2 for r in cli.service("web")["replicas"]), 60,
             "old replicas gone")

    # Down leaves no process behind: no replica, no controller, no load balancer.
    cli.run("serve", "down", "web")
    assert cli.json("serve", "status") == []
    wait_for(lambda: not processes_with_env(f"SKYCTL_HOME={cli.home}"), 15, "every process to exit")
    with pytest.raises(httpx.TransportError):
        httpx.get(svc["endpoint"] + "/", timeout=2)


def test_user_errors_exit_2_with_one_line(cli: Cli) -> None:
    spec = cli.write("web.yaml", http_service_yaml("web", replicas=1))
    res = cli.run("serve", "status", "nope", check=False)
    assert res.returncode == 2 and "no such service" in res.stderr and "Traceback" not in res.stderr

    bad = cli.write("bad.yaml", http_service_yaml("web").replace("replicas: 2", "replicas: -1"))
    res = cli.run("serve", "up", str(bad), check=False)
    assert res.returncode == 2 and "replicas" in res.stderr and "Traceback" not in res.stderr

    res = cli.run("serve", "preempt", "web", "1", check=False)
    assert res.returncode == 2 and "no service is up" in res.stderr

    cli.run("serve", "up", str(spec), "--detach")
    res = cli.run("serve", "up", str(spec), "--detach", check=False)
    assert res.returncode == 2 and "already up" in res.stderr
    res = cli.run("serve", "status", "wbe", check=False)
    assert res.returncode == 2 and "did you mean 'web'" in res.stderr

    plan = cli.json("serve", "validate", str(spec))
    assert plan["spec"]["name"] == "web"
    assert plan["plan"]["candidates"]


def test_https_endpoint_with_api_key(cli: Cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`service.tls` serves HTTPS with the given certificate; `--api-key` makes the endpoint require it."""
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    text = http_service_yaml("secure", replicas=1).replace(
        "service:\n", f"service:\n  tls:\n    keyfile: {key}\n    certfile: {cert}\n")
    spec = cli.write("secure.yaml", text)
    svc = cli.json("serve", "up", str(spec), "--api-key", "s3cret", "--timeout", "60")
    assert svc["endpoint"].startswith("https://127.0.0.1:")
    trust = ssl.create_default_context(cafile=str(cert))
    assert httpx.get(svc["endpoint"] + "/", verify=trust, timeout=10).status_code == 401
    ok = httpx.get(svc["endpoint"] + "/", verify=trust, timeout=10,
                   headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    cli.run("serve", "down", "secure")
