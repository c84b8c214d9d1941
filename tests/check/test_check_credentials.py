"""Credential detection per cloud and source, from a temporary HOME and environment only (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from check_env import aws_file, azure_profile, clean_env, gcp_adc, write

from providers.credentials import CLI_PROFILE, ENVIRONMENT, FILE, detect


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    clean_env(monkeypatch, tmp_path)
    return tmp_path


def test_nothing_anywhere_says_how_to_fix(home: Path) -> None:
    for cloud, fix in (("aws", "aws configure"), ("gcp", "gcloud auth application-default login"),
                       ("azure", "az login")):
        info = detect(cloud)
        assert not info.found and info.source is None and fix in (info.reason or "")


def test_aws_sources_in_botocore_order(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_file(home)
    info = detect("aws")
    assert (info.found, info.source, info.credentials) == (True, FILE, "~/.aws/credentials [default]")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    assert (detect("aws").source, detect("aws").credentials) == (ENVIRONMENT, "AWS_ACCESS_KEY_ID")


def test_aws_half_set_environment_is_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_file(home)  # botocore stops at the partial environment too, so the file does not rescue it
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKID")
    info = detect("aws")
    assert not info.found and "AWS_SECRET_ACCESS_KEY is not" in (info.reason or "")


def test_aws_sso_profile_and_missing_profile(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(home / ".aws" / "config", "[profile work]\nsso_session = corp\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_PROFILE", "work")
    info = detect("aws")
    assert (info.found, info.source) == (True, CLI_PROFILE) and "work (SSO)" in (info.credentials or "")
    monkeypatch.setenv("AWS_PROFILE", "nope")
    info = detect("aws")
    assert not info.found and "'nope'" in (info.reason or "") and "--profile nope" in (info.reason or "")


def test_aws_files_moved_by_environment(home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    moved = write(tmp_path / "elsewhere" / "creds",
                  "[ci]\naws_access_key_id = A\naws_secret_access_key = B\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(moved))
    monkeypatch.setenv("AWS_PROFILE", "ci")
    info = detect("aws")
    assert info.found and info.source == FILE and info.credentials.endswith("creds [ci]")


def test_gcp_adc_needs_a_project(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gcp_adc(home, project=None)
    info = detect("gcp")
    assert not info.found and info.source == FILE and "GOOGLE_CLOUD_PROJECT" in (info.reason or "")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    assert (detect("gcp").found, detect("gcp").account) == (True, "from-env")


def test_gcp_gcloud_config_project_and_key_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gcp_adc(home, project="proj-1")
    info = detect("gcp")
    assert (info.found, info.source, info.account) == (True, FILE, "proj-1")
    key = write(home / "sa.json", json.dumps({"type": "service_account", "project_id": "sa-proj"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    info = detect("gcp")
    assert (info.found, info.source, info.account) == (True, ENVIRONMENT, "sa-proj")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(home / "missing.json"))
    info = detect("gcp")
    assert not info.found and "missing.json" in (info.reason or "")


def test_azure_cli_profile_bom_and_service_principal(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    azure_profile(home, "sub-9")
    info = detect("azure")
    assert (info.found, info.source, info.account) == (True, CLI_PROFILE, "sub-9")
    for name, value in (("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c"), ("AZURE_CLIENT_SECRET", "s")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "sub-env")
    info = detect("azure")
    assert (info.found, info.source, info.account) == (True, ENVIRONMENT, "sub-env")


def test_azure_service_principal_without_subscription(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("AZURE_TENANT_ID", "t"), ("AZURE_CLIENT_ID", "c"), ("AZURE_CLIENT_SECRET", "s")):
        monkeypatch.setenv(name, value)
    info = detect("azure")
    assert not info.found and info.source == ENVIRONMENT and "AZURE_SUBSCRIPTION_ID" in (info.reason or "")
    monkeypatch.delenv("AZURE_CLIENT_SECRET")
    info = detect("azure")
    assert not info.found and "no secret or certificate" in (info.reason or "")
