"""`skyctl serve simulate` through the CLI: a trace folder by path, JSON output, the plot, and clear errors
for a missing paper-trace folder and an unknown policy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def write_trace(folder: Path) -> Path:
    folder.mkdir()
    values = {"us-east-1a": [2, 2, 0, 0, 2, 2], "us-east-2a": [2, 0, 0, 2, 2, 2], "us-west-2a": [2] * 6}
    for zone, data in values.items():
        (folder / f"{zone}_v100_1.json").write_text(json.dumps({"metadata": {"gap_seconds": 600},
                                                                "data": data}))
    return folder


def skyctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "skyctl", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_simulate_json_and_plot(tmp_path: Path) -> None:
    trace = write_trace(tmp_path / "tiny")
    png = tmp_path / "out.png"
    r = skyctl("serve", "simulate", "--trace", str(trace), "--policy", "ondemand,spothedge,optimal",
               "--hours", "0.5", "--repeats", "2", "--jobs", "1", "--json", "--plot", str(png))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["policy"] for row in rows] == ["ondemand", "spothedge", "optimal"]
    assert set(rows[0]) == {"policy", "availability_pct", "cost_pct_of_ondemand", "preemptions",
                            "ondemand_hours"}
    by = {row["policy"]: row for row in rows}
    assert by["ondemand"]["cost_pct_of_ondemand"] == 100 and by["ondemand"]["availability_pct"] == 100
    assert by["optimal"]["cost_pct_of_ondemand"] <= by["spothedge"]["cost_pct_of_ondemand"] < 100
    assert by["spothedge"]["preemptions"] > 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_simulate_table(tmp_path: Path) -> None:
    r = skyctl("serve", "simulate", "--trace", str(write_trace(tmp_path / "tiny")), "--policy", "skyctl",
               "--hours", "0.5", "--repeats", "1")
    assert r.returncode == 0, r.stderr
    assert "skyctl" in r.stdout and "AVAILABILITY %" in r.stdout


@pytest.mark.parametrize("args, env, field", [
    (["--trace", "aws1"], {"SKYCTL_TRACES_DIR": "/nonexistent/traces"}, "--trace"),
    (["--trace", "nowhere/at/all"], {}, "--trace"),
    (["--trace", "TINY", "--policy", "spothedge,greedy"], {}, "--policy"),
    (["--trace", "TINY", "--hours", "100"], {}, "--hours"),
])
def test_simulate_bad_input_is_one_clear_error(tmp_path: Path, args: list[str], env: dict[str, str],
                                               field: str) -> None:
    trace = str(write_trace(tmp_path / "tiny"))
    r = skyctl("serve", "simulate", *[trace if a == "TINY" else a for a in args], env=env)
    assert r.returncode == 2, r.stderr
    assert field in r.stderr and "Traceback" not in r.stderr
