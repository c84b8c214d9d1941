"""The README's main job: `examples/serve/demo.sh` brings the bundled agent up behind the endpoint, sends
completions, shows status, takes it down, and reports the cost; nothing is left running."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from serve_helpers import processes_with_env

pytest.importorskip("torch", reason="the demo's replicas run the agent: pip install -e '.[agent]'")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_script_runs_and_leaves_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "SKYCTL_HOME": str(tmp_path)}
    env.pop("SKYCTL_DB_URL", None)
    res = subprocess.run(["bash", str(ROOT / "examples" / "serve" / "demo.sh")], env=env, capture_output=True,
                         text=True, timeout=240)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "streamed" in out and "data: [DONE]" in out
    assert "No service is up" in out
    report = out.rsplit("+ skyctl cost-report", 1)[1]
    assert "skyctl-demo" in report
    assert not processes_with_env(f"SKYCTL_HOME={tmp_path}")
