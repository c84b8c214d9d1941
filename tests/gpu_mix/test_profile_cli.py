"""`skyctl gpu-mix estimate` and `skyctl gpu-mix profile` end to end: files written, JSON, exit codes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from test_profile_endpoint import server  # noqa: F401 (the fake OpenAI server fixture)

from skyctl.cli.main import run
from skyctl.gpu_mix.profile_io import read_profile


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def skyctl(capsys: pytest.CaptureFixture[str]):
    """The CLI in-process (its error boundary included), so each call costs no interpreter start."""

    def call(*args: str) -> Result:
        code = run(list(args))
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return call


def test_estimate_writes_a_labelled_profile(skyctl, tmp_path: Path) -> None:
    out = tmp_path / "p.yaml"
    r = skyctl("gpu-mix", "estimate", "--model-params", "7e9", "--gpus", "L4,a10g,A100-80GB,H100",
               "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "estimate, not measured" in r.stderr
    assert "A10G: max req/s" in r.stdout
    prof = read_profile(out)
    assert set(prof.tputs) == {"L4", "A10G", "A100-80GB", "H100"}
    assert prof.source.startswith("estimate:") and prof.slo_tpot_ms == 120
    assert prof.shape == (6, 6)
    assert yaml.safe_load(out.read_text())["kind"] == "skyctl/profile-v1"


def test_estimate_json_and_custom_shape(skyctl, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    r = skyctl("--json", "gpu-mix", "estimate", "--model-params", "8e9", "--layers", "32", "--hidden", "4096",
               "--kv-heads", "8", "--dtype", "bf16", "--gpus", "L4", "--input-edges", "100,1000",
               "--output-edges", "100,1000", "--out", str(out))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["estimate"] is True and data["model_shape"]["kv_heads"] == 8
    assert data["profile"]["input_edges"] == [100, 1000]
    assert json.loads(out.read_text())["gpus"]["L4"] == data["profile"]["gpus"]["L4"]


def test_estimate_bad_input_is_one_line_exit_2(skyctl) -> None:
    for args, needle in ((["--gpus", "L5"], "unknown GPU"), (["--kv-heads", "5"], "--kv-heads"),
                         (["--input-edges", "25,x"], "--input-edges"), (["--dtype", "fp12"], "--dtype"),
                         (["--bandwidth-efficiency", "1.5"], "--bandwidth-efficiency")):
        r = skyctl("gpu-mix", "estimate", "--model-params", "7e9", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert needle in r.stderr and "Traceback" not in r.stderr


def test_profile_writes_and_merges_into_an_existing_file(skyctl, server, tmp_path: Path) -> None:  # noqa: F811
    url, _ = server
    out = tmp_path / "measured.yaml"
    # SLO over 3x the fake engine's ~25-30 ms TPOT at 8 running requests: at 50 ms a loaded 2-core box (the
    # full suite) once measured the 8-token bucket at 0 req/s
    common = ["--endpoint", url, "--slo-tpot-ms", "100", "--input-edges", "16", "--output-edges", "8,32",
              "--rates", "10000", "--requests-per-point", "8", "--max-seconds", "30", "--out", str(out)]
    r = skyctl("gpu-mix", "profile", "--gpu", "L4", *common)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    r = skyctl("--json", "gpu-mix", "profile", "--gpu", "h100", *common)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["gpu"] == "H100" and data["unmeasured"] == []
    assert data["tputs"][0][0] > data["tputs"][0][1] > 0
    prof = read_profile(out)
    assert set(prof.tputs) == {"L4", "H100"} and prof.source.startswith("measured: http://127.0.0.1")
    r = skyctl("gpu-mix", "profile", "--gpu", "A10G", *common[:-6], "--max-seconds", "30",
               "--slo-tpot-ms", "150", "--out", str(out))
    assert r.returncode == 2 and "cannot merge" in r.stderr  # different SLO: refused before profiling


def test_profile_unreachable_endpoint_is_one_line_exit_1(tmp_path: Path) -> None:
    """A real process: exit status and stderr as a user sees them."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    r = subprocess.run([sys.executable, "-m", "skyctl", "gpu-mix", "profile", "--endpoint",
                        f"http://127.0.0.1:{port}", "--gpu", "L4", "--out", str(tmp_path / "x.yaml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "cannot profile" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3  # one message, possibly soft-wrapped
    assert not (tmp_path / "x.yaml").exists()


def test_profile_bad_arguments_exit_2(skyctl, tmp_path: Path) -> None:
    for args in (["--endpoint", "localhost:8000"], ["--endpoint", "http://127.0.0.1:9", "--rates", "1,a"],
                 ["--endpoint", "http://127.0.0.1:9", "--slo-tpot-ms", "-1"],
                 ["--endpoint", "http://127.0.0.1:9", "--input-edges", "25.5"]):
        r = skyctl("gpu-mix", "profile", "--gpu", "L4", "--out", str(tmp_path / "x.yaml"), *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
