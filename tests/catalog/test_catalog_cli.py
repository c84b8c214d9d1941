"""`skyctl catalog`: JSON contract, sorting, exit codes.

Two tests go through a real `python -m skyctl` subprocess (the contract as users see it); the rest call the
same entry point in-process, because interpreter start-up with every command group costs seconds here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from skyctl.catalog.loader import COLUMNS
from skyctl.cli.main import run


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def _isolated_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SKYCTL_CATALOG", raising=False)
    monkeypatch.setenv("SKYCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("COLUMNS", "200")


def subprocess_skyctl(*args: str) -> Result:
    r = subprocess.run([sys.executable, "-m", "skyctl", *args], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ))
    return Result(r.returncode, r.stdout, r.stderr)


@pytest.fixture
def skyctl(capsys: pytest.CaptureFixture[str]):
    def call(*args: str) -> Result:
        capsys.readouterr()
        code = run(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)
    return call


def test_ls_json_for_one_gpu_sorted_by_on_demand_subprocess() -> None:
    r = subprocess_skyctl("catalog", "ls", "--gpu", "A100-80GB", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert rows and {row["gpu"] for row in rows} == {"A100-80GB"}
    prices = [row["price_ondemand"] for row in rows if row["price_ondemand"] is not None]
    assert prices == sorted(prices)
    assert {"cloud", "region", "zone", "instance_type", "gpu_count", "price_spot", "price_per_gpu_ondemand",
            "price_source", "price_date"} <= set(rows[0])


def test_unknown_gpu_exits_2_with_hint_subprocess() -> None:
    r = subprocess_skyctl("catalog", "ls", "--gpu", "H1000", "--json")
    assert r.returncode == 2
    assert "did you mean 'H100'" in r.stderr and "Traceback" not in r.stderr and r.stdout == ""


def test_ls_spot_filters_and_global_json_flag(skyctl) -> None:
    r = skyctl("--json", "catalog", "ls", "--gpu", "A100", "--cloud", "aws", "--spot")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {row["gpu"] for row in rows} == {"A100-40GB", "A100-80GB"}
    assert {row["cloud"] for row in rows} == {"aws"}
    spots = [row["price_spot"] for row in rows]
    assert None not in spots and spots == sorted(spots)


def test_ls_table_for_people(skyctl) -> None:
    r = skyctl("catalog", "ls", "--gpu", "H100", "--region", "us-east-1")
    assert r.returncode == 0, r.stderr
    for word in ("CLOUD", "ZONE", "$/GPU-h", "p5.48xlarge", "us-east-1a", "98.32"):
        assert word in r.stdout


def test_unknown_names_exit_2_with_hint(skyctl) -> None:
    cases = ((("--gpu", "H1000"), "did you mean 'H100'"), (("--cloud", "gpc"), "did you mean 'gcp'"),
             (("--region", "useast1"), "did you mean"), (("--count", "0"), "Invalid value"))
    for args, hint in cases:
        r = skyctl("catalog", "ls", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert hint in r.stderr and "Traceback" not in r.stderr


def test_bad_override_file_exit_2_names_line(skyctl, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(COLUMNS) + "\naws,us-east-1,us-east-1a,g5.xlarge,A10G,x,24,4,16,1,,2025,me\n")
    r = skyctl("catalog", "ls", "--catalog", str(bad))
    assert r.returncode == 2
    assert "line 2, column gpu_count" in r.stderr and "bad.csv" in r.stderr


def test_gpus_json_and_table(skyctl) -> None:
    r = skyctl("catalog", "gpus", "--json")
    assert r.returncode == 0, r.stderr
    specs = {s["name"]: s for s in json.loads(r.stdout)}
    assert specs["H100"]["bf16_tflops"] == 989.4 and specs["T4"]["bf16_tflops"] == 0
    r = skyctl("catalog", "gpus")
    assert r.returncode == 0 and "FP16 TFLOP/s" in r.stdout and "H200" in r.stdout
