"""Where each cloud's credentials are, found by reading the environment and files only: no SDK, no network.

`skyctl check` and the controller call this often, so it must be instant and must never hang on a metadata
server. It follows the order each SDK's own chain uses (botocore, google-auth, azure-identity) far enough to
say *where* credentials come from (`environment`, `file`, `CLI profile`); credentials that only a network
call can see (EC2 instance roles, GCE/Azure managed identities) show up with `skyctl check --probe`.
"""

from __future__ import annotations

import configparser
import importlib.util
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENVIRONMENT, FILE, CLI_PROFILE = "environment", "file", "CLI profile"
CLOUDS = ("aws", "gcp", "azure")
SDK_MODULES = {"aws": ("boto3",), "gcp": ("google.cloud.compute_v1",),
               "azure": ("azure.mgmt.compute", "azure.identity")}
FIXES = {
    "aws": "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws configure` (or `aws sso login`)",
    "gcp": "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a "
           "service-account key file",
    "azure": "run `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
}


@dataclass(frozen=True)
class CredentialInfo:
    """What was found for one cloud. `found` means usable as far as a local look can tell."""

    cloud: str
    found: bool
    source: str | None = None  # ENVIRONMENT, FILE or CLI_PROFILE
    credentials: str | None = None  # which variables, file or profile
    account: str | None = None  # the GCP project or Azure subscription in use, where the cloud needs one
    reason: str | None = None  # why not found, with the fix


def detect(cloud: str, env: Mapping[str, str] | None = None, home: Path | None = None) -> CredentialInfo:
    """Credentials of `cloud` ("aws", "gcp" or "azure") from `env` (default os.environ) and `home`."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home()) if home is None else home
    return {"aws": _aws, "gcp": _gcp, "azure": _azure}[cloud](env, home)


def sdk_installed(cloud: str) -> bool:
    """Whether the cloud's SDK can be imported (found on the path; nothing is imported)."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in SDK_MODULES[cloud])
    except ModuleNotFoundError:  # a parent package is missing
        return False


def install_hint(cloud: str) -> str:
    return f"the {cloud} SDK is not installed: pip install 'skyctl[{cloud}]'"


# -- AWS: botocore's chain -----------------------------------------------------------------------------
# config-file options that make a profile fetch credentials itself (through the CLI's machinery)
_AWS_PROFILE_KINDS = (("sso_session", "SSO"), ("sso_start_url", "SSO"), ("role_arn", "assumed role"),
                      ("credential_process", "process"), ("web_identity_token_file", "web identity"))


def _aws(env: Mapping[str, str], home: Path) -> CredentialInfo:
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if key and secret:
        names = "AWS_ACCESS_KEY_ID" + (" + AWS_SESSION_TOKEN" if env.get("AWS_SESSION_TOKEN") else "")
        return CredentialInfo("aws", True, ENVIRONMENT, names)
    if key or secret:
        have, missing = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")[:: 1 if key else -1]
        return CredentialInfo("aws", False, reason=f"{have} is set but {missing} is not; set both or neither")
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"):
        return CredentialInfo("aws", True, ENVIRONMENT, "AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN")
    named = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE")
    profile = named or "default"
    cred_file = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials").expanduser()
    config_file = Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config").expanduser()
    section = _ini(cred_file).get(profile, {})
    if section.get("aws_access_key_id") and section.get("aws_secret_access_key"):
        return CredentialInfo("aws", True, FILE, f"{_short(cred_file, home)} [{profile}]")
    config = _ini(config_file)
    section = config.get(profile if profile == "default" else f"profile {profile}", config.get(profile, {}))
    if section.get("aws_access_key_id") and section.get("aws_secret_access_key"):
        return CredentialInfo("aws", True, FILE, f"{_short(config_file, home)} [{profile}]")
    kind = next((what for opt, what in _AWS_PROFILE_KINDS if section.get(opt)), None)
    if kind:
        where = f"profile {profile} ({kind}) in {_short(config_file, home)}"
        return CredentialInfo("aws", True, CLI_PROFILE, where)
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return CredentialInfo("aws", True, ENVIRONMENT, "AWS_CONTAINER_CREDENTIALS_* (container role)")
    if named:
        return CredentialInfo("aws", False, reason=f"profile {named!r} (AWS_PROFILE) has no credentials in "
                              f"{_short(cred_file, home)} or {_short(config_file, home)}; run "
                              f"`aws configure --profile {named}` or unset AWS_PROFILE")
    return CredentialInfo("aws", False, reason=f"no AWS credentials found; {FIXES['aws']} "
                                                "(an EC2 instance role shows only with --probe)")


# -- GCP: google-auth's application default credentials ------------------------------------------------
def _gcp(env: Mapping[str, str], home: Path) -> CredentialInfo:
    gcloud_dir = Path(env.get("CLOUDSDK_CONFIG") or home / ".config" / "gcloud").expanduser()
    explicit = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit:
        path = Path(explicit).expanduser()
        data = _json(path)
        if data is None:
            reason = (f"GOOGLE_APPLICATION_CREDENTIALS points at {explicit!r}, which is not a readable "
                      "JSON key file; fix the path or unset it")
            return CredentialInfo("gcp", False, reason=reason)
        source, where = ENVIRONMENT, f"GOOGLE_APPLICATION_CREDENTIALS={explicit}"
    else:
        path = gcloud_dir / "application_default_credentials.json"
        data = _json(path)
        if data is None:
            return CredentialInfo("gcp", False, reason=f"no GCP credentials found; {FIXES['gcp']}")
        source, where = FILE, _short(path, home)
    project = (env.get("GOOGLE_CLOUD_PROJECT") or env.get("CLOUDSDK_CORE_PROJECT")
               or env.get("GCLOUD_PROJECT") or data.get("project_id") or _gcloud_project(gcloud_dir, env))
    if not project:
        return CredentialInfo("gcp", False, source, where, reason="credentials found but no GCP project; "
                              "set GOOGLE_CLOUD_PROJECT or run `gcloud config set project PROJECT_ID`")
    return CredentialInfo("gcp", True, source, where, account=str(project))


def _gcloud_project(gcloud_dir: Path, env: Mapping[str, str]) -> str | None:
    """The project of gcloud's active configuration (`gcloud config set project`)."""
    active = env.get("CLOUDSDK_ACTIVE_CONFIG_NAME")
    if not active:
        try:
            active = (gcloud_dir / "active_config").read_text().strip() or "default"
        except OSError:
            active = "default"
    return _ini(gcloud_dir / "configurations" / f"config_{active}").get("core", {}).get("project")


# -- Azure: azure-identity's DefaultAzureCredential ----------------------------------------------------
def _azure(env: Mapping[str, str], home: Path) -> CredentialInfo:
    subscription = env.get("AZURE_SUBSCRIPTION_ID")
    tenant, client = env.get("AZURE_TENANT_ID"), env.get("AZURE_CLIENT_ID")
    secret_var = next((v for v in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                                   "AZURE_FEDERATED_TOKEN_FILE") if env.get(v)), None)
    if tenant and client and secret_var:
        where, source = f"AZURE_TENANT_ID + AZURE_CLIENT_ID + {secret_var}", ENVIRONMENT
    else:
        profile_dir = Path(env.get("AZURE_CONFIG_DIR") or home / ".azure").expanduser()
        profile = _json(profile_dir / "azureProfile.json") or {}
        subs = [s for s in profile.get("subscriptions", []) if isinstance(s, dict)]
        if not subs:
            partial = [v for v in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID") if env.get(v)]
            hint = f" ({' and '.join(partial)} set, but no secret or certificate)" if partial else ""
            return CredentialInfo("azure", False,
                                  reason=f"no Azure credentials found{hint}; {FIXES['azure']}")
        where, source = f"az login ({_short(profile_dir / 'azureProfile.json', home)})", CLI_PROFILE
        default = next((s for s in subs if s.get("isDefault")), subs[0])
        subscription = subscription or default.get("id")
    if not subscription:
        return CredentialInfo("azure", False, source, where, reason="credentials found but no subscription; "
                              "set AZURE_SUBSCRIPTION_ID or run `az account set --subscription ID`")
    return CredentialInfo("azure", True, source, where, account=str(subscription))


# -- small readers that never raise ---------------------------------------------------------------------
def _ini(path: Path) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, configparser.Error):
        return {}
    return {name: dict(parser[name]) for name in parser.sections()}


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # az writes a BOM
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _short(path: Path, home: Path) -> str:
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)
