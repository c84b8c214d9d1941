"""The HTTP side of the price fetchers that speak plain REST (GCP Cloud Billing, Azure Retail Prices).

One GET of one JSON page, retried on throttling (429), 5xx and dropped connections with the bounded,
jittered backoff every cloud provider uses (`providers.retry`, honouring `Retry-After`); any other answer
(4xx, a body that is not a JSON object) becomes a `RefreshError` naming the API, the status and the URL,
so `skyctl catalog refresh` stops before writing and the old catalog stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from providers.base import TransientError
from providers.retry import RetryPolicy, call_with_retry
from skyctl.catalog.refresh import RefreshError

# Refresh runs in the foreground: a few quick retries, then tell the user.
PRICE_POLICY = RetryPolicy(attempts=5, base_delay=0.5, max_delay=8.0, max_total=30.0)
TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def get_json(client: httpx.Client, url: str, *, what: str, params: Mapping[str, str] | None = None,
             headers: Mapping[str, str] | None = None, policy: RetryPolicy = PRICE_POLICY,
             sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The JSON object at `url`; `what` names the API in errors ("gcp Cloud Billing")."""

    def once() -> dict[str, Any]:
        try:
            resp = client.get(url, params=params, headers=headers)
        except httpx.TransportError as e:
            raise TransientError(f"cannot reach {url}: {e}", provider=what, code="connection") from e
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientError(f"HTTP {resp.status_code} from {url}", provider=what,
                                 code=str(resp.status_code), retry_after=_retry_after(resp))
        if resp.status_code != 200:
            raise RefreshError(f"{what}: HTTP {resp.status_code} from {_plain(resp.url)}: "
                               f"{_message(resp)}; kept the old catalog")
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise RefreshError(f"{what}: {_plain(resp.url)} answered something that is not a JSON object "
                               f"({resp.text[:80]!r}); kept the old catalog")
        return data

    try:
        return call_with_retry(once, policy=policy, sleep=sleep)
    except TransientError as e:
        raise RefreshError(f"{what}: still failing after retries: {e.message}; kept the old catalog") from e


def malformed(what: str, url: str, problem: str) -> RefreshError:
    """A page in an unexpected shape: one clear error, nothing written."""
    return RefreshError(f"{what}: unexpected answer from {url}: {problem}; kept the old catalog")


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _message(resp: httpx.Response) -> str:
    """The API's own error message when the body has one (Google: {"error": {"message"}}; Azure's retail
    API: {"Error": {"Message"}})."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200] or resp.reason_phrase
    err = (body.get("error") or body.get("Error")) if isinstance(body, dict) else None
    if isinstance(err, dict) and (err.get("message") or err.get("Message")):
        return str(err.get("message") or err.get("Message"))
    return str(body)[:200]


def _plain(url: httpx.URL) -> str:
    """The URL without its query (an API key must not end up in an error message)."""
    return str(url.copy_with(query=None))
