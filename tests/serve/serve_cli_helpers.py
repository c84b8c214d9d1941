"""Drive `skyctl serve` as a user does: the real CLI in subprocesses, a temporary SKYCTL_HOME, short
controller intervals, and a scan of /proc for anything a service left running."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

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


def processes_with_env(marker: str) -> list[int]:
    """Live (non-zombie) processes whose environment holds `marker`, e.g. SKYCTL_SERVICE=web."""
    needle = marker.encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z" and (env.startswith(needle) or b"\0" + needle in env):
            found.append(int(entry.name))
    return found


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


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
