"""`skyctl store` through real subprocesses: exit codes, one-line errors and the JSON contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bucket_support import fresh_name, s3_env

A, G = "aws:us-east-1", "gcp:us-west1"


def skyctl(home: Path, *args: str, extra_env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SKYCTL_HOME": str(home), **(extra_env or {})}
    env.pop("SKYCTL_DB_URL", None)
    return subprocess.run([sys.executable, "-m", "skyctl", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def ok_json(r: subprocess.CompletedProcess[str]) -> Any:
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.slow  # seven interpreter starts
def test_local_bucket_round_trip_with_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    src = tmp_path / "in.txt"
    src.write_text("hello skystore")
    made = ok_json(skyctl(home, "store", "mb", "demo", "--regions", f"{A},{G}", "--json"))
    assert made["regions"] == [A, G] and made["policy"] == "t-evict" and made["backend"] == "local"
    assert Path(made["physical_buckets"][A]).is_dir()
    put = ok_json(skyctl(home, "store", "put", str(src), "demo/docs/in.txt", "--region", A, "--json"))
    assert put["version"] == 1 and put["base_region"] == A and put["size"] == 14
    out = tmp_path / "out.txt"
    got = ok_json(skyctl(home, "--json", "store", "get", "demo/docs/in.txt", str(out), "--region", G))
    assert out.read_text() == "hello skystore"
    assert got["source_region"] == A and got["copied"]
    assert got["ttl_s"] == pytest.approx(0.09 / 0.02 * 30 * 86400 / 2)  # t-evict cold start: T_even / 2
    [obj] = ok_json(skyctl(home, "store", "ls", "demo/docs/", "--json"))
    assert obj["key"] == "docs/in.txt" and sorted(r["region"] for r in obj["replicas"]) == [A, G]
    dry = ok_json(skyctl(home, "store", "gc", "--dry-run", "--json"))
    assert dry["dry_run"] and dry["evicted"] == []
    gone = ok_json(skyctl(home, "store", "rm", "demo/docs/in.txt", "--json"))
    assert gone["replicas_deleted"] == 2
    [bucket] = ok_json(skyctl(home, "store", "ls", "--json"))
    assert bucket["name"] == "demo" and bucket["objects"] == 0


@pytest.mark.slow  # one interpreter start per case
@pytest.mark.parametrize(("args", "needle"), [
    (["store", "mb", "demo", "--regions", f"{A},gcp:us-centrl1"], "did you mean 'gcp:us-central1'"),
    (["store", "put", "/no/such/file", "demo/k", "--region", A], "FILE"),
    (["store", "get", "nobucket/k", "--region", A], "no such virtual bucket"),
])
def test_bad_input_is_exit_2_with_one_line(tmp_path: Path, args: list[str], needle: str) -> None:
    r = skyctl(tmp_path / "home", *args)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow  # three interpreter starts
def test_s3_backend_through_the_cli(tmp_path: Path) -> None:
    home, env = tmp_path / "home", s3_env()
    name = fresh_name()
    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(4096))
    made = ok_json(skyctl(home, "store", "mb", name, "--regions", f"{A},aws:us-west-2", "--backend", "s3",
                          "--json", extra_env=env))
    assert made["physical_buckets"][A].startswith("s3://skyctl-")
    ok_json(skyctl(home, "store", "put", str(src), f"{name}/blob", "--region", A, "--json", extra_env=env))
    got = ok_json(skyctl(home, "store", "get", f"{name}/blob", str(tmp_path), "--region", "aws:us-west-2",
                         "--json", extra_env=env))
    assert got["copied"] and Path(got["path"]).read_bytes() == src.read_bytes()
