"""A controller killed with SIGKILL at any point of a launch; a fresh process finds and stops everything.

Each side runs in its own interpreter, as a crashed and a restarted controller would, sharing only the
provider's files under one root.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from provider_harness import HTTP_RUN, processes_with_env

SVC = f"crash-{uuid.uuid4().hex[:6]}"  # unique, so process checks never see another run's replicas
SETUP = """
import json, os, signal, sys
from providers.base import LaunchSpec
from providers.local import LocalProvider
p = LocalProvider(sys.argv[1], grace_seconds=2.0)
def spec(rid, spot):
    return LaunchSpec(SVC, rid, f"svc-{rid}-key", spot=spot, zone="local-b", run=RUN)
"""


def _python(root: Path, body: str) -> subprocess.CompletedProcess[str]:
    code = f"RUN = {HTTP_RUN!r}\nSVC = {SVC!r}\n" + SETUP + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code, str(root)],
                          capture_output=True, text=True, timeout=60)


RESTART = """
import time
deadline = time.monotonic() + 15
while time.monotonic() < deadline and any(i.state.value == "pending" for i in p.list(SVC)):
    time.sleep(0.05)
before = {i.id: i.state.value for i in p.list(SVC)}
again = p.launch(spec("1", True)).id  # the restarted controller retries its launch: same key
p.terminate(list(before))
print(json.dumps({"before": before, "again": again,
                  "after": {i.id: i.state.value for i in p.list(SVC)}}))
"""


def _restart(root: Path) -> dict:
    done = _python(root, RESTART)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_killed_after_launch_then_restart_finds_and_terminates_everything(tmp_path: Path) -> None:
    crashed = _python(tmp_path, """
        ids = [p.launch(spec("1", True)).id, p.launch(spec("2", False)).id]
        print(json.dumps(ids), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert crashed.returncode == -9
    ids = json.loads(crashed.stdout)
    seen = _restart(tmp_path)
    assert seen["before"] == dict.fromkeys(ids, "running")
    assert seen["again"] == ids[0]  # no duplicate launch
    assert seen["after"] == dict.fromkeys(ids, "terminated")
    assert processes_with_env(f"SKYCTL_SERVICE={SVC}") == []


@pytest.mark.parametrize("crash_point", ["after_spawn", "before_spawn"])
def test_killed_mid_launch_leaves_no_orphan_and_no_duplicate(tmp_path: Path, crash_point: str) -> None:
    """Killed after the process started but before its pid was recorded, or before it started at all."""
    crashed = _python(tmp_path, f"""
        original = LocalProvider._spawn
        def spawn_then_die(self, *args):
            if {crash_point!r} == "after_spawn":
                original(self, *args)
            os.kill(os.getpid(), signal.SIGKILL)
        LocalProvider._spawn = spawn_then_die
        p.launch(spec("1", True))
    """)
    assert crashed.returncode == -9
    seen = _restart(tmp_path)
    [inst_id] = seen["before"]
    if crash_point == "after_spawn":
        # the wrapper recorded its own pid, so the restart adopts the running process
        assert seen["before"] == {inst_id: "running"} and seen["again"] == inst_id
        assert seen["after"] == {inst_id: "terminated"}
    else:
        # nothing ran; the restart's retry under the same key starts it once, then terminate stops it
        assert seen["before"] == {inst_id: "failed"} and seen["again"] == inst_id
    assert processes_with_env(f"SKYCTL_SERVICE={SVC}") == []
