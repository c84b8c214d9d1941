"""Profile the bundled replica agent (a real process serving its tiny random Llama on CPU)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from skyctl.gpu_mix.profile_client import SweepConfig, run_sweep

pytest.importorskip("torch")
pytest.importorskip("replica_agent.server.app")


@pytest.fixture(scope="module")
def agent() -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen([sys.executable, "-m", "replica_agent", "serve", "--port", str(port),
                             "--device", "cpu", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                httpx.get(url + "/v1/models", timeout=1.0)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        if proc.poll() is not None or time.monotonic() >= deadline:
            out = proc.stdout.read() if proc.poll() is not None else ""
            pytest.fail(f"replica agent did not start: {out[-500:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_profiles_the_replica_agent(agent: str) -> None:
    cfg = SweepConfig(endpoint=agent, input_edges=(16, 128), output_edges=(16,), slo_tpot_ms=5000.0,
                      rates=(4.0,), requests_per_point=3, max_seconds=60, token_ids=True)
    res = run_sweep(cfg)
    assert res.unmeasured == []
    for b in res.buckets:
        (p,) = b.points
        assert p.failed == 0 and p.mean_tpot_ms > 0 and p.mean_ttft_ms > 0
        assert b.throughput > 0
