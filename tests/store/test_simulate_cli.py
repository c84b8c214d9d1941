"""`skyctl store simulate` / `gen-trace` end to end through the real entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from skyctl.cli.main import run

REGIONS = "aws:us-east-1,azure:westeurope,gcp:us-west1"


def skyctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skyctl", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "e.csv"
    r = skyctl("store", "gen-trace", "--out", str(out), "--type", "E", "--regions", REGIONS,
               "--objects", "60", "--days", "2", "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows"] > 100
    return out


def test_simulate_json_every_policy(trace):
    r = skyctl("store", "simulate", "--trace", str(trace), "--time-scale", "90", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    names = [row["policy"] for row in rows]
    assert names[:3] == ["always-store", "always-evict", "replicate-all"] and "optimum" in names
    for row in rows:
        assert set(row) >= {"policy", "storage_cost", "network_cost", "request_cost", "total_cost", "hits",
                            "misses"}
        parts = row["storage_cost"] + row["network_cost"] + row["request_cost"]
        assert row["total_cost"] == pytest.approx(parts)
    opt = next(row["total_cost"] for row in rows if row["policy"] == "optimum")
    assert all(opt <= row["total_cost"] + 1e-9 for row in rows if row["policy"] != "single-region")


def test_simulate_table_and_plot(trace, tmp_path):
    png = tmp_path / "c.png"
    r = skyctl("store", "simulate", "--trace", str(trace), "--policy", "t-even,t-evict", "--plot", str(png),
               "--base-region", "none")
    assert r.returncode == 0, r.stderr
    assert "t-evict" in r.stdout and "TOTAL" in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args", [
    ("--policy", "nope"),
    ("--base-region", "last"),
    ("--regions", "aws:us-east-1"),
    ("--time-scale", "0"),
])
def test_usage_errors_exit_2(trace, args, capsys):
    assert run(["store", "simulate", "--trace", str(trace), *args]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err
