"""`skyctl check --json` for every combination of present and absent credentials, and `--probe` against
moto's STS on 127.0.0.1 (the real boto3 call, through the standard AWS_ENDPOINT_URL)."""

from __future__ import annotations

import itertools
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from check_env import aws_file, azure_profile, clean_env, gcp_adc
from typer.testing import CliRunner

from skyctl.check import enabled_clouds
from skyctl.cli.check import app

KEYS = ["cloud", "enabled", "credentials", "source", "reason", "probe"]
WRITERS = {"aws": aws_file, "gcp": gcp_adc, "azure": azure_profile}


def run_check(*args: str) -> list[dict]:
    result = CliRunner().invoke(app, ["--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("present", list(itertools.product([False, True], repeat=3)),
                         ids=lambda p: "+".join(c for c, on in zip(WRITERS, p, strict=True) if on) or "none")
def test_json_for_each_combination(present: tuple[bool, bool, bool], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch, tmp_path)
    for writer, on in zip(WRITERS.values(), present, strict=True):
        if on:
            writer(tmp_path)
    rows = run_check()
    assert [r["cloud"] for r in rows] == ["aws", "gcp", "azure", "local"]
    assert all(list(r) == KEYS for r in rows)  # a stable shape, in this order
    by_cloud = {r["cloud"]: r for r in rows}
    expected_where = {"aws": ("file", "~/.aws/credentials [default]"),
                      "gcp": ("file", "~/.config/gcloud/application_default_credentials.json (proj-1)"),
                      "azure": ("CLI profile", "az login (~/.azure/azureProfile.json) (sub-123)")}
    for cloud, on in zip(WRITERS, present, strict=True):
        row = by_cloud[cloud]
        assert row["enabled"] is on and row["probe"] is None
        if on:
            assert (row["source"], row["credentials"], row["reason"]) == (*expected_where[cloud], None)
        else:
            assert row["source"] is None and row["credentials"] is None and row["reason"]
    assert by_cloud["local"] == {"cloud": "local", "enabled": True, "credentials": None, "source": None,
                                 "reason": None, "probe": None}
    assert enabled_clouds() == {"local"} | {c for c, on in zip(WRITERS, present, strict=True) if on}


def test_unknown_cloud_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch, tmp_path)
    result = CliRunner().invoke(app, ["awz"])
    assert result.exit_code != 0 and "did you mean 'aws'" in str(result.exception)


def test_table_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch, tmp_path)
    result = CliRunner().invoke(app, ["aws", "local"])
    assert result.exit_code == 0 and "aws configure" in result.output
    assert "run `skyctl check` again" in result.output


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_probe_calls_sts_once_and_shows_the_identity(moto_endpoint: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    aws, local = run_check("--probe", "aws", "local")
    assert aws["enabled"] and aws["source"] == "environment"
    assert aws["probe"] == {"ok": True, "identity": "arn:aws:sts::123456789012:user/moto"}
    assert local["enabled"] and local["probe"] is None


def test_probe_failure_disables_with_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch, tmp_path)
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead)
    (aws,) = run_check("--probe", "--timeout", "1", "aws")
    assert not aws["enabled"] and aws["probe"]["ok"] is False
    assert aws["reason"].startswith("probe failed:") and "cannot reach" in aws["reason"]
    assert aws["source"] == "environment"  # the credentials were found; the cloud did not answer
