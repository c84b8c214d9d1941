"""Drive `skyctl serve` as a user does: the real CLI in subprocesses, a temporary SKYCTL_HOME, short
controller intervals, and a scan of /proc for anything a service left running."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from serve_helpers import processes_with_env

HTTP_RUN = f"exec {sys.executable} -m http.server $SKYCTL_PORT --bind 127.0.0.1"
FAST_ENV = {
    "SKYCTL_SERVE_TICK_SECONDS": "0.2",
    "SKYCTL_SERVE_PROBE_INTERVAL_SECONDS": "0.5",
    "SKYCTL_SERVE_STARTING_PROBE_INTERVAL_SECONDS": "0.2",
    "SKYCTL_SERVE_DRAIN_SECONDS": "0",
    "SKYCTL_SERVE_DECISION_INTERVAL_SECONDS": "0.5",
}


def http_service_yaml(name: str, *, replicas: int = 2, spot: bool = True, extra_env: str = "") -> str:
    """A service of tiny Python HTTP servers on the local provider; spot replicas spread over two zones
    (SkyServe's dynamic_fallback placer)."""
    envs = f"envs:\n  {extra_env}\n" if extra_env else ""
    placer = "    spot_placer: dynamic_fallback\n" if spot else ""
    return (f"name: {name}\nservice:\n  readiness_probe:\n    path: /\n    initial_delay_seconds: 60\n"
            f"    timeout_seconds: 2\n  replica_policy:\n    min_replicas: {replicas}\n{placer}"
            "resources:\n  cloud: local\n"
            f"  use_spot: {str(spot).lower()}\n  any_of:\n    - zone: local-a\n    - zone: local-b\n"
            f"{envs}run: {HTTP_RUN}\n")


@dataclass
class Cli:
    home: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([sys.executable, "-m", "skyctl", *args], env=self.env, capture_output=True,
                             text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"skyctl {' '.join(args)} exited {res.returncode}:\n"
                                 f"{res.stdout}\n{res.stderr}")
        return res

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").stdout)

    def service(self, name: str) -> dict[str, Any]:
        return self.json("serve", "status", name)[0]

    def write(self, filename: str, text: str) -> Path:
        path = self.home / filename
        path.write_text(text)
        return path


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "SKYCTL_HOME": str(home), **FAST_ENV}
    env.pop("SKYCTL_DB_URL", None)
    c = Cli(home, env)
    yield c
    # Never leave a service running, even when the test failed half-way.
    c.run("serve", "down", "--all", check=False)
    for pid in processes_with_env(f"SKYCTL_HOME={home}"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
