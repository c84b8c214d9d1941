"""A clean, temporary HOME and environment for credential tests, and writers of each cloud's files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

PREFIXES = ("AWS_", "GOOGLE_", "GCLOUD_", "CLOUDSDK_", "AZURE_")


def clean_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    for name in list(os.environ):
        if name.startswith(PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # a probe must never wait on IMDS
    monkeypatch.setenv("SKYCTL_HOME", str(home / ".skyctl"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def aws_file(home: Path, profile: str = "default") -> Path:
    return write(home / ".aws" / "credentials",
                 f"[{profile}]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n")


def gcp_adc(home: Path, project: str | None = "proj-1") -> Path:
    gcloud = home / ".config" / "gcloud"
    if project:
        write(gcloud / "configurations" / "config_default", f"[core]\nproject = {project}\naccount = a@b.c\n")
    return write(gcloud / "application_default_credentials.json", json.dumps(
        {"type": "authorized_user", "client_id": "x", "client_secret": "y", "refresh_token": "z"}))


def azure_profile(home: Path, subscription: str = "sub-123") -> Path:
    data = {"subscriptions": [{"id": "other", "isDefault": False},
                              {"id": subscription, "isDefault": True, "name": "dev"}]}
    path = home / ".azure" / "azureProfile.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8-sig")  # az writes a byte-order mark
    return path
