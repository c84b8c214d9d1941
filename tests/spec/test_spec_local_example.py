"""The local example is runnable as written: its `run` starts the bundled agent on `$SKYCTL_PORT` and
its readiness probe gets HTTP 200 from it, as the local provider and the prober will do it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import httpx
import pytest
from spec_helpers import EXAMPLES

from skyctl.spec import load_service_spec

pytest.importorskip("torch")  # the agent's engine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_local_example_run_answers_its_readiness_probe(tmp_path) -> None:
    spec = load_service_spec(EXAMPLES / "local.yaml")
    probe = spec.service.readiness_probe
    port = _free_port()
    url = f"http://127.0.0.1:{port}{probe.path}"
    task_envs = {k: v for k, v in spec.task.envs.items() if v is not None}
    envs = {**os.environ, **task_envs, "SKYCTL_PORT": str(port)}
    log = tmp_path / "agent.log"
    with log.open("wb") as out:  # a file, not a pipe: a chatty agent must never block on a full pipe
        proc = subprocess.Popen(["bash", "-c", spec.task.run], env=envs, start_new_session=True, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + min(probe.initial_delay_seconds, 120)
    status = None
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.request(probe.method, url, json=probe.post_data, headers=dict(probe.headers),
                                       timeout=probe.timeout_seconds).status_code
            except httpx.TransportError:
                status = None
            if status == 200:
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert status == 200, f"probe never passed; agent output:\n{log.read_text()[-2000:]}"
