"""Readiness probes: is a replica's server answering its readiness path with HTTP 200?

The controller hands a batch of targets to a `Prober` each tick and gets one result per replica. The HTTP
prober runs them concurrently on a small thread pool with a bound on the whole batch, so one hung replica
cannot stall the tick; a simulated provider supplies its own `Prober` that answers without HTTP.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx

from skyctl.spec import ReadinessProbe


@dataclass(frozen=True)
class ProbeTarget:
    replica_id: int
    endpoint: str  # http://host:port
    probe: ReadinessProbe


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str = ""  # "HTTP 503", "timed out after 15s", ... for `serve status` and the log


class Prober(Protocol):
    def probe(self, targets: Sequence[ProbeTarget]) -> dict[int, ProbeResult]:
        """One result per target, keyed by replica id."""


class HttpProber:
    """GET (or POST with the JSON `post_data`) `<endpoint><path>` with the probe's headers and timeout."""

    def __init__(self, max_workers: int = 16, batch_timeout_seconds: float | None = None) -> None:
        self.max_workers = max_workers
        self.batch_timeout_seconds = batch_timeout_seconds
        self._pool = cf.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="probe")

    def probe(self, targets: Sequence[ProbeTarget]) -> dict[int, ProbeResult]:
        if not targets:
            return {}
        budget = self.batch_timeout_seconds
        if budget is None:
            budget = max(t.probe.timeout_seconds for t in targets) + 2.0
        futures = {self._pool.submit(probe_once, t): t for t in targets}
        done, _ = cf.wait(futures, timeout=budget)
        out = {}
        for fut, target in futures.items():
            if fut in done:
                out[target.replica_id] = fut.result()
            else:
                fut.cancel()
                out[target.replica_id] = ProbeResult(False, f"no answer within the {budget:g}s probe budget")
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def probe_once(target: ProbeTarget) -> ProbeResult:
    """One readiness request; any failure is a result, never an exception."""
    probe = target.probe
    url = target.endpoint.rstrip("/") + probe.path
    try:
        with httpx.Client(timeout=probe.timeout_seconds, follow_redirects=False, trust_env=False) as client:
            if probe.post_data is None:
                resp = client.get(url, headers=dict(probe.headers))
            else:
                resp = client.post(url, json=probe.post_data, headers=dict(probe.headers))
    except httpx.TimeoutException:
        return ProbeResult(False, f"timed out after {probe.timeout_seconds:g}s")
    except httpx.HTTPError as exc:
        return ProbeResult(False, f"{type(exc).__name__}: {exc}"[:200])
    if resp.status_code == 200:
        return ProbeResult(True, "HTTP 200")
    return ProbeResult(False, f"HTTP {resp.status_code}")
