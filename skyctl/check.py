"""Which clouds skyctl may use: credentials found locally (no network), optionally confirmed by a probe.

Without `probe`, only the environment and credential files are read (`providers.credentials`), so the
answer is instant and safe to compute on every placement decision. `probe=True` makes one identity call
per cloud whose SDK is installed, through its provider (`Provider.probe`: STS GetCallerIdentity on AWS),
all at once, each with a short timeout: a cloud whose probe fails is disabled with the cloud's own error,
and one found only by the probe (an instance role, a managed identity) is enabled.
`local` needs nothing and is always enabled.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from providers import credentials
from providers.base import Provider
from providers.registry import get_provider
from skyctl.errors import SkyctlError

CLOUDS = ("aws", "gcp", "azure", "local")
PROBE_TIMEOUT = 5.0


@dataclass(frozen=True)
class CloudCheck:
    """One line of `skyctl check`; `to_dict` is the stable `--json` shape."""

    cloud: str
    enabled: bool
    credentials: str | None  # which variables, file or profile hold them
    source: str | None  # "environment", "file" or "CLI profile"
    reason: str | None  # why disabled, with the fix (None when enabled)
    probe: dict[str, Any] | None = None  # {"ok": True, "identity": ...} / {"ok": False, "error": ...}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_cloud(cloud: str, env: Mapping[str, str] | None = None, home: Path | None = None) -> CloudCheck:
    """The local verdict for one cloud: credentials found and the SDK installed."""
    if cloud == "local":
        return CloudCheck("local", True, None, None, None)
    info = credentials.detect(cloud, env, home)
    if not info.found:
        return CloudCheck(cloud, False, info.credentials, info.source, info.reason)
    if not credentials.sdk_installed(cloud):
        return CloudCheck(cloud, False, info.credentials, info.source, credentials.install_hint(cloud))
    where = f"{info.credentials} ({info.account})" if info.account else info.credentials
    return CloudCheck(cloud, True, where, info.source, None)


def check_clouds(clouds: Sequence[str] = CLOUDS, *, probe: bool = False, timeout: float = PROBE_TIMEOUT,
                 env: Mapping[str, str] | None = None, home: Path | None = None,
                 provider: Callable[[str], Provider] = get_provider) -> list[CloudCheck]:
    """Every cloud's verdict, in `clouds` order; `probe` adds one identity call per enabled cloud."""
    results = [check_cloud(c, env, home) for c in clouds]
    if not probe:
        return results
    todo = [r for r in results if r.cloud != "local" and credentials.sdk_installed(r.cloud)]
    with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
        probed = dict(zip([r.cloud for r in todo],
                          pool.map(lambda r: _probe(r, provider, timeout), todo), strict=True))
    return [probed.get(r.cloud, r) for r in results]


def enabled_clouds(env: Mapping[str, str] | None = None) -> set[str]:
    """Clouds the controller and placers may use now (local look only; instant)."""
    return {r.cloud for r in check_clouds(env=env if env is not None else os.environ) if r.enabled}


def _probe(result: CloudCheck, provider: Callable[[str], Provider], timeout: float) -> CloudCheck:
    try:
        identity = provider(result.cloud).probe(timeout)
    except SkyctlError as e:
        message = e.message
    except Exception as e:  # an SDK's own exception type: still one line for the user
        message = f"{type(e).__name__}: {e}"
    else:
        return replace(result, enabled=True, reason=None, source=result.source or "probe",
                       probe={"ok": True, "identity": identity})
    reason = f"probe failed: {message}" if result.enabled else result.reason
    return replace(result, enabled=False, reason=reason, probe={"ok": False, "error": message})
